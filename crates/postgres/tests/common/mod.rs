//! Shared by this crate's test binaries: a migrated store on a fresh database.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use domain::testkit::repos::Repos;
use postgres_adapter::testing::TestDatabase;
use postgres_adapter::{PgOptions, PgStore};

/// A migrated store on its own database; `None` (skip) when no test server is configured.
pub struct TestDb {
    pub store: PgStore,
    pub db: TestDatabase,
}

impl TestDb {
    pub async fn new(tag: &str) -> Option<Self> {
        Self::with(tag, &[], PgOptions::default()).await
    }

    pub async fn with(tag: &str, replicas: &[String], options: PgOptions) -> Option<Self> {
        let db = TestDatabase::create(tag).await.unwrap()?;
        let store = PgStore::connect(&db.url, replicas, options).await.unwrap();
        store.migrate().await.unwrap();
        Some(TestDb { store, db })
    }

    pub fn repos(&self) -> Repos {
        Repos::sharing(self.store.clone())
    }
}
