//! The cache and limiter suites, and cross-instance invalidation over pub/sub, against a
//! three-node Redis Cluster this test starts itself (`redis-cli --cluster create`), on loopback
//! ports; the nodes are killed when the guard drops, panics included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::support::{eventually, in_l1, long_lived_cache, same_prefix, shared};
use domain::ports::{Cache, Loader};
use redis_adapter::testing::{can_start_servers, RedisCluster};
use redis_adapter::{spawn_invalidation_listener, TwoLevelCache};
use tokio_util::sync::CancellationToken;

/// Generous: delivery normally takes milliseconds; this only bounds a failure.
const DEADLINE: Duration = Duration::from_secs(5);

#[tokio::test]
async fn the_suites_and_invalidation_pass_on_a_redis_cluster() {
    if !can_start_servers() {
        return;
    }
    // Started on a blocking thread: it waits on child processes.
    let cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .unwrap();
    let url = cluster.url();
    common::suites::cache_suites(&url).await;
    common::suites::limiter_suites(&url).await;
    invalidations_reach_every_instance_across_nodes(&cluster).await;
}

fn value<'a>(calls: &'a AtomicUsize, v: &'static [u8]) -> Loader<'a> {
    Box::pin(async move {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok(Some(v.to_vec()))
    })
}

async fn load(cache: &TwoLevelCache, calls: &AtomicUsize, v: &'static [u8]) -> Vec<u8> {
    let got = cache.get_or_load("k", Duration::from_secs(60), value(calls, v));
    got.await.unwrap().unwrap().to_vec()
}

/// The port of the node owning `key`'s hash slot, as the cluster reports it.
async fn slot_owner(cluster: &RedisCluster, key: &str) -> u16 {
    let client = redis::Client::open(cluster.nodes[0].url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let slot: u16 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(&mut c)
        .await
        .unwrap();
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(&mut c)
        .await
        .unwrap();
    // `<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slot or range>...`
    for line in nodes.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let owns = fields.iter().skip(8).any(|range| {
            let (lo, hi) = range.split_once('-').unwrap_or((range, range));
            match (lo.parse::<u16>(), hi.parse::<u16>()) {
                (Ok(lo), Ok(hi)) => (lo..=hi).contains(&slot),
                _ => false, // `[slot->-node]`: a migration in progress
            }
        });
        if owns {
            let addr = fields[1].split('@').next().unwrap();
            return addr.rsplit_once(':').unwrap().1.parse().unwrap();
        }
    }
    panic!("no node owns slot {slot}:\n{nodes}");
}

/// Two instances (their own Redis handles, L1s and listeners; one key prefix). The cluster
/// client sends `PUBLISH` to the node owning the channel's slot; B's listener subscribes on
/// another node, so the message must cross the cluster bus to reach it.
async fn invalidations_reach_every_instance_across_nodes(cluster: &RedisCluster) {
    let redis_a = shared(&cluster.url());
    let owner = slot_owner(cluster, &redis_a.channel()).await;
    let mut ports: Vec<u16> = cluster.nodes.iter().map(|n| n.port).collect();
    // The listener subscribes on the first seed it reaches: for B, one that is not the owner.
    ports.sort_by_key(|&p| p == owner);
    assert_ne!(ports[0], owner);
    let hosts: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let redis_b = same_prefix(&format!("redis+cluster://{}", hosts.join(",")), &redis_a);
    let (a, l1_a) = long_lived_cache(&redis_a);
    let (b, l1_b) = long_lived_cache(&redis_b);
    let stop = CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    spawn_invalidation_listener(a.clone(), stop.clone());
    spawn_invalidation_listener(b.clone(), stop.clone());
    eventually(DEADLINE, "both listeners subscribed", || async {
        a.listener_subscribed() && b.listener_subscribed()
    })
    .await;

    // A → B: both L1s warm (one load between them, B's value from L2), A invalidates.
    let calls = AtomicUsize::new(0);
    assert_eq!(load(&a, &calls, b"v1").await, b"v1");
    assert_eq!(
        load(&b, &calls, b"other").await,
        b"v1",
        "B reads A's load from L2"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(in_l1(&l1_a, "k").await && in_l1(&l1_b, "k").await);
    a.invalidate(&["k".to_owned()]).await;
    eventually(
        DEADLINE,
        "B's L1 drops k after A invalidated it",
        || async { !in_l1(&l1_b, "k").await },
    )
    .await;
    assert_eq!(
        load(&b, &calls, b"v2").await,
        b"v2",
        "B reloads, not the old value"
    );

    // B → A, the other way round (A subscribed on the first node of its own seed list).
    assert_eq!(
        load(&a, &calls, b"other").await,
        b"v2",
        "A reads B's load from L2"
    );
    assert!(in_l1(&l1_a, "k").await);
    b.invalidate(&["k".to_owned()]).await;
    eventually(
        DEADLINE,
        "A's L1 drops k after B invalidated it",
        || async { !in_l1(&l1_a, "k").await },
    )
    .await;

    // Messages, not reconnections (which clear L1 too), did it; and nothing was degraded.
    assert_eq!(a.listener_subscriptions(), 1);
    assert_eq!(b.listener_subscriptions(), 1);
    assert!(!redis_a.is_degraded() && !redis_b.is_degraded());
}
