//! The domain's repository contract suites against SQLite, each on a fresh database file, plus
//! what only an adapter that knows it is SQLite can check: migrations, URL forms and query plans.

// clippy's allow-unwrap-in-tests covers `#[test]` fns, not the helpers they share here; a
// failed setup step is a failed test either way.
#![allow(clippy::unwrap_used)]

use domain::model::{Email, NewUser, Timestamp, UserId, Username};
use domain::ports::{HealthProbe, UserRepository};
use domain::testkit::repos::{self, Repos};
use sqlite::SqliteStore;
use sqlx::Connection;
use tempfile::TempDir;
use uuid::Uuid;

/// A migrated store on a new file in its own temporary directory (removed on drop).
struct TestDb {
    store: SqliteStore,
    dir: TempDir,
}

impl TestDb {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let store = SqliteStore::connect(&url, 4).await.unwrap();
        store.migrate().await.unwrap();
        TestDb { store, dir }
    }

    fn repos(&self) -> Repos {
        Repos::sharing(self.store.clone())
    }
}

#[tokio::test]
async fn user_repository_contract() {
    let db = TestDb::new().await;
    repos::user_repository_contract(&db.repos()).await;
}

#[tokio::test]
async fn api_key_repository_contract() {
    let db = TestDb::new().await;
    repos::api_key_repository_contract(&db.repos()).await;
}

#[tokio::test]
async fn post_repository_contract() {
    let db = TestDb::new().await;
    repos::post_repository_contract(&db.repos()).await;
}

#[tokio::test]
async fn follow_repository_contract() {
    let db = TestDb::new().await;
    repos::follow_repository_contract(&db.repos()).await;
}

#[tokio::test]
async fn idempotency_key_contract() {
    let db = TestDb::new().await;
    repos::idempotency_key_contract(&db.repos()).await;
}

#[tokio::test]
async fn feed_outbox_contract() {
    let db = TestDb::new().await;
    repos::feed_outbox_contract(&db.repos()).await;
}

#[tokio::test]
async fn counters_exact_under_concurrency() {
    let db = TestDb::new().await;
    repos::counters_exact_under_concurrency(&db.repos()).await;
}

#[tokio::test]
async fn every_suite_passes_on_a_memory_database() {
    let store = SqliteStore::connect("sqlite::memory:", 4).await.unwrap();
    store.migrate().await.unwrap();
    let repos = Repos::sharing(store.clone());
    repos::user_repository_contract(&repos).await;
    repos::post_repository_contract(&repos).await;
    repos::follow_repository_contract(&repos).await;
    repos::counters_exact_under_concurrency(&repos).await;
    repos::api_key_repository_contract(&repos).await;
    repos::idempotency_key_contract(&repos).await;
    repos::feed_outbox_contract(&repos).await;
    store.close().await;
}

fn signup(username: &str, email: &str) -> NewUser {
    NewUser {
        id: UserId::from_uuid(Uuid::now_v7()),
        email: Email::parse(email).unwrap(),
        username: Username::parse(username).unwrap(),
        name: None,
        password_hash: "hash".to_owned(),
        created_at: Timestamp::from_unix_millis(0),
    }
}

#[tokio::test]
async fn migrate_is_idempotent_and_keeps_data() {
    let db = TestDb::new().await;
    let user = db
        .store
        .create(&signup("keeper", "keeper@example.com"))
        .await
        .unwrap();
    db.store.migrate().await.unwrap();
    db.store.migrate().await.unwrap();
    assert_eq!(db.store.by_id(user.id).await.unwrap(), Some(user.clone()));

    // A second store on the same file (a restart) migrates again without error.
    db.store.close().await;
    let path = db.dir.path().join("test.db");
    let again = SqliteStore::connect(path.to_str().unwrap(), 2)
        .await
        .unwrap();
    again.migrate().await.unwrap();
    assert_eq!(again.by_id(user.id).await.unwrap(), Some(user));
    again.close().await;
}

#[tokio::test]
async fn accepts_every_url_form_and_creates_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name).display().to_string();
    for url in [
        format!("sqlite://{}", at("a.db")),
        format!("sqlite:{}", at("b.db")),
        at("c.db"),
        "sqlite::memory:".to_owned(),
        ":memory:".to_owned(),
    ] {
        let store = SqliteStore::connect(&url, 2).await.unwrap();
        store.migrate().await.unwrap();
        assert_eq!(store.backend(), "sqlite");
        store.ping().await.unwrap();
        // Reads see the writes: for memory this is the single shared connection at work.
        let user = store
            .create(&signup("urluser", "url@example.com"))
            .await
            .unwrap();
        assert_eq!(store.by_id(user.id).await.unwrap(), Some(user), "{url}");
        store.close().await;
    }
    for name in ["a.db", "b.db", "c.db"] {
        assert!(dir.path().join(name).exists(), "{name} created");
    }
}

#[tokio::test]
async fn two_memory_stores_are_separate_databases() {
    let a = SqliteStore::connect("sqlite::memory:", 1).await.unwrap();
    let b = SqliteStore::connect("sqlite::memory:", 1).await.unwrap();
    a.migrate().await.unwrap();
    b.migrate().await.unwrap();
    let user = a.create(&signup("only_a", "a@example.com")).await.unwrap();
    assert_eq!(b.by_id(user.id).await.unwrap(), None);
}

#[tokio::test]
async fn a_closed_store_is_unavailable() {
    let db = TestDb::new().await;
    db.store.close().await;
    let err = db.store.ping().await.unwrap_err();
    assert!(matches!(err, domain::StoreError::Unavailable(_)), "{err:?}");
}

/// The plan of every statement: no full scan anywhere, the named index where it matters, and
/// no sort on the paginated lists.
fn check_plans(plans: &[sqlite::QueryPlan]) {
    assert!(plans.len() >= 20);
    for plan in plans {
        let steps = plan.steps.join("\n");
        // The outbox holds only what the relay has not handed on: `backlog` counts it, a scan
        // by design. `pending` reads on from a seq in key order and stops at LIMIT.
        if plan.name == "outbox.backlog" {
            assert_eq!(plan.steps, ["SCAN feed_outbox"], "{}", plan.name);
            continue;
        }
        if plan.name == "outbox.pending" {
            assert_eq!(
                plan.steps,
                ["SEARCH feed_outbox USING INTEGER PRIMARY KEY (rowid>?)"],
                "{}",
                plan.name
            );
            continue;
        }
        assert!(
            plan.full_scans().is_empty(),
            "{}: full scan\n{steps}",
            plan.name
        );
        if !plan.name.ends_with(".insert") {
            assert!(
                steps.contains("SEARCH "),
                "{}: no index\n{steps}",
                plan.name
            );
        }
        let wants: &[&str] = match plan.name {
            "posts.latest" => &["SEARCH posts USING INDEX sqlite_autoindex_posts_1 (id<?)"],
            "posts.by_author" => &["posts_author_id_id_idx (author_id=? AND id<?)"],
            "posts.feed" => &[
                "COVERING INDEX follows_follower_id_id_idx (follower_id=?)",
                "COVERING INDEX posts_author_id_id_idx (author_id=? AND id<?)",
                "SEARCH p USING INDEX posts_author_id_id_idx (author_id=? AND id>? AND id<?)",
            ],
            "follows.followers" => &["COVERING INDEX follows_following_id_id_idx"],
            "follows.following" => &["COVERING INDEX follows_follower_id_id_idx"],
            "users.by_username" => &["users_username_lower_key"],
            "outbox.relayed" => &["SEARCH feed_outbox USING INTEGER PRIMARY KEY (rowid=?)"],
            _ => &[],
        };
        for want in wants {
            assert!(steps.contains(want), "{}: wants {want}\n{steps}", plan.name);
        }
        // The paginated lists walk an index in order and stop at LIMIT: no sort at all. (The
        // feed sorts its bounded candidates; summaries de-duplicate the ids asked for.)
        let walks = [
            "posts.latest",
            "posts.by_author",
            "follows.followers",
            "follows.following",
        ];
        if walks.contains(&plan.name) {
            assert!(
                !steps.contains("TEMP B-TREE"),
                "{}: sorts\n{steps}",
                plan.name
            );
        }
    }
}

#[tokio::test]
async fn every_statement_uses_an_index_before_and_after_analyze() {
    let db = TestDb::new().await;
    check_plans(&db.store.query_plans().await.unwrap());

    // With statistics SQLite may choose differently; the plans must survive that.
    repos::post_repository_contract(&db.repos()).await;
    repos::follow_repository_contract(&db.repos()).await;
    let mut conn = sqlx::SqliteConnection::connect(&format!(
        "sqlite://{}",
        db.dir.path().join("test.db").display()
    ))
    .await
    .unwrap();
    sqlx::query("ANALYZE").execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    let fresh = SqliteStore::connect(db.dir.path().join("test.db").to_str().unwrap(), 1)
        .await
        .unwrap();
    check_plans(&fresh.query_plans().await.unwrap());
}
