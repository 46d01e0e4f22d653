//! [`SqliteStore`]: the connection pools, their pragmas, migrations and the health probe.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::ports::{HealthProbe, PoolStats};
use domain::StoreError;
use sqlx::sqlite::{SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::error::{store_error, ResultExt};
use crate::group::Writers;
use crate::target::SqliteTarget;

/// How long a statement waits for SQLite's file lock (held by another process, e.g. a
/// `migrate` or `seed` run next to the server) before giving up with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a request waits for a pooled connection. Past this the store is overloaded and the
/// caller answers 503 rather than queueing without bound.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A read connection idle this long is closed (one is always kept): each holds up to 2 MiB of
/// SQLite's page cache outside the allocator's reach, which a burst of readers had left filled
/// for good after a storm (issue #10). Reopening costs a file open, far less than a query storm.
const READ_IDLE: Duration = Duration::from_secs(30);

/// `BEGIN IMMEDIATE` takes the write lock up front. Within this process writes are already
/// serialised by the one-connection pool; against another process (a `seed` run) it makes a
/// transaction wait for the lock under `busy_timeout` at its start, instead of failing half way
/// when a read lock cannot be upgraded.
pub(crate) const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// The repositories over one SQLite database. Cheap to clone: two pool handles and the
/// group-commit writers.
///
/// Writes go through their own pool of exactly one connection. SQLite allows one writer at a
/// time anyway; queueing writers in the pool (a fair async wait) instead of letting several
/// connections fight over the file lock (sleep-and-retry inside `busy_timeout`) avoids
/// `SQLITE_BUSY` storms and keeps write latency flat. Post creations and follows go further:
/// they queue to a writer task that commits whatever queued meanwhile in one transaction
/// (`group`). Reads use a separate pool: in WAL mode readers never block the writer nor each
/// other.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pub(crate) write: SqlitePool,
    pub(crate) read: SqlitePool,
    /// A memory database: `write` and `read` are the same pool.
    shared: bool,
    pub(crate) writers: Arc<Writers>,
}

fn stats(pool: &'static str, p: &SqlitePool) -> PoolStats {
    let max = p.options().get_max_connections();
    PoolStats::new(pool, None, p.size(), p.num_idle(), max)
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` and checks that it answers.
    ///
    /// `url` is `sqlite://path.db`, `sqlite:path.db`, a plain path, or `sqlite::memory:`.
    /// A memory database lives only as long as a connection to it, and every connection would
    /// otherwise see its own: there, reads and writes share a single pool of one connection
    /// that is never recycled, so the database lives exactly as long as the store.
    ///
    /// `max_read_connections` sizes the read pool (at least 1; ignored for memory).
    pub async fn connect(url: &str, max_read_connections: u32) -> Result<Self, StoreError> {
        let target = SqliteTarget::parse(url).map_err(StoreError::Internal)?;
        Self::open(&target, max_read_connections).await
    }

    /// [`SqliteStore::connect`] for a target already parsed (the server parses its
    /// `DATABASE_URL` once, at start-up, and hands the result here).
    pub async fn open(
        target: &SqliteTarget,
        max_read_connections: u32,
    ) -> Result<Self, StoreError> {
        let base = target
            .options()
            .map_err(StoreError::Internal)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL: a commit is durable once the WAL is synced at checkpoint; a power
            // cut may lose the last commits but never corrupts. The usual WAL trade-off.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);

        let pool = |max: u32| {
            SqlitePoolOptions::new()
                .max_connections(max)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                // An embedded connection cannot be dropped by a network; pinging it before every
                // acquire would add a worker round trip to every query for nothing.
                .test_before_acquire(false)
        };

        if *target == SqliteTarget::Memory {
            let shared = pool(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(base)
                .await
                .map_err(store_error)?;
            return Ok(SqliteStore::new(shared.clone(), shared, true));
        }

        // The writer connects first: it creates the file and switches it to WAL (a persistent
        // property of the file) before any read-only connection opens it.
        // It is also kept open for good: the one writer keeps its prepared statements warm.
        let write = pool(1)
            .min_connections(1)
            .idle_timeout(None)
            .connect_with(base.clone())
            .await
            .map_err(store_error)?;
        let read_options = base
            .create_if_missing(false)
            // Defence in depth: a write sent to the read pool fails instead of bypassing the
            // single-writer queue.
            .pragma("query_only", "ON");
        let read = pool(max_read_connections.max(1))
            .min_connections(1)
            .idle_timeout(READ_IDLE)
            .connect_with(read_options)
            .await
            .map_err(store_error)?;
        Ok(SqliteStore::new(write, read, false))
    }

    /// Must run inside a Tokio runtime: it starts the writer tasks.
    fn new(write: SqlitePool, read: SqlitePool, shared: bool) -> Self {
        let writers = Arc::new(Writers::spawn(&write));
        SqliteStore {
            write,
            read,
            shared,
            writers,
        }
    }

    /// Batches written by the group-commit writers so far, and the items in them: posts, then
    /// follows.
    pub fn write_batches(&self) -> (group_commit::Stats, group_commit::Stats) {
        self.writers.stats()
    }

    /// Stops the group-commit writers at once, as a crash would: a batch in progress is rolled
    /// back and its callers, and every later post creation or follow, get `Unavailable`. For
    /// tests of that path; a running server never calls it.
    #[doc(hidden)]
    pub fn kill_writers(&self) {
        self.writers.abort();
    }

    /// Applies the embedded migrations (`crates/sqlite/migrations`) not yet applied. Safe to
    /// run on every start and concurrently with readers.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations")
            .run(&self.write)
            .await
            .map_err(|e| match e {
                sqlx::migrate::MigrateError::Execute(e) => store_error(e),
                other => StoreError::Internal(format!("migration failed: {other}")),
            })
    }

    /// The pools' connections now: `write`, then `read` unless it is the same pool.
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        let mut out = vec![stats("write", &self.write)];
        if !self.shared {
            out.push(stats("read", &self.read));
        }
        out
    }

    /// Closes both pools, waiting for connections in use to be returned. On a file database
    /// this also lets SQLite checkpoint the WAL into the main file.
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

#[async_trait]
impl HealthProbe for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .store()
            .map(|_| ())
    }
}
