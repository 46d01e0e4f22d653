//! The binary's log lines: each request's line carries its request id, and no credential of any
//! kind reaches any line, at the default level or the most verbose one.

use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

use crate::support::{kill, start, Server};

const PASSWORD: &str = "Kestrel-Quartz-7391-pw";
const WRONG_PASSWORD: &str = "Walrus-Basalt-5523-pw";
const JWT_SECRET: &str = "e2e-jwt-secret-Osprey-0193-never-logged";

fn client() -> Client {
    Client::builder().no_proxy().build().unwrap()
}

#[tokio::test]
async fn a_request_log_line_carries_that_request_id() {
    let mut server = start(&[]).await;
    let url = format!("http://{}/health/liveness", server.addr);
    let client = client();

    let res = client
        .get(&url)
        .header("x-request-id", "e2e-req.42_A")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "e2e-req.42_A");
    let line = request_line(&mut server, "e2e-req.42_A").await;
    assert_eq!(line["status"], 200);
    assert_eq!(line["span"]["method"], "GET");
    assert_eq!(line["span"]["path"], "/health/liveness");

    // An id the server refuses to echo (it could forge log text) is replaced, in the response
    // and in the log line alike.
    let res = client
        .get(&url)
        .header("x-request-id", "forged id\" level=ERROR")
        .send()
        .await
        .unwrap();
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(!generated.contains("forged"), "{generated}");
    let line = request_line(&mut server, &generated).await;
    assert_eq!(line["span"]["path"], "/health/liveness");

    kill(server.pid(), "TERM");
    assert!(server.wait_exit().await.success());
    let output = server.all_output();
    assert!(!output.iter().any(|l| l.contains("forged")), "{output:#?}");
}

/// The `request` line logged for the request with id `id`.
async fn request_line(server: &mut Server, id: &str) -> Value {
    server
        .wait_for_log(|l| l["message"] == "request" && l["span"]["request_id"] == id)
        .await
}

#[tokio::test]
async fn no_credential_reaches_the_log_at_info() {
    no_credential_reaches_the_log("info").await;
}

#[tokio::test]
async fn no_credential_reaches_the_log_at_trace() {
    no_credential_reaches_the_log("trace").await;
}

/// Counts what it sends, so the scan can check every request was logged.
struct Api {
    client: Client,
    base: String,
    sent: usize,
}

impl Api {
    async fn call(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(req).await
    }

    async fn send(&mut self, req: RequestBuilder) -> Response {
        self.sent += 1;
        req.send().await.unwrap()
    }
}

/// Drives every route that handles a password or a token, then scans every line the process
/// printed for the passwords, the hash, the tokens and the signing secret.
async fn no_credential_reaches_the_log(level: &str) {
    let mut server = start(&[("LOG_LEVEL", level), ("JWT_SECRET", JWT_SECRET)]).await;
    let mut api = Api {
        client: client(),
        base: format!("http://{}", server.addr),
        sent: 0,
    };

    let mut tokens = Vec::new();
    let mut ids = Vec::new();
    for name in ["logwriter", "logreader"] {
        let signup =
            json!({"email": format!("{name}@example.com"), "password": PASSWORD, "username": name});
        let res = api
            .call(Method::POST, "/auth/signup", None, Some(signup))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: Value = res.json().await.unwrap();
        tokens.push(body["token"].as_str().unwrap().to_owned());
        ids.push(body["user"]["id"].as_str().unwrap().to_owned());
    }
    let login = json!({"email": "logwriter@example.com", "password": PASSWORD});
    let res = api
        .call(Method::POST, "/auth/login", None, Some(login))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    tokens.push(body["token"].as_str().unwrap().to_owned());
    let (writer, reader) = (tokens[2].clone(), tokens[1].clone());

    let wrong = json!({"email": "logwriter@example.com", "password": WRONG_PASSWORD});
    let res = api
        .call(Method::POST, "/auth/login", None, Some(wrong))
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let content = json!({"content": "logged?"});
    let res = api
        .call(Method::POST, "/posts", Some(&writer), Some(content))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let post: Value = res.json().await.unwrap();
    let profile = json!({"name": "Log Writer", "bio": "checks logs"});
    let res = api
        .call(Method::PUT, "/users/profile", Some(&writer), Some(profile))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let follow = format!("/users/follow/{}", ids[0]);
    let res = api.call(Method::POST, &follow, Some(&reader), None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = api.call(Method::GET, "/feed", Some(&reader), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = api
        .call(Method::GET, "/users/me", Some(&writer), None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // A forged token: a real one with its signature changed.
    let forged = format!("{}x", &writer[..writer.len() - 1]);
    tokens.push(forged.clone());
    let res = api
        .call(Method::GET, "/users/me", Some(&forged), None)
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // An API key: created (its secret in the response), used, revoked, refused.
    let res = api
        .call(
            Method::POST,
            "/users/me/api-keys",
            Some(&writer),
            Some(json!({"name": "logs"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let key: Value = res.json().await.unwrap();
    let secret = key["key"].as_str().unwrap().to_owned();
    let with_key = api
        .client
        .get(format!("{}/users/me", api.base))
        .header("x-api-key", &secret);
    assert_eq!(api.send(with_key).await.status(), StatusCode::OK);
    let revoke = format!("/users/me/api-keys/{}", key["id"].as_str().unwrap());
    let res = api.call(Method::DELETE, &revoke, Some(&writer), None).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let with_key = api
        .client
        .get(format!("{}/users/me", api.base))
        .header("x-api-key", &secret);
    assert_eq!(api.send(with_key).await.status(), StatusCode::UNAUTHORIZED);
    // The secret part alone (what follows `ssk_` and the id) must not appear either.
    tokens.push(secret[4 + 32..].to_owned());
    tokens.push(secret);

    // Rejected bodies that still hold the password: a validation failure and broken JSON.
    let invalid = json!({"email": "not-an-email", "password": PASSWORD, "username": "x"});
    let res = api
        .call(Method::POST, "/auth/signup", None, Some(invalid))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let broken = format!(r#"{{"email": "logwriter@example.com", "password": "{PASSWORD}""#);
    let req = api
        .client
        .post(format!("{}/auth/login", api.base))
        .header("content-type", "application/json")
        .body(broken);
    let res = api.send(req).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    let path = format!("/posts/{}", post["id"].as_str().unwrap());
    let res = api.call(Method::DELETE, &path, Some(&writer), None).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = api
        .call(Method::POST, "/auth/logout", Some(&reader), None)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = api
        .call(Method::GET, "/users/me", Some(&reader), None)
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    kill(server.pid(), "TERM");
    assert!(server.wait_exit().await.success());
    let output = server.all_output();

    // The scan below would pass on an empty capture: every request must have its line.
    let logged = output
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "request")
        .count();
    assert_eq!(logged, api.sent, "one request line per request");

    let mut secrets = vec![PASSWORD, WRONG_PASSWORD, JWT_SECRET, "$argon2", "eyJ"];
    secrets.extend(tokens.iter().map(String::as_str));
    for line in &output {
        for secret in &secrets {
            assert!(
                !line.contains(secret),
                "a log line at {level} holds {secret:?}: {line}"
            );
        }
    }
}
