//! Servers for the shared-tier tests: several instances on one database and one Redis key
//! prefix, as they would run behind a load balancer. (Spawn logic after `api/helpers.rs`.)

use std::time::Duration;

use postgres_adapter::testing::TestDatabase;
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{json, Value};
use server::{App, Cli, Config};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Which database this binary runs the suite on, as its root file says: `shared_tier` (this
/// directory's `main.rs`) on an SQLite file, `shared_tier_postgres` (which includes these same
/// files) on a fresh PostgreSQL database. A constant, so both share every line of test code.
pub const POSTGRES: bool = crate::POSTGRES;

/// One database for all the instances of a test; removed when dropped.
pub struct Database {
    pub url: String,
    _dir: tempfile::TempDir,
    _pg: Option<TestDatabase>,
}

/// A fresh database: an SQLite file, or a new PostgreSQL database in `shared_tier_postgres`.
pub async fn database() -> Database {
    let dir = tempfile::tempdir().unwrap();
    let pg = if POSTGRES {
        let created = TestDatabase::create("shared").await.unwrap();
        Some(created.expect("SOCIALSCALE_TEST_POSTGRES_URL was set when this binary was built"))
    } else {
        None
    };
    let url = match &pg {
        Some(pg) => pg.url.clone(),
        None => format!("sqlite://{}", dir.path().join("shared.db").display()),
    };
    Database {
        url,
        _dir: dir,
        _pg: pg,
    }
}

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

/// Starts an instance on `db` with Redis at `redis_url`, plus `extra` flags.
pub async fn spawn(db: &Database, redis_url: &str, prefix: &str, extra: &[&str]) -> Instance {
    let mut args = vec![
        "socialscale",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--database-url",
        &db.url,
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

/// Waits until `n` listeners are subscribed to the invalidation channel of `prefix`: only
/// then does a write reach (and wait for) every instance, rather than racing a listener that
/// is still connecting.
pub async fn wait_for_listeners(redis_url: &str, prefix: &str, n: u64) {
    let channel = format!("{prefix}invalidate");
    eventually(
        Duration::from_secs(10),
        "every instance's invalidation listener subscribed",
        || {
            let (url, channel) = (redis_url.to_owned(), channel.clone());
            async move {
                let out = tokio::task::spawn_blocking(move || {
                    std::process::Command::new("redis-cli")
                        .args(["-u", &url, "PUBSUB", "NUMSUB", &channel])
                        .output()
                        .expect("cannot run redis-cli")
                })
                .await
                .unwrap();
                // Without a terminal, redis-cli prints the channel and its count on two lines.
                let text = String::from_utf8_lossy(&out.stdout);
                text.lines().last().and_then(|l| l.trim().parse().ok()) == Some(n)
            }
        },
    )
    .await;
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
        self.json_as(path, None).await
    }

    /// `GET path` (as `token`'s owner, if any), which must answer 200.
    pub async fn json_as(&self, path: &str, token: Option<&str>) -> Value {
        let res = self.send(Method::GET, path, token, None).await;
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

    /// `POST /posts` as `user`; the new post's id.
    pub async fn post(&self, user: &User, content: &str) -> String {
        let res = self
            .send(
                Method::POST,
                "/posts",
                Some(&user.token),
                Some(json!({ "content": content })),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "POST /posts");
        let body: Value = res.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    pub async fn follow(&self, follower: &User, followee: &User) {
        let res = self
            .send(
                Method::POST,
                &format!("/users/follow/{}", followee.id),
                Some(&follower.token),
                None,
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "follow");
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

/// The posts of a `{posts: [Post]}` page.
pub fn posts(page: &Value) -> &[Value] {
    page["posts"].as_array().unwrap()
}

/// The ids of the posts of a `{posts: [Post]}` page.
pub fn ids(page: &Value) -> Vec<String> {
    posts(page)
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Ids of the posts on the first page of the global timeline.
pub async fn timeline_ids(i: &Instance) -> Vec<String> {
    ids(&i.json("/posts?limit=20").await)
}
