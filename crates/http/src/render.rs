//! Rendered JSON of shared pages, so a page served many times is serialised once.
//!
//! The posts service hands out the same `Arc<Page<Post>>` for as long as a first page of the
//! global timeline is unchanged (see `domain::services::PostService::timeline`). Keyed by that
//! `Arc`'s identity, the bytes here are exactly as fresh as the page: a new page is a new `Arc`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use domain::model::{Page, Post};
use serde::Serialize;

use crate::error::ApiError;

/// More than the distinct first pages there can be (one per `limit`, 1..=100).
const MAX_ENTRIES: usize = 128;

/// A page and its JSON.
type Rendered = (Arc<Page<Post>>, Bytes);

#[derive(Default)]
pub struct RenderedPages {
    /// Keyed by the page's address; the entry keeps that `Arc` alive, so the address cannot be
    /// reused by another page while the entry exists.
    by_page: Mutex<HashMap<usize, Rendered>>,
}

impl RenderedPages {
    pub fn json<T: Serialize>(
        &self,
        page: &Arc<Page<Post>>,
        to_dto: impl FnOnce(&Page<Post>) -> T,
    ) -> Result<Response, ApiError> {
        let key = Arc::as_ptr(page) as usize;
        {
            // Poisoning cannot leave an entry half-written (inserts are single calls).
            let cache = self.by_page.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, bytes)) = cache.get(&key) {
                return Ok(json_response(bytes.clone()));
            }
        }
        let bytes = Bytes::from(
            serde_json::to_vec(&to_dto(page))
                .map_err(|e| ApiError::Internal(format!("rendering a page: {e}")))?,
        );
        let mut cache = self.by_page.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_ENTRIES {
            cache.clear();
        }
        cache.insert(key, (page.clone(), bytes.clone()));
        Ok(json_response(bytes))
    }
}

fn json_response(bytes: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}
