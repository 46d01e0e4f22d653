//! Concurrency without a runtime: futures polled together on one task.
//!
//! Enough to race adapters against each other: each future's I/O (a socket, a database worker
//! thread) proceeds while the others are polled, so the store sees the requests at once.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};
use std::time::Duration;

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Polls every future on each wake-up until all are done: enough concurrency to exercise single
/// flight without depending on any runtime.
pub(crate) async fn join_all<T>(futures: Vec<BoxFuture<'_, T>>) -> Vec<T> {
    let mut slots: Vec<Option<BoxFuture<'_, T>>> = futures.into_iter().map(Some).collect();
    let mut outputs: Vec<Option<T>> = slots.iter().map(|_| None).collect();
    poll_fn(move |cx| {
        let mut pending = false;
        for (slot, out) in slots.iter_mut().zip(outputs.iter_mut()) {
            if let Some(fut) = slot {
                match fut.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        *out = Some(v);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(outputs.drain(..).flatten().collect())
        }
    })
    .await
}

/// Returns once `d` has passed: a thread of its own sleeps and then wakes the task, so a suite
/// can let one of the futures it races start late without depending on any runtime's timer.
pub(crate) async fn sleep(d: Duration) {
    let state: Arc<Mutex<(bool, Option<Waker>)>> = Arc::default();
    let timer = Arc::clone(&state);
    std::thread::spawn(move || {
        std::thread::sleep(d);
        let mut s = timer.lock().unwrap_or_else(PoisonError::into_inner);
        s.0 = true;
        if let Some(w) = s.1.take() {
            w.wake();
        }
    });
    poll_fn(move |cx| {
        let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
        if s.0 {
            Poll::Ready(())
        } else {
            s.1 = Some(cx.waker().clone());
            Poll::Pending
        }
    })
    .await
}
