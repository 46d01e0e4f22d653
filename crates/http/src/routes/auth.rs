use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::services::SignupInput;

use crate::auth::AuthUser;
use crate::dto::{AuthResponse, LoginRequest, SignupRequest};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{AppJson, ClientAddress, IdempotencyKeyHeader};
use crate::routes::IdempotencyKeyParam;
use crate::state::AppState;

/// Create an account and sign in. With an `Idempotency-Key` (scoped by the email), a retry
/// gets the account the first request created and a fresh token.
#[utoipa::path(post, path = "/auth/signup", tag = "auth", request_body = SignupRequest,
    params(IdempotencyKeyParam),
    responses(
        (status = 201, description = "Account created", body = AuthResponse),
        (status = 400, description = "A field breaks a rule", body = ErrorBody),
        (status = 409, description = "Email or username already in use", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, description = "Idempotency-Key reused with another username, name or password", body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn signup(
    State(state): State<AppState>,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
    AppJson(body): AppJson<SignupRequest>,
) -> Result<(StatusCode, Json<AuthResponse>), ApiError> {
    let input = SignupInput {
        email: body.email.as_deref().unwrap_or(""),
        password: body.password.as_deref().unwrap_or(""),
        username: body.username.as_deref().unwrap_or(""),
        name: body.name.as_deref(),
    };
    let session = state
        .services
        .auth
        .signup_with_key(input, key.as_ref())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(AuthResponse {
            user: session.user.into(),
            token: session.token,
        }),
    ))
}

/// Sign in with email and password.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = AuthResponse),
        (status = 400, body = ErrorBody),
        (status = 401, description = "Invalid credentials (unknown email and wrong password alike)", body = ErrorBody),
        (status = 429, description = "Too many requests, or too many failed logins for this account from this address (or for this account from everywhere)", body = ErrorBody),
        (status = 503, body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    AppJson(body): AppJson<LoginRequest>,
) -> Result<Json<AuthResponse>, ApiError> {
    let session = state
        .services
        .auth
        .login(
            body.email.as_deref().unwrap_or(""),
            body.password.as_deref().unwrap_or(""),
            &client.to_string(),
        )
        .await?;
    Ok(Json(AuthResponse {
        user: session.user.into(),
        token: session.token,
    }))
}

/// Sign out everywhere: every token the user holds stops working, on every instance, before
/// this answers. API keys are not affected (revoke them one by one).
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    security(("bearer" = []), ("apiKey" = [])),
    responses(
        (status = 204, description = "Every token issued so far is revoked"),
        (status = 401, body = ErrorBody), (status = 429, body = ErrorBody),
        (status = 503, body = ErrorBody),
    ))]
pub async fn logout(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
) -> Result<StatusCode, ApiError> {
    state.services.auth.logout(me).await?;
    Ok(StatusCode::NO_CONTENT)
}
