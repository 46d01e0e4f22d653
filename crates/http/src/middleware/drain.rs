//! Graceful shutdown as clients see it: while draining, a new request is answered 503 at once
//! (and its connection closed) instead of being refused at the socket or started late.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

pub async fn drain(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(admitted) = state.shutdown.admit() else {
        let mut res = ApiError::Unavailable("server is shutting down".into()).into_response();
        let headers = res.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return res;
    };
    let res = next.run(req).await;
    drop(admitted);
    res
}
