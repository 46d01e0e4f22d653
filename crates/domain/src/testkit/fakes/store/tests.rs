use super::*;
use crate::model::{Bio, FollowId, Limit, Name, PageRequest};
use crate::ports::{FollowError, FollowRepository, IdGenerator};
use crate::testkit::fakes::{block_on, ManualClock, SequentialIds};

fn new_user(ids: &SequentialIds, email: &str, username: &str) -> NewUser {
    NewUser {
        id: UserId::from_uuid(ids.new_id()),
        email: Email::parse(email).unwrap(),
        username: Username::parse(username).unwrap(),
        name: None,
        password_hash: "h".to_owned(),
        created_at: ManualClock::start(),
    }
}

fn get_user(s: &MemoryStore, id: UserId) -> User {
    block_on(UserRepository::by_id(s, id)).unwrap().unwrap()
}

fn post(ids: &SequentialIds, author: UserId) -> PostRecord {
    PostRecord {
        id: PostId::from_uuid(ids.new_id()),
        author_id: author,
        content: "hi".to_owned(),
        created_at: ManualClock::start(),
    }
}

fn edge(ids: &SequentialIds, from: UserId, to: UserId) -> FollowRecord {
    FollowRecord {
        id: FollowId::from_uuid(ids.new_id()),
        follower_id: from,
        following_id: to,
        created_at: ManualClock::start(),
    }
}

#[test]
fn memory_store_users() {
    let ids = SequentialIds::default();
    let s = MemoryStore::new();
    let alice = block_on(UserRepository::create(
        &s,
        &new_user(&ids, "a@x.io", "Alice"),
    ))
    .unwrap();
    assert_eq!(alice.username, "Alice");
    assert!(matches!(
        block_on(UserRepository::create(
            &s,
            &new_user(&ids, "a@x.io", "alice")
        )),
        Err(CreateUserError::EmailTaken)
    ));
    assert!(matches!(
        block_on(UserRepository::create(
            &s,
            &new_user(&ids, "b@x.io", "ALICE")
        )),
        Err(CreateUserError::UsernameTaken)
    ));
    let found = block_on(s.by_username(&Username::parse("aLiCe").unwrap())).unwrap();
    assert_eq!(found.map(|u| u.id), Some(alice.id));
    let creds = block_on(s.credentials_by_email(&Email::parse("A@X.io").unwrap())).unwrap();
    assert_eq!(creds.unwrap().password_hash, "h");

    let update = ProfileUpdate {
        name: Some(Some(Name::parse("Al").unwrap())),
        bio: Some(Bio::parse("hello").unwrap()),
    };
    let updated = block_on(s.update_profile(alice.id, &update))
        .unwrap()
        .unwrap();
    assert_eq!(
        (updated.name.as_deref(), updated.bio.as_deref()),
        (Some("Al"), Some("hello"))
    );
    let clear = ProfileUpdate {
        name: None,
        bio: Some(None),
    };
    let cleared = block_on(s.update_profile(alice.id, &clear))
        .unwrap()
        .unwrap();
    assert_eq!(
        (cleared.name.as_deref(), cleared.bio.as_deref()),
        (Some("Al"), None)
    );
    let ghost = UserId::from_uuid(ids.new_id());
    assert!(block_on(s.update_profile(ghost, &clear)).unwrap().is_none());
    let sums = block_on(s.summaries(&[ghost, alice.id, alice.id])).unwrap();
    assert_eq!(sums, vec![cleared.summary()]);
}

#[test]
fn memory_store_posts_keysets_and_counters() {
    let ids = SequentialIds::default();
    let s = MemoryStore::new();
    let a = block_on(UserRepository::create(&s, &new_user(&ids, "a@x.io", "aaa"))).unwrap();
    let b = block_on(UserRepository::create(&s, &new_user(&ids, "b@x.io", "bbb"))).unwrap();
    let c = block_on(UserRepository::create(&s, &new_user(&ids, "c@x.io", "ccc"))).unwrap();
    let mut all = Vec::new();
    for i in 0..9 {
        let author = [a.id, b.id, c.id][i % 3];
        let p = post(&ids, author);
        assert!(block_on(PostRepository::create(&s, &p)).unwrap());
        all.push(p);
    }
    all.reverse();
    let ghost = post(&ids, UserId::from_uuid(ids.new_id()));
    assert!(!block_on(PostRepository::create(&s, &ghost)).unwrap());
    assert_eq!(s.counts().1, 9);
    assert_eq!(get_user(&s, a.id).posts_count, 3);

    let q = |before: Option<Uuid>, limit| Keyset { before, limit };
    assert_eq!(block_on(s.latest(q(None, 100))).unwrap(), all);
    assert_eq!(block_on(s.latest(q(None, 2))).unwrap(), all[..2]);
    let below = Some(all[3].id.as_uuid());
    assert_eq!(block_on(s.latest(q(below, 3))).unwrap(), all[4..7]);
    let mine = block_on(s.by_author(a.id, q(None, 100))).unwrap();
    assert!(mine.iter().all(|p| p.author_id == a.id) && mine.len() == 3);

    block_on(s.follow(&edge(&ids, a.id, b.id))).unwrap();
    let feed = block_on(s.feed(a.id, q(None, 100))).unwrap();
    let expected: Vec<PostRecord> = all
        .iter()
        .filter(|p| p.author_id != c.id)
        .cloned()
        .collect();
    assert_eq!(feed, expected);

    let by_c = all.iter().find(|p| p.author_id == c.id).unwrap();
    assert!(!block_on(s.delete(by_c.id, a.id)).unwrap());
    assert!(block_on(s.delete(by_c.id, c.id)).unwrap());
    assert!(!block_on(s.delete(by_c.id, c.id)).unwrap());
    assert_eq!(get_user(&s, c.id).posts_count, 2);
}

#[test]
fn memory_store_follows() {
    let ids = SequentialIds::default();
    let s = MemoryStore::new();
    let a = block_on(UserRepository::create(&s, &new_user(&ids, "a@x.io", "aaa"))).unwrap();
    let b = block_on(UserRepository::create(&s, &new_user(&ids, "b@x.io", "bbb"))).unwrap();
    let c = block_on(UserRepository::create(&s, &new_user(&ids, "c@x.io", "ccc"))).unwrap();
    block_on(s.follow(&edge(&ids, b.id, a.id))).unwrap();
    block_on(s.follow(&edge(&ids, c.id, a.id))).unwrap();
    assert!(matches!(
        block_on(s.follow(&edge(&ids, b.id, a.id))),
        Err(FollowError::AlreadyFollowing)
    ));
    let ghost = UserId::from_uuid(ids.new_id());
    assert!(matches!(
        block_on(s.follow(&edge(&ids, a.id, ghost))),
        Err(FollowError::UnknownUser)
    ));
    let a_now = get_user(&s, a.id);
    assert_eq!((a_now.followers_count, a_now.following_count), (2, 0));
    let q = Keyset {
        before: None,
        limit: 10,
    };
    let followers = block_on(s.followers(a.id, q)).unwrap();
    let names: Vec<&str> = followers.iter().map(|e| e.user.username.as_str()).collect();
    assert_eq!(names, ["ccc", "bbb"]);
    let next = Keyset {
        before: Some(followers[0].id.as_uuid()),
        limit: 10,
    };
    assert_eq!(block_on(s.followers(a.id, next)).unwrap(), followers[1..]);
    let following = block_on(s.following(b.id, q)).unwrap();
    assert_eq!(following[0].user, a_now.summary());

    assert!(block_on(s.unfollow(b.id, a.id)).unwrap());
    assert!(!block_on(s.unfollow(b.id, a.id)).unwrap());
    let b_now = get_user(&s, b.id);
    assert_eq!(b_now.following_count, 0);
    assert_eq!(get_user(&s, a.id).followers_count, 1);
}

#[test]
fn memory_store_can_be_switched_off() {
    let s = MemoryStore::new();
    assert_eq!(s.backend(), "memory");
    assert!(block_on(s.ping()).is_ok());
    s.set_unavailable(true);
    assert!(matches!(
        block_on(s.ping()),
        Err(StoreError::Unavailable(_))
    ));
    let first = PageRequest::first(Limit::DEFAULT).keyset();
    assert!(matches!(
        block_on(s.latest(first)),
        Err(StoreError::Unavailable(_))
    ));
    let id = UserId::from_uuid(Uuid::now_v7());
    assert!(matches!(
        block_on(UserRepository::by_id(&s, id)),
        Err(StoreError::Unavailable(_))
    ));
    s.set_unavailable(false);
    assert!(block_on(s.ping()).is_ok());
}

fn contract_repos() -> crate::testkit::repos::Repos {
    crate::testkit::repos::Repos::sharing(MemoryStore::new())
}

#[test]
fn memory_store_passes_the_api_key_repository_contract() {
    block_on(crate::testkit::repos::api_key_repository_contract(
        &contract_repos(),
    ));
}

#[test]
fn memory_store_passes_the_user_repository_contract() {
    block_on(crate::testkit::repos::user_repository_contract(
        &contract_repos(),
    ));
}

#[test]
fn memory_store_passes_the_post_repository_contract() {
    block_on(crate::testkit::repos::post_repository_contract(
        &contract_repos(),
    ));
}

#[test]
fn memory_store_passes_the_follow_repository_contract() {
    block_on(crate::testkit::repos::follow_repository_contract(
        &contract_repos(),
    ));
}

#[test]
fn memory_store_passes_the_idempotency_key_contract() {
    block_on(crate::testkit::repos::idempotency_key_contract(
        &contract_repos(),
    ));
}

#[test]
fn memory_store_passes_every_repository_contract_on_one_store() {
    let repos = contract_repos();
    block_on(async {
        crate::testkit::repos::user_repository_contract(&repos).await;
        crate::testkit::repos::post_repository_contract(&repos).await;
        crate::testkit::repos::follow_repository_contract(&repos).await;
        crate::testkit::repos::counters_exact_under_concurrency(&repos).await;
        crate::testkit::repos::idempotency_key_contract(&repos).await;
        crate::testkit::repos::feed_outbox_contract(&repos).await;
    });
}

#[test]
fn memory_store_passes_the_feed_outbox_contract() {
    block_on(crate::testkit::repos::feed_outbox_contract(
        &contract_repos(),
    ));
}

#[test]
fn memory_store_keeps_counters_exact_under_concurrency() {
    block_on(crate::testkit::repos::counters_exact_under_concurrency(
        &contract_repos(),
    ));
}
