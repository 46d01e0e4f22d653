//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

pub mod fields;
mod links;
mod responses;

use crate::dto;
use crate::error;
use crate::routes::{self, health};
use links::Links;
use responses::CommonResponses;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "SocialScale API",
        description = "Signup, login and logout with JWT, API keys (`X-API-Key`), profiles, follows, posts, a global timeline, \
            per-user timelines and a home feed with cursor pagination. Every error is JSON: \
            `{error, type, details?}`. Paginated lists return `nextCursor`, `null` on the last \
            page; pass it back as `cursor` to continue. Any route may answer 503 \
            `ServiceUnavailableError`: a dependency is down, the server is shutting down or \
            overloaded (then with `Retry-After`; probes and `/metrics` excepted), or the request \
            took longer than the server's request timeout."
    ),
    paths(
        routes::auth::signup, routes::auth::login, routes::auth::logout,
        routes::api_keys::create, routes::api_keys::list, routes::api_keys::revoke,
        routes::users::me, routes::users::update_profile, routes::users::get_user,
        routes::users::by_username, routes::users::follow, routes::users::unfollow,
        routes::users::followers, routes::users::following, routes::users::user_posts,
        routes::posts::create, routes::posts::timeline, routes::posts::get_post,
        routes::posts::delete_post, routes::posts::feed,
        routes::stream::ticket, routes::stream::stream,
        health::health, health::readiness, health::liveness, health::metrics,
    ),
    components(schemas(
        dto::SignupRequest, dto::LoginRequest, dto::ProfileRequest, dto::CreatePostRequest,
        dto::PrivateUser, dto::PublicUser, dto::UserSummaryDto, dto::PostDto, dto::FollowDto,
        dto::AuthResponse, dto::PostsPage, dto::UsersPage,
        dto::CreateApiKeyRequest, dto::ApiKeyDto, dto::CreatedApiKeyDto, dto::ApiKeyList,
        routes::stream::StreamTicket,
        error::ErrorBody, error::FieldErrorBody,
        health::HealthReport, health::FeedHealth, health::Readiness, health::Liveness,
    )),
    modifiers(&BearerAuth, &CommonResponses, &Links),
    tags(
        (name = "auth", description = "Accounts, tokens and API keys"),
        (name = "users", description = "Profiles and the follow graph"),
        (name = "posts", description = "Posts and timelines"),
        (name = "stream", description = "The live stream of new posts (Server-Sent Events)"),
        (name = "health", description = "Probes and metrics (never rate limited)"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        // Accepted wherever a bearer token is, except to manage API keys.
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "A key from POST /users/me/api-keys; limited per key by RATE_LIMIT_API_KEY",
            ))),
        );
    }
}
