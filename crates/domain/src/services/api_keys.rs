use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::cache::{ReadCache, Write};
use crate::error::{ApiKeyError, CredentialError, StoreError};
use crate::model::{
    ApiKey, ApiKeyId, ApiKeyName, ApiKeySecret, Timestamp, UserId, MAX_API_KEYS_PER_USER,
};
use crate::ports::{ApiKeyRepository, ApiKeySecrets, Clock, CreateApiKeyError, IdGenerator};

use super::Ports;

/// A key's `last_used_at` is written at most this often per key and instance.
const TOUCH_EVERY_MS: i64 = 60_000;

/// Keys whose last recorded use this instance remembers; past it the memory starts afresh
/// (costing one extra write per key in use).
const TOUCHED_MAX: usize = 10_000;

/// A key just made: its record, and the text the client sees this once.
#[derive(Debug)]
pub struct CreatedApiKey {
    pub key: ApiKey,
    pub secret: String,
}

/// API keys: created, listed and revoked by their owner, checked on every request that
/// presents one.
#[derive(Clone)]
pub struct ApiKeyService {
    keys: Arc<dyn ApiKeyRepository>,
    secrets: Arc<dyn ApiKeySecrets>,
    cache: ReadCache,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    /// When this instance last recorded each key's use.
    touched: Arc<Mutex<HashMap<ApiKeyId, Timestamp>>>,
}

impl ApiKeyService {
    pub fn new(ports: &Ports, cache: ReadCache) -> Self {
        ApiKeyService {
            keys: ports.api_keys.clone(),
            secrets: ports.secrets.clone(),
            cache,
            clock: ports.clock.clone(),
            ids: ports.ids.clone(),
            touched: Arc::default(),
        }
    }

    /// A new key for `user`, at most [`MAX_API_KEYS_PER_USER`] at once.
    pub async fn create(&self, user: UserId, name: &str) -> Result<CreatedApiKey, ApiKeyError> {
        let name = ApiKeyName::parse(name)?;
        let secret = ApiKeySecret {
            id: ApiKeyId::from_uuid(self.ids.new_id()),
            secret: self.secrets.generate(),
        };
        let key = ApiKey {
            id: secret.id,
            user,
            name: name.as_str().to_owned(),
            digest: self.secrets.digest(&secret.secret),
            created_at: self.clock.now(),
            last_used_at: None,
        };
        match self.keys.create(&key, MAX_API_KEYS_PER_USER).await {
            Ok(()) => Ok(CreatedApiKey {
                key,
                secret: secret.encode(),
            }),
            Err(CreateApiKeyError::TooMany) => Err(ApiKeyError::TooMany),
            Err(CreateApiKeyError::UnknownUser) => Err(ApiKeyError::UserNotFound),
            Err(CreateApiKeyError::Store(e)) => Err(e.into()),
        }
    }

    /// The user's keys, oldest first (digests included: the caller shows none of them).
    pub async fn list(&self, user: UserId) -> Result<Vec<ApiKey>, ApiKeyError> {
        Ok(self.keys.list(user).await?)
    }

    /// Deletes one of `user`'s keys; returns once no instance accepts it any more.
    pub async fn revoke(&self, user: UserId, id: ApiKeyId) -> Result<(), ApiKeyError> {
        if !self.keys.delete(user, id).await? {
            return Err(ApiKeyError::NotFound);
        }
        self.cache.written(Write::ApiKey { key: id }).await;
        Ok(())
    }

    /// The key `raw` names, if it exists and its secret matches.
    pub(crate) async fn verify(&self, raw: &str) -> Result<ApiKey, CredentialError> {
        let presented = ApiKeySecret::parse(raw).ok_or(CredentialError::Rejected)?;
        let keys = &self.keys;
        let id = presented.id;
        let key = self
            .cache
            .api_key(id, || async move { keys.by_id(id).await })
            .await?
            .ok_or(CredentialError::Rejected)?;
        if !self.secrets.matches(&presented.secret, &key.digest) {
            return Err(CredentialError::Rejected);
        }
        self.note_use(id).await;
        Ok(ApiKey::clone(&key))
    }

    /// Whether the key `id` still exists (read through the cache, which a revocation
    /// invalidates on every instance).
    pub(crate) async fn exists(&self, id: ApiKeyId) -> Result<bool, StoreError> {
        let keys = &self.keys;
        let key = self
            .cache
            .api_key(id, || async move { keys.by_id(id).await })
            .await?;
        Ok(key.is_some())
    }

    /// Records the use, at most once per [`TOUCH_EVERY_MS`] per key on this instance.
    async fn note_use(&self, id: ApiKeyId) {
        let now = self.clock.now();
        {
            let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
            let last = touched.get(&id).copied();
            if last.is_some_and(|t| now.unix_millis() - t.unix_millis() < TOUCH_EVERY_MS) {
                return;
            }
            if touched.len() >= TOUCHED_MAX {
                touched.clear();
            }
            touched.insert(id, now);
        }
        // Best effort: `lastUsedAt` is informational, and a store too busy for this write must
        // not turn a valid key into a failed request.
        let _ = self.keys.touch(id, now).await;
    }
}

#[cfg(test)]
mod tests;
