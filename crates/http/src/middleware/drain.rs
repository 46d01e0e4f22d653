//! Graceful shutdown as clients see it: while draining, a new request is answered 503 at once
//! (and its connection closed) instead of being refused at the socket or started late.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The answer to a request that arrives while the server drains.
pub fn refusal() -> Response {
    let mut res = ApiError::Unavailable("server is shutting down".into()).into_response();
    let headers = res.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    res
}
