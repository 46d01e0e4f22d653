//! The stored counters under concurrent writes: follows, unfollows, posts and deletes all in
//! flight at once (polled together, see [`join_all`]), including the races a read-then-write
//! counter update gets wrong (the same edge followed or unfollowed twice, a post deleted
//! twice, a follow racing an unfollow of the same edge). Afterwards every counter must equal
//! the rows its list walks through.

use std::collections::{BTreeSet, HashMap};

use uuid::Uuid;

use super::helpers::{at, counters, make_user, post_key, walk};
use super::Repos;
use crate::model::{FollowId, FollowRecord, PostId, PostRecord, UserId};
use crate::ports::FollowError;
use crate::testkit::join::{join_all, BoxFuture};

const USERS: usize = 6;
const POSTS_EACH: usize = 4;

/// What one write in a race came to.
enum Outcome {
    Followed { pair: (usize, usize), ok: bool },
    Unfollowed { pair: (usize, usize), removed: bool },
    Posted { author: usize, id: PostId },
    Deleted { id: PostId, deleted: bool },
}

/// Concurrent follows, unfollows, posts and deletes leave every user's `followers_count`,
/// `following_count` and `posts_count` equal to the rows of their lists.
pub async fn counters_exact_under_concurrency(repos: &Repos) {
    let mut users = Vec::new();
    for _ in 0..USERS {
        users.push(make_user(repos, "racer").await.id);
    }
    let users = &users;
    let pairs: Vec<(usize, usize)> = (0..USERS)
        .flat_map(|a| (0..USERS).filter(move |b| *b != a).map(move |b| (a, b)))
        .collect();

    // Round one: every edge followed twice at once, every user posting, all together.
    let mut ops: Vec<BoxFuture<'_, Outcome>> = Vec::new();
    for &pair in &pairs {
        for _ in 0..2 {
            ops.push(follow_op(repos, users, pair));
        }
    }
    for author in 0..USERS {
        for n in 0..POSTS_EACH {
            ops.push(post_op(repos, users, author, n));
        }
    }
    let mut edges: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut posts: HashMap<PostId, usize> = HashMap::new();
    let mut follows_ok: HashMap<(usize, usize), usize> = HashMap::new();
    for outcome in join_all(ops).await {
        match outcome {
            Outcome::Followed { pair, ok } => {
                *follows_ok.entry(pair).or_default() += usize::from(ok);
                if ok {
                    edges.insert(pair);
                }
            }
            Outcome::Posted { author, id } => {
                posts.insert(id, author);
            }
            _ => unreachable!("round one only follows and posts"),
        }
    }
    for pair in &pairs {
        assert_eq!(
            follows_ok.get(pair),
            Some(&1),
            "of two racing follows of one edge exactly one succeeds: {pair:?}"
        );
    }

    // Round two, all at once: an edge unfollowed twice (same parity), an edge unfollowed while
    // followed again (odd, a < b), a duplicate follow (odd, a > b); two posts per user deleted
    // twice and once by someone else; three new posts per user.
    let mut ops: Vec<BoxFuture<'_, Outcome>> = Vec::new();
    for &(a, b) in &pairs {
        if (a + b) % 2 == 0 {
            ops.push(unfollow_op(repos, users, (a, b)));
            ops.push(unfollow_op(repos, users, (a, b)));
        } else if a < b {
            ops.push(unfollow_op(repos, users, (a, b)));
            ops.push(follow_op(repos, users, (a, b)));
        } else {
            ops.push(follow_op(repos, users, (a, b)));
        }
    }
    let mut doomed: Vec<(PostId, usize)> = posts.iter().map(|(id, a)| (*id, *a)).collect();
    doomed.sort();
    let doomed: Vec<(PostId, usize)> = (0..USERS)
        .flat_map(|u| doomed.iter().filter(move |(_, a)| *a == u).take(2).copied())
        .collect();
    for &(id, author) in &doomed {
        ops.push(delete_op(repos, users, id, author));
        ops.push(delete_op(repos, users, id, author));
        ops.push(delete_op(repos, users, id, (author + 1) % USERS));
    }
    for author in 0..USERS {
        for n in 0..3 {
            ops.push(post_op(repos, users, author, 10 + n));
        }
    }
    let mut unfollows: HashMap<(usize, usize), usize> = HashMap::new();
    let mut refollowed: HashMap<(usize, usize), bool> = HashMap::new();
    let mut deletes: HashMap<PostId, usize> = HashMap::new();
    for outcome in join_all(ops).await {
        match outcome {
            Outcome::Followed { pair, ok } => {
                refollowed.insert(pair, ok);
            }
            Outcome::Unfollowed { pair, removed } => {
                *unfollows.entry(pair).or_default() += usize::from(removed);
            }
            Outcome::Posted { author, id } => {
                posts.insert(id, author);
            }
            Outcome::Deleted { id, deleted } => {
                *deletes.entry(id).or_default() += usize::from(deleted);
            }
        }
    }
    for &(a, b) in &pairs {
        let pair = (a, b);
        if (a + b) % 2 == 0 {
            assert_eq!(unfollows[&pair], 1, "one of two racing unfollows: {pair:?}");
            edges.remove(&pair);
        } else if a < b {
            // The edge existed, so the unfollow removed it whichever came first; the follow
            // succeeded only if the unfollow came first, and then the edge is back.
            assert_eq!(unfollows[&pair], 1, "the unfollow found the edge: {pair:?}");
            if !refollowed[&pair] {
                edges.remove(&pair);
            }
        } else {
            assert!(!refollowed[&pair], "a duplicate follow fails: {pair:?}");
        }
    }
    for (id, _) in &doomed {
        assert_eq!(deletes[id], 1, "one of the racing deletes, by the author");
        posts.remove(id);
    }

    for (i, &u) in users.iter().enumerate() {
        let follows = &repos.follows;
        let followers = walk(7, |q| follows.followers(u, q), |e| e.id.as_uuid()).await;
        let following = walk(7, |q| follows.following(u, q), |e| e.id.as_uuid()).await;
        let authored = walk(7, |q| repos.posts.by_author(u, q), post_key).await;

        let names = |ids: &[UserId]| -> BTreeSet<usize> {
            ids.iter()
                .map(|id| users.iter().position(|x| x == id).expect("one of ours"))
                .collect()
        };
        let want_followers: BTreeSet<usize> =
            edges.iter().filter(|e| e.1 == i).map(|e| e.0).collect();
        let want_following: BTreeSet<usize> =
            edges.iter().filter(|e| e.0 == i).map(|e| e.1).collect();
        let got: Vec<UserId> = followers.iter().map(|e| e.user.id).collect();
        assert_eq!(names(&got), want_followers, "user {i}'s followers");
        let got: Vec<UserId> = following.iter().map(|e| e.user.id).collect();
        assert_eq!(names(&got), want_following, "user {i}'s following");
        let want_posts: BTreeSet<Uuid> = posts
            .iter()
            .filter(|(_, a)| **a == i)
            .map(|(id, _)| id.as_uuid())
            .collect();
        let got: BTreeSet<Uuid> = authored.iter().map(post_key).collect();
        assert_eq!(got, want_posts, "user {i}'s posts");

        let rows = (
            count(followers.len()),
            count(following.len()),
            count(authored.len()),
        );
        assert_eq!(
            counters(repos, u).await,
            rows,
            "user {i}: (followers, following, posts) counters equal the rows"
        );
    }
}

fn count(n: usize) -> u64 {
    u64::try_from(n).expect("small")
}

fn follow_op<'a>(
    repos: &'a Repos,
    users: &'a [UserId],
    pair: (usize, usize),
) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        let edge = FollowRecord {
            id: FollowId::from_uuid(Uuid::now_v7()),
            follower_id: users[pair.0],
            following_id: users[pair.1],
            created_at: at(0),
        };
        let ok = match repos.follows.follow(&edge).await {
            Ok(()) => true,
            Err(FollowError::AlreadyFollowing) => false,
            Err(e) => panic!("a racing follow succeeds or finds the edge: {e:?}"),
        };
        Outcome::Followed { pair, ok }
    })
}

fn unfollow_op<'a>(
    repos: &'a Repos,
    users: &'a [UserId],
    pair: (usize, usize),
) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        let removed = repos
            .follows
            .unfollow(users[pair.0], users[pair.1])
            .await
            .expect("a racing unfollow succeeds");
        Outcome::Unfollowed { pair, removed }
    })
}

fn post_op<'a>(
    repos: &'a Repos,
    users: &'a [UserId],
    author: usize,
    n: usize,
) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        let post = PostRecord {
            id: PostId::from_uuid(Uuid::now_v7()),
            author_id: users[author],
            content: format!("race post {n}"),
            created_at: at(i64::try_from(n).expect("small")),
        };
        let created = repos
            .posts
            .create(&post)
            .await
            .expect("a racing post succeeds");
        assert!(created, "the author exists");
        Outcome::Posted {
            author,
            id: post.id,
        }
    })
}

fn delete_op<'a>(
    repos: &'a Repos,
    users: &'a [UserId],
    id: PostId,
    by: usize,
) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        let deleted = repos
            .posts
            .delete(id, users[by])
            .await
            .expect("a racing delete succeeds");
        Outcome::Deleted { id, deleted }
    })
}
