//! The first pages of the global timeline, built once per change instead of once per request.
//!
//! A warm `GET /posts` used to slice, copy and re-serialise the same twenty posts on every
//! call. Here a built page is kept together with the exact cached head it was cut from (its
//! `Arc`) and reused while the cache still hands out that same head. Every write that changes
//! the head (a post, a deletion, a profile edit) invalidates its cache entry, so the next
//! request sees a different `Arc` and rebuilds: a page is never staler than the cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::model::{Page, Post};

struct Built {
    head: Arc<Vec<Post>>,
    page: Arc<Page<Post>>,
}

/// Built first pages by page size (at most [`crate::model::Limit::MAX`] entries).
#[derive(Default)]
pub(crate) struct FirstPages {
    by_limit: Mutex<HashMap<usize, Built>>,
}

impl FirstPages {
    /// The page of `limit` posts cut from exactly this head, if it was built already.
    pub(crate) fn get(&self, limit: usize, head: &Arc<Vec<Post>>) -> Option<Arc<Page<Post>>> {
        // Poisoning cannot leave an entry half-written (inserts are single calls).
        let pages = self.by_limit.lock().unwrap_or_else(|e| e.into_inner());
        let built = pages.get(&limit)?;
        Arc::ptr_eq(&built.head, head).then(|| built.page.clone())
    }

    pub(crate) fn put(&self, limit: usize, head: Arc<Vec<Post>>, page: Arc<Page<Post>>) {
        let mut pages = self.by_limit.lock().unwrap_or_else(|e| e.into_inner());
        pages.insert(limit, Built { head, page });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Arc<Page<Post>> {
        Arc::new(Page {
            items: Vec::new(),
            next_cursor: None,
        })
    }

    #[test]
    fn reused_only_for_the_same_head_and_limit() {
        let pages = FirstPages::default();
        let head: Arc<Vec<Post>> = Arc::new(Vec::new());
        let built = page();
        pages.put(20, head.clone(), built.clone());
        assert!(Arc::ptr_eq(&pages.get(20, &head).unwrap(), &built));
        assert!(pages.get(21, &head).is_none());
        // Equal contents in a new allocation (a refilled cache entry) are a different head.
        let refilled = Arc::new((*head).clone());
        assert!(pages.get(20, &refilled).is_none());
    }
}
