//! The cache policy: under which key each read is stored, how long it lives, how it is encoded.
//!
//! This is the one place that knows. Use-case services only name reads ([`Read`]) and writes
//! ([`super::Write`]); the byte store underneath ([`crate::ports::Cache`]: in-process, or Redis
//! behind an in-process tier) only sees keys, bytes and TTLs.

use std::borrow::Cow;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::StoreError;
use crate::model::{ApiKeyId, PostId, UserId, Version};

/// A cached read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Read {
    /// The newest [`crate::model::Limit::MAX`] + 1 posts with their authors: every first page
    /// of `GET /posts` is a window onto it. Authors are embedded so a warm first page is one
    /// cache read; in exchange every profile edit makes it stale too (edits are rare).
    GlobalHead,
    /// The same for one author's posts (`GET /users/:id/posts`).
    AuthorHead(UserId),
    /// One post's record.
    Post(PostId),
    /// One user's summary (what posts embed as their author).
    Summary(UserId),
    /// One user with their counters (`GET /users/me`, `GET /users/:id`). Every write that
    /// moves a counter makes it stale, so counters stay exact once that write has returned.
    User(UserId),
    /// What authenticating one user reads ([`crate::model::Standing`]): only a logout or a
    /// tier change makes it stale, on every instance.
    Standing(UserId),
    /// One API key's stored record (by id: the id is part of the key a client sends).
    /// Revocation makes it stale on every instance.
    ApiKey(ApiKeyId),
    /// Which pulled authors (fan-out feeds) one user follows, with the version of the pulled
    /// set it was computed from. The user's follows and unfollows make it stale; a new version
    /// of the set makes the reader recompute it.
    FollowedPulled(UserId),
}

/// How long values live. Every write that changes a value invalidates it, so these bound
/// memory and the damage of a lost invalidation, not freshness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachePolicy {
    /// Post bodies never change, only disappear (and deletion invalidates).
    pub post: Duration,
    /// Summaries change on a profile edit, which invalidates.
    pub summary: Duration,
    /// Summaries loaded in a batch, outside the invalidation guard of a single load: at most
    /// this stale (the contract's bound on a stale author).
    pub summary_unguarded: Duration,
    /// Heads change on every post, delete and profile edit of their authors.
    pub head: Duration,
    /// Users change on every post, delete, follow, unfollow and profile edit that moves their
    /// counters or profile.
    pub user: Duration,
    /// Standings change only by a logout or a tier change (which invalidate).
    pub standing: Duration,
    /// Keys change only by revocation (which invalidates) and by the coarse `last_used_at`.
    pub api_key: Duration,
    /// Changes on the user's follows (which invalidate) and with the pulled set's version.
    pub followed_pulled: Duration,
}

impl Default for CachePolicy {
    fn default() -> Self {
        CachePolicy {
            post: Duration::from_secs(300),
            summary: Duration::from_secs(60),
            summary_unguarded: Duration::from_secs(1),
            head: Duration::from_secs(5),
            user: Duration::from_secs(60),
            standing: Duration::from_secs(60),
            api_key: Duration::from_secs(60),
            followed_pulled: Duration::from_secs(60),
        }
    }
}

/// Bytes of the version that precede every encoded value.
const VERSION_BYTES: usize = 16;

impl CachePolicy {
    /// The key of a read. The `v3` prefix names the encoding (a version stamp, then JSON), so
    /// a shared tier still holding another release's values never hands them to this one.
    /// Borrowed for the global head, the read on the hottest path.
    pub fn key(read: &Read) -> Cow<'static, str> {
        match read {
            Read::GlobalHead => Cow::Borrowed("v3:posts:head"),
            Read::AuthorHead(id) => keyed("v3:user:", id.as_uuid(), ":posts:head"),
            Read::Post(id) => keyed("v3:post:", id.as_uuid(), ""),
            Read::Summary(id) => keyed("v3:user:", id.as_uuid(), ":summary"),
            // v4: users carry their tier and tokens-valid-after since logout and tiers came;
            // a v3 user read from a shared tier would lack the revocation.
            Read::User(id) => keyed("v4:user:", id.as_uuid(), ""),
            Read::Standing(id) => keyed("v4:user:", id.as_uuid(), ":standing"),
            Read::ApiKey(id) => keyed("v3:apikey:", id.as_uuid(), ""),
            Read::FollowedPulled(id) => keyed("v3:user:", id.as_uuid(), ":followed-pulled"),
        }
    }

    pub fn ttl(&self, read: &Read) -> Duration {
        match read {
            Read::GlobalHead | Read::AuthorHead(_) => self.head,
            Read::Post(_) => self.post,
            Read::Summary(_) => self.summary,
            Read::User(_) => self.user,
            Read::Standing(_) => self.standing,
            Read::ApiKey(_) => self.api_key,
            Read::FollowedPulled(_) => self.followed_pulled,
        }
    }

    /// The stored form: the load's version, then the value as JSON.
    pub(crate) fn encode<T: Serialize>(version: Version, value: &T) -> Result<Vec<u8>, StoreError> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(&version.get().to_be_bytes());
        serde_json::to_writer(&mut out, value).map_err(StoreError::from)?;
        Ok(out)
    }

    /// The version of a stored value, read without decoding the rest.
    pub(crate) fn version(bytes: &[u8]) -> Result<Version, StoreError> {
        let stamp = bytes
            .get(..VERSION_BYTES)
            .and_then(|b| <[u8; VERSION_BYTES]>::try_from(b).ok())
            .ok_or_else(|| StoreError::Internal("cached value too short".into()))?;
        Ok(Version::from_u128(u128::from_be_bytes(stamp)))
    }

    pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
        let body = bytes.get(VERSION_BYTES..).unwrap_or_default();
        serde_json::from_slice(body).map_err(StoreError::from)
    }
}

/// `prefix`, the id hyphenated in lower case, `suffix`: a feed page builds a key for each of
/// its posts and authors, and `format!` with the id's `Display` was a visible share of it.
fn keyed(prefix: &str, id: uuid::Uuid, suffix: &str) -> Cow<'static, str> {
    let mut buf = uuid::Uuid::encode_buffer();
    let id = id.hyphenated().encode_lower(&mut buf);
    let mut key = String::with_capacity(prefix.len() + id.len() + suffix.len());
    key.push_str(prefix);
    key.push_str(id);
    key.push_str(suffix);
    Cow::Owned(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ApiKeyId, PostId, UserId};

    #[test]
    fn keys_keep_their_stored_form() {
        // Keys name values in a shared tier that older and newer builds read side by side.
        let u = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
        let (user, post) = (UserId::from_uuid(u), PostId::from_uuid(u));
        let cases = [
            (Read::GlobalHead, "v3:posts:head".to_owned()),
            (Read::AuthorHead(user), format!("v3:user:{u}:posts:head")),
            (Read::Post(post), format!("v3:post:{u}")),
            (Read::Summary(user), format!("v3:user:{u}:summary")),
            (Read::User(user), format!("v4:user:{u}")),
            (Read::Standing(user), format!("v4:user:{u}:standing")),
            (
                Read::ApiKey(ApiKeyId::from_uuid(u)),
                format!("v3:apikey:{u}"),
            ),
            (
                Read::FollowedPulled(user),
                format!("v3:user:{u}:followed-pulled"),
            ),
        ];
        for (read, key) in cases {
            assert_eq!(CachePolicy::key(&read), key);
        }
        assert_eq!(
            CachePolicy::key(&Read::Post(post)),
            "v3:post:01234567-89ab-cdef-0011-223344556677"
        );
    }

    #[test]
    fn a_value_round_trips_with_its_version() {
        let v = Version::from_u128(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
        let bytes = CachePolicy::encode(v, &vec!["a".to_owned(), "b".to_owned()]).unwrap();
        assert_eq!(CachePolicy::version(&bytes).unwrap(), v);
        let back: Vec<String> = CachePolicy::decode(&bytes).unwrap();
        assert_eq!(back, ["a", "b"]);
        assert!(CachePolicy::version(&bytes[..15]).is_err());
        assert!(CachePolicy::decode::<Vec<String>>(&bytes[..20]).is_err());
    }

    #[test]
    fn every_read_has_its_own_key() {
        let id = crate::model::UserId::from_uuid(uuid::Uuid::now_v7());
        let keys = [
            CachePolicy::key(&Read::GlobalHead),
            CachePolicy::key(&Read::AuthorHead(id)),
            CachePolicy::key(&Read::Summary(id)),
            CachePolicy::key(&Read::User(id)),
            CachePolicy::key(&Read::Standing(id)),
            CachePolicy::key(&Read::ApiKey(crate::model::ApiKeyId::from_uuid(
                id.as_uuid(),
            ))),
            CachePolicy::key(&Read::Post(crate::model::PostId::from_uuid(id.as_uuid()))),
            CachePolicy::key(&Read::FollowedPulled(id)),
        ];
        let unique: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len());
    }
}
