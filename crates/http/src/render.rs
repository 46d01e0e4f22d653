//! Rendered JSON of post pages, so a page many requests share is serialised once.
//!
//! A first page of a timeline is a window onto a cached head whose version changes whenever
//! the head does (see `domain::cache`). Its JSON is kept under the page's key (that version
//! and the page's shape): equal keys are equal pages, so the bytes are exactly as fresh as the
//! head, on this instance and on any other reading the same shared value.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use domain::model::{PageKey, PostPage};

use crate::dto::PostsPage;
use crate::error::ApiError;

/// Room for the first pages of the global head at every limit and of the authors being read;
/// when full the map starts over (a re-render each, no growth).
const MAX_ENTRIES: usize = 4096;

#[derive(Default)]
pub struct RenderedPages {
    by_key: Mutex<HashMap<PageKey, Bytes>>,
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
            if let Some(bytes) = cache.get(&key) {
                return Ok(json_response(bytes.clone()));
            }
        }
        let bytes = render(page)?;
        let mut cache = self.by_key.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_ENTRIES {
            cache.clear();
        }
        cache.insert(key, bytes.clone());
        Ok(json_response(bytes))
    }
}

fn render(page: &PostPage) -> Result<Bytes, ApiError> {
    serde_json::to_vec(&PostsPage::from(page))
        .map(Bytes::from)
        .map_err(|e| ApiError::Internal(format!("rendering a page: {e}")))
}

fn json_response(bytes: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}
