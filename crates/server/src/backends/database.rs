//! The database, chosen from `DATABASE_URL`: PostgreSQL for a `postgres://` or `postgresql://`
//! URL (with the read replicas of `DATABASE_READ_URLS`), SQLite (the embedded default) for
//! anything else.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use domain::ports::{BulkStore, FollowRepository, HealthProbe, PostRepository, UserRepository};
use postgres_adapter::{PgOptions, PgStore};
use sqlite::SqliteStore;

use crate::config::Config;

/// The repositories and the health probe of whichever database the config names.
pub struct Database {
    pub users: Arc<dyn UserRepository>,
    pub posts: Arc<dyn PostRepository>,
    pub follows: Arc<dyn FollowRepository>,
    pub probe: Arc<dyn HealthProbe>,
    /// The fast path of `socialscale seed`.
    pub bulk: Arc<dyn BulkStore>,
    store: Store,
}

#[derive(Clone)]
enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// Whether a `DATABASE_URL` names PostgreSQL.
pub fn is_postgres(url: &str) -> bool {
    let url = url.trim_start();
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The replica URLs of `DATABASE_READ_URLS` (comma-separated, blanks ignored).
pub fn read_urls(raw: Option<&str>) -> Vec<String> {
    raw.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
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
        if is_postgres(&s.database_url) {
            let replicas = read_urls(s.database_read_urls.as_deref());
            let store = PgStore::connect(&s.database_url, &replicas, pg_options(config))
                .await
                .context("DATABASE_URL: cannot connect to PostgreSQL")?;
            store
                .migrate()
                .await
                .context("database migrations failed")?;
            let shared = Arc::new(store.clone());
            return Ok(Database {
                users: shared.clone(),
                posts: shared.clone(),
                follows: shared.clone(),
                bulk: shared.clone(),
                probe: shared,
                store: Store::Postgres(store),
            });
        }
        let store = SqliteStore::connect(&s.database_url, s.db_max_connections)
            .await
            .context("DATABASE_URL: cannot open the database")?;
        store
            .migrate()
            .await
            .context("database migrations failed")?;
        let shared = Arc::new(store.clone());
        Ok(Database {
            users: shared.clone(),
            posts: shared.clone(),
            follows: shared.clone(),
            bulk: shared.clone(),
            probe: shared,
            store: Store::Sqlite(store),
        })
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
/// pool also carries `replica`, its position in `DATABASE_READ_URLS`). Sampled when `/metrics`
/// is rendered, so every scrape sees the pools as they are, not as they were at a timer tick.
#[derive(Clone)]
pub struct PoolGauges(Store);

impl PoolGauges {
    pub fn record(&self) {
        let pools = match &self.0 {
            Store::Sqlite(s) => s.pool_stats(),
            Store::Postgres(s) => s.pool_stats(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(is_postgres("postgres://u@h/db"));
        assert!(is_postgres("postgresql://h/db"));
        assert!(!is_postgres("sqlite://x.db"));
        assert!(!is_postgres("x.db"));
        assert_eq!(
            read_urls(Some(" postgres://a/db , ,postgres://b/db")),
            ["postgres://a/db", "postgres://b/db"]
        );
        assert!(read_urls(None).is_empty());
    }
}
