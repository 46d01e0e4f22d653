//! `X-Request-Id`: echo a sane incoming id, otherwise let tower-http generate one.

use axum::extract::Request;
use axum::http::HeaderName;
use axum::middleware::Next;
use axum::response::Response;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Drops an incoming id that is too long or has characters outside `[A-Za-z0-9._-]`, so a
/// client cannot inject text into our logs; `SetRequestIdLayer` then generates a fresh one.
pub async fn sanitize(mut req: Request, next: Next) -> Response {
    let ok = req
        .headers()
        .get(&X_REQUEST_ID)
        .map(|v| is_acceptable(v.as_bytes()));
    if ok == Some(false) {
        req.headers_mut().remove(&X_REQUEST_ID);
    }
    next.run(req).await
}

fn is_acceptable(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::is_acceptable;

    #[test]
    fn accepts_only_short_safe_ids() {
        assert!(is_acceptable(b"abc-123_x.y"));
        assert!(is_acceptable(&[b'a'; 128]));
        assert!(!is_acceptable(&[b'a'; 129]));
        assert!(!is_acceptable(b""));
        assert!(!is_acceptable(b"has space"));
        assert!(!is_acceptable(b"new\nline"));
    }
}
