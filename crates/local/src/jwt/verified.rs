//! Bearer tokens already verified, so a client's every request does not base64-decode, parse
//! and HMAC its token again (the largest cost of an authenticated cached read in the profile).
//!
//! Keyed by the whole token: under one secret the same bytes always verify the same way, so
//! a hit is exactly as good as a check, provided the token has not expired since, which is
//! checked at every hit. Only tokens that passed the bearer check are stored (never a refused
//! one, never a stream ticket), so a client sending garbage cannot fill it. Bounded: each
//! shard holds at most [`PER_SHARD`] tokens and starts over when full, which costs one
//! verification per token, not correctness. Revocation by logout is not this module's
//! concern: `AuthService` compares the issue time with the user's last logout on every
//! request, hit or not.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use domain::ports::TokenClaims;

const SHARDS: usize = 16;
/// 16 × 512 tokens of about 250 bytes: at most about 2.5 MiB.
const PER_SHARD: usize = 512;

#[derive(Clone, Copy)]
struct Known {
    claims: TokenClaims,
    /// The token's `exp`, in Unix seconds.
    exp: u64,
}

pub(super) struct Verified {
    shards: [Mutex<HashMap<Box<str>, Known>>; SHARDS],
}

impl Verified {
    pub(super) fn new() -> Self {
        Verified {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
        }
    }

    fn shard(&self, token: &str) -> &Mutex<HashMap<Box<str>, Known>> {
        // The last character is the signature's: uniformly spread over tokens we issued.
        let last = token.as_bytes().last().copied().unwrap_or(0);
        &self.shards[usize::from(last) % SHARDS]
    }

    /// The claims of `token` if it was verified before and is still unexpired at `now` (Unix
    /// seconds). Strictly before `exp`: at the boundary the full check decides.
    pub(super) fn get(&self, token: &str, now: u64) -> Option<TokenClaims> {
        let shard = self
            .shard(token)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        shard
            .get(token)
            .filter(|known| now < known.exp)
            .map(|known| known.claims)
    }

    /// Remembers a token that has just passed the bearer check.
    pub(super) fn insert(&self, token: &str, claims: TokenClaims, exp: u64) {
        // A poisoned shard only held copies of verified claims: still right to use.
        let mut shard = self
            .shard(token)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= PER_SHARD {
            shard.clear();
        }
        shard.insert(token.into(), Known { claims, exp });
    }
}

#[cfg(test)]
mod tests {
    use domain::model::{Timestamp, UserId};

    use super::*;

    fn claims() -> TokenClaims {
        TokenClaims {
            user: UserId::from_uuid(uuid::Uuid::now_v7()),
            issued_at: Timestamp::from_unix_millis(1_000),
        }
    }

    #[test]
    fn a_known_token_is_a_hit_only_before_it_expires() {
        let memo = Verified::new();
        let c = claims();
        assert_eq!(memo.get("a.b.c", 100), None);
        memo.insert("a.b.c", c, 200);
        assert_eq!(memo.get("a.b.c", 100), Some(c));
        assert_eq!(memo.get("a.b.c", 199), Some(c));
        assert_eq!(memo.get("a.b.c", 200), None, "expired at exp");
        assert_eq!(
            memo.get("a.b.d", 100),
            None,
            "another signature is another token"
        );
        assert_eq!(memo.get("a.b.", 100), None);
    }

    #[test]
    fn a_full_shard_starts_over_so_memory_stays_bounded() {
        let memo = Verified::new();
        // Same last character: one shard.
        for i in 0..=PER_SHARD {
            memo.insert(&format!("t{i}.x"), claims(), u64::MAX);
        }
        let total: usize = memo.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert_eq!(
            total, 1,
            "the shard was cleared when full, then took the newest"
        );
        assert!(memo.get(&format!("t{PER_SHARD}.x"), 0).is_some());
    }
}
