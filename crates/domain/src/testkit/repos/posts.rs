//! The [`PostRepository`](crate::ports::PostRepository) suite.

use std::collections::HashSet;

use uuid::Uuid;

use super::helpers::{
    at, counters, follow, keyset, make_post, make_user, newest_first, only, post_key, walk,
};
use super::Repos;
use crate::model::{PostId, PostRecord, UserId};

// ---------------------------------------------------------------------------------------------
// PostRepository
// ---------------------------------------------------------------------------------------------

/// Every MUST of [`PostRepository`](crate::ports::PostRepository).
pub async fn post_repository_contract(repos: &Repos) {
    posts_create_and_delete(repos).await;
    posts_by_author_pages(repos).await;
    posts_latest_pages(repos).await;
    posts_feed(repos).await;
    super::posts_by_author_pages_while_posting(repos).await;
    super::posts_feed_pages_while_posting(repos).await;
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
