//! Setup steps and checks the suites share.

use std::collections::HashSet;
use std::future::Future;

use uuid::Uuid;

use super::Repos;
use crate::error::StoreError;
use crate::model::{
    Email, FollowId, FollowRecord, Keyset, Name, NewUser, PostId, PostRecord, Timestamp, User,
    UserId, Username,
};

/// A fixed instant the suites stamp rows with (2023-11-14T22:13:20Z).
const T0: i64 = 1_700_000_000_000;

pub(super) fn at(offset_ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(T0 + offset_ms)
}

/// 12 random hex digits: unique enough per call, short enough for a 20-character username.
pub(super) fn salt() -> String {
    let mut s = Uuid::new_v4().simple().to_string();
    s.truncate(12);
    s
}

/// A valid signup whose username (`<tag>_<salt>`, tag ≤ 7 chars) and email are unique.
pub(super) fn new_user_named(username: &str, email: &str) -> NewUser {
    NewUser {
        id: UserId::from_uuid(Uuid::now_v7()),
        email: Email::parse(email).expect("test email is valid"),
        username: Username::parse(username).expect("test username is valid"),
        name: Some(Name::parse("Test User").expect("test name is valid")),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        created_at: at(0),
    }
}

pub(super) fn new_user(tag: &str) -> NewUser {
    let s = salt();
    new_user_named(&format!("{tag}_{s}"), &format!("{tag}.{s}@example.com"))
}

pub(super) async fn make_user(repos: &Repos, tag: &str) -> User {
    repos
        .users
        .create(&new_user(tag))
        .await
        .expect("creating a fresh user succeeds")
}

pub(super) async fn reload(repos: &Repos, id: UserId) -> User {
    repos
        .users
        .by_id(id)
        .await
        .expect("by_id succeeds")
        .expect("the user exists")
}

/// `(followers, following, posts)` as stored now.
pub(super) async fn counters(repos: &Repos, id: UserId) -> (u64, u64, u64) {
    let u = reload(repos, id).await;
    (u.followers_count, u.following_count, u.posts_count)
}

pub(super) async fn make_post(repos: &Repos, author: UserId, n: i64) -> PostRecord {
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

pub(super) async fn follow(repos: &Repos, follower: UserId, following: UserId) -> FollowId {
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

pub(super) fn keyset(before: Option<Uuid>, limit: usize) -> Keyset {
    Keyset { before, limit }
}

/// Walks a keyset list from the top in pages of `limit`, checking on every page what the
/// `Keyset` contract says (at most `limit` rows, all strictly below the cursor, newest first),
/// and returns every row seen, in order.
pub(super) async fn walk<T, F, Fut>(limit: usize, fetch: F, key: impl Fn(&T) -> Uuid) -> Vec<T>
where
    F: FnMut(Keyset) -> Fut,
    Fut: Future<Output = Result<Vec<T>, StoreError>>,
{
    walk_while(limit, fetch, key, || async {}).await
}

/// [`walk`], running `between` after every full page, before the next is fetched: how a
/// client's walk meets writes made while it pages.
pub(super) async fn walk_while<T, F, Fut, B, BFut>(
    limit: usize,
    mut fetch: F,
    key: impl Fn(&T) -> Uuid,
    mut between: B,
) -> Vec<T>
where
    F: FnMut(Keyset) -> Fut,
    Fut: Future<Output = Result<Vec<T>, StoreError>>,
    B: FnMut() -> BFut,
    BFut: Future<Output = ()>,
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
        between().await;
    }
    panic!("pagination did not terminate");
}

/// The rows of `seen` whose keys are in `ours`, in the order seen.
pub(super) fn only<T: Clone>(seen: &[T], ours: &HashSet<Uuid>, key: impl Fn(&T) -> Uuid) -> Vec<T> {
    seen.iter()
        .filter(|r| ours.contains(&key(r)))
        .cloned()
        .collect()
}

pub(super) fn post_key(p: &PostRecord) -> Uuid {
    p.id.as_uuid()
}

pub(super) fn newest_first(mut posts: Vec<PostRecord>) -> Vec<PostRecord> {
    posts.sort_by_key(|p| std::cmp::Reverse(p.id));
    posts
}
