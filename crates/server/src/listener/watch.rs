//! The timers of one connection, in the socket: while no request is being handled, a
//! connection must send a request head in time or be closed.
//!
//! hyper's own `header_read_timeout` cannot do this: it restarts when a kept-alive connection
//! goes idle, so the idle wait and the head's arrival share one timer. Here they are two:
//!
//! - the first request's head must be complete `HTTP_HEADER_TIMEOUT_MS` after the connection
//!   opened;
//! - after a response is ready, the next request's first byte must come within
//!   `HTTP_IDLE_TIMEOUT_MS` (the response's own delivery counts in it, so a client that does
//!   not read its answer is bounded too), and its head must be complete `HTTP_HEADER_TIMEOUT_MS`
//!   after that first byte;
//! - while a request is in its handler no timer runs here: `HTTP_REQUEST_TIMEOUT_MS` bounds it.
//!
//! The timer is polled whenever a read or write of the connection would block, which is the
//! only time the connection can be stuck; when it strikes the read or write fails, and hyper
//! drops the connection.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use metrics::Counter;
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The two timeouts this module enforces, and their counters.
#[derive(Clone)]
pub struct Timeouts {
    pub header: Duration,
    pub idle: Duration,
    header_closed: Counter,
    idle_closed: Counter,
}

impl Timeouts {
    pub fn new(header: Duration, idle: Duration) -> Self {
        let closed = |reason: &'static str| metrics::counter!("http_connections_timed_out_total", "reason" => reason);
        let (header_closed, idle_closed) = (closed("header"), closed("idle"));
        header_closed.increment(0);
        idle_closed.increment(0);
        Timeouts {
            header,
            idle,
            header_closed,
            idle_closed,
        }
    }
}

/// Where a connection is, shared by its socket (which reads) and its service (which knows when
/// a request is in its handler).
pub struct Clock(Mutex<Phase>);

struct Phase {
    opened: Instant,
    /// Requests in their handler (one at a time in HTTP/1.1; a count so nothing can underflow).
    handling: usize,
    /// No request has reached its handler yet.
    first: bool,
    /// When the last response was ready.
    idle_since: Instant,
    /// The first byte read since then: a request head has begun.
    head_started: Option<Instant>,
    /// The connection's task, woken when a response is ready so the idle timer starts even if
    /// hyper is not reading at that moment.
    waker: Option<Waker>,
}

#[derive(Clone, Copy)]
enum Reason {
    Header,
    Idle,
}

impl Clock {
    pub fn new() -> Arc<Clock> {
        let now = Instant::now();
        Arc::new(Clock(Mutex::new(Phase {
            opened: now,
            handling: 0,
            first: true,
            idle_since: now,
            head_started: None,
            waker: None,
        })))
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        // A panic while holding it leaves only timestamps behind, all still usable.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A request reached its handler; the returned guard marks it done when dropped.
    pub fn handling(self: &Arc<Self>) -> Handling {
        let mut p = self.phase();
        p.handling += 1;
        p.first = false;
        p.head_started = None;
        Handling(self.clone())
    }

    fn bytes_read(&self) {
        let mut p = self.phase();
        if p.handling == 0 && p.head_started.is_none() {
            p.head_started = Some(Instant::now());
        }
    }

    /// When the connection must have made progress by, or `None` while a handler runs. With
    /// no deadline the task's waker is kept, to be woken when one begins.
    fn deadline(&self, t: &Timeouts, waker: &Waker) -> Option<(Instant, Reason)> {
        let mut p = self.phase();
        if p.handling > 0 {
            if !p.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                p.waker = Some(waker.clone());
            }
            return None;
        }
        Some(if p.first {
            (p.opened + t.header, Reason::Header)
        } else if let Some(started) = p.head_started {
            (started + t.header, Reason::Header)
        } else {
            (p.idle_since + t.idle, Reason::Idle)
        })
    }
}

/// A request in its handler.
pub struct Handling(Arc<Clock>);

impl Drop for Handling {
    fn drop(&mut self) {
        let mut p = self.0.phase();
        p.handling = p.handling.saturating_sub(1);
        if p.handling == 0 {
            p.idle_since = Instant::now();
            p.head_started = None;
            if let Some(waker) = p.waker.take() {
                waker.wake();
            }
        }
    }
}

pin_project! {
    /// A socket whose blocked reads and writes fail once its connection's deadline passes.
    #[project = WatchedProj]
    pub struct Watched<T> {
        #[pin]
        io: T,
        clock: Arc<Clock>,
        timeouts: Timeouts,
        timer: Pin<Box<Sleep>>,
        armed: Option<Instant>,
    }
}

impl<T> Watched<T> {
    pub fn new(io: T, clock: Arc<Clock>, timeouts: Timeouts) -> Self {
        let far = Instant::now() + Duration::from_secs(86_400);
        Watched {
            io,
            clock,
            timeouts,
            timer: Box::pin(tokio::time::sleep_until(far)),
            armed: None,
        }
    }
}

/// Called when the socket would block: `Pending` until the deadline, then the error that ends
/// the connection.
fn check<T>(this: &mut WatchedProj<'_, T>, cx: &mut Context<'_>) -> Poll<io::Error> {
    let Some((at, reason)) = this.clock.deadline(this.timeouts, cx.waker()) else {
        return Poll::Pending;
    };
    if *this.armed != Some(at) {
        this.timer.as_mut().reset(at);
        *this.armed = Some(at);
    }
    if this.timer.as_mut().poll(cx).is_pending() {
        return Poll::Pending;
    }
    let what = match reason {
        Reason::Header => {
            this.timeouts.header_closed.increment(1);
            "no complete request head within HTTP_HEADER_TIMEOUT_MS"
        }
        Reason::Idle => {
            this.timeouts.idle_closed.increment(1);
            "idle for HTTP_IDLE_TIMEOUT_MS"
        }
    };
    Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, what))
}

impl<T: AsyncRead> AsyncRead for Watched<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut this = self.project();
        let before = buf.filled().len();
        match this.io.as_mut().poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.clock.bytes_read();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => check(&mut this, cx).map(Err),
        }
    }
}

impl<T: AsyncWrite> AsyncWrite for Watched<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut this = self.project();
        match this.io.as_mut().poll_write(cx, buf) {
            Poll::Pending => check(&mut this, cx).map(Err),
            done => done,
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut this = self.project();
        match this.io.as_mut().poll_write_vectored(cx, bufs) {
            Poll::Pending => check(&mut this, cx).map(Err),
            done => done,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut this = self.project();
        match this.io.as_mut().poll_flush(cx) {
            Poll::Pending => check(&mut this, cx).map(Err),
            done => done,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}
