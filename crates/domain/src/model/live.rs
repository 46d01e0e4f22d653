//! The live log's positions and entries: what `GET /stream` sends and resumes from.

use std::fmt;
use std::str::FromStr;

use super::OutboxEntry;

/// A position in the live log, written `<ms>-<n>` (the shape of a Redis stream id) and ordered
/// by `(ms, n)`. Opaque to clients: they only echo it back as `Last-Event-ID`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LiveEventId {
    pub ms: u64,
    pub n: u64,
}

impl LiveEventId {
    pub const ZERO: LiveEventId = LiveEventId { ms: 0, n: 0 };

    pub fn new(ms: u64, n: u64) -> Self {
        LiveEventId { ms, n }
    }
}

impl fmt::Display for LiveEventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.n)
    }
}

/// The id is not `<ms>-<n>` with both parts unsigned integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a live event id")]
pub struct BadLiveEventId;

impl FromStr for LiveEventId {
    type Err = BadLiveEventId;

    fn from_str(s: &str) -> Result<Self, BadLiveEventId> {
        let (ms, n) = s.trim().split_once('-').ok_or(BadLiveEventId)?;
        let digits = |p: &str| {
            (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse::<u64>().ok())
                .flatten()
                .ok_or(BadLiveEventId)
        };
        Ok(LiveEventId {
            ms: digits(ms)?,
            n: digits(n)?,
        })
    }
}

/// One outbox event as the live log holds it, at its position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveEvent {
    pub id: LiveEventId,
    pub entry: OutboxEntry,
}

/// What [`crate::ports::LiveLog::replay`] found after a subscriber's last id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replay {
    /// Every event after the id, oldest first (possibly none).
    Events(Vec<LiveEvent>),
    /// Some event after the id is no longer held (trimmed, the log was flushed, or the id was
    /// never this log's), or more than the asked maximum follow it: the subscriber must reload.
    Reset,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_order_by_both_parts() {
        let a: LiveEventId = "1733300000000-7".parse().unwrap();
        assert_eq!(a, LiveEventId::new(1_733_300_000_000, 7));
        assert_eq!(a.to_string(), "1733300000000-7");
        assert!(LiveEventId::new(1, 9) < LiveEventId::new(2, 0));
        assert!(LiveEventId::new(2, 0) < LiveEventId::new(2, 1));
        assert_eq!(" 5-6 ".parse::<LiveEventId>(), Ok(LiveEventId::new(5, 6)));
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "5",
            "5-",
            "-5",
            "a-1",
            "1-b",
            "+1-2",
            "1-2-3",
            "99999999999999999999-0",
        ] {
            assert_eq!(bad.parse::<LiveEventId>(), Err(BadLiveEventId), "{bad:?}");
        }
    }
}
