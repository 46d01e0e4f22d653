//! The IETF draft `RateLimit-*` headers (and `Retry-After`) for a rate-limit decision. A leaf:
//! both the route limiter and `ApiError`'s 429 write them.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use domain::ports::{RateDecision, RatePolicy};

pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

pub(crate) fn secs_ceil(d: Duration) -> u64 {
    let s = d.as_secs();
    if d.subsec_nanos() > 0 {
        s + 1
    } else {
        s
    }
}

/// A `Retry-After` value: whole seconds rounded up, at least 1 (never "retry now").
pub(crate) fn retry_after_value(wait: Duration) -> HeaderValue {
    HeaderValue::from(secs_ceil(wait).max(1))
}

/// `RateLimit-Policy` for a policy (`15000;w=30`); computed once per route, not per request.
pub fn policy_header(p: &RatePolicy) -> Option<HeaderValue> {
    HeaderValue::try_from(format!("{};w={}", p.limit, secs_ceil(p.window))).ok()
}

/// Writes the headers of a decision, plus `RateLimit-Policy` when given and `Retry-After` on a
/// denial.
pub fn insert_decision_headers(
    headers: &mut HeaderMap,
    d: &RateDecision,
    policy: Option<&HeaderValue>,
) {
    headers.insert(RATELIMIT_LIMIT, HeaderValue::from(d.limit));
    headers.insert(RATELIMIT_REMAINING, HeaderValue::from(d.remaining));
    headers.insert(RATELIMIT_RESET, HeaderValue::from(secs_ceil(d.reset_after)));
    if let Some(p) = policy {
        headers.insert(RATELIMIT_POLICY, p.clone());
    }
    if !d.allowed {
        let retry = d.retry_after.unwrap_or(d.reset_after);
        headers.insert(axum::http::header::RETRY_AFTER, retry_after_value(retry));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Retry-After` and `RateLimit-Reset` are whole seconds rounded up: never "retry now"
    /// while any wait is left.
    #[test]
    fn waits_round_up_to_whole_seconds() {
        assert_eq!(secs_ceil(Duration::ZERO), 0);
        assert_eq!(secs_ceil(Duration::from_millis(1)), 1);
        assert_eq!(secs_ceil(Duration::from_secs(2)), 2);
        assert_eq!(secs_ceil(Duration::from_millis(2_500)), 3);
        assert_eq!(secs_ceil(Duration::from_nanos(59_000_000_001)), 60);
    }
}
