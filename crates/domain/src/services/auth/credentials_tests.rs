//! Logout and tiers: what authenticating a token reads from the (cached) user.

use std::time::Duration;

use super::tests::who;
use super::*;
use crate::cache::{CachePolicy, Read};
use crate::error::UserError;
use crate::model::ProfileUpdate;
use crate::services::{Services, TierService};
use crate::testkit::fakes::{block_on, signup, Fakes, ManualClock, TEST_PASSWORD};

const CLIENT: &str = "ip:192.0.2.1";

fn login(s: &Services, username: &str) -> String {
    let email = format!("{username}@example.com");
    block_on(s.auth.login(&email, TEST_PASSWORD, CLIENT))
        .unwrap()
        .token
}

fn identity(s: &Services, token: &str) -> Result<Identity, CredentialError> {
    block_on(s.auth.authenticate(Presented::Bearer(token)))
}

#[test]
fn logout_revokes_every_token_and_a_login_right_after_works() {
    let f = Fakes::new();
    let s = f.services();
    let first = block_on(signup(&s, "alice")).unwrap();
    f.clock.advance(Duration::from_millis(5));
    let second = login(&s, "alice");
    // Cached now: the logout has to make this stale, not just write the row.
    assert_eq!(who(&s.auth, &second), Some(first.user.id));

    block_on(s.auth.logout(first.user.id)).unwrap();
    assert_eq!(who(&s.auth, &first.token), None);
    assert_eq!(who(&s.auth, &second), None);
    let invalidated = f.cache.invalidated();
    for read in [Read::User(first.user.id), Read::Standing(first.user.id)] {
        assert!(invalidated.contains(&CachePolicy::key(&read).into_owned()));
    }

    // The clock has not moved: the new token is issued in the logout's own millisecond.
    let fresh = login(&s, "alice");
    assert_eq!(who(&s.auth, &fresh), Some(first.user.id));
}

/// A token issued in the same millisecond as the logout but before it is revoked; so is one
/// from an instance whose clock runs a little ahead.
#[test]
fn tokens_issued_just_before_a_logout_are_revoked_even_from_a_clock_ahead() {
    let f = Fakes::new();
    let s = f.services();
    let same_ms = block_on(signup(&s, "alice")).unwrap();
    f.clock.advance(Duration::from_millis(400));
    let ahead = login(&s, "alice");
    f.clock.advance(Duration::from_millis(400));
    let token_after_logout_clock = login(&s, "alice");
    // The logging-out instance's clock is 800 ms behind the one that issued these.
    f.clock.set(ManualClock::start());
    block_on(s.auth.logout(same_ms.user.id)).unwrap();
    for token in [&same_ms.token, &ahead, &token_after_logout_clock] {
        assert_eq!(who(&s.auth, token), None, "{token}");
    }
    // And a login on that slow instance right after the logout still works.
    let fresh = login(&s, "alice");
    assert_eq!(who(&s.auth, &fresh), Some(same_ms.user.id));
}

/// A token dated past a logout (a login right after it) is revoked by the next logout, even
/// within the same millisecond.
#[test]
fn a_second_logout_revokes_the_token_issued_after_the_first() {
    let f = Fakes::new();
    let s = f.services();
    let alice = block_on(signup(&s, "alice")).unwrap();
    block_on(s.auth.logout(alice.user.id)).unwrap();
    let between = login(&s, "alice");
    assert_eq!(who(&s.auth, &between), Some(alice.user.id));
    block_on(s.auth.logout(alice.user.id)).unwrap();
    assert_eq!(who(&s.auth, &between), None);
}

#[test]
fn a_store_that_cannot_say_whether_a_token_is_revoked_refuses_it() {
    let f = Fakes::new();
    let s = f.services();
    let alice = block_on(signup(&s, "alice")).unwrap();
    f.store.set_unavailable(true);
    assert!(matches!(
        identity(&s, &alice.token),
        Err(CredentialError::Store(_))
    ));
    f.store.set_unavailable(false);
    assert!(identity(&s, &alice.token).is_ok());
}

/// An active user's writes move their counters, not what authenticating them reads: their
/// next requests are answered from the cache, not each from a load of the user (here the store
/// is down by then, so a load would refuse them).
#[test]
fn posts_follows_and_edits_leave_the_authors_standing_cached() {
    let f = Fakes::new();
    let s = f.services();
    let alice = block_on(signup(&s, "alice")).unwrap();
    let bob = block_on(signup(&s, "bob")).unwrap();
    assert_eq!(who(&s.auth, &alice.token), Some(alice.user.id));

    let post = block_on(s.posts.create(alice.user.id, "one")).unwrap();
    block_on(s.posts.create(alice.user.id, "two")).unwrap();
    block_on(s.posts.delete(alice.user.id, post.id)).unwrap();
    block_on(s.users.follow(alice.user.id, bob.user.id)).unwrap();
    block_on(s.users.follow(bob.user.id, alice.user.id)).unwrap();
    let edit = ProfileUpdate {
        name: None,
        bio: Some(None),
    };
    block_on(s.users.update_profile(alice.user.id, edit)).unwrap();
    // The counters did move: `GET /users/me` shows them.
    let me = block_on(s.users.get(alice.user.id)).unwrap();
    assert_eq!((me.posts_count, me.followers_count), (1, 1));

    f.store.set_unavailable(true);
    let id = identity(&s, &alice.token).unwrap();
    assert_eq!((id.user, id.tier), (alice.user.id, Tier::Standard));
}

#[test]
fn a_tier_change_reaches_authentication_through_the_cache() {
    let f = Fakes::new();
    let s = f.services();
    let alice = block_on(signup(&s, "alice")).unwrap();
    let before = identity(&s, &alice.token).unwrap();
    assert_eq!((before.tier, before.via), (Tier::Standard, Via::Token));

    let tiers = TierService::new(f.store.clone(), f.cache.clone(), f.ids.clone());
    assert_eq!(
        block_on(tiers.set_tier("ALICE", Tier::Trusted)).unwrap(),
        alice.user.id
    );
    assert_eq!(identity(&s, &alice.token).unwrap().tier, Tier::Trusted);
    assert!(matches!(
        block_on(tiers.set_tier("nobody", Tier::Trusted)),
        Err(UserError::NotFound)
    ));
    assert!(matches!(
        block_on(tiers.set_tier("not a name!", Tier::Trusted)),
        Err(UserError::NotFound)
    ));
}

/// The contract keeps `GET /users/me` answering 404 for a genuine token whose user is gone.
#[test]
fn a_genuine_token_for_a_missing_user_is_a_standard_identity() {
    let f = Fakes::new();
    let s = f.services();
    let ghost = UserId::from_uuid(f.ids.new_id());
    let token = f.tokens.issue(ghost, f.clock.now()).unwrap();
    let id = identity(&s, &token).unwrap();
    assert_eq!((id.user, id.tier), (ghost, Tier::Standard));
}

/// A stream ticket proves its user only as a ticket, and a logout revokes it with the tokens;
/// one issued after the logout works.
#[test]
fn stream_tickets_authenticate_as_tickets_only_and_die_with_a_logout() {
    let f = Fakes::new();
    let s = f.services();
    let alice = block_on(signup(&s, "alice")).unwrap();
    let ticket = block_on(s.auth.stream_ticket(alice.user.id)).unwrap();
    let by_ticket = |t: &str| block_on(s.auth.authenticate(Presented::StreamTicket(t)));
    let id = by_ticket(&ticket).unwrap();
    assert_eq!((id.user, id.via), (alice.user.id, Via::Token));
    assert!(matches!(
        identity(&s, &ticket),
        Err(CredentialError::Rejected)
    ));
    assert!(matches!(
        by_ticket(&alice.token),
        Err(CredentialError::Rejected)
    ));

    block_on(s.auth.logout(alice.user.id)).unwrap();
    assert!(matches!(by_ticket(&ticket), Err(CredentialError::Rejected)));
    let fresh = block_on(s.auth.stream_ticket(alice.user.id)).unwrap();
    assert_eq!(by_ticket(&fresh).unwrap().user, alice.user.id);
}

/// What was opened with a credential learns of its revocation: a logout for tokens and
/// tickets, a revocation for an API key; a credential issued after the logout stays good.
#[test]
fn still_valid_follows_logouts_and_key_revocations() {
    let f = Fakes::new();
    let s = f.services();
    let alice = block_on(signup(&s, "alice")).unwrap();
    let by_token = identity(&s, &alice.token).unwrap();
    let ticket = block_on(s.auth.stream_ticket(alice.user.id)).unwrap();
    let by_ticket = block_on(s.auth.authenticate(Presented::StreamTicket(&ticket))).unwrap();
    let key = block_on(s.api_keys.create(alice.user.id, "k")).unwrap();
    let by_key = block_on(s.auth.authenticate(Presented::ApiKey(&key.secret))).unwrap();
    let valid = |i: &Identity| block_on(s.auth.still_valid(i)).unwrap();
    assert!(valid(&by_token) && valid(&by_ticket) && valid(&by_key));

    f.clock.advance(Duration::from_millis(5));
    block_on(s.auth.logout(alice.user.id)).unwrap();
    assert!(!valid(&by_token));
    assert!(!valid(&by_ticket));
    assert!(valid(&by_key), "a logout leaves API keys alone");
    let fresh = identity(&s, &login(&s, "alice")).unwrap();
    assert!(valid(&fresh));

    block_on(s.api_keys.revoke(alice.user.id, key.key.id)).unwrap();
    assert!(!valid(&by_key));
}
