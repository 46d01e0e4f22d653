use super::*;
use crate::error::StoreError;
use crate::model::{Limit, PostId, User};
use crate::services::Services;
use crate::testkit::fakes::{block_on, signup, Fakes};

fn user(s: &Services, username: &str) -> User {
    block_on(signup(s, username)).unwrap().user
}

fn first(limit: usize) -> PageRequest {
    PageRequest::first(Limit::new(limit).unwrap())
}

fn post(s: &Services, by: &User, content: &str) -> PostId {
    block_on(s.posts.create(by.id, content)).unwrap().id
}

/// Every page of `reader`'s feed, read with `limit`.
fn walk(s: &Services, reader: UserId, limit: usize) -> Vec<Post> {
    let mut page = first(limit);
    let mut all = Vec::new();
    loop {
        let got = block_on(s.feed.feed(reader, page)).unwrap();
        assert!(got.items.len() <= limit);
        all.extend(got.items);
        match got.next_cursor {
            Some(c) => page.after = Some(c),
            None => return all,
        }
    }
}

#[test]
fn feed_is_own_and_followed_posts_newest_first() {
    let f = Fakes::new();
    let s = f.services();
    let (alice, bob, carol, dave) = (
        user(&s, "alice"),
        user(&s, "bob"),
        user(&s, "carol"),
        user(&s, "dave"),
    );
    block_on(s.users.follow(alice.id, bob.id)).unwrap();
    block_on(s.users.follow(alice.id, carol.id)).unwrap();
    // Dave follows alice: that does not put dave's posts in alice's feed.
    block_on(s.users.follow(dave.id, alice.id)).unwrap();

    let mut expected = Vec::new();
    for i in 0..5 {
        expected.push(post(&s, &alice, &format!("alice {i}")));
        expected.push(post(&s, &bob, &format!("bob {i}")));
        post(&s, &dave, &format!("dave {i}"));
        expected.push(post(&s, &carol, &format!("carol {i}")));
    }
    expected.reverse();

    for limit in [1, 2, 4, 15, 16, 100] {
        let feed = walk(&s, alice.id, limit);
        let ids: Vec<PostId> = feed.iter().map(|p| p.id).collect();
        assert_eq!(ids, expected, "limit {limit}");
        for p in &feed {
            assert_ne!(p.author_id, dave.id);
            assert_eq!(p.author.id, p.author_id, "hydrated with its own author");
        }
    }
    let page = block_on(s.feed.feed(alice.id, first(15))).unwrap();
    assert_eq!(page.items.len(), 15);
    assert_eq!(page.next_cursor, None, "no cursor on the last page");

    // Dave sees his own posts and alice's.
    let daves = walk(&s, dave.id, 100);
    assert!(daves
        .iter()
        .all(|p| p.author_id == dave.id || p.author_id == alice.id));
    assert_eq!(daves.len(), 10);
}

#[test]
fn feed_follows_the_graph_and_sees_own_posts_at_once() {
    let f = Fakes::new();
    let s = f.services();
    let alice = user(&s, "alice");
    let bob = user(&s, "bob");
    let bobs = post(&s, &bob, "bob's");
    assert!(block_on(s.feed.feed(alice.id, first(20)))
        .unwrap()
        .items
        .is_empty());

    block_on(s.users.follow(alice.id, bob.id)).unwrap();
    let feed = block_on(s.feed.feed(alice.id, first(20))).unwrap();
    assert_eq!(feed.items.iter().map(|p| p.id).collect::<Vec<_>>(), [bobs]);

    let own = post(&s, &alice, "mine");
    let feed = block_on(s.feed.feed(alice.id, first(1))).unwrap();
    assert_eq!(feed.items[0].id, own);
    assert!(feed.next_cursor.is_some());

    block_on(s.users.unfollow(alice.id, bob.id)).unwrap();
    let feed = block_on(s.feed.feed(alice.id, first(20))).unwrap();
    assert_eq!(feed.items.iter().map(|p| p.id).collect::<Vec<_>>(), [own]);
}

#[test]
fn walking_the_feed_while_posting_yields_every_old_post_once() {
    let f = Fakes::new();
    let s = f.services();
    let alice = user(&s, "alice");
    let bob = user(&s, "bob");
    block_on(s.users.follow(alice.id, bob.id)).unwrap();
    let mut expected: Vec<PostId> = (0..11)
        .map(|i| post(&s, if i % 2 == 0 { &alice } else { &bob }, "x"))
        .collect();
    expected.reverse();
    let mut page = first(3);
    let mut seen = Vec::new();
    loop {
        let got = block_on(s.feed.feed(alice.id, page)).unwrap();
        seen.extend(got.items.iter().map(|p| p.id));
        post(&s, &bob, "during the walk");
        match got.next_cursor {
            Some(c) => page.after = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, expected);
}

#[test]
fn an_unavailable_store_is_reported() {
    let f = Fakes::new();
    let s = f.services();
    let alice = user(&s, "alice");
    f.store.set_unavailable(true);
    let r = block_on(s.feed.feed(alice.id, first(20)));
    assert!(
        matches!(r, Err(PostError::Store(StoreError::Unavailable(_)))),
        "{r:?}"
    );
}
