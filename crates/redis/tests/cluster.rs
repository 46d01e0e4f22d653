//! The cache and limiter suites against a three-node Redis Cluster this test starts itself
//! (`redis-cli --cluster create`), on loopback ports; the nodes are killed when the guard
#![allow(clippy::unwrap_used, clippy::expect_used)]
//! drops, panics included.

mod common;

use redis_adapter::testing::{can_start_servers, RedisCluster};

#[tokio::test]
async fn the_suites_pass_on_a_redis_cluster() {
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
}
