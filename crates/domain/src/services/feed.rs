use std::sync::Arc;

use crate::error::PostError;
use crate::model::{Page, PageRequest, Post, UserId};
use crate::ports::PostRepository;

use super::Authors;

/// The home timeline: the user's own posts and those of everyone they follow.
///
/// Computed on read (pull). Correct at any size and cheap while follow lists are small; the
/// fan-out store of the scaling path replaces the query, not this service's contract.
#[derive(Clone)]
pub struct FeedService {
    posts: Arc<dyn PostRepository>,
    authors: Authors,
}

impl FeedService {
    pub fn new(posts: Arc<dyn PostRepository>, authors: Authors) -> Self {
        FeedService { posts, authors }
    }

    pub async fn feed(&self, user: UserId, page: PageRequest) -> Result<Page<Post>, PostError> {
        let rows = self.posts.feed(user, page.keyset()).await?;
        let page = Page::from_rows(rows, page.limit, |r| r.id.as_uuid());
        Ok(Page {
            items: self.authors.hydrate(page.items).await?,
            next_cursor: page.next_cursor,
        })
    }
}
