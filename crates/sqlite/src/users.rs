//! [`UserRepository`] over the `users` table.
//!
//! Index use (checked by `tests/contract.rs` with EXPLAIN QUERY PLAN): lookups by id use the
//! primary key, by email the UNIQUE(email) index, by username `users_username_lower_key`
//! (which is why they compare `lower(username)`, the indexed expression).

use async_trait::async_trait;
use domain::model::{
    Email, KeyClaim, Name, NewUser, ProfileUpdate, StoredCredentials, Tier, Timestamp, User,
    UserId, UserSummary, Username,
};
use domain::ports::{CreateUserError, Keyed, UserRepository};
use domain::StoreError;
use sqlx::error::ErrorKind;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Row, Sqlite};

use crate::codec::{self, key};
use crate::error::{store_error, violation, ResultExt};
use crate::idempotency;
use crate::store::BEGIN_WRITE;
use crate::SqliteStore;

/// The columns [`user`] decodes, in order. A macro rather than a `const` so that `concat!`
/// builds every query as one `&'static str` (no formatting per call, and a stable key for
/// sqlx's prepared-statement cache).
macro_rules! user_columns {
    () => {
        "id, email, username, name, bio, created_at, \
         followers_count, following_count, posts_count, tier, tokens_valid_after"
    };
}

pub(crate) const INSERT: &str = "INSERT INTO users \
    (id, email, username, name, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// Which unique rule an insert broke; see [`SqliteStore::which_conflict`].
pub(crate) const CONFLICT: &str = "\
    SELECT EXISTS (SELECT 1 FROM users WHERE email = ?1), \
           EXISTS (SELECT 1 FROM users WHERE lower(username) = ?2)";

pub(crate) const BY_ID: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = ?1");

pub(crate) const BY_USERNAME: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE lower(username) = ?1"
);

/// The user columns, then the hash at index 11.
pub(crate) const BY_EMAIL: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", password_hash FROM users WHERE email = ?1"
);

/// One statement for every combination of fields (`?2`/`?4` say whether to touch `name`/`bio`),
/// so one cached statement serves all updates, and RETURNING saves the read back.
pub(crate) const UPDATE_PROFILE: &str = concat!(
    "UPDATE users SET \
         name = CASE WHEN ?2 THEN ?3 ELSE name END, \
         bio = CASE WHEN ?4 THEN ?5 ELSE bio END \
     WHERE id = ?1 RETURNING ",
    user_columns!()
);

/// The later of the given instant and a millisecond past the current one (the port's rule).
pub(crate) const REVOKE_TOKENS: &str = "UPDATE users \
    SET tokens_valid_after = MAX(COALESCE(tokens_valid_after + 1, ?2), ?2) WHERE id = ?1";

pub(crate) const SET_TIER: &str =
    "UPDATE users SET tier = ?2 WHERE lower(username) = ?1 RETURNING id";

/// The ids travel as one JSON array bound to one parameter: a single cached statement whatever
/// the count. The list drives the loop (`CROSS JOIN`), each id then looked up through the
/// primary key: with an `id IN (...)` form, statistics on a small table made SQLite scan
/// `users` instead. DISTINCT keeps a repeated id from repeating its summary.
pub(crate) const SUMMARIES: &str = "SELECT u.id, u.username, u.name \
    FROM (SELECT DISTINCT value FROM json_each(?1)) AS j \
    CROSS JOIN users AS u ON u.id = j.value";

fn count_at(row: &SqliteRow, idx: usize) -> Result<u64, StoreError> {
    let n: i64 = row.try_get(idx).store()?;
    u64::try_from(n).map_err(|_| StoreError::Internal(format!("negative counter {n}")))
}

/// Decodes the columns of `user_columns!()`.
fn user(row: &SqliteRow) -> Result<User, StoreError> {
    Ok(User {
        id: UserId::from_uuid(codec::uuid_at(row, 0)?),
        email: row.try_get(1).store()?,
        username: row.try_get(2).store()?,
        name: row.try_get(3).store()?,
        bio: row.try_get(4).store()?,
        created_at: Timestamp::from_unix_millis(row.try_get(5).store()?),
        followers_count: count_at(row, 6)?,
        following_count: count_at(row, 7)?,
        posts_count: count_at(row, 8)?,
        tier: tier_at(row, 9)?,
        tokens_valid_after: row
            .try_get::<Option<i64>, _>(10)
            .store()?
            .map(Timestamp::from_unix_millis),
    })
}

/// [`INSERT`] of `new`.
fn insert(new: &NewUser) -> sqlx::query::Query<'_, Sqlite, SqliteArguments<'_>> {
    sqlx::query(INSERT)
        .bind(key(new.id.as_uuid()))
        .bind(new.email.as_str())
        .bind(new.username.as_str())
        .bind(new.name.as_ref().map(Name::as_str))
        .bind(new.password_hash.as_str())
        .bind(new.created_at.unix_millis())
}

fn tier_at(row: &SqliteRow, idx: usize) -> Result<Tier, StoreError> {
    let raw: &str = row.try_get(idx).store()?;
    Tier::parse(raw).ok_or_else(|| StoreError::Internal(format!("unknown tier {raw:?}")))
}

impl SqliteStore {
    /// After a unique violation on insert: which rule did the signup break?
    ///
    /// SQLite reports only the first index it happened to check, and which one that is
    /// depends on index order, not on the port's rule that email is reported first. So ask
    /// the table. The writer pool is used: the conflicting row was just committed by it.
    async fn which_conflict(
        &self,
        new: &NewUser,
        message: &str,
    ) -> Result<CreateUserError, StoreError> {
        let row = sqlx::query(CONFLICT)
            .bind(new.email.as_str())
            .bind(new.username.canonical())
            .fetch_one(&self.write)
            .await
            .store()?;
        let (email, username): (bool, bool) = (row.try_get(0).store()?, row.try_get(1).store()?);
        Ok(if email {
            CreateUserError::EmailTaken
        } else if username {
            CreateUserError::UsernameTaken
        } else {
            // Only the id is left: the id generator repeated itself, a bug.
            CreateUserError::Store(StoreError::Internal(message.to_owned()))
        })
    }

    /// The port's error for a failed insert of `new` (once its transaction, if any, is over:
    /// this reads on the one writer connection).
    async fn insert_failed(&self, new: &NewUser, e: sqlx::Error) -> CreateUserError {
        match violation(&e, ErrorKind::UniqueViolation) {
            Some(db) => match self.which_conflict(new, db.message()).await {
                Ok(conflict) => conflict,
                Err(e) => e.into(),
            },
            None => store_error(e).into(),
        }
    }
}

#[async_trait]
impl UserRepository for SqliteStore {
    async fn create(&self, new: &NewUser) -> Result<User, CreateUserError> {
        // A single INSERT: the UNIQUE indexes decide atomically, so of two racing signups for
        // one name exactly one commits; no read-then-write window.
        match insert(new).execute(&self.write).await {
            // Everything stored is known, so no read back.
            Ok(_) => Ok(new.to_user()),
            Err(e) => Err(self.insert_failed(new, e).await),
        }
    }

    async fn create_keyed(
        &self,
        new: &NewUser,
        claim: &KeyClaim,
    ) -> Result<Keyed<User>, CreateUserError> {
        // The claim first: a live key answers `Taken` before the email or username is checked.
        let mut tx = self.write.begin_with(BEGIN_WRITE).await.store()?;
        let (id, at) = (new.id.as_uuid(), new.created_at);
        if !idempotency::claim(&mut tx, claim, id, at).await.store()? {
            tx.rollback().await.store()?;
            return Ok(Keyed::Taken);
        }
        if let Err(e) = insert(new).execute(&mut *tx).await {
            // Rolled back (the claim with it) before the conflict is looked up on the writer.
            tx.rollback().await.store()?;
            return Err(self.insert_failed(new, e).await);
        }
        tx.commit().await.store()?;
        Ok(Keyed::Done(new.to_user()))
    }

    async fn by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        sqlx::query(BY_ID)
            .bind(key(id.as_uuid()))
            .fetch_optional(&self.read)
            .await
            .store()?
            .as_ref()
            .map(user)
            .transpose()
    }

    async fn by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        sqlx::query(BY_USERNAME)
            .bind(username.canonical())
            .fetch_optional(&self.read)
            .await
            .store()?
            .as_ref()
            .map(user)
            .transpose()
    }

    async fn credentials_by_email(
        &self,
        email: &Email,
    ) -> Result<Option<StoredCredentials>, StoreError> {
        let row = sqlx::query(BY_EMAIL)
            .bind(email.as_str())
            .fetch_optional(&self.read)
            .await
            .store()?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(StoredCredentials {
            user: user(&row)?,
            password_hash: row.try_get(11).store()?,
        }))
    }

    async fn update_profile(
        &self,
        id: UserId,
        update: &ProfileUpdate,
    ) -> Result<Option<User>, StoreError> {
        sqlx::query(UPDATE_PROFILE)
            .bind(key(id.as_uuid()))
            .bind(update.name.is_some())
            .bind(
                update
                    .name
                    .as_ref()
                    .and_then(|n| n.as_ref().map(|n| n.as_str())),
            )
            .bind(update.bio.is_some())
            .bind(
                update
                    .bio
                    .as_ref()
                    .and_then(|b| b.as_ref().map(|b| b.as_str())),
            )
            .fetch_optional(&self.write)
            .await
            .store()?
            .as_ref()
            .map(user)
            .transpose()
    }

    async fn summaries(&self, ids: &[UserId]) -> Result<Vec<UserSummary>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let json = codec::key_list(ids.iter().map(|id| id.as_uuid()));
        let rows = sqlx::query(SUMMARIES)
            .bind(json)
            .fetch_all(&self.read)
            .await
            .store()?;
        rows.iter().map(|r| codec::summary(r, 0)).collect()
    }

    async fn revoke_tokens(&self, id: UserId, at: Timestamp) -> Result<bool, StoreError> {
        let done = sqlx::query(REVOKE_TOKENS)
            .bind(key(id.as_uuid()))
            .bind(at.unix_millis())
            .execute(&self.write)
            .await
            .store()?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_tier(
        &self,
        username: &Username,
        tier: Tier,
    ) -> Result<Option<UserId>, StoreError> {
        let row = sqlx::query(SET_TIER)
            .bind(username.canonical())
            .bind(tier.as_str())
            .fetch_optional(&self.write)
            .await
            .store()?;
        row.map(|r| codec::uuid_at(&r, 0).map(UserId::from_uuid))
            .transpose()
    }
}
