//! The two-level cache: this instance's [`L1Cache`] in front of Redis (L2).
//!
//! Reads go L1 → L2 → loader, with L1's single flight around the last two, so a miss in both
//! tiers loads once per instance. Writes to L2 are conditional on a per-key generation kept in
//! Redis next to the value: a load that read the store before some instance's invalidation
//! cannot put its stale value back into L2 after it. Invalidation deletes from L2 first, then
//! publishes to the other instances (see [`crate::invalidation`]) and waits, bounded by
//! [`crate::RedisOptions::ack_timeout`], until every subscribed instance has acknowledged
//! clearing its L1, then clears this L1: a client's next request, on any instance, no longer
//! finds the old value.
//!
//! While Redis is unreachable every method still answers, from L1 and the loader alone;
//! invalidations that could not reach Redis are replayed when it returns.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::ports::{Cache, Loader};
use domain::StoreError;
use futures::future::join_all;
use local::L1Cache;
use redis::Script;

use crate::acks::Acks;
use crate::invalidation::ListenerStatus;
use crate::shared::{Failure, RedisShared};
use crate::target::RedisTarget;

/// How long a key's generation outlives its last invalidation: far longer than any load can
/// take (loads are bounded by database timeouts), after which a missing generation only makes
/// an in-flight load's write-back fail, never succeed wrongly.
const GENERATION_TTL_MS: u64 = 600_000;

/// KEYS: value, generation. ARGV: generation seen before loading ('' when none), value, TTL ms.
const SET_IF_UNCHANGED: &str = r"
if (redis.call('GET', KEYS[2]) or '') == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0";

/// KEYS: value, generation. ARGV: generation TTL ms; then optionally a new value and its TTL.
const BUMP: &str = r"
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
if ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
else
  redis.call('DEL', KEYS[1])
end
return 1";

/// A [`Cache`] over an in-process L1 and a shared L2 in Redis.
pub struct TwoLevelCache {
    l1: Arc<L1Cache>,
    redis: Arc<RedisShared>,
    /// L1 entries live at most this long whatever TTL is asked: a backstop for invalidation
    /// messages lost while the pub/sub connection was down.
    l1_ttl_max: Duration,
    set_if_unchanged: Script,
    bump: Script,
    listener: ListenerStatus,
    /// This instance's invalidations waiting for other instances' acks.
    acks: Acks,
    /// How waits for acks ended: all acknowledged, or the bound ran out (for metrics and for
    /// tests, which check outcomes rather than timings).
    acks_confirmed: AtomicU64,
    ack_timeouts: AtomicU64,
}

fn record(result: &'static str) {
    metrics::counter!("cache_requests_total", "tier" => "l2", "result" => result).increment(1);
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl TwoLevelCache {
    pub fn new(l1: Arc<L1Cache>, redis: Arc<RedisShared>, l1_ttl_max: Duration) -> Self {
        TwoLevelCache {
            l1,
            redis,
            l1_ttl_max,
            set_if_unchanged: Script::new(SET_IF_UNCHANGED),
            bump: Script::new(BUMP),
            listener: ListenerStatus::default(),
            acks: Acks::default(),
            acks_confirmed: AtomicU64::new(0),
            ack_timeouts: AtomicU64::new(0),
        }
    }

    /// The value's key in Redis. The `{…}` hash tag puts a value and its generation in one
    /// cluster slot, so the scripts touching both run on one node.
    fn value_key(&self, key: &str) -> String {
        format!("{}c:{{{key}}}", self.redis.prefix())
    }

    fn generation_key(&self, key: &str) -> String {
        format!("{}g:{{{key}}}", self.redis.prefix())
    }

    /// Bumps each key's generation and deletes (or, with `value`, replaces) it in L2, then
    /// tells the other instances and, with `wait`, waits (bounded) until every subscribed
    /// instance has acknowledged dropping the keys from its L1. `false` if Redis could not be
    /// told everything; a missing ack only costs the wait.
    async fn bump_and_publish(
        &self,
        keys: &[String],
        value: Option<(&[u8], Duration)>,
        wait: bool,
    ) -> bool {
        let bumps = keys.iter().map(|key| {
            let (vk, gk) = (self.value_key(key), self.generation_key(key));
            self.redis.call(move |mut c| async move {
                let mut inv = self.bump.key(vk);
                inv.key(gk).arg(GENERATION_TTL_MS);
                if let Some((v, ttl)) = value {
                    inv.arg(v).arg(millis(ttl));
                }
                inv.invoke_async::<i64>(&mut c).await
            })
        });
        let bumped = join_all(bumps).await.iter().all(Result::is_ok);
        let id = uuid::Uuid::new_v4().simple().to_string();
        // Acks come back through this instance's listener: without it subscribed, waiting
        // could only time out. Registered before publishing: acks may come back before
        // PUBLISH's answer does.
        let pending = (wait && self.listener.subscribed()).then(|| self.acks.register(id.clone()));
        // First line `<instance> <id>`: an instance of an older version (no id) would still
        // apply the keys, and this one applies their messages without acking.
        let mut payload = format!("{} {id}", self.redis.instance);
        for key in keys {
            payload.push('\n');
            payload.push_str(key);
        }
        let channel = self.redis.channel();
        let cluster = matches!(self.redis.target(), RedisTarget::Cluster(_));
        let receivers = self
            .redis
            .call(|c| async move {
                let publish = {
                    let (mut c, channel) = (c.clone(), channel.clone());
                    async move {
                        redis::cmd("PUBLISH")
                            .arg(channel)
                            .arg(payload)
                            .query_async::<u64>(&mut c)
                            .await
                    }
                };
                if !cluster {
                    return publish.await;
                }
                // On a cluster PUBLISH counts only the subscribers of the node it reached; the
                // cluster client sends NUMSUB to every node and sums the answers.
                let mut c = c;
                let numsub = async move {
                    redis::cmd("PUBSUB")
                        .arg("NUMSUB")
                        .arg(&channel)
                        .query_async::<HashMap<String, u64>>(&mut c)
                        .await
                        .map(|counts| counts.get(&channel).copied().unwrap_or(0))
                };
                let (subscribers, _) = futures::future::try_join(numsub, publish).await?;
                Ok(subscribers)
            })
            .await;
        let Ok(receivers) = receivers else {
            return false;
        };
        if let Some(pending) = pending {
            if receivers > 0 && pending.wait(receivers, self.redis.ack_timeout()).await {
                self.acks_confirmed.fetch_add(1, Ordering::Relaxed);
            } else if receivers > 0 {
                self.ack_timeouts.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("cache_invalidation_ack_timeouts_total").increment(1);
                tracing::debug!(
                    receivers,
                    timeout_ms = self.redis.ack_timeout().as_millis(),
                    "not every instance acknowledged an invalidation in time; answering anyway"
                );
            }
        }
        bumped
    }

    /// Replays invalidations that could not reach Redis while it was away.
    pub async fn replay_pending(&self) {
        if !self.redis.has_pending() || self.redis.is_degraded() {
            return;
        }
        let keys = self.redis.take_pending();
        if !self.bump_and_publish(&keys, None, false).await {
            self.redis.defer_invalidation(&keys);
        } else {
            tracing::info!(
                keys = keys.len(),
                "replayed invalidations deferred while redis was away"
            );
        }
    }

    pub(crate) fn l1(&self) -> &L1Cache {
        &self.l1
    }

    /// Invalidations whose every receiver acknowledged before this instance answered.
    pub fn acks_confirmed(&self) -> u64 {
        self.acks_confirmed.load(Ordering::Relaxed)
    }

    /// Invalidations that answered after the bounded ack wait ran out.
    pub fn ack_timeouts(&self) -> u64 {
        self.ack_timeouts.load(Ordering::Relaxed)
    }

    /// Whether this cache's invalidation listener is subscribed right now.
    pub fn listener_subscribed(&self) -> bool {
        self.listener.subscribed()
    }

    /// How many times this cache's invalidation listener has subscribed: 1 after it first
    /// connects, one more per reconnection (each of which cleared L1).
    pub fn listener_subscriptions(&self) -> u64 {
        self.listener.subscriptions()
    }

    pub(crate) fn listener_status(&self) -> &ListenerStatus {
        &self.listener
    }

    pub(crate) fn acks(&self) -> &Acks {
        &self.acks
    }
}

#[async_trait]
impl Cache for TwoLevelCache {
    async fn get_or_load(
        &self,
        key: &str,
        ttl: Duration,
        load: Loader<'_>,
    ) -> Result<Option<Arc<[u8]>>, StoreError> {
        let (vk, gk) = (self.value_key(key), self.generation_key(key));
        let redis = &self.redis;
        let set_if_unchanged = &self.set_if_unchanged;
        // Runs inside L1's single flight: one L2 read and at most one load per instance.
        let through_l2: Loader<'_> = Box::pin(async move {
            let read = redis
                .call(|mut c| {
                    let (vk, gk) = (vk.clone(), gk.clone());
                    async move {
                        redis::cmd("MGET")
                            .arg(vk)
                            .arg(gk)
                            .query_async::<(Option<Vec<u8>>, Option<String>)>(&mut c)
                            .await
                    }
                })
                .await;
            let seen = match read {
                Ok((Some(bytes), _)) => {
                    record("hit");
                    return Ok(Some(bytes));
                }
                Ok((None, generation)) => {
                    record("miss");
                    Some(generation.unwrap_or_default())
                }
                Err(e) => {
                    record(if matches!(e, Failure::Skipped) {
                        "skipped"
                    } else {
                        "error"
                    });
                    None
                }
            };
            let value = load.await?;
            if let (Some(bytes), Some(seen)) = (&value, seen) {
                // Best effort: a failed write-back only costs another instance a load.
                let _ = redis
                    .call(|mut c| async move {
                        let mut inv = set_if_unchanged.key(vk);
                        inv.key(gk).arg(seen).arg(bytes.as_slice()).arg(millis(ttl));
                        inv.invoke_async::<i64>(&mut c).await
                    })
                    .await;
            }
            Ok(value)
        });
        self.l1
            .get_or_load(key, ttl.min(self.l1_ttl_max), through_l2)
            .await
    }

    async fn get_many(&self, keys: &[String]) -> Vec<Option<Arc<[u8]>>> {
        let mut out = self.l1.get_many(keys).await;
        let missing: Vec<usize> = (0..keys.len()).filter(|&i| out[i].is_none()).collect();
        if missing.is_empty() {
            return out;
        }
        // Generations first: a value read from L2 after them is only kept in L1 if no
        // invalidation of its key arrived in between.
        let seen: Vec<u64> = missing
            .iter()
            .map(|&i| self.l1.generation_of(&keys[i]))
            .collect();
        let vkeys: Vec<String> = missing.iter().map(|&i| self.value_key(&keys[i])).collect();
        let read = self
            .redis
            .call(|mut c| async move {
                // One GET per key in a pipeline rather than MGET: on a cluster the keys live in
                // different slots, and the cluster client splits a pipeline by node.
                let mut pipe = redis::pipe();
                for k in &vkeys {
                    pipe.get(k);
                }
                pipe.query_async::<Vec<Option<Vec<u8>>>>(&mut c).await
            })
            .await;
        let Ok(values) = read else {
            record("error");
            return out;
        };
        for ((&i, seen), value) in missing.iter().zip(seen).zip(values) {
            record(if value.is_some() { "hit" } else { "miss" });
            if let Some(bytes) = value {
                let bytes: Arc<[u8]> = bytes.into();
                self.l1
                    .insert_unless_invalidated(&keys[i], bytes.clone(), self.l1_ttl_max, seen)
                    .await;
                out[i] = Some(bytes);
            }
        }
        out
    }

    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        let keys = [key.to_owned()];
        if !self
            .bump_and_publish(&keys, Some((&value, ttl)), true)
            .await
        {
            // Other instances may keep an older value in L1 until the TTL cap.
            self.redis.defer_invalidation(&keys);
        }
        self.l1.set(key, value, ttl.min(self.l1_ttl_max)).await;
    }

    async fn invalidate(&self, keys: &[String]) {
        if keys.is_empty() {
            return;
        }
        // L2 before L1: cleared the other way round, a read on this instance could refill L1
        // from the old L2 value after L1 was cleared.
        if self.bump_and_publish(keys, None, true).await {
            metrics::counter!("cache_invalidations_total", "tier" => "l2")
                .increment(keys.len() as u64);
            self.replay_pending().await;
        } else {
            self.redis.defer_invalidation(keys);
        }
        self.l1.invalidate(keys).await;
    }
}

impl TwoLevelCache {
    pub(crate) fn redis(&self) -> &RedisShared {
        &self.redis
    }
}
