//! The [`TimelineStore`] and [`FeedEventStream`] contracts.
//!
//! Users, authors and posts are fresh UUIDv7s in every run, so a suite run against a shared
//! store meets nothing another run wrote; only the pulled-author set is one per store, and the
//! suite checks it by its own authors and by version changes, never by its exact contents.
//! Expiry is not checked: it needs a store's clock, so adapters test it with their own.

// A suite reports a broken contract by panicking, exactly like `assert!`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod edges;
mod stream;

use uuid::Uuid;

use crate::model::{PostId, TimelineEntry, UserId};
use crate::ports::{TimelineStore, TimelineWindow};

pub use stream::feed_event_stream_contract;
pub(crate) use stream::sample_from;

/// Everything a timeline store must do. `cap` is the store's cap; it must be at least 4.
pub async fn timeline_store_contract(store: &dyn TimelineStore, cap: usize) {
    assert!(cap >= 4, "the suite needs a cap of at least 4");
    let mut posts = Posts::new();
    a_timeline_is_missing_then_building_then_ready(store, &mut posts).await;
    pages_neither_repeat_nor_skip(store, cap, &mut posts).await;
    pushes_reach_existing_timelines_only_and_keep_the_newest(store, cap, &mut posts).await;
    remove_takes_an_entry_out(store, &mut posts).await;
    nothing_is_stored_below_the_floor(store, cap, &mut posts).await;
    edges::follows_merge_and_incomplete_merges_set_a_floor(store, cap, &mut posts).await;
    edges::unfollows_remove_and_hold_back_pushes_in_seq_order(store, &mut posts).await;
    edges::rebuilds_leave_out_unfollowed_authors_and_stop_when_dropped(store, cap, &mut posts)
        .await;
    pulled_authors_come_and_go_by_generation(store).await;
}

/// Post ids that grow with each call (UUIDv7 with a strictly increasing millisecond).
struct Posts(u64);

impl Posts {
    fn new() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Posts(now)
    }

    fn next(&mut self) -> PostId {
        self.0 += 1;
        let random = *Uuid::new_v4().as_bytes();
        let mut tail = [0_u8; 10];
        tail.copy_from_slice(&random[..10]);
        PostId::from_uuid(uuid::Builder::from_unix_timestamp_millis(self.0, &tail).into_uuid())
    }

    fn by(&mut self, author: UserId) -> TimelineEntry {
        TimelineEntry {
            post: self.next(),
            author,
        }
    }
}

fn user() -> UserId {
    UserId::from_uuid(Uuid::now_v7())
}

/// Newest first, as a window returns them.
fn newest_first(entries: &[TimelineEntry]) -> Vec<TimelineEntry> {
    let mut v = entries.to_vec();
    v.sort_by(|a, b| b.cmp(a));
    v
}

async fn all(store: &dyn TimelineStore, u: UserId) -> Vec<TimelineEntry> {
    match store.window(u, None, 10_000).await.unwrap() {
        TimelineWindow::Ready { entries, exhausted } => {
            assert!(exhausted, "a window larger than the timeline is exhausted");
            entries
        }
        other => panic!("expected a ready timeline, got {other:?}"),
    }
}

/// A ready timeline holding exactly `entries` (complete).
async fn ready(store: &dyn TimelineStore, entries: &[TimelineEntry]) -> UserId {
    let u = user();
    assert!(store.begin_rebuild(u).await.unwrap());
    store.finish_rebuild(u, entries, true).await.unwrap();
    u
}

async fn a_timeline_is_missing_then_building_then_ready(
    store: &dyn TimelineStore,
    posts: &mut Posts,
) {
    let (u, a, b) = (user(), user(), user());
    assert_eq!(
        store.window(u, None, 10).await.unwrap(),
        TimelineWindow::Missing
    );
    assert!(store.begin_rebuild(u).await.unwrap());
    assert!(
        !store.begin_rebuild(u).await.unwrap(),
        "one rebuild at a time"
    );
    assert_eq!(
        store.window(u, None, 10).await.unwrap(),
        TimelineWindow::Building
    );
    let (e1, e2, e3) = (posts.by(a), posts.by(b), posts.by(a));
    assert_eq!(
        store.push(e3, &[u]).await.unwrap(),
        1,
        "a rebuilding timeline takes pushes"
    );
    store.finish_rebuild(u, &[e2, e1], true).await.unwrap();
    assert_eq!(
        store.window(u, None, 10).await.unwrap(),
        TimelineWindow::Ready {
            entries: vec![e3, e2, e1],
            exhausted: true
        },
        "the rebuild merged with the push, newest first"
    );
    assert!(
        !store.begin_rebuild(u).await.unwrap(),
        "a ready timeline is not rebuilt"
    );
    store.drop_timelines(&[u]).await.unwrap();
    assert_eq!(
        store.window(u, None, 10).await.unwrap(),
        TimelineWindow::Missing
    );
}

async fn pages_neither_repeat_nor_skip(store: &dyn TimelineStore, cap: usize, posts: &mut Posts) {
    let a = user();
    let entries: Vec<TimelineEntry> = (0..cap).map(|_| posts.by(a)).collect();
    let u = ready(store, &entries).await;
    let expected = newest_first(&entries);
    let (mut seen, mut before) = (Vec::new(), None);
    loop {
        let TimelineWindow::Ready { entries, exhausted } =
            store.window(u, before, 3).await.unwrap()
        else {
            panic!("the timeline is ready");
        };
        assert!(entries.len() <= 3);
        assert_eq!(
            exhausted,
            entries.len() < 3,
            "exhausted iff the page came back short"
        );
        seen.extend(entries.iter().copied());
        if exhausted {
            break;
        }
        before = entries.last().map(|e| e.post);
    }
    assert_eq!(seen, expected, "pages neither repeat nor skip");

    // A cursor that is not in the timeline works too, and the bottom is exhausted.
    let gap = expected[1].post;
    store.remove(expected[1], &[u]).await.unwrap();
    let TimelineWindow::Ready { entries, .. } = store.window(u, Some(gap), 2).await.unwrap() else {
        panic!("the timeline is ready");
    };
    assert_eq!(entries, expected[2..4].to_vec());
    let oldest = expected[cap - 1].post;
    assert_eq!(
        store.window(u, Some(oldest), 5).await.unwrap(),
        TimelineWindow::Ready {
            entries: vec![],
            exhausted: true
        }
    );
}

async fn pushes_reach_existing_timelines_only_and_keep_the_newest(
    store: &dyn TimelineStore,
    cap: usize,
    posts: &mut Posts,
) {
    let a = user();
    let old = posts.by(a);
    let ready_user = ready(store, &[old]).await;
    let building = user();
    assert!(store.begin_rebuild(building).await.unwrap());
    let missing = user();

    let e = posts.by(a);
    let written = store
        .push(e, &[ready_user, building, missing])
        .await
        .unwrap();
    assert_eq!(written, 2, "the ready and the rebuilding timeline");
    assert_eq!(
        store.window(missing, None, 10).await.unwrap(),
        TimelineWindow::Missing
    );
    store
        .push(e, &[ready_user, building, missing])
        .await
        .unwrap();
    assert_eq!(
        all(store, ready_user).await,
        vec![e, old],
        "a second push changes nothing"
    );
    assert_eq!(store.push(e, &[]).await.unwrap(), 0);

    // Past the cap the oldest go, whatever order the pushes came in.
    let newer: Vec<TimelineEntry> = (0..cap + 2).map(|_| posts.by(a)).collect();
    for &n in newer.iter().rev() {
        assert_eq!(store.push(n, &[ready_user]).await.unwrap(), 1);
    }
    let kept = all(store, ready_user).await;
    assert_eq!(
        kept,
        newest_first(&newer)[..cap].to_vec(),
        "the newest `cap` are kept"
    );
    store.push(old, &[ready_user]).await.unwrap();
    assert_eq!(
        all(store, ready_user).await,
        kept,
        "an older push than all falls off"
    );
    store.drop_timelines(&[ready_user, building]).await.unwrap();
}

/// Once the cap has cut a timeline, it must stay whole from its oldest entry up: an entry older
/// than what the cap dropped (a late push, a follow merging old posts) is not stored even when
/// removals have made room, since the posts between it and the floor are not there.
async fn nothing_is_stored_below_the_floor(
    store: &dyn TimelineStore,
    cap: usize,
    posts: &mut Posts,
) {
    let (a, b) = (user(), user());
    let ancient = posts.by(b);
    let older = posts.by(a);
    let dropped = posts.by(a);
    let kept: Vec<TimelineEntry> = (0..cap).map(|_| posts.by(a)).collect();
    let u = ready(store, &[dropped]).await;
    for &k in &kept {
        store.push(k, &[u]).await.unwrap();
    }
    store.push(posts.by(a), &[u]).await.unwrap();
    // The cap cut `dropped` and then `kept[0]`: the floor is now `kept[1]`.
    assert_eq!(all(store, u).await.len(), cap);
    for &k in &kept[1..3] {
        store.remove(k, &[u]).await.unwrap();
    }
    store.push(older, &[u]).await.unwrap();
    let change = crate::ports::EdgeChange::Followed {
        posts: vec![ancient],
        complete: true,
    };
    assert!(store.apply_edge(u, b, 1, change).await.unwrap());
    let held = all(store, u).await;
    assert_eq!(held.len(), cap - 2, "nothing below the floor: {held:?}");
    assert!(held.iter().all(|e| e.post >= kept[1].post));
    store.drop_timelines(&[u]).await.unwrap();
}

async fn remove_takes_an_entry_out(store: &dyn TimelineStore, posts: &mut Posts) {
    let a = user();
    let (e1, e2) = (posts.by(a), posts.by(a));
    let u = ready(store, &[e1, e2]).await;
    let missing = user();
    store.remove(e2, &[u, missing]).await.unwrap();
    assert_eq!(all(store, u).await, vec![e1]);
    assert_eq!(
        store.window(missing, None, 10).await.unwrap(),
        TimelineWindow::Missing
    );
    store.remove(e2, &[u]).await.unwrap();
    assert_eq!(
        all(store, u).await,
        vec![e1],
        "removing twice changes nothing"
    );
}

async fn pulled_authors_come_and_go_by_generation(store: &dyn TimelineStore) {
    let (a, b) = (user(), user());
    let generation = |p: &crate::ports::PulledAuthors, who: UserId| {
        p.authors.iter().find(|(x, _)| *x == who).map(|&(_, g)| g)
    };
    let v0 = store.pulled_authors().await.unwrap();
    assert_eq!(generation(&v0, a), None);

    store.mark_pulled(a).await.unwrap();
    let v1 = store.pulled_authors().await.unwrap();
    let g1 = generation(&v1, a).expect("a marked author is listed");
    assert_ne!(v1.version, v0.version, "an author joined");

    store.mark_pulled(a).await.unwrap();
    let v2 = store.pulled_authors().await.unwrap();
    let g2 = generation(&v2, a).expect("still listed");
    assert_ne!(g2, g1, "every skipped post bumps the generation");
    assert_eq!(v2.version, v1.version, "no author joined or left");

    assert!(
        !store.unmark_pulled(a, g1).await.unwrap(),
        "a post was skipped since g1"
    );
    assert_eq!(
        generation(&store.pulled_authors().await.unwrap(), a),
        Some(g2)
    );
    assert!(store.unmark_pulled(a, g2).await.unwrap());
    let v3 = store.pulled_authors().await.unwrap();
    assert_eq!(generation(&v3, a), None);
    assert_ne!(v3.version, v2.version, "an author left");
    assert!(!store.unmark_pulled(a, g2).await.unwrap(), "already out");
    assert!(!store.unmark_pulled(b, 1).await.unwrap(), "never in");

    // Marked again: a generation read before it left must not match (a post was skipped).
    store.mark_pulled(a).await.unwrap();
    let v4 = store.pulled_authors().await.unwrap();
    let g4 = generation(&v4, a).expect("listed again");
    assert_ne!(v4.version, v3.version);
    assert!(
        g4 != g1 && g4 != g2,
        "a generation is never handed out twice"
    );
    assert!(store.unmark_pulled(a, g4).await.unwrap());
}
