//! Acknowledgements of invalidation messages, so that a write returns only once every
//! subscribed instance has dropped the keys from its L1.
//!
//! The writer registers the message's id before publishing, learns from Redis how many
//! subscribers received it, and waits (bounded) until as many acks have arrived through its
//! listener. Acks can arrive before the count is known; both orders complete the wait.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;

struct Waiter {
    /// Subscribers that received the message; `None` until `PUBLISH` has answered.
    needed: Option<u64>,
    seen: u64,
    done: Option<oneshot::Sender<()>>,
}

impl Waiter {
    fn complete_if_done(&mut self) {
        if self.needed.is_some_and(|n| self.seen >= n) {
            if let Some(done) = self.done.take() {
                let _ = done.send(());
            }
        }
    }
}

/// Pending message ids → their waiters. A std mutex: held only to update a counter, never
/// across an `.await`.
#[derive(Default)]
pub(crate) struct Acks {
    waiters: Mutex<HashMap<String, Waiter>>,
}

impl Acks {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiter>> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts waiting for acks of the message `id`; the registration ends when the returned
    /// [`Pending`] is dropped (a cancelled request leaves nothing behind).
    pub(crate) fn register(&self, id: String) -> Pending<'_> {
        let (tx, rx) = oneshot::channel();
        self.lock().insert(
            id.clone(),
            Waiter {
                needed: None,
                seen: 0,
                done: Some(tx),
            },
        );
        Pending { acks: self, id, rx }
    }

    /// One subscriber has applied the message `id`. Unknown ids (timed out, or not ours) are
    /// ignored.
    pub(crate) fn ack(&self, id: &str) {
        if let Some(w) = self.lock().get_mut(id) {
            w.seen = w.seen.saturating_add(1);
            w.complete_if_done();
        }
    }
}

/// One registered message.
pub(crate) struct Pending<'a> {
    acks: &'a Acks,
    id: String,
    rx: oneshot::Receiver<()>,
}

impl Pending<'_> {
    /// Waits until `needed` acks have been seen, at most `within`. `false` on timeout.
    pub(crate) async fn wait(mut self, needed: u64, within: Duration) -> bool {
        if let Some(w) = self.acks.lock().get_mut(&self.id) {
            w.needed = Some(needed);
            w.complete_if_done();
        }
        matches!(tokio::time::timeout(within, &mut self.rx).await, Ok(Ok(())))
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.acks.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn acks_before_or_after_the_count_complete_the_wait() {
        let acks = Acks::default();
        let early = acks.register("a".into());
        acks.ack("a");
        acks.ack("a");
        assert!(early.wait(2, Duration::from_secs(5)).await);

        let late = acks.register("b".into());
        acks.ack("b");
        let waiting = late.wait(2, Duration::from_secs(5));
        tokio::pin!(waiting);
        assert!(futures::poll!(&mut waiting).is_pending());
        acks.ack("b");
        assert!(waiting.await);
        assert!(acks.lock().is_empty(), "registrations end with their wait");
    }

    #[tokio::test(start_paused = true)]
    async fn a_missing_ack_times_out() {
        let acks = Acks::default();
        let p = acks.register("c".into());
        acks.ack("c");
        assert!(!p.wait(2, Duration::from_millis(100)).await);
        acks.ack("c");
        assert!(acks.lock().is_empty());
    }
}
