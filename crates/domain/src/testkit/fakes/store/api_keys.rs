//! [`ApiKeyRepository`] on the [`MemoryStore`], and [`PlainSecrets`], the fake of
//! [`ApiKeySecrets`].

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::{lock, MemoryStore};
use crate::error::StoreError;
use crate::model::{ApiKey, ApiKeyId, Timestamp, UserId};
use crate::ports::{ApiKeyRepository, ApiKeySecrets, CreateApiKeyError};

#[async_trait]
impl ApiKeyRepository for MemoryStore {
    async fn create(&self, key: &ApiKey, max: usize) -> Result<(), CreateApiKeyError> {
        self.check()?;
        let mut s = lock(&self.state);
        if !s.users.contains_key(&key.user) {
            return Err(CreateApiKeyError::UnknownUser);
        }
        if s.api_keys.values().filter(|k| k.user == key.user).count() >= max {
            return Err(CreateApiKeyError::TooMany);
        }
        s.api_keys.insert(key.id, key.clone());
        Ok(())
    }

    async fn by_id(&self, id: ApiKeyId) -> Result<Option<ApiKey>, StoreError> {
        self.check()?;
        Ok(lock(&self.state).api_keys.get(&id).cloned())
    }

    async fn list(&self, user: UserId) -> Result<Vec<ApiKey>, StoreError> {
        self.check()?;
        let s = lock(&self.state);
        Ok(s.api_keys
            .values()
            .filter(|k| k.user == user)
            .cloned()
            .collect())
    }

    async fn delete(&self, user: UserId, id: ApiKeyId) -> Result<bool, StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        if s.api_keys.get(&id).is_some_and(|k| k.user == user) {
            s.api_keys.remove(&id);
            Ok(true)
        } else {
            Ok(false)
        }
    }

    async fn touch(&self, id: ApiKeyId, at: Timestamp) -> Result<(), StoreError> {
        self.check()?;
        if let Some(key) = lock(&self.state).api_keys.get_mut(&id) {
            key.last_used_at = Some(key.last_used_at.map_or(at, |t| t.max(at)));
        }
        Ok(())
    }
}

/// **Insecure, tests only**: secrets count up from 1, and the "digest" is the secret with every
/// byte flipped. Counts digests so tests can see a check happened.
#[derive(Default)]
pub struct PlainSecrets {
    next: AtomicU64,
}

impl PlainSecrets {
    pub fn new() -> Self {
        Self::default()
    }
}

impl ApiKeySecrets for PlainSecrets {
    fn generate(&self) -> [u8; 32] {
        let n = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        let mut out = [0u8; 32];
        out[24..].copy_from_slice(&n.to_be_bytes());
        out
    }

    fn digest(&self, secret: &[u8; 32]) -> [u8; 32] {
        secret.map(|b| !b)
    }

    fn matches(&self, secret: &[u8; 32], digest: &[u8; 32]) -> bool {
        self.digest(secret) == *digest
    }
}
