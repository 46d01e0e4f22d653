//! Idempotency keys: what a client sends with a write so that retrying it cannot write twice.
//!
//! A keyed write stores a [`KeyClaim`] in its own transaction: whose key it is ([`KeyScope`]),
//! the key, and the [`Fingerprint`] of the request. A later request with the same scope and key
//! finds it: the same fingerprint is a retry (answered with the first outcome, nothing
//! written), another fingerprint a key reused for a different request.

use std::time::Duration;

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Email, Timestamp, UserId, ValidationErrors};

/// How long a key is remembered, counted from the write that stored it. Past it the key is
/// free again (a request with it is a new request) and the sweep deletes its row.
pub const IDEMPOTENCY_KEY_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// [`IDEMPOTENCY_KEY_TTL`] in milliseconds, as timestamps count.
pub(crate) const TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// A client's `Idempotency-Key`: 1 to 255 visible ASCII characters (0x21–0x7E).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX: usize = 255;
    /// The header, which is also the field a refusal names.
    pub const HEADER: &'static str = "Idempotency-Key";

    /// From the header's raw bytes (a header value need not be UTF-8).
    pub fn parse(raw: &[u8]) -> Result<Self, ValidationErrors> {
        let visible = raw.iter().all(|b| (0x21..=0x7e).contains(b));
        if raw.is_empty() || raw.len() > Self::MAX || !visible {
            return Err(ValidationErrors::new(
                Self::HEADER,
                "must be 1 to 255 visible ASCII characters (no spaces)",
            ));
        }
        // Every byte is ASCII, so this cannot fail; the lossy form keeps it panic-free anyway.
        Ok(IdempotencyKey(String::from_utf8_lossy(raw).into_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whose key: keys of different scopes never meet, so two callers cannot replay (or block)
/// each other's writes by picking the same key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyScope(String);

impl KeyScope {
    /// A signed-in caller's writes (posts, follows).
    pub fn user(id: UserId) -> Self {
        KeyScope(format!("user:{id}"))
    }

    /// A signup, which has no caller yet: the account it creates, named by its email
    /// (lower-cased, unique). A client address would be a poor scope: a phone that retries
    /// after switching networks has a new one, and clients behind one NAT share one. The email
    /// is what a retried signup keeps, and only the account with that email can be replayed
    /// (and only by someone who knows its password, see `AuthService::signup_with_key`).
    pub fn signup(email: &Email) -> Self {
        KeyScope(format!("signup:{}", email.as_str()))
    }

    /// As stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// SHA-256 of an operation and its canonical request (route parameters and parsed body
/// fields): two requests with one fingerprint are the same request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// A stored fingerprint: exactly 32 bytes, else `None` (the row was not written by us).
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Fingerprint)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Starts the canonical form of a request to `operation` (a stable name such as
    /// `posts.create`: the fingerprint is stored, so the same request must hash the same way
    /// on every instance and version).
    pub fn of(operation: &'static str) -> Canonical {
        let mut hash = Sha256::new();
        field(&mut hash, "operation", Some(operation));
        Canonical(hash)
    }
}

/// A request being fingerprinted: its fields in a fixed order, each length-prefixed so no two
/// different requests can encode to the same bytes.
pub struct Canonical(Sha256);

impl Canonical {
    /// Adds a field; `None` (absent) is distinct from every string, the empty one included.
    pub fn field(mut self, name: &'static str, value: Option<&str>) -> Self {
        field(&mut self.0, name, value);
        self
    }

    pub fn finish(self) -> Fingerprint {
        Fingerprint(self.0.finalize().into())
    }
}

fn field(hash: &mut Sha256, name: &str, value: Option<&str>) {
    for part in [Some(name), value] {
        match part {
            Some(s) => {
                hash.update([1]);
                hash.update((s.len() as u64).to_be_bytes());
                hash.update(s.as_bytes());
            }
            None => hash.update([0]),
        }
    }
}

/// What a keyed write stores with its key, in the write's own transaction. The row also keeps
/// the id of what the write created and its `created_at`, from which the first answer is
/// rebuilt and the key's lifetime counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyClaim {
    pub scope: KeyScope,
    pub key: IdempotencyKey,
    pub fingerprint: Fingerprint,
}

/// A key as stored, while it lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredKey {
    pub fingerprint: Fingerprint,
    /// The id of what the first write created: the post, the follow edge, the user.
    pub resource: Uuid,
    /// The first write's `created_at`.
    pub created_at: Timestamp,
}

impl StoredKey {
    /// Whether a key stored at `created_at` still lives at `now`.
    pub fn live_at(created_at: Timestamp, now: Timestamp) -> bool {
        created_at > Self::live_after(now)
    }

    /// The instant a key must have been stored after to be live at `now`: the bound the
    /// adapters' queries compare `created_at` with, so they keep the rule of [`Self::live_at`].
    pub fn live_after(now: Timestamp) -> Timestamp {
        Timestamp::from_unix_millis(now.unix_millis().saturating_sub(TTL_MS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_1_to_255_visible_ascii_characters() {
        assert_eq!(IdempotencyKey::parse(b"a").unwrap().as_str(), "a");
        let widest: Vec<u8> = (0x21..=0x7e).collect();
        assert!(IdempotencyKey::parse(&widest).is_ok());
        assert!(IdempotencyKey::parse(&[b'k'; 255]).is_ok());
        for bad in [
            &b""[..],
            &[b'k'; 256][..],
            b"two words",
            b"tab\there",
            b"nul\0",
            b"del\x7f",
            "caf\u{e9}".as_bytes(),
        ] {
            let e = IdempotencyKey::parse(bad).unwrap_err();
            assert_eq!(e.fields()[0].field, "Idempotency-Key", "{bad:?}");
        }
    }

    #[test]
    fn fingerprints_tell_requests_apart() {
        let a = Fingerprint::of("posts.create")
            .field("content", Some("hi"))
            .finish();
        let same = Fingerprint::of("posts.create")
            .field("content", Some("hi"))
            .finish();
        assert_eq!(a, same);
        let other_op = Fingerprint::of("posts.other")
            .field("content", Some("hi"))
            .finish();
        let other_text = Fingerprint::of("posts.create")
            .field("content", Some("hi!"))
            .finish();
        assert_ne!(a, other_op);
        assert_ne!(a, other_text);
        assert_eq!(Fingerprint::from_slice(a.as_bytes()), Some(a));
        assert_eq!(Fingerprint::from_slice(&a.as_bytes()[1..]), None);
        // Absent, empty and shifted boundaries are all different requests.
        let none = Fingerprint::of("x").field("a", None).finish();
        let empty = Fingerprint::of("x").field("a", Some("")).finish();
        assert_ne!(none, empty);
        let split1 = Fingerprint::of("x")
            .field("a", Some("bc"))
            .field("d", Some(""))
            .finish();
        let split2 = Fingerprint::of("x")
            .field("a", Some("b"))
            .field("d", Some("c"))
            .finish();
        assert_ne!(split1, split2);
    }

    #[test]
    fn a_key_lives_24_hours() {
        let t = Timestamp::from_unix_millis(1_700_000_000_000);
        let later = |ms: i64| Timestamp::from_unix_millis(t.unix_millis() + ms);
        assert!(StoredKey::live_at(t, t));
        assert!(StoredKey::live_at(t, later(TTL_MS - 1)));
        assert!(!StoredKey::live_at(t, later(TTL_MS)));
        assert_eq!(
            i64::try_from(IDEMPOTENCY_KEY_TTL.as_millis()).unwrap(),
            TTL_MS
        );
    }

    #[test]
    fn scopes_keep_callers_apart() {
        let a = UserId::from_uuid(Uuid::now_v7());
        let b = UserId::from_uuid(Uuid::now_v7());
        assert_ne!(KeyScope::user(a), KeyScope::user(b));
        let email = Email::parse("Ann@Example.com").unwrap();
        assert_eq!(KeyScope::signup(&email).as_str(), "signup:ann@example.com");
    }
}
