use axum::body::Bytes;
use tokio::sync::mpsc::{self, Receiver};
use uuid::Uuid;

use super::*;

fn user() -> UserId {
    UserId::from_uuid(Uuid::now_v7())
}

fn by_token(user: UserId) -> Identity {
    Identity {
        user,
        tier: domain::model::Tier::Standard,
        via: Via::Token,
        issued_at: Some(domain::model::Timestamp::from_unix_millis(1)),
    }
}

fn at(n: u64) -> LiveEventId {
    LiveEventId::new(1, n)
}

fn frame(n: u64) -> Frame {
    Frame {
        id: Some(at(n)),
        bytes: Bytes::from(n.to_string()),
    }
}

fn open(
    r: &mut Registry,
    who: UserId,
    follows: &[UserId],
    buffer: usize,
) -> (Registered, Receiver<Frame>) {
    let (tx, rx) = mpsc::channel(buffer);
    let reg = r
        .register(by_token(who), follows.iter().copied().collect(), tx)
        .unwrap();
    (reg, rx)
}

fn got(rx: &mut Receiver<Frame>) -> Vec<LiveEventId> {
    let mut out = Vec::new();
    while let Ok(f) = rx.try_recv() {
        out.extend(f.id);
    }
    out
}

#[test]
fn posts_go_to_the_author_and_their_followers_only() {
    let mut r = Registry::new(10, 5);
    let (star, fan, stranger) = (user(), user(), user());
    let (_, mut star_rx) = open(&mut r, star, &[], 8);
    let (_, mut fan_rx) = open(&mut r, fan, &[star], 8);
    let (_, mut stranger_rx) = open(&mut r, stranger, &[], 8);
    assert!(r.interested(star));
    assert_eq!(r.deliver(at(1), star, &frame(1)), 0);
    assert_eq!(got(&mut star_rx), [at(1)]);
    assert_eq!(got(&mut fan_rx), [at(1)]);
    assert_eq!(got(&mut stranger_rx), []);
    assert_eq!(r.cursor(), at(1));
}

#[test]
fn a_stream_registered_after_an_event_starts_after_it() {
    let mut r = Registry::new(10, 5);
    let star = user();
    r.start_at(at(3));
    r.passed(at(4));
    let (reg, _rx) = open(&mut r, user(), &[star], 8);
    assert_eq!(reg.live_after, at(4));
    r.deliver(at(5), star, &frame(5));
    let (later, _rx2) = open(&mut r, user(), &[star], 8);
    assert_eq!(later.live_after, at(5));
}

#[test]
fn follow_events_change_whose_posts_a_stream_gets() {
    let mut r = Registry::new(10, 5);
    let (star, fan) = (user(), user());
    let (reg, mut rx) = open(&mut r, fan, &[], 8);
    assert!(!r.interested(star));
    r.follow_changed(at(1), fan, star, true);
    assert!(r.wants(reg.id, star));
    r.deliver(at(2), star, &frame(2));
    r.follow_changed(at(3), fan, star, false);
    assert!(!r.wants(reg.id, star));
    assert!(!r.interested(star));
    r.deliver(at(4), star, &frame(4));
    assert_eq!(got(&mut rx), [at(2)]);
    assert!(r.wants(reg.id, fan), "still gets its own posts");
}

#[test]
fn a_full_queue_closes_that_stream_only() {
    let mut r = Registry::new(10, 5);
    let star = user();
    let (_, mut slow_rx) = open(&mut r, user(), &[star], 2);
    let (_, mut fast_rx) = open(&mut r, user(), &[star], 8);
    let mut closed = 0;
    for n in 1..=3 {
        closed += r.deliver(at(n), star, &frame(n));
        got(&mut fast_rx);
    }
    assert_eq!(closed, 1);
    assert_eq!(r.len(), 1);
    // The slow stream still writes what it holds, then ends.
    assert_eq!(got(&mut slow_rx), [at(1), at(2)]);
    assert!(slow_rx.is_closed());
    r.deliver(at(4), star, &frame(4));
    assert_eq!(got(&mut fast_rx), [at(4)]);
}

#[test]
fn a_dropped_stream_is_forgotten_on_the_next_delivery() {
    let mut r = Registry::new(10, 5);
    let star = user();
    let (_, rx) = open(&mut r, user(), &[star], 2);
    drop(rx);
    assert_eq!(r.deliver(at(1), star, &frame(1)), 0);
    assert_eq!(r.len(), 0);
    assert!(!r.interested(star));
}

#[test]
fn caps_per_user_and_per_instance_and_draining() {
    let mut r = Registry::new(3, 2);
    let alice = user();
    let (a1, _r1) = open(&mut r, alice, &[], 1);
    let (_a2, _r2) = open(&mut r, alice, &[], 1);
    let (tx, _rx) = mpsc::channel(1);
    assert_eq!(
        r.register(by_token(alice), HashSet::new(), tx),
        Err(Refused::PerUser)
    );
    let (_b, _r3) = open(&mut r, user(), &[], 1);
    assert_eq!(r.admits(user()), Err(Refused::Instance));
    r.remove(a1.id);
    assert_eq!(r.admits(alice), Ok(()));
    r.remove(a1.id);
    assert_eq!(r.len(), 2, "removing twice is harmless");
    r.close();
    assert_eq!(r.len(), 0);
    assert_eq!(r.admits(user()), Err(Refused::Closed));
}

#[test]
fn streams_opened_with_a_revoked_credential_are_closed_and_no_others() {
    let mut r = Registry::new(10, 5);
    let alice = user();
    let old = by_token(alice);
    let fresh = Identity {
        issued_at: Some(domain::model::Timestamp::from_unix_millis(2)),
        ..old
    };
    let (tx1, mut rx1) = mpsc::channel(1);
    let (tx2, rx2) = mpsc::channel(1);
    let (tx3, _rx3) = mpsc::channel(1);
    r.register(old, HashSet::new(), tx1).unwrap();
    r.register(old, HashSet::new(), tx2).unwrap();
    r.register(fresh, HashSet::new(), tx3).unwrap();
    assert_eq!(r.identities(), [old, fresh], "each credential once");
    assert_eq!(r.close_opened_with(&[old]), 2);
    assert_eq!(r.len(), 1);
    assert!(rx1.try_recv().is_err() && rx1.is_closed());
    assert!(rx2.is_closed());
    assert_eq!(r.identities(), [fresh]);
}
