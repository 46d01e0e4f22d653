//! Idempotent posts, follows and signups through the services, on the fakes.

use std::time::Duration;

use crate::error::{AuthError, PostError, UserError};
use crate::model::{IdempotencyKey, User, IDEMPOTENCY_KEY_TTL};
use crate::services::{Services, SignupInput};
use crate::testkit::fakes::{block_on, signup, Fakes, TEST_PASSWORD};

fn key(raw: &str) -> IdempotencyKey {
    IdempotencyKey::parse(raw.as_bytes()).unwrap()
}

fn user(s: &Services, username: &str) -> User {
    block_on(signup(s, username)).unwrap().user
}

fn posts_of(f: &Fakes) -> usize {
    f.store.counts().1
}

#[test]
fn a_retried_post_gets_the_first_post_and_writes_nothing() {
    let f = Fakes::new();
    let s = f.services();
    let ann = user(&s, "ann");
    let k = key("post-1");
    let first = block_on(s.posts.create_with_key(ann.id, " hello ", Some(&k))).unwrap();
    f.clock.advance(Duration::from_secs(5));
    // Content that parses the same is the same request.
    let again = block_on(s.posts.create_with_key(ann.id, "hello", Some(&k))).unwrap();
    assert_eq!(again, first);
    assert_eq!(posts_of(&f), 1);
    assert_eq!(block_on(s.users.get(ann.id)).unwrap().posts_count, 1);

    let other = block_on(s.posts.create_with_key(ann.id, "bye", Some(&k)));
    assert!(matches!(other, Err(PostError::KeyReused)), "{other:?}");
    assert_eq!(posts_of(&f), 1);

    // Another author's key of the same name is theirs.
    let bob = user(&s, "bob");
    let theirs = block_on(s.posts.create_with_key(bob.id, "hello", Some(&k))).unwrap();
    assert_ne!(theirs.id, first.id);
    assert_eq!(posts_of(&f), 2);
}

#[test]
fn a_key_is_forgotten_after_24_hours() {
    let f = Fakes::new();
    let s = f.services();
    let ann = user(&s, "ann");
    let k = key("daily");
    let first = block_on(s.posts.create_with_key(ann.id, "hi", Some(&k))).unwrap();
    f.clock
        .advance(IDEMPOTENCY_KEY_TTL - Duration::from_millis(1));
    let replay = block_on(s.posts.create_with_key(ann.id, "hi", Some(&k))).unwrap();
    assert_eq!(replay.id, first.id);
    f.clock.advance(Duration::from_millis(1));
    let fresh = block_on(s.posts.create_with_key(ann.id, "hi", Some(&k))).unwrap();
    assert_ne!(fresh.id, first.id, "a new request once the key expired");
    assert_eq!(posts_of(&f), 2);
}

#[test]
fn a_retried_follow_gets_the_first_follow_even_after_an_unfollow() {
    let f = Fakes::new();
    let s = f.services();
    let (ann, bob, cat) = (user(&s, "ann"), user(&s, "bob"), user(&s, "cat"));
    let k = key("follow-bob");
    let first = block_on(s.users.follow_with_key(ann.id, bob.id, Some(&k))).unwrap();
    f.clock.advance(Duration::from_secs(1));
    let again = block_on(s.users.follow_with_key(ann.id, bob.id, Some(&k))).unwrap();
    assert_eq!(again, first, "not 409: the retry gets the first answer");

    block_on(s.users.unfollow(ann.id, bob.id)).unwrap();
    let after = block_on(s.users.follow_with_key(ann.id, bob.id, Some(&k))).unwrap();
    assert_eq!(after, first);
    assert_eq!(f.store.counts().2, 0, "a replay writes nothing");

    let other = block_on(s.users.follow_with_key(ann.id, cat.id, Some(&k)));
    assert!(matches!(other, Err(UserError::KeyReused)), "{other:?}");
    // A failed request stores no key: a 409 retried after the cause is gone succeeds.
    block_on(s.users.follow(ann.id, cat.id)).unwrap();
    let k2 = key("follow-cat");
    let conflict = block_on(s.users.follow_with_key(ann.id, cat.id, Some(&k2)));
    assert!(matches!(conflict, Err(UserError::AlreadyFollowing)));
    block_on(s.users.unfollow(ann.id, cat.id)).unwrap();
    block_on(s.users.follow_with_key(ann.id, cat.id, Some(&k2))).unwrap();
}

fn input<'a>(email: &'a str, username: &'a str, password: &'a str) -> SignupInput<'a> {
    SignupInput {
        email,
        password,
        username,
        name: Some("Ann"),
    }
}

#[test]
fn a_retried_signup_gets_the_first_account_and_a_fresh_token() {
    let f = Fakes::new();
    let s = f.services();
    let k = key("signup-1");
    let first = block_on(
        s.auth
            .signup_with_key(input("ann@example.com", "ann", TEST_PASSWORD), Some(&k)),
    )
    .unwrap();
    f.clock.advance(Duration::from_secs(3));
    let hashes = f.hasher.hashes();
    // The email as typed differs, as parsed it is the same.
    let again = block_on(
        s.auth
            .signup_with_key(input(" ANN@example.com", "ann", TEST_PASSWORD), Some(&k)),
    )
    .unwrap();
    assert_eq!(again.user, first.user);
    assert_ne!(
        again.token, first.token,
        "a fresh token, never a stored one"
    );
    assert_eq!(
        f.hasher.hashes(),
        hashes,
        "a retry verifies, it does not hash"
    );
    assert_eq!(f.store.counts().0, 1);
}

#[test]
fn a_signup_key_reused_with_another_password_or_username_is_refused() {
    let f = Fakes::new();
    let s = f.services();
    let k = key("signup-1");
    block_on(
        s.auth
            .signup_with_key(input("ann@example.com", "ann", TEST_PASSWORD), Some(&k)),
    )
    .unwrap();
    let wrong = block_on(s.auth.signup_with_key(
        input("ann@example.com", "ann", "another password"),
        Some(&k),
    ));
    assert!(matches!(wrong, Err(AuthError::KeyReused)), "{wrong:?}");
    // A wrong password is a failed login of the account: no way around its limit.
    assert_eq!(
        f.limiter.used("login_failures_account", "ann@example.com"),
        1
    );
    let renamed = block_on(
        s.auth
            .signup_with_key(input("ann@example.com", "anne", TEST_PASSWORD), Some(&k)),
    );
    assert!(matches!(renamed, Err(AuthError::KeyReused)), "{renamed:?}");

    // The same key with another email is another scope: a signup of its own.
    let other = block_on(
        s.auth
            .signup_with_key(input("bob@example.com", "bob", TEST_PASSWORD), Some(&k)),
    )
    .unwrap();
    assert_eq!(other.user.username, "bob");
    assert_eq!(f.store.counts().0, 2);
}

#[test]
fn a_replay_when_the_failed_login_budget_is_spent_is_refused() {
    let f = Fakes::new();
    let s = f.services();
    let k = key("signup-1");
    let ok = input("ann@example.com", "ann", TEST_PASSWORD);
    block_on(s.auth.signup_with_key(ok, Some(&k))).unwrap();
    for _ in 0..100 {
        let wrong = input("ann@example.com", "ann", "another password");
        let _ = block_on(s.auth.signup_with_key(wrong, Some(&k)));
    }
    let ok = input("ann@example.com", "ann", TEST_PASSWORD);
    let limited = block_on(s.auth.signup_with_key(ok, Some(&k)));
    assert!(
        matches!(limited, Err(AuthError::RateLimited(_))),
        "{limited:?}"
    );
}

#[test]
fn the_sweep_deletes_expired_keys_only() {
    let f = Fakes::new();
    let s = f.services();
    let ann = user(&s, "ann");
    block_on(s.posts.create_with_key(ann.id, "old", Some(&key("old")))).unwrap();
    f.clock.advance(Duration::from_secs(60));
    block_on(s.posts.create_with_key(ann.id, "new", Some(&key("new")))).unwrap();
    assert_eq!(block_on(s.idempotency.sweep()).unwrap(), 0);
    f.clock
        .advance(IDEMPOTENCY_KEY_TTL - Duration::from_secs(30));
    assert_eq!(block_on(s.idempotency.sweep()).unwrap(), 1);
    assert_eq!(block_on(s.idempotency.sweep()).unwrap(), 0);
}
