//! [`MapCache`]: the cache port over a `HashMap`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::lock;
use crate::error::StoreError;
use crate::ports::{Cache, Loader};

// ---------------------------------------------------------------------------------------------
// Cache
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct CacheState {
    entries: HashMap<String, Arc<[u8]>>,
    /// Bumped by every invalidation of a key: a load that began under an older generation
    /// does not store its value (the port's "loaded while invalidated" rule).
    generations: HashMap<String, u64>,
    loads: HashMap<String, usize>,
    /// The TTL each entry was stored with (not enforced, only recorded).
    ttls: HashMap<String, Duration>,
    hits: usize,
    invalidated: Vec<String>,
}

/// A `HashMap` cache that ignores TTLs (entries live until invalidated) and counts what
/// happened, so tests can assert that a read was served from it or that a write invalidated.
///
/// Concurrent misses are not coalesced (each runs its loader): the fakes are driven from one
/// thread by [`block_on`](super::block_on), where misses never overlap.
#[derive(Default)]
pub struct MapCache {
    state: Mutex<CacheState>,
}

impl MapCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Loader calls, over all keys.
    pub fn loads(&self) -> usize {
        lock(&self.state).loads.values().sum()
    }

    /// Loader calls for one key.
    pub fn loads_of(&self, key: &str) -> usize {
        lock(&self.state).loads.get(key).copied().unwrap_or(0)
    }

    /// Reads answered from the map (by `get_or_load` or `get_many`).
    pub fn hits(&self) -> usize {
        lock(&self.state).hits
    }

    /// Every key passed to `invalidate`, in order, repeats included.
    pub fn invalidated(&self) -> Vec<String> {
        lock(&self.state).invalidated.clone()
    }

    /// How many keys were invalidated in all.
    pub fn invalidations(&self) -> usize {
        lock(&self.state).invalidated.len()
    }

    /// The TTL the entry under `key` was last stored with.
    pub fn ttl_of(&self, key: &str) -> Option<Duration> {
        let s = lock(&self.state);
        s.entries
            .contains_key(key)
            .then(|| s.ttls.get(key).copied())?
    }

    pub fn contains(&self, key: &str) -> bool {
        lock(&self.state).entries.contains_key(key)
    }

    /// Drops every entry (without counting invalidations), like a cold start.
    pub fn clear(&self) {
        lock(&self.state).entries.clear();
    }
}

#[async_trait]
impl Cache for MapCache {
    async fn get_or_load(
        &self,
        key: &str,
        ttl: Duration,
        load: Loader<'_>,
    ) -> Result<Option<Arc<[u8]>>, StoreError> {
        let generation = {
            let mut s = lock(&self.state);
            if let Some(hit) = s.entries.get(key).cloned() {
                s.hits += 1;
                return Ok(Some(hit));
            }
            *s.loads.entry(key.to_owned()).or_default() += 1;
            s.generations.get(key).copied().unwrap_or(0)
        };
        // The lock is released while the loader runs.
        let Some(bytes) = load.await? else {
            return Ok(None);
        };
        let value: Arc<[u8]> = bytes.into();
        let mut s = lock(&self.state);
        if s.generations.get(key).copied().unwrap_or(0) == generation {
            s.entries.insert(key.to_owned(), value.clone());
            s.ttls.insert(key.to_owned(), ttl);
        }
        Ok(Some(value))
    }

    async fn get_many(&self, keys: &[String]) -> Vec<Option<Arc<[u8]>>> {
        let mut s = lock(&self.state);
        let found: Vec<Option<Arc<[u8]>>> =
            keys.iter().map(|k| s.entries.get(k).cloned()).collect();
        s.hits += found.iter().filter(|v| v.is_some()).count();
        found
    }

    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        let mut s = lock(&self.state);
        s.entries.insert(key.to_owned(), value.into());
        s.ttls.insert(key.to_owned(), ttl);
    }

    async fn invalidate(&self, keys: &[String]) {
        let mut s = lock(&self.state);
        for key in keys {
            s.entries.remove(key);
            *s.generations.entry(key.clone()).or_default() += 1;
            s.invalidated.push(key.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::fakes::block_on;

    #[test]
    fn map_cache_loads_once_and_invalidates() {
        let c = MapCache::new();
        let ttl = Duration::from_secs(1);
        let load =
            |v: &'static [u8]| -> Loader<'static> { Box::pin(async move { Ok(Some(v.to_vec())) }) };
        let a = block_on(c.get_or_load("k", ttl, load(b"1")))
            .unwrap()
            .unwrap();
        let b = block_on(c.get_or_load("k", ttl, load(b"2")))
            .unwrap()
            .unwrap();
        assert_eq!((&*a, &*b), (&b"1"[..], &b"1"[..]));
        assert_eq!((c.loads_of("k"), c.hits()), (1, 1));
        block_on(c.invalidate(&["k".to_owned()]));
        assert!(!c.contains("k"));
        let d = block_on(c.get_or_load("k", ttl, load(b"3")))
            .unwrap()
            .unwrap();
        assert_eq!(&*d, b"3");
        assert_eq!(c.invalidated(), vec!["k".to_owned()]);

        // Absence and errors are not cached.
        let none: Loader<'static> = Box::pin(async { Ok(None) });
        assert!(block_on(c.get_or_load("n", ttl, none)).unwrap().is_none());
        let err: Loader<'static> = Box::pin(async { Err(StoreError::Unavailable("x".into())) });
        assert!(block_on(c.get_or_load("n", ttl, err)).is_err());
        assert!(!c.contains("n"));

        block_on(c.set("s", b"v".to_vec(), ttl));
        let many = block_on(c.get_many(&["s".to_owned(), "missing".to_owned()]));
        assert_eq!(many[0].as_deref(), Some(&b"v"[..]));
        assert!(many[1].is_none());
    }

    #[test]
    fn map_cache_drops_a_value_loaded_across_an_invalidation() {
        let c = Arc::new(MapCache::new());
        let inner = c.clone();
        let loader: Loader<'static> = Box::pin(async move {
            inner.invalidate(&["k".to_owned()]).await;
            Ok(Some(b"stale".to_vec()))
        });
        let got = block_on(c.get_or_load("k", Duration::from_secs(1), loader)).unwrap();
        assert_eq!(got.as_deref(), Some(&b"stale"[..]));
        assert!(
            !c.contains("k"),
            "a value loaded during an invalidation stayed cached"
        );
    }

    /// Not `cache_single_flight_contract`: the fake does not coalesce concurrent misses.
    #[test]
    fn map_cache_passes_the_cache_contract() {
        block_on(crate::testkit::cache::cache_contract(&MapCache::new()));
    }
}
