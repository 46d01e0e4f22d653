use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use domain::model::ApiKeyId;

use crate::auth::TokenUser;
use crate::dto::{ApiKeyDto, ApiKeyList, CreateApiKeyRequest, CreatedApiKeyDto};
use crate::error::{ApiError, ErrorBody};
use crate::extract::AppJson;
use crate::state::AppState;

/// Create an API key; its secret is in this response only.
#[utoipa::path(post, path = "/users/me/api-keys", tag = "auth", operation_id = "create_api_key",
    security(("bearer" = [])),
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, description = "Created; `key` is shown this once", body = CreatedApiKeyDto),
        (status = 400, description = "The name is missing or too long", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Sent with an API key: keys are managed with a bearer token", body = ErrorBody),
        (status = 404, description = "The token's user no longer exists", body = ErrorBody),
        (status = 409, description = "The user holds 10 keys already", body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    TokenUser(me): TokenUser,
    AppJson(body): AppJson<CreateApiKeyRequest>,
) -> Result<(StatusCode, Json<CreatedApiKeyDto>), ApiError> {
    let name = body.name.as_deref().unwrap_or("");
    let created = state.services.api_keys.create(me, name).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// The caller's API keys, oldest first, without their secrets.
#[utoipa::path(get, path = "/users/me/api-keys", tag = "auth", operation_id = "list_api_keys",
    security(("bearer" = [])),
    responses((status = 200, body = ApiKeyList), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    TokenUser(me): TokenUser,
) -> Result<Json<ApiKeyList>, ApiError> {
    let keys = state.services.api_keys.list(me).await?;
    Ok(Json(ApiKeyList {
        keys: keys.into_iter().map(ApiKeyDto::from).collect(),
    }))
}

/// Revoke one of the caller's API keys, at once on every instance.
#[utoipa::path(delete, path = "/users/me/api-keys/{id}", tag = "auth", operation_id = "revoke_api_key",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The key's id")),
    responses((status = 204, description = "Revoked"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such key of the caller's", body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    TokenUser(me): TokenUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: ApiKeyId = id
        .parse()
        .map_err(|_| ApiError::NotFound("API key not found"))?;
    state.services.api_keys.revoke(me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
