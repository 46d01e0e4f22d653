//! Bulk loading (`BulkStore`): `COPY … FROM STDIN` inside one transaction, and for a fresh
//! load the constraints and secondary indexes set aside and rebuilt once at the end.
//!
//! Why this shape:
//! - `COPY` streams rows without a statement, a plan or a round trip per row.
//! - Building an index once over sorted input is far cheaper than maintaining it row by row,
//!   and foreign keys checked once per table (one anti-join) are cheaper than one probe per
//!   row. The users' primary key stays: it is small and the load's own rows need it.
//! - PostgreSQL's DDL is transactional, so a crash or an error anywhere rolls back to the
//!   database as it was, with every index and constraint in place. The load holds an exclusive
//!   lock on the tables meanwhile (a fresh load is of an empty database: nobody to block).
//! - Counters are computed in one `UPDATE … FROM (aggregates)` after the rows are in.
//!
//! The feed outbox triggers (`feed_outbox_*`, migration 0004) are disabled for every load, fresh
//! or not, and enabled again at its end: seeded rows must not record events, or millions of
//! them would flood the fan-out workers, and seeded users have no stored timelines to update
//! (a timeline is built from the database on its first read). (An `--append` seed that makes
//! existing users follow, or be followed, leaves any timeline they already have without those
//! edges until it is rebuilt.) `ALTER TABLE … DISABLE TRIGGER` is transactional: a load rolled
//! back leaves them enabled. It also locks `posts` and `follows` against writes until the load
//! commits, so no write of another session can slip in while they are off; an `--append` seed
//! next to a running server therefore holds the server's post and follow writes for its
//! duration (they time out with 503). `commit` enables anything still disabled, so a load can
//! never commit without them.

use async_trait::async_trait;
use domain::model::{FollowRecord, NewUser, PostRecord, Timestamp};
use domain::ports::{BulkLoad, BulkStore};
use domain::StoreError;
use sqlx::{Connection, Executor, Postgres, Row, Transaction};
use uuid::Uuid;

use crate::error::ResultExt;
use crate::store::PgStore;

/// The transaction's settings: no statement timeout (an index build over 25M rows takes
/// minutes), memory for sorting index builds, and parallel builds on every core.
const LOAD_SETTINGS: &str = "SET LOCAL statement_timeout = 0; \
    SET LOCAL maintenance_work_mem = '1GB'; \
    SET LOCAL max_parallel_maintenance_workers = 2";

/// Primary keys, unique and foreign-key constraints of the two big tables, foreign keys first
/// (they depend on the others' indexes), with the definition to add them back.
const CONSTRAINTS: &str = "SELECT conrelid::regclass::text, quote_ident(conname), \
    pg_get_constraintdef(oid), contype = 'f' FROM pg_constraint \
    WHERE conrelid IN ('posts'::regclass, 'follows'::regclass) AND contype IN ('p', 'u', 'f') \
    ORDER BY contype = 'f' DESC, conname";

/// Indexes of the three tables that back no constraint, with their definitions.
const INDEXES: &str = "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), \
    pg_get_indexdef(i.indexrelid) FROM pg_index i \
    JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
    WHERE i.indrelid IN ('users'::regclass, 'posts'::regclass, 'follows'::regclass) \
    AND NOT EXISTS (SELECT 1 FROM pg_constraint k \
                    WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x')) \
    ORDER BY 1";

/// The outbox triggers still enabled, to disable for the load.
const OUTBOX_TRIGGERS: &str =
    "SELECT tgrelid::regclass::text, quote_ident(tgname) FROM pg_trigger \
    WHERE tgrelid IN ('posts'::regclass, 'follows'::regclass) AND NOT tgisinternal \
    AND tgenabled <> 'D' AND tgname LIKE 'feed\\_outbox\\_%' ORDER BY 1, 2";

const RECOUNT: &str = "UPDATE users u SET followers_count = c.followers, \
    following_count = c.following, posts_count = c.posts \
    FROM (SELECT x.id, coalesce(fo.n, 0) AS followers, coalesce(fi.n, 0) AS following, \
                 coalesce(p.n, 0) AS posts \
          FROM users x \
          LEFT JOIN (SELECT following_id AS id, count(*) AS n FROM follows GROUP BY 1) fo \
            ON fo.id = x.id \
          LEFT JOIN (SELECT follower_id AS id, count(*) AS n FROM follows GROUP BY 1) fi \
            ON fi.id = x.id \
          LEFT JOIN (SELECT author_id AS id, count(*) AS n FROM posts GROUP BY 1) p \
            ON p.id = x.id) c \
    WHERE u.id = c.id AND (u.followers_count, u.following_count, u.posts_count) \
          IS DISTINCT FROM (c.followers, c.following, c.posts)";

struct PgLoad {
    tx: Transaction<'static, Postgres>,
    /// Statements that put back what was set aside, in order.
    restore: Vec<String>,
    buf: Vec<u8>,
}

#[async_trait]
impl BulkStore for PgStore {
    async fn user_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(self.primary())
            .await
            .store()?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn begin_load(&self, fresh: bool) -> Result<Box<dyn BulkLoad>, StoreError> {
        let mut tx = self.primary().begin().await.store()?;
        tx.execute(LOAD_SETTINGS).await.store()?;
        let mut restore = Vec::new();
        if fresh {
            let mut drops = Vec::new();
            let mut keys = Vec::new();
            let mut foreign = Vec::new();
            for row in sqlx::query(CONSTRAINTS).fetch_all(&mut *tx).await.store()? {
                let (table, name, def, is_foreign): (String, String, String, bool) = (
                    row.try_get(0).store()?,
                    row.try_get(1).store()?,
                    row.try_get(2).store()?,
                    row.try_get(3).store()?,
                );
                drops.push(format!("ALTER TABLE {table} DROP CONSTRAINT {name}"));
                let add = format!("ALTER TABLE {table} ADD CONSTRAINT {name} {def}");
                if is_foreign {
                    foreign.push(add);
                } else {
                    keys.push(add);
                }
            }
            let mut indexes = Vec::new();
            for row in sqlx::query(INDEXES).fetch_all(&mut *tx).await.store()? {
                let (name, def): (String, String) =
                    (row.try_get(0).store()?, row.try_get(1).store()?);
                drops.push(format!("DROP INDEX {name}"));
                indexes.push(def);
            }
            for sql in &drops {
                tx.execute(sql.as_str()).await.store()?;
            }
            // Keys and unique constraints, then plain indexes, then foreign keys (which need
            // the referenced keys).
            restore.extend(keys);
            restore.extend(indexes);
            restore.extend(foreign);
        }
        for row in sqlx::query(OUTBOX_TRIGGERS)
            .fetch_all(&mut *tx)
            .await
            .store()?
        {
            let (table, name): (String, String) =
                (row.try_get(0).store()?, row.try_get(1).store()?);
            let disable = format!("ALTER TABLE {table} DISABLE TRIGGER {name}");
            tx.execute(disable.as_str()).await.store()?;
            restore.push(format!("ALTER TABLE {table} ENABLE TRIGGER {name}"));
        }
        Ok(Box::new(PgLoad {
            tx,
            restore,
            buf: Vec::with_capacity(1 << 20),
        }))
    }

    async fn analyze(&self) -> Result<(), StoreError> {
        // VACUUM also sets the visibility map, without which the covering follow indexes
        // cannot answer index-only. It runs outside a transaction, on a connection of its own
        // with no statement timeout, closed afterwards rather than pooled with that setting.
        let conn = self.primary().acquire().await.store()?;
        let mut conn = conn.detach();
        conn.execute("SET statement_timeout = 0").await.store()?;
        conn.execute("VACUUM (ANALYZE) users, posts, follows")
            .await
            .store()?;
        conn.close().await.store()
    }
}

impl PgLoad {
    async fn copy(&mut self, statement: &str) -> Result<(), StoreError> {
        let mut copy = self.tx.copy_in_raw(statement).await.store()?;
        copy.send(self.buf.as_slice()).await.store()?;
        copy.finish().await.store()?;
        self.buf.clear();
        Ok(())
    }
}

/// COPY's text format: tab-separated, `\N` for NULL, backslash escapes.
fn field(buf: &mut Vec<u8>, value: &str) {
    for b in value.bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            _ => buf.push(b),
        }
    }
}

fn uuid(buf: &mut Vec<u8>, id: Uuid) {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    buf.extend_from_slice(id.hyphenated().encode_lower(&mut text).as_bytes());
}

fn time(buf: &mut Vec<u8>, t: Timestamp) {
    buf.extend_from_slice(t.to_rfc3339().as_bytes());
}

fn tab(buf: &mut Vec<u8>) {
    buf.push(b'\t');
}

#[async_trait]
impl BulkLoad for PgLoad {
    async fn users(&mut self, rows: &[NewUser]) -> Result<(), StoreError> {
        for u in rows {
            let b = &mut self.buf;
            uuid(b, u.id.as_uuid());
            tab(b);
            field(b, u.email.as_str());
            tab(b);
            field(b, u.username.as_str());
            tab(b);
            match &u.name {
                Some(n) => field(b, n.as_str()),
                None => b.extend_from_slice(b"\\N"),
            }
            tab(b);
            field(b, &u.password_hash);
            tab(b);
            time(b, u.created_at);
            b.push(b'\n');
        }
        self.copy("COPY users (id, email, username, name, password_hash, created_at) FROM STDIN")
            .await
    }

    async fn follows(&mut self, rows: &[FollowRecord]) -> Result<(), StoreError> {
        for f in rows {
            let b = &mut self.buf;
            uuid(b, f.follower_id.as_uuid());
            tab(b);
            uuid(b, f.following_id.as_uuid());
            tab(b);
            uuid(b, f.id.as_uuid());
            tab(b);
            time(b, f.created_at);
            b.push(b'\n');
        }
        self.copy("COPY follows (follower_id, following_id, id, created_at) FROM STDIN")
            .await
    }

    async fn posts(&mut self, rows: &[PostRecord]) -> Result<(), StoreError> {
        for p in rows {
            let b = &mut self.buf;
            uuid(b, p.id.as_uuid());
            tab(b);
            uuid(b, p.author_id.as_uuid());
            tab(b);
            field(b, &p.content);
            tab(b);
            time(b, p.created_at);
            b.push(b'\n');
        }
        self.copy("COPY posts (id, author_id, content, created_at) FROM STDIN")
            .await
    }

    async fn restore(&mut self) -> Result<(), StoreError> {
        for sql in std::mem::take(&mut self.restore) {
            self.tx.execute(sql.as_str()).await.store()?;
        }
        Ok(())
    }

    async fn recount(&mut self) -> Result<(), StoreError> {
        self.tx.execute(RECOUNT).await.store()?;
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        // A caller that skipped `restore` must not commit the load with the outbox triggers
        // off (nor, for a fresh one, without its indexes and constraints).
        self.restore().await?;
        self.tx.commit().await.store()
    }
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn copy_text_escapes() {
        let mut buf = Vec::new();
        field(&mut buf, "a\tb\\c\nd\re");
        assert_eq!(buf, b"a\\tb\\\\c\\nd\\re");
    }
}
