//! The [`UserRepository`](crate::ports::UserRepository) suite.

use uuid::Uuid;

use super::helpers::{make_user, new_user, new_user_named, reload, salt};
use super::Repos;
use crate::model::{Bio, Email, Name, NewUser, ProfileUpdate, User, UserId, Username};
use crate::ports::CreateUserError;
use crate::testkit::join::{join_all, BoxFuture};

// ---------------------------------------------------------------------------------------------
// UserRepository
// ---------------------------------------------------------------------------------------------

/// Every MUST of [`UserRepository`](crate::ports::UserRepository).
pub async fn user_repository_contract(repos: &Repos) {
    users_create_and_lookup(repos).await;
    users_conflicts(repos).await;
    users_update_profile(repos).await;
    users_summaries(repos).await;
    users_racing_creates(repos).await;
    super::users_credentials(repos).await;
}

/// Create returns the stored user with zeroed counters; every lookup finds it, `by_username`
/// ignoring ASCII case; unknown keys find nothing.
pub async fn users_create_and_lookup(repos: &Repos) {
    let s = salt();
    let new = new_user_named(&format!("Ann_{s}"), &format!("ann.{s}@example.com"));
    let user = repos.users.create(&new).await.expect("create succeeds");
    assert_eq!(user.id, new.id);
    assert_eq!(user.email, new.email.as_str());
    assert_eq!(
        user.username,
        new.username.as_str(),
        "username keeps its case"
    );
    assert_eq!(user.name.as_deref(), Some("Test User"));
    assert_eq!(user.bio, None);
    assert_eq!(user.created_at, new.created_at);
    assert_eq!(
        (user.followers_count, user.following_count, user.posts_count),
        (0, 0, 0)
    );

    assert_eq!(reload(repos, user.id).await, user);
    for variant in [
        new.username.as_str().to_owned(),
        new.username.canonical(),
        new.username.as_str().to_ascii_uppercase(),
    ] {
        let name = Username::parse(&variant).expect("valid");
        let found = repos
            .users
            .by_username(&name)
            .await
            .expect("lookup succeeds");
        assert_eq!(
            found.as_ref(),
            Some(&user),
            "by_username ignores case ({variant})"
        );
    }
    let creds = repos
        .users
        .credentials_by_email(&new.email)
        .await
        .expect("lookup succeeds")
        .expect("credentials exist");
    assert_eq!(creds.user, user);
    assert_eq!(creds.password_hash, new.password_hash);

    let nobody = UserId::from_uuid(Uuid::now_v7());
    assert_eq!(repos.users.by_id(nobody).await.expect("ok"), None);
    let unknown = Username::parse(&format!("nobody_{}", salt())).expect("valid");
    assert_eq!(repos.users.by_username(&unknown).await.expect("ok"), None);
    let email = Email::parse(&format!("nobody.{}@example.com", salt())).expect("valid");
    let none = repos.users.credentials_by_email(&email).await.expect("ok");
    assert!(none.is_none());
}

/// Email and username (ignoring case) are unique; email is reported first when both clash; a
/// rejected signup writes nothing.
pub async fn users_conflicts(repos: &Repos) {
    let a = make_user(repos, "alice").await;
    let b = make_user(repos, "bob").await;
    let a_email = Email::parse(&a.email).expect("valid");

    // Same email, fresh username.
    let mut dup = new_user("carol");
    dup.email = a_email.clone();
    let err = repos.users.create(&dup).await;
    assert!(matches!(err, Err(CreateUserError::EmailTaken)), "{err:?}");

    // Fresh email, a's username in another case.
    let mut dup = new_user("carol");
    dup.username = Username::parse(&a.username.to_ascii_uppercase()).expect("valid");
    let err = repos.users.create(&dup).await;
    assert!(
        matches!(err, Err(CreateUserError::UsernameTaken)),
        "{err:?}"
    );
    let found = repos
        .users
        .credentials_by_email(&dup.email)
        .await
        .expect("ok");
    assert!(found.is_none(), "a rejected signup writes nothing");

    // Both clash, with the same user and with two different users: email wins.
    for username in [&a.username, &b.username] {
        let mut dup = new_user("carol");
        dup.email = a_email.clone();
        dup.username = Username::parse(&username.to_ascii_lowercase()).expect("valid");
        let err = repos.users.create(&dup).await;
        assert!(matches!(err, Err(CreateUserError::EmailTaken)), "{err:?}");
        assert_eq!(repos.users.by_id(dup.id).await.expect("ok"), None);
    }

    assert_eq!(
        reload(repos, a.id).await,
        a,
        "the existing user is untouched"
    );
    assert_eq!(reload(repos, b.id).await, b);
}

/// `None` leaves a field, `Some(None)` clears it, `Some(Some(v))` sets it; the stored user is
/// returned; an unknown id gives `None`.
pub async fn users_update_profile(repos: &Repos) {
    let u = make_user(repos, "dave").await;
    let name = |s: &str| Some(Some(Name::parse(s).expect("valid")));
    let bio = |s: &str| Some(Bio::parse(s).expect("valid"));
    let update = |name, bio| ProfileUpdate { name, bio };

    let set_name = update(name("Dave D"), None);
    let got = repos
        .users
        .update_profile(u.id, &set_name)
        .await
        .expect("ok");
    let got = got.expect("user exists");
    assert_eq!(got.name.as_deref(), Some("Dave D"));
    assert_eq!(got.bio, None, "an absent field is left alone");
    assert_eq!(
        got,
        reload(repos, u.id).await,
        "returns the user as now stored"
    );

    let set_bio = update(None, bio("hello there"));
    let got = repos
        .users
        .update_profile(u.id, &set_bio)
        .await
        .expect("ok");
    let got = got.expect("user exists");
    assert_eq!(
        got.name.as_deref(),
        Some("Dave D"),
        "an absent field is left alone"
    );
    assert_eq!(got.bio.as_deref(), Some("hello there"));

    let clear_name = update(Some(None), None);
    let got = repos
        .users
        .update_profile(u.id, &clear_name)
        .await
        .expect("ok");
    let got = got.expect("user exists");
    assert_eq!(got.name, None, "Some(None) clears");
    assert_eq!(got.bio.as_deref(), Some("hello there"));

    let both = update(name("D2"), Some(None));
    let got = repos.users.update_profile(u.id, &both).await.expect("ok");
    let got = got.expect("user exists");
    assert_eq!(
        (got.name.as_deref(), got.bio.as_deref()),
        (Some("D2"), None)
    );

    let nothing = update(None, None);
    let got = repos
        .users
        .update_profile(u.id, &nothing)
        .await
        .expect("ok");
    assert_eq!(got.as_ref(), Some(&reload(repos, u.id).await));

    let expected = User {
        name: Some("D2".to_owned()),
        bio: None,
        ..u.clone()
    };
    assert_eq!(reload(repos, u.id).await, expected, "nothing else changed");

    let nobody = UserId::from_uuid(Uuid::now_v7());
    let got = repos
        .users
        .update_profile(nobody, &set_name)
        .await
        .expect("ok");
    assert_eq!(got, None);
}

/// Summaries of the ids that exist, missing ones omitted, with current names.
pub async fn users_summaries(repos: &Repos) {
    let a = make_user(repos, "erin").await;
    let b = make_user(repos, "frank").await;
    let missing = UserId::from_uuid(Uuid::now_v7());
    let rename = ProfileUpdate {
        name: Some(Some(Name::parse("Frank F").expect("valid"))),
        bio: None,
    };
    let b = repos
        .users
        .update_profile(b.id, &rename)
        .await
        .expect("ok")
        .expect("exists");

    let mut got = repos
        .users
        .summaries(&[a.id, missing, b.id])
        .await
        .expect("summaries succeed");
    got.sort_by_key(|s| s.id);
    let mut want = vec![a.summary(), b.summary()];
    want.sort_by_key(|s| s.id);
    assert_eq!(got, want);

    assert!(repos.users.summaries(&[]).await.expect("ok").is_empty());
    assert!(repos
        .users
        .summaries(&[missing])
        .await
        .expect("ok")
        .is_empty());
}

/// Of racing signups for one username (in any case) or one email, exactly one is stored; the
/// others get the matching conflict. The signups are in flight together (see
/// [`join_all`]), so the store, not the caller, has to decide.
pub async fn users_racing_creates(repos: &Repos) {
    let s = salt();
    let spellings = [
        "racer", "Racer", "RACER", "rAcEr", "raCER", "RaCeR", "racER", "RACer",
    ];
    let by_name = spellings
        .iter()
        .enumerate()
        .map(|(i, tag)| new_user_named(&format!("{tag}_{s}"), &format!("racer{i}.{s}@example.com")))
        .collect();
    let outcomes = race(repos, by_name).await;
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    for o in outcomes.iter().filter(|o| o.is_err()) {
        assert!(matches!(o, Err(CreateUserError::UsernameTaken)), "{o:?}");
    }

    let s = salt();
    let by_email = (0..8)
        .map(|i| new_user_named(&format!("mail{i}_{s}"), &format!("same.{s}@example.com")))
        .collect();
    let outcomes = race(repos, by_email).await;
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    for o in outcomes.iter().filter(|o| o.is_err()) {
        assert!(matches!(o, Err(CreateUserError::EmailTaken)), "{o:?}");
    }
}

async fn race(repos: &Repos, signups: Vec<NewUser>) -> Vec<Result<(), CreateUserError>> {
    let creates = signups
        .iter()
        .map(|new| {
            Box::pin(async move { repos.users.create(new).await.map(|_| ()) })
                as BoxFuture<'_, Result<(), CreateUserError>>
        })
        .collect();
    join_all(creates).await
}
