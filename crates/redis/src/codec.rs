//! How an outbox entry is stored in a Redis stream, shared by the feed event stream and the
//! live log: fields `seq`, `kind`, `a`, `b` (UUIDs as text) and `at` (ms), and the decoding of
//! stream replies back into entries.

use std::collections::HashMap;

use domain::model::{FeedEvent, OutboxEntry, Timestamp};
use redis::Value;
use uuid::Uuid;

/// One stream entry as Redis lists it: its id and its field list (none for an entry some Redis
/// versions list as deleted).
pub(crate) type RawEntry = (String, Option<Vec<Value>>);

/// An entry's fields, names and values, in the order `XADD` takes them.
pub(crate) fn fields(e: &OutboxEntry) -> [(&'static str, String); 5] {
    let (a, b) = e.event.parts();
    [
        ("seq", e.seq.to_string()),
        ("kind", e.event.kind().to_owned()),
        ("a", a.to_string()),
        ("b", b.to_string()),
        ("at", e.recorded_at.unix_millis().to_string()),
    ]
}

pub(crate) fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// An entry from its field list (`[name, value, name, value, ...]`).
pub(crate) fn decode(fields: &[Value]) -> Option<OutboxEntry> {
    let mut map = HashMap::new();
    for pair in fields.chunks_exact(2) {
        map.insert(text(&pair[0])?, text(&pair[1])?);
    }
    let get = |k: &str| map.get(k).map(String::as_str);
    let seq = get("seq")?.parse::<i64>().ok()?;
    let a = Uuid::try_parse(get("a")?).ok()?;
    let b = Uuid::try_parse(get("b")?).ok()?;
    let at = get("at")?.parse::<i64>().ok()?;
    Some(OutboxEntry {
        seq,
        event: FeedEvent::from_parts(get("kind")?, a, b)?,
        recorded_at: Timestamp::from_unix_millis(at),
    })
}

/// `[id, fields]` pairs (an `XRANGE` reply, or one stream's part of a read).
pub(crate) fn entries(v: Value) -> Vec<RawEntry> {
    let Value::Array(items) = v else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| {
            let Value::Array(mut parts) = item else {
                return None;
            };
            if parts.len() != 2 {
                return None;
            }
            let fields = match parts.pop() {
                Some(Value::Array(f)) => Some(f),
                _ => None,
            };
            Some((text(&parts[0])?, fields))
        })
        .collect()
}

/// The entries of an `XREAD` or `XREADGROUP` reply: nil on timeout, else `[[key, entries]]`
/// (or a map from key to entries under RESP3).
pub(crate) fn read_reply(v: Value) -> Vec<RawEntry> {
    match v {
        Value::Array(streams) => streams
            .into_iter()
            .flat_map(|s| match s {
                Value::Array(mut kv) if kv.len() == 2 => kv.pop().map(entries).unwrap_or_default(),
                _ => Vec::new(),
            })
            .collect(),
        Value::Map(streams) => streams.into_iter().flat_map(|(_, e)| entries(e)).collect(),
        _ => Vec::new(),
    }
}
