//! Rendered JSON of post pages, so a page many requests share is serialised once.
//!
//! A first page of a timeline is a window onto a cached head whose version changes whenever
//! the head does (see `domain::cache`). Its JSON is kept under the page's key (that version
//! and the page's shape): equal keys are equal pages, so the bytes are exactly as fresh as the
//! head, on this instance and on any other reading the same shared value.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use domain::model::{PageKey, PostPage};

use crate::dto::PostsPage;
use crate::error::ApiError;

/// Room for the first pages of the global head at the common limits and of the authors being
/// read; when full the map starts over (a re-render each, no growth). Bounded in bytes, not
/// entries: pages of versions no longer current stay until then, and 4,096 entries of up to
/// 100 posts had kept tens of MiB after a storm (issue #10).
const MAX_BYTES: usize = 4 << 20;

#[derive(Default)]
pub struct RenderedPages {
    by_key: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    pages: HashMap<PageKey, Bytes>,
    bytes: usize,
}

impl RenderedPages {
    /// The page as a JSON response; from the rendered bytes when a page with the same key was
    /// rendered before.
    pub fn json(&self, page: &PostPage) -> Result<Response, ApiError> {
        let Some(key) = page.cache_key() else {
            return Ok(json_response(render(page)?));
        };
        {
            // Poisoning cannot leave an entry half-written (inserts are single calls).
            let cache = self.by_key.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(bytes) = cache.pages.get(&key) {
                return Ok(json_response(bytes.clone()));
            }
        }
        let bytes = render(page)?;
        let mut cache = self.by_key.lock().unwrap_or_else(|e| e.into_inner());
        if cache.bytes + bytes.len() > MAX_BYTES {
            *cache = Held::default();
        }
        if let Some(old) = cache.pages.insert(key, bytes.clone()) {
            cache.bytes -= old.len();
        }
        cache.bytes += bytes.len();
        Ok(json_response(bytes))
    }
}

fn render(page: &PostPage) -> Result<Bytes, ApiError> {
    serde_json::to_vec(&PostsPage::from(page))
        .map(Bytes::from)
        .map_err(|e| ApiError::Internal(format!("rendering a page: {e}")))
}

fn json_response(bytes: Bytes) -> Response {
    let mut res = Response::new(Body::from(bytes));
    // Room for every header the layers add to a page (length, request id, four `RateLimit-*`,
    // CORS): grown from empty, the map was reallocated twice per response.
    let headers = res.headers_mut();
    headers.reserve(16);
    headers.insert(header::CONTENT_TYPE, JSON.clone());
    res
}

static JSON: HeaderValue = HeaderValue::from_static("application/json");

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use domain::model::{
        Limit, Post, PostId, PostRecord, Timestamp, UserId, UserSummary, Version, Versioned,
    };
    use uuid::Uuid;

    use super::*;

    fn head(version: u128) -> Versioned<Vec<Post>> {
        let author = UserSummary {
            id: UserId::from_uuid(Uuid::now_v7()),
            username: "ada".into(),
            name: None,
        };
        let posts = (0..101)
            .map(|i| {
                let record = PostRecord {
                    id: PostId::from_uuid(Uuid::now_v7()),
                    author_id: author.id,
                    content: format!("post {i} {}", "x".repeat(200)),
                    created_at: Timestamp::from_unix_millis(i),
                };
                Post::new(record, author.clone())
            })
            .rev()
            .collect();
        Versioned {
            version: Version::from_u128(version),
            value: Arc::new(posts),
        }
    }

    /// Every new version of a head makes new keys; the pages of old versions must not pile up
    /// (a storm renders thousands), whatever their count.
    #[test]
    fn the_rendered_pages_never_hold_more_than_their_byte_budget() {
        let rendered = RenderedPages::default();
        let limit = Limit::new(100).unwrap();
        for version in 0..500 {
            rendered
                .json(&PostPage::window(&head(version), limit))
                .unwrap();
            let held = rendered.by_key.lock().unwrap();
            let counted: usize = held.pages.values().map(Bytes::len).sum();
            assert_eq!(held.bytes, counted);
            assert!(held.bytes <= MAX_BYTES, "{} bytes held", held.bytes);
        }
    }

    #[test]
    fn a_page_rendered_before_is_served_from_its_bytes() {
        let rendered = RenderedPages::default();
        let head = head(1);
        let page = PostPage::window(&head, Limit::new(20).unwrap());
        rendered.json(&page).unwrap();
        rendered.json(&page).unwrap();
        let held = rendered.by_key.lock().unwrap();
        assert_eq!(held.pages.len(), 1);
        assert_eq!(
            held.bytes,
            held.pages.values().map(Bytes::len).sum::<usize>()
        );
    }
}
