//! A route's rate limit, keyed by the authenticated user, the API key, or else the client
//! address, with the `RateLimit-*` headers on every response of a limited route.
//!
//! Each limited route carries its own [`Limit`] (see `router`), so which policies apply is
//! decided once, when the router is built: the route's own, and `RATE_LIMIT_API_KEY` for
//! requests made with an API key (counted per key, instead of the route's policy), each also in
//! its trusted-tier form (the limit times `RATE_LIMIT_TRUSTED_MULTIPLIER`).

use std::fmt::{self, Write as _};

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use domain::model::{Tier, Via};
use domain::ports::RatePolicy;
use metrics::Counter;

use crate::auth::{request_caller, Caller};
use crate::error::ApiError;
use crate::limit_headers::{insert_decision_headers, policy_header, RATELIMIT_LIMIT};
use crate::state::AppState;

/// What a route's budget is counted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyBy {
    /// The authenticated user when the request carries a valid token (the key, under the API
    /// key policy, when it carries a valid API key), else the client address.
    CallerOrAddress,
    /// Always the client address: signup and login, where a token (any account's) must not
    /// buy a fresh budget for guessing or mass sign-ups.
    Address,
}

/// Puts `rate_limited_total` at 0 for each route policy, so the series exist (and dashboards and
/// alerts see a rate of 0, not no data) before the first request is refused.
pub(crate) fn register_metrics(state: &AppState) {
    let p = &state.policies;
    for policy in [&p.general, &p.post, &p.login, &p.signup, &p.api_key] {
        metrics::counter!("rate_limited_total", "policy" => policy.name).increment(0);
    }
}

/// One policy, with what its responses need computed up front.
struct Budget {
    policy: RatePolicy,
    header: Option<HeaderValue>,
    refused: Counter,
}

impl Budget {
    fn new(policy: RatePolicy) -> Budget {
        Budget {
            header: policy_header(&policy),
            refused: metrics::counter!("rate_limited_total", "policy" => policy.name),
            policy,
        }
    }
}

/// A policy for each tier.
struct Tiered {
    standard: Budget,
    trusted: Budget,
}

impl Tiered {
    fn new(policy: &RatePolicy, multiplier: u32) -> Tiered {
        let trusted = RatePolicy {
            limit: policy.limit.saturating_mul(multiplier),
            ..policy.clone()
        };
        Tiered {
            standard: Budget::new(policy.clone()),
            trusted: Budget::new(trusted),
        }
    }

    fn of(&self, tier: Tier) -> &Budget {
        match tier {
            Tier::Standard => &self.standard,
            Tier::Trusted => &self.trusted,
        }
    }
}

/// One route's policies, with what its responses need computed up front.
pub struct Limit {
    state: AppState,
    route: Tiered,
    api_key: Tiered,
    key: KeyBy,
}

impl Limit {
    pub fn new(state: &AppState, policy: &RatePolicy, key: KeyBy) -> Limit {
        let multiplier = state.policies.trusted_multiplier;
        Limit {
            state: state.clone(),
            route: Tiered::new(policy, multiplier),
            api_key: Tiered::new(&state.policies.api_key, multiplier),
            key,
        }
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Checks the budget, then answers with `next` (or 429), adding the `RateLimit-*` headers.
    pub async fn apply<F, Fut>(&self, mut req: Request, next: F) -> Response
    where
        F: FnOnce(Request) -> Fut,
        Fut: std::future::Future<Output = Response>,
    {
        let (key, budget) = self.key_of(&mut req).await;
        let policy = &budget.policy;
        let decision = match self.state.limiter.check(policy, key.as_str(), 1).await {
            Ok(d) => d,
            Err(e) => {
                // Limiting is protection, not a dependency: an adapter that cannot decide lets
                // the request through rather than failing it (adapters fall back before this).
                tracing::warn!(error = %e, policy = policy.name, "rate limiter failed; allowing");
                return next(req).await;
            }
        };
        let mut response = if decision.allowed {
            next(req).await
        } else {
            budget.refused.increment(1);
            ApiError::RateLimited(decision).into_response()
        };
        let headers = response.headers_mut();
        // A handler that answered with its own limit (failed logins) set a consistent group of
        // headers for it; mixing in this route's policy would describe two limits at once.
        if !headers.contains_key(RATELIMIT_LIMIT) {
            insert_decision_headers(headers, &decision, budget.header.as_ref());
        }
        response
    }

    /// The budget this request spends, and under which key.
    async fn key_of(&self, req: &mut Request) -> (Key, &Budget) {
        if self.key == KeyBy::CallerOrAddress {
            if let Caller::User(who) = request_caller(req, &self.state.services).await {
                return match who.via {
                    Via::Token => (
                        Key::new(format_args!("user:{}", who.user)),
                        self.route.of(who.tier),
                    ),
                    Via::ApiKey(id) => (
                        Key::new(format_args!("key:{id}")),
                        self.api_key.of(who.tier),
                    ),
                };
            }
        }
        let client = self
            .state
            .trusted_proxies
            .request_client_key(req.extensions(), req.headers());
        (Key::new(format_args!("{client}")), &self.route.standard)
    }
}

/// A limiter key written on the stack: `user:<uuid>` and `ip:<address>` always fit, so keying
/// a request allocates nothing.
struct Key {
    buf: [u8; 64],
    len: usize,
    overflow: Option<String>,
}

impl Key {
    fn new(args: fmt::Arguments<'_>) -> Key {
        let mut key = Key {
            buf: [0; 64],
            len: 0,
            overflow: None,
        };
        if key.write_fmt(args).is_err() {
            key.overflow = Some(args.to_string());
        }
        key
    }

    fn as_str(&self) -> &str {
        match &self.overflow {
            Some(s) => s,
            // Only whole `str`s are ever copied in, so the prefix is UTF-8.
            None => std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default(),
        }
    }
}

impl fmt::Write for Key {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let slot = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fit_on_the_stack_and_longer_ones_still_work() {
        let ip: std::net::IpAddr = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
            .parse()
            .unwrap();
        let key = Key::new(format_args!("ip:{ip}"));
        assert!(key.overflow.is_none());
        assert_eq!(key.as_str(), format!("ip:{ip}"));
        let long = "x".repeat(100);
        assert_eq!(
            Key::new(format_args!("user:{long}")).as_str(),
            format!("user:{long}")
        );
    }
}
