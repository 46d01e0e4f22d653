//! Contract suites for the repository ports: [`UserRepository`], [`PostRepository`] and
//! [`FollowRepository`].
//!
//! Written only against the ports, so every SQL adapter runs them unchanged. Each suite expects
//! a fresh, migrated database, but also tolerates rows left by other suites (names and emails
//! are unique per call, list checks look at the rows the suite itself wrote), so an adapter may
//! run all three on one database when a fresh one is expensive.
//!
//! Ids come from `Uuid::now_v7()` (time-ordered, like the real id generator) and timestamps are
//! fixed millis: the ports order by id, never by timestamp, and the suites pin that.
//!
//! Races (two signups for one name) need a runtime to provoke, which this crate does not have;
//! each adapter tests those itself.

// A suite reports a broken contract by panicking, exactly like `assert!`: `expect` on a setup
// step that must succeed says which step failed.
#![allow(clippy::expect_used)]

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use uuid::Uuid;

use crate::error::StoreError;
use crate::model::{
    Bio, Email, FollowId, FollowRecord, Keyset, Name, NewUser, PostId, PostRecord, ProfileUpdate,
    Timestamp, User, UserId, Username,
};
use crate::ports::{
    CreateUserError, FollowError, FollowRepository, PostRepository, UserRepository,
};

/// The repositories under test, usually all backed by one store.
#[derive(Clone)]
pub struct Repos {
    pub users: Arc<dyn UserRepository>,
    pub posts: Arc<dyn PostRepository>,
    pub follows: Arc<dyn FollowRepository>,
}

/// A fixed instant the suites stamp rows with (2023-11-14T22:13:20Z).
const T0: i64 = 1_700_000_000_000;

fn at(offset_ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(T0 + offset_ms)
}

/// 12 random hex digits: unique enough per call, short enough for a 20-character username.
fn salt() -> String {
    let mut s = Uuid::new_v4().simple().to_string();
    s.truncate(12);
    s
}

/// A valid signup whose username (`<tag>_<salt>`, tag ≤ 7 chars) and email are unique.
fn new_user_named(username: &str, email: &str) -> NewUser {
    NewUser {
        id: UserId::from_uuid(Uuid::now_v7()),
        email: Email::parse(email).expect("test email is valid"),
        username: Username::parse(username).expect("test username is valid"),
        name: Some(Name::parse("Test User").expect("test name is valid")),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        created_at: at(0),
    }
}

fn new_user(tag: &str) -> NewUser {
    let s = salt();
    new_user_named(&format!("{tag}_{s}"), &format!("{tag}.{s}@example.com"))
}

async fn make_user(repos: &Repos, tag: &str) -> User {
    repos
        .users
        .create(&new_user(tag))
        .await
        .expect("creating a fresh user succeeds")
}

async fn reload(repos: &Repos, id: UserId) -> User {
    repos
        .users
        .by_id(id)
        .await
        .expect("by_id succeeds")
        .expect("the user exists")
}

/// `(followers, following, posts)` as stored now.
async fn counters(repos: &Repos, id: UserId) -> (u64, u64, u64) {
    let u = reload(repos, id).await;
    (u.followers_count, u.following_count, u.posts_count)
}

async fn make_post(repos: &Repos, author: UserId, n: i64) -> PostRecord {
    let post = PostRecord {
        id: PostId::from_uuid(Uuid::now_v7()),
        author_id: author,
        content: format!("post number {n}"),
        created_at: at(n),
    };
    let created = repos
        .posts
        .create(&post)
        .await
        .expect("post create succeeds");
    assert!(
        created,
        "creating a post by an existing author returns true"
    );
    post
}

async fn follow(repos: &Repos, follower: UserId, following: UserId) -> FollowId {
    let edge = FollowRecord {
        id: FollowId::from_uuid(Uuid::now_v7()),
        follower_id: follower,
        following_id: following,
        created_at: at(0),
    };
    repos
        .follows
        .follow(&edge)
        .await
        .expect("following an existing user succeeds");
    edge.id
}

fn keyset(before: Option<Uuid>, limit: usize) -> Keyset {
    Keyset { before, limit }
}

/// Walks a keyset list from the top in pages of `limit`, checking on every page what the
/// `Keyset` contract says (at most `limit` rows, all strictly below the cursor, newest first),
/// and returns every row seen, in order.
async fn walk<T, F, Fut>(limit: usize, mut fetch: F, key: impl Fn(&T) -> Uuid) -> Vec<T>
where
    F: FnMut(Keyset) -> Fut,
    Fut: Future<Output = Result<Vec<T>, StoreError>>,
{
    let mut all: Vec<T> = Vec::new();
    let mut before = None;
    for _ in 0..10_000 {
        let page = fetch(keyset(before, limit))
            .await
            .expect("list query succeeds");
        assert!(page.len() <= limit, "a page holds at most `limit` rows");
        let mut prev = before;
        for row in &page {
            let k = key(row);
            if let Some(p) = prev {
                assert!(k < p, "rows are strictly below the cursor and newest first");
            }
            prev = Some(k);
        }
        let full = page.len() == limit;
        all.extend(page);
        if !full {
            return all;
        }
        before = all.last().map(&key);
    }
    panic!("pagination did not terminate");
}

/// The rows of `seen` whose keys are in `ours`, in the order seen.
fn only<T: Clone>(seen: &[T], ours: &HashSet<Uuid>, key: impl Fn(&T) -> Uuid) -> Vec<T> {
    seen.iter()
        .filter(|r| ours.contains(&key(r)))
        .cloned()
        .collect()
}

fn post_key(p: &PostRecord) -> Uuid {
    p.id.as_uuid()
}

fn newest_first(mut posts: Vec<PostRecord>) -> Vec<PostRecord> {
    posts.sort_by_key(|p| std::cmp::Reverse(p.id));
    posts
}

// ---------------------------------------------------------------------------------------------
// UserRepository
// ---------------------------------------------------------------------------------------------

/// Every MUST of [`UserRepository`].
pub async fn user_repository_contract(repos: &Repos) {
    users_create_and_lookup(repos).await;
    users_conflicts(repos).await;
    users_update_profile(repos).await;
    users_summaries(repos).await;
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

// ---------------------------------------------------------------------------------------------
// PostRepository
// ---------------------------------------------------------------------------------------------

/// Every MUST of [`PostRepository`].
pub async fn post_repository_contract(repos: &Repos) {
    posts_create_and_delete(repos).await;
    posts_by_author_pages(repos).await;
    posts_latest_pages(repos).await;
    posts_feed(repos).await;
}

/// Create/delete keep `posts_count` exact; an unknown author writes nothing; only the author
/// deletes.
pub async fn posts_create_and_delete(repos: &Repos) {
    let u = make_user(repos, "gina").await;
    let other = make_user(repos, "hank").await;

    let p1 = make_post(repos, u.id, 1).await;
    assert_eq!(
        repos.posts.by_id(p1.id).await.expect("ok"),
        Some(p1.clone())
    );
    assert_eq!(counters(repos, u.id).await, (0, 0, 1));
    let p2 = make_post(repos, u.id, 2).await;
    assert_eq!(counters(repos, u.id).await, (0, 0, 2));

    let orphan = PostRecord {
        id: PostId::from_uuid(Uuid::now_v7()),
        author_id: UserId::from_uuid(Uuid::now_v7()),
        content: "nobody wrote this".to_owned(),
        created_at: at(3),
    };
    assert!(
        !repos.posts.create(&orphan).await.expect("ok"),
        "unknown author"
    );
    assert_eq!(repos.posts.by_id(orphan.id).await.expect("ok"), None);

    assert!(
        !repos.posts.delete(p1.id, other.id).await.expect("ok"),
        "not the author"
    );
    assert_eq!(
        repos.posts.by_id(p1.id).await.expect("ok"),
        Some(p1.clone())
    );
    assert_eq!(counters(repos, u.id).await, (0, 0, 2));
    assert_eq!(counters(repos, other.id).await, (0, 0, 0));

    let nothing = PostId::from_uuid(Uuid::now_v7());
    assert!(
        !repos.posts.delete(nothing, u.id).await.expect("ok"),
        "unknown post"
    );

    assert!(repos.posts.delete(p1.id, u.id).await.expect("ok"));
    assert_eq!(repos.posts.by_id(p1.id).await.expect("ok"), None);
    assert_eq!(counters(repos, u.id).await, (0, 0, 1));
    assert!(
        !repos.posts.delete(p1.id, u.id).await.expect("ok"),
        "already gone"
    );
    assert_eq!(counters(repos, u.id).await, (0, 0, 1));
    assert_eq!(repos.posts.by_id(p2.id).await.expect("ok"), Some(p2));
}

/// One author's posts only, newest first, in pages that neither skip nor repeat.
pub async fn posts_by_author_pages(repos: &Repos) {
    let u = make_user(repos, "ivan").await;
    let other = make_user(repos, "judy").await;
    let mut mine = Vec::new();
    let mut theirs = Vec::new();
    for n in 0..7 {
        mine.push(make_post(repos, u.id, n).await);
        theirs.push(make_post(repos, other.id, n).await);
    }
    let mine = newest_first(mine);

    for limit in [1, 3, 7, 100] {
        let posts = &repos.posts;
        let seen = walk(limit, |q| posts.by_author(u.id, q), post_key).await;
        assert_eq!(
            seen, mine,
            "by_author walks every post once (limit {limit})"
        );
    }

    // The cursor need not be one of the list's keys: strictly below any key.
    let before = theirs[3].id.as_uuid();
    let got = repos.posts.by_author(u.id, keyset(Some(before), 100)).await;
    let want = mine.iter().filter(|p| p.id.as_uuid() < before).cloned();
    assert_eq!(got.expect("ok"), want.collect::<Vec<_>>());

    let top = repos
        .posts
        .by_author(u.id, keyset(Some(mine[0].id.as_uuid()), 2))
        .await;
    assert_eq!(
        top.expect("ok"),
        mine[1..3].to_vec(),
        "the cursor row is excluded"
    );
}

/// The global timeline holds every post, newest first, and a deleted post leaves it.
pub async fn posts_latest_pages(repos: &Repos) {
    let a = make_user(repos, "kim").await;
    let b = make_user(repos, "leo").await;
    let mut ours = Vec::new();
    for n in 0..5 {
        ours.push(make_post(repos, a.id, n).await);
        ours.push(make_post(repos, b.id, n).await);
    }
    let ours = newest_first(ours);
    let keys: HashSet<Uuid> = ours.iter().map(post_key).collect();

    for limit in [1, 4, 10] {
        let posts = &repos.posts;
        let seen = walk(limit, |q| posts.latest(q), post_key).await;
        assert_eq!(only(&seen, &keys, post_key), ours, "limit {limit}");
    }

    let gone = &ours[4];
    assert!(repos
        .posts
        .delete(gone.id, gone.author_id)
        .await
        .expect("ok"));
    let posts = &repos.posts;
    let seen = walk(3, |q| posts.latest(q), post_key).await;
    let want: Vec<_> = ours.iter().filter(|p| p.id != gone.id).cloned().collect();
    assert_eq!(
        only(&seen, &keys, post_key),
        want,
        "a deleted post leaves it"
    );
}

/// The feed holds the user's own posts and those of whom they follow, nobody else's; an
/// unfollow or a delete takes posts out of it.
pub async fn posts_feed(repos: &Repos) {
    let me = make_user(repos, "mia").await;
    let friend = make_user(repos, "ned").await;
    let stranger = make_user(repos, "olga").await;
    let fan = make_user(repos, "pat").await;
    follow(repos, me.id, friend.id).await;
    // Who follows me does not matter for my feed.
    follow(repos, fan.id, me.id).await;

    let (mut mine, mut friends) = (Vec::new(), Vec::new());
    for n in 0..4 {
        mine.push(make_post(repos, me.id, n).await);
        friends.push(make_post(repos, friend.id, n).await);
        make_post(repos, stranger.id, n).await;
        make_post(repos, fan.id, n).await;
    }
    let expected = newest_first(mine.iter().chain(&friends).cloned().collect());

    for limit in [1, 3, 8, 50] {
        let posts = &repos.posts;
        let seen = walk(limit, |q| posts.feed(me.id, q), post_key).await;
        assert_eq!(
            seen, expected,
            "own and followed posts only (limit {limit})"
        );
    }
    let posts = &repos.posts;
    let cut = expected[2].id.as_uuid();
    let below = posts.feed(me.id, keyset(Some(cut), 100)).await.expect("ok");
    assert_eq!(below, expected[3..].to_vec(), "strictly below the cursor");

    // Someone who follows nobody sees only their own posts.
    let seen = walk(2, |q| posts.feed(stranger.id, q), post_key).await;
    assert!(seen.iter().all(|p| p.author_id == stranger.id));
    assert_eq!(seen.len(), 4);

    // A deleted post leaves the feed.
    let gone = &friends[1];
    assert!(posts.delete(gone.id, friend.id).await.expect("ok"));
    let seen = walk(5, |q| posts.feed(me.id, q), post_key).await;
    let want: Vec<_> = expected
        .iter()
        .filter(|p| p.id != gone.id)
        .cloned()
        .collect();
    assert_eq!(seen, want);

    // An unfollow removes the friend's posts.
    assert!(repos.follows.unfollow(me.id, friend.id).await.expect("ok"));
    let seen = walk(5, |q| posts.feed(me.id, q), post_key).await;
    assert_eq!(seen, newest_first(mine));

    let nobody = UserId::from_uuid(Uuid::now_v7());
    let empty = posts.feed(nobody, keyset(None, 10)).await.expect("ok");
    assert!(empty.is_empty(), "an unknown user's feed is empty");
}

// ---------------------------------------------------------------------------------------------
// FollowRepository
// ---------------------------------------------------------------------------------------------

/// Every MUST of [`FollowRepository`].
pub async fn follow_repository_contract(repos: &Repos) {
    follows_counters_and_conflicts(repos).await;
    follows_lists(repos).await;
}

/// Follow/unfollow keep both counters exact; a duplicate or an unknown user changes nothing.
pub async fn follows_counters_and_conflicts(repos: &Repos) {
    let a = make_user(repos, "quinn").await;
    let b = make_user(repos, "rosa").await;

    follow(repos, a.id, b.id).await;
    assert_eq!(counters(repos, a.id).await, (0, 1, 0));
    assert_eq!(counters(repos, b.id).await, (1, 0, 0));

    let again = FollowRecord {
        id: FollowId::from_uuid(Uuid::now_v7()),
        follower_id: a.id,
        following_id: b.id,
        created_at: at(1),
    };
    let err = repos.follows.follow(&again).await;
    assert!(matches!(err, Err(FollowError::AlreadyFollowing)), "{err:?}");
    assert_eq!(counters(repos, a.id).await, (0, 1, 0), "unchanged");
    assert_eq!(counters(repos, b.id).await, (1, 0, 0), "unchanged");

    // The reverse edge is a different edge.
    follow(repos, b.id, a.id).await;
    assert_eq!(counters(repos, a.id).await, (1, 1, 0));
    assert_eq!(counters(repos, b.id).await, (1, 1, 0));

    let nobody = UserId::from_uuid(Uuid::now_v7());
    for (follower, following) in [(a.id, nobody), (nobody, a.id)] {
        let edge = FollowRecord {
            id: FollowId::from_uuid(Uuid::now_v7()),
            follower_id: follower,
            following_id: following,
            created_at: at(2),
        };
        let err = repos.follows.follow(&edge).await;
        assert!(matches!(err, Err(FollowError::UnknownUser)), "{err:?}");
    }
    assert_eq!(counters(repos, a.id).await, (1, 1, 0), "unchanged");

    assert!(repos.follows.unfollow(a.id, b.id).await.expect("ok"));
    assert_eq!(counters(repos, a.id).await, (1, 0, 0));
    assert_eq!(counters(repos, b.id).await, (0, 1, 0));
    assert!(
        !repos.follows.unfollow(a.id, b.id).await.expect("ok"),
        "no edge"
    );
    assert!(
        !repos.follows.unfollow(a.id, nobody).await.expect("ok"),
        "no edge"
    );
    assert_eq!(counters(repos, a.id).await, (1, 0, 0), "unchanged");
    assert_eq!(counters(repos, b.id).await, (0, 1, 0), "unchanged");

    // Following again after an unfollow is allowed.
    follow(repos, a.id, b.id).await;
    assert_eq!(counters(repos, a.id).await, (1, 1, 0));
    assert_eq!(counters(repos, b.id).await, (1, 1, 0));
}

/// Followers and following lists: newest edge first, keyed by edge id, the other user's
/// current summary, pages that neither skip nor repeat.
pub async fn follows_lists(repos: &Repos) {
    let star = make_user(repos, "star").await;
    let mut fans = Vec::new();
    for _ in 0..5 {
        let fan = make_user(repos, "fan").await;
        let edge = follow(repos, fan.id, star.id).await;
        fans.push((edge, fan));
    }
    // The third fan renames: lists show current names.
    let rename = ProfileUpdate {
        name: Some(Some(Name::parse("Renamed").expect("valid"))),
        bio: None,
    };
    let renamed = repos.users.update_profile(fans[2].1.id, &rename).await;
    fans[2].1 = renamed.expect("ok").expect("exists");
    // The newest edge goes again, so the list is not just creation order of users.
    assert!(repos
        .follows
        .unfollow(fans[4].1.id, star.id)
        .await
        .expect("ok"));
    fans.pop();

    let edge_key = |e: &crate::model::FollowEdge| e.id.as_uuid();
    let want: Vec<_> = fans
        .iter()
        .rev()
        .map(|(id, u)| (*id, u.summary()))
        .collect();
    for limit in [1, 2, 4, 10] {
        let follows = &repos.follows;
        let seen = walk(limit, |q| follows.followers(star.id, q), edge_key).await;
        let seen: Vec<_> = seen.into_iter().map(|e| (e.id, e.user)).collect();
        assert_eq!(seen, want, "followers (limit {limit})");
    }
    assert_eq!(counters(repos, star.id).await, (4, 0, 0));

    // The star follows every fan back, newest edge first on their side too.
    let mut back = Vec::new();
    for (_, fan) in &fans {
        back.push((follow(repos, star.id, fan.id).await, fan.summary()));
    }
    back.reverse();
    for limit in [1, 3, 10] {
        let follows = &repos.follows;
        let seen = walk(limit, |q| follows.following(star.id, q), edge_key).await;
        let seen: Vec<_> = seen.into_iter().map(|e| (e.id, e.user)).collect();
        assert_eq!(seen, back, "following (limit {limit})");
    }
    let follows = &repos.follows;
    let cut = back[1].0.as_uuid();
    let below = follows.following(star.id, keyset(Some(cut), 10)).await;
    let below: Vec<_> = below.expect("ok").into_iter().map(|e| e.id).collect();
    let want: Vec<_> = back[2..].iter().map(|(id, _)| *id).collect();
    assert_eq!(below, want, "strictly below the cursor");

    let (fan_edge, fan) = &fans[0];
    let theirs = follows
        .following(fan.id, keyset(None, 10))
        .await
        .expect("ok");
    assert_eq!(theirs.len(), 1);
    assert_eq!(
        (theirs[0].id, &theirs[0].user),
        (*fan_edge, &star.summary())
    );

    let nobody = UserId::from_uuid(Uuid::now_v7());
    let none = follows
        .followers(nobody, keyset(None, 10))
        .await
        .expect("ok");
    assert!(none.is_empty());
}
