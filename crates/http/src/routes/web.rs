//! The web client: a page, a stylesheet and a few ES modules, embedded in the binary and served
//! at fixed paths. It is not part of the JSON API (the OpenAPI document does not list it): the
//! page is a client of that API, like any other.
//!
//! Embedded so one binary still serves everything with no files to deploy beside it and no
//! network; served with a Content-Security-Policy that allows no inline script or style, so
//! even a rendering bug cannot run text a user posted.

use std::fmt::Write;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderValue, Response, StatusCode};
use sha2::{Digest, Sha256};

/// Everything the client may load is its own origin's; nothing inline, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// One embedded file and the path it is served at.
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $kind:expr, $file:literal) => {
        Asset {
            path: $path,
            content_type: $kind,
            body: include_bytes!(concat!("../../web/", $file)),
        }
    };
}

/// The whole client. `/` is its only HTML path: views are hash routes (`#/u/alice`).
pub static ASSETS: &[Asset] = &[
    asset!("/", HTML, "index.html"),
    asset!("/app.css", CSS, "app.css"),
    asset!("/app.js", JS, "app.js"),
    asset!("/app/api.js", JS, "app/api.js"),
    asset!("/app/dom.js", JS, "app/dom.js"),
    asset!("/app/session.js", JS, "app/session.js"),
    asset!("/app/lists.js", JS, "app/lists.js"),
    asset!("/app/live.js", JS, "app/live.js"),
    asset!("/app/timelines.js", JS, "app/timelines.js"),
    asset!("/app/account.js", JS, "app/account.js"),
    asset!("/app/profiles.js", JS, "app/profiles.js"),
    asset!("/app/settings.js", JS, "app/settings.js"),
];

/// The handler of one asset. Its validator is computed here, once, when the router is built.
pub fn serve(
    asset: &'static Asset,
) -> impl Fn(Request) -> std::future::Ready<Response<Body>> + Clone {
    let served = Served {
        body: Bytes::from_static(asset.body),
        content_type: HeaderValue::from_static(asset.content_type),
        etag: etag(asset.body),
    };
    move |req: Request| std::future::ready(served.respond(&req))
}

#[derive(Clone)]
struct Served {
    body: Bytes,
    content_type: HeaderValue,
    /// `None` only if the tag were not a valid header value, which hex digits always are.
    etag: Option<HeaderValue>,
}

impl Served {
    fn respond(&self, req: &Request) -> Response<Body> {
        let unchanged = match (&self.etag, req.headers().get(header::IF_NONE_MATCH)) {
            (Some(tag), Some(wanted)) => if_none_match_hits(wanted.as_bytes(), tag.as_bytes()),
            _ => false,
        };
        let mut res = if unchanged {
            let mut res = Response::new(Body::empty());
            *res.status_mut() = StatusCode::NOT_MODIFIED;
            res
        } else {
            let mut res = Response::new(Body::from(self.body.clone()));
            res.headers_mut()
                .insert(header::CONTENT_TYPE, self.content_type.clone());
            res
        };
        let headers = res.headers_mut();
        if let Some(tag) = &self.etag {
            headers.insert(header::ETAG, tag.clone());
        }
        // Revalidate every time: a deploy changes the files at the same paths, and a 304
        // costs one small round trip.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        res
    }
}

/// A weak tag: the compression layer outside sends these bytes as br, gzip or identity, and a
/// strong tag would claim the encodings are byte-for-byte the same.
fn etag(body: &[u8]) -> Option<HeaderValue> {
    let digest = Sha256::digest(body);
    let mut tag = String::from("W/\"");
    for b in &digest[..12] {
        // Writing to a String cannot fail.
        let _ = write!(tag, "{b:02x}");
    }
    tag.push('"');
    HeaderValue::try_from(tag).ok()
}

/// `If-None-Match` by weak comparison (RFC 9110 §13.1.2): `*`, or any listed tag with the same
/// opaque part, weak or not.
fn if_none_match_hits(wanted: &[u8], tag: &[u8]) -> bool {
    let Ok(wanted) = std::str::from_utf8(wanted) else {
        return false;
    };
    let Ok(tag) = std::str::from_utf8(tag) else {
        return false;
    };
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let mine = opaque(tag);
    wanted
        .split(',')
        .any(|t| t.trim() == "*" || opaque(t) == mine)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_match_weakly_in_lists_and_by_star() {
        let tag = b"W/\"abc\"";
        assert!(if_none_match_hits(b"W/\"abc\"", tag));
        assert!(if_none_match_hits(b"\"abc\"", tag));
        assert!(if_none_match_hits(b"\"x\", W/\"abc\"", tag));
        assert!(if_none_match_hits(b"*", tag));
        assert!(!if_none_match_hits(b"W/\"abd\"", tag));
        assert!(!if_none_match_hits(b"", tag));
        assert!(!if_none_match_hits(b"abc", tag));
    }

    #[test]
    fn each_file_has_its_own_stable_tag() {
        let tags: Vec<_> = ASSETS.iter().map(|a| etag(a.body)).collect();
        assert!(tags.iter().all(Option::is_some));
        for (i, a) in tags.iter().enumerate() {
            assert_eq!(a, &etag(ASSETS[i].body), "computed twice, the same");
            for b in &tags[i + 1..] {
                assert_ne!(a, b, "two files share a tag");
            }
        }
    }

    #[test]
    fn paths_are_unique_and_the_page_is_the_root() {
        let mut paths: Vec<_> = ASSETS.iter().map(|a| a.path).collect();
        assert_eq!(paths[0], "/");
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), ASSETS.len());
    }
}
