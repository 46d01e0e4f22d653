//! The one layer each route carries, built with the router: the route's metrics series and,
//! on API routes, the drain check and the route's own rate limit.
//!
//! One layer per route on purpose: every axum `route_layer` is a boxed service cloned per
//! request, so the per-route concerns share one.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use axum::extract::Request;
use axum::http::Method;
use axum::response::Response;
use pin_project_lite::pin_project;
use tower::{Layer, Service, ServiceExt};

use super::drain;
use super::metrics::RouteSeries;
use super::rate_limit::Limit;

#[derive(Clone)]
pub struct RouteLayer(Arc<RouteConfig>);

struct RouteConfig {
    series: RouteSeries,
    /// `None` on probes, `/metrics` and docs: never drained or limited.
    limit: Option<Limit>,
}

impl RouteLayer {
    /// A route that is only measured.
    pub fn open(route: &'static str) -> Self {
        RouteLayer(Arc::new(RouteConfig {
            series: RouteSeries::new(route),
            limit: None,
        }))
    }

    /// An API route: measured, refused while draining, and limited by `limit`.
    pub fn limited(route: &'static str, limit: Limit) -> Self {
        RouteLayer(Arc::new(RouteConfig {
            series: RouteSeries::new(route),
            limit: Some(limit),
        }))
    }
}

impl<S> Layer<S> for RouteLayer {
    type Service = RouteService<S>;

    fn layer(&self, inner: S) -> RouteService<S> {
        RouteService {
            inner,
            config: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RouteService<S> {
    inner: S,
    config: Arc<RouteConfig>,
}

type Boxed = Pin<Box<dyn Future<Output = Response> + Send>>;

impl<S> Service<Request> for RouteService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Tracked<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let start = Instant::now();
        let method = req.method().clone();
        let inner = match &self.config.limit {
            None => Inner::Direct {
                fut: self.inner.call(req),
            },
            Some(_) => {
                // The limiter is asynchronous, so the inner service moves into the future (a
                // ready clone stays behind for the next call, as tower expects).
                let clone = self.inner.clone();
                let next = std::mem::replace(&mut self.inner, clone);
                let config = self.config.clone();
                Inner::Guarded {
                    fut: Box::pin(async move {
                        let Some(limit) = &config.limit else {
                            return respond(next, req).await;
                        };
                        // Before the limiter: a request refused for the drain spends no budget.
                        let Some(admitted) = limit.state().shutdown.admit() else {
                            return drain::refusal();
                        };
                        let res = limit.apply(req, |req| respond(next, req)).await;
                        drop(admitted);
                        res
                    }),
                }
            }
        };
        Tracked {
            inner,
            start,
            method,
            config: self.config.clone(),
        }
    }
}

async fn respond<S>(next: S, req: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    match next.oneshot(req).await {
        Ok(res) => res,
        Err(never) => match never {},
    }
}

pin_project! {
    #[project = InnerProj]
    pub enum Inner<F> {
        Direct { #[pin] fut: F },
        Guarded { fut: Boxed },
    }
}

pin_project! {
    /// The route's response, recorded in its series when it is ready.
    pub struct Tracked<F> {
        #[pin]
        inner: Inner<F>,
        start: Instant,
        method: Method,
        config: Arc<RouteConfig>,
    }
}

impl<F> Future for Tracked<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = match this.inner.project() {
            InnerProj::Direct { fut } => ready!(fut.poll(cx))?,
            InnerProj::Guarded { fut } => ready!(fut.as_mut().poll(cx)),
        };
        this.config
            .series
            .record(this.method, res.status(), this.start.elapsed());
        Poll::Ready(Ok(res))
    }
}
