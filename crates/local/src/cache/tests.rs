//! What the contract suite cannot see from outside: moka's own expiry, the TTL clamp, the
//! counters, and the generation guard the two-level cache relies on.

use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};

use super::*;

fn bytes(v: &'static [u8]) -> Loader<'static> {
    Box::pin(async move { Ok(Some(v.to_vec())) })
}

async fn get(cache: &L1Cache, key: &str) -> Option<Arc<[u8]>> {
    cache.get_many(&[key.to_owned()]).await.pop().flatten()
}

/// Our own clock hides an expired entry; moka must also evict it, or expired values would
/// hold memory until capacity pushes them out. moka expires on its own (real) clock, so this
/// test needs real time: a short TTL and a bounded wait for the entry to go.
#[tokio::test]
async fn moka_itself_drops_entries_after_their_ttl_on_create_and_on_update() {
    let cache = L1Cache::new(100);
    let ttl = Duration::from_millis(20);
    cache.set("created", b"1".to_vec(), ttl).await;
    cache
        .set("updated", b"1".to_vec(), Duration::from_secs(3600))
        .await;
    cache.set("updated", b"2".to_vec(), ttl).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        cache.inner.run_pending_tasks().await;
        let left: Vec<_> = ["created", "updated"]
            .into_iter()
            .filter(|k| cache.inner.contains_key(*k))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "moka still holds {left:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An idle cache still lets its expired entries go (moka alone only does on use): after a
/// storm, memory comes back without another request. Real time, bounded wait.
#[tokio::test]
async fn an_idle_cache_removes_expired_entries_by_itself() {
    let cache = L1Cache::new(100);
    for i in 0..50 {
        cache
            .set(&format!("k{i}"), vec![0; 1024], Duration::from_millis(20))
            .await;
    }
    cache.inner.run_pending_tasks().await;
    assert_eq!(cache.inner.entry_count(), 50);
    let deadline = Instant::now() + Duration::from_secs(20);
    // Only looks: `entry_count` neither evicts nor runs moka's upkeep.
    while cache.inner.entry_count() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} expired entries still held",
            cache.inner.entry_count()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A TTL of a month is kept as a month, not clamped to something short.
#[tokio::test(start_paused = true)]
async fn long_ttls_are_kept_and_only_absurd_ones_clamped() {
    let cache = L1Cache::new(100);
    cache
        .set("month", b"m".to_vec(), Duration::from_secs(30 * 86_400))
        .await;
    cache.set("forever", b"f".to_vec(), Duration::MAX).await;
    tokio::time::advance(Duration::from_secs(29 * 86_400)).await;
    assert!(get(&cache, "month").await.is_some());
    assert!(get(&cache, "forever").await.is_some());
    tokio::time::advance(Duration::from_secs(2 * 86_400)).await;
    assert!(get(&cache, "month").await.is_none());
}

/// When moka hands back an entry our clock says has expired, it is replaced by the new load
/// and that load is cached, not served once and forgotten.
#[tokio::test(start_paused = true)]
async fn a_load_after_expiry_is_cached_again() {
    let cache = L1Cache::new(100);
    let ttl = Duration::from_secs(30);
    cache.get_or_load("k", ttl, bytes(b"1")).await.unwrap();
    tokio::time::advance(Duration::from_secs(31)).await;
    let v = cache.get_or_load("k", ttl, bytes(b"2")).await.unwrap();
    assert_eq!(v.as_deref(), Some(&b"2"[..]));
    assert_eq!(get(&cache, "k").await.as_deref(), Some(&b"2"[..]));
}

#[tokio::test]
async fn generations_move_on_invalidation_and_guard_late_inserts() {
    let cache = L1Cache::new(100);
    let ttl = Duration::from_secs(60);
    let seen = cache.generation_of("k");
    cache.invalidate(&["k".to_owned()]).await;
    let now = cache.generation_of("k");
    assert_ne!(seen, now, "an invalidation moves the key's generation");
    cache.invalidate(&["k".to_owned()]).await;
    assert_ne!(cache.generation_of("k"), now);

    // Fetched before the last invalidation: dropped.
    cache
        .insert_unless_invalidated("k", Arc::from(&b"stale"[..]), ttl, now)
        .await;
    assert!(get(&cache, "k").await.is_none());
    // Fetched after it: kept.
    let current = cache.generation_of("k");
    cache
        .insert_unless_invalidated("k", Arc::from(&b"fresh"[..]), ttl, current)
        .await;
    assert_eq!(get(&cache, "k").await.as_deref(), Some(&b"fresh"[..]));
}

/// Counted through a recorder of this test's own, so other tests' traffic cannot pass it.
#[tokio::test]
async fn hits_and_misses_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // The counters are registered when the cache is built, so only that needs the recorder.
    let cache = metrics::with_local_recorder(&recorder, || L1Cache::new(100));
    let ttl = Duration::from_secs(60);
    cache.get_or_load("a", ttl, bytes(b"1")).await.unwrap(); // miss
    cache.get_or_load("a", ttl, bytes(b"1")).await.unwrap(); // hit
    cache.get_or_load("a", ttl, bytes(b"1")).await.unwrap(); // hit
    cache.get_many(&["a".to_owned(), "b".to_owned()]).await; // hit, miss

    let mut counts = std::collections::HashMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let result = key
            .labels()
            .find(|l| l.key() == "result")
            .map(|l| l.value().to_owned());
        if let (Some(result), DebugValue::Counter(n)) = (result, value) {
            counts.insert(result, n);
        }
    }
    assert_eq!(counts.get("hit"), Some(&3), "{counts:?}");
    assert_eq!(counts.get("miss"), Some(&2), "{counts:?}");
}

/// After a lost pub/sub connection every key may have missed an invalidation: `clear` drops
/// every entry and refuses values fetched before it.
#[tokio::test]
async fn clear_forgets_everything_and_refuses_late_inserts() {
    let cache = L1Cache::new(100);
    let ttl = Duration::from_secs(60);
    cache.set("a", b"1".to_vec(), ttl).await;
    cache.set("b", b"2".to_vec(), ttl).await;
    let seen = cache.generation_of("c");
    cache.clear();
    assert!(get(&cache, "a").await.is_none());
    assert!(get(&cache, "b").await.is_none());
    cache
        .insert_unless_invalidated("c", Arc::from(&b"stale"[..]), ttl, seen)
        .await;
    assert!(get(&cache, "c").await.is_none());
}

/// The race issue 11 names: a load starts, another caller joins it, the key is invalidated (a
/// write committed), then the load finishes with what it read before the write. The joined
/// caller, and everyone after, must see the write; only the loader's own caller, which asked
/// before the invalidation, may get the older value.
#[tokio::test]
async fn a_load_overtaken_by_an_invalidation_is_not_served_to_its_waiters() {
    use tokio::sync::oneshot;

    let cache = Arc::new(L1Cache::new(100));
    let ttl = Duration::from_secs(60);
    let (started_tx, started_rx) = oneshot::channel::<()>();
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let slow: Loader<'static> = Box::pin(async move {
        let _ = started_tx.send(());
        let _ = release_rx.await;
        Ok(Some(b"before the write".to_vec()))
    });
    let first = tokio::spawn({
        let cache = Arc::clone(&cache);
        async move { cache.get_or_load("k", ttl, slow).await }
    });
    started_rx.await.unwrap();
    // Joins the slow load (or, if scheduled after the invalidation below, starts after it):
    // either way it must not get the value read before the write.
    let waiter = tokio::spawn({
        let cache = Arc::clone(&cache);
        async move { cache.get_or_load("k", ttl, bytes(b"after the write")).await }
    });
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    cache.invalidate(&["k".to_owned()]).await;
    release_tx.send(()).unwrap();

    let first = first.await.unwrap().unwrap();
    assert_eq!(first.as_deref(), Some(&b"before the write"[..]));
    let waited = waiter.await.unwrap().unwrap();
    assert_eq!(waited.as_deref(), Some(&b"after the write"[..]));
    // And nobody asking later gets the stale value either.
    let later = cache
        .get_or_load("k", ttl, bytes(b"reloaded"))
        .await
        .unwrap();
    assert_ne!(later.as_deref(), Some(&b"before the write"[..]));
    assert_ne!(
        get(&cache, "k").await.as_deref(),
        Some(&b"before the write"[..])
    );
}

/// A value read before an invalidation but stored after it (a late insert racing the
/// invalidation) is never served, even in the moment before it is removed.
#[tokio::test]
async fn a_stored_value_from_an_older_generation_is_not_served() {
    let cache = L1Cache::new(100);
    let ttl = Duration::from_secs(60);
    let seen = cache.generation_of("k");
    cache
        .inner
        .insert(
            "k".to_owned(),
            Entry::new(Arc::from(&b"old"[..]), ttl, seen),
        )
        .await;
    // Bump the generation without removing the entry: the state between an invalidation's
    // bump and its removal.
    cache.generation("k").fetch_add(1, Ordering::SeqCst);
    assert!(get(&cache, "k").await.is_none());
    let v = cache.get_or_load("k", ttl, bytes(b"new")).await.unwrap();
    assert_eq!(v.as_deref(), Some(&b"new"[..]));
}
