//! The feed outbox suite: every post, deletion, follow and unfollow that succeeds leaves exactly
//! its event, in write order; a write that fails leaves none, also when it failed next to
//! others in one burst (a group-commit batch); and the relay's three calls do what they say.
//!
//! The outbox is shared by everything written to the store, so the suite never assumes it
//! starts empty: it relays whatever is pending first, and its event checks only look at
//! events that name users it created. The `backlog` counts assume no other writer on the store
//! while the suite runs.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use uuid::Uuid;

use super::helpers::{at, follow, make_post, make_user, salt};
use super::Repos;
use crate::error::StoreError;
use crate::model::{
    FeedEvent, Fingerprint, FollowId, FollowRecord, IdempotencyKey, KeyClaim, KeyScope,
    OutboxEntry, PostId, PostRecord, Timestamp, UserId,
};
use crate::ports::{FollowError, Keyed};
use crate::testkit::join::{join_all, BoxFuture};

/// How far `recorded_at` may be from the test's own clock: a database on another machine has
/// its own, but one off by this much (or a unit mistake: seconds, microseconds) is broken.
const CLOCK_SLACK: Duration = Duration::from_secs(60);

/// Every MUST of the outbox.
pub async fn feed_outbox_contract(repos: &Repos) {
    outbox_records_every_write(repos).await;
    outbox_failed_writes_record_nothing(repos).await;
    outbox_mixed_burst(repos).await;
    outbox_pending_relayed_backlog(repos).await;
}

fn wall_clock() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis();
    Timestamp::from_unix_millis(i64::try_from(ms).expect("a plausible clock"))
}

/// Relays everything pending (rows other suites left), so that what follows is ours.
async fn drain(repos: &Repos) {
    for _ in 0..10_000 {
        let rows = repos.outbox.pending(500).await.expect("pending succeeds");
        if rows.is_empty() {
            return;
        }
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        repos.outbox.relayed(&seqs).await.expect("relayed succeeds");
    }
    panic!("the outbox did not drain");
}

/// Every pending row, lowest `seq` first, checking the order on the way.
async fn all_pending(repos: &Repos) -> Vec<OutboxEntry> {
    let rows = repos
        .outbox
        .pending(100_000)
        .await
        .expect("pending succeeds");
    assert!(
        rows.windows(2).all(|w| w[0].seq < w[1].seq),
        "pending is in strictly increasing seq order: {rows:?}"
    );
    rows
}

/// The pending events that name one of `users`, in `seq` order.
async fn events_of(repos: &Repos, users: &[UserId]) -> Vec<OutboxEntry> {
    let ours: HashSet<Uuid> = users.iter().map(|u| u.as_uuid()).collect();
    all_pending(repos)
        .await
        .into_iter()
        .filter(|e| {
            let (a, b) = e.event.parts();
            ours.contains(&a) || ours.contains(&b)
        })
        .collect()
}

fn new_post(author: UserId, n: i64) -> PostRecord {
    PostRecord {
        id: PostId::from_uuid(Uuid::now_v7()),
        author_id: author,
        content: format!("outbox post {n}"),
        created_at: at(n),
    }
}

fn new_edge(follower: UserId, following: UserId) -> FollowRecord {
    FollowRecord {
        id: FollowId::from_uuid(Uuid::now_v7()),
        follower_id: follower,
        following_id: following,
        created_at: at(0),
    }
}

/// A key no other run of the suite uses.
fn claim(user: UserId) -> KeyClaim {
    KeyClaim {
        scope: KeyScope::user(user),
        key: IdempotencyKey::parse(format!("outbox-{}", salt()).as_bytes())
            .expect("test key is valid"),
        fingerprint: Fingerprint::of("outbox").finish(),
    }
}

/// Each kind of write records its event with the right ids, in write order, stamped now; a
/// signup records none.
pub async fn outbox_records_every_write(repos: &Repos) {
    drain(repos).await;
    let started = wall_clock();
    let u = make_user(repos, "obwrite").await;
    let v = make_user(repos, "obwrite").await;
    assert_eq!(events_of(repos, &[u.id, v.id]).await, [], "signups");

    let p = make_post(repos, u.id, 1).await;
    follow(repos, v.id, u.id).await;
    assert!(repos.follows.unfollow(v.id, u.id).await.expect("ok"));
    assert!(repos.posts.delete(p.id, u.id).await.expect("ok"));
    let kp = new_post(v.id, 2);
    let done = repos.posts.create_keyed(&kp, &claim(v.id)).await;
    assert_eq!(done.expect("ok"), Keyed::Done(true));
    let ke = new_edge(u.id, v.id);
    let done = repos.follows.follow_keyed(&ke, &claim(u.id)).await;
    assert_eq!(done.expect("ok"), Keyed::Done(()));
    let finished = wall_clock();

    let got = events_of(repos, &[u.id, v.id]).await;
    let events: Vec<FeedEvent> = got.iter().map(|e| e.event).collect();
    assert_eq!(
        events,
        [
            FeedEvent::Posted {
                post: p.id,
                author: u.id
            },
            FeedEvent::Followed {
                follower: v.id,
                followee: u.id
            },
            FeedEvent::Unfollowed {
                follower: v.id,
                followee: u.id
            },
            FeedEvent::Deleted {
                post: p.id,
                author: u.id
            },
            FeedEvent::Posted {
                post: kp.id,
                author: v.id
            },
            FeedEvent::Followed {
                follower: u.id,
                followee: v.id
            },
        ],
        "one event per write, in write order"
    );
    let slack = i64::try_from(CLOCK_SLACK.as_millis()).expect("small");
    for e in &got {
        let t = e.recorded_at.unix_millis();
        assert!(
            t >= started.unix_millis() - slack && t <= finished.unix_millis() + slack,
            "recorded_at {t} is the write's time (between {} and {})",
            started.unix_millis(),
            finished.unix_millis()
        );
    }
}

/// Writes that fail record nothing: an unknown author, an existing or unknown follow, an
/// unfollow or a delete that finds nothing (or someone else's post), a keyed write whose key
/// is taken.
pub async fn outbox_failed_writes_record_nothing(repos: &Repos) {
    drain(repos).await;
    let u = make_user(repos, "obfail").await;
    let v = make_user(repos, "obfail").await;
    let p = make_post(repos, u.id, 1).await;
    follow(repos, v.id, u.id).await;
    let before = events_of(repos, &[u.id, v.id]).await;
    assert_eq!(before.len(), 2, "the setup's post and follow");

    let ghost = UserId::from_uuid(Uuid::now_v7());
    let orphan = new_post(ghost, 2);
    assert!(!repos.posts.create(&orphan).await.expect("ok"), "ghost");
    let again = repos.follows.follow(&new_edge(v.id, u.id)).await;
    assert!(
        matches!(again, Err(FollowError::AlreadyFollowing)),
        "{again:?}"
    );
    let unknown = repos.follows.follow(&new_edge(u.id, ghost)).await;
    assert!(
        matches!(unknown, Err(FollowError::UnknownUser)),
        "{unknown:?}"
    );
    assert!(!repos.follows.unfollow(u.id, v.id).await.expect("ok"));
    let missing = PostId::from_uuid(Uuid::now_v7());
    assert!(!repos.posts.delete(missing, u.id).await.expect("ok"));
    assert!(!repos.posts.delete(p.id, v.id).await.expect("ok"), "theirs");
    let key = claim(u.id);
    let first = repos.posts.create_keyed(&new_post(u.id, 3), &key).await;
    assert_eq!(first.expect("ok"), Keyed::Done(true));
    let taken = repos.posts.create_keyed(&new_post(u.id, 4), &key).await;
    assert_eq!(taken.expect("ok"), Keyed::Taken);

    let after = events_of(repos, &[u.id, v.id, ghost]).await;
    assert_eq!(
        after.len(),
        3,
        "only the keyed post that was written: {after:?}"
    );
    assert_eq!(after[..2], before[..], "the earlier events are untouched");
    assert!(matches!(after[2].event, FeedEvent::Posted { author, .. } if author == u.id));
}

#[derive(Debug)]
enum Answer {
    Post(Result<bool, StoreError>),
    Follow(Result<(), FollowError>),
}

/// A burst of concurrent creates and follows (one group-commit batch, or a few) where some
/// fail: the others record their events, the failures none.
pub async fn outbox_mixed_burst(repos: &Repos) {
    drain(repos).await;
    let u = make_user(repos, "obburst").await;
    let v = make_user(repos, "obburst").await;
    let w = make_user(repos, "obburst").await;
    let ghost = UserId::from_uuid(Uuid::now_v7());
    follow(repos, v.id, u.id).await;
    drain(repos).await;

    let posts: Vec<PostRecord> = (0..6)
        .map(|n| new_post(if n == 3 { ghost } else { u.id }, n))
        .collect();
    let edges = [
        new_edge(w.id, u.id),
        new_edge(v.id, u.id), // exists
        new_edge(w.id, ghost),
        new_edge(u.id, w.id),
    ];
    // One burst, posts and follows in flight together.
    let mut ops: Vec<BoxFuture<'_, Answer>> = Vec::new();
    for p in &posts {
        ops.push(Box::pin(async move {
            Answer::Post(repos.posts.create(p).await)
        }));
    }
    for e in &edges {
        ops.push(Box::pin(async move {
            Answer::Follow(repos.follows.follow(e).await)
        }));
    }
    let answers = join_all(ops).await;
    for (n, answer) in answers.iter().enumerate() {
        let ok = match (n, answer) {
            (3, Answer::Post(a)) => matches!(a, Ok(false)),
            (0..=5, Answer::Post(a)) => matches!(a, Ok(true)),
            (6 | 9, Answer::Follow(a)) => a.is_ok(),
            (7, Answer::Follow(a)) => matches!(a, Err(FollowError::AlreadyFollowing)),
            (8, Answer::Follow(a)) => matches!(a, Err(FollowError::UnknownUser)),
            _ => false,
        };
        assert!(ok, "burst item {n} answered {answer:?}");
    }

    let got: HashSet<(String, Uuid, Uuid)> = events_of(repos, &[u.id, v.id, w.id, ghost])
        .await
        .iter()
        .map(|e| {
            let (a, b) = e.event.parts();
            (e.event.kind().to_owned(), a, b)
        })
        .collect();
    let mut want: HashSet<(String, Uuid, Uuid)> = posts
        .iter()
        .filter(|p| p.author_id == u.id)
        .map(|p| ("post".to_owned(), p.id.as_uuid(), u.id.as_uuid()))
        .collect();
    for e in [&edges[0], &edges[3]] {
        let (a, b) = (e.follower_id.as_uuid(), e.following_id.as_uuid());
        want.insert(("follow".to_owned(), a, b));
    }
    assert_eq!(got, want, "the burst's successful writes, each once");
    assert_eq!(events_of(repos, &[u.id, v.id, w.id, ghost]).await.len(), 7);
}

/// `pending` honours `max` and `seq` order, `relayed` removes exactly the `seq`s named (and
/// ignores unknown ones, also in a list longer than one statement takes), `backlog` counts
/// what waits, and a `seq` is never handed out twice.
pub async fn outbox_pending_relayed_backlog(repos: &Repos) {
    drain(repos).await;
    assert_eq!(repos.outbox.backlog().await.expect("ok"), 0, "drained");
    assert_eq!(repos.outbox.pending(10).await.expect("ok"), []);
    repos.outbox.relayed(&[]).await.expect("relaying nothing");

    let u = make_user(repos, "obrelay").await;
    for n in 0..5 {
        make_post(repos, u.id, n).await;
    }
    assert_eq!(repos.outbox.backlog().await.expect("ok"), 5);
    let all = all_pending(repos).await;
    assert_eq!(all.len(), 5);
    assert_eq!(repos.outbox.pending(2).await.expect("ok"), all[..2]);
    assert_eq!(repos.outbox.pending(0).await.expect("ok"), []);
    assert_eq!(repos.outbox.pending(5).await.expect("ok"), all);
    let after = |seq, max| repos.outbox.pending_after(seq, max);
    assert_eq!(after(all[1].seq, 2).await.expect("ok"), all[2..4]);
    assert_eq!(after(all[1].seq - 1, 10).await.expect("ok"), all[1..]);
    assert_eq!(after(all[4].seq, 10).await.expect("ok"), []);
    assert_eq!(after(i64::MIN, 10).await.expect("ok"), all);

    let top = all[4].seq;
    let first = [all[0].seq, all[2].seq, top + 1_000_000, -1, 0];
    repos.outbox.relayed(&first).await.expect("ok");
    assert_eq!(repos.outbox.backlog().await.expect("ok"), 3);
    let left = vec![all[1], all[3], all[4]];
    assert_eq!(all_pending(repos).await, left, "exactly those were removed");
    // Relaying the same rows again changes nothing.
    repos.outbox.relayed(&first).await.expect("ok");
    assert_eq!(repos.outbox.backlog().await.expect("ok"), 3);

    // A long list (unknown seqs around the real ones), as a relay after an outage may send.
    let mut long: Vec<i64> = (top + 10..top + 2_510).collect();
    long.insert(1_200, all[3].seq);
    long.push(all[1].seq);
    repos.outbox.relayed(&long).await.expect("ok");
    assert_eq!(all_pending(repos).await, vec![all[4]]);
    repos.outbox.relayed(&[all[4].seq]).await.expect("ok");
    assert_eq!(repos.outbox.backlog().await.expect("ok"), 0);

    // Emptied, the outbox still never repeats a seq: a timeline compares an edge's seqs.
    make_post(repos, u.id, 9).await;
    let next = all_pending(repos).await;
    assert_eq!(next.len(), 1);
    assert!(next[0].seq > top, "seq {} after {top}", next[0].seq);
    drain(repos).await;
}
