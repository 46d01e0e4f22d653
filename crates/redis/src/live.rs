//! The live log in Redis: [`RedisLiveLog`], the [`LiveLog`] every instance shares.
//!
//! One stream, `{live}:events` under the key prefix, capped near the history (`MAXLEN ~`: Redis
//! trims whole nodes, so it holds the history and up to a node more), its entries encoded as the
//! feed stream's (`codec.rs`). Positions are the stream's own ids, so every instance hands its
//! subscribers the same ones.
//!
//! Each appended seq leaves a marker, `{live}:seen:<seq>`, living two minutes; one script sets
//! the marker and appends only if it was not set, so an entry the relays of several instances
//! hand on is appended once. The script touches the stream and the markers, so they share the
//! hash tag `{live}`: on a cluster all of them live in one slot, where one script may use them.
//!
//! A replay reads the range after the position, then `XINFO STREAM` (so a trim racing the
//! range shows): it resets when the stream is gone (flushed), the position is past the newest
//! id, or the position is below the oldest entry held, since then either entries after it were
//! trimmed or it is no position of this stream (one from before a flush). Trimming moves no
//! "newest deleted" mark (Redis 7.0 moves it only for `XDEL`), so the oldest entry held and
//! whether more were added than are held are what tell a trim.
//!
//! `read_after` blocks on a connection of its own (see [`RedisShared`]); the other calls are
//! ordinary bounded calls.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::model::{LiveEvent, LiveEventId, OutboxEntry, Replay};
use domain::ports::LiveLog;
use domain::StoreError;
use redis::{RedisResult, Script, Value};

use crate::codec::{decode, entries, fields, read_reply, text, RawEntry};
use crate::shared::{Conn, RedisShared};

/// How long a seq stays known after it was appended: the port asks for at least a minute.
const SEEN_MS: u64 = 120_000;

/// The most entries one read asks for: a bound Redis accepts, however large `max`.
const MAX_COUNT: usize = 10_000;

/// The [`LiveLog`] over one Redis stream.
pub struct RedisLiveLog {
    redis: Arc<RedisShared>,
    history: usize,
    key: String,
    /// The seen markers' keys without their seq.
    seen: String,
    append: Script,
}

/// What `XINFO STREAM` says about the stream's positions.
#[derive(Debug)]
struct StreamInfo {
    /// The newest id ever added.
    last: LiveEventId,
    /// The newest id deleted by `XDEL` (`0-0`: none). Trimming does not move it.
    max_deleted: LiveEventId,
    /// The oldest id held, if any.
    first: Option<LiveEventId>,
    /// Whether any entry ever added is gone (more added than held); assumed when Redis does not
    /// say (before 7.0).
    dropped: bool,
}

impl StreamInfo {
    /// Whether every entry after `after` is still held, and `after` is a position this stream
    /// handed out (or the head of a stream before it held anything).
    fn holds_all_after(&self, after: LiveEventId) -> bool {
        if after > self.last || after < self.max_deleted {
            return false;
        }
        match self.first {
            // Below the oldest entry: fine only for the head of a stream that never lost one.
            // That also resets the newest trimmed entry, after which nothing is missing: the
            // stream does not say which entry that was.
            Some(first) if after < first => after == LiveEventId::ZERO && !self.dropped,
            Some(_) => true,
            None => after == self.last,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn id(v: &Value) -> Option<LiveEventId> {
    text(v)?.parse().ok()
}

fn count(v: &Value) -> Option<u64> {
    match v {
        Value::Int(n) => u64::try_from(*n).ok(),
        v => text(v)?.parse().ok(),
    }
}

/// The first position after `after`, for an inclusive range (`None`: there is none).
fn next(after: LiveEventId) -> Option<LiveEventId> {
    match after.n.checked_add(1) {
        Some(n) => Some(LiveEventId::new(after.ms, n)),
        None => Some(LiveEventId::new(after.ms.checked_add(1)?, 0)),
    }
}

/// The `XINFO STREAM` reply, run with errors kept as values: `None` when the stream does not
/// exist, an error for any other failure.
fn stream_info(v: Value) -> RedisResult<Option<StreamInfo>> {
    let pairs: Vec<(Value, Value)> = match v {
        Value::ServerError(e) if e.details().is_some_and(|d| d.contains("no such key")) => {
            return Ok(None)
        }
        Value::ServerError(e) => return Err(e.into()),
        Value::Map(m) => m,
        Value::Array(flat) => {
            let mut items = flat.into_iter();
            std::iter::from_fn(|| Some((items.next()?, items.next()?))).collect()
        }
        _ => Vec::new(),
    };
    let mut info = StreamInfo {
        last: LiveEventId::ZERO,
        max_deleted: LiveEventId::ZERO,
        first: None,
        dropped: true,
    };
    let (mut length, mut added) = (None, None);
    for (name, value) in pairs {
        match text(&name).as_deref() {
            Some("last-generated-id") => info.last = id(&value).unwrap_or(LiveEventId::ZERO),
            Some("max-deleted-entry-id") => {
                info.max_deleted = id(&value).unwrap_or(LiveEventId::ZERO)
            }
            Some("first-entry") => {
                info.first = match value {
                    Value::Array(parts) => parts.first().and_then(id),
                    _ => None,
                }
            }
            Some("length") => length = count(&value),
            Some("entries-added") => added = count(&value),
            _ => {}
        }
    }
    if let (Some(length), Some(added)) = (length, added) {
        info.dropped = added > length;
    }
    Ok(Some(info))
}

/// A reply run with errors kept as values, as a result again.
fn ok(v: Value) -> RedisResult<Value> {
    match v {
        Value::ServerError(e) => Err(e.into()),
        v => Ok(v),
    }
}

impl RedisLiveLog {
    pub fn new(redis: Arc<RedisShared>, history: usize) -> Self {
        let prefix = redis.prefix().to_owned();
        RedisLiveLog {
            redis,
            history,
            key: format!("{prefix}{{live}}:events"),
            seen: format!("{prefix}{{live}}:seen:"),
            append: Script::new(include_str!("lua/live_append.lua")),
        }
    }

    /// The stream's key (for tests and operations).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The entries that decode, at their positions; the others are skipped (they are no
    /// event any subscriber could be sent).
    fn decode_all(&self, raw: Vec<RawEntry>) -> Vec<LiveEvent> {
        raw.into_iter()
            .filter_map(|(raw_id, fields)| {
                let event = raw_id.parse::<LiveEventId>().ok().and_then(|id| {
                    let entry = fields.as_deref().and_then(decode)?;
                    Some(LiveEvent { id, entry })
                });
                if event.is_none() {
                    tracing::warn!(stream = %self.key, id = %raw_id, "skipping a live event that does not decode");
                }
                event
            })
            .collect()
    }

    /// One `XREAD` of up to `max` entries after `after`, blocking up to `wait` if not zero.
    async fn xread(
        &self,
        after: LiveEventId,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<RawEntry>, StoreError> {
        let key = &self.key;
        // BLOCK 0 would mean forever: a zero wait reads without blocking.
        let block = (!wait.is_zero()).then(|| millis(wait).max(1));
        let read = |mut c: Conn| async move {
            let mut cmd = redis::cmd("XREAD");
            cmd.arg("COUNT").arg(max.min(MAX_COUNT));
            if let Some(ms) = block {
                cmd.arg("BLOCK").arg(ms);
            }
            cmd.arg("STREAMS").arg(key).arg(after.to_string());
            cmd.query_async::<Value>(&mut c).await
        };
        let reply = match block {
            Some(_) => self.redis.call_blocking(wait, read).await?,
            None => self.redis.call(read).await?,
        };
        Ok(read_reply(reply))
    }

    async fn info(&self) -> Result<Option<StreamInfo>, StoreError> {
        let key = &self.key;
        Ok(self
            .redis
            .call(|mut c| async move {
                let mut pipe = redis::pipe();
                pipe.ignore_errors().cmd("XINFO").arg("STREAM").arg(key);
                let (info,): (Value,) = pipe.query_async(&mut c).await?;
                stream_info(info)
            })
            .await?)
    }
}

#[async_trait]
impl LiveLog for RedisLiveLog {
    async fn append(&self, entries: &[OutboxEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut inv = self.append.key(&self.key);
        for e in entries {
            inv.key(format!("{}{}", self.seen, e.seq));
        }
        inv.arg(self.history).arg(SEEN_MS);
        for e in entries {
            for (name, value) in fields(e) {
                inv.arg(name).arg(value);
            }
        }
        let inv = &inv;
        self.redis
            .call(|mut c| async move { inv.invoke_async::<i64>(&mut c).await })
            .await?;
        Ok(())
    }

    async fn head(&self) -> Result<LiveEventId, StoreError> {
        Ok(self
            .info()
            .await?
            .map_or(LiveEventId::ZERO, |info| info.last))
    }

    async fn read_after(
        &self,
        after: LiveEventId,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<LiveEvent>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let deadline = tokio::time::Instant::now() + wait;
        let mut from = after;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let raw = self.xread(from, max, left).await?;
            let last = raw
                .last()
                .and_then(|(id, _)| id.parse::<LiveEventId>().ok());
            let events = self.decode_all(raw);
            // Entries that all fail to decode are read past: answering none would bring the
            // caller straight back to them, never to what follows.
            match last {
                Some(last) if events.is_empty() && last > from => from = last,
                _ => return Ok(events),
            }
        }
    }

    async fn replay(&self, after: LiveEventId, max: usize) -> Result<Replay, StoreError> {
        let Some(start) = next(after) else {
            return Ok(Replay::Reset);
        };
        let key = &self.key;
        // One more than `max`, to tell "exactly max follow" from "more follow".
        let count = u64::try_from(max)
            .unwrap_or(u64::MAX)
            .min(i64::MAX as u64 - 1)
            + 1;
        // XINFO after XRANGE: a trim racing the range shows in the first entry.
        let (raw, info) = self
            .redis
            .call(|mut c| async move {
                let mut pipe = redis::pipe();
                pipe.ignore_errors();
                pipe.cmd("XRANGE")
                    .arg(key)
                    .arg(start.to_string())
                    .arg("+")
                    .arg("COUNT")
                    .arg(count);
                pipe.cmd("XINFO").arg("STREAM").arg(key);
                let (range, info): (Value, Value) = pipe.query_async(&mut c).await?;
                Ok((entries(ok(range)?), stream_info(info)?))
            })
            .await?;
        let Some(info) = info else {
            // Flushed, or never written: what followed `after`, if anything, is gone.
            return Ok(Replay::Reset);
        };
        if !info.holds_all_after(after) || raw.len() > max {
            return Ok(Replay::Reset);
        }
        Ok(Replay::Events(self.decode_all(raw)))
    }
}
