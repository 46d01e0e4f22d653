//! Who a request is authenticated as, the tiers operators give users, and API keys.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::validation::ValidationErrors;
use super::{ApiKeyId, Timestamp, UserId};

/// What authenticating a user's credential reads about them: their tier and their last
/// logout. Only a logout and a tier change move it, so it stays cached while its user posts
/// and follows, which move the counters of [`super::User`] (and would make every request of an
/// active writer load the user again).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    pub user: UserId,
    pub tier: Tier,
    /// As [`super::User::tokens_valid_after`].
    pub tokens_valid_after: Option<Timestamp>,
}

/// How generous the rate limits are with a user; set by operators (`socialscale user set-tier`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    #[default]
    Standard,
    /// Every user-keyed limit multiplied by `RATE_LIMIT_TRUSTED_MULTIPLIER`.
    Trusted,
}

impl Tier {
    pub fn parse(s: &str) -> Option<Tier> {
        match s {
            "standard" => Some(Tier::Standard),
            "trusted" => Some(Tier::Trusted),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Tier::Standard => "standard",
            Tier::Trusted => "trusted",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which credential a request proved itself with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// A bearer token (JWT) from signup or login.
    Token,
    /// An API key; its requests are limited per key.
    ApiKey(ApiKeyId),
}

/// An authenticated caller: who, how generously limited, and by which credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    pub user: UserId,
    pub tier: Tier,
    pub via: Via,
    /// When the token or stream ticket was issued (`None` for an API key): what a later
    /// logout is compared against by [`crate::services::AuthService::still_valid`].
    pub issued_at: Option<Timestamp>,
}

/// Keys one user may hold at once: enough for a few integrations, few enough that a stolen
/// session cannot mint an unbounded set of credentials.
pub const MAX_API_KEYS_PER_USER: usize = 10;

/// What every key a client holds starts with, so a leaked one is recognisable (secret scanners,
/// logs) and cannot be mistaken for a JWT.
pub const API_KEY_PREFIX: &str = "ssk_";

/// Bytes of random secret in a key: 256 bits.
const SECRET_BYTES: usize = 32;

/// An API key as stored: never the secret, only its SHA-256 digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub user: UserId,
    pub name: String,
    pub digest: [u8; 32],
    pub created_at: Timestamp,
    /// Recorded at most about once a minute per key and instance (a write per request would
    /// cost more than the request); `None` until first used.
    pub last_used_at: Option<Timestamp>,
}

/// A key's label: trimmed, 1 to 50 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyName(String);

impl ApiKeyName {
    pub fn parse(raw: &str) -> Result<Self, ValidationErrors> {
        let t = raw.trim();
        if t.is_empty() {
            Err(ValidationErrors::new("name", "is required"))
        } else if t.chars().count() > 50 {
            Err(ValidationErrors::new(
                "name",
                "must be at most 50 characters",
            ))
        } else {
            Ok(ApiKeyName(t.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The key a client holds: `ssk_`, the key's id (32 hex digits), the secret (64 hex digits).
///
/// The id makes the lookup a primary-key read (and lets a revocation invalidate the cached
/// key by id); only the secret is checked, against the stored digest, in constant time.
pub struct ApiKeySecret {
    pub id: ApiKeyId,
    pub secret: [u8; SECRET_BYTES],
}

impl ApiKeySecret {
    /// The text form shown once to the client.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(API_KEY_PREFIX.len() + 2 * (16 + SECRET_BYTES));
        out.push_str(API_KEY_PREFIX);
        hex_into(&mut out, self.id.as_uuid().as_bytes());
        hex_into(&mut out, &self.secret);
        out
    }

    /// `None` for anything that is not a key this server could have issued.
    pub fn parse(raw: &str) -> Option<ApiKeySecret> {
        let body = raw.strip_prefix(API_KEY_PREFIX)?.as_bytes();
        if body.len() != 2 * (16 + SECRET_BYTES) {
            return None;
        }
        let (id, secret) = body.split_at(32);
        let mut id_bytes = [0u8; 16];
        unhex(id, &mut id_bytes)?;
        let id = Uuid::from_bytes(id_bytes);
        // Only v7 ids are issued (as for every id, see `ids.rs`).
        if id.get_version_num() != 7 {
            return None;
        }
        let mut out = ApiKeySecret {
            id: ApiKeyId::from_uuid(id),
            secret: [0; SECRET_BYTES],
        };
        unhex(secret, &mut out.secret)?;
        Some(out)
    }
}

/// The secret is left out: this may end up in a log.
impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeySecret")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn hex_into(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
}

/// Lower-case hex only (what `encode` writes), into exactly `out.len()` bytes.
fn unhex(text: &[u8], out: &mut [u8]) -> Option<()> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    if text.len() != 2 * out.len() {
        return None;
    }
    for (pair, byte) in text.chunks_exact(2).zip(out.iter_mut()) {
        *byte = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ApiKeySecret {
        let mut secret = [0u8; SECRET_BYTES];
        for (i, b) in secret.iter_mut().enumerate() {
            *b = (i * 37 % 256) as u8;
        }
        ApiKeySecret {
            id: ApiKeyId::from_uuid(Uuid::now_v7()),
            secret,
        }
    }

    #[test]
    fn a_key_round_trips_through_its_text_form() {
        let k = key();
        let text = k.encode();
        assert!(text.starts_with("ssk_"));
        assert_eq!(text.len(), 4 + 32 + 64);
        let back = ApiKeySecret::parse(&text).unwrap();
        assert_eq!((back.id, back.secret), (k.id, k.secret));
    }

    #[test]
    fn anything_else_is_not_a_key() {
        let text = key().encode();
        let v4 = format!("ssk_{}{}", Uuid::new_v4().simple(), &text[4 + 32..]);
        for bad in [
            "",
            "ssk_",
            &text[4..],
            &text[..text.len() - 1],
            &format!("{text}0"),
            &text.to_uppercase(),
            &text.replace("ssk_", "sk_"),
            &v4,
            &format!("{}g", &text[..text.len() - 1]),
        ] {
            assert!(ApiKeySecret::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn debug_shows_no_secret() {
        let k = key();
        let shown = format!("{k:?}");
        assert!(!shown.contains(&k.encode()[36..]), "{shown}");
    }

    #[test]
    fn names_and_tiers_parse() {
        assert_eq!(ApiKeyName::parse("  ci ").unwrap().as_str(), "ci");
        assert!(ApiKeyName::parse("  ").is_err());
        assert!(ApiKeyName::parse(&"n".repeat(51)).is_err());
        assert_eq!(Tier::parse("trusted"), Some(Tier::Trusted));
        assert_eq!(Tier::parse("Trusted"), None);
        assert_eq!(Tier::default().as_str(), "standard");
    }
}
