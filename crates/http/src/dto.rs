//! Request and response bodies: the API's JSON shapes, separate from the domain's types so the
//! wire format can only change here.

use domain::model::{ApiKey, Follow, Page, Post, PostPage, User, UserSummary};
use domain::services::CreatedApiKey;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::openapi::schema::{
    AllOfBuilder, AnyOfBuilder, ObjectBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::openapi::fields;

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

// The fields are `Option`s so that a missing one is reported by name ("Email is required"),
// but the document states them as the contract does: required, never `null`, with the rules the
// domain enforces (`domain::model`) as lengths and patterns (`openapi::fields` for the fields the
// domain trims), so a client generated from it, or schemathesis, sends only what is accepted.

#[derive(Deserialize, ToSchema)]
pub struct SignupRequest {
    #[schema(schema_with = fields::email, required = true)]
    pub email: Option<String>,
    /// 8 to 128 characters.
    #[schema(value_type = String, required = true, min_length = 8, max_length = 128, example = "correct horse battery")]
    pub password: Option<String>,
    /// 3 to 20 characters of `[A-Za-z0-9_]`; unique ignoring case.
    #[schema(value_type = String, required = true, pattern = r"^[A-Za-z0-9_]{3,20}$", example = "ada")]
    pub username: Option<String>,
    #[schema(schema_with = fields::name_or_null)]
    pub name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(schema_with = fields::email, required = true)]
    pub email: Option<String>,
    /// Any length from 1 to 128 is checked (a short wrong password is 401, not 400).
    #[schema(value_type = String, required = true, min_length = 1, max_length = 128, example = "correct horse battery")]
    pub password: Option<String>,
}

/// At least one of `name` and `bio`. `null` clears `name`; `null` or `""` clears `bio`.
#[derive(Deserialize)]
pub struct ProfileRequest {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub bio: Option<Option<String>>,
}

/// Written by hand: "at least one of two fields" is an `anyOf` of `required`s, which the derive
/// cannot say (`minProperties` would count fields the server ignores).
impl PartialSchema for ProfileRequest {
    fn schema() -> RefOr<Schema> {
        let needs = |field: &str| {
            ObjectBuilder::new()
                .schema_type(SchemaType::AnyValue)
                .required(field)
                .build()
        };
        let fields = ObjectBuilder::new()
            .property("name", fields::name_or_null())
            .property("bio", fields::bio_or_null())
            .build();
        let all = AllOfBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "At least one of `name` and `bio`. `null` clears `name`; `null` or `\"\"` clears \
                 `bio`.",
            ))
            .item(fields)
            .item(Schema::AnyOf(
                AnyOfBuilder::new()
                    .item(needs("name"))
                    .item(needs("bio"))
                    .build(),
            ))
            .build();
        RefOr::T(Schema::AllOf(all))
    }
}

impl ToSchema for ProfileRequest {}

#[derive(Deserialize, ToSchema)]
pub struct CreatePostRequest {
    #[schema(schema_with = fields::content, required = true)]
    pub content: Option<String>,
}

/// The signed-in user's own view of their account.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrivateUser {
    pub id: String,
    pub email: String,
    pub username: String,
    pub name: Option<String>,
    pub bio: Option<String>,
    #[schema(example = "2026-11-23T21:54:28.123Z")]
    pub created_at: String,
    pub followers_count: u64,
    pub following_count: u64,
    pub posts_count: u64,
}

/// Anyone's view of a user: never the email.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicUser {
    pub id: String,
    pub username: String,
    pub name: Option<String>,
    pub bio: Option<String>,
    #[schema(example = "2026-11-23T21:54:28.123Z")]
    pub created_at: String,
    pub followers_count: u64,
    pub following_count: u64,
    pub posts_count: u64,
}

#[derive(Serialize, ToSchema)]
pub struct UserSummaryDto {
    pub id: String,
    pub username: String,
    pub name: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostDto {
    pub id: String,
    pub content: String,
    pub author_id: String,
    pub author: UserSummaryDto,
    #[schema(example = "2026-11-23T21:54:28.123Z")]
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FollowDto {
    pub follower_id: String,
    pub following_id: String,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct AuthResponse {
    pub user: PrivateUser,
    /// A bearer token (HS256 JWT) for `Authorization: Bearer <token>`.
    pub token: String,
}

#[derive(Deserialize, ToSchema)]
pub struct CreateApiKeyRequest {
    #[schema(schema_with = fields::api_key_name, required = true)]
    pub name: Option<String>,
}

/// A key as listed: never its secret.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyDto {
    pub id: String,
    pub name: String,
    #[schema(example = "2026-11-23T21:54:28.123Z")]
    pub created_at: String,
    /// When the key last authenticated a request, to about a minute; `null` if never.
    pub last_used_at: Option<String>,
}

/// A key just created, with its secret: shown this once, stored only as a digest.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedApiKeyDto {
    pub id: String,
    pub name: String,
    /// Send it as `X-API-Key: <key>`.
    #[schema(example = "ssk_0193…")]
    pub key: String,
    #[schema(example = "2026-11-23T21:54:28.123Z")]
    pub created_at: String,
}

/// The caller's API keys, oldest first.
#[derive(Serialize, ToSchema)]
pub struct ApiKeyList {
    pub keys: Vec<ApiKeyDto>,
}

/// A page of posts, newest first. `nextCursor` is `null` on the last page.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostsPage {
    pub posts: Vec<PostDto>,
    pub next_cursor: Option<String>,
}

/// A page of users, newest follow first. `nextCursor` is `null` on the last page.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsersPage {
    pub users: Vec<UserSummaryDto>,
    pub next_cursor: Option<String>,
}

impl From<User> for PrivateUser {
    fn from(u: User) -> Self {
        PrivateUser {
            id: u.id.to_string(),
            email: u.email,
            username: u.username,
            name: u.name,
            bio: u.bio,
            created_at: u.created_at.to_rfc3339(),
            followers_count: u.followers_count,
            following_count: u.following_count,
            posts_count: u.posts_count,
        }
    }
}

impl From<User> for PublicUser {
    fn from(u: User) -> Self {
        PublicUser {
            id: u.id.to_string(),
            username: u.username,
            name: u.name,
            bio: u.bio,
            created_at: u.created_at.to_rfc3339(),
            followers_count: u.followers_count,
            following_count: u.following_count,
            posts_count: u.posts_count,
        }
    }
}

impl From<UserSummary> for UserSummaryDto {
    fn from(u: UserSummary) -> Self {
        UserSummaryDto {
            id: u.id.to_string(),
            username: u.username,
            name: u.name,
        }
    }
}

impl From<Post> for PostDto {
    fn from(p: Post) -> Self {
        PostDto {
            id: p.id.to_string(),
            content: p.content,
            author_id: p.author_id.to_string(),
            author: p.author.into(),
            created_at: p.created_at.to_rfc3339(),
        }
    }
}

impl From<Follow> for FollowDto {
    fn from(f: Follow) -> Self {
        FollowDto {
            follower_id: f.follower_id.to_string(),
            following_id: f.following_id.to_string(),
            created_at: f.created_at.to_rfc3339(),
        }
    }
}

impl From<Page<Post>> for PostsPage {
    fn from(p: Page<Post>) -> Self {
        PostsPage {
            posts: p.items.into_iter().map(PostDto::from).collect(),
            next_cursor: p.next_cursor.map(|c| c.to_string()),
        }
    }
}

impl From<&PostPage> for PostsPage {
    /// Copies what it needs: the page's posts may be shared with other requests.
    fn from(p: &PostPage) -> Self {
        PostsPage {
            posts: p.items().iter().cloned().map(PostDto::from).collect(),
            next_cursor: p.next_cursor().map(|c| c.to_string()),
        }
    }
}

impl From<Page<UserSummary>> for UsersPage {
    fn from(p: Page<UserSummary>) -> Self {
        UsersPage {
            users: p.items.into_iter().map(UserSummaryDto::from).collect(),
            next_cursor: p.next_cursor.map(|c| c.to_string()),
        }
    }
}

impl From<ApiKey> for ApiKeyDto {
    fn from(k: ApiKey) -> Self {
        ApiKeyDto {
            id: k.id.to_string(),
            name: k.name,
            created_at: k.created_at.to_rfc3339(),
            last_used_at: k.last_used_at.map(|t| t.to_rfc3339()),
        }
    }
}

impl From<CreatedApiKey> for CreatedApiKeyDto {
    fn from(c: CreatedApiKey) -> Self {
        CreatedApiKeyDto {
            id: c.key.id.to_string(),
            name: c.key.name,
            key: c.secret,
            created_at: c.key.created_at.to_rfc3339(),
        }
    }
}
