//! The database config names ([`DatabaseTarget`]): PostgreSQL (with the read replicas of
//! `DATABASE_READ_URLS`) or SQLite (the embedded default).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use domain::ports::{
    ApiKeyRepository, BulkStore, FeedOutbox, FollowRepository, HealthProbe,
    IdempotencyKeyRepository, PostRepository, UserRepository,
};
use postgres_adapter::{PgOptions, PgStore};
use sqlite::SqliteStore;

use crate::config::{Config, DatabaseTarget};

/// The repositories and the health probe of whichever database the config names.
pub struct Database {
    pub users: Arc<dyn UserRepository>,
    pub posts: Arc<dyn PostRepository>,
    pub follows: Arc<dyn FollowRepository>,
    pub api_keys: Arc<dyn ApiKeyRepository>,
    pub keys: Arc<dyn IdempotencyKeyRepository>,
    pub probe: Arc<dyn HealthProbe>,
    /// The fast path of `socialscale seed`.
    pub bulk: Arc<dyn BulkStore>,
    /// The feed events the database records with each write (the fan-out's hand-off).
    pub outbox: Arc<dyn FeedOutbox>,
    store: Store,
}

#[derive(Clone)]
enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// Pool settings from config. A request that cannot get a connection within one statement's
/// budget (at most 5 s) is answered 503 rather than queued without bound.
fn pg_options(config: &Config) -> PgOptions {
    let s = &config.settings;
    let statement_timeout = Duration::from_millis(s.db_statement_timeout_ms);
    PgOptions {
        max_connections: s.db_max_connections,
        statement_timeout,
        acquire_timeout: statement_timeout.min(Duration::from_secs(5)),
        ..PgOptions::default()
    }
}

impl Database {
    /// Connects and brings the schema up to date (migrations are embedded in the adapter).
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        let s = &config.settings;
        let store = match &config.database {
            DatabaseTarget::Postgres { primary, replicas } => {
                let store = PgStore::connect_to(primary, replicas, pg_options(config))
                    .await
                    .context("DATABASE_URL: cannot connect to PostgreSQL")?;
                store
                    .migrate()
                    .await
                    .context("database migrations failed")?;
                Store::Postgres(store)
            }
            DatabaseTarget::Sqlite(target) => {
                let store = SqliteStore::open(target, s.db_max_connections)
                    .await
                    .context("DATABASE_URL: cannot open the database")?;
                store
                    .migrate()
                    .await
                    .context("database migrations failed")?;
                Store::Sqlite(store)
            }
        };
        Ok(match store.clone() {
            Store::Postgres(pg) => Self::over(Arc::new(pg), store),
            Store::Sqlite(lite) => Self::over(Arc::new(lite), store),
        })
    }

    /// Every port served by the one `shared` store.
    fn over<S>(shared: Arc<S>, store: Store) -> Self
    where
        S: UserRepository
            + PostRepository
            + FollowRepository
            + ApiKeyRepository
            + IdempotencyKeyRepository
            + HealthProbe
            + BulkStore
            + FeedOutbox
            + 'static,
    {
        Database {
            users: shared.clone(),
            posts: shared.clone(),
            follows: shared.clone(),
            api_keys: shared.clone(),
            keys: shared.clone(),
            bulk: shared.clone(),
            outbox: shared.clone(),
            probe: shared,
            store,
        }
    }

    /// Writes the pools' current use to `/metrics` each time it is called.
    pub fn pool_gauges(&self) -> PoolGauges {
        PoolGauges(self.store.clone())
    }

    /// Closes the pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        match &self.store {
            Store::Sqlite(s) => s.close().await,
            Store::Postgres(s) => s.close().await,
        }
    }
}

/// The `db_pool_connections{pool,state}` and `db_pool_max_connections{pool}` gauges (a replica
/// pool also carries `replica`, its position in `DATABASE_READ_URLS`), and for each replica
/// `db_replica_lag_seconds{replica}` (its lag as last measured; +Inf while not known:
/// unreachable, not a standby, not probed yet) and `db_replica_reads_total{replica}` (pages it
/// served). Sampled when `/metrics` is rendered, so every scrape sees the pools as they are,
/// not as they were at a timer tick.
#[derive(Clone)]
pub struct PoolGauges(Store);

impl PoolGauges {
    pub fn record(&self) {
        let pools = match &self.0 {
            Store::Sqlite(s) => s.pool_stats(),
            Store::Postgres(s) => {
                for r in s.replica_stats() {
                    let replica = r.index.to_string();
                    let lag = r.lag.map_or(f64::INFINITY, |l| l.as_secs_f64());
                    metrics::gauge!("db_replica_lag_seconds", "replica" => replica.clone())
                        .set(lag);
                    metrics::counter!("db_replica_reads_total", "replica" => replica)
                        .absolute(r.reads);
                }
                s.pool_stats()
            }
        };
        for p in pools {
            let mut labels = vec![("pool", p.pool.to_owned())];
            if let Some(i) = p.replica {
                labels.push(("replica", i.to_string()));
            }
            metrics::gauge!("db_pool_max_connections", &labels).set(f64::from(p.max));
            for (state, n) in [("in_use", p.in_use), ("idle", p.idle)] {
                let mut labels = labels.clone();
                labels.push(("state", state.to_owned()));
                metrics::gauge!("db_pool_connections", &labels).set(f64::from(n));
            }
        }
    }
}
