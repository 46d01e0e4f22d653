//! One open stream as the response body: its first frames (replay, `ready`), then what the
//! hub queues for it, with a heartbeat whenever it has been quiet for a period.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Bytes;
use domain::model::LiveEventId;
use futures::Stream;
use tokio::sync::mpsc::Receiver;
use tokio::time::{interval_at, Instant, Interval, MissedTickBehavior};

use super::frames::{self, Frame};
use super::registry::StreamId;
use super::StreamHub;

pub(crate) struct Subscription {
    hub: StreamHub,
    id: StreamId,
    first: VecDeque<Frame>,
    rx: Receiver<Frame>,
    /// The position sent last: a live frame at or before it was sent by the replay (or the
    /// client had it) and is skipped.
    last: LiveEventId,
    heartbeat: Interval,
}

impl Subscription {
    pub(super) fn new(hub: StreamHub, id: StreamId, rx: Receiver<Frame>) -> Self {
        let period = hub
            .options()
            .heartbeat
            .max(std::time::Duration::from_millis(10));
        let mut heartbeat = interval_at(Instant::now() + period, period);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        metrics::gauge!("stream_connections").increment(1.0);
        Subscription {
            hub,
            id,
            first: VecDeque::new(),
            rx,
            last: LiveEventId::ZERO,
            heartbeat,
        }
    }

    pub(super) fn push(&mut self, frame: Frame) {
        self.first.push_back(frame);
    }

    pub(super) fn set_last(&mut self, last: LiveEventId) {
        self.last = last;
    }
}

impl Stream for Subscription {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(frame) = self.first.pop_front() {
            return Poll::Ready(Some(Ok(frame.bytes)));
        }
        loop {
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(frame)) => {
                    if frame.id.is_some_and(|id| id <= self.last) {
                        continue;
                    }
                    if let Some(id) = frame.id {
                        self.last = id;
                    }
                    self.heartbeat.reset();
                    return Poll::Ready(Some(Ok(frame.bytes)));
                }
                // The hub dropped the sender: too slow, or the instance is draining.
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => break,
            }
        }
        match self.heartbeat.poll_tick(cx) {
            Poll::Ready(_) => Poll::Ready(Some(Ok(frames::heartbeat()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        metrics::gauge!("stream_connections").decrement(1.0);
        self.hub.unregister(self.id);
    }
}
