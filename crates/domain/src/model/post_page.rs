//! Versions of cached values, and the one page type every post listing returns.

use std::sync::Arc;

use super::{Cursor, Limit, Page, Post};

/// Names one load of a cached value. It is made when the value is loaded and stored with it,
/// so every reader of that stored value (on this instance, or on another reading the shared
/// tier) sees the same version, and a reload after an invalidation or expiry a different one.
/// Equal versions therefore mean equal values, whatever pointer or copy holds them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version(u128);

impl Version {
    pub const fn from_u128(v: u128) -> Self {
        Version(v)
    }

    pub const fn get(self) -> u128 {
        self.0
    }
}

/// A value as it was loaded, with the version of that load.
#[derive(Debug)]
pub struct Versioned<T> {
    pub version: Version,
    pub value: Arc<T>,
}

// Manual: cloning shares the value, so `T` itself need not be `Clone`.
impl<T> Clone for Versioned<T> {
    fn clone(&self) -> Self {
        Versioned {
            version: self.version,
            value: Arc::clone(&self.value),
        }
    }
}

/// A page of posts, newest first: either built for one request, or the first posts of a
/// cached, versioned head (the newest posts of a list), shared without copying.
#[derive(Clone, Debug)]
pub struct PostPage {
    posts: Arc<Vec<Post>>,
    len: usize,
    next_cursor: Option<Cursor>,
    version: Option<Version>,
}

impl PostPage {
    /// A page read for one request (a later page, or an uncached list).
    pub fn owned(page: Page<Post>) -> Self {
        PostPage {
            len: page.items.len(),
            posts: Arc::new(page.items),
            next_cursor: page.next_cursor,
            version: None,
        }
    }

    /// The first page of `limit` posts of a list whose newest posts are `head` (which must
    /// hold at least `limit + 1` of them when the list has more, as a head of
    /// [`Limit::MAX`] + 1 does for every limit).
    pub fn window(head: &Versioned<Vec<Post>>, limit: Limit) -> Self {
        let posts = &head.value;
        let len = posts.len().min(limit.get());
        let next_cursor = if posts.len() > len {
            len.checked_sub(1)
                .and_then(|last| posts.get(last))
                .map(|p| Cursor::after(p.id.as_uuid()))
        } else {
            None
        };
        PostPage {
            posts: Arc::clone(posts),
            len,
            next_cursor,
            version: Some(head.version),
        }
    }

    pub fn items(&self) -> &[Post] {
        self.posts.get(..self.len).unwrap_or_default()
    }

    pub fn next_cursor(&self) -> Option<Cursor> {
        self.next_cursor
    }

    /// What identifies this page's contents when it was cut from a versioned head: equal keys
    /// are equal pages, so a rendering of one serves the other. `None` for an owned page.
    pub fn cache_key(&self) -> Option<PageKey> {
        self.version.map(|version| PageKey {
            version,
            len: self.len,
            more: self.next_cursor.is_some(),
        })
    }

    /// A copy as a plain page (tests, and callers that want to own the items).
    pub fn to_page(&self) -> Page<Post> {
        Page {
            items: self.items().to_vec(),
            next_cursor: self.next_cursor,
        }
    }
}

/// See [`PostPage::cache_key`]: the head's version and the page's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PageKey {
    pub version: Version,
    pub len: usize,
    pub more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PostId, PostRecord, Timestamp, UserId, UserSummary};
    use uuid::Uuid;

    fn posts(n: usize) -> Vec<Post> {
        let author = UserSummary {
            id: UserId::from_uuid(Uuid::now_v7()),
            username: "ada".into(),
            name: None,
        };
        let mut all: Vec<Post> = (0..n)
            .map(|i| {
                let record = PostRecord {
                    id: PostId::from_uuid(Uuid::now_v7()),
                    author_id: author.id,
                    content: format!("post {i}"),
                    created_at: Timestamp::from_unix_millis(i as i64),
                };
                Post::new(record, author.clone())
            })
            .collect();
        all.reverse();
        all
    }

    fn head(n: usize, version: u128) -> Versioned<Vec<Post>> {
        Versioned {
            version: Version::from_u128(version),
            value: Arc::new(posts(n)),
        }
    }

    #[test]
    fn a_window_is_the_first_page_of_its_head_without_copying() {
        let head = head(5, 1);
        let page = PostPage::window(&head, Limit::new(2).unwrap());
        assert_eq!(page.items(), &head.value[..2]);
        assert_eq!(
            page.next_cursor().unwrap().key(),
            head.value[1].id.as_uuid()
        );
        assert!(std::ptr::eq(page.items().as_ptr(), head.value.as_ptr()));
        let all = PostPage::window(&head, Limit::new(5).unwrap());
        assert_eq!(all.items().len(), 5);
        assert_eq!(all.next_cursor(), None);
        let empty = PostPage::window(&self::head(0, 2), Limit::DEFAULT);
        assert!(empty.items().is_empty());
        assert_eq!(empty.next_cursor(), None);
    }

    #[test]
    fn equal_keys_mean_equal_pages() {
        let head = head(30, 7);
        let a = PostPage::window(&head, Limit::new(20).unwrap());
        let b = PostPage::window(&head.clone(), Limit::new(20).unwrap());
        assert_eq!(a.cache_key(), b.cache_key());
        let other_limit = PostPage::window(&head, Limit::new(21).unwrap());
        assert_ne!(a.cache_key(), other_limit.cache_key());
        let reloaded = Versioned {
            version: Version::from_u128(8),
            value: head.value.clone(),
        };
        assert_ne!(
            a.cache_key(),
            PostPage::window(&reloaded, Limit::new(20).unwrap()).cache_key()
        );
        let owned = PostPage::owned(a.to_page());
        assert_eq!(owned.cache_key(), None);
        assert_eq!(owned.items(), a.items());
    }
}
