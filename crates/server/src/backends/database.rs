//! The database: SQLite (the embedded default), chosen from `DATABASE_URL`.

use std::sync::Arc;

use anyhow::Context;
use domain::ports::{FollowRepository, HealthProbe, PostRepository, UserRepository};
use sqlite::SqliteStore;

use crate::config::Config;

/// The repositories and the health probe of whichever database the config names.
pub struct Database {
    pub users: Arc<dyn UserRepository>,
    pub posts: Arc<dyn PostRepository>,
    pub follows: Arc<dyn FollowRepository>,
    pub probe: Arc<dyn HealthProbe>,
    store: Store,
}

enum Store {
    Sqlite(SqliteStore),
}

impl Database {
    /// Connects and brings the schema up to date (migrations are embedded in the adapter).
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        let s = &config.settings;
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
            probe: shared,
            store: Store::Sqlite(store),
        })
    }

    /// Closes the pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        match &self.store {
            Store::Sqlite(s) => s.close().await,
        }
    }
}
