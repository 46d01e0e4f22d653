use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;

use crate::auth::AuthUser;
use crate::dto::{CreatePostRequest, PostDto, PostsPage};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{post_id, AppJson, IdempotencyKeyHeader, PageQuery, PathParam};
use crate::routes::{IdempotencyKeyParam, PageParams};
use crate::state::AppState;

/// Publish a post.
#[utoipa::path(post, path = "/posts", tag = "posts", security(("bearer" = []), ("apiKey" = [])),
    request_body = CreatePostRequest, params(IdempotencyKeyParam),
    responses((status = 201, body = PostDto), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "The caller no longer exists", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, description = "Idempotency-Key reused for another post", body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
    AppJson(body): AppJson<CreatePostRequest>,
) -> Result<(StatusCode, Json<PostDto>), ApiError> {
    let content = body.content.as_deref().unwrap_or("");
    let post = state
        .services
        .posts
        .create_with_key(me, content, key.as_ref())
        .await?;
    Ok((StatusCode::CREATED, Json(post.into())))
}

/// The global timeline, newest first.
#[utoipa::path(get, path = "/posts", tag = "posts", params(PageParams),
    responses((status = 200, body = PostsPage),
        (status = 400, description = "Bad limit or cursor", body = ErrorBody)))]
pub async fn timeline(
    State(state): State<AppState>,
    PageQuery(page): PageQuery,
) -> Result<Response, ApiError> {
    let page = state.services.posts.timeline(page).await?;
    state.rendered.json(&page)
}

/// One post.
#[utoipa::path(get, path = "/posts/{id}", tag = "posts", params(("id" = String, Path)),
    responses((status = 200, body = PostDto), (status = 404, body = ErrorBody)))]
pub async fn get_post(
    State(state): State<AppState>,
    PathParam(id): PathParam,
) -> Result<Json<PostDto>, ApiError> {
    Ok(Json(state.services.posts.get(post_id(&id)?).await?.into()))
}

/// Delete one of your posts.
#[utoipa::path(delete, path = "/posts/{id}", tag = "posts", security(("bearer" = []), ("apiKey" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody),
        (status = 403, description = "Not the author", body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn delete_post(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathParam(id): PathParam,
) -> Result<StatusCode, ApiError> {
    state.services.posts.delete(me, post_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Your home timeline: your posts and those of everyone you follow, newest first.
#[utoipa::path(get, path = "/feed", tag = "posts", security(("bearer" = []), ("apiKey" = [])), params(PageParams),
    responses((status = 200, body = PostsPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn feed(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PageQuery(page): PageQuery,
) -> Result<Json<PostsPage>, ApiError> {
    Ok(Json(state.services.feed.feed(me, page).await?.into()))
}
