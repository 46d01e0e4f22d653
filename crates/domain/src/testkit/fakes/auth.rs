//! The fakes login goes through: [`PlainHasher`], [`FakeTokens`] and [`CountingLimiter`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::error::StoreError;
use crate::model::{Password, Timestamp, UserId};
use crate::ports::{
    PasswordHasher, RateDecision, RateLimiter, RatePolicy, TokenClaims, TokenError, TokenIssuer,
};

// ---------------------------------------------------------------------------------------------
// Password hasher, tokens
// ---------------------------------------------------------------------------------------------

/// **Insecure, tests only**: the "hash" is `plain$<password>`, readable by anyone.
///
/// Counts its calls so tests can check that a login went through the hasher exactly once
/// whether or not the account exists.
#[derive(Default)]
pub struct PlainHasher {
    hashes: AtomicUsize,
    verifies: AtomicUsize,
    verifies_without_hash: AtomicUsize,
}

impl PlainHasher {
    pub const PREFIX: &'static str = "plain$";

    pub fn new() -> Self {
        Self::default()
    }

    /// Calls of `hash`.
    pub fn hashes(&self) -> usize {
        self.hashes.load(Ordering::SeqCst)
    }

    /// Calls of `verify`, with or without a stored hash.
    pub fn verifies(&self) -> usize {
        self.verifies.load(Ordering::SeqCst)
    }

    /// Calls of `verify` with `hash == None` (an unknown account).
    pub fn verifies_without_hash(&self) -> usize {
        self.verifies_without_hash.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl PasswordHasher for PlainHasher {
    async fn hash(&self, password: &Password) -> Result<String, StoreError> {
        self.hashes.fetch_add(1, Ordering::SeqCst);
        Ok(format!("{}{}", Self::PREFIX, password.expose()))
    }

    async fn verify(&self, password: &Password, hash: Option<&str>) -> Result<bool, StoreError> {
        self.verifies.fetch_add(1, Ordering::SeqCst);
        let Some(hash) = hash else {
            self.verifies_without_hash.fetch_add(1, Ordering::SeqCst);
            return Ok(false);
        };
        Ok(hash
            .strip_prefix(Self::PREFIX)
            .is_some_and(|p| p == password.expose()))
    }
}

/// Tokens are `token:<user id>@<issued at, unix ms>`; `expired:<user id>` (from
/// [`FakeTokens::expired`]) is a well-formed but expired one; anything else is invalid. No
/// signature: tests only.
#[derive(Default)]
pub struct FakeTokens {
    issued: AtomicUsize,
}

impl FakeTokens {
    pub fn new() -> Self {
        Self::default()
    }

    /// A token for `user` that `verify` answers with `TokenError::Expired`.
    pub fn expired(user: UserId) -> String {
        format!("expired:{user}")
    }

    /// How many tokens `issue` handed out.
    pub fn issued(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }
}

impl TokenIssuer for FakeTokens {
    fn issue(&self, user: UserId, issued_at: Timestamp) -> Result<String, StoreError> {
        self.issued.fetch_add(1, Ordering::SeqCst);
        Ok(format!("token:{user}@{}", issued_at.unix_millis()))
    }

    fn verify(&self, token: &str) -> Result<TokenClaims, TokenError> {
        if let Some(rest) = token.strip_prefix("token:") {
            let (id, at) = rest.split_once('@').ok_or(TokenError::Invalid)?;
            Ok(TokenClaims {
                user: id.parse().map_err(|_| TokenError::Invalid)?,
                issued_at: Timestamp::from_unix_millis(
                    at.parse().map_err(|_| TokenError::Invalid)?,
                ),
            })
        } else if let Some(id) = token.strip_prefix("expired:") {
            match id.parse::<UserId>() {
                Ok(_) => Err(TokenError::Expired),
                Err(_) => Err(TokenError::Invalid),
            }
        } else {
            Err(TokenError::Invalid)
        }
    }

    fn issue_ticket(&self, user: UserId, issued_at: Timestamp) -> Result<String, StoreError> {
        Ok(format!("ticket:{user}@{}", issued_at.unix_millis()))
    }

    fn verify_ticket(&self, ticket: &str) -> Result<TokenClaims, TokenError> {
        let token = ticket.strip_prefix("ticket:").ok_or(TokenError::Invalid)?;
        self.verify(&format!("token:{token}"))
    }
}

// ---------------------------------------------------------------------------------------------
// Rate limiter
// ---------------------------------------------------------------------------------------------

/// A fixed budget of `policy.limit` hits per (policy, key) that never refills: time is
/// ignored, which is all the login-failure rule needs. Denied hits consume nothing; `cost == 0`
/// only looks (allowed while budget remains).
#[derive(Default)]
pub struct CountingLimiter {
    used: Mutex<HashMap<(&'static str, String), u32>>,
}

impl CountingLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Hits recorded for `key` under the policy named `policy`.
    pub fn used(&self, policy: &str, key: &str) -> u32 {
        lock(&self.used)
            .iter()
            .find(|((p, k), _)| *p == policy && k == key)
            .map_or(0, |(_, n)| *n)
    }
}

#[async_trait]
impl RateLimiter for CountingLimiter {
    async fn check(
        &self,
        policy: &RatePolicy,
        key: &str,
        cost: u32,
    ) -> Result<RateDecision, StoreError> {
        let mut map = lock(&self.used);
        let used = map.entry((policy.name, key.to_owned())).or_default();
        let allowed = if cost == 0 {
            *used < policy.limit
        } else {
            used.checked_add(cost).is_some_and(|n| n <= policy.limit)
        };
        if allowed {
            *used += cost;
        }
        Ok(RateDecision {
            allowed,
            limit: policy.limit,
            remaining: policy.limit.saturating_sub(*used),
            reset_after: policy.window,
            retry_after: (!allowed).then_some(policy.window),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use uuid::Uuid;

    use super::*;
    use crate::ports::RateAlgorithm;
    use crate::testkit::fakes::block_on;

    #[test]
    fn plain_hasher_round_trips_and_refuses_unknown_accounts() {
        let h = PlainHasher::new();
        let pw = Password::parse_new("password1").unwrap();
        let hash = block_on(h.hash(&pw)).unwrap();
        assert_eq!(hash, "plain$password1");
        assert!(block_on(h.verify(&pw, Some(&hash))).unwrap());
        let other = Password::parse_attempt("password2").unwrap();
        assert!(!block_on(h.verify(&other, Some(&hash))).unwrap());
        assert!(!block_on(h.verify(&pw, None)).unwrap());
        assert_eq!(
            (h.hashes(), h.verifies(), h.verifies_without_hash()),
            (1, 3, 1)
        );
    }

    #[test]
    fn fake_tokens_verify_what_they_issue() {
        let t = FakeTokens::new();
        let id = UserId::from_uuid(Uuid::now_v7());
        let at = Timestamp::from_unix_millis(1_767_225_600_123);
        let claims = TokenClaims {
            user: id,
            issued_at: at,
        };
        assert_eq!(t.verify(&t.issue(id, at).unwrap()), Ok(claims));
        assert_eq!(t.verify(&FakeTokens::expired(id)), Err(TokenError::Expired));
        for bad in ["", "token:", "token:nope", "Bearer x", "expired:zz"] {
            assert_eq!(t.verify(bad), Err(TokenError::Invalid), "{bad:?}");
        }
        let v4 = Uuid::new_v4();
        assert_eq!(t.verify(&format!("token:{v4}@1")), Err(TokenError::Invalid));
        assert_eq!(t.verify(&format!("token:{id}")), Err(TokenError::Invalid));
        assert_eq!(t.verify(&format!("token:{id}@x")), Err(TokenError::Invalid));
        assert_eq!(t.issued(), 1);
    }

    #[test]
    fn counting_limiter_budget() {
        let l = CountingLimiter::new();
        let p = RatePolicy {
            name: "p",
            limit: 3,
            window: Duration::from_secs(60),
            algorithm: RateAlgorithm::FixedWindow,
        };
        let q = RatePolicy {
            name: "q",
            ..p.clone()
        };
        assert!(block_on(l.check(&p, "k", 0)).unwrap().allowed);
        assert_eq!(l.used("p", "k"), 0);
        assert!(block_on(l.check(&p, "k", 2)).unwrap().allowed);
        let denied = block_on(l.check(&p, "k", 2)).unwrap();
        assert!(!denied.allowed);
        assert_eq!(denied.retry_after, Some(Duration::from_secs(60)));
        assert_eq!(l.used("p", "k"), 2, "a denied hit consumed budget");
        let last = block_on(l.check(&p, "k", 1)).unwrap();
        assert!(last.allowed);
        assert_eq!(last.remaining, 0);
        assert!(!block_on(l.check(&p, "k", 0)).unwrap().allowed);
        assert!(block_on(l.check(&p, "other", 1)).unwrap().allowed);
        assert!(block_on(l.check(&q, "k", 1)).unwrap().allowed);
    }
}
