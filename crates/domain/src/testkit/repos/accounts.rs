//! What authentication stores: the users' logout instants and tiers
//! ([`UserRepository`](crate::ports::UserRepository)), and API keys
//! ([`ApiKeyRepository`](crate::ports::ApiKeyRepository)).

use uuid::Uuid;

use super::helpers::{at, make_user, reload};
use super::Repos;
use crate::model::{ApiKey, ApiKeyId, Email, Tier, User, UserId, Username};
use crate::ports::CreateApiKeyError;
use crate::testkit::join::{join_all, BoxFuture};

/// `revoke_tokens` and `set_tier`, part of the user suite.
pub async fn users_credentials(repos: &Repos) {
    let u = make_user(repos, "logout").await;
    assert_eq!((u.tier, u.tokens_valid_after), (Tier::Standard, None));

    assert!(repos.users.revoke_tokens(u.id, at(100)).await.expect("ok"));
    assert_eq!(reload(repos, u.id).await.tokens_valid_after, Some(at(100)));
    // Never back, and always at least a millisecond on.
    assert!(repos.users.revoke_tokens(u.id, at(50)).await.expect("ok"));
    assert_eq!(reload(repos, u.id).await.tokens_valid_after, Some(at(101)));
    assert!(repos.users.revoke_tokens(u.id, at(500)).await.expect("ok"));
    let after = reload(repos, u.id).await;
    assert_eq!(after.tokens_valid_after, Some(at(500)));
    let email = Email::parse(&after.email).expect("stored email is valid");
    let creds = repos
        .users
        .credentials_by_email(&email)
        .await
        .expect("ok")
        .expect("exists");
    assert_eq!(creds.user, after, "login sees the logout too");
    let nobody = UserId::from_uuid(Uuid::now_v7());
    assert!(!repos.users.revoke_tokens(nobody, at(1)).await.expect("ok"));

    let shouted = Username::parse(&u.username.to_ascii_uppercase()).expect("valid");
    let set = repos.users.set_tier(&shouted, Tier::Trusted).await;
    assert_eq!(set.expect("ok"), Some(u.id), "by username, ignoring case");
    let trusted = reload(repos, u.id).await;
    assert_eq!(
        trusted,
        User {
            tier: Tier::Trusted,
            ..after.clone()
        },
        "nothing else changed"
    );
    let by_name = repos.users.by_username(&shouted).await.expect("ok");
    assert_eq!(by_name.map(|u| u.tier), Some(Tier::Trusted));
    let back = repos.users.set_tier(&shouted, Tier::Standard).await;
    assert_eq!(back.expect("ok"), Some(u.id));
    assert_eq!(reload(repos, u.id).await.tier, Tier::Standard);
    let ghost = Username::parse("no_such_user_x").expect("valid");
    assert_eq!(
        repos
            .users
            .set_tier(&ghost, Tier::Trusted)
            .await
            .expect("ok"),
        None
    );
}

fn key_of(user: UserId, name: &str, created: i64) -> ApiKey {
    let id = ApiKeyId::from_uuid(Uuid::now_v7());
    let mut digest = [0u8; 32];
    digest[..16].copy_from_slice(id.as_uuid().as_bytes());
    ApiKey {
        id,
        user,
        name: name.to_owned(),
        digest,
        created_at: at(created),
        last_used_at: None,
    }
}

/// Every MUST of [`ApiKeyRepository`](crate::ports::ApiKeyRepository).
pub async fn api_key_repository_contract(repos: &Repos) {
    api_keys_lifecycle(repos).await;
    api_keys_cap_under_racing_creates(repos).await;
}

/// Stored as given, listed per user oldest first, deleted only by their owner, touched forward.
pub async fn api_keys_lifecycle(repos: &Repos) {
    let keys = &repos.api_keys;
    let ann = make_user(repos, "keyann").await;
    let bob = make_user(repos, "keybob").await;
    let first = key_of(ann.id, "ci", 1);
    let second = key_of(ann.id, "laptop ✓", 2);
    keys.create(&first, 10).await.expect("create");
    keys.create(&second, 10).await.expect("create");
    assert_eq!(keys.by_id(first.id).await.expect("ok"), Some(first.clone()));
    assert_eq!(
        keys.list(ann.id).await.expect("ok"),
        [first.clone(), second.clone()]
    );
    assert!(keys.list(bob.id).await.expect("ok").is_empty());

    assert!(
        !keys.delete(bob.id, first.id).await.expect("ok"),
        "not bob's"
    );
    assert!(keys.by_id(first.id).await.expect("ok").is_some());
    assert!(keys.delete(ann.id, first.id).await.expect("ok"));
    assert_eq!(keys.by_id(first.id).await.expect("ok"), None);
    assert!(!keys.delete(ann.id, first.id).await.expect("ok"), "gone");
    assert_eq!(
        keys.list(ann.id).await.expect("ok"),
        std::slice::from_ref(&second)
    );

    keys.touch(second.id, at(50)).await.expect("touch");
    keys.touch(second.id, at(40)).await.expect("touch");
    let touched = keys.by_id(second.id).await.expect("ok").expect("exists");
    assert_eq!(touched.last_used_at, Some(at(50)), "never moves back");
    keys.touch(first.id, at(60))
        .await
        .expect("a missing key is no error");
    let unknown = ApiKeyId::from_uuid(Uuid::now_v7());
    assert_eq!(keys.by_id(unknown).await.expect("ok"), None);
    let ghost = key_of(UserId::from_uuid(Uuid::now_v7()), "ghost", 3);
    assert!(
        matches!(
            keys.create(&ghost, 10).await,
            Err(CreateApiKeyError::UnknownUser)
        ),
        "a key for no user"
    );
    assert_eq!(keys.by_id(ghost.id).await.expect("ok"), None);
}

/// Of racing creates for one user, no more than `max` succeed; the rest are `TooMany`.
pub async fn api_keys_cap_under_racing_creates(repos: &Repos) {
    let u = make_user(repos, "keycap").await;
    let max = 3;
    let keys: Vec<ApiKey> = (0..8).map(|i| key_of(u.id, &format!("k{i}"), i)).collect();
    let creates: Vec<BoxFuture<'_, Result<(), CreateApiKeyError>>> = keys
        .iter()
        .map(|k| Box::pin(repos.api_keys.create(k, max)) as BoxFuture<'_, _>)
        .collect();
    let results = join_all(creates).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    for r in &results {
        assert!(
            matches!(r, Ok(()) | Err(CreateApiKeyError::TooMany)),
            "{r:?}"
        );
    }
    assert_eq!(ok, max, "exactly the cap was stored");
    assert_eq!(repos.api_keys.list(u.id).await.expect("ok").len(), max);
}
