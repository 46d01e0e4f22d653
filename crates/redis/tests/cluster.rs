//! The cache and limiter suites, and cross-instance invalidation over pub/sub, against a
//! three-node Redis Cluster this test starts itself (`redis-cli --cluster create`), on loopback
//! ports; the nodes are killed when the guard drops, panics included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::support::{eventually, in_l1, long_lived_cache, same_prefix, shared_with_ack_timeout};
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
    common::suites::timeline_suites(&url).await;
    common::suites::stream_suites(&url).await;
    common::suites::live_suites(&url).await;
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
/// another node, so the message (and B's ack) must cross the cluster bus.
async fn invalidations_reach_every_instance_across_nodes(cluster: &RedisCluster) {
    // A generous ack wait: on a busy machine the acks arrive late rather than never.
    let redis_a = shared_with_ack_timeout(&cluster.url(), DEADLINE);
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
    // PUBLISH counts only its own node's subscribers; the wait must still cover B's, on
    // another node: when invalidate returns, B's L1 has dropped k (no polling).
    a.invalidate(&["k".to_owned()]).await;
    assert_eq!(
        a.ack_timeouts(),
        0,
        "the acks, not the timeout, ended the wait"
    );
    assert!(
        !in_l1(&l1_b, "k").await,
        "B's L1 dropped k before A's invalidate returned"
    );
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
    assert!(
        !in_l1(&l1_a, "k").await,
        "A's L1 dropped k before B's invalidate returned"
    );

    // Messages, not reconnections (which clear L1 too), did it; and nothing was degraded.
    assert_eq!(a.listener_subscriptions(), 1);
    assert_eq!(b.listener_subscriptions(), 1);
    assert!(!redis_a.is_degraded() && !redis_b.is_degraded());

    // The wait counts subscribers on every node: one that never acks, on a node other than the
    // channel's owner, holds an invalidation for the (bounded) ack wait.
    let ack_timeout = Duration::from_millis(200);
    let redis_c = shared_with_ack_timeout(&cluster.url(), ack_timeout);
    let owner = slot_owner(cluster, &redis_c.channel()).await;
    let other = cluster.nodes.iter().find(|n| n.port != owner).unwrap();
    let client = redis::Client::open(other.url()).unwrap();
    let mut silent = client.get_async_pubsub().await.unwrap();
    silent.subscribe(redis_c.channel()).await.unwrap();
    let (c, _) = long_lived_cache(&redis_c);
    // Acks reach the writer through its own listener.
    spawn_invalidation_listener(c.clone(), stop.clone());
    eventually(DEADLINE, "C's listener subscribed", || async {
        c.listener_subscribed()
    })
    .await;
    c.invalidate(&["k".to_owned()]).await;
    // It answered, and only because the bounded wait for the silent subscriber (counted on
    // another node) ran out.
    assert_eq!(
        (c.acks_confirmed(), c.ack_timeouts()),
        (0, 1),
        "waited for the other node's subscriber, within the bound"
    );
}
