//! The first pages of the global timeline, built once per change instead of once per request.
//!
//! A warm `GET /posts` used to decode, hydrate and copy the same twenty posts on every call.
//! Here a built page is kept together with the exact inputs it was built from — the cached
//! head's `Arc` and each author summary's `Arc` — and reused while all of them are still the
//! ones the caches hand out. Any write that changes an input (a post, a deletion, a profile
//! edit) replaces that input's cache entry, so the next request sees a different `Arc` and
//! rebuilds: the page can never be staler than the caches it came from.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::model::{Page, Post, PostRecord, UserId, UserSummary};

struct Built {
    head: Arc<Vec<PostRecord>>,
    authors: Vec<(UserId, Arc<UserSummary>)>,
    page: Arc<Page<Post>>,
}

/// Built first pages by page size (at most [`crate::model::Limit::MAX`] entries).
#[derive(Default)]
pub(crate) struct FirstPages {
    by_limit: Mutex<HashMap<usize, Built>>,
}

impl FirstPages {
    /// The page built from exactly these inputs, if there is one.
    pub(crate) fn get(
        &self,
        limit: usize,
        head: &Arc<Vec<PostRecord>>,
        authors: &[(UserId, Arc<UserSummary>)],
    ) -> Option<Arc<Page<Post>>> {
        // Poisoning cannot leave an entry half-written (inserts are single calls).
        let pages = self.by_limit.lock().unwrap_or_else(|e| e.into_inner());
        let built = pages.get(&limit)?;
        let same_authors = built.authors.len() == authors.len()
            && built
                .authors
                .iter()
                .zip(authors)
                .all(|((a, x), (b, y))| a == b && Arc::ptr_eq(x, y));
        (Arc::ptr_eq(&built.head, head) && same_authors).then(|| built.page.clone())
    }

    pub(crate) fn put(
        &self,
        limit: usize,
        head: Arc<Vec<PostRecord>>,
        authors: Vec<(UserId, Arc<UserSummary>)>,
        page: Arc<Page<Post>>,
    ) {
        let mut pages = self.by_limit.lock().unwrap_or_else(|e| e.into_inner());
        pages.insert(
            limit,
            Built {
                head,
                authors,
                page,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Limit, Timestamp};
    use uuid::Uuid;

    fn summary(name: &str) -> (UserId, Arc<UserSummary>) {
        let id = UserId::from_uuid(Uuid::now_v7());
        let s = UserSummary {
            id,
            username: name.to_owned(),
            name: None,
        };
        (id, Arc::new(s))
    }

    fn page() -> Arc<Page<Post>> {
        Arc::new(Page {
            items: Vec::new(),
            next_cursor: None,
        })
    }

    #[test]
    fn reused_only_while_every_input_is_the_same_arc() {
        let pages = FirstPages::default();
        let head = Arc::new(vec![PostRecord {
            id: crate::model::PostId::from_uuid(Uuid::now_v7()),
            author_id: UserId::from_uuid(Uuid::now_v7()),
            content: "x".into(),
            created_at: Timestamp::from_unix_millis(0),
        }]);
        let authors = vec![summary("a")];
        let built = page();
        pages.put(20, head.clone(), authors.clone(), built.clone());
        let hit = pages.get(20, &head, &authors).unwrap();
        assert!(Arc::ptr_eq(&hit, &built));
        assert!(pages
            .get(Limit::DEFAULT.get() + 1, &head, &authors)
            .is_none());
        // Equal contents in a new allocation (a refilled cache entry) are a different input.
        let same_head_again = Arc::new((*head).clone());
        assert!(pages.get(20, &same_head_again, &authors).is_none());
        let renamed = vec![(authors[0].0, Arc::new((*authors[0].1).clone()))];
        assert!(pages.get(20, &head, &renamed).is_none());
        assert!(pages.get(20, &head, &[]).is_none());
    }
}
