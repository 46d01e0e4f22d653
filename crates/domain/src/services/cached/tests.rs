use super::*;

#[test]
fn decoded_values_are_reused_for_the_same_bytes_only() {
    let memo = Decoded::<Vec<u32>>::new(2);
    let bytes: Arc<[u8]> = Arc::from(&b"[1,2,3]"[..]);
    let a = memo.decode("k", &bytes).unwrap();
    let b = memo.decode("k", &bytes).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    let refilled: Arc<[u8]> = Arc::from(&b"[1,2,3]"[..]);
    let c = memo.decode("k", &refilled).unwrap();
    assert!(!Arc::ptr_eq(&a, &c));
    assert_eq!(*c, vec![1, 2, 3]);
    assert!(memo.decode("bad", &Arc::from(&b"nope"[..])).is_err());
    // Bounded: a third key clears the memo rather than growing it.
    memo.decode("k2", &bytes).unwrap();
    memo.decode("k3", &bytes).unwrap();
    let d = memo.decode("k", &refilled).unwrap();
    assert!(!Arc::ptr_eq(&c, &d));
}
/// Up to its capacity every key keeps its decoded value; past it the memo starts over instead
/// of growing, and a key already held never triggers that.
#[test]
fn the_memo_keeps_every_key_up_to_its_capacity_and_no_more() {
    let memo = Decoded::<Vec<u32>>::new(3);
    let bytes: Arc<[u8]> = Arc::from(&b"[7]"[..]);
    let held: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|k| memo.decode(k, &bytes).unwrap())
        .collect();
    let len = || memo.slots.lock().unwrap().len();
    assert_eq!(len(), 3);
    // A hit on a held key at capacity keeps the others.
    assert!(Arc::ptr_eq(&memo.decode("a", &bytes).unwrap(), &held[0]));
    assert!(Arc::ptr_eq(&memo.decode("c", &bytes).unwrap(), &held[2]));
    assert_eq!(len(), 3);
    memo.decode("d", &bytes).unwrap();
    assert!(len() <= 3, "the memo grew past its capacity: {}", len());
}

use crate::model::{PostId, User};
use crate::ports::{Clock, IdGenerator};
use crate::testkit::fakes::{block_on, signup, Fakes};

fn user(f: &Fakes, username: &str) -> User {
    block_on(signup(&f.services(), username)).unwrap().user
}

#[test]
fn authors_are_read_through_the_cache() {
    let f = Fakes::new();
    let (alice, bob) = (user(&f, "alice"), user(&f, "bob"));
    let ghost = UserId::from_uuid(f.ids.new_id());
    let authors = Authors::new(f.store.clone(), f.cache.clone());

    let got = block_on(authors.many(&[alice.id, bob.id, alice.id, ghost])).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[&alice.id], alice.summary());
    assert_eq!(got[&bob.id], bob.summary());
    let loads = f.cache.loads();

    // Known authors now come from the cache; the unknown one was not cached.
    let again = block_on(authors.many(&[alice.id, bob.id])).unwrap();
    assert_eq!(again, got);
    assert_eq!(f.cache.loads(), loads);
    assert!(!f.cache.contains(&keys::summary(ghost)));
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
}

#[test]
fn a_cold_listing_loads_its_authors_in_one_query() {
    let f = Fakes::new();
    let users: Vec<User> = (0..5).map(|i| user(&f, &format!("cold{i}"))).collect();
    let ids: Vec<UserId> = users.iter().map(|u| u.id).collect();
    let counting = Arc::new(CountingUsers(f.store.clone(), Default::default()));
    let authors = Authors::new(counting.clone(), f.cache.clone());
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
    let authors = Authors::new(f.store.clone(), f.cache.clone());
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

/// `Authors::many` says "a value that no longer decodes is just a miss", but the miss is
/// then read through `get_or_load`, which returns the same undecodable bytes, so the read
/// fails with `StoreError::Internal` (a 500 on every listing showing this author, until
/// the entry expires) instead of loading afresh.
#[test]
fn a_summary_that_no_longer_decodes_is_a_miss() {
    let f = Fakes::new();
    let alice = user(&f, "alice");
    block_on(
        f.cache
            .set(&keys::summary(alice.id), b"not json".to_vec(), TTL_SUMMARY),
    );
    let authors = Authors::new(f.store.clone(), f.cache.clone());
    assert_eq!(
        block_on(authors.get(alice.id)).unwrap(),
        Some(alice.summary())
    );
}
