use super::*;
use crate::error::StoreError;
use crate::model::{Limit, User};
use crate::services::Services;
use crate::testkit::fakes::{block_on, signup, Fakes};

fn user(s: &Services, username: &str) -> User {
    block_on(signup(s, username)).unwrap().user
}

fn unknown(f: &Fakes) -> UserId {
    UserId::from_uuid(f.ids.new_id())
}

fn profile(name: Option<Option<&str>>, bio: Option<Option<&str>>) -> ProfileUpdate {
    ProfileUpdate::parse(name, bio).unwrap()
}

fn names(page: &Page<UserSummary>) -> Vec<&str> {
    page.items.iter().map(|u| u.username.as_str()).collect()
}

/// Every page of a followers/following list, read with `limit`.
fn walk(
    read: impl Fn(PageRequest) -> Result<Page<UserSummary>, UserError>,
    limit: usize,
) -> Vec<String> {
    let limit = Limit::new(limit).unwrap();
    let mut page = PageRequest::first(limit);
    let mut all = Vec::new();
    loop {
        let got = read(page).unwrap();
        assert!(got.items.len() <= limit.get());
        all.extend(got.items.into_iter().map(|u| u.username));
        match got.next_cursor {
            Some(c) => page.after = Some(c),
            None => return all,
        }
    }
}

#[test]
fn get_and_by_username() {
    let f = Fakes::new();
    let s = f.services();
    let alice = user(&s, "Alice");
    assert_eq!(block_on(s.users.get(alice.id)).unwrap(), alice);
    assert!(matches!(
        block_on(s.users.get(unknown(&f))),
        Err(UserError::NotFound)
    ));
    for raw in ["Alice", "alice", "ALICE"] {
        assert_eq!(block_on(s.users.by_username(raw)).unwrap().id, alice.id);
    }
    for raw in ["bob", "al", "a-lice", ""] {
        assert!(
            matches!(block_on(s.users.by_username(raw)), Err(UserError::NotFound)),
            "{raw:?}"
        );
    }
}

#[test]
fn update_profile_sets_and_clears_fields() {
    let f = Fakes::new();
    let s = f.services();
    let alice = user(&s, "alice");
    let u = block_on(s.users.update_profile(
        alice.id,
        profile(Some(Some(" Alice ")), Some(Some("hello"))),
    ))
    .unwrap();
    assert_eq!(
        (u.name.as_deref(), u.bio.as_deref()),
        (Some("Alice"), Some("hello"))
    );
    assert_eq!(block_on(s.users.get(alice.id)).unwrap(), u);

    let u = block_on(
        s.users
            .update_profile(alice.id, profile(None, Some(Some("")))),
    )
    .unwrap();
    assert_eq!((u.name.as_deref(), u.bio), (Some("Alice"), None));
    let u = block_on(s.users.update_profile(alice.id, profile(Some(None), None))).unwrap();
    assert_eq!(u.name, None);

    assert!(matches!(
        block_on(
            s.users
                .update_profile(unknown(&f), profile(Some(Some("x")), None))
        ),
        Err(UserError::NotFound)
    ));
}

#[test]
fn update_profile_invalidates_the_authors_summary() {
    let f = Fakes::new();
    let s = f.services();
    let alice = user(&s, "alice");
    let post = block_on(s.posts.create(alice.id, "hello")).unwrap();
    // Read it, so the post and its author summary are cached.
    let before = block_on(s.posts.get(post.id)).unwrap();
    assert_eq!(before.author.name, None);
    assert!(f.cache.contains(&crate::cache::CachePolicy::key(
        &crate::cache::Read::Summary(alice.id)
    )));

    block_on(
        s.users
            .update_profile(alice.id, profile(Some(Some("Alice A.")), None)),
    )
    .unwrap();
    assert!(f.cache.invalidated().contains(
        &crate::cache::CachePolicy::key(&crate::cache::Read::Summary(alice.id)).into_owned()
    ));

    let after = block_on(s.posts.get(post.id)).unwrap();
    assert_eq!(after.author.name.as_deref(), Some("Alice A."));
    let listed = block_on(s.posts.timeline(PageRequest::first(Limit::DEFAULT)))
        .unwrap()
        .to_page();
    assert_eq!(listed.items[0].author.name.as_deref(), Some("Alice A."));
    let mine = block_on(
        s.posts
            .by_author(alice.id, PageRequest::first(Limit::DEFAULT)),
    )
    .unwrap()
    .to_page();
    assert_eq!(mine.items[0].author.name.as_deref(), Some("Alice A."));
}

#[test]
fn follow_rules_and_counters() {
    let f = Fakes::new();
    let s = f.services();
    let alice = user(&s, "alice");
    let bob = user(&s, "bob");

    assert!(matches!(
        block_on(s.users.follow(alice.id, alice.id)),
        Err(UserError::CannotFollowSelf)
    ));
    assert!(matches!(
        block_on(s.users.follow(alice.id, unknown(&f))),
        Err(UserError::NotFound)
    ));
    assert_eq!(f.store.counts().2, 0);

    let follow = block_on(s.users.follow(alice.id, bob.id)).unwrap();
    assert_eq!(
        (follow.follower_id, follow.following_id, follow.created_at),
        (alice.id, bob.id, f.clock.now())
    );
    assert!(matches!(
        block_on(s.users.follow(alice.id, bob.id)),
        Err(UserError::AlreadyFollowing)
    ));
    let a = block_on(s.users.get(alice.id)).unwrap();
    let b = block_on(s.users.get(bob.id)).unwrap();
    assert_eq!((a.following_count, a.followers_count), (1, 0));
    assert_eq!((b.following_count, b.followers_count), (0, 1));

    // The other direction is a different edge.
    block_on(s.users.follow(bob.id, alice.id)).unwrap();
    let a = block_on(s.users.get(alice.id)).unwrap();
    assert_eq!((a.following_count, a.followers_count), (1, 1));
}

#[test]
fn unfollow_rules_and_counters() {
    let f = Fakes::new();
    let s = f.services();
    let alice = user(&s, "alice");
    let bob = user(&s, "bob");
    assert!(matches!(
        block_on(s.users.unfollow(alice.id, bob.id)),
        Err(UserError::NotFollowing)
    ));
    block_on(s.users.follow(alice.id, bob.id)).unwrap();
    assert!(matches!(
        block_on(s.users.unfollow(bob.id, alice.id)),
        Err(UserError::NotFollowing)
    ));
    block_on(s.users.unfollow(alice.id, bob.id)).unwrap();
    assert!(matches!(
        block_on(s.users.unfollow(alice.id, bob.id)),
        Err(UserError::NotFollowing)
    ));
    let a = block_on(s.users.get(alice.id)).unwrap();
    let b = block_on(s.users.get(bob.id)).unwrap();
    assert_eq!((a.following_count, b.followers_count), (0, 0));
    // And following again works.
    block_on(s.users.follow(alice.id, bob.id)).unwrap();
}

#[test]
fn followers_and_following_are_paginated_newest_first() {
    let f = Fakes::new();
    let s = f.services();
    let star = user(&s, "star");
    let fans: Vec<User> = (0..7).map(|i| user(&s, &format!("fan{i}"))).collect();
    for fan in &fans {
        block_on(s.users.follow(fan.id, star.id)).unwrap();
        block_on(s.users.follow(star.id, fan.id)).unwrap();
    }
    let newest_first: Vec<String> = fans.iter().rev().map(|u| u.username.clone()).collect();
    for limit in [1, 2, 3, 6, 7, 8, 100] {
        let followers = walk(|p| block_on(s.users.followers(star.id, p)), limit);
        assert_eq!(followers, newest_first, "followers, limit {limit}");
        let following = walk(|p| block_on(s.users.following(star.id, p)), limit);
        assert_eq!(following, newest_first, "following, limit {limit}");
    }

    let two = Limit::new(2).unwrap();
    let first = block_on(s.users.followers(star.id, PageRequest::first(two))).unwrap();
    assert_eq!(names(&first), ["fan6", "fan5"]);
    assert!(first.next_cursor.is_some());
    let all = block_on(
        s.users
            .followers(star.id, PageRequest::first(Limit::DEFAULT)),
    )
    .unwrap();
    assert_eq!(all.items.len(), 7);
    assert_eq!(all.next_cursor, None, "no cursor on the last page");

    // A fan's lists hold the star, with a summary of them.
    let of_fan = block_on(s.users.following(fans[0].id, PageRequest::first(two))).unwrap();
    assert_eq!(of_fan.items, vec![star.summary()]);
    assert_eq!(of_fan.next_cursor, None);

    // Order is by when the follow happened, not by when the user signed up.
    block_on(s.users.unfollow(fans[0].id, star.id)).unwrap();
    block_on(s.users.follow(fans[0].id, star.id)).unwrap();
    let now = block_on(s.users.followers(star.id, PageRequest::first(two))).unwrap();
    assert_eq!(names(&now), ["fan0", "fan6"]);
}

#[test]
fn lists_of_an_unknown_user_are_not_found() {
    let f = Fakes::new();
    let s = f.services();
    let first = PageRequest::first(Limit::DEFAULT);
    assert!(matches!(
        block_on(s.users.followers(unknown(&f), first)),
        Err(UserError::NotFound)
    ));
    assert!(matches!(
        block_on(s.users.following(unknown(&f), first)),
        Err(UserError::NotFound)
    ));
    let loner = user(&s, "loner");
    let empty = block_on(s.users.followers(loner.id, first)).unwrap();
    assert!(empty.items.is_empty() && empty.next_cursor.is_none());
}

#[test]
fn an_unavailable_store_is_reported() {
    let f = Fakes::new();
    let s = f.services();
    let alice = user(&s, "alice");
    let bob = user(&s, "bob");
    f.store.set_unavailable(true);
    let down = |r: Result<(), UserError>| {
        assert!(
            matches!(r, Err(UserError::Store(StoreError::Unavailable(_)))),
            "{r:?}"
        )
    };
    down(block_on(s.users.get(alice.id)).map(drop));
    down(block_on(s.users.follow(alice.id, bob.id)).map(drop));
    down(block_on(s.users.unfollow(alice.id, bob.id)));
    down(
        block_on(
            s.users
                .followers(alice.id, PageRequest::first(Limit::DEFAULT)),
        )
        .map(drop),
    );
    down(block_on(s.users.update_profile(alice.id, profile(Some(None), None))).map(drop));
}

/// Users are read through the cache, so each write that moves a counter or the profile must
/// make the cached user stale: read (so cache) both users before every write, then check the
/// very next read.
#[test]
fn cached_users_show_every_counter_and_profile_change_on_the_next_read() {
    let f = Fakes::new();
    let s = f.services();
    let (ada, bob) = (user(&s, "ada"), user(&s, "bob"));
    let counts = |id: UserId| {
        let u = block_on(s.users.get(id)).unwrap();
        (u.followers_count, u.following_count, u.posts_count)
    };
    assert_eq!((counts(ada.id), counts(bob.id)), ((0, 0, 0), (0, 0, 0)));
    let hits = f.cache.hits();
    assert_eq!(counts(ada.id), (0, 0, 0));
    assert!(f.cache.hits() > hits, "a warm user comes from the cache");

    block_on(s.users.follow(bob.id, ada.id)).unwrap();
    assert_eq!((counts(ada.id), counts(bob.id)), ((1, 0, 0), (0, 1, 0)));
    let post = block_on(s.posts.create(ada.id, "hi")).unwrap();
    assert_eq!(counts(ada.id), (1, 0, 1));
    block_on(s.posts.delete(ada.id, post.id)).unwrap();
    assert_eq!(counts(ada.id), (1, 0, 0));
    block_on(s.users.unfollow(bob.id, ada.id)).unwrap();
    assert_eq!((counts(ada.id), counts(bob.id)), ((0, 0, 0), (0, 0, 0)));
    block_on(
        s.users
            .update_profile(ada.id, profile(Some(Some("Ada L.")), None)),
    )
    .unwrap();
    assert_eq!(
        block_on(s.users.get(ada.id)).unwrap().name.as_deref(),
        Some("Ada L.")
    );
    // Failed writes change nothing and need no invalidation, but must not break the reads.
    assert!(block_on(s.users.unfollow(bob.id, ada.id)).is_err());
    assert_eq!(counts(bob.id), (0, 0, 0));
}

/// Past one batch too: every followee once, and nobody else.
#[test]
fn followee_ids_reads_every_followee_in_batches() {
    let f = Fakes::new();
    let s = f.services();
    let fan = user(&s, "fan");
    let other = user(&s, "other");
    let mut want = Vec::new();
    for n in 0..FOLLOWEES_BATCH + 3 {
        let star = user(&s, &format!("star{n}"));
        block_on(s.users.follow(fan.id, star.id)).unwrap();
        want.push(star.id);
    }
    block_on(s.users.follow(other.id, fan.id)).unwrap();
    let mut got = block_on(s.users.followee_ids(fan.id)).unwrap();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(block_on(s.users.followee_ids(other.id)).unwrap(), [fan.id]);
}
