//! Shared by this crate's test binaries: a migrated store on a fresh database.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::time::Duration;

use domain::model::{Email, Keyset, NewUser, PostId, PostRecord, Timestamp, UserId, Username};
use domain::ports::PostRepository;
use domain::testkit::repos::Repos;
use postgres_adapter::testing::TestDatabase;
use postgres_adapter::{PgOptions, PgStore};
use uuid::Uuid;

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

/// For the routing tests: short bounds, so the write window (acquire + statement + 1 s) is short
/// too, and a replica that failed stays skipped for the whole test.
pub fn routing_options() -> PgOptions {
    PgOptions {
        statement_timeout: Duration::from_secs(2),
        acquire_timeout: Duration::from_secs(2),
        replica_acquire_timeout: Duration::from_millis(300),
        replica_retry_after: Duration::from_secs(60),
        ..PgOptions::default()
    }
}

/// A user with a unique name.
pub fn user() -> NewUser {
    let s = &Uuid::new_v4().simple().to_string()[..10];
    NewUser {
        id: UserId::from_uuid(Uuid::now_v7()),
        email: Email::parse(&format!("r{s}@example.com")).unwrap(),
        username: Username::parse(&format!("r_{s}")).unwrap(),
        name: None,
        password_hash: "hash".to_owned(),
        created_at: Timestamp::from_unix_millis(0),
    }
}

/// Creates a post with id `id` through the store (its group-commit writer).
pub async fn post_as(store: &PgStore, id: Uuid, author: UserId, content: &str) -> PostRecord {
    let p = PostRecord {
        id: PostId::from_uuid(id),
        author_id: author,
        content: content.to_owned(),
        created_at: Timestamp::from_unix_millis(0),
    };
    assert!(PostRepository::create(store, &p).await.unwrap());
    p
}

pub async fn post(store: &PgStore, author: UserId, content: &str) -> PostRecord {
    post_as(store, Uuid::now_v7(), author, content).await
}

pub fn contents(rows: &[PostRecord]) -> Vec<&str> {
    rows.iter().map(|p| p.content.as_str()).collect()
}

/// A page of 10 after `before`.
pub fn page(before: Option<Uuid>) -> Keyset {
    Keyset { before, limit: 10 }
}
