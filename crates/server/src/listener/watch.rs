//! The timers of one connection, in the socket: while no request is being handled, a
//! connection must send a request head in time or be closed.
//!
//! hyper's own `header_read_timeout` cannot do this: it restarts when a kept-alive connection
//! goes idle, so the idle wait and the head's arrival share one timer. Here they are two:
//!
//! - the first request's head must be complete `HTTP_HEADER_TIMEOUT_MS` after the connection
//!   opened;
//! - while a request is in its handler no timer runs here: `HTTP_REQUEST_TIMEOUT_MS` bounds it;
//! - while its response is sent, each write must make progress within `HTTP_IDLE_TIMEOUT_MS`
//!   of the last (a client that does not read its answer is cut off; a long stream that keeps
//!   writing is not);
//! - once the response is sent, the next request's first byte must come within
//!   `HTTP_IDLE_TIMEOUT_MS`, and its head must be complete `HTTP_HEADER_TIMEOUT_MS` after that
//!   first byte.
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

use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
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
    /// Requests in their handler (one at a time in HTTP/1.1; counts so nothing can underflow).
    handling: usize,
    /// Responses being sent.
    sending: usize,
    /// When the response being sent last made progress.
    progress: Instant,
    /// No request has reached its handler yet.
    first: bool,
    /// When the last response was sent.
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
            sending: 0,
            progress: now,
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
        if p.handling == 0 && p.sending == 0 && p.head_started.is_none() {
            p.head_started = Some(Instant::now());
        }
    }

    fn bytes_written(&self) {
        let mut p = self.phase();
        if p.sending > 0 {
            p.progress = Instant::now();
        }
    }

    /// When the connection must have made progress by, or `None` while a handler runs. With
    /// no deadline the task's waker is kept, to be woken when the handler is done.
    fn deadline(&self, t: &Timeouts, waker: &Waker) -> Option<(Instant, Reason)> {
        let mut p = self.phase();
        if p.handling > 0 {
            if !p.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                p.waker = Some(waker.clone());
            }
            return None;
        }
        Some(if p.sending > 0 {
            (p.progress + t.idle, Reason::Idle)
        } else if p.first {
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

impl Handling {
    /// The handler answered: its response is being sent until the returned guard is dropped
    /// (hyper drops the body once it is all written).
    pub fn answered(self) -> Sending {
        let clock = self.0.clone();
        {
            let mut p = clock.phase();
            p.sending += 1;
            p.progress = Instant::now();
        }
        // Counted as sending before the handler stops counting: never idle in between.
        drop(self);
        Sending(clock)
    }
}

impl Drop for Handling {
    fn drop(&mut self) {
        let waker = {
            let mut p = self.0.phase();
            p.handling = p.handling.saturating_sub(1);
            if p.handling > 0 {
                return;
            }
            if p.sending == 0 {
                p.idle_since = Instant::now();
                p.head_started = None;
            }
            p.waker.take()
        };
        // Woken so the next deadline is armed even if hyper is not reading just now.
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// A response being sent.
pub struct Sending(Arc<Clock>);

impl Drop for Sending {
    fn drop(&mut self) {
        let mut p = self.0.phase();
        p.sending = p.sending.saturating_sub(1);
        if p.sending == 0 && p.handling == 0 {
            p.idle_since = Instant::now();
            p.head_started = None;
        }
    }
}

pin_project! {
    /// A response body that keeps its connection in the sending phase while it lives.
    pub struct SendingBody {
        #[pin]
        body: Body,
        _sending: Sending,
    }
}

impl SendingBody {
    pub fn new(body: Body, sending: Sending) -> Self {
        SendingBody {
            body,
            _sending: sending,
        }
    }
}

impl http_body::Body for SendingBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
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
    // Re-armed only when the deadline moved earlier. Each response moves it later, and moving
    // a registered timer is a trip through the runtime's timer wheel, once per request; a timer
    // left at an earlier deadline instead fires early, now and then, and is moved on then.
    if this.armed.is_none_or(|armed| at < armed) {
        this.timer.as_mut().reset(at);
        *this.armed = Some(at);
    }
    if this.timer.as_mut().poll(cx).is_pending() {
        return Poll::Pending;
    }
    if Instant::now() < at {
        this.timer.as_mut().reset(at);
        *this.armed = Some(at);
        if this.timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
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

/// A write's outcome: progress is noted; a blocked write waits on the deadline.
fn progress<T>(
    this: &mut WatchedProj<'_, T>,
    cx: &mut Context<'_>,
    written: Poll<io::Result<usize>>,
) -> Poll<io::Result<usize>> {
    match written {
        Poll::Ready(Ok(n)) if n > 0 => {
            this.clock.bytes_written();
            Poll::Ready(Ok(n))
        }
        Poll::Pending => check(this, cx).map(Err),
        done => done,
    }
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
        let written = this.io.as_mut().poll_write(cx, buf);
        progress(&mut this, cx, written)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut this = self.project();
        let written = this.io.as_mut().poll_write_vectored(cx, bufs);
        progress(&mut this, cx, written)
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

#[cfg(test)]
mod tests;
