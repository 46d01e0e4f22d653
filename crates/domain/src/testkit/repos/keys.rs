//! The idempotency key suite: keyed writes of the three repositories and the
//! [`IdempotencyKeyRepository`](crate::ports::IdempotencyKeyRepository) (the rules are in
//! `ports::idempotency`'s module doc).

use std::collections::HashSet;
use std::time::Duration;

use uuid::Uuid;

use super::helpers::{at, counters, make_user, new_user, salt};
use super::Repos;
use crate::model::{
    Fingerprint, FollowId, FollowRecord, IdempotencyKey, KeyClaim, KeyScope, Keyset, NewUser,
    PostId, PostRecord, StoredKey, Timestamp, UserId, IDEMPOTENCY_KEY_TTL,
};
use crate::ports::{CreateUserError, FollowError, Keyed};
use crate::testkit::join::{join_all, BoxFuture};

/// Every MUST of keyed writes and of the key repository.
pub async fn idempotency_key_contract(repos: &Repos) {
    keyed_posts(repos).await;
    keyed_follows(repos).await;
    keyed_signups(repos).await;
    keys_expire(repos).await;
    keys_sweep(repos).await;
    keyed_duplicates_in_one_burst(repos).await;
}

fn claim(scope: KeyScope, key: &str, request: &str) -> KeyClaim {
    KeyClaim {
        scope,
        key: IdempotencyKey::parse(key.as_bytes()).expect("test key is valid"),
        fingerprint: Fingerprint::of("test")
            .field("request", Some(request))
            .finish(),
    }
}

fn post(author: UserId, n: i64) -> PostRecord {
    PostRecord {
        id: PostId::from_uuid(Uuid::now_v7()),
        author_id: author,
        content: format!("keyed post {n}"),
        created_at: at(n),
    }
}

fn edge(a: UserId, b: UserId, n: i64) -> FollowRecord {
    FollowRecord {
        id: FollowId::from_uuid(Uuid::now_v7()),
        follower_id: a,
        following_id: b,
        created_at: at(n),
    }
}

fn later(t: Timestamp, by: Duration, plus_ms: i64) -> Timestamp {
    let ms = i64::try_from(by.as_millis()).expect("small");
    Timestamp::from_unix_millis(t.unix_millis() + ms + plus_ms)
}

async fn find(repos: &Repos, c: &KeyClaim, now: Timestamp) -> Option<StoredKey> {
    repos
        .keys
        .find(&c.scope, &c.key, now)
        .await
        .expect("find succeeds")
}

async fn post_count(repos: &Repos, user: UserId) -> usize {
    let q = Keyset {
        before: None,
        limit: 100,
    };
    repos.posts.by_author(user, q).await.expect("ok").len()
}

/// A keyed post stores its key with it; the key taken, nothing is written; another scope is
/// another key; an unknown author stores no key.
pub async fn keyed_posts(repos: &Repos) {
    let u = make_user(repos, "kposts").await;
    let v = make_user(repos, "kposts").await;
    let first = claim(KeyScope::user(u.id), "k-1", "a");
    let p1 = post(u.id, 1);
    let done = repos.posts.create_keyed(&p1, &first).await.expect("ok");
    assert_eq!(done, Keyed::Done(true));
    let stored = find(repos, &first, at(2)).await.expect("the key is stored");
    assert_eq!(
        stored,
        StoredKey {
            fingerprint: first.fingerprint,
            resource: p1.id.as_uuid(),
            created_at: p1.created_at,
        }
    );

    // The same key again, for the same or another request: nothing written.
    for request in ["a", "b"] {
        let again = claim(KeyScope::user(u.id), "k-1", request);
        let p2 = post(u.id, 3);
        let taken = repos.posts.create_keyed(&p2, &again).await.expect("ok");
        assert_eq!(taken, Keyed::Taken, "request {request}");
        assert_eq!(repos.posts.by_id(p2.id).await.expect("ok"), None);
    }
    assert_eq!(counters(repos, u.id).await, (0, 0, 1));
    assert_eq!(find(repos, &first, at(4)).await, Some(stored), "unchanged");

    // The same key in another scope is another key.
    let theirs = claim(KeyScope::user(v.id), "k-1", "a");
    let pv = post(v.id, 5);
    let done = repos.posts.create_keyed(&pv, &theirs).await.expect("ok");
    assert_eq!(done, Keyed::Done(true));
    assert_eq!(counters(repos, v.id).await, (0, 0, 1));

    // A failed write stores no key.
    let ghost = UserId::from_uuid(Uuid::now_v7());
    let orphan_claim = claim(KeyScope::user(ghost), "k-2", "a");
    let orphan = repos
        .posts
        .create_keyed(&post(ghost, 6), &orphan_claim)
        .await
        .expect("ok");
    assert_eq!(orphan, Keyed::Done(false));
    assert_eq!(find(repos, &orphan_claim, at(7)).await, None);
}

/// A keyed follow stores its key with the edge; a taken key writes nothing and comes before
/// `AlreadyFollowing`; a follow that fails stores no key.
pub async fn keyed_follows(repos: &Repos) {
    let u = make_user(repos, "kfollow").await;
    let a = make_user(repos, "kfollow").await;
    let b = make_user(repos, "kfollow").await;
    let first = claim(KeyScope::user(u.id), "f-1", "a");
    let e1 = edge(u.id, a.id, 1);
    let done = repos.follows.follow_keyed(&e1, &first).await.expect("ok");
    assert_eq!(done, Keyed::Done(()));
    let stored = find(repos, &first, at(2)).await.expect("stored");
    assert_eq!(
        (stored.resource, stored.created_at),
        (e1.id.as_uuid(), at(1))
    );

    // Taken: for another user to follow, and for the existing edge itself.
    for target in [b.id, a.id] {
        let taken = repos
            .follows
            .follow_keyed(&edge(u.id, target, 3), &first)
            .await
            .expect("ok");
        assert_eq!(taken, Keyed::Taken);
    }
    assert_eq!(counters(repos, u.id).await, (0, 1, 0));
    assert_eq!(counters(repos, b.id).await, (0, 0, 0));

    let fresh = claim(KeyScope::user(u.id), "f-2", "a");
    let existing = repos
        .follows
        .follow_keyed(&edge(u.id, a.id, 4), &fresh)
        .await;
    assert!(
        matches!(existing, Err(FollowError::AlreadyFollowing)),
        "{existing:?}"
    );
    let ghost = UserId::from_uuid(Uuid::now_v7());
    let unknown = repos
        .follows
        .follow_keyed(&edge(u.id, ghost, 5), &fresh)
        .await;
    assert!(
        matches!(unknown, Err(FollowError::UnknownUser)),
        "{unknown:?}"
    );
    assert_eq!(
        find(repos, &fresh, at(6)).await,
        None,
        "failed follows store no key"
    );
    assert_eq!(counters(repos, a.id).await, (1, 0, 0));
}

/// A keyed signup stores its key with the user; a taken key comes before a taken email; a
/// signup that fails stores no key.
pub async fn keyed_signups(repos: &Repos) {
    let new = new_user("ksign");
    let scope = KeyScope::signup(&new.email);
    let first = claim(scope.clone(), "s-1", "a");
    let done = repos.users.create_keyed(&new, &first).await.expect("ok");
    assert_eq!(done, Keyed::Done(new.to_user()));
    let stored = find(repos, &first, at(1)).await.expect("stored");
    assert_eq!(
        (stored.resource, stored.created_at),
        (new.id.as_uuid(), new.created_at)
    );

    // The same email (hence scope) and key again: taken, before the email is found taken.
    let twin = NewUser {
        id: UserId::from_uuid(Uuid::now_v7()),
        ..new.clone()
    };
    let taken = repos.users.create_keyed(&twin, &first).await.expect("ok");
    assert_eq!(taken, Keyed::Taken);
    assert_eq!(repos.users.by_id(twin.id).await.expect("ok"), None);

    let fresh = claim(scope, "s-2", "a");
    let clash = repos.users.create_keyed(&twin, &fresh).await;
    assert!(
        matches!(clash, Err(CreateUserError::EmailTaken)),
        "{clash:?}"
    );
    assert_eq!(find(repos, &fresh, at(2)).await, None);
}

/// A key lives for the lifetime from its write's time, then reads ignore it and a write with
/// it is a new write (replacing the row).
pub async fn keys_expire(repos: &Repos) {
    let u = make_user(repos, "kexpire").await;
    let c = claim(KeyScope::user(u.id), "e-1", "a");
    let p1 = post(u.id, 10);
    assert_eq!(
        repos.posts.create_keyed(&p1, &c).await.expect("ok"),
        Keyed::Done(true)
    );
    let last_live = later(p1.created_at, IDEMPOTENCY_KEY_TTL, -1);
    let expired = later(p1.created_at, IDEMPOTENCY_KEY_TTL, 0);
    assert!(find(repos, &c, last_live).await.is_some());
    assert_eq!(find(repos, &c, expired).await, None);

    // One millisecond before the end it is still in the way; at the end it is not.
    let early = PostRecord {
        created_at: last_live,
        ..post(u.id, 0)
    };
    assert_eq!(
        repos.posts.create_keyed(&early, &c).await.expect("ok"),
        Keyed::Taken
    );
    let p2 = PostRecord {
        created_at: expired,
        ..post(u.id, 0)
    };
    assert_eq!(
        repos.posts.create_keyed(&p2, &c).await.expect("ok"),
        Keyed::Done(true)
    );
    let stored = find(repos, &c, expired).await.expect("the new write's key");
    assert_eq!(
        (stored.resource, stored.created_at),
        (p2.id.as_uuid(), expired)
    );
    assert_eq!(post_count(repos, u.id).await, 2);
}

/// The sweep deletes expired keys only, oldest first, at most `limit` per call.
pub async fn keys_sweep(repos: &Repos) {
    let u = make_user(repos, "ksweep").await;
    // Long before any other suite's rows, so only this suite's keys are that old.
    let base = -5_000_000_000;
    let mut claims = Vec::new();
    for n in 0..3 {
        let c = claim(KeyScope::user(u.id), &format!("w-{n}"), "a");
        let p = post(u.id, base + n);
        assert_eq!(
            repos.posts.create_keyed(&p, &c).await.expect("ok"),
            Keyed::Done(true)
        );
        claims.push(c);
    }
    // Keys 0 and 1 are expired at `now`, key 2 lives one millisecond more.
    let now = later(at(base + 1), IDEMPOTENCY_KEY_TTL, 0);
    assert_eq!(repos.keys.sweep(now, 1).await.expect("ok"), 1);
    assert_eq!(
        find(repos, &claims[2], now).await.map(|k| k.created_at),
        Some(at(base + 2))
    );
    assert_eq!(repos.keys.sweep(now, 10).await.expect("ok"), 1);
    assert_eq!(repos.keys.sweep(now, 10).await.expect("ok"), 0);
    assert!(
        find(repos, &claims[2], now).await.is_some(),
        "a live key is kept"
    );
    // Swept keys are gone for good: a write with one is new even at its old time.
    let again = post(u.id, base);
    assert_eq!(
        repos
            .posts
            .create_keyed(&again, &claims[0])
            .await
            .expect("ok"),
        Keyed::Done(true)
    );
    assert_eq!(post_count(repos, u.id).await, 4);
}

const TWINS: usize = 20;

/// Keyed writes racing with one key (a client retrying while its first attempt is in flight),
/// among other writes: exactly one writes, each other duplicate is answered `Taken` alone, and
/// every batch-mate gets its own answer.
pub async fn keyed_duplicates_in_one_burst(repos: &Repos) {
    let u = make_user(repos, "kburst").await;
    let mut targets = Vec::new();
    for _ in 0..TWINS {
        targets.push(make_user(repos, "ktarget").await.id);
    }
    let same = claim(KeyScope::user(u.id), "twin", "a");
    let posts: Vec<(PostRecord, Option<KeyClaim>)> = (0..TWINS * 3)
        .map(|i| {
            let n = i64::try_from(i).expect("small");
            let c = match i % 3 {
                0 => Some(same.clone()),
                1 => Some(claim(KeyScope::user(u.id), &format!("own-{}", salt()), "a")),
                _ => None,
            };
            (post(u.id, n), c)
        })
        .collect();
    let ops: Vec<BoxFuture<'_, _>> = posts
        .iter()
        .map(|(p, c)| -> BoxFuture<'_, _> {
            match c {
                Some(c) => Box::pin(repos.posts.create_keyed(p, c)),
                None => Box::pin(async { repos.posts.create(p).await.map(Keyed::Done) }),
            }
        })
        .collect();
    let answers = join_all(ops).await;
    let mut winners = Vec::new();
    for (i, ((p, _), answer)) in posts.iter().zip(&answers).enumerate() {
        match (i % 3, answer) {
            (0, Ok(Keyed::Done(true))) => winners.push(p.id),
            (0, Ok(Keyed::Taken)) => {}
            (_, Ok(Keyed::Done(true))) => {}
            (_, other) => panic!("post {i} answered {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one of the duplicates writes");
    let stored = find(repos, &same, at(0)).await.expect("stored");
    assert_eq!(stored.resource, winners[0].as_uuid());
    assert_eq!(post_count(repos, u.id).await, 1 + 2 * TWINS);
    assert_eq!(counters(repos, u.id).await, (0, 0, 1 + 2 * TWINS as u64));

    // Follows: the same key for every target, plus unkeyed follows of a second user.
    let w = make_user(repos, "kburst").await;
    let same = claim(KeyScope::user(u.id), "twin-follow", "a");
    let edges: Vec<FollowRecord> = targets.iter().map(|&t| edge(u.id, t, 0)).collect();
    let others: Vec<FollowRecord> = targets.iter().map(|&t| edge(w.id, t, 0)).collect();
    let mut ops: Vec<BoxFuture<'_, _>> = Vec::new();
    for (mine, theirs) in edges.iter().zip(&others) {
        ops.push(Box::pin(repos.follows.follow_keyed(mine, &same)));
        ops.push(Box::pin(async {
            repos.follows.follow(theirs).await.map(Keyed::Done)
        }));
    }
    let answers = join_all(ops).await;
    let mut winners = HashSet::new();
    for (i, answer) in answers.iter().enumerate() {
        match (i % 2, answer) {
            (0, Ok(Keyed::Done(()))) => {
                winners.insert(edges[i / 2].id);
            }
            (0, Ok(Keyed::Taken)) | (1, Ok(Keyed::Done(()))) => {}
            (_, other) => panic!("follow {i} answered {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one of the duplicates writes");
    let stored = find(repos, &same, at(0)).await.expect("stored");
    assert!(winners.contains(&FollowId::from_uuid(stored.resource)));
    assert_eq!(counters(repos, u.id).await.1, 1);
    assert_eq!(counters(repos, w.id).await.1, TWINS as u64);
}
