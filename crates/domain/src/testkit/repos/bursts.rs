//! Bursts of concurrent creates and follows, some of them invalid, all in flight at once (polled
//! together, see [`join_all`]): what a store that coalesces writes into batches (group commit)
//! must get right. Every call gets the answer it would get alone — a valid write succeeds, an
//! invalid one fails with its own error and takes no batch-mate down — and the counters equal
//! the rows afterwards.

use std::collections::{BTreeSet, HashMap};

use uuid::Uuid;

use super::helpers::{at, counters, make_post, make_user, post_key, walk};
use super::Repos;
use crate::model::{FollowId, FollowRecord, PostId, PostRecord, UserId};
use crate::ports::FollowError;
use crate::testkit::join::{join_all, BoxFuture};

const AUTHORS: usize = 5;
const POSTS: usize = 200;

/// What each create in the burst is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PostCase {
    Valid,
    UnknownAuthor,
    /// The id of a post stored before the burst.
    StoredId,
    /// The same new id as another create of the burst: exactly one of the two wins.
    TwinId,
}

fn post_case(i: usize) -> PostCase {
    match i % 10 {
        3 => PostCase::UnknownAuthor,
        6 => PostCase::StoredId,
        8 | 9 => PostCase::TwinId,
        _ => PostCase::Valid,
    }
}

/// 200 concurrent creates: unknown authors answer `Ok(false)`, a taken id an error, of two
/// creates with one new id exactly one succeeds; every other create succeeds; `posts_count`
/// equals the stored posts.
pub async fn posts_burst_each_answered(repos: &Repos) {
    let mut users = Vec::new();
    for _ in 0..AUTHORS {
        users.push(make_user(repos, "burst").await.id);
    }
    let stored = make_post(repos, users[0], 0).await;
    let stranger = UserId::from_uuid(Uuid::now_v7());

    let mut posts = Vec::with_capacity(POSTS);
    let mut twin = PostId::from_uuid(Uuid::now_v7());
    for i in 0..POSTS {
        let case = post_case(i);
        let id = match case {
            PostCase::StoredId => stored.id,
            // `i % 10 == 8` draws a new id, 9 repeats it.
            PostCase::TwinId if i % 10 == 8 => {
                twin = PostId::from_uuid(Uuid::now_v7());
                twin
            }
            PostCase::TwinId => twin,
            _ => PostId::from_uuid(Uuid::now_v7()),
        };
        let author = if case == PostCase::UnknownAuthor {
            stranger
        } else {
            users[i % AUTHORS]
        };
        posts.push(PostRecord {
            id,
            author_id: author,
            content: format!("burst post {i}"),
            created_at: at(i64::try_from(i).expect("small")),
        });
    }
    let ops: Vec<BoxFuture<'_, _>> = posts
        .iter()
        .map(|p| -> BoxFuture<'_, _> { Box::pin(repos.posts.create(p)) })
        .collect();
    let answers = join_all(ops).await;

    let mut created: HashMap<PostId, usize> = HashMap::new();
    let mut twin_wins: HashMap<PostId, usize> = HashMap::new();
    for (i, (post, answer)) in posts.iter().zip(&answers).enumerate() {
        match post_case(i) {
            PostCase::Valid => assert!(
                matches!(answer, Ok(true)),
                "create {i} (valid) answered {answer:?}"
            ),
            PostCase::UnknownAuthor => assert!(
                matches!(answer, Ok(false)),
                "create {i} (unknown author) answered {answer:?}"
            ),
            PostCase::StoredId => {
                assert!(answer.is_err(), "create {i} (taken id) answered {answer:?}");
            }
            PostCase::TwinId => {
                assert!(
                    matches!(answer, Ok(true) | Err(_)),
                    "create {i} (twin id) answered {answer:?}"
                );
                *twin_wins.entry(post.id).or_default() += usize::from(answer.is_ok());
            }
        }
        if matches!(answer, Ok(true)) {
            created.insert(post.id, i % AUTHORS);
        }
    }
    assert!(
        twin_wins.values().all(|&n| n == 1),
        "of two creates with one id exactly one succeeds: {twin_wins:?}"
    );
    assert_eq!(
        repos.posts.by_id(stored.id).await.expect("by_id succeeds"),
        Some(stored.clone()),
        "a create with a taken id leaves the stored post alone"
    );
    for (i, post) in posts.iter().enumerate() {
        let found = repos.posts.by_id(post.id).await.expect("by_id succeeds");
        match post_case(i) {
            PostCase::UnknownAuthor => assert_eq!(found, None, "create {i} wrote nothing"),
            PostCase::Valid => assert_eq!(found.as_ref(), Some(post), "create {i} is stored"),
            _ => {}
        }
    }

    for (a, &user) in users.iter().enumerate() {
        let authored: BTreeSet<Uuid> = walk(50, |q| repos.posts.by_author(user, q), post_key)
            .await
            .iter()
            .map(post_key)
            .collect();
        let mut want: BTreeSet<Uuid> = created
            .iter()
            .filter(|(_, &author)| author == a)
            .map(|(id, _)| id.as_uuid())
            .collect();
        if a == 0 {
            want.insert(stored.id.as_uuid());
        }
        assert_eq!(authored, want, "author {a}'s posts");
        let (_, _, posts_count) = counters(repos, user).await;
        assert_eq!(
            posts_count,
            u64::try_from(want.len()).expect("small"),
            "author {a}'s posts_count equals their posts"
        );
    }
}

/// What each follow in the burst is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FollowCase {
    Valid,
    /// Followed before the burst.
    Existing,
    /// The same edge as another follow of the burst: exactly one of the two wins.
    Twin,
    UnknownFollower,
    UnknownFollowed,
    SelfFollow,
}

const FOLLOWERS: usize = 20;

/// Concurrent follows over 20 users (every ordered pair once, plus twins, edges that exist,
/// unknown users and self-follows): each gets its own answer and the counters equal the edges.
pub async fn follows_burst_each_answered(repos: &Repos) {
    let mut users = Vec::new();
    for _ in 0..FOLLOWERS {
        users.push(make_user(repos, "flock").await.id);
    }
    let stranger = UserId::from_uuid(Uuid::now_v7());
    let edge = |a: UserId, b: UserId| FollowRecord {
        id: FollowId::from_uuid(Uuid::now_v7()),
        follower_id: a,
        following_id: b,
        created_at: at(0),
    };
    // Edges (0, b) exist before the burst.
    for b in 1..4 {
        repos
            .follows
            .follow(&edge(users[0], users[b]))
            .await
            .expect("a fresh follow succeeds");
    }

    let mut burst: Vec<(FollowCase, FollowRecord)> = Vec::new();
    for a in 0..FOLLOWERS {
        for b in 0..FOLLOWERS {
            let (u, v) = (users[a], users[b]);
            if a == b {
                if a % 5 == 0 {
                    burst.push((FollowCase::SelfFollow, edge(u, u)));
                }
            } else if a == 0 && b < 4 {
                burst.push((FollowCase::Existing, edge(u, v)));
            } else if (a + b) % 7 == 0 {
                burst.push((FollowCase::Twin, edge(u, v)));
                burst.push((FollowCase::Twin, edge(u, v)));
            } else if a < 10 {
                burst.push((FollowCase::Valid, edge(u, v)));
            }
        }
        if a % 4 == 1 {
            burst.push((FollowCase::UnknownFollower, edge(stranger, users[a])));
            burst.push((FollowCase::UnknownFollowed, edge(users[a], stranger)));
        }
    }
    let ops: Vec<BoxFuture<'_, _>> = burst
        .iter()
        .map(|(_, e)| -> BoxFuture<'_, _> { Box::pin(repos.follows.follow(e)) })
        .collect();
    let answers = join_all(ops).await;

    let mut edges: BTreeSet<(UserId, UserId)> = (1..4).map(|b| (users[0], users[b])).collect();
    let mut twin_wins: HashMap<(UserId, UserId), usize> = HashMap::new();
    for ((case, e), answer) in burst.iter().zip(&answers) {
        let pair = (e.follower_id, e.following_id);
        let ok = match (case, answer) {
            (FollowCase::Valid, Ok(())) => true,
            (FollowCase::Existing, Err(FollowError::AlreadyFollowing)) => false,
            (FollowCase::Twin, Ok(())) => {
                *twin_wins.entry(pair).or_default() += 1;
                true
            }
            (FollowCase::Twin, Err(FollowError::AlreadyFollowing)) => {
                twin_wins.entry(pair).or_default();
                false
            }
            (
                FollowCase::UnknownFollower | FollowCase::UnknownFollowed,
                Err(FollowError::UnknownUser),
            )
            | (FollowCase::SelfFollow, Err(FollowError::Store(_))) => false,
            (case, answer) => panic!("follow {pair:?} ({case:?}) answered {answer:?}"),
        };
        if ok {
            edges.insert(pair);
        }
    }
    assert!(
        twin_wins.values().all(|&n| n == 1),
        "of two follows of one edge exactly one succeeds: {twin_wins:?}"
    );

    for (i, &u) in users.iter().enumerate() {
        let followers: BTreeSet<UserId> =
            walk(50, |q| repos.follows.followers(u, q), |e| e.id.as_uuid())
                .await
                .iter()
                .map(|e| e.user.id)
                .collect();
        let following: BTreeSet<UserId> =
            walk(50, |q| repos.follows.following(u, q), |e| e.id.as_uuid())
                .await
                .iter()
                .map(|e| e.user.id)
                .collect();
        let want_followers: BTreeSet<UserId> =
            edges.iter().filter(|e| e.1 == u).map(|e| e.0).collect();
        let want_following: BTreeSet<UserId> =
            edges.iter().filter(|e| e.0 == u).map(|e| e.1).collect();
        assert_eq!(followers, want_followers, "user {i}'s followers");
        assert_eq!(following, want_following, "user {i}'s following");
        let (followers_count, following_count, _) = counters(repos, u).await;
        assert_eq!(
            (followers_count, following_count),
            (
                u64::try_from(want_followers.len()).expect("small"),
                u64::try_from(want_following.len()).expect("small")
            ),
            "user {i}'s counters equal their edges"
        );
    }
}
