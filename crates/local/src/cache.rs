//! The in-process cache tier (L1), and a stand-in that caches nothing.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::ports::{Cache, Loader};
use domain::StoreError;
use moka::ops::compute::Op;
use moka::Expiry;
use tokio::time::Instant;

/// Invalidation generations are kept per stripe of keys, not per key, so their memory is fixed;
/// a collision only costs an extra reload, never a stale value.
const GENERATION_STRIPES: usize = 256;

/// How often expired entries are removed when nothing else touches the cache: moka only does
/// its upkeep on reads and writes, so after a storm an idle instance kept every expired entry
/// (tens of MiB) until the next request (issue #10).
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(1);

/// Longer TTLs are clamped: nothing needs them, and far-future deadlines overflow clocks.
const MAX_TTL: Duration = Duration::from_secs(86_400 * 365);

#[derive(Clone)]
struct Entry {
    value: Arc<[u8]>,
    ttl: Duration,
    /// Read on the tokio clock, so paused-time tests see expiry; moka's own clock (real time)
    /// only drives eviction, which frees the memory at about the same moment.
    expires_at: Instant,
    /// The key's invalidation generation when the value was read from its source (for a load,
    /// when the load started). Served only while the key is still at it: a value read before an
    /// invalidation is never handed out after it, whoever joined its load.
    generation: u64,
}

impl Entry {
    fn new(value: Arc<[u8]>, ttl: Duration, generation: u64) -> Self {
        let ttl = ttl.min(MAX_TTL);
        Entry {
            value,
            ttl,
            expires_at: Instant::now() + ttl,
            generation,
        }
    }

    fn is_expired(&self) -> bool {
        self.expires_at <= Instant::now()
    }
}

struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Entry,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &Entry,
        _updated_at: std::time::Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// Why a load left nothing to cache. moka caches only `Ok`, so absence travels as an error too:
/// that way it is shared with the waiters of the load and never stored.
enum NotCached {
    Absent,
    Failed(StoreError),
}

/// A bounded in-process cache (moka, TinyLFU eviction) with a TTL per entry.
///
/// Cheap to share behind an `Arc`; all state is internal.
pub struct L1Cache {
    inner: moka::future::Cache<String, Entry>,
    generations: Box<[AtomicU64]>,
    stripes: RandomState,
    /// Registered once: looking a labelled counter up on every read showed in profiles.
    hits: metrics::Counter,
    misses: metrics::Counter,
    /// The upkeep task (see [`HOUSEKEEPING_EVERY`]), stopped with the cache.
    housekeeping: Option<tokio::task::AbortHandle>,
}

impl Drop for L1Cache {
    fn drop(&mut self) {
        if let Some(task) = &self.housekeeping {
            task.abort();
        }
    }
}

impl L1Cache {
    /// A cache holding at most `max_entries` values. Made inside a tokio runtime, it also
    /// removes expired entries every second while idle; elsewhere only as moka does, on use.
    pub fn new(max_entries: u64) -> Self {
        let inner = moka::future::Cache::builder()
            .name("l1")
            .max_capacity(max_entries)
            .expire_after(PerEntryTtl)
            .build();
        let housekeeping = tokio::runtime::Handle::try_current().ok().map(|rt| {
            let cache = inner.clone();
            rt.spawn(async move {
                let mut every = tokio::time::interval(HOUSEKEEPING_EVERY);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    cache.run_pending_tasks().await;
                }
            })
            .abort_handle()
        });
        L1Cache {
            housekeeping,
            inner,
            generations: (0..GENERATION_STRIPES).map(|_| AtomicU64::new(0)).collect(),
            stripes: RandomState::new(),
            hits: metrics::counter!("cache_requests_total", "tier" => "l1", "result" => "hit"),
            misses: metrics::counter!("cache_requests_total", "tier" => "l1", "result" => "miss"),
        }
    }

    fn record(&self, hit: bool) {
        if hit {
            self.hits.increment(1);
        } else {
            self.misses.increment(1);
        }
    }

    fn generation(&self, key: &str) -> &AtomicU64 {
        let stripe = usize::try_from(self.stripes.hash_one(key)).unwrap_or_default();
        // `generations` is never empty, so the index is always in range.
        &self.generations[stripe % self.generations.len()]
    }

    /// Whether `entry` may be served now: not expired, and read at the key's current
    /// generation.
    fn servable(&self, key: &str, entry: &Entry) -> bool {
        !entry.is_expired() && entry.generation == self.generation(key).load(Ordering::SeqCst)
    }

    /// Drops `key` only if what is stored may not be served (expired, or read before an
    /// invalidation), so a value a concurrent caller just loaded is left alone.
    async fn discard_unservable(&self, key: &str) {
        self.inner
            .entry_by_ref(key)
            .and_compute_with(|current| async move {
                match current {
                    Some(e) if !self.servable(key, e.value()) => Op::Remove,
                    _ => Op::Nop,
                }
            })
            .await;
    }
}

impl L1Cache {
    /// The invalidation generation of `key`'s stripe, for a value fetched outside
    /// [`Cache::get_or_load`] (from a shared tier): read it before fetching, and pass it to
    /// [`L1Cache::insert_unless_invalidated`].
    pub fn generation_of(&self, key: &str) -> u64 {
        self.generation(key).load(Ordering::SeqCst)
    }

    /// Stores a value fetched after [`L1Cache::generation_of`] returned `seen`, unless `key`
    /// was invalidated since: the same guard `get_or_load` applies to its loader.
    pub async fn insert_unless_invalidated(
        &self,
        key: &str,
        value: Arc<[u8]>,
        ttl: Duration,
        seen: u64,
    ) {
        if self.generation_of(key) != seen {
            return;
        }
        self.inner
            .insert(key.to_owned(), Entry::new(value, ttl, seen))
            .await;
        // Never served once the generation moved (see `servable`); this only frees the memory.
        if self.generation_of(key) != seen {
            self.discard_unservable(key).await;
        }
    }

    /// Forgets everything, as if every key were invalidated: for when invalidations from
    /// other instances may have been missed (a lost pub/sub connection).
    pub fn clear(&self) {
        for g in self.generations.iter() {
            g.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.invalidate_all();
    }
}

#[async_trait]
impl Cache for L1Cache {
    async fn get_or_load(
        &self,
        key: &str,
        ttl: Duration,
        load: Loader<'_>,
    ) -> Result<Option<Arc<[u8]>>, StoreError> {
        // Hits are the common case: a plain read is much cheaper than the entry API below.
        if let Some(e) = self.inner.get(key).await {
            if self.servable(key, &e) {
                self.record(true);
                return Ok(Some(e.value));
            }
        }
        // Kept outside the init future so that, when moka hands back an entry our clock says has
        // expired (and so never polled the init), the loader is still here for a second try.
        let mut load = Some(load);
        // Two rounds: the second only follows an unservable entry being discarded.
        for _ in 0..2 {
            // Read before the loader can start, and stored with its value: the value is served
            // only while the key is still at this generation. So an invalidation that comes
            // while the load runs keeps its result from everyone who asks after it, including
            // callers that joined the load and were waiting for it.
            let before = self.generation(key).load(Ordering::SeqCst);
            let init = async {
                let Some(loader) = load.take() else {
                    return Err(NotCached::Failed(StoreError::Internal(
                        "cache loader polled twice".into(),
                    )));
                };
                match loader.await {
                    Ok(Some(bytes)) => Ok(Entry::new(bytes.into(), ttl, before)),
                    Ok(None) => Err(NotCached::Absent),
                    Err(e) => Err(NotCached::Failed(e)),
                }
            };
            match self.inner.entry_by_ref(key).or_try_insert_with(init).await {
                Ok(entry) if entry.is_fresh() => {
                    self.record(false);
                    // Our own caller asked before the invalidation, so the value answers it; it
                    // is only kept from everyone else.
                    if self.generation(key).load(Ordering::SeqCst) != before {
                        self.discard_unservable(key).await;
                    }
                    return Ok(Some(entry.into_value().value));
                }
                // Either a hit or a load another caller ran while we waited.
                Ok(entry) if self.servable(key, entry.value()) => {
                    self.record(true);
                    return Ok(Some(entry.into_value().value));
                }
                Ok(_) => self.discard_unservable(key).await,
                Err(not_cached) => {
                    self.record(false);
                    return match &*not_cached {
                        NotCached::Absent => Ok(None),
                        NotCached::Failed(e) => Err(e.clone()),
                    };
                }
            }
        }
        // Only reachable when entries keep expiring as they are stored (a zero TTL) or keep
        // being invalidated while loading: serve the loader's answer uncached rather than spin.
        self.record(false);
        match load.take() {
            Some(loader) => Ok(loader.await?.map(Arc::from)),
            None => Err(StoreError::Internal("cache loader already consumed".into())),
        }
    }

    async fn get_many(&self, keys: &[String]) -> Vec<Option<Arc<[u8]>>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let value = match self.inner.get(key).await {
                Some(e) if self.servable(key, &e) => Some(e.value),
                _ => None,
            };
            self.record(value.is_some());
            out.push(value);
        }
        out
    }

    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        let generation = self.generation_of(key);
        self.inner
            .insert(key.to_owned(), Entry::new(value.into(), ttl, generation))
            .await;
    }

    async fn invalidate(&self, keys: &[String]) {
        for key in keys {
            // Bump before removing: the order the guard in `get_or_load` relies on.
            self.generation(key).fetch_add(1, Ordering::SeqCst);
            self.inner.invalidate(key).await;
            metrics::counter!("cache_invalidations_total", "tier" => "l1").increment(1);
        }
    }
}

/// A [`Cache`] that stores nothing: every read runs its loader. For measuring the system with
/// the cache off; it deliberately does not coalesce concurrent loads, so it does not pass the
/// port's single-flight contract and must not be used in production.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoCache;

#[async_trait]
impl Cache for NoCache {
    async fn get_or_load(
        &self,
        _key: &str,
        _ttl: Duration,
        load: Loader<'_>,
    ) -> Result<Option<Arc<[u8]>>, StoreError> {
        Ok(load.await?.map(Arc::from))
    }

    async fn get_many(&self, keys: &[String]) -> Vec<Option<Arc<[u8]>>> {
        vec![None; keys.len()]
    }

    async fn set(&self, _key: &str, _value: Vec<u8>, _ttl: Duration) {}

    async fn invalidate(&self, _keys: &[String]) {}
}

#[cfg(test)]
mod tests;
