use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{assert_error, spawn_app};

#[tokio::test]
async fn health_probes() {
    let app = spawn_app().await;
    let live: Value = app.get("/health/liveness").await.json().await.unwrap();
    assert_eq!(live["status"], "alive");
    let res = app.get("/health/readiness").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "ready");

    let res = app.get("/health").await;
    assert_eq!(res.status(), StatusCode::OK);
    let h: Value = res.json().await.unwrap();
    assert_eq!(h["status"], "ok");
    assert_eq!(h["backends"]["database"], crate::helpers::DATABASE_BACKEND);
    assert_eq!(h["backends"]["cache"], "local");
    assert_eq!(h["backends"]["rateLimit"], "local");
    assert_eq!(h["services"]["database"], "healthy");
    assert_eq!(h["services"]["cache"], "healthy");
    assert!(h["uptime"].is_number());
    assert!(h["version"].is_string());
    assert!(h["timestamp"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn metrics_expose_requests_and_cache_counters() {
    let app = spawn_app().await;
    app.get("/posts").await;
    app.get("/posts").await;
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains("route=\"/posts\""), "{text}");
    // Only the names here: the recorder is process-global, so whether this test's requests
    // moved the cache counters is checked in a binary of its own (tests/metrics.rs).
    assert!(text.contains("cache_requests_total"), "{text}");
}

#[tokio::test]
async fn openapi_document_and_docs_page() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/auth/signup",
        "/auth/login",
        "/auth/logout",
        "/users/me",
        "/users/me/api-keys",
        "/users/me/api-keys/{id}",
        "/users/profile",
        "/users/{id}",
        "/users/by-username/{username}",
        "/users/follow/{id}",
        "/users/{id}/followers",
        "/users/{id}/following",
        "/users/{id}/posts",
        "/posts",
        "/posts/{id}",
        "/feed",
        "/health",
        "/health/readiness",
        "/health/liveness",
        "/metrics",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let api_key = &doc["components"]["securitySchemes"]["apiKey"];
    assert_eq!(
        (api_key["in"].as_str(), api_key["name"].as_str()),
        (Some("header"), Some("X-API-Key"))
    );
    for schema in [
        "ApiKeyDto",
        "CreatedApiKeyDto",
        "ApiKeyList",
        "CreateApiKeyRequest",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
    // Keys are managed with a bearer token only; everything else also takes a key.
    let create = &paths["/users/me/api-keys"]["post"]["security"];
    assert_eq!(create.as_array().unwrap().len(), 1, "{create}");
    let me = &paths["/users/me"]["get"]["security"];
    assert_eq!(me.as_array().unwrap().len(), 2, "{me}");
    let res = app.get("/docs").await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    let res = app.get("/docs/swagger-ui.css").await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json() {
    let app = spawn_app().await;
    assert_error(
        app.get("/nope").await,
        StatusCode::NOT_FOUND,
        "NotFoundError",
    )
    .await;
    let res = app.request(Method::PATCH, "/posts").send().await.unwrap();
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowedError").await;
    let res = app.request(Method::DELETE, "/health").send().await.unwrap();
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowedError").await;
}

#[tokio::test]
async fn request_ids_are_echoed_only_when_sane() {
    let app = spawn_app().await;
    let res = app
        .request(Method::GET, "/health/liveness")
        .header("x-request-id", "abc-123.X_y")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123.X_y");
    for bad in ["has space", &"a".repeat(129), "semi;colon"] {
        let res = app
            .request(Method::GET, "/posts")
            .header("x-request-id", bad)
            .send()
            .await
            .unwrap();
        let id = res.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(id, bad);
        assert!(!id.is_empty());
    }
    let res = app.get("/nope").await;
    assert!(res.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn large_responses_are_compressed_when_asked() {
    let app = spawn_app().await;
    let raw = raw_client();
    let res = raw
        .get(format!("{}/openapi.json", app.base))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-encoding"], "gzip");
    let res = raw
        .get(format!("{}/openapi.json", app.base))
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-encoding"], "br");
    let res = raw
        .get(format!("{}/health/liveness", app.base))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert!(
        res.headers().get("content-encoding").is_none(),
        "small bodies stay plain"
    );
}

#[tokio::test]
async fn cors_allows_configured_origins() {
    let app = spawn_app().await;
    let res = app
        .request(Method::GET, "/posts")
        .header("origin", "https://example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let strict = crate::helpers::spawn_app_with(&["--cors-origins", "https://good.example"]).await;
    let res = strict
        .request(Method::GET, "/posts")
        .header("origin", "https://good.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://good.example"
    );
    // The answer depends on the request's origin, so a cache must key by it.
    assert_eq!(res.headers()["vary"], "origin");
    let res = strict
        .request(Method::GET, "/posts")
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn compression_serves_zstd_and_follows_the_clients_preference() {
    let app = spawn_app().await;
    let raw = raw_client();
    for (accept, expected) in [
        ("zstd", "zstd"),
        ("gzip;q=0.5, zstd;q=0.9, br;q=0.1", "zstd"),
        ("zstd;q=0.2, gzip, br;q=0.8", "gzip"),
        ("gzip;q=0.3, br;q=0.7, zstd;q=0.4", "br"),
        ("br;q=0, zstd;q=0.1", "zstd"),
    ] {
        let res = raw
            .get(format!("{}/openapi.json", app.base))
            .header("accept-encoding", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-encoding"], expected, "{accept}");
    }
}

#[tokio::test]
async fn default_cors_allows_any_origin_without_credentials() {
    let app = spawn_app().await;
    let res = app
        .request(Method::GET, "/posts")
        .header("origin", "https://example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    assert!(!res
        .headers()
        .contains_key("access-control-allow-credentials"));
    // `*` whatever the origin: nothing for a cache to vary by.
    let vary = res.headers().get_all("vary").iter();
    assert!(vary
        .filter_map(|v| v.to_str().ok())
        .all(|v| !v.contains("origin")));
    let preflight = app
        .request(Method::OPTIONS, "/posts")
        .header("origin", "https://example.org")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    assert!(!preflight
        .headers()
        .contains_key("access-control-allow-credentials"));
}

#[tokio::test]
async fn only_validation_errors_carry_details() {
    let app = spawn_app().await;
    let a = app.signup("detail_a").await;
    let b = app.signup("detail_b").await;
    assert_eq!(app.follow(&a, &b).await.status(), StatusCode::CREATED);
    let post = app.create_post(&b, "not yours").await;
    let cases = [
        (app.get("/users/me").await, StatusCode::UNAUTHORIZED),
        (
            app.request(
                Method::DELETE,
                &format!("/posts/{}", post["id"].as_str().unwrap()),
            )
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap(),
            StatusCode::FORBIDDEN,
        ),
        (app.get("/posts/nope").await, StatusCode::NOT_FOUND),
        (app.get("/nope").await, StatusCode::NOT_FOUND),
        (
            app.request(Method::PATCH, "/posts").send().await.unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (app.follow(&a, &b).await, StatusCode::CONFLICT),
        (
            app.request(Method::POST, "/auth/login")
                .header("content-type", "text/plain")
                .body("hi")
                .send()
                .await
                .unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for (res, status) in cases {
        assert_eq!(res.status(), status);
        let body: Value = res.json().await.unwrap();
        assert!(body["type"].is_string(), "{body}");
        assert!(body.get("details").is_none(), "{status}: {body}");
    }
    // The contrast: a broken rule does carry them.
    let res = app
        .post_json("/posts", serde_json::json!({"content": ""}), Some(&a.token))
        .await;
    let body = assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
    assert_eq!(body["details"][0]["field"], "content");
}

/// Sends `head` + `body` on a fresh connection (closed after the answer) and returns the
/// status line's code and the body.
async fn raw(addr: std::net::SocketAddr, head: &str, body: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("{head}connection: close\r\n\r\n{body}").as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        stream.read_to_end(&mut answer),
    );
    read.await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&answer);
    let status = text[9..12].parse().unwrap();
    let (_, body) = text.split_once("\r\n\r\n").unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// "Request body is required" is for a request with no body at all: a body without a JSON
/// content type is 415, and a JSON body sent chunked (no Content-Length) is read.
#[tokio::test]
async fn a_body_is_missing_only_when_nothing_was_sent() {
    let app = spawn_app().await;
    let login = r#"{"email":"nobody@example.com","password":"whatever1"}"#;

    let (status, body) = raw(
        app.addr,
        &format!(
            "POST /auth/login HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\n",
            login.len()
        ),
        login,
    )
    .await;
    assert_eq!(status, 415, "{body}");
    assert_eq!(body["type"], "UnsupportedMediaTypeError", "{body}");

    let chunked = format!("{:x}\r\n{login}\r\n0\r\n\r\n", login.len());
    let (status, body) = raw(
        app.addr,
        "POST /auth/login HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\n",
        &chunked,
    )
    .await;
    assert_eq!(status, 401, "the chunked body was read: {body}");
}

/// A client that shows the body as sent: it asks for no encoding by itself and decodes none.
fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .no_gzip()
        .no_brotli()
        .no_zstd()
        .no_deflate()
        .build()
        .unwrap()
}
