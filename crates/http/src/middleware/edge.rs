//! The outermost layer, one per request: the request id, the request's span and its one
//! `request` log line, and a panic in a handler answered as a JSON 500.
//!
//! One hand-written layer instead of three (`SetRequestId`/`PropagateRequestId`, `Trace`,
//! `CatchPanic`): each of those wraps the future and the response body once more, and the
//! profile of a cheap request showed that nesting as moves and allocations. It also hands
//! the accept loop (`server::listener`) the plain `Body` it wants.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderValue, Request, Response};
use axum::response::IntoResponse;
use axum::BoxError;
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tracing::Span;

use super::request_id::{request_id, X_REQUEST_ID};
use crate::error::ApiError;

#[derive(Clone, Copy, Debug, Default)]
pub struct EdgeLayer;

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge { inner }
    }
}

#[derive(Clone, Debug)]
pub struct Edge<S> {
    inner: S,
}

/// The span of a request: its id, method and path, which every log line inside it carries.
fn span<B>(req: &Request<B>, id: &HeaderValue) -> Span {
    let id = id.to_str().unwrap_or("-");
    tracing::info_span!("http", request_id = %id, method = %req.method(), path = %req.uri().path())
}

fn panicked(_: Box<dyn Any + Send>) -> Response<Body> {
    ApiError::Internal("handler panicked".into()).into_response()
}

impl<S, B, ResB> Service<Request<B>> for Edge<S>
where
    S: Service<Request<B>, Response = Response<ResB>>,
    ResB: HttpBody<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let id = request_id(&mut req);
        let span = span(&req, &id);
        let start = Instant::now();
        let inner = span.in_scope(|| {
            tracing::debug!("started processing request");
            catch_unwind(AssertUnwindSafe(|| self.inner.call(req)))
        });
        let state = match inner {
            Ok(fut) => State::Running { fut },
            Err(panic) => State::Panicked {
                response: Some(panicked(panic)),
            },
        };
        EdgeFuture {
            state,
            id: Some(id),
            span,
            start,
        }
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Running { #[pin] fut: F },
        Panicked { response: Option<Response<Body>> },
    }
}

pin_project! {
    pub struct EdgeFuture<F> {
        #[pin]
        state: State<F>,
        id: Option<HeaderValue>,
        span: Span,
        start: Instant,
    }
}

impl<F, ResB, E> Future for EdgeFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
    ResB: HttpBody<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let mut res = match this.state.project() {
            StateProj::Running { fut } => match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(Err(e))) => return Poll::Ready(Err(e)),
                Ok(Poll::Ready(Ok(res))) => res.map(Body::new),
                Err(panic) => panicked(panic),
            },
            StateProj::Panicked { response } => response.take().unwrap_or_else(|| {
                ApiError::Internal("response polled after completion".into()).into_response()
            }),
        };
        if let Some(id) = this.id.take() {
            // A handler that chose its own id keeps it.
            if !res.headers().contains_key(&X_REQUEST_ID) {
                res.headers_mut().insert(X_REQUEST_ID.clone(), id);
            }
        }
        let latency = this.start.elapsed();
        let status = res.status();
        tracing::info!(
            status = status.as_u16(),
            latency_ms = latency.as_secs_f64() * 1000.0,
            "request"
        );
        if status.is_server_error() {
            tracing::error!(
                classification = %format_args!("Status code: {status}"),
                latency = %format_args!("{} ms", latency.as_millis()),
                "response failed"
            );
        }
        Poll::Ready(Ok(res))
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower::{service_fn, ServiceExt};

    use super::*;

    async fn call(req: Request<Body>) -> Response<Body> {
        let svc = EdgeLayer.layer(service_fn(|req: Request<Body>| async move {
            if req.uri().path() == "/panic" {
                panic!("a handler bug");
            }
            Ok::<_, Infallible>(Response::new(Body::from("fine")))
        }));
        svc.oneshot(req).await.unwrap()
    }

    #[tokio::test]
    async fn a_panicking_handler_is_a_json_500_with_a_request_id() {
        let res = call(Request::get("/panic").body(Body::empty()).unwrap()).await;
        assert_eq!(res.status(), 500);
        assert!(res.headers().contains_key(&X_REQUEST_ID));
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["type"], "InternalServerError");
    }

    #[tokio::test]
    async fn a_sane_incoming_id_is_echoed_and_a_bad_one_replaced() {
        let req = Request::get("/")
            .header("x-request-id", "abc-1")
            .body(Body::empty());
        let res = call(req.unwrap()).await;
        assert_eq!(res.headers()[&X_REQUEST_ID], "abc-1");
        let req = Request::get("/")
            .header("x-request-id", "a b")
            .body(Body::empty());
        let res = call(req.unwrap()).await;
        assert_ne!(res.headers()[&X_REQUEST_ID], "a b");
        assert_eq!(res.headers()[&X_REQUEST_ID].len(), 36);
    }
}
