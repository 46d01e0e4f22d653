//! `socialscale seed` end to end on SQLite and PostgreSQL: the bulk paths load what the
//! generator makes, counters equal `count(*)`, every index, constraint and trigger is back,
//! a non-empty database is refused, a failed load leaves nothing behind, and one seed gives one
//! data set. PostgreSQL runs when `SOCIALSCALE_TEST_POSTGRES_URL` is set (CI sets it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use domain::model::{PostId, PostRecord, Timestamp};
use domain::ports::{BulkStore, PostRepository, UserRepository};
use postgres_adapter::testing::TestDatabase;
use postgres_adapter::{PgOptions, PgStore};
use server::commands::seed::{load, username, Plan, SeedReport};
use sqlite::SqliteStore;
use sqlx::{PgPool, Row, SqlitePool};

const NOW: i64 = 1_764_547_200_000;

fn plan(seed: u64) -> Plan {
    Plan {
        users: 400,
        follows: 15,
        posts: 4_000,
        days: 20,
        seed,
        now_ms: NOW,
    }
}

/// One database under test, with a plain SQL pool to check it from outside the adapter, and
/// the guard that deletes it when dropped (never read, only held).
#[allow(dead_code)]
enum Db {
    Sqlite(SqliteStore, SqlitePool, tempfile::TempDir),
    Postgres(PgStore, PgPool, TestDatabase),
}

async fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("seed.db").display());
    let store = SqliteStore::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();
    let pool = SqlitePool::connect(&url).await.unwrap();
    Db::Sqlite(store, pool, dir)
}

async fn postgres() -> Option<Db> {
    let db = TestDatabase::create("seed").await.unwrap()?;
    let store = PgStore::connect(&db.url, &[], PgOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let pool = PgPool::connect(&db.url).await.unwrap();
    Some(Db::Postgres(store, pool, db))
}

/// The same statement text works on both: only standard SQL below.
impl Db {
    fn bulk(&self) -> &dyn BulkStore {
        match self {
            Db::Sqlite(s, ..) => s,
            Db::Postgres(s, ..) => s,
        }
    }

    fn users(&self) -> &dyn UserRepository {
        match self {
            Db::Sqlite(s, ..) => s,
            Db::Postgres(s, ..) => s,
        }
    }

    fn posts(&self) -> &dyn PostRepository {
        match self {
            Db::Sqlite(s, ..) => s,
            Db::Postgres(s, ..) => s,
        }
    }

    async fn scalar(&self, sql: &str) -> i64 {
        match self {
            Db::Sqlite(_, p, _) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
            Db::Postgres(_, p, _) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        }
    }

    /// Every row of a query as text, in order: to compare two data sets.
    async fn dump(&self, sql: &str) -> Vec<String> {
        let render = |cols: usize, get: &dyn Fn(usize) -> String| {
            (0..cols).map(get).collect::<Vec<_>>().join("|")
        };
        match self {
            Db::Sqlite(_, p, _) => sqlx::query(sql)
                .fetch_all(p)
                .await
                .unwrap()
                .iter()
                .map(|r| render(r.len(), &|i| r.get::<String, _>(i)))
                .collect(),
            Db::Postgres(_, p, _) => sqlx::query(sql)
                .fetch_all(p)
                .await
                .unwrap()
                .iter()
                .map(|r| render(r.len(), &|i| r.get::<String, _>(i)))
                .collect(),
        }
    }

    /// Names of every index, constraint and trigger of the three tables.
    async fn schema_objects(&self) -> Vec<String> {
        let sql = match self {
            Db::Sqlite(..) => {
                "SELECT type || ' ' || name FROM sqlite_master WHERE tbl_name IN \
                 ('users', 'posts', 'follows') AND type IN ('index', 'trigger') ORDER BY 1"
            }
            Db::Postgres(..) => {
                "SELECT 'index ' || indexname FROM pg_indexes WHERE tablename IN \
                 ('users', 'posts', 'follows') UNION ALL SELECT 'constraint ' || conname \
                 FROM pg_constraint WHERE conrelid IN ('users'::regclass, 'posts'::regclass, \
                 'follows'::regclass) ORDER BY 1"
            }
        };
        self.dump(sql).await
    }
}

/// Users whose stored counters differ from a count of the rows.
const WRONG_COUNTERS: &str = "SELECT count(*) FROM users u WHERE \
    followers_count <> (SELECT count(*) FROM follows WHERE following_id = u.id) OR \
    following_count <> (SELECT count(*) FROM follows WHERE follower_id = u.id) OR \
    posts_count <> (SELECT count(*) FROM posts WHERE author_id = u.id)";

async fn counts(db: &Db) -> (i64, i64, i64) {
    (
        db.scalar("SELECT count(*) FROM users").await,
        db.scalar("SELECT count(*) FROM follows").await,
        db.scalar("SELECT count(*) FROM posts").await,
    )
}

async fn seeds_exactly(db: Db) {
    let before = db.schema_objects().await;
    let report: SeedReport = load(db.bulk(), plan(1), false, false).await.unwrap();
    assert_eq!(
        counts(&db).await,
        (400, report.follows as i64, 4_000),
        "rows as reported"
    );
    assert!(
        report.follows > 400 * 10,
        "about 15 follows per user: {}",
        report.follows
    );
    assert_eq!(
        db.scalar(WRONG_COUNTERS).await,
        0,
        "counters equal count(*)"
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM follows WHERE follower_id = following_id")
            .await,
        0
    );
    assert_eq!(
        db.schema_objects().await,
        before,
        "every index, constraint, trigger is back"
    );

    // The seeded accounts are the documented ones, and the heavy account is the heaviest.
    let heavy = db.scalar("SELECT max(followers_count) FROM users").await;
    assert_eq!(i64::from(report.heavy.followers), heavy);
    assert!(report.heavy.email.ends_with("_s1@example.com"));
    let name = domain::model::Username::parse(&username(1, 7)).unwrap();
    let user = db
        .users()
        .by_username(&name)
        .await
        .unwrap()
        .expect("seeded user 7");

    // The rebuilt schema still works: a new post bumps the counter (SQLite's trigger), a
    // duplicate id is refused (the restored primary key).
    let post = PostRecord {
        id: PostId::from_uuid(uuid::Uuid::now_v7()),
        author_id: user.id,
        content: "after the seed".into(),
        created_at: Timestamp::from_unix_millis(NOW),
    };
    assert!(db.posts().create(&post).await.unwrap());
    assert!(
        db.posts().create(&post).await.is_err(),
        "primary key restored"
    );
    let after = db.users().by_id(user.id).await.unwrap().unwrap();
    assert_eq!(after.posts_count, user.posts_count + 1);
    assert_eq!(db.scalar(WRONG_COUNTERS).await, 0);

    if let Db::Sqlite(store, ..) = &db {
        for plan in store.query_plans().await.unwrap() {
            assert!(
                plan.full_scans().is_empty(),
                "{} after a seed: {:?}",
                plan.name,
                plan.steps
            );
        }
    }
}

async fn refuses_non_empty_appends_and_rolls_back(db: Db) {
    load(
        db.bulk(),
        Plan {
            users: 50,
            posts: 100,
            ..plan(1)
        },
        false,
        false,
    )
    .await
    .unwrap();
    let objects = db.schema_objects().await;
    let refused = load(db.bulk(), plan(2), false, false)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("already has 50 users") && refused.contains("--append"),
        "{refused}"
    );
    assert_eq!(counts(&db).await.0, 50);

    // The same seed again collides on its own ids: the whole load rolls back.
    let before = counts(&db).await;
    let collided = load(
        db.bulk(),
        Plan {
            users: 50,
            posts: 100,
            ..plan(1)
        },
        true,
        false,
    )
    .await;
    assert!(collided.is_err());
    assert_eq!(counts(&db).await, before, "a failed load leaves nothing");
    assert_eq!(db.schema_objects().await, objects);

    let report = load(
        db.bulk(),
        Plan {
            users: 60,
            posts: 300,
            ..plan(3)
        },
        true,
        false,
    )
    .await
    .unwrap();
    let (users, follows, posts) = counts(&db).await;
    assert_eq!(users, 110);
    assert_eq!(posts, before.2 + 300);
    assert_eq!(follows, before.1 + report.follows as i64);
    assert_eq!(db.scalar(WRONG_COUNTERS).await, 0);
    assert_eq!(db.schema_objects().await, objects);
}

async fn same_seed_same_data(a: Db, b: Db) {
    load(a.bulk(), plan(5), false, false).await.unwrap();
    load(b.bulk(), plan(5), false, false).await.unwrap();
    let queries = [
        "SELECT CAST(id AS TEXT), email, username, CAST(created_at AS TEXT), \
         CAST(followers_count AS TEXT) FROM users ORDER BY id",
        "SELECT CAST(id AS TEXT), CAST(follower_id AS TEXT), CAST(following_id AS TEXT) \
         FROM follows ORDER BY id",
        "SELECT CAST(id AS TEXT), CAST(author_id AS TEXT), content FROM posts ORDER BY id",
    ];
    for sql in queries {
        let (x, y) = (a.dump(sql).await, b.dump(sql).await);
        assert!(!x.is_empty());
        assert_eq!(x, y, "{sql}");
    }
}

#[tokio::test]
async fn sqlite_seeds_exactly() {
    seeds_exactly(sqlite().await).await;
}

#[tokio::test]
async fn sqlite_refuses_non_empty_appends_and_rolls_back() {
    refuses_non_empty_appends_and_rolls_back(sqlite().await).await;
}

#[tokio::test]
async fn sqlite_same_seed_same_data() {
    same_seed_same_data(sqlite().await, sqlite().await).await;
}

#[tokio::test]
async fn postgres_seeds_exactly() {
    if let Some(db) = postgres().await {
        seeds_exactly(db).await;
    }
}

#[tokio::test]
async fn postgres_refuses_non_empty_appends_and_rolls_back() {
    if let Some(db) = postgres().await {
        refuses_non_empty_appends_and_rolls_back(db).await;
    }
}

#[tokio::test]
async fn postgres_same_seed_same_data() {
    if let (Some(a), Some(b)) = (postgres().await, postgres().await) {
        same_seed_same_data(a, b).await;
    }
}
