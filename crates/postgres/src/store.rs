//! [`PgStore`]: the primary pool, the replica pools and the routing between them, migrations,
//! closing, the health probe.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use domain::model::Keyset;
use domain::ports::{HealthProbe, PoolStats};
use domain::StoreError;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Connection;

use crate::error::{is_unavailable, store_error, ResultExt};
use crate::group::Writers;
use crate::replicas::{spawn_probe, Replica, ReplicaStats, Replicas};
use crate::target::PgUrl;

/// How often the replicas' freshness is measured (see `replicas`).
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// Added to a write's bounds for what no timeout covers: the network between the writer and
/// PostgreSQL, and clocks that differ between instances (a cursor minted on one is judged on
/// another's probe).
const CLOCK_MARGIN: Duration = Duration::from_secs(1);

/// How the store connects; [`Default`] matches the server's defaults.
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// Connections in the primary pool, and in each replica's pool.
    pub max_connections: u32,
    /// `statement_timeout`, set on every connection at connect time: a runaway query is
    /// cancelled by the server instead of holding a connection.
    pub statement_timeout: Duration,
    /// How long a call waits for a pooled primary connection before answering `Unavailable`
    /// (overload: the caller answers 503 rather than queueing without bound).
    pub acquire_timeout: Duration,
    /// The same for a replica; short, because the primary is the fallback.
    pub replica_acquire_timeout: Duration,
    /// How long a replica that failed to answer is skipped before it is tried again.
    pub replica_retry_after: Duration,
    /// A replica measured further behind the primary than this serves no page at all: it
    /// bounds how stale a page from a replica can be (a post deleted meanwhile still listed).
    pub replica_max_lag: Duration,
}

impl PgOptions {
    /// The longest a row may take, from the minting of its id to its commit: the writer sends
    /// nothing older than `acquire_timeout` (`group`), the server cancels a statement after
    /// `statement_timeout`, plus [`CLOCK_MARGIN`]. A page after a cursor reads a replica only
    /// once the replica is fresh as of the cursor's time plus this (docs/SCALING.md).
    pub fn write_window(&self) -> Duration {
        self.acquire_timeout + self.statement_timeout + CLOCK_MARGIN
    }
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            max_connections: 8,
            statement_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
            replica_acquire_timeout: Duration::from_millis(500),
            replica_retry_after: Duration::from_secs(5),
            replica_max_lag: Duration::from_secs(30),
        }
    }
}

/// The repositories over one PostgreSQL primary and any number of read replicas. Cheap to
/// clone (one `Arc`).
///
/// Routing, in one sentence: writes, and every read whose answer the caller may have just
/// changed, go to the primary; only a page after a cursor goes to a replica, and only to one
/// measured to hold every row below that cursor (`replicas`). The reasons are in
/// docs/SCALING.md; [`PgStore::page_route`] and `Replicas::pick` are the rule in code.
#[derive(Clone, Debug)]
pub struct PgStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    primary: PgPool,
    /// Shared with the probe task, which stops once the store is gone.
    replicas: Arc<Replicas>,
    /// Bounds a whole call (waiting for a connection, the statement, a replica fallback), so a
    /// network that drops packets without resetting the connection cannot hang a request.
    deadline: Duration,
    /// Group commit of post creations and follows on the primary.
    writers: Writers,
}

fn stats(pool: &'static str, replica: Option<usize>, p: &PgPool) -> PoolStats {
    let max = p.options().get_max_connections();
    PoolStats::new(pool, replica, p.size(), p.num_idle(), max)
}

/// Where a read runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    Primary,
    /// A page after a cursor minted at this Unix millisecond: a replica that holds every row
    /// below it, else the primary.
    After(u64),
}

/// A pooled connection used within this long is handed out without a ping first. sqlx pings
/// every connection on release and, by default, again before each acquire: three round trips
/// for one query, one of them on the group-commit writer's path before every batch (16–28% of
/// `POST /posts` on PostgreSQL, docs/BENCHMARKS.md). A connection released (after its release
/// ping) this recently is as good as pinged; one idle for longer is pinged as before, so a
/// server that restarted meanwhile costs a reconnect, not a failed request. HikariCP skips its
/// validation the same way for a connection used in the last 500 ms (`aliveBypassWindowMs`).
const PING_IF_IDLE_FOR: Duration = Duration::from_millis(500);

/// A pool of at most `max` connections, waiting `acquire_timeout` at most for one.
fn pool_options(max: u32, acquire_timeout: Duration) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(acquire_timeout)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_IF_IDLE_FOR {
                    // An error closes the connection and the pool opens another.
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}

/// The connect options of `url` with what every connection of ours sets.
fn with_session(url: &PgUrl, options: &PgOptions) -> PgConnectOptions {
    let ms = options.statement_timeout.as_millis().to_string();
    PgConnectOptions::clone(&url.options)
        .application_name("socialscale")
        // Sent in the startup packet: applies to every statement on the connection without an
        // extra round trip per connection.
        .options([("statement_timeout", ms.as_str())])
}

impl PgStore {
    /// Connects to the primary (failing if it does not answer) and, lazily, to the replicas:
    /// a replica that is down at start is skipped, not fatal.
    pub async fn connect(
        primary_url: &str,
        replica_urls: &[String],
        options: PgOptions,
    ) -> Result<Self, StoreError> {
        let bad = |e: String| StoreError::Internal(format!("bad PostgreSQL URL: {e}"));
        let primary = PgUrl::parse(primary_url).map_err(bad)?;
        let replicas = replica_urls
            .iter()
            .map(|u| PgUrl::parse(u).map_err(bad))
            .collect::<Result<Vec<_>, _>>()?;
        Self::connect_to(&primary, &replicas, options).await
    }

    /// [`PgStore::connect`] for URLs already parsed (the server parses `DATABASE_URL` and
    /// `DATABASE_READ_URLS` once, at start-up, and hands the results here).
    pub async fn connect_to(
        primary_url: &PgUrl,
        replica_urls: &[PgUrl],
        options: PgOptions,
    ) -> Result<Self, StoreError> {
        let max = options.max_connections.max(1);
        let primary = pool_options(max, options.acquire_timeout)
            .connect_with(with_session(primary_url, &options))
            .await
            .map_err(store_error)?;
        let pools = replica_urls.iter().map(|url| {
            pool_options(max, options.replica_acquire_timeout)
                .connect_lazy_with(with_session(url, &options))
        });
        let replicas = Arc::new(Replicas::new(
            pools.collect(),
            options.replica_retry_after,
            options.replica_max_lag,
            options.write_window(),
        ));
        // Both need the runtime `connect` runs on: they are tasks.
        if !replicas.is_empty() {
            spawn_probe(primary.clone(), &replicas, PROBE_INTERVAL);
        }
        let writers = Writers::spawn(&primary, options.acquire_timeout);
        let deadline = options.replica_acquire_timeout
            + options.acquire_timeout
            + options.statement_timeout
            + Duration::from_secs(1);
        Ok(PgStore {
            inner: Arc::new(Inner {
                writers,
                primary,
                replicas,
                deadline,
            }),
        })
    }

    /// Applies the embedded migrations (`crates/postgres/migrations`) not yet applied, on the
    /// primary. sqlx holds an advisory lock meanwhile, so instances starting together take
    /// turns.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations")
            .run(&self.inner.primary)
            .await
            .map_err(|e| match e {
                sqlx::migrate::MigrateError::Execute(e) => store_error(e),
                other => StoreError::Internal(format!("migration failed: {other}")),
            })
    }

    /// Closes every pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        for pool in self.inner.replicas.pools() {
            pool.close().await;
        }
        self.inner.primary.close().await;
    }

    /// The primary pool, for what the ports do not cover (tests, `EXPLAIN`).
    pub fn primary(&self) -> &PgPool {
        &self.inner.primary
    }

    /// Where a page of a list reads from. A first page may hold a row written a moment ago
    /// (the author's own post, a follow just made), so it comes from the primary. A page after
    /// a cursor holds only rows with smaller ids, minted before the cursor's (a UUIDv7 carries
    /// its creation time): a replica known to hold every one of them may serve it (`read`).
    pub(crate) fn page_route(&self, q: &Keyset) -> Route {
        if self.inner.replicas.is_empty() {
            return Route::Primary;
        }
        match q.before.and_then(|c| c.get_timestamp()) {
            Some(ts) => {
                let (secs, nanos) = ts.to_unix();
                let ms = secs
                    .saturating_mul(1000)
                    .saturating_add(u64::from(nanos / 1_000_000));
                Route::After(ms)
            }
            None => Route::Primary,
        }
    }

    /// Runs a write, or a read that must see the latest writes, on the primary.
    pub(crate) async fn primary_op<T, Fut>(&self, op: Fut) -> Result<T, StoreError>
    where
        Fut: Future<Output = Result<T, sqlx::Error>>,
    {
        self.bounded(async { op.await.store() }).await
    }

    /// Like [`PgStore::primary_op`], but hands back the driver's error for the caller to
    /// classify (a unique or foreign-key violation the port names); the outer error is the
    /// deadline.
    pub(crate) async fn primary_raw<T, Fut>(
        &self,
        op: Fut,
    ) -> Result<Result<T, sqlx::Error>, StoreError>
    where
        Fut: Future<Output = Result<T, sqlx::Error>>,
    {
        self.bounded(async { Ok(op.await) }).await
    }

    /// Runs a read on `route`. On a replica that cannot be reached, the replica is skipped for
    /// `replica_retry_after` and the read runs on the primary instead; with no replica fresh
    /// enough for the page the primary serves.
    pub(crate) async fn read<T, F, Fut>(&self, route: Route, op: F) -> Result<T, StoreError>
    where
        F: Fn(PgPool) -> Fut,
        Fut: Future<Output = Result<T, sqlx::Error>>,
    {
        self.bounded(async {
            if let Route::After(cursor_ms) = route {
                if let Some(replica) = self.inner.replicas.pick(cursor_ms) {
                    if let Some(v) = self.on_replica(replica, &op).await? {
                        return Ok(v);
                    }
                }
            }
            op(self.inner.primary.clone()).await.store()
        })
        .await
    }

    /// `op` on `replica`; `None` when the replica could not be reached (it is then skipped).
    async fn on_replica<T, F, Fut>(
        &self,
        replica: &Replica,
        op: &F,
    ) -> Result<Option<T>, StoreError>
    where
        F: Fn(PgPool) -> Fut,
        Fut: Future<Output = Result<T, sqlx::Error>>,
    {
        match op(replica.pool.clone()).await {
            Ok(v) => {
                self.inner.replicas.served(replica);
                Ok(Some(v))
            }
            // Only "cannot reach it" fails over: a statement timeout on a replica would time
            // out on the primary too, at twice the cost.
            Err(e) if is_unavailable(&e) && is_connection_error(&e) => {
                self.inner.replicas.mark_down(replica);
                tracing::warn!(error = %e, "read replica unreachable; using the primary");
                Ok(None)
            }
            Err(e) => Err(store_error(e)),
        }
    }

    /// `op` within the call deadline; past it, `Unavailable`.
    pub(crate) async fn bounded<T, E: From<StoreError>>(
        &self,
        op: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        tokio::time::timeout(self.inner.deadline, op)
            .await
            .unwrap_or_else(|_| {
                Err(E::from(StoreError::Unavailable(
                    "database call exceeded its deadline".to_owned(),
                )))
            })
    }

    pub(crate) fn writers(&self) -> &Writers {
        &self.inner.writers
    }

    /// Batches written by the group-commit writers so far, and the items in them: posts, then
    /// follows.
    pub fn write_batches(&self) -> (group_commit::Stats, group_commit::Stats) {
        self.inner.writers.stats()
    }

    /// Stops the group-commit writers at once, as a crash would: a batch in progress is
    /// abandoned and its callers, and every later post creation or follow, get `Unavailable`.
    /// For tests of that path; a running server never calls it.
    #[doc(hidden)]
    pub fn kill_writers(&self) {
        self.inner.writers.abort();
    }

    /// The pools' connections now: the primary, then each replica in configuration order.
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        let replicas = self.inner.replicas.pools().enumerate();
        std::iter::once(stats("primary", None, &self.inner.primary))
            .chain(replicas.map(|(i, pool)| stats("replica", Some(i), pool)))
            .collect()
    }

    /// How many replicas are configured and how many are not being skipped after a failure.
    pub fn replica_status(&self) -> (usize, usize) {
        self.inner.replicas.status()
    }

    /// Each replica's measured lag and the pages it served, in configuration order.
    pub fn replica_stats(&self) -> Vec<ReplicaStats> {
        self.inner.replicas.stats()
    }

    /// Fixes how fresh replica `index` is taken to be (`None`: not known, it serves nothing)
    /// and stops measuring it, for tests whose "replica" is another database that replicates
    /// nothing. A running server never calls it.
    #[doc(hidden)]
    pub fn pin_replica_freshness(&self, index: usize, fresh_as_of: Option<SystemTime>) {
        self.inner.replicas.pin(index, fresh_as_of);
    }
}

/// The failure happened before the statement could run anywhere: retrying elsewhere is safe.
pub(crate) fn is_connection_error(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P") || c == "53300"),
        _ => true,
    }
}

#[async_trait]
impl HealthProbe for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    /// Readiness follows the primary: without it nothing can be written.
    async fn ping(&self) -> Result<(), StoreError> {
        self.primary_op(sqlx::query("SELECT 1").execute(&self.inner.primary))
            .await
            .map(|_| ())
    }
}
