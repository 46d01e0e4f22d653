//! The composition root: the one place that knows which adapters exist and wires them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use domain::services::{IdempotencyService, LoginLimits, Ports, Services};
use http_adapter::{
    AppDeps, AppState, Health, HttpOptions, HttpService, RequestBounds, RoutePolicies,
    ShutdownFlag, StreamHub,
};
use local::{Argon2Hasher, JwtIssuer, Sha256Secrets, SystemClock, UuidV7Generator};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::backends::{Database, SharedTier};
use crate::config::{Config, HttpLimits};
use crate::listener::{self, Connections};
use crate::telemetry;

/// A built server, bound to its port and ready to run.
pub struct App {
    listener: TcpListener,
    router: HttpService,
    database: Database,
    shutdown: CancellationToken,
    draining: ShutdownFlag,
    grace: Duration,
    limits: HttpLimits,
    connections: Connections,
    keys: IdempotencyService,
    feed: crate::feed::FeedTier,
    stream: StreamHub,
}

/// How often expired idempotency keys are swept. Reads already ignore them, so this only
/// bounds how long their rows stay: a minute's worth of writes per sweep in steady state.
const KEY_SWEEP_PERIOD: Duration = Duration::from_secs(60);

impl App {
    pub async fn build(config: &Config) -> anyhow::Result<App> {
        let s = &config.settings;
        // Installed before any adapter registers its counters, or they would go nowhere.
        let metrics = telemetry::metrics_handle();
        // Before anything is opened: a cap that cannot fit the open-file limit stops start-up.
        let connections = Connections::new(&config.http).map_err(anyhow::Error::msg)?;
        let mut streams = config.stream.clone();
        streams.fit(connections.cap()).map_err(anyhow::Error::msg)?;
        let bounds = RequestBounds::new(config.http.request_timeout, config.http.max_in_flight);
        let shutdown = CancellationToken::new();
        let database = Database::open(config).await?;
        let shared = SharedTier::build(config, &shutdown).await?;
        let hasher = Arc::new(Argon2Hasher::new(config.hashing).context("password hasher")?);
        let ports = Ports {
            users: database.users.clone(),
            posts: database.posts.clone(),
            follows: database.follows.clone(),
            api_keys: database.api_keys.clone(),
            keys: database.keys.clone(),
            secrets: Arc::new(Sha256Secrets),
            cache: shared.cache.clone(),
            hasher,
            tokens: Arc::new(JwtIssuer::new(&config.jwt_secret, s.jwt_ttl)),
            limiter: shared.limiter.clone(),
            clock: Arc::new(SystemClock),
            ids: Arc::new(UuidV7Generator),
        };
        let live = crate::feed::live_log(config, shared.redis.as_ref());
        let (timelines, feed) =
            crate::feed::build(config, &database, shared.redis.as_ref(), Some(live.clone()));
        let services = Services::with_timelines(
            &ports,
            LoginLimits {
                per_address: config.policies.login_failures.clone(),
                per_account: config.policies.login_failures_account.clone(),
            },
            timelines,
        );
        let feed_reads = services.feed.stats();
        let stream = StreamHub::new(live, services.clone(), streams.options);

        let keys = services.idempotency.clone();
        let health = Health::new(
            database.probe.clone(),
            shared.cache_probe.clone(),
            shared.limiter_probe.clone(),
        )
        .with_feed(feed.report());
        let p = &config.policies;
        let draining = ShutdownFlag::default();
        let state = AppState::new(AppDeps {
            services,
            limiter: shared.limiter.clone(),
            policies: RoutePolicies {
                general: p.general.clone(),
                post: p.post.clone(),
                login: p.login.clone(),
                signup: p.signup.clone(),
                api_key: p.api_key.clone(),
                trusted_multiplier: p.trusted_multiplier,
            },
            trusted_proxies: s.trusted_proxies.clone(),
            health,
            metrics: Arc::new({
                let pools = database.pool_gauges();
                let connections = connections.clone();
                let bounds = bounds.clone();
                let feed = feed.clone();
                move || {
                    pools.record();
                    feed.record(&feed_reads);
                    crate::heap::record();
                    connections.record();
                    metrics::gauge!("http_requests_in_flight").set(bounds.in_flight() as f64);
                    metrics.render()
                }
            }),
            version: env!("CARGO_PKG_VERSION"),
            shutdown: draining.clone(),
            rendered: Default::default(),
            stream: stream.clone(),
        });
        let router = http_adapter::router(
            state,
            &HttpOptions {
                cors_origins: config.cors_origins.clone(),
                bounds,
            },
        );
        let listener = TcpListener::bind((s.host, s.port))
            .await
            .with_context(|| format!("cannot listen on {}:{} (HOST/PORT)", s.host, s.port))?;
        Ok(App {
            listener,
            router,
            database,
            shutdown,
            draining,
            grace: Duration::from_secs(s.shutdown_grace_seconds),
            limits: config.http,
            connections,
            keys,
            feed,
            stream,
        })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Cancelling it starts a graceful shutdown.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled, then drains: readiness and new requests
    /// get 503 while in-flight requests finish, for up to the grace period; then it stops
    /// accepting and closes the database pool.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let App {
            listener,
            router,
            database,
            shutdown,
            draining,
            grace,
            limits,
            connections,
            keys,
            feed,
            stream,
        } = self;
        let upkeep = spawn_metrics_upkeep(shutdown.clone());
        let feed_tasks = feed.spawn(&shutdown, feed.workers());
        let sweep = spawn_key_sweep(keys, shutdown.clone());
        let tail = tokio::spawn({
            let stream = stream.clone();
            let stop = shutdown.clone();
            async move { stream.run(stop.cancelled_owned()).await }
        });
        let signal = shutdown.clone();
        let drained = async move {
            signal.cancelled().await;
            draining.begin();
            // Streams never finish on their own: end them now, so their clients reconnect to
            // another instance at once and the drain does not wait the grace period for them.
            stream.close();
            tracing::info!(
                grace_seconds = grace.as_secs(),
                "shutting down: draining in-flight requests"
            );
            // Keep accepting (new requests get 503 and a closed connection) until the requests
            // admitted before the drain are done; then the listener stops accepting and closes
            // idle keep-alive connections.
            draining.drained().await;
        };
        let server = listener::serve(listener, router, &limits, connections, drained);
        let deadline = async {
            shutdown.cancelled().await;
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            () = server => {},
            () = deadline => tracing::warn!("grace period over; dropping the connections still open"),
        }
        upkeep.abort();
        sweep.abort();
        tail.abort();
        // The workers finish the batch in hand (what they do not finish stays pending in the
        // stream, claimed by another worker later).
        crate::feed::join(feed_tasks, grace).await;
        database.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Histograms in the Prometheus recorder need periodic upkeep; the task stops on shutdown.
fn spawn_metrics_upkeep(stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    let handle = telemetry::metrics_handle();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = tick.tick() => handle.run_upkeep(),
                () = stop.cancelled() => break,
            }
        }
    })
}

/// Deletes expired idempotency keys every [`KEY_SWEEP_PERIOD`] (each run bounded, see
/// `IdempotencyService::sweep`); every instance does, and their sweeps skip each other's rows.
/// Counted in `idempotency_keys_swept_total`; the task stops on shutdown.
fn spawn_key_sweep(
    keys: IdempotencyService,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(KEY_SWEEP_PERIOD);
        loop {
            tokio::select! {
                _ = tick.tick() => match keys.sweep().await {
                    Ok(n) => metrics::counter!("idempotency_keys_swept_total").increment(n),
                    // The next tick tries again; until then expired keys only take room.
                    Err(e) => tracing::warn!(error = %e, "sweeping expired idempotency keys failed"),
                },
                () = stop.cancelled() => break,
            }
        }
    })
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when this is called, not
/// when the future is first polled, so a signal that arrives just after start-up drains the
/// server instead of killing it. Must be called inside the runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, Signal, SignalKind};
        async fn recv(s: std::io::Result<Signal>) {
            match s {
                Ok(mut s) => {
                    s.recv().await;
                }
                // No handler means this signal cannot stop us; the other one still can.
                Err(_) => std::future::pending::<()>().await,
            }
        }
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            tokio::select! {
                () = recv(interrupt) => {},
                () = recv(terminate) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
