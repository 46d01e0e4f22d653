use super::*;
use crate::error::StoreError;
use crate::testkit::fakes::{
    block_on, login_failures_account_policy, login_failures_policy, login_limits, signup, Fakes,
    TEST_PASSWORD,
};

/// Whom `token` authenticates, if anyone.
pub(super) fn who(auth: &AuthService, token: &str) -> Option<UserId> {
    block_on(auth.authenticate(Presented::Bearer(token)))
        .ok()
        .map(|i| i.user)
}

/// The address key the tests log in from.
const CLIENT: &str = "ip:192.0.2.1";

/// The per-address failure key of `email` from [`CLIENT`].
fn pair(email: &str) -> String {
    format!("{CLIENT}|{email}")
}

fn input<'a>(email: &'a str, username: &'a str, name: Option<&'a str>) -> SignupInput<'a> {
    SignupInput {
        email,
        password: TEST_PASSWORD,
        username,
        name,
    }
}

fn fields(e: &AuthError) -> Vec<&'static str> {
    match e {
        AuthError::Invalid(v) => v.fields().iter().map(|f| f.field).collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn signup_reports_every_invalid_field_together() {
    let f = Fakes::new();
    let auth = f.services().auth;
    let e = block_on(auth.signup(SignupInput {
        email: "not-an-email",
        password: "short",
        username: "a!",
        name: Some("   "),
    }))
    .unwrap_err();
    assert_eq!(fields(&e), ["email", "password", "username", "name"]);
    // Nothing was hashed or written for a request that cannot succeed.
    assert_eq!(f.hasher.hashes(), 0);
    assert_eq!(f.store.counts(), (0, 0, 0));

    let one = block_on(auth.signup(SignupInput {
        password: "1234567",
        ..input("a@example.com", "alice", None)
    }))
    .unwrap_err();
    assert_eq!(fields(&one), ["password"]);
    match one {
        AuthError::Invalid(v) => {
            assert_eq!(v.summary(), "Password must be at least 8 characters")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn signup_stores_a_normalised_user_and_issues_a_token() {
    let f = Fakes::new();
    let auth = f.services().auth;
    let session = block_on(auth.signup(input(
        "  Alice@Example.COM ",
        "Alice_1",
        Some("  Alice A. "),
    )))
    .unwrap();
    let u = &session.user;
    assert_eq!(u.email, "alice@example.com");
    assert_eq!(u.username, "Alice_1", "the typed case is kept for display");
    assert_eq!(u.name.as_deref(), Some("Alice A."));
    assert_eq!(u.bio, None);
    assert_eq!(u.created_at, f.clock.now());
    assert_eq!(
        (u.followers_count, u.following_count, u.posts_count),
        (0, 0, 0)
    );
    assert_eq!(who(&auth, &session.token), Some(u.id));
    assert_eq!(f.tokens.issued(), 1);

    let without_name = block_on(auth.signup(input("b@example.com", "bob", None))).unwrap();
    assert_eq!(without_name.user.name, None);
}

#[test]
fn signup_hashes_the_password_and_never_stores_it_plain() {
    let f = Fakes::new();
    let s = f.services();
    block_on(signup(&s, "alice")).unwrap();
    assert_eq!(f.hasher.hashes(), 1);
    let email = Email::parse("alice@example.com").unwrap();
    let stored = block_on(f.store.credentials_by_email(&email))
        .unwrap()
        .unwrap();
    assert_ne!(stored.password_hash, TEST_PASSWORD);
    assert_eq!(stored.password_hash, format!("plain${TEST_PASSWORD}"));
}

#[test]
fn signup_maps_conflicts() {
    let f = Fakes::new();
    let auth = f.services().auth;
    block_on(auth.signup(input("alice@example.com", "alice", None))).unwrap();

    let same_email = block_on(auth.signup(input("ALICE@example.com ", "other", None)));
    assert!(
        matches!(same_email, Err(AuthError::EmailTaken)),
        "{same_email:?}"
    );
    let same_name = block_on(auth.signup(input("other@example.com", "ALICE", None)));
    assert!(
        matches!(same_name, Err(AuthError::UsernameTaken)),
        "{same_name:?}"
    );
    let both = block_on(auth.signup(input("alice@example.com", "Alice", None)));
    assert!(matches!(both, Err(AuthError::EmailTaken)), "{both:?}");
    assert_eq!(f.store.counts().0, 1);
    assert_eq!(f.tokens.issued(), 1, "no token for a failed signup");
}

#[test]
fn signup_and_login_report_an_unavailable_store() {
    let f = Fakes::new();
    let s = f.services();
    block_on(signup(&s, "alice")).unwrap();
    f.store.set_unavailable(true);
    let e = block_on(signup(&s, "bob")).unwrap_err();
    assert!(
        matches!(e, AuthError::Store(StoreError::Unavailable(_))),
        "{e:?}"
    );
    let e = block_on(s.auth.login("alice@example.com", TEST_PASSWORD, CLIENT)).unwrap_err();
    assert!(
        matches!(e, AuthError::Store(StoreError::Unavailable(_))),
        "{e:?}"
    );
}

#[test]
fn login_with_the_right_password() {
    let f = Fakes::new();
    let s = f.services();
    let created = block_on(signup(&s, "alice")).unwrap().user;
    let session = block_on(s.auth.login("  ALICE@example.com", TEST_PASSWORD, CLIENT)).unwrap();
    assert_eq!(session.user, created);
    assert_eq!(who(&s.auth, &session.token), Some(created.id));
    assert_eq!(f.hasher.verifies(), 1);
    assert_eq!(
        f.limiter
            .used(login_failures_policy().name, &pair("alice@example.com")),
        0,
        "a success is not a failure"
    );
}

#[test]
fn unknown_email_and_wrong_password_are_indistinguishable() {
    let f = Fakes::new();
    let s = f.services();
    block_on(signup(&s, "alice")).unwrap();
    let hashes = f.hasher.hashes();

    let wrong = block_on(s.auth.login("alice@example.com", "wrong password", CLIENT)).unwrap_err();
    assert!(matches!(wrong, AuthError::InvalidCredentials), "{wrong:?}");
    assert_eq!(
        (f.hasher.verifies(), f.hasher.verifies_without_hash()),
        (1, 0)
    );

    let unknown = block_on(s.auth.login("nobody@example.com", TEST_PASSWORD, CLIENT)).unwrap_err();
    assert!(
        matches!(unknown, AuthError::InvalidCredentials),
        "{unknown:?}"
    );
    // The unknown account went through the hasher too, exactly once, with no hash.
    assert_eq!(
        (f.hasher.verifies(), f.hasher.verifies_without_hash()),
        (2, 1)
    );
    assert_eq!(wrong.to_string(), unknown.to_string());

    assert_eq!(f.hasher.hashes(), hashes, "login never hashes");
    assert_eq!(f.tokens.issued(), 1, "only the signup got a token");
    let policy = login_failures_policy().name;
    assert_eq!(f.limiter.used(policy, &pair("alice@example.com")), 1);
    assert_eq!(f.limiter.used(policy, &pair("nobody@example.com")), 1);
}

#[test]
fn too_many_failures_lock_the_account_even_with_the_right_password() {
    let f = Fakes::new();
    let s = f.services();
    block_on(signup(&s, "alice")).unwrap();
    block_on(signup(&s, "bob")).unwrap();
    let limit = login_failures_policy().limit;

    // Failures count per lower-cased email, whatever case they were typed in.
    for i in 0..limit - 1 {
        let email = if i % 2 == 0 {
            "alice@example.com"
        } else {
            "ALICE@Example.com"
        };
        let e = block_on(s.auth.login(email, "wrong password", CLIENT)).unwrap_err();
        assert!(matches!(e, AuthError::InvalidCredentials), "{i}: {e:?}");
    }
    // One failure short of the limit the right password still works…
    block_on(s.auth.login("alice@example.com", TEST_PASSWORD, CLIENT)).unwrap();
    let e = block_on(s.auth.login("alice@example.com", "wrong password", CLIENT)).unwrap_err();
    assert!(matches!(e, AuthError::InvalidCredentials), "{e:?}");
    assert_eq!(
        f.limiter
            .used(login_failures_policy().name, &pair("alice@example.com")),
        limit
    );

    // …and at the limit nothing does, without even checking the password.
    let verifies = f.hasher.verifies();
    for password in [TEST_PASSWORD, "wrong password"] {
        match block_on(s.auth.login("Alice@example.com", password, CLIENT)) {
            Err(AuthError::RateLimited(d)) => {
                assert!(!d.allowed);
                assert_eq!(d.limit, limit);
                assert_eq!(d.remaining, 0);
            }
            other => panic!("expected RateLimited, got {other:?}"),
        }
    }
    assert_eq!(f.hasher.verifies(), verifies);

    // Other accounts are not affected.
    block_on(s.auth.login("bob@example.com", TEST_PASSWORD, CLIENT)).unwrap();
    // Nor is the owner, logging in from another address.
    block_on(
        s.auth
            .login("alice@example.com", TEST_PASSWORD, "ip:198.51.100.4"),
    )
    .unwrap();
}

/// Guesses spread over many addresses stop at the looser per-account cap, and then the right
/// password from a fresh address is refused too; failures from one address never reach it.
#[test]
fn failures_from_many_addresses_stop_at_the_per_account_cap() {
    let f = Fakes::new();
    let s = f.services();
    block_on(signup(&s, "alice")).unwrap();
    let per_address = login_failures_policy().limit;
    let per_account = login_failures_account_policy().limit;
    assert!(per_account > per_address);
    for i in 0..per_account {
        let client = format!("ip:203.0.113.{}", i / (per_address - 1));
        let e = block_on(s.auth.login("alice@example.com", "wrong", &client)).unwrap_err();
        assert!(matches!(e, AuthError::InvalidCredentials), "{i}: {e:?}");
    }
    match block_on(
        s.auth
            .login("alice@example.com", TEST_PASSWORD, "ip:198.51.100.9"),
    ) {
        Err(AuthError::RateLimited(d)) => assert_eq!(d.limit, per_account),
        other => panic!("expected the per-account limit, got {other:?}"),
    }
    assert_eq!(
        f.limiter
            .used(login_failures_account_policy().name, "alice@example.com"),
        per_account
    );
}

#[test]
fn login_validates_its_input() {
    let f = Fakes::new();
    let s = f.services();
    let e = block_on(s.auth.login("not an email", TEST_PASSWORD, CLIENT)).unwrap_err();
    assert_eq!(fields(&e), ["email"]);
    let e = block_on(s.auth.login("alice@example.com", "", CLIENT)).unwrap_err();
    assert_eq!(fields(&e), ["password"]);
    let e = block_on(s.auth.login("", "", CLIENT)).unwrap_err();
    assert_eq!(fields(&e), ["email", "password"]);
    let long = "x".repeat(129);
    let e = block_on(s.auth.login("alice@example.com", &long, CLIENT)).unwrap_err();
    assert_eq!(fields(&e), ["password"]);
    assert_eq!(f.hasher.verifies(), 0);
    assert_eq!(
        f.limiter.used(login_failures_policy().name, "not an email"),
        0
    );
}

#[test]
fn a_short_wrong_password_is_just_wrong() {
    let f = Fakes::new();
    let s = f.services();
    block_on(signup(&s, "alice")).unwrap();
    let e = block_on(s.auth.login("alice@example.com", "abc", CLIENT)).unwrap_err();
    assert!(matches!(e, AuthError::InvalidCredentials), "{e:?}");
}

#[test]
fn authenticate_checks_tokens() {
    let f = Fakes::new();
    let s = f.services();
    let session = block_on(signup(&s, "alice")).unwrap();
    assert_eq!(who(&s.auth, &session.token), Some(session.user.id));
    assert_eq!(who(&s.auth, "garbage"), None);
    assert_eq!(who(&s.auth, ""), None);
    let expired = crate::testkit::fakes::FakeTokens::expired(session.user.id);
    assert_eq!(who(&s.auth, &expired), None);
}

/// A hasher whose `verify` yields once before answering, as a real one does while the
/// hash runs on a blocking pool: it lets several logins be in flight at once.
struct YieldingHasher(crate::testkit::fakes::PlainHasher);

#[async_trait::async_trait]
impl PasswordHasher for YieldingHasher {
    async fn hash(&self, password: &Password) -> Result<String, StoreError> {
        self.0.hash(password).await
    }

    async fn verify(&self, password: &Password, hash: Option<&str>) -> Result<bool, StoreError> {
        let mut yielded = false;
        std::future::poll_fn(|cx| {
            if yielded {
                std::task::Poll::Ready(())
            } else {
                yielded = true;
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            }
        })
        .await;
        self.0.verify(password, hash).await
    }
}

/// The failed-login limit is checked with a peek (`cost 0`) before the password is
/// verified and charged only after it failed; simultaneous attempts for one account must
/// still not get more password checks than the limit.
#[test]
fn concurrent_failures_cannot_exceed_the_failed_login_limit() {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};

    let f = Fakes::new();
    let hasher = Arc::new(YieldingHasher(crate::testkit::fakes::PlainHasher::new()));
    let mut ports = f.ports();
    ports.hasher = hasher.clone();
    let auth = crate::services::Services::new(&ports, login_limits()).auth;
    block_on(auth.signup(input("alice@example.com", "alice", None))).unwrap();
    let limit = login_failures_policy().limit as usize;

    type Login<'a> = Pin<Box<dyn Future<Output = Result<Session, AuthError>> + 'a>>;
    let mut logins: Vec<Login<'_>> = (0..3 * limit)
        .map(|_| Box::pin(auth.login("alice@example.com", "wrong password", CLIENT)) as Login<'_>)
        .collect();
    let mut results: Vec<Option<Result<Session, AuthError>>> =
        logins.iter().map(|_| None).collect();
    let mut cx = Context::from_waker(Waker::noop());
    while results.iter().any(Option::is_none) {
        for (login, result) in logins.iter_mut().zip(results.iter_mut()) {
            if result.is_none() {
                if let Poll::Ready(r) = login.as_mut().poll(&mut cx) {
                    *result = Some(r);
                }
            }
        }
    }

    let checked = hasher.0.verifies();
    assert!(
        checked <= limit,
        "{checked} passwords were checked for one account, but the limit is {limit}"
    );
    // The attempts refused because another one was in flight say so, with a time to retry.
    let refused: Vec<_> = results
        .iter()
        .filter_map(|r| match r {
            Some(Err(AuthError::RateLimited(d))) => Some(d),
            _ => None,
        })
        .collect();
    assert!(
        !refused.is_empty(),
        "simultaneous attempts were all let through"
    );
    for d in refused {
        assert!(!d.allowed, "{d:?}");
        assert!(d.retry_after.is_some_and(|r| r > Duration::ZERO), "{d:?}");
    }
}
