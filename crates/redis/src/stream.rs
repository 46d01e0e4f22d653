//! The feed event stream in Redis: [`RedisFeedStream`], the [`FeedEventStream`].
//!
//! One stream (`feed:events`) read by one consumer group (`fanout`) shared by every worker of
//! every instance. Entries carry `seq`, `kind`, `a`, `b` (UUIDs as text) and `at` (ms): see
//! `codec.rs`.
//! Acknowledged entries are deleted as well, so the stream holds exactly the events not yet
//! acknowledged and its length is the lag.
//!
//! The group is created on first use, from the stream's start (`0`, not `$`): since every
//! entry in the stream is unacknowledged, the start is right whenever it is (re)created, and
//! after a flush of Redis events published before the group was created again are not lost.
//! A call that finds the group gone (`NOGROUP`) creates it and tries once more.
//!
//! `receive` blocks on a connection of its own (see [`RedisShared`]), bounded by its `wait`
//! plus the usual timeout; every other call is an ordinary bounded call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::model::OutboxEntry;
use domain::ports::{Delivery, FeedEventStream};
use domain::StoreError;
use redis::{RedisResult, Value};

use crate::codec::{decode, entries, fields, read_reply, text, RawEntry};
use crate::shared::{Conn, RedisShared};

const GROUP: &str = "fanout";

/// The most entries one read or claim asks for: a bound Redis accepts, however large `max`.
const MAX_COUNT: usize = 10_000;

/// The [`FeedEventStream`] over a Redis stream and consumer group.
pub struct RedisFeedStream {
    redis: Arc<RedisShared>,
    key: String,
    /// Set once the group is known to exist; cleared by a `NOGROUP` answer.
    group_ready: AtomicBool,
}

/// What one stream read found: entries, or the group missing.
enum Read<T> {
    Got(T),
    NoGroup,
}

/// Turns a `NOGROUP` error into [`Read::NoGroup`]: Redis answered, so the breaker must not
/// count it as a failure.
fn no_group<T>(r: RedisResult<T>) -> RedisResult<Read<T>> {
    match r {
        Ok(v) => Ok(Read::Got(v)),
        Err(e) if e.code() == Some("NOGROUP") => Ok(Read::NoGroup),
        Err(e) => Err(e),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Whether `id` has the shape of a stream id (`<ms>-<seq>`): anything else would make Redis
/// fail the whole command.
fn is_stream_id(id: &str) -> bool {
    id.split_once('-')
        .is_some_and(|(ms, seq)| ms.parse::<u64>().is_ok() && seq.parse::<u64>().is_ok())
}

impl RedisFeedStream {
    pub fn new(redis: Arc<RedisShared>) -> Self {
        let key = format!("{}feed:events", redis.prefix());
        RedisFeedStream {
            redis,
            key,
            group_ready: AtomicBool::new(false),
        }
    }

    /// The stream's key (for tests and operations).
    pub fn key(&self) -> &str {
        &self.key
    }

    async fn ensure_group(&self) -> Result<(), StoreError> {
        if self.group_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        self.create_group().await
    }

    async fn create_group(&self) -> Result<(), StoreError> {
        let key = &self.key;
        self.redis
            .call(|mut c| async move {
                let created = redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(key)
                    .arg(GROUP)
                    .arg("0")
                    .arg("MKSTREAM")
                    .query_async::<()>(&mut c)
                    .await;
                match created {
                    Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
                    other => other,
                }
            })
            .await?;
        self.group_ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Runs `read` (which answers [`Read::NoGroup`] for a missing group); if the group is
    /// missing, creates it and runs `read` once more.
    async fn with_group<T, F, Fut>(&self, read: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Read<T>, StoreError>>,
    {
        self.ensure_group().await?;
        if let Read::Got(v) = read().await? {
            return Ok(v);
        }
        tracing::info!(stream = %self.key, "the fan-out consumer group was gone: creating it again");
        self.group_ready.store(false, Ordering::Release);
        self.create_group().await?;
        match read().await? {
            Read::Got(v) => Ok(v),
            Read::NoGroup => Err(StoreError::Unavailable(
                "redis: the fan-out consumer group vanished again".into(),
            )),
        }
    }

    /// Decodes raw entries; the ones that do not decode are acknowledged and deleted (they
    /// could never be processed, and would otherwise be claimed forever).
    async fn decode_all(&self, raw: Vec<RawEntry>) -> Vec<Delivery> {
        let mut out = Vec::with_capacity(raw.len());
        let mut bad = Vec::new();
        for (id, fields) in raw {
            match fields.as_deref().and_then(decode) {
                Some(entry) => out.push(Delivery { id, entry }),
                None => {
                    tracing::warn!(stream = %self.key, %id, "dropping an event that does not decode");
                    bad.push(id);
                }
            }
        }
        if !bad.is_empty() {
            // Best effort: if this fails they are dropped again on their next delivery.
            let _ = self.ack(&bad).await;
        }
        out
    }
}

async fn xautoclaim(
    c: &mut Conn,
    key: &str,
    consumer: &str,
    idle_ms: u64,
    cursor: &str,
    count: usize,
) -> RedisResult<Read<(String, Vec<RawEntry>)>> {
    let reply = redis::cmd("XAUTOCLAIM")
        .arg(key)
        .arg(GROUP)
        .arg(consumer)
        .arg(idle_ms)
        .arg(cursor)
        .arg("COUNT")
        .arg(count)
        .query_async::<Value>(c)
        .await;
    no_group(reply.map(|v| {
        let Value::Array(mut parts) = v else {
            return ("0-0".to_owned(), Vec::new());
        };
        // `[next cursor, entries, deleted ids]` (the last from Redis 7 on).
        parts.truncate(2);
        let claimed = parts.pop().map(entries).unwrap_or_default();
        let next = parts
            .first()
            .and_then(text)
            .unwrap_or_else(|| "0-0".to_owned());
        (next, claimed)
    }))
}

#[async_trait]
impl FeedEventStream for RedisFeedStream {
    async fn publish(&self, entries: &[OutboxEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.ensure_group().await?;
        let key = &self.key;
        self.redis
            .call(|mut c| async move {
                let mut pipe = redis::pipe();
                for e in entries {
                    let add = pipe.cmd("XADD").arg(key).arg("*");
                    for (name, value) in fields(e) {
                        add.arg(name).arg(value);
                    }
                    add.ignore();
                }
                pipe.query_async::<()>(&mut c).await
            })
            .await?;
        Ok(())
    }

    async fn receive(
        &self,
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let key = &self.key;
        // BLOCK 0 would mean forever: a zero wait reads without blocking.
        let block = (!wait.is_zero()).then(|| millis(wait).max(1));
        let raw = self
            .with_group(|| async move {
                let read = |mut c: Conn| async move {
                    let mut cmd = redis::cmd("XREADGROUP");
                    cmd.arg("GROUP").arg(GROUP).arg(consumer);
                    cmd.arg("COUNT").arg(max.min(MAX_COUNT));
                    if let Some(ms) = block {
                        cmd.arg("BLOCK").arg(ms);
                    }
                    cmd.arg("STREAMS").arg(key).arg(">");
                    no_group(cmd.query_async::<Value>(&mut c).await)
                };
                let got = match block {
                    Some(_) => self.redis.call_blocking(wait, read).await,
                    None => self.redis.call(read).await,
                };
                Ok(got?)
            })
            .await?;
        Ok(self.decode_all(read_reply(raw)).await)
    }

    async fn claim_stale(
        &self,
        consumer: &str,
        idle: Duration,
        max: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let idle_ms = millis(idle);
        let mut out = Vec::new();
        let mut cursor = "0-0".to_owned();
        while out.len() < max {
            let want = (max - out.len()).min(MAX_COUNT);
            let (key, from) = (&self.key, cursor.as_str());
            let (next, claimed) = self
                .with_group(|| async move {
                    let got = self
                        .redis
                        .call(|mut c| async move {
                            xautoclaim(&mut c, key, consumer, idle_ms, from, want).await
                        })
                        .await?;
                    Ok(got)
                })
                .await?;
            out.extend(self.decode_all(claimed).await);
            if next == "0-0" {
                break;
            }
            cursor = next;
        }
        Ok(out)
    }

    async fn ack(&self, ids: &[String]) -> Result<(), StoreError> {
        let ids: Vec<&str> = ids
            .iter()
            .map(String::as_str)
            .filter(|id| is_stream_id(id))
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let (key, ids) = (&self.key, &ids);
        self.redis
            .call(|mut c| async move {
                let mut pipe = redis::pipe();
                pipe.cmd("XACK").arg(key).arg(GROUP).arg(ids).ignore();
                pipe.cmd("XDEL").arg(key).arg(ids).ignore();
                pipe.query_async::<()>(&mut c).await
            })
            .await?;
        Ok(())
    }

    async fn lag(&self) -> Result<u64, StoreError> {
        let key = &self.key;
        Ok(self
            .redis
            .call(
                |mut c| async move { redis::cmd("XLEN").arg(key).query_async::<u64>(&mut c).await },
            )
            .await?)
    }
}
