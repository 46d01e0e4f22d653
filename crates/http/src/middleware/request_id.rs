//! `X-Request-Id`: echo a sane incoming id, otherwise generate one; the same id goes on the
//! request (for the log line's span) and, by `edge`, on the response.

use axum::http::{HeaderName, HeaderValue, Request};
use uuid::Uuid;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// An incoming id that is too long or has characters outside `[A-Za-z0-9._-]` is replaced, so
/// a client cannot inject text into our logs.
fn is_acceptable(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A random UUID, formatted on the stack (one allocation: the header's own bytes).
fn generate() -> HeaderValue {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

/// The request's id: a sane incoming one, else a fresh one written into the request (so the
/// span and the handlers see the id the response will carry).
pub fn request_id<B>(req: &mut Request<B>) -> HeaderValue {
    match req.headers().get(&X_REQUEST_ID) {
        Some(v) if is_acceptable(v.as_bytes()) => v.clone(),
        _ => {
            let id = generate();
            req.headers_mut().insert(X_REQUEST_ID.clone(), id.clone());
            id
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{generate, is_acceptable};

    #[test]
    fn accepts_only_short_safe_ids() {
        assert!(is_acceptable(b"abc-123_x.y"));
        assert!(is_acceptable(&[b'a'; 128]));
        assert!(!is_acceptable(&[b'a'; 129]));
        assert!(!is_acceptable(b""));
        assert!(!is_acceptable(b"has space"));
        assert!(!is_acceptable(b"new\nline"));
    }

    #[test]
    fn generated_ids_are_fresh_acceptable_uuids() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(is_acceptable(a.as_bytes()));
        assert_eq!(a.len(), 36);
    }
}
