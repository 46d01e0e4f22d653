use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A UTC instant with millisecond precision: what the API shows and the stores keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn from_unix_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    pub fn unix_millis(&self) -> i64 {
        self.0
    }

    pub fn from_datetime(dt: OffsetDateTime) -> Self {
        // i128 nanoseconds → i64 milliseconds cannot overflow for any year a clock reports.
        Timestamp((dt.unix_timestamp_nanos() / 1_000_000) as i64)
    }

    pub fn to_datetime(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// `2026-11-23T21:54:28.123Z`: RFC 3339, UTC, exactly three fraction digits.
    pub fn to_rfc3339(&self) -> String {
        let dt = self.to_datetime();
        // Plain integer formatting: every listing formats two timestamps per item, and the
        // general-purpose `time` formatter was a visible share of a warm `GET /posts`.
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            dt.year(),
            u8::from(dt.month()),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            dt.millisecond()
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_milliseconds_in_utc() {
        assert_eq!(
            Timestamp::from_unix_millis(1_795_470_868_123).to_rfc3339(),
            "2026-11-23T21:54:28.123Z"
        );
        assert_eq!(
            Timestamp::from_unix_millis(0).to_rfc3339(),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn truncates_sub_millisecond_precision() {
        let dt = OffsetDateTime::from_unix_timestamp_nanos(1_500_999_999).unwrap();
        assert_eq!(Timestamp::from_datetime(dt).unix_millis(), 1_500);
    }
}
