//! The edge-change and rebuild steps of the [`TimelineStore`] contract.

// A suite reports a broken contract by panicking, exactly like `assert!`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::{all, newest_first, ready, user, Posts};
use crate::model::TimelineEntry;
use crate::ports::{EdgeChange, TimelineStore, TimelineWindow};

pub(super) async fn follows_merge_and_incomplete_merges_set_a_floor(
    store: &dyn TimelineStore,
    cap: usize,
    posts: &mut Posts,
) {
    let (a, b, c) = (user(), user(), user());
    let (b_old, a1, c_mid, a2, b_new, c_new) = (
        posts.by(b),
        posts.by(a),
        posts.by(c),
        posts.by(a),
        posts.by(b),
        posts.by(c),
    );
    let u = ready(store, &[a1, a2]).await;

    let followed = EdgeChange::Followed {
        posts: vec![b_new, b_old],
        complete: true,
    };
    assert!(store.apply_edge(u, b, 1, followed).await.unwrap());
    assert_eq!(
        all(store, u).await,
        vec![b_new, a2, a1, b_old],
        "a complete merge keeps all"
    );

    // An incomplete merge: nothing older than its oldest post may stay (it would sit among
    // posts of the followee that were not merged).
    let partial = EdgeChange::Followed {
        posts: vec![c_new, c_mid],
        complete: false,
    };
    assert!(store.apply_edge(u, c, 1, partial).await.unwrap());
    assert_eq!(
        all(store, u).await,
        vec![c_new, b_new, a2, c_mid],
        "entries below the merge's oldest post are dropped"
    );

    // A merge larger than the cap keeps the newest.
    let d = user();
    let many: Vec<TimelineEntry> = (0..cap + 3).map(|_| posts.by(d)).collect();
    let many_change = EdgeChange::Followed {
        posts: many.clone(),
        complete: true,
    };
    assert!(store.apply_edge(u, d, 1, many_change).await.unwrap());
    assert_eq!(all(store, u).await, newest_first(&many)[..cap].to_vec());

    // With no timeline the change is recorded only.
    let missing = user();
    let f = EdgeChange::Followed {
        posts: vec![posts.by(a)],
        complete: true,
    };
    assert!(store.apply_edge(missing, a, 3, f).await.unwrap());
    assert_eq!(
        store.window(missing, None, 10).await.unwrap(),
        TimelineWindow::Missing
    );
    let older = EdgeChange::Unfollowed;
    assert!(
        !store.apply_edge(missing, a, 2, older).await.unwrap(),
        "recorded even without a timeline"
    );
    store.drop_timelines(&[u]).await.unwrap();
}

pub(super) async fn unfollows_remove_and_hold_back_pushes_in_seq_order(
    store: &dyn TimelineStore,
    posts: &mut Posts,
) {
    let (a, b) = (user(), user());
    let (a1, b1, a2, b2) = (posts.by(a), posts.by(b), posts.by(a), posts.by(b));
    let u = ready(store, &[a1, b1, a2, b2]).await;
    let other = ready(store, &[]).await;

    assert!(store
        .apply_edge(u, b, 10, EdgeChange::Unfollowed)
        .await
        .unwrap());
    assert_eq!(
        all(store, u).await,
        vec![a2, a1],
        "the followee's entries are gone"
    );
    let b3 = posts.by(b);
    assert_eq!(
        store.push(b3, &[u, other]).await.unwrap(),
        1,
        "a push of the unfollowed author skips the unfollower"
    );
    assert_eq!(all(store, u).await, vec![a2, a1]);
    assert_eq!(all(store, other).await, vec![b3]);

    // Older or equal changes of the same edge are ignored, whatever they carry.
    let stale = EdgeChange::Followed {
        posts: vec![b1, b2],
        complete: true,
    };
    assert!(!store.apply_edge(u, b, 9, stale.clone()).await.unwrap());
    assert!(!store.apply_edge(u, b, 10, stale).await.unwrap());
    assert_eq!(all(store, u).await, vec![a2, a1]);
    assert_eq!(store.push(b3, &[u]).await.unwrap(), 0, "still unfollowed");

    // A later follow lets pushes through again.
    let again = EdgeChange::Followed {
        posts: vec![b2],
        complete: true,
    };
    assert!(store.apply_edge(u, b, 11, again).await.unwrap());
    assert_eq!(store.push(b3, &[u]).await.unwrap(), 1);
    assert_eq!(all(store, u).await, vec![b3, b2, a2, a1]);

    // Edges are per (user, followee): another user's unfollow of `a` changes nothing here.
    assert!(store
        .apply_edge(other, a, 12, EdgeChange::Unfollowed)
        .await
        .unwrap());
    assert_eq!(store.push(posts.by(a), &[u]).await.unwrap(), 1);
    // Seqs compare as integers, not as text, across the whole i64 range.
    assert!(store
        .apply_edge(u, a, 99, EdgeChange::Unfollowed)
        .await
        .unwrap());
    assert!(store
        .apply_edge(u, a, i64::MAX - 1, EdgeChange::Unfollowed)
        .await
        .unwrap());
    assert!(!store
        .apply_edge(u, a, 100, EdgeChange::Unfollowed)
        .await
        .unwrap());
    assert!(store
        .apply_edge(u, a, i64::MAX, EdgeChange::Unfollowed)
        .await
        .unwrap());
    store.drop_timelines(&[u, other]).await.unwrap();
}

pub(super) async fn rebuilds_leave_out_unfollowed_authors_and_stop_when_dropped(
    store: &dyn TimelineStore,
    cap: usize,
    posts: &mut Posts,
) {
    let (a, b) = (user(), user());
    // An unfollow applied while the rebuild read the database.
    let u = user();
    assert!(store.begin_rebuild(u).await.unwrap());
    assert!(store
        .apply_edge(u, b, 5, EdgeChange::Unfollowed)
        .await
        .unwrap());
    let (a1, b1, a2) = (posts.by(a), posts.by(b), posts.by(a));
    store.finish_rebuild(u, &[a2, b1, a1], true).await.unwrap();
    assert_eq!(all(store, u).await, vec![a2, a1]);

    // An unfollow recorded before the rebuild began counts too.
    let v = user();
    assert!(store
        .apply_edge(v, b, 1, EdgeChange::Unfollowed)
        .await
        .unwrap());
    let rebuilt = ready(store, &[a2, b1]).await;
    assert_eq!(
        all(store, rebuilt).await,
        vec![a2, b1],
        "another user's edge"
    );
    assert!(store.begin_rebuild(v).await.unwrap());
    store.finish_rebuild(v, &[a2, b1], true).await.unwrap();
    assert_eq!(all(store, v).await, vec![a2]);

    // An incomplete rebuild drops what was pushed meanwhile below its oldest entry.
    let w = user();
    let (o1, o2, o3, o4) = (posts.by(a), posts.by(a), posts.by(a), posts.by(a));
    assert!(store.begin_rebuild(w).await.unwrap());
    assert_eq!(store.push(o1, &[w]).await.unwrap(), 1);
    assert_eq!(store.push(o4, &[w]).await.unwrap(), 1);
    store.finish_rebuild(w, &[o3, o2], false).await.unwrap();
    assert_eq!(all(store, w).await, vec![o4, o3, o2]);

    // A rebuild larger than the cap keeps the newest.
    let x = user();
    let many: Vec<TimelineEntry> = (0..cap + 2).map(|_| posts.by(a)).collect();
    let x_ready = ready(store, &many).await;
    assert_eq!(
        all(store, x_ready).await,
        newest_first(&many)[..cap].to_vec()
    );

    // Dropped while rebuilding: the finish writes nothing.
    assert!(store.begin_rebuild(x).await.unwrap());
    store.drop_timelines(&[x]).await.unwrap();
    store.finish_rebuild(x, &[a1], true).await.unwrap();
    assert_eq!(
        store.window(x, None, 10).await.unwrap(),
        TimelineWindow::Missing
    );
    // Never claimed: likewise.
    let y = user();
    store.finish_rebuild(y, &[a1], true).await.unwrap();
    assert_eq!(
        store.window(y, None, 10).await.unwrap(),
        TimelineWindow::Missing
    );
    // A second finish of a ready timeline writes nothing either.
    store.finish_rebuild(u, &[b1], true).await.unwrap();
    assert_eq!(all(store, u).await, vec![a2, a1]);

    store
        .drop_timelines(&[u, v, w, rebuilt, x_ready])
        .await
        .unwrap();
    for gone in [u, v, w, rebuilt, x_ready] {
        assert_eq!(
            store.window(gone, None, 10).await.unwrap(),
            TimelineWindow::Missing
        );
    }
    assert!(
        store.begin_rebuild(u).await.unwrap(),
        "a dropped timeline is rebuilt"
    );
    assert_eq!(
        store.window(u, None, 10).await.unwrap(),
        TimelineWindow::Building
    );
    store.drop_timelines(&[u]).await.unwrap();
}
