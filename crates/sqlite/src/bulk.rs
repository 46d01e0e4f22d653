//! Bulk loading (`BulkStore`): one `BEGIN IMMEDIATE` transaction on the writer connection,
//! multi-row prepared inserts, and for a fresh load the secondary indexes and the counter
//! triggers set aside and rebuilt once at the end.
//!
//! The feed outbox triggers (`feed_outbox_*`, migration 0005) are set aside for every load,
//! fresh or not, and put back at its end: seeded rows must not record events, or millions of
//! them would flood the fan-out workers, and seeded users have no stored timelines to update
//! (a timeline is built from the database on its first read). (An `--append` seed that makes
//! existing users follow, or be followed, leaves any timeline they already have without those
//! edges until it is rebuilt.) They are dropped and recreated inside the load's transaction:
//! no other connection can write meanwhile (the load holds the write lock), and a load rolled
//! back leaves them in place. `commit` puts back anything still set aside, so a load can never
//! commit without them.
//!
//! Why one transaction: SQLite's DDL is transactional, so a crash or an error anywhere leaves
//! the database exactly as it was (indexes included), never half seeded and never without its
//! indexes. The page cache is raised for the load so that the transaction's dirty pages stay
//! in memory until the commit writes them once.

use async_trait::async_trait;
use domain::model::{FollowRecord, Name, NewUser, PostRecord};
use domain::ports::{BulkLoad, BulkStore};
use domain::StoreError;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, Executor, Row, Sqlite};

use crate::codec::key;
use crate::error::ResultExt;
use crate::store::{SqliteStore, BEGIN_WRITE};

/// Rows per INSERT statement. Each statement binds rows × columns parameters (under SQLite's
/// 32,766), and two statement shapes per table (full chunk, last chunk) stay cached.
const ROWS_PER_STATEMENT: usize = 500;

/// The load's page cache, in KiB (a negative `cache_size` is KiB): 1 GiB.
const LOAD_CACHE_KIB: i64 = 1 << 20;

/// What a load sets aside: with `?1` (fresh), every index and trigger with a definition of its
/// own; otherwise only the outbox triggers. The automatic indexes of PRIMARY KEY/UNIQUE
/// constraints have none and stay (they enforce the uniqueness the load must not break).
const SET_ASIDE: &str = "SELECT type, name, sql FROM sqlite_master \
    WHERE type IN ('index', 'trigger') AND tbl_name IN ('users', 'posts', 'follows') \
    AND sql IS NOT NULL AND (?1 OR (type = 'trigger' AND name GLOB 'feed_outbox_*')) \
    ORDER BY type, name";

/// Counters from the rows, through the indexes `restore` has rebuilt.
const RECOUNT: &str = "UPDATE users SET \
    followers_count = (SELECT count(*) FROM follows WHERE following_id = users.id), \
    following_count = (SELECT count(*) FROM follows WHERE follower_id = users.id), \
    posts_count = (SELECT count(*) FROM posts WHERE author_id = users.id)";

struct SqliteLoad {
    conn: PoolConnection<Sqlite>,
    /// Definitions of what was dropped, to run again in `restore`.
    set_aside: Vec<String>,
    cache_kib: i64,
    open: bool,
}

#[async_trait]
impl BulkStore for SqliteStore {
    async fn user_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(&self.read)
            .await
            .store()?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn begin_load(&self, fresh: bool) -> Result<Box<dyn BulkLoad>, StoreError> {
        let conn = self.write.acquire().await.store()?;
        // Built first, so that a failure below closes the connection (see `Drop`) instead of
        // pooling it with the load's cache size or inside its transaction.
        let mut load = SqliteLoad {
            conn,
            set_aside: Vec::new(),
            cache_kib: 0,
            open: true,
        };
        load.cache_kib = sqlx::query_scalar("PRAGMA cache_size")
            .fetch_one(&mut *load.conn)
            .await
            .store()?;
        let cache = format!("PRAGMA cache_size = -{LOAD_CACHE_KIB}");
        load.conn.execute(cache.as_str()).await.store()?;
        load.conn.execute(BEGIN_WRITE).await.store()?;
        let rows = sqlx::query(SET_ASIDE)
            .bind(fresh)
            .fetch_all(&mut *load.conn)
            .await
            .store()?;
        for row in rows {
            let (kind, name, sql): (String, String, String) = (
                row.try_get(0).store()?,
                row.try_get(1).store()?,
                row.try_get(2).store()?,
            );
            let drop = format!("DROP {} \"{}\"", kind.to_uppercase(), name.replace('"', ""));
            load.conn.execute(drop.as_str()).await.store()?;
            load.set_aside.push(sql);
        }
        Ok(Box::new(load))
    }

    async fn analyze(&self) -> Result<(), StoreError> {
        let mut conn = self.write.acquire().await.store()?;
        // `optimize` analyses what the load changed; the checkpoint folds the load's WAL into
        // the file and truncates it, instead of leaving it as large as the data.
        conn.execute("PRAGMA optimize").await.store()?;
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            .await
            .store()?;
        Ok(())
    }
}

impl SqliteLoad {
    /// Inserts `rows` in statements of [`ROWS_PER_STATEMENT`], binding each row with `bind`.
    async fn insert<T>(
        &mut self,
        head: &str,
        columns: usize,
        rows: &[T],
        bind: impl Fn(&mut SqliteArguments<'static>, &T) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut args = SqliteArguments::default();
            for row in chunk {
                bind(&mut args, row)?;
            }
            let sql = values_statement(head, columns, chunk.len());
            sqlx::query_with(&sql, args)
                .execute(&mut *self.conn)
                .await
                .store()?;
        }
        Ok(())
    }
}

/// `head VALUES (?, ?, …), (…)…` for `rows` rows of `columns` parameters.
fn values_statement(head: &str, columns: usize, rows: usize) -> String {
    let tuple = format!("({})", vec!["?"; columns].join(", "));
    let mut sql = String::with_capacity(head.len() + 8 + rows * (tuple.len() + 2));
    sql.push_str(head);
    sql.push_str(" VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&tuple);
    }
    sql
}

/// Binding into `SqliteArguments` only fails for a type SQLite cannot encode, which none of
/// these is; the error is still carried, not unwrapped.
fn bound(r: Result<(), sqlx::error::BoxDynError>) -> Result<(), StoreError> {
    r.map_err(|e| StoreError::Internal(format!("binding a bulk row: {e}")))
}

#[async_trait]
impl BulkLoad for SqliteLoad {
    async fn users(&mut self, rows: &[NewUser]) -> Result<(), StoreError> {
        let head = "INSERT INTO users (id, email, username, name, password_hash, created_at)";
        self.insert(head, 6, rows, |a, u| {
            bound(a.add(key(u.id.as_uuid())))?;
            bound(a.add(u.email.as_str().to_owned()))?;
            bound(a.add(u.username.as_str().to_owned()))?;
            bound(a.add(u.name.as_ref().map(|n: &Name| n.as_str().to_owned())))?;
            bound(a.add(u.password_hash.clone()))?;
            bound(a.add(u.created_at.unix_millis()))
        })
        .await
    }

    async fn follows(&mut self, rows: &[FollowRecord]) -> Result<(), StoreError> {
        let head = "INSERT INTO follows (id, follower_id, following_id, created_at)";
        self.insert(head, 4, rows, |a, f| {
            bound(a.add(key(f.id.as_uuid())))?;
            bound(a.add(key(f.follower_id.as_uuid())))?;
            bound(a.add(key(f.following_id.as_uuid())))?;
            bound(a.add(f.created_at.unix_millis()))
        })
        .await
    }

    async fn posts(&mut self, rows: &[PostRecord]) -> Result<(), StoreError> {
        let head = "INSERT INTO posts (id, author_id, content, created_at)";
        self.insert(head, 4, rows, |a, p| {
            bound(a.add(key(p.id.as_uuid())))?;
            bound(a.add(key(p.author_id.as_uuid())))?;
            bound(a.add(p.content.clone()))?;
            bound(a.add(p.created_at.unix_millis()))
        })
        .await
    }

    async fn restore(&mut self) -> Result<(), StoreError> {
        for sql in std::mem::take(&mut self.set_aside) {
            self.conn.execute(sql.as_str()).await.store()?;
        }
        Ok(())
    }

    async fn recount(&mut self) -> Result<(), StoreError> {
        self.conn.execute(RECOUNT).await.store()?;
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        // A caller that skipped `restore` must not commit the load without the outbox triggers
        // (nor, for a fresh one, without its indexes).
        self.restore().await?;
        self.conn.execute("COMMIT").await.store()?;
        self.open = false;
        let reset = format!("PRAGMA cache_size = {}", self.cache_kib);
        self.conn.execute(reset.as_str()).await.store()?;
        Ok(())
    }
}

impl Drop for SqliteLoad {
    /// An abandoned load (an error, a cancelled seed) must not go back to the pool inside its
    /// transaction: the connection is closed instead, which makes SQLite roll it back.
    fn drop(&mut self) {
        if self.open {
            self.conn.close_on_drop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::values_statement;

    #[test]
    fn statement_shape() {
        assert_eq!(
            values_statement("INSERT INTO t (a, b)", 2, 2),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
        );
    }
}
