//! [`ManualClock`] and [`SequentialIds`]: time and ids that move only when a test says so.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use uuid::{Builder, Uuid};

use crate::model::Timestamp;
use crate::ports::{Clock, IdGenerator};

// ---------------------------------------------------------------------------------------------
// Clock, ids
// ---------------------------------------------------------------------------------------------

/// A clock that only moves when told to.
pub struct ManualClock {
    millis: AtomicI64,
}

impl ManualClock {
    /// 2026-01-01T00:00:00.000Z in Unix milliseconds, where [`ManualClock::default`] starts.
    pub const START_MILLIS: i64 = 1_767_225_600_000;

    /// [`ManualClock::START_MILLIS`] as a timestamp.
    pub fn start() -> Timestamp {
        Timestamp::from_unix_millis(Self::START_MILLIS)
    }

    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            millis: AtomicI64::new(start.unix_millis()),
        }
    }

    pub fn set(&self, to: Timestamp) {
        self.millis.store(to.unix_millis(), Ordering::SeqCst);
    }

    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.millis.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new(Self::start())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.millis.load(Ordering::SeqCst))
    }
}

/// UUIDv7s with a fixed timestamp and a counter in the low 48 bits: valid v7 ids (they parse
/// as [`UserId`](crate::model::UserId) etc.) that are strictly increasing in creation order,
/// deterministically.
pub struct SequentialIds {
    millis: u64,
    counter: AtomicU64,
}

impl SequentialIds {
    pub fn new(millis: u64) -> Self {
        SequentialIds {
            millis,
            counter: AtomicU64::new(0),
        }
    }
}

impl Default for SequentialIds {
    fn default() -> Self {
        // The same instant the default clock starts at.
        Self::new(ManualClock::START_MILLIS.unsigned_abs())
    }
}

impl IdGenerator for SequentialIds {
    fn new_id(&self) -> Uuid {
        let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        // Bytes 10..16 of the uuid are the last six of these ten; the version and variant bits
        // (in bytes 6 and 8) are set by the builder and untouched by the counter.
        let mut tail = [0u8; 10];
        tail[4..].copy_from_slice(&n.to_be_bytes()[2..]);
        Builder::from_unix_timestamp_millis(self.millis, &tail).into_uuid()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::UserId;

    #[test]
    fn sequential_ids_are_v7_and_strictly_increasing() {
        let ids = SequentialIds::default();
        let all: Vec<Uuid> = (0..1000).map(|_| ids.new_id()).collect();
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        for id in &all {
            assert_eq!(id.get_version_num(), 7);
            assert!(id.to_string().parse::<UserId>().is_ok());
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::default();
        assert_eq!(clock.now(), ManualClock::start());
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now().unix_millis(), ManualClock::START_MILLIS + 1500);
        clock.set(Timestamp::from_unix_millis(7));
        assert_eq!(clock.now(), Timestamp::from_unix_millis(7));
    }
}
