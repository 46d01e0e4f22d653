use super::*;
use crate::cache::{CachePolicy, Read};
use crate::model::{PostId, User};
use crate::ports::{Cache, Clock, IdGenerator};
use crate::testkit::fakes::{block_on, signup, Fakes};

fn cache(f: &Fakes) -> ReadCache {
    ReadCache::new(f.cache.clone(), f.ids.clone(), CachePolicy::default())
}

fn summary_key(id: UserId) -> String {
    CachePolicy::key(&Read::Summary(id)).into_owned()
}

fn user(f: &Fakes, username: &str) -> User {
    block_on(signup(&f.services(), username)).unwrap().user
}

#[test]
fn authors_are_read_through_the_cache() {
    let f = Fakes::new();
    let (alice, bob) = (user(&f, "alice"), user(&f, "bob"));
    let ghost = UserId::from_uuid(f.ids.new_id());
    let authors = Authors::new(f.store.clone(), cache(&f));

    let got = block_on(authors.many(&[alice.id, bob.id, alice.id, ghost])).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[&alice.id], alice.summary());
    assert_eq!(got[&bob.id], bob.summary());
    let loads = f.cache.loads();

    // Known authors now come from the cache; the unknown one was not cached.
    let again = block_on(authors.many(&[alice.id, bob.id])).unwrap();
    assert_eq!(again, got);
    assert_eq!(f.cache.loads(), loads);
    assert!(!f.cache.contains(&summary_key(ghost)));
    assert_eq!(block_on(authors.get(ghost)).unwrap(), None);
}

/// Delegates to the fake store, counting `summaries` calls.
struct CountingUsers(
    Arc<crate::testkit::fakes::MemoryStore>,
    std::sync::atomic::AtomicUsize,
);

#[async_trait::async_trait]
impl UserRepository for CountingUsers {
    async fn create(
        &self,
        u: &crate::model::NewUser,
    ) -> Result<User, crate::ports::CreateUserError> {
        self.0.create(u).await
    }
    async fn create_keyed(
        &self,
        u: &crate::model::NewUser,
        claim: &crate::model::KeyClaim,
    ) -> Result<crate::ports::Keyed<User>, crate::ports::CreateUserError> {
        self.0.create_keyed(u, claim).await
    }
    async fn by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.0.by_id(id).await
    }
    async fn by_username(&self, u: &crate::model::Username) -> Result<Option<User>, StoreError> {
        self.0.by_username(u).await
    }
    async fn credentials_by_email(
        &self,
        e: &crate::model::Email,
    ) -> Result<Option<crate::model::StoredCredentials>, StoreError> {
        self.0.credentials_by_email(e).await
    }
    async fn update_profile(
        &self,
        id: UserId,
        u: &crate::model::ProfileUpdate,
    ) -> Result<Option<User>, StoreError> {
        self.0.update_profile(id, u).await
    }
    async fn summaries(&self, ids: &[UserId]) -> Result<Vec<UserSummary>, StoreError> {
        self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.0.summaries(ids).await
    }
    async fn revoke_tokens(
        &self,
        id: UserId,
        at: crate::model::Timestamp,
    ) -> Result<bool, StoreError> {
        self.0.revoke_tokens(id, at).await
    }
    async fn set_tier(
        &self,
        u: &crate::model::Username,
        tier: crate::model::Tier,
    ) -> Result<Option<UserId>, StoreError> {
        self.0.set_tier(u, tier).await
    }
}

#[test]
fn a_cold_listing_loads_its_authors_in_one_query() {
    let f = Fakes::new();
    let users: Vec<User> = (0..5).map(|i| user(&f, &format!("cold{i}"))).collect();
    let ids: Vec<UserId> = users.iter().map(|u| u.id).collect();
    let counting = Arc::new(CountingUsers(f.store.clone(), Default::default()));
    let authors = Authors::new(counting.clone(), cache(&f));
    let got = block_on(authors.many(&ids)).unwrap();
    assert_eq!(got.len(), 5);
    assert_eq!(counting.1.load(std::sync::atomic::Ordering::SeqCst), 1);
    // Now cached: no further query.
    block_on(authors.many(&ids)).unwrap();
    assert_eq!(counting.1.load(std::sync::atomic::Ordering::SeqCst), 1);
    // A single miss goes through the guarded path: one more query.
    f.cache.clear();
    block_on(authors.get(ids[0])).unwrap();
    assert_eq!(counting.1.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[test]
fn hydrate_keeps_order_and_drops_posts_without_an_author() {
    let f = Fakes::new();
    let (alice, bob) = (user(&f, "alice"), user(&f, "bob"));
    let ghost = UserId::from_uuid(f.ids.new_id());
    let record = |author: UserId| PostRecord {
        id: PostId::from_uuid(f.ids.new_id()),
        author_id: author,
        content: "x".to_owned(),
        created_at: f.clock.now(),
    };
    let records = vec![
        record(bob.id),
        record(ghost),
        record(alice.id),
        record(bob.id),
    ];
    let authors = Authors::new(f.store.clone(), cache(&f));
    let posts = block_on(authors.hydrate(records.clone())).unwrap();
    let got: Vec<(PostId, String)> = posts
        .iter()
        .map(|p| (p.id, p.author.username.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (records[0].id, "bob".to_owned()),
            (records[2].id, "alice".to_owned()),
            (records[3].id, "bob".to_owned()),
        ]
    );
}

/// A value that no longer decodes (another encoding, a corrupt shared entry) is a miss that
/// loads afresh, never an error on every listing showing this author until it expires.
#[test]
fn a_summary_that_no_longer_decodes_is_a_miss() {
    let f = Fakes::new();
    let alice = user(&f, "alice");
    block_on(f.cache.set(
        &summary_key(alice.id),
        b"not json".to_vec(),
        std::time::Duration::from_secs(60),
    ));
    let authors = Authors::new(f.store.clone(), cache(&f));
    assert_eq!(
        block_on(authors.get(alice.id)).unwrap(),
        Some(alice.summary())
    );
}
