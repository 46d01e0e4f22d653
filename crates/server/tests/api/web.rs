//! The web client's files at `/`: served with their types and security headers, revalidated
//! by ETag, referring only to each other, and leaving every other path to the JSON API.

use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{assert_error, spawn_app, TestApp};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

fn assert_client_headers(headers: &HeaderMap, path: &str) {
    assert_eq!(
        header_str(headers, "content-security-policy"),
        CSP,
        "{path}"
    );
    assert_eq!(
        header_str(headers, "x-content-type-options"),
        "nosniff",
        "{path}"
    );
    assert_eq!(
        header_str(headers, "referrer-policy"),
        "no-referrer",
        "{path}"
    );
    assert_eq!(header_str(headers, "cache-control"), "no-cache", "{path}");
    assert!(header_str(headers, "etag").starts_with("W/\""), "{path}");
}

/// Every tag of `html`, as its name and attribute names (lower-cased), in order.
fn tags(html: &str) -> Vec<(String, Vec<String>)> {
    html.split('<')
        .skip(1)
        .filter(|t| !t.starts_with('!') && !t.starts_with('/'))
        .map(|t| {
            let inside = t.split('>').next().unwrap().trim_end_matches('/');
            let mut words = inside.split_whitespace();
            let name = words.next().unwrap().to_lowercase();
            let attrs = words
                .map(|w| w.split('=').next().unwrap().to_lowercase())
                .collect();
            (name, attrs)
        })
        .collect()
}

/// The values of `attr="…"` in `text`.
fn quoted_after<'a>(text: &'a str, attr: &str) -> Vec<&'a str> {
    text.split(attr)
        .skip(1)
        .filter_map(|rest| rest.strip_prefix('"').or_else(|| rest.strip_prefix('\'')))
        .filter_map(|rest| rest.split(['"', '\'']).next())
        .collect()
}

async fn fetch(app: &TestApp, path: &str) -> (HeaderMap, String) {
    let res = app.get(path).await;
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    let headers = res.headers().clone();
    (headers, res.text().await.unwrap())
}

#[tokio::test]
async fn the_root_is_the_client_page_with_its_policy_and_nothing_inline() {
    let app = spawn_app().await;
    let (headers, html) = fetch(&app, "/").await;
    assert_eq!(
        header_str(&headers, "content-type"),
        "text/html; charset=utf-8"
    );
    assert_client_headers(&headers, "/");
    assert!(html.starts_with("<!doctype html>"), "{html}");

    let tags = tags(&html);
    let scripts: Vec<_> = tags.iter().filter(|(n, _)| n == "script").collect();
    assert_eq!(scripts.len(), 1, "one entry module");
    // A script element is only ever a reference: its body is empty.
    for body in html.split("<script").skip(1) {
        let after_open = body.split_once('>').unwrap().1;
        assert!(after_open.starts_with("</script>"), "inline script: {body}");
    }
    assert!(scripts[0].1.contains(&"src".to_owned()));
    for (name, attrs) in &tags {
        assert_ne!(name, "style", "a <style> element");
        for attr in attrs {
            assert_ne!(attr, "style", "a style attribute on <{name}>");
            assert!(
                !attr.starts_with("on"),
                "an inline handler {attr} on <{name}>"
            );
        }
    }
}

#[tokio::test]
async fn every_file_the_client_refers_to_is_served_with_its_type() {
    let app = spawn_app().await;
    let (_, html) = fetch(&app, "/").await;
    let mut pending: Vec<String> = quoted_after(&html, "src=")
        .into_iter()
        .chain(quoted_after(&html, "href="))
        .filter(|p| p.starts_with('/') && !p.starts_with("/docs"))
        .map(str::to_owned)
        .collect();
    assert!(pending.contains(&"/app.css".to_owned()), "{pending:?}");
    assert!(pending.contains(&"/app.js".to_owned()), "{pending:?}");
    let mut checked = Vec::new();
    while let Some(path) = pending.pop() {
        if checked.contains(&path) {
            continue;
        }
        let (headers, body) = fetch(&app, &path).await;
        assert_client_headers(&headers, &path);
        let kind = header_str(&headers, "content-type");
        assert!(!body.is_empty(), "{path}");
        // Only this origin: nothing the page loads may come from elsewhere.
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{path}"
        );
        if path.ends_with(".css") {
            assert_eq!(kind, "text/css; charset=utf-8", "{path}");
        } else {
            assert!(path.ends_with(".js"), "{path}");
            assert_eq!(kind, "text/javascript; charset=utf-8", "{path}");
            assert!(!body.contains("innerHTML"), "{path} renders text as HTML");
            // Each module's own imports, resolved against its path.
            let dir = &path[..=path.rfind('/').unwrap()];
            for import in quoted_after(&body, "from ") {
                let resolved = match import.strip_prefix("./") {
                    Some(rest) => format!("{dir}{rest}"),
                    None => panic!("{path} imports {import}, not a sibling module"),
                };
                pending.push(resolved);
            }
        }
        checked.push(path);
    }
    assert!(checked.len() >= 4, "{checked:?}");
}

#[tokio::test]
async fn an_unchanged_file_is_answered_304_and_a_stale_tag_gets_the_file() {
    let app = spawn_app().await;
    for path in ["/", "/app.js", "/app.css"] {
        let (headers, body) = fetch(&app, path).await;
        let tag = header_str(&headers, "etag").to_owned();
        let (again, _) = fetch(&app, path).await;
        assert_eq!(
            header_str(&again, "etag"),
            tag,
            "{path}: the same tag each time"
        );

        for sent in [tag.clone(), format!("\"other\", {tag}"), "*".to_owned()] {
            let res = app
                .request(Method::GET, path)
                .header(header::IF_NONE_MATCH, &sent)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::NOT_MODIFIED, "{path} {sent}");
            assert_eq!(header_str(res.headers(), "etag"), tag);
            assert_eq!(header_str(res.headers(), "cache-control"), "no-cache");
            assert!(res.bytes().await.unwrap().is_empty());
        }

        let res = app
            .request(Method::GET, path)
            .header(header::IF_NONE_MATCH, "W/\"0123456789abcdef\"")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(res.text().await.unwrap(), body, "{path}");
    }
    let page = fetch(&app, "/").await.0;
    let script = fetch(&app, "/app.js").await.0;
    assert_ne!(header_str(&page, "etag"), header_str(&script, "etag"));
}

#[tokio::test]
async fn files_over_a_kibibyte_are_compressed_under_the_same_tag() {
    let app = spawn_app().await;
    let (plain, body) = fetch(&app, "/app.js").await;
    assert!(
        body.len() > 1024,
        "the test needs a file above the threshold"
    );
    let res = app
        .request(Method::GET, "/app.js")
        .header(header::ACCEPT_ENCODING, "br")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header_str(res.headers(), "content-encoding"), "br");
    assert_eq!(
        header_str(res.headers(), "etag"),
        header_str(&plain, "etag")
    );
    assert!(header_str(res.headers(), "vary")
        .to_ascii_lowercase()
        .contains("accept-encoding"));
}

#[tokio::test]
async fn other_paths_stay_the_json_api_and_the_client_is_not_rate_limited() {
    let app = spawn_app().await;
    for path in [
        "/nope",
        "/index.html",
        "/app",
        "/app/",
        "/app/nope.js",
        "/app.js/x",
    ] {
        assert_error(app.get(path).await, StatusCode::NOT_FOUND, "NotFoundError").await;
    }
    let res = app.request(Method::POST, "/").send().await.unwrap();
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowedError").await;

    let res = app.get("/").await;
    assert!(res.headers().get("ratelimit-limit").is_none());
    let res = app.get("/posts").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("ratelimit-limit").is_some());

    // The client is not part of the JSON API's document.
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();
    assert!(
        paths.keys().all(|p| p != "/" && !p.starts_with("/app")),
        "{paths:?}"
    );
}
