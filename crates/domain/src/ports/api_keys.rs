//! The ports API keys need: their storage, and the secrets' randomness and digests.

use async_trait::async_trait;

use crate::error::StoreError;
use crate::model::{ApiKey, ApiKeyId, Timestamp, UserId};

/// Creating a key failed for a reason the caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum CreateApiKeyError {
    /// The user already holds the most keys allowed.
    #[error("too many API keys")]
    TooMany,
    /// The key's user does not exist.
    #[error("unknown user")]
    UnknownUser,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// API keys, stored with the digest of their secret (never the secret).
#[async_trait]
pub trait ApiKeyRepository: Send + Sync {
    /// Stores `key` unless its user already holds `max` keys.
    ///
    /// # Errors
    /// MUST return `TooMany` when the user holds `max` keys, decided atomically: of racing
    /// creates, no more than `max` keys ever exist for one user; `UnknownUser` when the user
    /// does not exist.
    async fn create(&self, key: &ApiKey, max: usize) -> Result<(), CreateApiKeyError>;

    async fn by_id(&self, id: ApiKeyId) -> Result<Option<ApiKey>, StoreError>;

    /// The user's keys, oldest first.
    async fn list(&self, user: UserId) -> Result<Vec<ApiKey>, StoreError>;

    /// Deletes the key if `user` holds it; `false` when there was no such key of theirs.
    async fn delete(&self, user: UserId, id: ApiKeyId) -> Result<bool, StoreError>;

    /// Records a use at `at` (never moving `last_used_at` back); a missing key is no error.
    async fn touch(&self, id: ApiKeyId, at: Timestamp) -> Result<(), StoreError>;
}

/// The cryptography of API keys: where their randomness comes from, how their secrets are
/// digested for storage, and how a presented secret is checked.
pub trait ApiKeySecrets: Send + Sync {
    /// 256 bits from a cryptographically secure generator.
    fn generate(&self) -> [u8; 32];

    /// The digest stored for a secret (SHA-256 in production).
    fn digest(&self, secret: &[u8; 32]) -> [u8; 32];

    /// Whether `secret` digests to `digest`, compared in constant time.
    fn matches(&self, secret: &[u8; 32], digest: &[u8; 32]) -> bool;
}
