//! API key secrets: 256 random bits, stored as their SHA-256 digest, checked in constant time.

use domain::ports::ApiKeySecrets;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// [`ApiKeySecrets`] with `rand`'s thread-local generator (ChaCha, seeded from the operating
/// system: cryptographically secure) and SHA-256.
///
/// A plain hash suffices, unlike for passwords: the secret is 256 random bits, so there is
/// nothing to guess by trying candidates against a leaked digest.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sha256Secrets;

impl ApiKeySecrets for Sha256Secrets {
    fn generate(&self) -> [u8; 32] {
        rand::random()
    }

    fn digest(&self, secret: &[u8; 32]) -> [u8; 32] {
        Sha256::digest(secret).into()
    }

    /// Constant time, so the time taken says nothing about how much of a guess matched (it
    /// could say little anyway: an attacker cannot choose a secret whose digest shares a given
    /// prefix).
    fn matches(&self, secret: &[u8; 32], digest: &[u8; 32]) -> bool {
        self.digest(secret).ct_eq(digest).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256() {
        // SHA-256 of 32 zero bytes.
        let want = "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925";
        let got: String = Sha256Secrets
            .digest(&[0; 32])
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_secret_matches_its_digest_only() {
        let s = Sha256Secrets;
        let secret = s.generate();
        let digest = s.digest(&secret);
        assert!(s.matches(&secret, &digest));
        let mut other = secret;
        other[31] ^= 1;
        assert!(!s.matches(&other, &digest));
        assert_ne!(s.generate(), secret, "fresh randomness each time");
    }
}
