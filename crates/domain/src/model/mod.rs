//! Entities and value types.

mod account;
mod feed;
mod follow;
mod idempotency;
mod ids;
mod live;
mod page;
mod post;
mod post_page;
mod timestamp;
mod user;
mod validation;

pub use account::{
    ApiKey, ApiKeyName, ApiKeySecret, Identity, Standing, Tier, Via, API_KEY_PREFIX,
    MAX_API_KEYS_PER_USER,
};
pub use feed::{FeedEvent, OutboxEntry, TimelineEntry};
pub use follow::{Follow, FollowEdge, FollowRecord};
pub use idempotency::{
    Canonical, Fingerprint, IdempotencyKey, KeyClaim, KeyScope, StoredKey, IDEMPOTENCY_KEY_TTL,
};
pub use ids::{ApiKeyId, FollowId, PostId, UserId};
pub use live::{BadLiveEventId, LiveEvent, LiveEventId, Replay};
pub use page::{Cursor, Keyset, Limit, Page, PageRequest};
pub use post::{Post, PostContent, PostRecord};
pub use post_page::{PageKey, PostPage, Version, Versioned};
pub use timestamp::Timestamp;
pub use user::{
    Bio, Email, Name, NewUser, Password, ProfileUpdate, StoredCredentials, User, UserSummary,
    Username,
};
pub use validation::{FieldError, ValidationErrors};
