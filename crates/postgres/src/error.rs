//! Translation of sqlx errors into the domain's [`StoreError`].
//!
//! The domain never sees a sqlx type: everything leaves this crate as `Unavailable` (the
//! database is down, overloaded or timed out: callers answer 503 and a retry may work) or
//! `Internal` (a bug or a schema mismatch: 500). Outcomes a port names (a taken email, an
//! unknown user) are recognised by the repositories with [`violation`] before this blanket
//! mapping applies.

use domain::StoreError;
use sqlx::error::DatabaseError;

/// SQLSTATE classes and codes that mean "not now" rather than "never".
///
/// * `08…` connection exception; `53…` insufficient resources (`53300` too many connections);
/// * `57014` query_canceled: our `statement_timeout` fired, i.e. overload;
/// * `57P01`–`57P03` admin shutdown, crash shutdown, cannot connect now (starting up);
/// * `40001` / `40P01` serialization failure, deadlock: retryable by definition;
/// * `25006` read-only transaction: a write reached a standby (mid-failover).
fn is_transient(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(
            code,
            "57014" | "57P01" | "57P02" | "57P03" | "40001" | "40P01" | "25006"
        )
}

/// Maps any sqlx error; see the module doc.
pub(crate) fn store_error(e: sqlx::Error) -> StoreError {
    if is_unavailable(&e) {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Internal(e.to_string())
    }
}

/// Whether `e` says the server (or the way to it) is unusable right now.
pub(crate) fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| is_transient(&c)),
        _ => false,
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

pub(crate) const UNIQUE_VIOLATION: &str = "23505";
pub(crate) const FOREIGN_KEY_VIOLATION: &str = "23503";

/// The database error behind `e` when its SQLSTATE is `code`.
pub(crate) fn violation<'e>(e: &'e sqlx::Error, code: &str) -> Option<&'e dyn DatabaseError> {
    match e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some(code) => Some(db.as_ref()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overload_and_outages_are_unavailable() {
        assert!(matches!(
            store_error(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(is_unavailable(&sqlx::Error::Io(refused)));
        assert!(matches!(
            store_error(sqlx::Error::RowNotFound),
            StoreError::Internal(_)
        ));
        for code in ["57014", "08006", "53300", "40P01", "25006"] {
            assert!(is_transient(code), "{code}");
        }
        for code in ["23505", "42P01", "22P02"] {
            assert!(!is_transient(code), "{code}");
        }
    }
}
