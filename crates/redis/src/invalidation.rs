//! The listener that applies other instances' invalidations to this instance's L1.
//!
//! Every instance subscribes to one channel; an invalidation publishes the keys there. Classic
//! `PUBLISH` reaches subscribers on every node of a Redis Cluster (the nodes forward it over the
//! cluster bus), so the listener connects to any one node (trying them in turn); the cluster
//! test subscribes on a node other than the one the publisher's `PUBLISH` is routed to.
//!
//! Each message carries the writer's instance id and a message id; after clearing the keys from
//! its L1 a listener publishes the message id on the writer's ack channel
//! ([`crate::RedisShared::ack_channel`]), to which every listener subscribes on the same
//! connection, so the writer can wait until every subscriber has applied its invalidation. A
//! listener counts its own instance's messages as acked without a round trip.
//!
//! Messages sent while the listener was disconnected are lost, so after each reconnection L1 is
//! cleared; the L1 TTL cap bounds staleness meanwhile. A connection can also die silently (a
//! hung server, a dropped route, a half-open TCP connection): the listener then sends `PING` on
//! the subscription every [`ListenerOptions::keepalive`], and a `PING` not answered within the
//! Redis timeout ends the session like a closed connection would — reconnect, then clear L1.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use domain::ports::Cache;
use futures::StreamExt;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::cache::TwoLevelCache;

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How often deferred invalidations are retried while connected.
const REPLAY_EVERY: Duration = Duration::from_millis(500);
/// Default interval of the keepalive `PING`: one tiny round trip per instance every 5 s.
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(5);

/// Tuning for the listener.
#[derive(Clone, Debug)]
pub struct ListenerOptions {
    /// How often a `PING` checks that the subscription is alive. Each must be answered within
    /// the Redis timeout ([`crate::RedisOptions::timeout`]), or the listener reconnects.
    pub keepalive: Duration,
}

impl Default for ListenerOptions {
    fn default() -> Self {
        ListenerOptions {
            keepalive: DEFAULT_KEEPALIVE,
        }
    }
}

/// What the listener of one cache is doing, for tests and diagnostics.
#[derive(Debug, Default)]
pub(crate) struct ListenerStatus {
    subscribed: AtomicBool,
    subscriptions: AtomicU64,
}

impl ListenerStatus {
    pub(crate) fn subscribed(&self) -> bool {
        self.subscribed.load(Ordering::SeqCst)
    }

    pub(crate) fn subscriptions(&self) -> u64 {
        self.subscriptions.load(Ordering::SeqCst)
    }

    fn set_subscribed(&self, on: bool) {
        if on {
            self.subscriptions.fetch_add(1, Ordering::SeqCst);
        }
        self.subscribed.store(on, Ordering::SeqCst);
        metrics::gauge!("cache_invalidation_listener_connected").set(if on { 1.0 } else { 0.0 });
    }
}

/// Spawns the listener with the default [`ListenerOptions`]; it stops when `stop` is cancelled.
pub fn spawn_invalidation_listener(
    cache: Arc<TwoLevelCache>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    spawn_invalidation_listener_with(cache, stop, ListenerOptions::default())
}

/// Spawns the listener; it stops when `stop` is cancelled.
pub fn spawn_invalidation_listener_with(
    cache: Arc<TwoLevelCache>,
    stop: CancellationToken,
    options: ListenerOptions,
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
                () = stop.cancelled() => Ok(()),
                r = listen(&cache, &url, &stop, &options, &mut connected_before) => r,
            };
            cache.listener_status().set_subscribed(false);
            if stop.is_cancelled() {
                return;
            }
            match session {
                // A session that got as far as subscribing resets the backoff.
                Ok(()) => backoff = MIN_BACKOFF,
                Err(e) => tracing::debug!(error = %e, "invalidation listener: cannot subscribe"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    })
}

/// One subscription, until the connection ends or stops answering. `Err` only when
/// subscribing failed.
async fn listen(
    cache: &TwoLevelCache,
    url: &str,
    stop: &CancellationToken,
    options: &ListenerOptions,
    connected_before: &mut bool,
) -> Result<(), redis::RedisError> {
    let redis = cache.redis();
    let t = redis.timeout();
    let client = redis::Client::open(url)?;
    let timed_out = || redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
    let pubsub = tokio::time::timeout(t, client.get_async_pubsub())
        .await
        .map_err(|_| timed_out())??;
    // Split so the keepalive can `PING` through the sink while messages arrive on the stream.
    let (mut sink, mut messages) = pubsub.split();
    let acks = redis.ack_channel(&redis.instance);
    tokio::time::timeout(t, sink.subscribe(&[redis.channel(), acks.clone()]))
        .await
        .map_err(|_| timed_out())??;
    if *connected_before {
        // Whatever was published while we were away is lost.
        cache.l1().clear();
        tracing::info!("invalidation listener reconnected; local cache cleared");
    }
    *connected_before = true;
    cache.listener_status().set_subscribed(true);
    let mut replay = tokio::time::interval(REPLAY_EVERY);
    let every = options.keepalive.max(Duration::from_millis(1));
    let mut keepalive = tokio::time::interval_at(Instant::now() + every, every);
    keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            _ = replay.tick() => cache.replay_pending().await,
            _ = keepalive.tick() => {
                // Messages keep queueing on the stream meanwhile; they are applied right after.
                match tokio::time::timeout(t, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "invalidation listener: keepalive failed; reconnecting");
                        return Ok(());
                    }
                    Err(_) => {
                        tracing::warn!(
                            timeout_ms = t.as_millis(),
                            "invalidation listener: keepalive PING unanswered; reconnecting"
                        );
                        return Ok(());
                    }
                }
            }
            msg = messages.next() => {
                let Some(msg) = msg else { return Ok(()) };
                if msg.get_channel_name() == acks {
                    if let Ok(id) = std::str::from_utf8(msg.get_payload_bytes()) {
                        cache.acks().ack(id);
                    }
                } else {
                    apply(cache, msg.get_payload_bytes()).await;
                }
            }
        }
    }
}

async fn apply(cache: &TwoLevelCache, payload: &[u8]) {
    let Ok(text) = std::str::from_utf8(payload) else {
        return;
    };
    let mut parts = text.split('\n');
    let head = parts.next().unwrap_or_default();
    // `<instance> <id>`; a message without an id (an older version) is applied, not acked.
    let (from, id) = match head.split_once(' ') {
        Some((from, id)) => (from, Some(id)),
        None => (head, None),
    };
    let redis = cache.redis();
    if from == redis.instance {
        // Our own message: this instance clears its L1 itself once the others have acked.
        if let Some(id) = id {
            cache.acks().ack(id);
        }
        return;
    }
    let keys: Vec<String> = parts.map(str::to_owned).collect();
    metrics::counter!("cache_invalidations_received_total").increment(keys.len() as u64);
    cache.l1().invalidate(&keys).await;
    if let Some(id) = id {
        // Best effort: a lost ack only makes the writer wait its bounded timeout.
        let (channel, id) = (redis.ack_channel(from), id.to_owned());
        let _ = redis
            .call(|mut c| async move {
                redis::cmd("PUBLISH")
                    .arg(channel)
                    .arg(id)
                    .query_async::<i64>(&mut c)
                    .await
            })
            .await;
    }
}
