use std::sync::Arc;

use crate::error::PostError;
use crate::model::{Limit, Page, PageRequest, Post, PostContent, PostId, PostRecord, UserId};
use crate::ports::{Cache, Clock, IdGenerator, PostRepository};

use super::cached::{cached, Decoded, MEMO_ENTRIES};
use super::first_page::FirstPages;
use super::{keys, Authors, Ports, TTL_GLOBAL_HEAD, TTL_POST};

/// Writing, reading and deleting posts; the global and per-user timelines.
#[derive(Clone)]
pub struct PostService {
    posts: Arc<dyn PostRepository>,
    cache: Arc<dyn Cache>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    authors: Authors,
    post_memo: Arc<Decoded<PostRecord>>,
    /// One slot: the global head is a single key.
    head_memo: Arc<Decoded<Vec<Post>>>,
    first_pages: Arc<FirstPages>,
}

impl PostService {
    pub fn new(ports: &Ports, authors: Authors) -> Self {
        PostService {
            posts: ports.posts.clone(),
            cache: ports.cache.clone(),
            clock: ports.clock.clone(),
            ids: ports.ids.clone(),
            authors,
            post_memo: Arc::new(Decoded::new(MEMO_ENTRIES)),
            head_memo: Arc::new(Decoded::new(1)),
            first_pages: Arc::default(),
        }
    }

    pub async fn create(&self, author: UserId, content: &str) -> Result<Post, PostError> {
        let content = PostContent::parse(content)?;
        let record = PostRecord {
            id: PostId::from_uuid(self.ids.new_id()),
            author_id: author,
            content: content.into_string(),
            created_at: self.clock.now(),
        };
        if !self.posts.create(&record).await? {
            return Err(PostError::UserNotFound);
        }
        // Before answering, so the author's very next read already sees the post.
        self.cache.invalidate(&[keys::GLOBAL_HEAD.to_owned()]).await;
        let author = self
            .authors
            .get(author)
            .await?
            .ok_or(PostError::UserNotFound)?;
        Ok(Post::new(record, author))
    }

    pub async fn get(&self, id: PostId) -> Result<Post, PostError> {
        let posts = &self.posts;
        let record = cached(
            self.cache.as_ref(),
            &self.post_memo,
            &keys::post(id),
            TTL_POST,
            || async move { posts.by_id(id).await },
        )
        .await?
        .ok_or(PostError::NotFound)?;
        self.authors
            .hydrate(vec![PostRecord::clone(&record)])
            .await?
            .pop()
            .ok_or(PostError::NotFound)
    }

    /// Only the author may delete; afterwards the post is gone from every list and cache.
    pub async fn delete(&self, user: UserId, id: PostId) -> Result<(), PostError> {
        // The store, not the cache, decides who the author is.
        let record = self.posts.by_id(id).await?.ok_or(PostError::NotFound)?;
        if record.author_id != user {
            return Err(PostError::NotAuthor);
        }
        if !self.posts.delete(id, user).await? {
            return Err(PostError::NotFound);
        }
        self.cache
            .invalidate(&[keys::post(id), keys::GLOBAL_HEAD.to_owned()])
            .await;
        Ok(())
    }

    /// The global timeline. First pages are slices of one cached head of the newest posts;
    /// later pages go to the store by keyset.
    pub async fn timeline(&self, page: PageRequest) -> Result<Arc<Page<Post>>, PostError> {
        if page.after.is_some() {
            let rows = self.posts.latest(page.keyset()).await?;
            return Ok(Arc::new(self.page(rows, page).await?));
        }
        let (posts, authors) = (&self.posts, &self.authors);
        let head = cached(
            self.cache.as_ref(),
            &self.head_memo,
            keys::GLOBAL_HEAD,
            TTL_GLOBAL_HEAD,
            || async move {
                let everything =
                    PageRequest::first(Limit::new(Limit::MAX).unwrap_or(Limit::DEFAULT));
                let records = posts.latest(everything.keyset()).await?;
                authors.hydrate(records).await.map(Some)
            },
        )
        .await?
        .unwrap_or_default();
        let limit = page.limit.get();
        if let Some(built) = self.first_pages.get(limit, &head) {
            return Ok(built);
        }
        let rows = head.iter().take(limit + 1).cloned().collect();
        let built = Arc::new(Page::from_rows(rows, page.limit, |p: &Post| p.id.as_uuid()));
        self.first_pages.put(limit, head, built.clone());
        Ok(built)
    }

    /// One author's posts, newest first; 404 for an unknown author.
    pub async fn by_author(
        &self,
        author: UserId,
        page: PageRequest,
    ) -> Result<Page<Post>, PostError> {
        if self.authors.get(author).await?.is_none() {
            return Err(PostError::UserNotFound);
        }
        let rows = self.posts.by_author(author, page.keyset()).await?;
        self.page(rows, page).await
    }

    async fn page(
        &self,
        rows: Vec<PostRecord>,
        page: PageRequest,
    ) -> Result<Page<Post>, PostError> {
        let page = Page::from_rows(rows, page.limit, |r| r.id.as_uuid());
        let items = self.authors.hydrate(page.items).await?;
        Ok(Page {
            items,
            next_cursor: page.next_cursor,
        })
    }
}

#[cfg(test)]
mod tests;
