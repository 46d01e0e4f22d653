//! The [`FollowRepository`](crate::ports::FollowRepository) suite.

use uuid::Uuid;

use super::helpers::{at, counters, follow, keyset, make_user, walk};
use super::Repos;
use crate::model::{FollowId, FollowRecord, Name, ProfileUpdate, UserId};
use crate::ports::FollowError;

// ---------------------------------------------------------------------------------------------
// FollowRepository
// ---------------------------------------------------------------------------------------------

/// Every MUST of [`FollowRepository`](crate::ports::FollowRepository).
pub async fn follow_repository_contract(repos: &Repos) {
    follows_counters_and_conflicts(repos).await;
    follows_lists(repos).await;
    super::follows_lists_pages_while_following(repos).await;
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

    // The fan-out's walk: the same edges as `followers`, ids only.
    let want: Vec<_> = fans
        .iter()
        .rev()
        .map(|(e, u)| (e.as_uuid(), u.id))
        .collect();
    for limit in [1, 3, 10] {
        let seen = walk(limit, |q| follows.follower_ids(star.id, q), |e| e.0).await;
        assert_eq!(seen, want, "follower ids (limit {limit})");
    }
    let ids = follows.follower_ids(nobody, keyset(None, 10)).await;
    assert!(ids.expect("ok").is_empty());

    // Which of these the star follows: the fans it followed back, not itself or nobody.
    let mut candidates: Vec<UserId> = fans.iter().map(|(_, u)| u.id).collect();
    candidates.extend([star.id, nobody]);
    let mut among = follows
        .followed_among(star.id, &candidates)
        .await
        .expect("ok");
    among.sort();
    let mut want: Vec<UserId> = fans.iter().map(|(_, u)| u.id).collect();
    want.sort();
    assert_eq!(among, want);
    let one = follows.followed_among(fans[0].1.id, &candidates).await;
    assert_eq!(one.expect("ok"), [star.id]);
    let none = follows.followed_among(star.id, &[]).await.expect("ok");
    assert!(none.is_empty());
}
