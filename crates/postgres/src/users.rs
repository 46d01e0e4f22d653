//! [`UserRepository`] over the `users` table.
//!
//! Every call runs on the primary: `by_id` serves `GET /users/me` and the API promises exact
//! counters right after the write that changed them; `credentials_by_email` serves a login
//! right after signup; `summaries` fills a cache that a profile change invalidates, and a
//! refill from a lagging replica would pin the old name for a whole TTL.
//!
//! Index use (plans in docs/SCALING.md): by id the primary key, by email
//! `users_email_lower_key`, by username `users_username_lower_key` (hence `lower(…) = $1`,
//! the indexed expressions), summaries the primary key (`= ANY`).

use async_trait::async_trait;
use domain::model::{
    Email, KeyClaim, Name, NewUser, ProfileUpdate, StoredCredentials, Tier, Timestamp, User,
    UserId, UserSummary, Username,
};
use domain::ports::{CreateUserError, Keyed, UserRepository};
use domain::StoreError;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{Postgres, Row};
use uuid::Uuid;

use crate::codec;
use crate::error::{store_error, violation, ResultExt, UNIQUE_VIOLATION};
use crate::idempotency::{self, claimed};
use crate::PgStore;

/// The columns [`user`] decodes, in order. A macro so that `concat!` builds every query as one
/// `&'static str` (a stable key for sqlx's per-connection prepared-statement cache).
macro_rules! user_columns {
    () => {
        "id, email, username, name, bio, created_at, \
         followers_count, following_count, posts_count, tier, tokens_valid_after"
    };
}

pub(crate) const INSERT: &str = "INSERT INTO users \
    (id, email, username, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)";

/// [`INSERT`] under an idempotency key (`$7` scope, `$8` key, `$9` fingerprint, `$10` its
/// lifetime): the user is inserted only when the key was claimed, and a taken email or name
/// fails the whole statement, claim included. Zero rows is a live key in the way.
pub(crate) const INSERT_KEYED: &str = concat!(
    "WITH ",
    claimed!("VALUES ($7, $8, $9, $1, $6)", "$10"),
    " \
    INSERT INTO users (id, email, username, name, password_hash, created_at) \
    SELECT $1, $2, $3, $4, $5, $6 FROM claimed"
);

/// Which unique rule an insert broke; see [`PgStore::which_conflict`].
pub(crate) const CONFLICT: &str = "\
    SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = $1), \
           EXISTS (SELECT 1 FROM users WHERE lower(username) = $2)";

pub(crate) const BY_ID: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");

pub(crate) const BY_USERNAME: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE lower(username) = $1"
);

/// The user columns, then the hash at index 11.
pub(crate) const BY_EMAIL: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", password_hash FROM users WHERE lower(email) = $1"
);

/// One statement for every combination of fields (`$2`/`$4` say whether to touch `name`/`bio`),
/// so one prepared statement serves all updates, and RETURNING saves the read back.
pub(crate) const UPDATE_PROFILE: &str = concat!(
    "UPDATE users SET \
         name = CASE WHEN $2 THEN $3 ELSE name END, \
         bio = CASE WHEN $4 THEN $5 ELSE bio END \
     WHERE id = $1 RETURNING ",
    user_columns!()
);

/// The later of the given instant and a millisecond past the current one (the port's rule;
/// GREATEST ignores the NULL of a user who never logged out).
pub(crate) const REVOKE_TOKENS: &str = "UPDATE users \
    SET tokens_valid_after = GREATEST(tokens_valid_after + interval '1 millisecond', $2) \
    WHERE id = $1";

pub(crate) const SET_TIER: &str =
    "UPDATE users SET tier = $2 WHERE lower(username) = $1 RETURNING id";

/// The ids travel as one array parameter: one prepared statement whatever the count, served
/// by the primary key. `= ANY` matches a row once however often its id is listed.
pub(crate) const SUMMARIES: &str = "SELECT id, username, name FROM users WHERE id = ANY($1)";

fn count_at(row: &PgRow, idx: usize) -> Result<u64, StoreError> {
    let n: i64 = row.try_get(idx).store()?;
    u64::try_from(n).map_err(|_| StoreError::Internal(format!("negative counter {n}")))
}

/// Decodes the columns of `user_columns!()`.
fn user(row: &PgRow) -> Result<User, StoreError> {
    Ok(User {
        id: UserId::from_uuid(row.try_get(0).store()?),
        email: row.try_get(1).store()?,
        username: row.try_get(2).store()?,
        name: row.try_get(3).store()?,
        bio: row.try_get(4).store()?,
        created_at: codec::time_at(row, 5)?,
        followers_count: count_at(row, 6)?,
        following_count: count_at(row, 7)?,
        posts_count: count_at(row, 8)?,
        tier: tier_at(row, 9)?,
        tokens_valid_after: row
            .try_get::<Option<time::OffsetDateTime>, _>(10)
            .store()?
            .map(Timestamp::from_datetime),
    })
}

/// `sql` ([`INSERT`] or [`INSERT_KEYED`]) with `new`'s six columns bound.
fn insert<'q>(sql: &'q str, new: &'q NewUser) -> Query<'q, Postgres, PgArguments> {
    sqlx::query(sql)
        .bind(new.id.as_uuid())
        .bind(new.email.as_str())
        .bind(new.username.as_str())
        .bind(new.name.as_ref().map(Name::as_str))
        .bind(new.password_hash.as_str())
        .bind(new.created_at.to_datetime())
}

fn tier_at(row: &PgRow, idx: usize) -> Result<Tier, StoreError> {
    let raw: &str = row.try_get(idx).store()?;
    Tier::parse(raw).ok_or_else(|| StoreError::Internal(format!("unknown tier {raw:?}")))
}

impl PgStore {
    /// After a unique violation on insert: which rule did the signup break?
    ///
    /// PostgreSQL names the first index it found violated, and which that is depends on index
    /// order, not on the port's rule that email is reported first. So ask the table: the
    /// conflicting row is committed (a racing insert waits for the other transaction's outcome
    /// before reporting the violation).
    async fn which_conflict(
        &self,
        new: &NewUser,
        message: &str,
    ) -> Result<CreateUserError, StoreError> {
        let row = self
            .primary_op(
                sqlx::query(CONFLICT)
                    .bind(new.email.as_str())
                    .bind(new.username.canonical())
                    .fetch_one(self.primary()),
            )
            .await?;
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

    /// The port's error for a failed insert of `new`.
    async fn insert_failed(&self, new: &NewUser, e: sqlx::Error) -> CreateUserError {
        match violation(&e, UNIQUE_VIOLATION) {
            Some(db) => match self.which_conflict(new, db.message()).await {
                Ok(conflict) => conflict,
                Err(e) => e.into(),
            },
            None => store_error(e).into(),
        }
    }

    async fn one_user(
        &self,
        sql: &'static str,
        key: impl for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
    ) -> Result<Option<User>, StoreError> {
        self.primary_op(sqlx::query(sql).bind(key).fetch_optional(self.primary()))
            .await?
            .as_ref()
            .map(user)
            .transpose()
    }
}

#[async_trait]
impl UserRepository for PgStore {
    async fn create(&self, new: &NewUser) -> Result<User, CreateUserError> {
        // A single INSERT: the unique indexes decide atomically, so of two racing signups for
        // one name exactly one commits; no read-then-write window.
        let inserted = self
            .primary_raw(insert(INSERT, new).execute(self.primary()))
            .await?;
        match inserted {
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
        let query =
            idempotency::bind_claim(insert(INSERT_KEYED, new), claim).bind(idempotency::TTL);
        match self.primary_raw(query.execute(self.primary())).await? {
            Ok(done) if done.rows_affected() == 0 => Ok(Keyed::Taken),
            Ok(_) => Ok(Keyed::Done(new.to_user())),
            Err(e) => Err(self.insert_failed(new, e).await),
        }
    }

    async fn by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.one_user(BY_ID, id.as_uuid()).await
    }

    async fn by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        self.one_user(BY_USERNAME, username.canonical()).await
    }

    async fn credentials_by_email(
        &self,
        email: &Email,
    ) -> Result<Option<StoredCredentials>, StoreError> {
        let row = self
            .primary_op(
                sqlx::query(BY_EMAIL)
                    .bind(email.as_str())
                    .fetch_optional(self.primary()),
            )
            .await?;
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
        let name = update
            .name
            .as_ref()
            .and_then(|n| n.as_ref().map(|n| n.as_str()));
        let bio = update
            .bio
            .as_ref()
            .and_then(|b| b.as_ref().map(|b| b.as_str()));
        self.primary_op(
            sqlx::query(UPDATE_PROFILE)
                .bind(id.as_uuid())
                .bind(update.name.is_some())
                .bind(name)
                .bind(update.bio.is_some())
                .bind(bio)
                .fetch_optional(self.primary()),
        )
        .await?
        .as_ref()
        .map(user)
        .transpose()
    }

    async fn summaries(&self, ids: &[UserId]) -> Result<Vec<UserSummary>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = ids.iter().map(|id| id.as_uuid()).collect();
        let rows = self
            .primary_op(sqlx::query(SUMMARIES).bind(ids).fetch_all(self.primary()))
            .await?;
        rows.iter().map(|r| codec::summary(r, 0)).collect()
    }

    async fn revoke_tokens(&self, id: UserId, at: Timestamp) -> Result<bool, StoreError> {
        let done = self
            .primary_op(
                sqlx::query(REVOKE_TOKENS)
                    .bind(id.as_uuid())
                    .bind(at.to_datetime())
                    .execute(self.primary()),
            )
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_tier(
        &self,
        username: &Username,
        tier: Tier,
    ) -> Result<Option<UserId>, StoreError> {
        let row = self
            .primary_op(
                sqlx::query(SET_TIER)
                    .bind(username.canonical())
                    .bind(tier.as_str())
                    .fetch_optional(self.primary()),
            )
            .await?;
        row.map(|r| r.try_get(0).store().map(UserId::from_uuid))
            .transpose()
    }
}
