use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use domain::model::ProfileUpdate;

use crate::auth::AuthUser;
use crate::dto::{FollowDto, PostsPage, PrivateUser, ProfileRequest, PublicUser, UsersPage};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{user_id, AppJson, IdempotencyKeyHeader, PageQuery, PathParam};
use crate::routes::{IdempotencyKeyParam, PageParams};
use crate::state::AppState;

/// The signed-in user, with email.
#[utoipa::path(get, path = "/users/me", tag = "users", security(("bearer" = []), ("apiKey" = [])),
    responses((status = 200, body = PrivateUser), (status = 401, body = ErrorBody),
        (status = 404, description = "The token's user no longer exists", body = ErrorBody)))]
pub async fn me(
    State(state): State<AppState>,
    AuthUser(id): AuthUser,
) -> Result<Json<PrivateUser>, ApiError> {
    Ok(Json(state.services.users.get(id).await?.into()))
}

/// Change name and/or bio.
#[utoipa::path(put, path = "/users/profile", tag = "users", security(("bearer" = []), ("apiKey" = [])),
    request_body = ProfileRequest,
    responses((status = 200, body = PrivateUser),
        (status = 400, description = "No field given, or a field breaks a rule", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "The caller no longer exists", body = ErrorBody)))]
pub async fn update_profile(
    State(state): State<AppState>,
    AuthUser(id): AuthUser,
    AppJson(body): AppJson<ProfileRequest>,
) -> Result<Json<PrivateUser>, ApiError> {
    let update = ProfileUpdate::parse(
        body.name.as_ref().map(|n| n.as_deref()),
        body.bio.as_ref().map(|b| b.as_deref()),
    )?;
    Ok(Json(
        state
            .services
            .users
            .update_profile(id, update)
            .await?
            .into(),
    ))
}

/// A user's public profile.
#[utoipa::path(get, path = "/users/{id}", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = PublicUser), (status = 404, body = ErrorBody)))]
pub async fn get_user(
    State(state): State<AppState>,
    PathParam(id): PathParam,
) -> Result<Json<PublicUser>, ApiError> {
    Ok(Json(state.services.users.get(user_id(&id)?).await?.into()))
}

/// Look a user up by username, ignoring case.
#[utoipa::path(get, path = "/users/by-username/{username}", tag = "users",
    params(("username" = String, Path)),
    responses((status = 200, body = PublicUser), (status = 404, body = ErrorBody)))]
pub async fn by_username(
    State(state): State<AppState>,
    PathParam(username): PathParam,
) -> Result<Json<PublicUser>, ApiError> {
    Ok(Json(
        state.services.users.by_username(&username).await?.into(),
    ))
}

/// Follow a user.
#[utoipa::path(post, path = "/users/follow/{id}", tag = "users", security(("bearer" = []), ("apiKey" = [])),
    params(("id" = String, Path, description = "Whom to follow"), IdempotencyKeyParam),
    responses((status = 201, body = FollowDto),
        (status = 400, description = "Cannot follow yourself", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Already following this user", body = ErrorBody),
        (status = 422, description = "Idempotency-Key reused for another user", body = ErrorBody)))]
pub async fn follow(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
    PathParam(id): PathParam,
) -> Result<(StatusCode, Json<FollowDto>), ApiError> {
    let users = &state.services.users;
    let follow = users
        .follow_with_key(me, user_id(&id)?, key.as_ref())
        .await?;
    Ok((StatusCode::CREATED, Json(follow.into())))
}

/// Stop following a user.
#[utoipa::path(delete, path = "/users/follow/{id}", tag = "users", security(("bearer" = []), ("apiKey" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Unfollowed"), (status = 401, body = ErrorBody),
        (status = 404, description = "Not following this user", body = ErrorBody)))]
pub async fn unfollow(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathParam(id): PathParam,
) -> Result<StatusCode, ApiError> {
    let target = user_id(&id).map_err(|_| ApiError::NotFound("Not following this user"))?;
    state.services.users.unfollow(me, target).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who follows this user, newest follow first.
#[utoipa::path(get, path = "/users/{id}/followers", tag = "users",
    params(("id" = String, Path), PageParams),
    responses((status = 200, body = UsersPage), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn followers(
    State(state): State<AppState>,
    PathParam(id): PathParam,
    PageQuery(page): PageQuery,
) -> Result<Json<UsersPage>, ApiError> {
    let id = user_id(&id)?;
    Ok(Json(state.services.users.followers(id, page).await?.into()))
}

/// Whom this user follows, newest follow first.
#[utoipa::path(get, path = "/users/{id}/following", tag = "users",
    params(("id" = String, Path), PageParams),
    responses((status = 200, body = UsersPage), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn following(
    State(state): State<AppState>,
    PathParam(id): PathParam,
    PageQuery(page): PageQuery,
) -> Result<Json<UsersPage>, ApiError> {
    let id = user_id(&id)?;
    Ok(Json(state.services.users.following(id, page).await?.into()))
}

/// A user's posts, newest first.
#[utoipa::path(get, path = "/users/{id}/posts", tag = "posts",
    params(("id" = String, Path), PageParams),
    responses((status = 200, body = PostsPage), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn user_posts(
    State(state): State<AppState>,
    PathParam(id): PathParam,
    PageQuery(page): PageQuery,
) -> Result<Response, ApiError> {
    let id = user_id(&id)?;
    let page = state.services.posts.by_author(id, page).await?;
    state.rendered.json(&page)
}
