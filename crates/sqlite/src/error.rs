//! Translation of sqlx errors into the domain's [`StoreError`].
//!
//! The domain never sees a sqlx type: everything leaves this crate as `Unavailable` (retrying
//! later may work, callers answer 503) or `Internal` (a bug or corrupt data, 500). Outcomes a
//! port names (a taken email, an unknown user) are recognised by the repositories with the
//! helpers below, before this blanket mapping applies.

use domain::StoreError;
use sqlx::error::{DatabaseError, ErrorKind};

/// SQLite's primary result codes for "another connection holds the lock". They surface only
/// once `busy_timeout` has run out, i.e. under overload, which is what `Unavailable` means.
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;

/// Maps any sqlx error; see the module doc.
pub(crate) fn store_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        sqlx::Error::Database(db) if is_busy(db.as_ref()) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Internal(e.to_string()),
    }
}

/// Lets `?` convert sqlx results inside the repositories.
pub(crate) trait ResultExt<T> {
    fn store(self) -> Result<T, StoreError>;
}

impl<T> ResultExt<T> for Result<T, sqlx::Error> {
    fn store(self) -> Result<T, StoreError> {
        self.map_err(store_error)
    }
}

fn is_busy(db: &dyn DatabaseError) -> bool {
    // sqlx reports the *extended* result code as text; its low byte is the primary code.
    db.code()
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|code| matches!(code & 0xff, SQLITE_BUSY | SQLITE_LOCKED))
}

/// The database error behind `e` when it is a constraint violation of `kind`.
pub(crate) fn violation(e: &sqlx::Error, kind: ErrorKind) -> Option<&dyn DatabaseError> {
    match e {
        sqlx::Error::Database(db) if db.kind() == kind => Some(db.as_ref()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_exhaustion_is_unavailable() {
        assert!(matches!(
            store_error(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            store_error(sqlx::Error::RowNotFound),
            StoreError::Internal(_)
        ));
    }
}
