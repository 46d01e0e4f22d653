//! The real clock.

use domain::model::Timestamp;
use domain::ports::Clock;
use time::OffsetDateTime;

/// [`Clock`] reading the system's UTC time.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_datetime(OffsetDateTime::now_utc())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_current_time() {
        let before = OffsetDateTime::now_utc().unix_timestamp() * 1000;
        let now = SystemClock.now().unix_millis();
        let after = OffsetDateTime::now_utc().unix_timestamp() * 1000 + 1000;
        assert!(
            before <= now && now <= after,
            "{before} <= {now} <= {after}"
        );
    }
}
