use std::time::Duration;

use super::*;
use crate::model::Timestamp;
use crate::testkit::fakes::{block_on, Fakes};

fn cache(f: &Fakes) -> ReadCache {
    ReadCache::new(f.cache.clone(), f.ids.clone(), CachePolicy::default())
}

fn post(f: &Fakes, content: &str) -> PostRecord {
    PostRecord {
        id: PostId::from_uuid(f.ids.new_id()),
        author_id: UserId::from_uuid(f.ids.new_id()),
        content: content.to_owned(),
        created_at: Timestamp::from_unix_millis(0),
    }
}

fn read_head(c: &ReadCache, read: Read, content: &str) -> Versioned<Vec<Post>> {
    let content = content.to_owned();
    block_on(c.head(read, || {
        let content = content.clone();
        async move {
            Ok(vec![Post::new(
                PostRecord {
                    id: PostId::from_uuid(uuid::Uuid::now_v7()),
                    author_id: UserId::from_uuid(uuid::Uuid::now_v7()),
                    content,
                    created_at: Timestamp::from_unix_millis(0),
                },
                UserSummary {
                    id: UserId::from_uuid(uuid::Uuid::now_v7()),
                    username: "ada".into(),
                    name: None,
                },
            )])
        }
    }))
    .unwrap()
}

/// A head keeps its version for as long as it is cached, and a write that makes it stale
/// yields a new version on the next read: freshness is carried by the value.
#[test]
fn a_version_lasts_until_a_write_makes_the_read_stale() {
    let f = Fakes::new();
    let c = cache(&f);
    let a = read_head(&c, Read::GlobalHead, "one");
    let b = read_head(&c, Read::GlobalHead, "not loaded: a hit");
    assert_eq!(a.version, b.version);
    assert_eq!(b.value[0].content, "one");
    // Decoded once per version: the second read reuses the first decoding.
    assert!(Arc::ptr_eq(&a.value, &b.value));

    let author = a.value[0].author_id;
    block_on(c.written(Write::Post { author }));
    let after = read_head(&c, Read::GlobalHead, "two");
    assert_ne!(after.version, a.version);
    assert_eq!(after.value[0].content, "two");
}

/// Two instances share a tier (here: one byte store) but not their memos. Both see the same
/// version for the same stored value, which is what lets each key its rendered pages by it.
#[test]
fn instances_reading_one_stored_value_see_one_version() {
    let f = Fakes::new();
    let (one, two) = (cache(&f), cache(&f));
    let a = read_head(&one, Read::GlobalHead, "shared");
    let b = read_head(&two, Read::GlobalHead, "not loaded");
    assert_eq!(a.version, b.version);
    assert_eq!(b.value[0].content, "shared");
    // An invalidation on one is a new version on the other.
    block_on(two.written(Write::ProfileEdit {
        user: a.value[0].author.id,
    }));
    let c = read_head(&one, Read::GlobalHead, "reloaded");
    assert_ne!(c.version, a.version);
    assert_eq!(c.value[0].content, "reloaded");
}

#[test]
fn an_author_head_is_stale_after_that_authors_writes_only() {
    let f = Fakes::new();
    let c = cache(&f);
    let (ada, bob) = (
        UserId::from_uuid(f.ids.new_id()),
        UserId::from_uuid(f.ids.new_id()),
    );
    let v1 = read_head(&c, Read::AuthorHead(ada), "a").version;
    block_on(c.written(Write::Post { author: bob }));
    assert_eq!(read_head(&c, Read::AuthorHead(ada), "x").version, v1);
    let some_post = PostId::from_uuid(f.ids.new_id());
    for write in [
        Write::Post { author: ada },
        Write::Delete {
            author: ada,
            post: some_post,
        },
        Write::ProfileEdit { user: ada },
    ] {
        let before = read_head(&c, Read::AuthorHead(ada), "b").version;
        block_on(c.written(write));
        assert_ne!(
            read_head(&c, Read::AuthorHead(ada), "c").version,
            before,
            "{write:?}"
        );
    }
}

#[test]
fn a_stored_value_that_does_not_decode_is_reloaded() {
    let f = Fakes::new();
    let c = cache(&f);
    let record = post(&f, "fresh");
    let key = CachePolicy::key(&Read::Post(record.id));
    // Too short for a version, then a version followed by something that is not JSON.
    for bad in [
        b"nope".to_vec(),
        [[7u8; 16].as_slice(), b"{not json"].concat(),
    ] {
        block_on(f.cache.set(&key, bad, Duration::from_secs(60)));
        let r = record.clone();
        let got = block_on(c.post(record.id, || {
            let r = r.clone();
            async move { Ok(Some(r)) }
        }))
        .unwrap()
        .unwrap();
        assert_eq!(*got, record);
    }
}

#[test]
fn absence_is_not_cached() {
    let f = Fakes::new();
    let c = cache(&f);
    let id = PostId::from_uuid(f.ids.new_id());
    let got = block_on(c.post(id, || async { Ok(None) })).unwrap();
    assert!(got.is_none());
    assert!(!f.cache.contains(&CachePolicy::key(&Read::Post(id))));
}

#[test]
fn batch_loaded_summaries_live_only_briefly() {
    let f = Fakes::new();
    let c = cache(&f);
    let s = UserSummary {
        id: UserId::from_uuid(f.ids.new_id()),
        username: "ada".into(),
        name: None,
    };
    block_on(c.put_unguarded_summaries(std::slice::from_ref(&s))).unwrap();
    let got = block_on(c.cached_summaries(&[s.id, UserId::from_uuid(f.ids.new_id())]));
    assert_eq!(got[0].as_deref(), Some(&s));
    assert!(got[1].is_none());
    assert_eq!(
        f.cache.ttl_of(&CachePolicy::key(&Read::Summary(s.id))),
        Some(CachePolicy::default().summary_unguarded)
    );
}
