//! `ApiError`: every failure the API can answer, mapped to the contract's status and `type`.

use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::error::{ApiKeyError, AuthError, PostError, UserError};
use domain::model::ValidationErrors;
use domain::ports::RateDecision;
use domain::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::limit_headers::{insert_decision_headers, retry_after_value};

/// The body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// A sentence for humans.
    pub error: String,
    /// The error class: `ValidationError`, `UnauthorizedError`, `ForbiddenError`,
    /// `NotFoundError`, `MethodNotAllowedError`, `ConflictError`, `PayloadTooLargeError`,
    /// `UnsupportedMediaTypeError`, `IdempotencyKeyReusedError`, `RateLimitError`,
    /// `InternalServerError`, `ServiceUnavailableError`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Present on validation errors only: one entry per broken rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<FieldErrorBody>>,
}

#[derive(Serialize, ToSchema)]
pub struct FieldErrorBody {
    pub field: String,
    pub message: String,
}

#[derive(Debug)]
pub enum ApiError {
    /// 400: a field breaks a rule; `details` lists every broken rule.
    Validation(ValidationErrors),
    /// 400: the request is not something we can read (malformed JSON, wrong types).
    BadRequest(String),
    /// 401: missing, malformed, expired or forged credentials.
    Unauthorized(&'static str),
    /// 403: authenticated but not allowed.
    Forbidden(&'static str),
    /// 404: unknown user, post or route.
    NotFound(&'static str),
    /// 405: known route, wrong method.
    MethodNotAllowed,
    /// 409: a uniqueness rule.
    Conflict(&'static str),
    /// 413: body over the limit.
    PayloadTooLarge,
    /// 415: a body that is not JSON.
    UnsupportedMediaType,
    /// 422: an `Idempotency-Key` already used, within its lifetime, for a different request.
    KeyReused,
    /// 429: a rate limit was hit.
    RateLimited(RateDecision),
    /// 503: a dependency is down or the server is stopping. The cause goes to the log only.
    Unavailable(String),
    /// 503 with `Retry-After`: refused before any work because this instance is saturated
    /// (`HTTP_MAX_IN_FLIGHT` requests in flight, or a full password-hashing
    /// queue). The cause goes to the log only.
    Overloaded {
        cause: String,
        retry_after: Duration,
    },
    /// 503: the request was not handled within `HTTP_REQUEST_TIMEOUT_MS`.
    TimedOut,
    /// 500: a bug. The cause goes to the log only.
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::KeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::Overloaded { .. } | ApiError::TimedOut => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            ApiError::Validation(_) | ApiError::BadRequest(_) => "ValidationError",
            ApiError::Unauthorized(_) => "UnauthorizedError",
            ApiError::Forbidden(_) => "ForbiddenError",
            ApiError::NotFound(_) => "NotFoundError",
            ApiError::MethodNotAllowed => "MethodNotAllowedError",
            ApiError::Conflict(_) => "ConflictError",
            ApiError::PayloadTooLarge => "PayloadTooLargeError",
            ApiError::UnsupportedMediaType => "UnsupportedMediaTypeError",
            ApiError::KeyReused => "IdempotencyKeyReusedError",
            ApiError::RateLimited(_) => "RateLimitError",
            ApiError::Unavailable(_) | ApiError::Overloaded { .. } | ApiError::TimedOut => {
                "ServiceUnavailableError"
            }
            ApiError::Internal(_) => "InternalServerError",
        }
    }

    fn body(&self) -> ErrorBody {
        let error = match self {
            ApiError::Validation(v) => v.summary(),
            ApiError::BadRequest(m) => m.clone(),
            ApiError::Unauthorized(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::Conflict(m) => (*m).to_owned(),
            ApiError::MethodNotAllowed => "Method not allowed".to_owned(),
            ApiError::PayloadTooLarge => "Request body is too large (limit 64 KiB)".to_owned(),
            ApiError::UnsupportedMediaType => {
                "Request body must be JSON (Content-Type: application/json)".to_owned()
            }
            ApiError::KeyReused => {
                "Idempotency-Key already used for a different request".to_owned()
            }
            ApiError::RateLimited(_) => "Too many requests, please try again later.".to_owned(),
            ApiError::Unavailable(_) => "Service temporarily unavailable".to_owned(),
            ApiError::Overloaded { .. } => "Server is busy, please retry shortly".to_owned(),
            ApiError::TimedOut => "The request took too long to handle".to_owned(),
            ApiError::Internal(_) => "Internal server error".to_owned(),
        };
        let details = match self {
            ApiError::Validation(v) => Some(
                v.fields()
                    .iter()
                    .map(|f| FieldErrorBody {
                        field: f.field.to_owned(),
                        message: f.message.clone(),
                    })
                    .collect(),
            ),
            _ => None,
        };
        ErrorBody {
            error,
            kind: self.kind(),
            details,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(cause) => tracing::error!(error = %cause, "request failed"),
            ApiError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "dependency unavailable")
            }
            ApiError::TimedOut => tracing::warn!("request timed out"),
            // Not a warning: under a storm this is the server working as meant, once per
            // refused request (the adapter counts them in a metric).
            ApiError::Overloaded { cause, .. } => tracing::debug!(error = %cause, "overloaded"),
            _ => {}
        }
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        match &self {
            ApiError::RateLimited(decision) => {
                insert_decision_headers(response.headers_mut(), decision, None);
            }
            ApiError::Overloaded { retry_after, .. } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, retry_after_value(*retry_after));
            }
            _ => {}
        }
        response
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(v: ValidationErrors) -> Self {
        ApiError::Validation(v)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => ApiError::Unavailable(m),
            StoreError::Overloaded { what, retry_after } => ApiError::Overloaded {
                cause: what,
                retry_after,
            },
            StoreError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Invalid(v) => ApiError::Validation(v),
            AuthError::EmailTaken => ApiError::Conflict("Email already in use"),
            AuthError::UsernameTaken => ApiError::Conflict("Username already in use"),
            AuthError::InvalidCredentials => ApiError::Unauthorized("Invalid credentials"),
            AuthError::RateLimited(d) => ApiError::RateLimited(d),
            AuthError::KeyReused => ApiError::KeyReused,
            AuthError::Store(e) => e.into(),
        }
    }
}

/// The message of a refused create; says the cap (a test keeps it equal to
/// `MAX_API_KEYS_PER_USER`).
pub(crate) const TOO_MANY_API_KEYS: &str = "Too many API keys: at most 10 per user";

impl From<ApiKeyError> for ApiError {
    fn from(e: ApiKeyError) -> Self {
        match e {
            ApiKeyError::Invalid(v) => ApiError::Validation(v),
            ApiKeyError::TooMany => ApiError::Conflict(TOO_MANY_API_KEYS),
            ApiKeyError::NotFound => ApiError::NotFound("API key not found"),
            ApiKeyError::UserNotFound => ApiError::NotFound("User not found"),
            ApiKeyError::Store(e) => e.into(),
        }
    }
}

impl From<UserError> for ApiError {
    fn from(e: UserError) -> Self {
        match e {
            UserError::Invalid(v) => ApiError::Validation(v),
            UserError::NotFound => ApiError::NotFound("User not found"),
            UserError::CannotFollowSelf => ApiError::BadRequest("Cannot follow yourself".into()),
            UserError::AlreadyFollowing => ApiError::Conflict("Already following this user"),
            UserError::NotFollowing => ApiError::NotFound("Not following this user"),
            UserError::KeyReused => ApiError::KeyReused,
            UserError::Store(e) => e.into(),
        }
    }
}

impl From<PostError> for ApiError {
    fn from(e: PostError) -> Self {
        match e {
            PostError::Invalid(v) => ApiError::Validation(v),
            PostError::NotFound => ApiError::NotFound("Post not found"),
            PostError::UserNotFound => ApiError::NotFound("User not found"),
            PostError::NotAuthor => ApiError::Forbidden("You can only delete your own posts"),
            PostError::KeyReused => ApiError::KeyReused,
            PostError::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_key_cap_message_names_the_cap() {
        let cap = domain::model::MAX_API_KEYS_PER_USER.to_string();
        assert!(TOO_MANY_API_KEYS.contains(&format!(" {cap} ")));
    }
}
