//! Request counts and latencies per route, for `/metrics`.
//!
//! Each route owns its series, created when the router is built: the route label is the
//! route template (`/posts/{id}`), never the raw path, so label cardinality stays bounded
//! whatever clients send. A `(method, status)` pair's handles are registered on its first
//! request and reused after that, so a request costs no label allocation or registry lookup.

use std::sync::OnceLock;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use metrics::{Counter, Histogram, Label};

/// Methods a route can be called with (axum answers `HEAD` with the `GET` handler).
const METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::OPTIONS,
];

/// The statuses this API answers; any other is registered on each use (slower, still right).
const STATUSES: [u16; 16] = [
    200, 201, 204, 304, 400, 401, 403, 404, 405, 409, 413, 415, 429, 500, 502, 503,
];

struct Series {
    requests: Counter,
    duration: Histogram,
}

impl Series {
    fn register(method: &Method, route: &'static str, status: StatusCode) -> Series {
        let labels = [
            Label::new("method", method.as_str().to_owned()),
            Label::from_static_parts("route", route),
            Label::new("status", status.as_u16().to_string()),
        ];
        Series {
            requests: metrics::counter!("http_requests_total", labels.iter()),
            duration: metrics::histogram!("http_request_duration_seconds", labels.iter()),
        }
    }

    fn record(&self, elapsed: Duration) {
        self.requests.increment(1);
        self.duration.record(elapsed.as_secs_f64());
    }
}

/// The series of one route.
pub struct RouteSeries {
    route: &'static str,
    /// `METHODS.len() * STATUSES.len()` slots, filled on first use.
    slots: Box<[OnceLock<Series>]>,
}

impl RouteSeries {
    pub fn new(route: &'static str) -> Self {
        RouteSeries {
            route,
            slots: (0..METHODS.len() * STATUSES.len())
                .map(|_| OnceLock::new())
                .collect(),
        }
    }

    pub fn route(&self) -> &'static str {
        self.route
    }

    pub fn record(&self, method: &Method, status: StatusCode, elapsed: Duration) {
        let m = METHODS.iter().position(|m| m == method);
        let s = STATUSES.iter().position(|s| *s == status.as_u16());
        match (m, s) {
            (Some(m), Some(s)) => self.slots[m * STATUSES.len() + s]
                .get_or_init(|| Series::register(method, self.route, status))
                .record(elapsed),
            _ => Series::register(method, self.route, status).record(elapsed),
        }
    }
}
