//! The feed's background side: the outbox relay and the fan-out workers (`FEED_STRATEGY=fanout`),
//! and what `/health` and `/metrics` say of them.
//!
//! Every `socialscale` server runs them (`FEED_WORKERS` tasks, 2 by default); `socialscale
//! worker` runs only them, for a separate worker tier. With the pull strategy the relay still
//! runs, deleting outbox rows once they are a minute old (the database writes them whatever the
//! strategy; see `relay`).

mod relay;
mod workers;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use domain::ports::{FeedEventStream, FeedOutbox, LiveLog, TimelineStore};
use domain::services::{FanoutService, FanoutSettings, FeedStats};
use http_adapter::{FeedHealth, FeedReport};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{FeedConfig, FeedStrategy};

/// The fan-out's stores, present with `FEED_STRATEGY=fanout`.
#[derive(Clone)]
pub struct FanoutStores {
    pub timelines: Arc<dyn TimelineStore>,
    pub stream: Arc<dyn FeedEventStream>,
}

/// What the relay and the workers report, read by `/health` and the metrics render.
#[derive(Debug, Default)]
pub struct FeedState {
    pub workers: AtomicU64,
    /// The last relay round could not reach the stream.
    pub relay_waiting: AtomicBool,
    pub outbox_backlog: AtomicU64,
    pub stream_lag: AtomicU64,
    pub events_handled: AtomicU64,
}

/// The relay and the workers of one process.
#[derive(Clone)]
pub struct FeedTier {
    config: FeedConfig,
    outbox: Arc<dyn FeedOutbox>,
    fanout: Option<(FanoutStores, FanoutService)>,
    /// Where `GET /stream` reads events from: the relay appends every outbox row to it.
    live: Option<Arc<dyn LiveLog>>,
    state: Arc<FeedState>,
    /// This process's name in the consumer group (workers add their index).
    instance: String,
}

impl FeedTier {
    pub fn new(
        config: FeedConfig,
        outbox: Arc<dyn FeedOutbox>,
        fanout: Option<(FanoutStores, FanoutService)>,
        live: Option<Arc<dyn LiveLog>>,
    ) -> Self {
        FeedTier {
            config,
            outbox,
            fanout,
            live,
            state: Arc::default(),
            instance: format!("{}-{}", hostname(), uuid::Uuid::now_v7().simple()),
        }
    }

    pub fn fanout_settings(config: &FeedConfig) -> FanoutSettings {
        FanoutSettings {
            fanout_limit: config.fanout_limit,
            ..FanoutSettings::default()
        }
    }

    /// `FEED_WORKERS`: how many worker tasks a server runs.
    pub fn workers(&self) -> usize {
        self.config.workers
    }

    /// Starts the relay and `workers` worker tasks; they stop when `stop` is cancelled, each
    /// after the batch in hand.
    pub fn spawn(&self, stop: &CancellationToken, workers: usize) -> Vec<JoinHandle<()>> {
        let sinks = relay::Sinks {
            stream: self
                .fanout
                .as_ref()
                .map(|(stores, _)| stores.stream.clone()),
            live: self.live.clone(),
        };
        let mut tasks = vec![relay::spawn(
            self.outbox.clone(),
            sinks,
            self.state.clone(),
            stop.clone(),
        )];
        if let Some((stores, service)) = &self.fanout {
            for i in 0..workers {
                tasks.push(workers::spawn(
                    workers::Worker {
                        name: format!("{}-{i}", self.instance),
                        stream: stores.stream.clone(),
                        fanout: service.clone(),
                        claim_idle: self.config.claim_idle,
                        state: self.state.clone(),
                    },
                    stop.clone(),
                ));
            }
        }
        tasks
    }

    /// `/health`'s feed section.
    pub fn report(&self) -> FeedReport {
        let state = self.state.clone();
        let strategy = match self.config.strategy {
            FeedStrategy::Pull => "pull",
            FeedStrategy::Fanout => "fanout",
        };
        Arc::new(move || FeedHealth {
            strategy,
            workers: state.workers.load(Ordering::Relaxed),
            relay: if state.relay_waiting.load(Ordering::Relaxed) {
                "waiting"
            } else {
                "ok"
            },
            outbox_backlog: state.outbox_backlog.load(Ordering::Relaxed),
            stream_lag: state.stream_lag.load(Ordering::Relaxed),
            events_handled: state.events_handled.load(Ordering::Relaxed),
        })
    }

    /// Sets the gauges of the feed's state and the read path's counters (called on each
    /// `/metrics` scrape).
    pub fn record(&self, reads: &FeedStats) {
        let s = &self.state;
        metrics::gauge!("feed_outbox_backlog").set(s.outbox_backlog.load(Ordering::Relaxed) as f64);
        metrics::gauge!("feed_stream_lag").set(s.stream_lag.load(Ordering::Relaxed) as f64);
        metrics::gauge!("feed_workers").set(s.workers.load(Ordering::Relaxed) as f64);
        for (name, value) in [
            ("feed_timeline_reads_total", &reads.timeline_reads),
            ("feed_rebuilds_total", &reads.rebuilds),
            ("feed_pulled_merges_total", &reads.pulled_merges),
            ("feed_fallbacks_total", &reads.fallbacks),
        ] {
            metrics::counter!(name).absolute(value.load(Ordering::Relaxed));
        }
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "socialscale".to_owned())
}

/// The live log `GET /stream` reads: one Redis stream shared by every instance, or without
/// Redis the process's own.
pub fn live_log(
    config: &crate::config::Config,
    redis: Option<&Arc<redis_adapter::RedisShared>>,
) -> Arc<dyn LiveLog> {
    let history = config.stream.history;
    match redis {
        Some(redis) => Arc::new(redis_adapter::RedisLiveLog::new(redis.clone(), history)),
        None => Arc::new(local::LiveMemoryLog::new(history)),
    }
}

/// The feed tier the configuration asks for, over the database and the shared tier's Redis,
/// appending to `live` when given; also the timelines the read path uses (with fan-out).
pub fn build(
    config: &crate::config::Config,
    database: &crate::backends::Database,
    redis: Option<&Arc<redis_adapter::RedisShared>>,
    live: Option<Arc<dyn LiveLog>>,
) -> (Option<Arc<dyn TimelineStore>>, FeedTier) {
    let feed = config.feed;
    let stores = match (feed.strategy, redis) {
        (FeedStrategy::Fanout, Some(redis)) => {
            let settings = redis_adapter::TimelineSettings {
                cap: feed.cap,
                inactive: feed.inactive,
                ..redis_adapter::TimelineSettings::default()
            };
            let timelines: Arc<dyn TimelineStore> =
                Arc::new(redis_adapter::RedisTimelines::new(redis.clone(), settings));
            let stream: Arc<dyn FeedEventStream> =
                Arc::new(redis_adapter::RedisFeedStream::new(redis.clone()));
            Some(FanoutStores { timelines, stream })
        }
        // `Config` refuses fan-out without Redis; pull needs neither.
        _ => None,
    };
    let fanout = stores.clone().map(|stores| {
        let service = FanoutService::new(
            database.users.clone(),
            database.posts.clone(),
            database.follows.clone(),
            stores.timelines.clone(),
            FeedTier::fanout_settings(&feed),
        );
        (stores, service)
    });
    let tier = FeedTier::new(feed, database.outbox.clone(), fanout, live);
    (stores.map(|s| s.timelines), tier)
}

/// Waits for the feed's tasks to stop (after cancellation), for at most `grace`.
pub async fn join(tasks: Vec<JoinHandle<()>>, grace: std::time::Duration) {
    let all = async {
        for t in tasks {
            let _ = t.await;
        }
    };
    if tokio::time::timeout(grace, all).await.is_err() {
        tracing::warn!("feed workers did not stop within the grace period");
    }
}
