//! Errors shared by ports and services.

use std::time::Duration;

use crate::model::ValidationErrors;
use crate::ports::RateDecision;

/// What any driven adapter may fail with, beyond the outcomes its port names.
///
/// Adapters translate their driver's errors into this; nothing above the adapter ever sees a
/// driver error, and the message is for logs only (the HTTP layer never shows it).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The backing service is down, overloaded or timed out (pool exhausted, connection
    /// refused). Callers answer 503: retrying later may succeed.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// Refused at once, before any work, because a bounded resource of this instance is
    /// saturated (the password-hashing queue is full, or a hash could not start within its wait
    /// limit). Callers answer 503 with `Retry-After`: nothing is broken, there is just too much
    /// at once.
    #[error("overloaded: {what}")]
    Overloaded {
        /// What was saturated, for logs.
        what: String,
        /// When a retry has a fair chance.
        retry_after: Duration,
    },
    /// Anything else: a bug, corrupt data, an unexpected driver answer. Callers answer 500.
    #[error("backend error: {0}")]
    Internal(String),
}

/// Signup and login.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("validation failed")]
    Invalid(#[from] ValidationErrors),
    #[error("Email already in use")]
    EmailTaken,
    #[error("Username already in use")]
    UsernameTaken,
    /// Unknown email and wrong password alike: the caller must not learn which.
    #[error("Invalid credentials")]
    InvalidCredentials,
    /// Too many failed logins for this account.
    #[error("Too many failed logins")]
    RateLimited(RateDecision),
    /// The `Idempotency-Key` was used, within its lifetime, for a different request (another
    /// username, name or password for the same email).
    #[error("Idempotency-Key already used for a different request")]
    KeyReused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a request's credential (bearer token or API key) was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// Malformed, forged, expired, revoked by a logout, or an unknown or revoked API key:
    /// the caller learns only "unauthorized".
    #[error("credential rejected")]
    Rejected,
    /// The store that says whether it was revoked could not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Managing API keys.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error("validation failed")]
    Invalid(#[from] ValidationErrors),
    /// The user holds [`crate::model::MAX_API_KEYS_PER_USER`] keys already.
    #[error("Too many API keys")]
    TooMany,
    #[error("API key not found")]
    NotFound,
    /// The caller's account does not exist (a genuine token for a vanished user).
    #[error("User not found")]
    UserNotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Profiles and the follow graph.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("validation failed")]
    Invalid(#[from] ValidationErrors),
    #[error("User not found")]
    NotFound,
    #[error("Cannot follow yourself")]
    CannotFollowSelf,
    #[error("Already following this user")]
    AlreadyFollowing,
    #[error("Not following this user")]
    NotFollowing,
    /// The `Idempotency-Key` was used, within its lifetime, for a different request.
    #[error("Idempotency-Key already used for a different request")]
    KeyReused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Posts, timelines and the feed.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error("validation failed")]
    Invalid(#[from] ValidationErrors),
    #[error("Post not found")]
    NotFound,
    #[error("User not found")]
    UserNotFound,
    #[error("You can only delete your own posts")]
    NotAuthor,
    /// The `Idempotency-Key` was used, within its lifetime, for a different request.
    #[error("Idempotency-Key already used for a different request")]
    KeyReused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Internal(format!("cached value could not be decoded: {e}"))
    }
}
