//! The accept loop: HTTP/1.1 connections served by hyper, each bounded in time (`watch`) and
//! all of them in number (`HTTP_MAX_CONNECTIONS`, fitted to the open-file limit by
//! `fd_limit`).
//!
//! In place of `axum::serve`, which runs hyper without a header-read timer and accepts without
//! bound: a few thousand half-sent requests would hold their sockets for ever and exhaust the
//! process's file descriptors. HTTP/1.1 only, as before (axum's `http2` feature was never on).
//!
//! A connection past the cap is accepted and closed at once: the client learns at once (and a
//! proxy tries another instance) rather than waiting in the kernel's backlog, and the backlog
//! never fills with connections nobody will serve. As connections close, new ones are served
//! again.

mod fd_limit;
mod watch;

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use futures_util::future::Either;
use http_adapter::HttpService;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use metrics::Counter;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::util::Oneshot;
use tower::{Service, ServiceExt};

use watch::{Clock, SendingBody, Timeouts, Watched};

use crate::config::HttpLimits;

/// The open connections and the cap, shared with whoever reports them (`/metrics`).
#[derive(Clone)]
pub struct Connections(Arc<Counts>);

struct Counts {
    open: AtomicUsize,
    cap: usize,
    refused: Counter,
}

impl Connections {
    /// Fits `HTTP_MAX_CONNECTIONS` to the open-file limit (raising the soft limit if it can);
    /// the error is one line naming the setting.
    pub fn new(limits: &HttpLimits) -> Result<Connections, String> {
        let cap = fd_limit::fit(limits.max_connections)?;
        let refused = metrics::counter!("http_connections_refused_total");
        refused.increment(0);
        Ok(Connections(Arc::new(Counts {
            open: AtomicUsize::new(0),
            cap,
            refused,
        })))
    }

    pub fn open(&self) -> usize {
        self.0.open.load(Ordering::Relaxed)
    }

    pub fn cap(&self) -> usize {
        self.0.cap
    }

    /// Samples the gauges (at each scrape: nothing is paid per connection for them).
    pub fn record(&self) {
        metrics::gauge!("http_connections_open").set(self.open() as f64);
        metrics::gauge!("http_connections_max").set(self.cap() as f64);
    }
}

/// One open connection, counted until its task ends.
struct Open(Arc<Counts>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves `service` on `listener` until `stop_accepting` resolves; then stops accepting, asks
/// every open connection to close once its current response is sent (idle ones close at once)
/// and returns when they all have.
pub async fn serve(
    listener: TcpListener,
    service: HttpService,
    limits: &HttpLimits,
    connections: Connections,
    stop_accepting: impl Future<Output = ()>,
) {
    let timeouts = Timeouts::new(limits.header_timeout, limits.idle_timeout);
    let mut builder = http1::Builder::new();
    // Our own timers in `watch` replace hyper's (see there why); none of hyper's is armed.
    builder.header_read_timeout(None);
    let tasks = TaskTracker::new();
    let close = CancellationToken::new();
    let counts = connections.0;
    let mut refusals = Refusals::default();
    tokio::pin!(stop_accepting);
    loop {
        let accepted = tokio::select! {
            () = &mut stop_accepting => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors or memory: waiting lets connections close meanwhile.
                tracing::error!(error = %e, "cannot accept a connection; retrying in 1 s");
                tokio::select! {
                    () = &mut stop_accepting => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        if counts.open.load(Ordering::Relaxed) >= counts.cap {
            counts.refused.increment(1);
            refusals.note(counts.cap);
            drop(stream);
            continue;
        }
        // Only this loop adds, so the check above cannot be raced past.
        counts.open.fetch_add(1, Ordering::Relaxed);
        let open = Open(counts.clone());
        let connection = Connection {
            stream,
            peer,
            service: service.clone(),
            timeouts: timeouts.clone(),
            close: close.clone(),
            _open: open,
        };
        tasks.spawn(connection.run(builder.clone()));
    }
    drop(listener);
    close.cancel();
    tasks.close();
    tasks.wait().await;
}

/// The warning about refused connections, at most one per [`Refusals::EVERY`]: at the cap,
/// every closing connection lets one in and the next is refused, and a line for each would
/// flood the log during the very attack it reports.
#[derive(Default)]
struct Refusals {
    last_warned: Option<tokio::time::Instant>,
    unreported: u64,
}

impl Refusals {
    const EVERY: Duration = Duration::from_secs(10);

    fn note(&mut self, cap: usize) {
        self.unreported += 1;
        if self
            .last_warned
            .is_some_and(|at| at.elapsed() < Self::EVERY)
        {
            return;
        }
        tracing::warn!(
            max_connections = cap,
            refused = self.unreported,
            "connection cap reached (HTTP_MAX_CONNECTIONS): closing new connections at once"
        );
        self.last_warned = Some(tokio::time::Instant::now());
        self.unreported = 0;
    }
}

/// One accepted connection, counted as open until it is dropped.
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    service: HttpService,
    timeouts: Timeouts,
    /// Cancelled when the server stops: finish the response under way (if any) and close.
    close: CancellationToken,
    _open: Open,
}

impl Connection {
    async fn run(self, builder: http1::Builder) {
        let Connection {
            stream,
            peer,
            service,
            timeouts,
            close,
            _open,
        } = self;
        let clock = Clock::new();
        let io = TokioIo::new(Watched::new(stream, clock.clone(), timeouts));
        // One service per connection, called in place: hyper hands the closure `&self`, and
        // cloning the whole stack per request (what `oneshot` on a clone does) was an
        // allocation and a large move each time. HTTP/1.1 handles one request at a time on a
        // connection, and `call` returns before the next can arrive, so the borrow never
        // overlaps another.
        let service = RefCell::new(service);
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let mut req = req.map(Body::new);
            // What `into_make_service_with_connect_info` did: handlers and limiters key by it.
            req.extensions_mut().insert(ConnectInfo(peer));
            let handling = clock.handling();
            let response = call(&service, req);
            async move {
                let response = response.await;
                let sending = handling.answered();
                response.map(|res| res.map(|body| SendingBody::new(body, sending)))
            }
        });
        let connection = builder.serve_connection(io, service);
        tokio::pin!(connection);
        let result = tokio::select! {
            result = connection.as_mut() => result,
            () = close.cancelled() => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(e) = result {
            // Timeouts, resets, malformed requests: the client's doing, not ours.
            tracing::debug!(error = %e, %peer, "connection ended with an error");
        }
    }
}

/// The response to `req`. Every layer of [`HttpService`] is ready whenever the router is, and
/// axum's router always is; should that ever change, the request waits for readiness on a clone
/// instead (tower's contract: `call` only after `poll_ready` said ready).
fn call(
    service: &RefCell<HttpService>,
    req: Request<Body>,
) -> Either<<HttpService as Service<Request<Body>>>::Future, Oneshot<HttpService, Request<Body>>> {
    let mut service = service.borrow_mut();
    let mut cx = Context::from_waker(Waker::noop());
    match Service::<Request<Body>>::poll_ready(&mut *service, &mut cx) {
        Poll::Ready(Ok(())) => Either::Left(service.call(req)),
        _ => Either::Right(service.clone().oneshot(req)),
    }
}

/// Errors that concern one connection only (it went away before we took it).
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
