//! `GET /stream`'s engine: the instance's open streams, fed by one task tailing the live log.
//!
//! Every instance tails the same log (Redis, or the process's own on the embedded default)
//! and routes each event only to its own streams, by an index of who follows whom that each
//! stream loads when it opens and the log's follow events keep current. A post is read and
//! rendered once per instance, whatever the number of streams it goes to.
//!
//! A stream opens in three steps that leave no gap: it is registered (from then on events
//! reach it live, after the registry's cursor), the log is replayed from where the client was
//! up to that cursor, and `ready` marks the switch. Registering and routing an event take the
//! same lock, so an event is either live for a stream or before its cursor, never neither.

mod frames;
mod registry;
mod subscription;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use domain::error::PostError;
use domain::model::{FeedEvent, Identity, LiveEvent, LiveEventId, PostId, Replay, UserId};
use domain::ports::LiveLog;
use domain::services::Services;
use domain::StoreError;
use tokio::sync::mpsc;

use crate::dto::PostDto;
use frames::Frame;
pub(crate) use registry::Refused;
use registry::Registry;
pub(crate) use subscription::Subscription;

/// `STREAM_*`.
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// Streams one instance holds open.
    pub max_connections: usize,
    /// Streams one user holds open on one instance.
    pub max_per_user: usize,
    /// Frames queued for one stream before it counts as too slow and is closed.
    pub buffer: usize,
    pub heartbeat: Duration,
    /// The most events a resuming client is replayed; further behind it gets `reset`.
    pub replay_max: usize,
    /// How often the credentials of open streams are checked for revocation (a logout, a
    /// revoked API key): a stream outlives its credential's expiry, not its revocation.
    pub revalidate: Duration,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            max_connections: 10_000,
            max_per_user: 5,
            buffer: 256,
            heartbeat: Duration::from_secs(15),
            replay_max: 10_000,
            revalidate: Duration::from_secs(30),
        }
    }
}

/// Events read from the log per call.
const READ_BATCH: usize = 1_000;
/// How long a read waits for new events before it asks again.
const READ_WAIT: Duration = Duration::from_secs(1);
/// The wait after the log could not be read.
const RETRY: Duration = Duration::from_secs(1);

/// Where a client resumes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resume {
    /// No `Last-Event-ID`: from now.
    Fresh,
    From(LiveEventId),
    /// A `Last-Event-ID` that is not one of ours: `reset`.
    Unknown,
}

/// The open streams of this instance; cheap to clone.
#[derive(Clone)]
pub struct StreamHub(Arc<Hub>);

struct Hub {
    log: Arc<dyn LiveLog>,
    services: Services,
    options: StreamOptions,
    registry: Mutex<Registry>,
}

impl StreamHub {
    pub fn new(log: Arc<dyn LiveLog>, services: Services, options: StreamOptions) -> Self {
        let registry = Registry::new(options.max_connections, options.max_per_user);
        // Every series exists from the start at zero, so dashboards and alerts see a quiet
        // instance rather than a missing one.
        metrics::gauge!("stream_connections").increment(0.0);
        for counter in [
            "stream_events_total",
            "stream_slow_closed_total",
            "stream_replayed_events_total",
            "stream_revoked_closed_total",
        ] {
            metrics::counter!(counter).increment(0);
        }
        StreamHub(Arc::new(Hub {
            log,
            services,
            options,
            registry: Mutex::new(registry),
        }))
    }

    pub fn options(&self) -> &StreamOptions {
        &self.0.options
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // Nothing under this lock can panic half-way through an update that matters: a
        // poisoned registry is still a consistent one.
        self.0
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends every stream and refuses new ones: the instance is draining, and its clients
    /// should reconnect elsewhere now rather than when the process exits.
    pub fn close(&self) {
        self.registry().close();
    }

    /// Tails the log and routes its events, and checks the open streams' credentials, until
    /// `stop` resolves.
    pub async fn run(&self, stop: impl std::future::Future<Output = ()>) {
        tokio::select! {
            () = self.tail() => {}
            () = self.revalidate_every(self.0.options.revalidate) => {}
            () = stop => {}
        }
    }

    /// Ends, every `period`, the streams whose credential was revoked since they opened.
    async fn revalidate_every(&self, period: Duration) {
        let mut tick = tokio::time::interval(period.max(Duration::from_millis(100)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let mut revoked = Vec::new();
            let mut unknown = None;
            // Taken before the loop: the registry's lock is never held across an await.
            let open = self.registry().identities();
            for identity in open {
                match self.0.services.auth.still_valid(&identity).await {
                    Ok(true) => {}
                    Ok(false) => revoked.push(identity),
                    // Unknown is not revoked: the next round asks again.
                    Err(e) => unknown = Some(e),
                }
            }
            if let Some(e) = unknown {
                // Once a round, not once a stream: with the database away every check fails.
                tracing::warn!(error = %e, "live stream: cannot check some credentials");
            }
            if !revoked.is_empty() {
                let closed = self.registry().close_opened_with(&revoked);
                metrics::counter!("stream_revoked_closed_total").increment(closed as u64);
            }
        }
    }

    /// Tails the log and routes its events (forever; `run` stops it).
    async fn tail(&self) {
        // Start at the head: what came before belongs to replays, not to live streams (and a
        // log read from its start would send every client its whole history).
        let mut cursor = loop {
            match self.0.log.head().await {
                Ok(head) => break head,
                Err(e) => tracing::warn!(error = %e, "live stream: cannot read the log's head"),
            }
            tokio::time::sleep(RETRY).await;
        };
        self.registry().start_at(cursor);
        loop {
            match self.0.log.read_after(cursor, READ_BATCH, READ_WAIT).await {
                Ok(events) => {
                    for ev in events {
                        self.route(ev).await;
                        cursor = ev.id;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "live stream: cannot read the log");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }

    async fn route(&self, ev: LiveEvent) {
        let (author, frame) = match ev.entry.event {
            FeedEvent::Posted { post, author } => {
                if !self.registry().interested(author) {
                    self.registry().passed(ev.id);
                    return;
                }
                match self.post_json(post).await {
                    Some(json) => (author, frames::post(ev.id, &json)),
                    None => {
                        self.registry().passed(ev.id);
                        return;
                    }
                }
            }
            FeedEvent::Deleted { post, author } => (author, frames::delete(ev.id, post, author)),
            FeedEvent::Followed { follower, followee } => {
                self.registry()
                    .follow_changed(ev.id, follower, followee, true);
                return;
            }
            FeedEvent::Unfollowed { follower, followee } => {
                self.registry()
                    .follow_changed(ev.id, follower, followee, false);
                return;
            }
        };
        let slow = self.registry().deliver(ev.id, author, &frame);
        metrics::counter!("stream_events_total").increment(1);
        if slow > 0 {
            metrics::counter!("stream_slow_closed_total").increment(slow as u64);
        }
        // Lets the streams write what was queued before the next event is routed: a batch
        // read from the log would otherwise fill every queue in one go, and a queue that
        // fills counts its reader as too slow however fast it reads.
        tokio::task::yield_now().await;
    }

    /// The post as the API renders it; `None` when it is gone (its deletion follows) or
    /// cannot be read now (its readers see it on their next timeline read).
    async fn post_json(&self, id: PostId) -> Option<String> {
        match self.0.services.posts.get(id).await {
            Ok(post) => serde_json::to_string(&PostDto::from(post)).ok(),
            Err(PostError::NotFound) => None,
            Err(e) => {
                tracing::warn!(error = %e, post = %id, "live stream: cannot read a post");
                None
            }
        }
    }

    /// Opens a stream for `identity` (authenticated already), resuming as asked.
    pub(crate) async fn subscribe(
        &self,
        identity: Identity,
        resume: Resume,
    ) -> Result<Subscription, Opening> {
        let user = identity.user;
        let before = {
            let r = self.registry();
            r.admits(user).map_err(Opening::Refused)?;
            r.cursor()
        };
        let follows: HashSet<UserId> = self
            .0
            .services
            .users
            .followee_ids(user)
            .await
            .map_err(Opening::Store)?
            .into_iter()
            .collect();
        let (tx, rx) = mpsc::channel(self.0.options.buffer.max(1));
        let registered = self
            .registry()
            .register(identity, follows, tx)
            .map_err(Opening::Refused)?;
        // From here on dropping the subscription unregisters the stream.
        let mut sub = Subscription::new(self.clone(), registered.id, rx);
        let live_after = registered.live_after;
        let from = match resume {
            // Nothing routed yet (the tailer has not read the log's head): nothing to miss.
            Resume::Fresh if before == LiveEventId::ZERO => Some(live_after),
            // Events routed while the followees loaded are replayed; if that cannot be done the
            // client is told to reload, like a resuming one, rather than silently missing them.
            Resume::Fresh => Some(before),
            Resume::From(id) => Some(id),
            Resume::Unknown => None,
        };
        let mut last = live_after;
        match from {
            None => sub.push(frames::reset()),
            Some(from) if from == live_after => {}
            // Past the cursor too, the log is asked: a client coming from an instance whose
            // tailer was ahead of this one's resumes from where it was, but a position the log
            // never handed out is a reset.
            Some(from) => match self.replay(registered.id, from, live_after).await {
                Some(frames) => {
                    frames.into_iter().for_each(|f| sub.push(f));
                    last = last.max(from);
                }
                None => sub.push(frames::reset()),
            },
        }
        sub.push(frames::ready(last, self.0.options.heartbeat.as_secs()));
        sub.set_last(last);
        Ok(sub)
    }

    /// The frames of the events `stream` wants after `from` up to `until`; `None` when they cannot all
    /// be had (see [`LiveLog::replay`]).
    async fn replay(
        &self,
        stream: registry::StreamId,
        from: LiveEventId,
        until: LiveEventId,
    ) -> Option<Vec<Frame>> {
        let events = match self.0.log.replay(from, self.0.options.replay_max).await {
            Ok(Replay::Events(events)) => events,
            Ok(Replay::Reset) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "live stream: cannot replay the log");
                return None;
            }
        };
        let mut out = Vec::new();
        for ev in events.into_iter().take_while(|ev| ev.id <= until) {
            match ev.entry.event {
                FeedEvent::Posted { post, author } if self.registry().wants(stream, author) => {
                    if let Some(json) = self.post_json(post).await {
                        out.push(frames::post(ev.id, &json));
                    }
                }
                FeedEvent::Deleted { post, author } if self.registry().wants(stream, author) => {
                    out.push(frames::delete(ev.id, post, author));
                }
                _ => {}
            }
        }
        metrics::counter!("stream_replayed_events_total").increment(out.len() as u64);
        Some(out)
    }

    fn unregister(&self, id: registry::StreamId) {
        self.registry().remove(id);
    }
}

/// Why a stream did not open.
#[derive(Debug)]
pub(crate) enum Opening {
    Refused(Refused),
    Store(StoreError),
}
