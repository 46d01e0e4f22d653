use std::time::Duration;

use super::*;
use crate::error::CredentialError;
use crate::model::{Identity, Tier, Via};
use crate::services::{Presented, Services, TierService};
use crate::testkit::fakes::{block_on, signup, Fakes};

fn by_key(s: &Services, key: &str) -> Result<Identity, CredentialError> {
    block_on(s.auth.authenticate(Presented::ApiKey(key)))
}

#[test]
fn a_key_authenticates_its_owner_until_revoked_and_then_never_again() {
    let f = Fakes::new();
    let s = f.services();
    let alice = block_on(signup(&s, "alice")).unwrap().user;
    let created = block_on(s.api_keys.create(alice.id, "  ci ")).unwrap();
    assert_eq!(created.key.name, "ci");
    assert_eq!(created.key.created_at, f.clock.now());
    assert!(created.secret.starts_with("ssk_"));
    // Only the digest is stored.
    let stored = block_on(s.api_keys.list(alice.id)).unwrap();
    assert_eq!(stored.len(), 1);
    let parsed = ApiKeySecret::parse(&created.secret).unwrap();
    assert_ne!(stored[0].digest, parsed.secret);

    let me = by_key(&s, &created.secret).unwrap();
    assert_eq!(
        me,
        Identity {
            user: alice.id,
            tier: Tier::Standard,
            via: Via::ApiKey(created.key.id),
            issued_at: None,
        }
    );
    // Served from the cache now: revoking has to make it stale.
    by_key(&s, &created.secret).unwrap();
    block_on(s.api_keys.revoke(alice.id, created.key.id)).unwrap();
    assert!(matches!(
        by_key(&s, &created.secret),
        Err(CredentialError::Rejected)
    ));
    assert!(matches!(
        block_on(s.api_keys.revoke(alice.id, created.key.id)),
        Err(ApiKeyError::NotFound)
    ));
}

#[test]
fn only_the_owner_revokes_a_key() {
    let f = Fakes::new();
    let s = f.services();
    let alice = block_on(signup(&s, "alice")).unwrap().user;
    let bob = block_on(signup(&s, "bob")).unwrap().user;
    let created = block_on(s.api_keys.create(alice.id, "ci")).unwrap();
    assert!(matches!(
        block_on(s.api_keys.revoke(bob.id, created.key.id)),
        Err(ApiKeyError::NotFound)
    ));
    assert!(by_key(&s, &created.secret).is_ok());
    assert!(block_on(s.api_keys.list(bob.id)).unwrap().is_empty());
}

#[test]
fn a_wrong_secret_or_a_malformed_key_is_rejected() {
    let f = Fakes::new();
    let s = f.services();
    let alice = block_on(signup(&s, "alice")).unwrap().user;
    let created = block_on(s.api_keys.create(alice.id, "ci")).unwrap();
    let mut forged = ApiKeySecret::parse(&created.secret).unwrap();
    forged.secret[0] ^= 1;
    for bad in [forged.encode(), "ssk_".to_owned(), "garbage".to_owned()] {
        assert!(
            matches!(by_key(&s, &bad), Err(CredentialError::Rejected)),
            "{bad}"
        );
    }
}

#[test]
fn a_user_holds_at_most_the_cap_and_names_are_checked() {
    let f = Fakes::new();
    let s = f.services();
    let alice = block_on(signup(&s, "alice")).unwrap().user;
    assert!(matches!(
        block_on(s.api_keys.create(alice.id, " ")),
        Err(ApiKeyError::Invalid(_))
    ));
    let mut ids = Vec::new();
    for i in 0..MAX_API_KEYS_PER_USER {
        ids.push(
            block_on(s.api_keys.create(alice.id, &format!("k{i}")))
                .unwrap()
                .key
                .id,
        );
    }
    assert!(matches!(
        block_on(s.api_keys.create(alice.id, "one more")),
        Err(ApiKeyError::TooMany)
    ));
    let listed: Vec<ApiKeyId> = block_on(s.api_keys.list(alice.id))
        .unwrap()
        .iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(listed, ids, "oldest first");
    // Revoking one makes room again.
    block_on(s.api_keys.revoke(alice.id, ids[0])).unwrap();
    assert!(block_on(s.api_keys.create(alice.id, "again")).is_ok());
}

#[test]
fn a_key_carries_its_owners_tier() {
    let f = Fakes::new();
    let s = f.services();
    let alice = block_on(signup(&s, "alice")).unwrap().user;
    let created = block_on(s.api_keys.create(alice.id, "ci")).unwrap();
    by_key(&s, &created.secret).unwrap();
    let tiers = TierService::new(f.store.clone(), f.cache.clone(), f.ids.clone());
    block_on(tiers.set_tier("alice", Tier::Trusted)).unwrap();
    assert_eq!(by_key(&s, &created.secret).unwrap().tier, Tier::Trusted);
}

#[test]
fn last_use_is_recorded_about_once_a_minute() {
    let f = Fakes::new();
    let s = f.services();
    let alice = block_on(signup(&s, "alice")).unwrap().user;
    let created = block_on(s.api_keys.create(alice.id, "ci")).unwrap();
    let last_used = || block_on(s.api_keys.list(alice.id)).unwrap()[0].last_used_at;
    assert_eq!(last_used(), None);
    let first = f.clock.now();
    by_key(&s, &created.secret).unwrap();
    assert_eq!(last_used(), Some(first));
    f.clock.advance(Duration::from_secs(30));
    by_key(&s, &created.secret).unwrap();
    assert_eq!(
        last_used(),
        Some(first),
        "not written again within the minute"
    );
    f.clock.advance(Duration::from_secs(31));
    by_key(&s, &created.secret).unwrap();
    assert_eq!(last_used(), Some(f.clock.now()));
}
