use std::sync::Arc;

use crate::cache::{Read, ReadCache, Write};
use crate::error::PostError;
use crate::model::{
    Fingerprint, IdempotencyKey, KeyClaim, KeyScope, Limit, Page, PageRequest, Post, PostContent,
    PostId, PostPage, PostRecord, UserId,
};
use crate::ports::{Clock, IdGenerator, PostRepository};

use super::idempotency::Claimed;
use super::{Authors, IdempotencyService, Ports};

/// A head holds one more post than the largest page, so every first page is a window onto it
/// and still knows whether another page follows.
fn head_request() -> PageRequest {
    PageRequest::first(Limit::new(Limit::MAX).unwrap_or(Limit::DEFAULT))
}

/// The cached head of one author's posts: first pages of `GET /users/:id/posts`, and the
/// fan-out feed's merge of the reader's own and pulled authors' posts.
pub(crate) async fn author_head(
    cache: &ReadCache,
    posts: &Arc<dyn PostRepository>,
    authors: &Authors,
    author: UserId,
) -> Result<crate::model::Versioned<Vec<Post>>, crate::error::StoreError> {
    cache
        .head(Read::AuthorHead(author), || async move {
            let records = posts.by_author(author, head_request().keyset()).await?;
            authors.hydrate(records).await
        })
        .await
}

/// Writing, reading and deleting posts; the global and per-user timelines.
#[derive(Clone)]
pub struct PostService {
    posts: Arc<dyn PostRepository>,
    cache: ReadCache,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    authors: Authors,
    keys: IdempotencyService,
}

impl PostService {
    pub fn new(
        ports: &Ports,
        cache: ReadCache,
        authors: Authors,
        keys: IdempotencyService,
    ) -> Self {
        PostService {
            posts: ports.posts.clone(),
            cache,
            clock: ports.clock.clone(),
            ids: ports.ids.clone(),
            authors,
            keys,
        }
    }

    pub async fn create(&self, author: UserId, content: &str) -> Result<Post, PostError> {
        self.create_with_key(author, content, None).await
    }

    /// With a key, a retry of the same request (same author, same content) is answered with
    /// the post the first one created, and writes nothing; the same key with other content is
    /// `KeyReused`. The replayed post embeds its author's current summary, as every read does.
    pub async fn create_with_key(
        &self,
        author: UserId,
        content: &str,
        key: Option<&IdempotencyKey>,
    ) -> Result<Post, PostError> {
        let content = PostContent::parse(content)?;
        let mut record = PostRecord {
            id: PostId::from_uuid(self.ids.new_id()),
            author_id: author,
            content: content.into_string(),
            created_at: self.clock.now(),
        };
        let created = match key {
            None => self.posts.create(&record).await?,
            Some(key) => {
                let claim = KeyClaim {
                    scope: KeyScope::user(author),
                    key: key.clone(),
                    fingerprint: Fingerprint::of("posts.create")
                        .field("content", Some(&record.content))
                        .finish(),
                };
                let posts = &self.posts;
                match self
                    .keys
                    .write(&claim, || posts.create_keyed(&record, &claim))
                    .await?
                {
                    Claimed::Written(created) => created,
                    Claimed::Replay(first) => {
                        record.id = PostId::from_uuid(first.resource);
                        record.created_at = first.created_at;
                        true
                    }
                    Claimed::Reused => return Err(PostError::KeyReused),
                }
            }
        };
        if !created {
            return Err(PostError::UserNotFound);
        }
        // Before answering, so the author's very next read already sees the post (a replay
        // too: the first request may have died between its commit and this).
        self.cache.written(Write::Post { author }).await;
        let author = self
            .authors
            .get(author)
            .await?
            .ok_or(PostError::UserNotFound)?;
        Ok(Post::new(record, author))
    }

    pub async fn get(&self, id: PostId) -> Result<Post, PostError> {
        let posts = &self.posts;
        let record = self
            .cache
            .post(id, || async move { posts.by_id(id).await })
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
            .written(Write::Delete {
                author: user,
                post: id,
            })
            .await;
        Ok(())
    }

    /// The global timeline. First pages are windows onto one cached head of the newest posts;
    /// later pages go to the store by keyset.
    pub async fn timeline(&self, page: PageRequest) -> Result<PostPage, PostError> {
        if page.after.is_some() {
            let rows = self.posts.latest(page.keyset()).await?;
            return Ok(PostPage::owned(self.page(rows, page).await?));
        }
        let (posts, authors) = (&self.posts, &self.authors);
        let head = self
            .cache
            .head(Read::GlobalHead, || async move {
                let records = posts.latest(head_request().keyset()).await?;
                authors.hydrate(records).await
            })
            .await?;
        Ok(PostPage::window(&head, page.limit))
    }

    /// One author's posts, newest first; 404 for an unknown author. First pages come from a
    /// cached head of the author's newest posts, like the global timeline's.
    pub async fn by_author(
        &self,
        author: UserId,
        page: PageRequest,
    ) -> Result<PostPage, PostError> {
        if !self.authors.exists(author).await? {
            return Err(PostError::UserNotFound);
        }
        if page.after.is_some() {
            let rows = self.posts.by_author(author, page.keyset()).await?;
            return Ok(PostPage::owned(self.page(rows, page).await?));
        }
        let head = author_head(&self.cache, &self.posts, &self.authors, author).await?;
        Ok(PostPage::window(&head, page.limit))
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
