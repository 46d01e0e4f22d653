//! The listener that applies other instances' invalidations to this instance's L1.
//!
//! Every instance subscribes to one channel; an invalidation publishes the keys there. Classic
//! `PUBLISH` reaches subscribers on every node of a Redis Cluster, so the listener connects to
//! any one node (trying them in turn). Messages sent while the listener was disconnected are
//! lost, so after each reconnection L1 is cleared; the L1 TTL cap bounds staleness meanwhile.

use std::sync::Arc;
use std::time::Duration;

use domain::ports::Cache;
use futures::StreamExt;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cache::TwoLevelCache;

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How often deferred invalidations are retried while connected.
const REPLAY_EVERY: Duration = Duration::from_millis(500);

/// Spawns the listener; it stops when `stop` is cancelled.
pub fn spawn_invalidation_listener(
    cache: Arc<TwoLevelCache>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = MIN_BACKOFF;
        let mut node = 0usize;
        let mut connected_before = false;
        loop {
            let nodes = cache.redis().target().nodes();
            let url = nodes[node % nodes.len()].clone();
            node = node.wrapping_add(1);
            let session = tokio::select! {
                () = stop.cancelled() => return,
                r = listen(&cache, &url, &stop, &mut connected_before) => r,
            };
            match session {
                // A session that got as far as subscribing resets the backoff.
                Ok(()) => backoff = MIN_BACKOFF,
                Err(e) => tracing::debug!(error = %e, "invalidation listener: cannot subscribe"),
            }
            metrics::gauge!("cache_invalidation_listener_connected").set(0.0);
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    })
}

/// One subscription, until the connection ends. `Err` only when subscribing failed.
async fn listen(
    cache: &TwoLevelCache,
    url: &str,
    stop: &CancellationToken,
    connected_before: &mut bool,
) -> Result<(), redis::RedisError> {
    let redis = cache.redis();
    let t = redis.timeout();
    let client = redis::Client::open(url)?;
    let timed_out = || redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
    let mut pubsub = tokio::time::timeout(t, client.get_async_pubsub())
        .await
        .map_err(|_| timed_out())??;
    tokio::time::timeout(t, pubsub.subscribe(redis.channel()))
        .await
        .map_err(|_| timed_out())??;
    if *connected_before {
        // Whatever was published while we were away is lost.
        cache.l1().clear();
        tracing::info!("invalidation listener reconnected; local cache cleared");
    }
    *connected_before = true;
    metrics::gauge!("cache_invalidation_listener_connected").set(1.0);
    let mut messages = pubsub.on_message();
    let mut replay = tokio::time::interval(REPLAY_EVERY);
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            _ = replay.tick() => cache.replay_pending().await,
            msg = messages.next() => {
                let Some(msg) = msg else { return Ok(()) };
                apply(cache, msg.get_payload_bytes()).await;
            }
        }
    }
}

async fn apply(cache: &TwoLevelCache, payload: &[u8]) {
    let Ok(text) = std::str::from_utf8(payload) else {
        return;
    };
    let mut parts = text.split('\n');
    if parts.next() == Some(cache.redis().instance.as_str()) {
        // Our own message: this instance already cleared its L1 before publishing.
        return;
    }
    let keys: Vec<String> = parts.map(str::to_owned).collect();
    metrics::counter!("cache_invalidations_received_total").increment(keys.len() as u64);
    cache.l1().invalidate(&keys).await;
}
