//! The driving adapter: HTTP in, domain services out.
//!
//! # Layout
//!
//! - `router`: the route table, one layer per route, under the stack every request passes.
//! - `routes/`: handlers, one module per resource, each annotated for the OpenAPI document;
//!   `routes/web.rs` serves the web client embedded from `web/` (not part of the JSON API).
//! - `auth`: the bearer token or API key, checked once per request; `AuthUser`,
//!   `MaybeAuthUser`, `TokenUser`.
//! - `extract`: `AppJson`, `PageQuery` — request parsing that fails with our errors.
//! - `dto`: the JSON shapes; `error`: `ApiError` and its mapping to status and `type`.
//! - `middleware/`: request ids, timeout and load shedding, the per-route layer (metrics, drain,
//!   rate limits).
//! - `client_ip`: the client's address and trusted proxies; `limit_headers`: `RateLimit-*`.
//! - `health`: cached dependency probes; `openapi`: the generated document.
//! - `render`: post pages rendered once per (head version, page shape), shared by requests.
//! - `stream`: `GET /stream`'s open streams and the task that feeds them from the live log.

pub mod auth;
pub mod client_ip;
pub mod dto;
pub mod error;
pub mod extract;
pub mod health;
pub mod limit_headers;
pub mod middleware;
pub mod openapi;
pub mod render;
pub mod router;
pub mod routes;
pub mod state;
pub mod stream;

use axum::http::HeaderValue;

pub use client_ip::TrustedProxies;
pub use error::ApiError;
pub use health::{FeedHealth, FeedReport, Health};
pub use middleware::overload::RequestBounds;
pub use router::{router, HttpService, BODY_LIMIT};
pub use state::{AppDeps, AppState, MetricsRender, RoutePolicies, ShutdownFlag};
pub use stream::{StreamHub, StreamOptions};

#[derive(Clone, Debug, Default)]
pub struct HttpOptions {
    /// `CORS_ORIGINS`: `None` allows any origin (without credentials).
    pub cors_origins: Option<Vec<HeaderValue>>,
    /// `HTTP_REQUEST_TIMEOUT_MS` and `HTTP_MAX_IN_FLIGHT`, with the in-flight count.
    pub bounds: RequestBounds,
}
