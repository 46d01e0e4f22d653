//! The [`Cache`] contract.
//!
//! Written against the port only, so the in-process tier and a shared one (Redis) run the same
//! checks. Every key carries a random prefix: a suite run against a shared server neither sees
//! nor disturbs what another run (or the application) stored. TTL expiry is not checked here
//! because waiting for it needs a runtime's clock; adapters test it with their own.
//!
//! The suites run on any executor: concurrency is built from plain futures polled together by
//! [`join_all`](super::join::join_all), not from spawned tasks.

use std::future::poll_fn;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use uuid::Uuid;

use super::join::{join_all, BoxFuture};
use crate::error::StoreError;
use crate::ports::{Cache, Loader};

/// Long enough that nothing expires while a suite runs, even against a slow shared server.
const TTL: Duration = Duration::from_secs(300);

/// How many callers race for one key in the single-flight checks.
const RACERS: usize = 16;

/// Everything a cache must do, except expiry and single flight (see
/// [`cache_single_flight_contract`]).
pub async fn cache_contract(cache: &dyn Cache) {
    let p = prefix();
    loads_on_miss_then_hits(cache, &p).await;
    absence_is_not_cached(cache, &p).await;
    errors_are_returned_and_not_cached(cache, &p).await;
    set_then_get_many(cache, &p).await;
    invalidate_makes_the_next_read_load_afresh(cache, &p).await;
    value_loaded_during_invalidation_is_not_kept(cache, &p).await;
    keys_do_not_mix(cache, &p).await;
}

/// Concurrent misses for one key run one loader and all share its outcome: a value, an
/// absence, or an error.
pub async fn cache_single_flight_contract(cache: &dyn Cache) {
    let p = prefix();

    let key = format!("{p}shared-value");
    let calls = AtomicUsize::new(0);
    let results = race(cache, &key, &calls, Ok(Some(b"shared".to_vec()))).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one loader for {RACERS} racing misses"
    );
    for r in results {
        assert_eq!(bytes(r).as_deref(), Some(&b"shared"[..]));
    }
    let again = load(cache, &key, &calls, Ok(Some(b"other".to_vec()))).await;
    assert_eq!(bytes(again).as_deref(), Some(&b"shared"[..]));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the shared value stays cached"
    );

    let key = format!("{p}shared-error");
    let calls = AtomicUsize::new(0);
    let boom = Err(StoreError::Unavailable("contract: loader failed".into()));
    let results = race(cache, &key, &calls, boom).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one loader even when it fails"
    );
    for r in results {
        assert!(
            r.is_err(),
            "every waiter gets the loader's error, got {r:?}"
        );
    }

    let key = format!("{p}shared-absence");
    let calls = AtomicUsize::new(0);
    let results = race(cache, &key, &calls, Ok(None)).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one loader for an absent value"
    );
    for r in results {
        assert_eq!(bytes(r), None);
    }
}

async fn loads_on_miss_then_hits(cache: &dyn Cache, p: &str) {
    let key = format!("{p}hit");
    let calls = AtomicUsize::new(0);
    let first = load(cache, &key, &calls, Ok(Some(b"v1".to_vec()))).await;
    assert_eq!(bytes(first).as_deref(), Some(&b"v1"[..]));
    let second = load(cache, &key, &calls, Ok(Some(b"v2".to_vec()))).await;
    assert_eq!(
        bytes(second).as_deref(),
        Some(&b"v1"[..]),
        "served from cache"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the loader ran once");
    assert_eq!(get_one(cache, &key).await.as_deref(), Some(&b"v1"[..]));
}

async fn absence_is_not_cached(cache: &dyn Cache, p: &str) {
    let key = format!("{p}absent");
    let calls = AtomicUsize::new(0);
    assert_eq!(bytes(load(cache, &key, &calls, Ok(None)).await), None);
    assert_eq!(get_one(cache, &key).await, None);
    let found = load(cache, &key, &calls, Ok(Some(b"now".to_vec()))).await;
    assert_eq!(bytes(found).as_deref(), Some(&b"now"[..]));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "absence must not be cached"
    );
}

async fn errors_are_returned_and_not_cached(cache: &dyn Cache, p: &str) {
    let key = format!("{p}error");
    let calls = AtomicUsize::new(0);
    let failed = load(
        cache,
        &key,
        &calls,
        Err(StoreError::Internal("boom".into())),
    )
    .await;
    match failed {
        Err(StoreError::Internal(msg)) => assert_eq!(msg, "boom"),
        other => panic!("the loader's error must be returned as is, got {other:?}"),
    }
    assert_eq!(get_one(cache, &key).await, None);
    let ok = load(cache, &key, &calls, Ok(Some(b"fine".to_vec()))).await;
    assert_eq!(bytes(ok).as_deref(), Some(&b"fine"[..]));
    assert_eq!(calls.load(Ordering::SeqCst), 2, "errors must not be cached");
}

async fn set_then_get_many(cache: &dyn Cache, p: &str) {
    let (a, b, missing) = (format!("{p}a"), format!("{p}b"), format!("{p}missing"));
    cache.set(&a, b"A".to_vec(), TTL).await;
    cache.set(&b, b"B".to_vec(), TTL).await;
    let got = cache.get_many(&[a.clone(), missing, b.clone()]).await;
    let got: Vec<_> = got.iter().map(|v| v.as_deref()).collect();
    assert_eq!(
        got,
        [Some(&b"A"[..]), None, Some(&b"B"[..])],
        "in the order asked"
    );
    assert!(cache.get_many(&[]).await.is_empty());

    cache.set(&a, b"A2".to_vec(), TTL).await;
    assert_eq!(
        get_one(cache, &a).await.as_deref(),
        Some(&b"A2"[..]),
        "set overwrites"
    );

    let calls = AtomicUsize::new(0);
    let hit = load(cache, &b, &calls, Ok(Some(b"loaded".to_vec()))).await;
    assert_eq!(
        bytes(hit).as_deref(),
        Some(&b"B"[..]),
        "get_or_load sees what set stored"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

async fn invalidate_makes_the_next_read_load_afresh(cache: &dyn Cache, p: &str) {
    let (a, b, never) = (
        format!("{p}inv-a"),
        format!("{p}inv-b"),
        format!("{p}inv-never"),
    );
    let calls = AtomicUsize::new(0);
    bytes(load(cache, &a, &calls, Ok(Some(b"old".to_vec()))).await);
    cache.set(&b, b"old".to_vec(), TTL).await;

    cache.invalidate(&[a.clone(), b.clone(), never]).await;
    cache.invalidate(&[]).await;
    let got = cache.get_many(&[a.clone(), b.clone()]).await;
    assert!(got.iter().all(Option::is_none), "invalidated keys are gone");

    let fresh = load(cache, &a, &calls, Ok(Some(b"new".to_vec()))).await;
    assert_eq!(bytes(fresh).as_deref(), Some(&b"new"[..]));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the next read loads afresh"
    );
}

/// The race the port's guard exists for: a loader reads the old row, a writer updates it and
/// invalidates, then the loader stores what it read. Here the loader itself invalidates its key
/// half way, which is that interleaving made deterministic.
async fn value_loaded_during_invalidation_is_not_kept(cache: &dyn Cache, p: &str) {
    let key = format!("{p}raced");
    let calls = AtomicUsize::new(0);
    let keys = [key.clone()];
    let racing: Loader<'_> = Box::pin(async {
        calls.fetch_add(1, Ordering::SeqCst);
        cache.invalidate(&keys).await;
        Ok(Some(b"stale".to_vec()))
    });
    let served = cache.get_or_load(&key, TTL, racing).await;
    assert_eq!(
        bytes(served).as_deref(),
        Some(&b"stale"[..]),
        "the caller still gets it"
    );
    assert_eq!(
        get_one(cache, &key).await,
        None,
        "but it must not stay cached"
    );

    let fresh = load(cache, &key, &calls, Ok(Some(b"fresh".to_vec()))).await;
    assert_eq!(bytes(fresh).as_deref(), Some(&b"fresh"[..]));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

async fn keys_do_not_mix(cache: &dyn Cache, p: &str) {
    let calls = AtomicUsize::new(0);
    for i in 0..8u8 {
        let key = format!("{p}mix-{i}");
        bytes(load(cache, &key, &calls, Ok(Some(vec![i; 3]))).await);
    }
    let keys: Vec<String> = (0..8u8).map(|i| format!("{p}mix-{i}")).collect();
    for (i, got) in (0..8u8).zip(cache.get_many(&keys).await) {
        assert_eq!(
            got.as_deref(),
            Some(&[i; 3][..]),
            "key {i} holds its own value"
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 8);
}

/// A random prefix so runs against a shared server never meet.
fn prefix() -> String {
    format!("contract:{}:", Uuid::new_v4().simple())
}

async fn load(
    cache: &dyn Cache,
    key: &str,
    calls: &AtomicUsize,
    result: Result<Option<Vec<u8>>, StoreError>,
) -> Result<Option<Arc<[u8]>>, StoreError> {
    cache.get_or_load(key, TTL, loader(calls, result)).await
}

/// A loader that counts its runs and yields a few times first, so that in a race the other
/// callers get polled while it is still in flight.
fn loader(calls: &AtomicUsize, result: Result<Option<Vec<u8>>, StoreError>) -> Loader<'_> {
    Box::pin(async move {
        calls.fetch_add(1, Ordering::SeqCst);
        for _ in 0..3 {
            yield_now().await;
        }
        result
    })
}

async fn get_one(cache: &dyn Cache, key: &str) -> Option<Arc<[u8]>> {
    cache
        .get_many(&[key.to_owned()])
        .await
        .into_iter()
        .next()
        .flatten()
}

fn bytes(r: Result<Option<Arc<[u8]>>, StoreError>) -> Option<Arc<[u8]>> {
    match r {
        Ok(v) => v,
        Err(e) => panic!("unexpected cache error: {e}"),
    }
}

async fn race(
    cache: &dyn Cache,
    key: &str,
    calls: &AtomicUsize,
    result: Result<Option<Vec<u8>>, StoreError>,
) -> Vec<Result<Option<Arc<[u8]>>, StoreError>> {
    let racers = (0..RACERS)
        .map(|_| Box::pin(load(cache, key, calls, result.clone())) as BoxFuture<'_, _>)
        .collect();
    join_all(racers).await
}

/// Gives other futures (and the executor) a turn, like `tokio::task::yield_now`.
async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}
