//! The four keyset lists walked while they grow: between every two pages a new row joins the
//! list being walked (a post by the user or someone they follow, a new follower, a new
//! followee). Ids are time-ordered, so every new row sorts above the walk's cursor: a walk must
//! return exactly the rows that existed when it began, each once, newest first, and none of
//! the new ones. An offset-style page, a `<=` bound or an order by anything but the id would
//! repeat or skip rows here.

use std::collections::HashSet;

use uuid::Uuid;

use super::helpers::{follow, make_post, make_user, newest_first, post_key, walk, walk_while};
use super::Repos;
use crate::model::{FollowEdge, FollowId};

/// Page sizes the walks use: one row, a few, and one that does not divide the list.
const PAGE_SIZES: [usize; 3] = [1, 3, 7];

/// What a walk under writes must return: `before`, exactly; and `after` (a walk once the
/// writes are done) must hold them all plus the new rows, so the writes really happened.
fn check_walk(what: &str, limit: usize, seen: &[Uuid], before: &[Uuid], after: &[Uuid]) {
    let distinct: HashSet<&Uuid> = seen.iter().collect();
    assert_eq!(
        distinct.len(),
        seen.len(),
        "{what} (limit {limit}): no row twice"
    );
    assert_eq!(
        seen, before,
        "{what} (limit {limit}): every row that existed when the walk began, once, newest \
         first, and none added during the walk"
    );
    let grew = after.len() > before.len();
    assert!(
        grew && before.iter().all(|k| after.contains(k)),
        "{what} (limit {limit}): rows were added during the walk and none lost"
    );
}

/// A user's own posts, walked while the user keeps posting.
pub async fn posts_by_author_pages_while_posting(repos: &Repos) {
    for limit in PAGE_SIZES {
        let u = make_user(repos, "writer").await;
        let mut mine = Vec::new();
        for n in 0..10 {
            mine.push(make_post(repos, u.id, n).await);
        }
        let before: Vec<Uuid> = newest_first(mine).iter().map(post_key).collect();

        let (posts, uid) = (&repos.posts, u.id);
        let mut n = 100;
        let seen = walk_while(
            limit,
            |q| posts.by_author(uid, q),
            post_key,
            || {
                n += 1;
                async move {
                    make_post(repos, uid, n).await;
                }
            },
        )
        .await;
        let seen: Vec<Uuid> = seen.iter().map(post_key).collect();
        let after = walk(limit, |q| posts.by_author(u.id, q), post_key).await;
        let after: Vec<Uuid> = after.iter().map(post_key).collect();
        check_walk("by_author", limit, &seen, &before, &after);
    }
}

/// A home feed, walked while the user and the people they follow keep posting (and a
/// stranger, whose posts never belong there).
pub async fn posts_feed_pages_while_posting(repos: &Repos) {
    for limit in PAGE_SIZES {
        let me = make_user(repos, "reader").await;
        let friends = [make_user(repos, "fa").await, make_user(repos, "fb").await];
        let stranger = make_user(repos, "nobody").await;
        for f in &friends {
            follow(repos, me.id, f.id).await;
        }
        let mut existing = Vec::new();
        for n in 0..4 {
            existing.push(make_post(repos, me.id, n).await);
            for f in &friends {
                existing.push(make_post(repos, f.id, n).await);
            }
            make_post(repos, stranger.id, n).await;
        }
        let before: Vec<Uuid> = newest_first(existing).iter().map(post_key).collect();

        let authors = [friends[0].id, me.id, stranger.id, friends[1].id];
        let posts = &repos.posts;
        let mut n = 100;
        let seen = walk_while(
            limit,
            |q| posts.feed(me.id, q),
            post_key,
            || {
                n += 1;
                let author = authors[usize::try_from(n).expect("small") % authors.len()];
                async move {
                    make_post(repos, author, n).await;
                }
            },
        )
        .await;
        let seen: Vec<Uuid> = seen.iter().map(post_key).collect();
        let after = walk(limit, |q| posts.feed(me.id, q), post_key).await;
        let after: Vec<Uuid> = after.iter().map(post_key).collect();
        check_walk("feed", limit, &seen, &before, &after);
    }
}

fn edge_key(e: &FollowEdge) -> Uuid {
    e.id.as_uuid()
}

fn newest_edges(mut edges: Vec<FollowId>) -> Vec<Uuid> {
    edges.sort_by_key(|e| std::cmp::Reverse(*e));
    edges.iter().map(|e| e.as_uuid()).collect()
}

/// A user's followers, walked while new users follow them; and the users they follow, walked
/// while they follow more.
pub async fn follows_lists_pages_while_following(repos: &Repos) {
    for limit in PAGE_SIZES {
        let star = make_user(repos, "star").await;
        let mut edges = Vec::new();
        for _ in 0..8 {
            let fan = make_user(repos, "fan").await;
            edges.push(follow(repos, fan.id, star.id).await);
        }
        let before = newest_edges(edges);
        let (follows, star_id) = (&repos.follows, star.id);
        let seen = walk_while(
            limit,
            |q| follows.followers(star.id, q),
            edge_key,
            || async move {
                let fan = make_user(repos, "newfan").await;
                follow(repos, fan.id, star_id).await;
            },
        )
        .await;
        let seen: Vec<Uuid> = seen.iter().map(edge_key).collect();
        let after = walk(limit, |q| follows.followers(star.id, q), edge_key).await;
        let after: Vec<Uuid> = after.iter().map(edge_key).collect();
        check_walk("followers", limit, &seen, &before, &after);

        let fan = make_user(repos, "keen").await;
        let mut edges = Vec::new();
        for _ in 0..8 {
            let idol = make_user(repos, "idol").await;
            edges.push(follow(repos, fan.id, idol.id).await);
        }
        let before = newest_edges(edges);
        let fan_id = fan.id;
        let seen = walk_while(
            limit,
            |q| follows.following(fan.id, q),
            edge_key,
            || async move {
                let idol = make_user(repos, "newidol").await;
                follow(repos, fan_id, idol.id).await;
            },
        )
        .await;
        let seen: Vec<Uuid> = seen.iter().map(edge_key).collect();
        let after = walk(limit, |q| follows.following(fan.id, q), edge_key).await;
        let after: Vec<Uuid> = after.iter().map(edge_key).collect();
        check_walk("following", limit, &seen, &before, &after);
    }
}
