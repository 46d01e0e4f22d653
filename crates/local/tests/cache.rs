//! `L1Cache` against the `Cache` contract, plus what only an in-process cache can show: expiry
//! on a paused clock and single flight across real tasks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use domain::ports::{Cache, Loader};
use domain::testkit::cache::{cache_contract, cache_single_flight_contract};
use local::{L1Cache, NoCache};
use tokio::sync::{oneshot, Barrier};

fn cache() -> L1Cache {
    L1Cache::new(10_000)
}

fn value(v: &'static [u8]) -> Loader<'static> {
    Box::pin(async move { Ok(Some(v.to_vec())) })
}

fn counted(calls: &Arc<AtomicUsize>, v: &'static [u8]) -> Loader<'static> {
    let calls = Arc::clone(calls);
    Box::pin(async move {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok(Some(v.to_vec()))
    })
}

async fn get(cache: &dyn Cache, key: &str) -> Option<Arc<[u8]>> {
    cache.get_many(&[key.to_owned()]).await.pop().flatten()
}

#[tokio::test]
async fn passes_the_cache_contract() {
    cache_contract(&cache()).await;
}

#[tokio::test]
async fn passes_the_single_flight_contract() {
    cache_single_flight_contract(&cache()).await;
}

#[tokio::test(start_paused = true)]
async fn entries_expire_after_their_own_ttl() {
    let cache = cache();
    let calls = Arc::new(AtomicUsize::new(0));
    let ttl = Duration::from_secs(30);
    cache
        .get_or_load("short", ttl, counted(&calls, b"1"))
        .await
        .unwrap();
    cache
        .set("long", b"L".to_vec(), Duration::from_secs(120))
        .await;

    tokio::time::advance(Duration::from_secs(29)).await;
    assert!(get(&cache, "short").await.is_some());
    cache
        .get_or_load("short", ttl, counted(&calls, b"2"))
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "still fresh");

    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(get(&cache, "short").await, None, "expired");
    let reloaded = cache.get_or_load("short", ttl, counted(&calls, b"2")).await;
    assert_eq!(reloaded.unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "an expired entry is loaded afresh"
    );
    assert!(
        get(&cache, "long").await.is_some(),
        "other entries keep their own TTL"
    );

    tokio::time::advance(Duration::from_secs(100)).await;
    assert_eq!(get(&cache, "long").await, None);
}

#[tokio::test(start_paused = true)]
async fn set_replaces_the_ttl() {
    let cache = cache();
    cache.set("k", b"a".to_vec(), Duration::from_secs(10)).await;
    cache
        .set("k", b"b".to_vec(), Duration::from_secs(100))
        .await;
    tokio::time::advance(Duration::from_secs(50)).await;
    assert_eq!(get(&cache, "k").await.as_deref(), Some(&b"b"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_tasks_missing_one_key_run_one_loader() {
    let cache = Arc::new(cache());
    let calls = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (cache, calls, start) =
                (Arc::clone(&cache), Arc::clone(&calls), Arc::clone(&start));
            tokio::spawn(async move {
                start.wait().await;
                let load: Loader<'static> = Box::pin(async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    // Long enough for every task to arrive while the load is in flight.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok(Some(b"once".to_vec()))
                });
                cache
                    .get_or_load("hot", Duration::from_secs(60), load)
                    .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().as_deref(), Some(&b"once"[..]));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_loaded_across_an_invalidation_is_not_kept() {
    let cache = Arc::new(cache());
    let (loading_tx, loading_rx) = oneshot::channel::<()>();
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let loader_cache = Arc::clone(&cache);
    let load = tokio::spawn(async move {
        let load: Loader<'static> = Box::pin(async move {
            let _ = loading_tx.send(());
            // The "database read" happened; now wait while a writer invalidates.
            let _ = release_rx.await;
            Ok(Some(b"stale".to_vec()))
        });
        loader_cache
            .get_or_load("row", Duration::from_secs(60), load)
            .await
    });
    loading_rx.await.unwrap();
    cache.invalidate(&["row".to_owned()]).await;
    release_tx.send(()).unwrap();
    assert_eq!(load.await.unwrap().unwrap().as_deref(), Some(&b"stale"[..]));

    assert_eq!(
        get(cache.as_ref(), "row").await,
        None,
        "the stale value was dropped"
    );
    let fresh = cache
        .get_or_load("row", Duration::from_secs(60), value(b"fresh"))
        .await;
    assert_eq!(fresh.unwrap().as_deref(), Some(&b"fresh"[..]));
}

#[tokio::test]
async fn invalidating_other_keys_keeps_loads_cached() {
    let cache = cache();
    let calls = Arc::new(AtomicUsize::new(0));
    cache.invalidate(&["unrelated".to_owned()]).await;
    cache
        .get_or_load("k", Duration::from_secs(60), counted(&calls, b"v"))
        .await
        .unwrap();
    cache
        .get_or_load("k", Duration::from_secs(60), counted(&calls, b"v"))
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn no_cache_always_loads_and_stores_nothing() {
    let calls = Arc::new(AtomicUsize::new(0));
    for _ in 0..3 {
        let got = NoCache
            .get_or_load("k", Duration::from_secs(60), counted(&calls, b"v"))
            .await;
        assert_eq!(got.unwrap().as_deref(), Some(&b"v"[..]));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    NoCache
        .set("k", b"v".to_vec(), Duration::from_secs(60))
        .await;
    assert_eq!(
        NoCache.get_many(&["k".to_owned(), "j".to_owned()]).await,
        vec![None, None]
    );
}
