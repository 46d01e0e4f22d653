//! `X-Request-Id`: echo a sane incoming id, otherwise generate one; the same id goes on the
//! request (for the log line's span) and on the response.
//!
//! The outermost layer, so it also hands `axum::serve` the plain `Body` it wants, whatever the
//! layers inside wrapped the body in.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderName, HeaderValue, Request, Response};
use axum::BoxError;
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use uuid::Uuid;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// An incoming id that is too long or has characters outside `[A-Za-z0-9._-]` is replaced, so
/// a client cannot inject text into our logs.
fn is_acceptable(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A random UUID, formatted on the stack (one allocation: the header's own bytes).
fn generate() -> HeaderValue {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

#[derive(Clone, Copy, Debug, Default)]
pub struct RequestIdLayer;

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestId<S>;

    fn layer(&self, inner: S) -> RequestId<S> {
        RequestId { inner }
    }
}

#[derive(Clone, Debug)]
pub struct RequestId<S> {
    inner: S,
}

impl<S, B, ResB> Service<Request<B>> for RequestId<S>
where
    S: Service<Request<B>, Response = Response<ResB>>,
    ResB: HttpBody<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = RequestIdFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let id = match req.headers().get(&X_REQUEST_ID) {
            Some(v) if is_acceptable(v.as_bytes()) => v.clone(),
            _ => {
                let id = generate();
                req.headers_mut().insert(X_REQUEST_ID.clone(), id.clone());
                id
            }
        };
        RequestIdFuture {
            inner: self.inner.call(req),
            id: Some(id),
        }
    }
}

pin_project! {
    pub struct RequestIdFuture<F> {
        #[pin]
        inner: F,
        id: Option<HeaderValue>,
    }
}

impl<F, ResB, E> Future for RequestIdFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
    ResB: HttpBody<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = ready!(this.inner.poll(cx))?;
        if let Some(id) = this.id.take() {
            // A handler that chose its own id keeps it.
            if !res.headers().contains_key(&X_REQUEST_ID) {
                res.headers_mut().insert(X_REQUEST_ID.clone(), id);
            }
        }
        Poll::Ready(Ok(res.map(Body::new)))
    }
}

#[cfg(test)]
mod tests {
    use super::{generate, is_acceptable};

    #[test]
    fn accepts_only_short_safe_ids() {
        assert!(is_acceptable(b"abc-123_x.y"));
        assert!(is_acceptable(&[b'a'; 128]));
        assert!(!is_acceptable(&[b'a'; 129]));
        assert!(!is_acceptable(b""));
        assert!(!is_acceptable(b"has space"));
        assert!(!is_acceptable(b"new\nline"));
    }

    #[test]
    fn generated_ids_are_fresh_acceptable_uuids() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(is_acceptable(a.as_bytes()));
        assert_eq!(a.len(), 36);
    }
}
