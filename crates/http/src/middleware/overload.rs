//! Bounds on the work a request may cause: a request not answered within
//! `HTTP_REQUEST_TIMEOUT_MS` is answered 503 (its handler is dropped), and while
//! `HTTP_MAX_IN_FLIGHT` requests are being handled a new one is answered 503 with `Retry-After`
//! at once (load shedding) instead of queueing behind them without end.
//!
//! Probes and `/metrics` are never shed and do not count as in flight: an overloaded instance
//! must still say it is alive, and still be measurable. They do get the timeout.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Response};
use axum::response::IntoResponse;
use metrics::Counter;
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower::{Layer, Service};

use crate::error::ApiError;

/// `HTTP_REQUEST_TIMEOUT_MS`'s default.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// `HTTP_MAX_IN_FLIGHT`'s default.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;

/// The bounds and the count of requests in flight, shared by the layer and whoever reports
/// the count (the composition root samples it into `/metrics`).
#[derive(Clone)]
pub struct RequestBounds(Arc<Shared>);

struct Shared {
    timeout: Duration,
    max_in_flight: usize,
    in_flight: AtomicUsize,
    shed: Counter,
    timed_out: Counter,
}

impl RequestBounds {
    pub fn new(timeout: Duration, max_in_flight: usize) -> Self {
        let shed = metrics::counter!("http_requests_shed_total");
        let timed_out = metrics::counter!("http_requests_timed_out_total");
        // At 0 from start-up on, so dashboards see a rate of 0 rather than no data.
        shed.increment(0);
        timed_out.increment(0);
        RequestBounds(Arc::new(Shared {
            timeout,
            max_in_flight,
            in_flight: AtomicUsize::new(0),
            shed,
            timed_out,
        }))
    }

    /// Requests being handled now (probes and `/metrics` excluded).
    pub fn in_flight(&self) -> usize {
        self.0.in_flight.load(Ordering::Relaxed)
    }
}

impl Default for RequestBounds {
    fn default() -> Self {
        RequestBounds::new(DEFAULT_REQUEST_TIMEOUT, DEFAULT_MAX_IN_FLIGHT)
    }
}

impl std::fmt::Debug for RequestBounds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestBounds")
            .field("timeout", &self.0.timeout)
            .field("max_in_flight", &self.0.max_in_flight)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for RequestBounds {
    type Service = Bounded<S>;

    fn layer(&self, inner: S) -> Bounded<S> {
        Bounded {
            inner,
            bounds: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Bounded<S> {
    inner: S,
    bounds: Arc<Shared>,
}

/// Liveness, readiness, `/health` and `/metrics`: what operators and load balancers ask an
/// instance precisely when it is overloaded.
fn is_exempt(path: &str) -> bool {
    path == "/metrics" || path == "/health" || path.starts_with("/health/")
}

/// One request counted in flight, until its response is ready or it is dropped.
struct Slot(Arc<Shared>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<S, B> Service<Request<B>> for Bounded<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoundedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let slot = if is_exempt(req.uri().path()) {
            None
        } else {
            let before = self.bounds.in_flight.fetch_add(1, Ordering::Relaxed);
            let slot = Slot(self.bounds.clone());
            if before >= self.bounds.max_in_flight {
                drop(slot);
                self.bounds.shed.increment(1);
                return BoundedFuture::Shed {
                    response: Some(
                        ApiError::Overloaded {
                            cause: "more requests in flight than HTTP_MAX_IN_FLIGHT".into(),
                            retry_after: Duration::from_secs(1),
                        }
                        .into_response(),
                    ),
                };
            }
            Some(slot)
        };
        BoundedFuture::Running {
            fut: self.inner.call(req),
            deadline: None,
            slot,
            bounds: self.bounds.clone(),
        }
    }
}

pin_project! {
    #[project = BoundedProj]
    pub enum BoundedFuture<F> {
        Running {
            #[pin]
            fut: F,
            // Armed when the handler first waits: most answers (probes, cached reads) are
            // ready at their first poll and never pay for a timer.
            deadline: Option<Pin<Box<Sleep>>>,
            slot: Option<Slot>,
            bounds: Arc<Shared>,
        },
        Shed { response: Option<Response<Body>> },
    }
}

impl<F, E> Future for BoundedFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            BoundedProj::Running {
                fut,
                deadline,
                slot,
                bounds,
            } => {
                if let Poll::Ready(res) = fut.poll(cx) {
                    slot.take();
                    return Poll::Ready(res);
                }
                let deadline =
                    deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(bounds.timeout)));
                if deadline.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                slot.take();
                bounds.timed_out.increment(1);
                Poll::Ready(Ok(ApiError::TimedOut.into_response()))
            }
            BoundedProj::Shed { response } => {
                Poll::Ready(Ok(response.take().unwrap_or_else(|| {
                    ApiError::Internal("response polled after completion".into()).into_response()
                })))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tokio::sync::Semaphore;
    use tower::{service_fn, ServiceExt};

    use super::*;

    async fn json(res: Response<Body>) -> serde_json::Value {
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    fn get(path: &str) -> Request<Body> {
        Request::get(path).body(Body::empty()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_handler_slower_than_the_timeout_is_answered_with_the_json_503() {
        let bounds = RequestBounds::new(Duration::from_millis(300), 8);
        let svc = bounds.layer(service_fn(|req: Request<Body>| async move {
            if req.uri().path() == "/slow" {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Ok::<_, Infallible>(Response::new(Body::from("fine")))
        }));
        let res = svc.clone().oneshot(get("/slow")).await.unwrap();
        assert_eq!(res.status(), 503);
        assert!(!res.headers().contains_key("retry-after"));
        let body = json(res).await;
        assert_eq!(body["type"], "ServiceUnavailableError");
        assert!(body["error"].is_string());
        assert_eq!(bounds.in_flight(), 0, "the timed-out request left no slot");

        let res = svc.oneshot(get("/fast")).await.unwrap();
        assert_eq!(res.status(), 200);
    }

    #[tokio::test]
    async fn past_the_bound_requests_are_shed_at_once_but_probes_still_answer() {
        let bounds = RequestBounds::new(Duration::from_secs(3600), 2);
        let gate = Arc::new(Semaphore::new(0));
        let svc = {
            let gate = gate.clone();
            bounds.layer(service_fn(move |_req: Request<Body>| {
                let gate = gate.clone();
                async move {
                    let _permit = gate.acquire().await;
                    Ok::<_, Infallible>(Response::new(Body::from("done")))
                }
            }))
        };
        // Two requests held in their handler fill the bound.
        let held: Vec<_> = (0..2)
            .map(|_| tokio::spawn(svc.clone().oneshot(get("/posts"))))
            .collect();
        while bounds.in_flight() < 2 {
            tokio::task::yield_now().await;
        }

        let res = svc.clone().oneshot(get("/posts")).await.unwrap();
        assert_eq!(res.status(), 503);
        assert_eq!(res.headers()["retry-after"], "1");
        assert_eq!(json(res).await["type"], "ServiceUnavailableError");

        // Probes are neither shed nor counted (their handler is the same held one here, so
        // only that they reached it is checked).
        let probe = tokio::spawn(svc.clone().oneshot(get("/health/liveness")));
        tokio::task::yield_now().await;
        assert_eq!(bounds.in_flight(), 2);

        gate.add_permits(3);
        for h in held {
            assert_eq!(h.await.unwrap().unwrap().status(), 200);
        }
        assert_eq!(probe.await.unwrap().unwrap().status(), 200);
        assert_eq!(bounds.in_flight(), 0);
        let res = svc.oneshot(get("/posts")).await;
        assert_eq!(
            res.unwrap().status(),
            200,
            "served again once below the bound"
        );
    }
}
