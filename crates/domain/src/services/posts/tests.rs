use super::*;
use crate::cache::{CachePolicy, Read};
use crate::error::StoreError;
use crate::model::User;
use crate::services::Services;
use crate::testkit::fakes::{block_on, signup, Fakes};

fn head_key() -> String {
    CachePolicy::key(&Read::GlobalHead).into_owned()
}

fn post_key(id: PostId) -> String {
    CachePolicy::key(&Read::Post(id)).into_owned()
}

fn user(s: &Services, username: &str) -> User {
    block_on(signup(s, username)).unwrap().user
}

fn first(limit: usize) -> PageRequest {
    PageRequest::first(Limit::new(limit).unwrap())
}

fn ids(page: &Page<Post>) -> Vec<PostId> {
    page.items.iter().map(|p| p.id).collect()
}

/// Reads every page of a listing from the first, calling `between` after each page.
fn walk(
    read: impl Fn(PageRequest) -> Result<Page<Post>, PostError>,
    limit: usize,
    mut between: impl FnMut(),
) -> (Vec<PostId>, usize) {
    let mut page = first(limit);
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        let got = read(page).unwrap();
        pages += 1;
        assert!(got.items.len() <= limit);
        all.extend(ids(&got));
        between();
        match got.next_cursor {
            Some(c) => {
                assert_eq!(got.items.len(), limit, "only the last page may be short");
                page.after = Some(c);
            }
            None => return (all, pages),
        }
    }
}

fn is_invalid_content(r: Result<Post, PostError>) -> bool {
    matches!(r, Err(PostError::Invalid(v)) if v.fields().iter().all(|f| f.field == "content"))
}

#[test]
fn create_validates_content() {
    let f = Fakes::new();
    let s = f.services();
    let alice = user(&s, "alice");
    let too_long = "a".repeat(281);
    for bad in ["", "   \n\t ", too_long.as_str(), "nul\0", "tab\there"] {
        assert!(
            is_invalid_content(block_on(s.posts.create(alice.id, bad))),
            "{bad:?} accepted"
        );
    }
    assert_eq!(f.store.counts().1, 0);
    assert_eq!(block_on(s.users.get(alice.id)).unwrap().posts_count, 0);
}

#[test]
fn create_stores_the_post_with_its_author() {
    let f = Fakes::new();
    let s = f.services();
    let alice = user(&s, "alice");
    let post = block_on(s.posts.create(alice.id, "  hello\nworld  ")).unwrap();
    assert_eq!(post.content, "hello\nworld");
    assert_eq!(post.author_id, alice.id);
    assert_eq!(post.author, alice.summary());
    assert_eq!(post.created_at, f.clock.now());
    assert_eq!(block_on(s.posts.get(post.id)).unwrap(), post);
    assert_eq!(block_on(s.users.get(alice.id)).unwrap().posts_count, 1);
    let exactly_max = "🦀".repeat(280);
    block_on(s.posts.create(alice.id, &exactly_max)).unwrap();
}

#[test]
fn create_by_an_unknown_author_writes_nothing() {
    let f = Fakes::new();
    let s = f.services();
    let ghost = UserId::from_uuid(f.ids.new_id());
    assert!(matches!(
        block_on(s.posts.create(ghost, "boo")),
        Err(PostError::UserNotFound)
    ));
    assert_eq!(f.store.counts().1, 0);
}

#[test]
fn own_post_is_in_the_very_next_timeline_read() {
    let f = Fakes::new();
    let s = f.services();
    let alice = user(&s, "alice");
    block_on(s.posts.create(alice.id, "old")).unwrap();
    // Cache the head first.
    let before = block_on(s.posts.timeline(first(20))).unwrap().to_page();
    assert_eq!(before.items.len(), 1);
    assert!(f.cache.contains(&head_key()));

    let new = block_on(s.posts.create(alice.id, "new")).unwrap();
    for limit in [1, 20] {
        let after = block_on(s.posts.timeline(first(limit))).unwrap().to_page();
        assert_eq!(after.items[0], new, "limit {limit}");
    }
    let mine = block_on(s.posts.by_author(alice.id, first(1)))
        .unwrap()
        .to_page();
    assert_eq!(mine.items[0], new);
}

#[test]
fn first_pages_share_one_cached_head() {
    let f = Fakes::new();
    let s = f.services();
    let alice = user(&s, "alice");
    block_on(s.posts.create(alice.id, "one")).unwrap();
    for limit in [1, 5, 20, 100] {
        block_on(s.posts.timeline(first(limit))).unwrap().to_page();
    }
    assert_eq!(f.cache.loads_of(&head_key()), 1);
    block_on(s.posts.create(alice.id, "two")).unwrap();
    block_on(s.posts.timeline(first(3))).unwrap().to_page();
    assert_eq!(
        f.cache.loads_of(&head_key()),
        2,
        "a post invalidates the head"
    );
}

#[test]
fn first_page_slices_of_the_head_match_the_store() {
    let f = Fakes::new();
    let s = f.services();
    let authors: Vec<User> = (0..3).map(|i| user(&s, &format!("user{i}"))).collect();
    // More posts than the head holds (Limit::MAX + 1).
    for i in 0..130 {
        block_on(s.posts.create(authors[i % 3].id, &format!("post {i}"))).unwrap();
    }
    block_on(s.posts.timeline(first(1))).unwrap().to_page();
    for limit in [1, 2, 7, 20, 50, 99, 100] {
        let page = first(limit);
        let cached = block_on(s.posts.timeline(page)).unwrap().to_page();
        let rows = block_on(f.store.latest(page.keyset())).unwrap();
        let direct = Page::from_rows(rows, page.limit, |r| r.id.as_uuid());
        let direct_ids: Vec<PostId> = direct.items.iter().map(|r| r.id).collect();
        assert_eq!(ids(&cached), direct_ids, "limit {limit}");
        assert_eq!(cached.next_cursor, direct.next_cursor, "limit {limit}");
        assert!(cached.next_cursor.is_some());
        // And the page after it continues exactly where the store would.
        let next = PageRequest {
            after: cached.next_cursor,
            ..page
        };
        let second = block_on(s.posts.timeline(next)).unwrap().to_page();
        let rows = block_on(f.store.latest(next.keyset())).unwrap();
        let direct_ids: Vec<PostId> = rows.iter().take(limit).map(|r| r.id).collect();
        assert_eq!(ids(&second), direct_ids, "second page, limit {limit}");
    }
    assert_eq!(f.cache.loads_of(&head_key()), 1);
}

#[test]
fn walking_the_timeline_while_posting_yields_every_old_post_once_in_order() {
    for limit in [1, 2, 3, 7, 10, 22, 23, 24, 100] {
        let f = Fakes::new();
        let s = f.services();
        let authors: Vec<User> = (0..3).map(|i| user(&s, &format!("user{i}"))).collect();
        let mut existing: Vec<PostId> = (0..23)
            .map(|i| {
                block_on(s.posts.create(authors[i % 3].id, &format!("post {i}")))
                    .unwrap()
                    .id
            })
            .collect();
        existing.reverse();

        let mut n = 0;
        let (seen, pages) = walk(
            |p| block_on(s.posts.timeline(p)).map(|page| page.to_page()),
            limit,
            || {
                for _ in 0..2 {
                    n += 1;
                    let by = authors[n % 3].id;
                    block_on(s.posts.create(by, &format!("during {n}"))).unwrap();
                }
            },
        );
        assert_eq!(seen, existing, "limit {limit}");
        assert_eq!(pages, existing.len().div_ceil(limit), "limit {limit}");
    }
}

#[test]
fn an_empty_timeline_has_no_cursor() {
    let f = Fakes::new();
    let s = f.services();
    let page = block_on(s.posts.timeline(first(20))).unwrap().to_page();
    assert!(page.items.is_empty());
    assert_eq!(page.next_cursor, None);
}

#[test]
fn get_is_cached_and_unknown_posts_are_not_found() {
    let f = Fakes::new();
    let s = f.services();
    let alice = user(&s, "alice");
    let post = block_on(s.posts.create(alice.id, "hello")).unwrap();
    let key = post_key(post.id);
    assert_eq!(block_on(s.posts.get(post.id)).unwrap(), post);
    assert_eq!(block_on(s.posts.get(post.id)).unwrap(), post);
    assert_eq!(
        f.cache.loads_of(&key),
        1,
        "the second read came from the cache"
    );
    assert!(f.cache.contains(&key));

    let never = PostId::from_uuid(f.ids.new_id());
    assert!(matches!(
        block_on(s.posts.get(never)),
        Err(PostError::NotFound)
    ));
    assert!(!f.cache.contains(&post_key(never)), "absence is not cached");
}

#[test]
fn delete_checks_the_author_and_removes_the_post_everywhere() {
    let f = Fakes::new();
    let s = f.services();
    let alice = user(&s, "alice");
    let bob = user(&s, "bob");
    block_on(s.users.follow(bob.id, alice.id)).unwrap();
    let keep = block_on(s.posts.create(alice.id, "keep")).unwrap();
    let post = block_on(s.posts.create(alice.id, "doomed")).unwrap();

    // Warm every cache the post could be served from.
    block_on(s.posts.get(post.id)).unwrap();
    block_on(s.posts.timeline(first(20))).unwrap().to_page();

    assert!(matches!(
        block_on(s.posts.delete(bob.id, post.id)),
        Err(PostError::NotAuthor)
    ));
    assert_eq!(block_on(s.posts.get(post.id)).unwrap(), post);
    let never = PostId::from_uuid(f.ids.new_id());
    assert!(matches!(
        block_on(s.posts.delete(alice.id, never)),
        Err(PostError::NotFound)
    ));

    block_on(s.posts.delete(alice.id, post.id)).unwrap();
    assert!(matches!(
        block_on(s.posts.get(post.id)),
        Err(PostError::NotFound)
    ));
    assert!(matches!(
        block_on(s.posts.delete(alice.id, post.id)),
        Err(PostError::NotFound)
    ));
    let only_keep = vec![keep.id];
    let timeline = block_on(s.posts.timeline(first(20))).unwrap().to_page();
    assert_eq!(ids(&timeline), only_keep);
    let mine = block_on(s.posts.by_author(alice.id, first(20)))
        .unwrap()
        .to_page();
    assert_eq!(ids(&mine), only_keep);
    for reader in [alice.id, bob.id] {
        let feed = block_on(s.feed.feed(reader, first(20))).unwrap();
        assert_eq!(ids(&feed), only_keep);
    }
    assert_eq!(block_on(s.users.get(alice.id)).unwrap().posts_count, 1);
}

#[test]
fn by_author_lists_only_their_posts_paginated() {
    let f = Fakes::new();
    let s = f.services();
    let alice = user(&s, "alice");
    let bob = user(&s, "bob");
    let mut alices = Vec::new();
    for i in 0..9 {
        let p = block_on(s.posts.create(alice.id, &format!("a{i}"))).unwrap();
        alices.push(p.id);
        block_on(s.posts.create(bob.id, &format!("b{i}"))).unwrap();
    }
    alices.reverse();
    for limit in [1, 4, 9, 10] {
        let (seen, _) = walk(
            |p| block_on(s.posts.by_author(alice.id, p)).map(|page| page.to_page()),
            limit,
            || {},
        );
        assert_eq!(seen, alices, "limit {limit}");
    }
    let page = block_on(s.posts.by_author(alice.id, first(2)))
        .unwrap()
        .to_page();
    assert!(page.items.iter().all(|p| p.author == alice.summary()));

    let ghost = UserId::from_uuid(f.ids.new_id());
    assert!(matches!(
        block_on(s.posts.by_author(ghost, first(20))),
        Err(PostError::UserNotFound)
    ));
    let carol = user(&s, "carol");
    let none = block_on(s.posts.by_author(carol.id, first(20)))
        .unwrap()
        .to_page();
    assert!(none.items.is_empty() && none.next_cursor.is_none());
}

#[test]
fn an_unavailable_store_is_reported() {
    let f = Fakes::new();
    let s = f.services();
    let alice = user(&s, "alice");
    let post = block_on(s.posts.create(alice.id, "hello")).unwrap();
    f.cache.clear();
    f.store.set_unavailable(true);
    let down = |r: Result<(), PostError>| {
        assert!(
            matches!(r, Err(PostError::Store(StoreError::Unavailable(_)))),
            "{r:?}"
        )
    };
    down(block_on(s.posts.create(alice.id, "x")).map(drop));
    down(block_on(s.posts.get(post.id)).map(drop));
    down(block_on(s.posts.delete(alice.id, post.id)));
    down(block_on(s.posts.timeline(first(20))).map(drop));
    down(block_on(s.posts.by_author(alice.id, first(20))).map(drop));
    f.store.set_unavailable(false);
    // Errors were not cached.
    assert_eq!(block_on(s.posts.get(post.id)).unwrap(), post);
}
