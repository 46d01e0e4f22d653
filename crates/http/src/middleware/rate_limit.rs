//! Per-route rate limits, keyed by the authenticated user or else the client address, with the
//! `RateLimit-*` headers on every limited response.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use domain::model::UserId;
use domain::ports::{RateDecision, RatePolicy};

use crate::error::ApiError;
use crate::extract::bearer_token;
use crate::state::AppState;

/// The user a valid bearer token named, checked once here and reused by `AuthUser`.
#[derive(Clone, Copy, Debug)]
pub struct VerifiedUser(pub UserId);

/// Puts `rate_limited_total` at 0 for each route policy, so the series exist (and dashboards and
/// alerts see a rate of 0, not no data) before the first request is refused.
pub(crate) fn register_metrics(state: &AppState) {
    let p = &state.policies;
    for policy in [&p.general, &p.post, &p.login, &p.signup] {
        metrics::counter!("rate_limited_total", "policy" => policy.name).increment(0);
    }
}

pub async fn rate_limit(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let policy = pick_policy(&state, req.method(), req.uri().path()).clone();
    let user = bearer_token(req.headers()).and_then(|t| state.services.auth.authenticate(t).ok());
    let key = match user {
        Some(id) => {
            req.extensions_mut().insert(VerifiedUser(id));
            format!("user:{id}")
        }
        None => {
            let peer = req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0), |c| {
                    c.0
                });
            state.trusted_proxies.client_key(peer, req.headers())
        }
    };
    let decision = match state.limiter.check(&policy, &key, 1).await {
        Ok(d) => d,
        Err(e) => {
            // Limiting is protection, not a dependency: an adapter that cannot decide lets the
            // request through rather than failing it (adapters fall back before this happens).
            tracing::warn!(error = %e, policy = policy.name, "rate limiter failed; allowing");
            return next.run(req).await;
        }
    };
    let mut response = if decision.allowed {
        next.run(req).await
    } else {
        metrics::counter!("rate_limited_total", "policy" => policy.name).increment(1);
        ApiError::RateLimited(decision).into_response()
    };
    let headers = response.headers_mut();
    // A handler that answered with its own limit (failed logins) set a consistent group of
    // headers for it; mixing in this route's policy would describe two limits at once.
    if !headers.contains_key("ratelimit-limit") {
        for (name, value) in decision_headers(&decision, Some(&policy)) {
            headers.insert(name, value);
        }
    }
    response
}

fn pick_policy<'a>(state: &'a AppState, method: &Method, path: &str) -> &'a RatePolicy {
    let p = &state.policies;
    match (method, path) {
        (&Method::POST, "/posts") => &p.post,
        (&Method::POST, "/auth/login") => &p.login,
        (&Method::POST, "/auth/signup") => &p.signup,
        _ => &p.general,
    }
}

fn secs_ceil(d: Duration) -> u64 {
    let s = d.as_secs();
    if d.subsec_nanos() > 0 {
        s + 1
    } else {
        s
    }
}

/// The IETF draft `RateLimit-*` headers for a decision, plus `Retry-After` on a denial.
pub fn decision_headers(
    d: &RateDecision,
    policy: Option<&RatePolicy>,
) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = vec![
        (
            HeaderName::from_static("ratelimit-limit"),
            HeaderValue::from(d.limit),
        ),
        (
            HeaderName::from_static("ratelimit-remaining"),
            HeaderValue::from(d.remaining),
        ),
        (
            HeaderName::from_static("ratelimit-reset"),
            HeaderValue::from(secs_ceil(d.reset_after)),
        ),
    ];
    if let Some(p) = policy {
        let text = format!("{};w={}", p.limit, secs_ceil(p.window));
        if let Ok(v) = HeaderValue::from_str(&text) {
            out.push((HeaderName::from_static("ratelimit-policy"), v));
        }
    }
    if !d.allowed {
        let retry = d.retry_after.unwrap_or(d.reset_after);
        out.push((
            HeaderName::from_static("retry-after"),
            HeaderValue::from(secs_ceil(retry).max(1)),
        ));
    }
    out
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
