//! Servers for the shared-tier tests: several instances on one SQLite file and one Redis key
//! prefix, as they would run behind a load balancer. (Spawn logic after `api/helpers.rs`.)

use std::path::Path;
use std::time::Duration;

use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{json, Value};
use server::{App, Cli, Config};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub struct Instance {
    pub base: String,
    pub client: Client,
    shutdown: CancellationToken,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A unique Redis key prefix: tests sharing the machine's Redis never meet.
pub fn prefix() -> String {
    format!("test:{}:", uuid::Uuid::new_v4().simple())
}

/// Starts an instance on `db` (a SQLite file) with Redis at `redis_url`, plus `extra` flags.
pub async fn spawn(db: &Path, redis_url: &str, prefix: &str, extra: &[&str]) -> Instance {
    let db = format!("sqlite://{}", db.display());
    let mut args = vec![
        "socialscale",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--database-url",
        &db,
        "--jwt-secret",
        "test-secret-that-is-at-least-32-bytes-long",
        "--log-level",
        "warn",
        "--shutdown-grace-seconds",
        "5",
        "--redis-url",
        redis_url,
        "--redis-key-prefix",
        prefix,
    ];
    if !extra.contains(&"--redis-timeout-ms") {
        // Generous on a busy test machine: a slow answer must not look like Redis being down.
        args.extend(["--redis-timeout-ms", "2000"]);
    }
    args.extend_from_slice(extra);
    // From these flags alone: an exported REDIS_URL or RATE_LIMIT_* must not change the test.
    let cli = Cli::try_parse_args_only(args).unwrap();
    let config = Config::from_settings(cli.settings).unwrap();
    let app = App::build(&config).await.unwrap();
    let addr = app.local_addr().unwrap();
    let shutdown = app.shutdown_token();
    tokio::spawn(app.run_until_stopped());
    Instance {
        base: format!("http://{addr}"),
        client: Client::builder().no_proxy().build().unwrap(),
        shutdown,
    }
}

pub struct User {
    pub id: String,
    pub token: String,
}

impl Instance {
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut r = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(Method::GET, path, None, None).await
    }

    pub async fn json(&self, path: &str) -> Value {
        let res = self.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.json().await.unwrap()
    }

    pub async fn signup(&self, username: &str) -> User {
        let body = json!({
            "email": format!("{username}@example.com"),
            "password": "password123",
            "username": username,
        });
        let res = self
            .send(Method::POST, "/auth/signup", None, Some(body))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "signup {username}");
        let body: Value = res.json().await.unwrap();
        User {
            id: body["user"]["id"].as_str().unwrap().to_owned(),
            token: body["token"].as_str().unwrap().to_owned(),
        }
    }
}

/// Polls `ok` until it holds, failing after `within`: "visible within the bound" without
/// turning a wall-clock measurement into the assertion's only evidence.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut ok: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if ok().await {
            return;
        }
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Ids of the posts on the first page of the global timeline.
pub async fn timeline_ids(i: &Instance) -> Vec<String> {
    let page = i.json("/posts?limit=20").await;
    page["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}
