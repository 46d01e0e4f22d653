use std::net::SocketAddr;

use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use server::{App, Cli, Config};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Which database this test binary runs the suite on, as its root file says: `api` (this
/// directory's `main.rs`) runs on SQLite, `api_postgres` (which includes these same files) on
/// PostgreSQL. A compile-time constant, so both binaries share every line of test code.
pub const POSTGRES: bool = crate::POSTGRES;

/// What `/health` reports as `backends.database` here.
pub const DATABASE_BACKEND: &str = if POSTGRES { "postgres" } else { "sqlite" };

/// More pages than any test's list can have: past it a cursor walk has looped.
pub const MAX_PAGES: usize = 1_000;

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub client: Client,
    pub shutdown: CancellationToken,
    pub handle: Option<JoinHandle<anyhow::Result<()>>>,
    /// The `DATABASE_URL` the server was started with (read by the PostgreSQL outage tests).
    #[allow(dead_code)]
    pub database_url: String,
    _dir: tempfile::TempDir,
    /// PostgreSQL only: the test's own database, dropped with the app.
    _pg: Option<postgres_adapter::testing::TestDatabase>,
}

/// A server with default settings on a fresh database: an SQLite file, or a new PostgreSQL
/// database in the `api_postgres` binary.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// A server with extra flags (the same names as the environment variables, as flags).
pub async fn spawn_app_with(extra: &[&str]) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let pg = if POSTGRES && !extra.contains(&"--database-url") {
        let created = postgres_adapter::testing::TestDatabase::create("api").await;
        Some(
            created
                .unwrap()
                .expect("SOCIALSCALE_TEST_POSTGRES_URL is set"),
        )
    } else {
        None
    };
    let db = match &pg {
        Some(pg) => pg.url.clone(),
        None => format!("sqlite://{}", dir.path().join("test.db").display()),
    };
    let secret = JWT_SECRET;
    let defaults = [
        ("--host", "127.0.0.1"),
        ("--port", "0"),
        ("--database-url", db.as_str()),
        ("--jwt-secret", secret),
        ("--log-level", "warn"),
        ("--shutdown-grace-seconds", "5"),
    ];
    let mut args = vec!["socialscale"];
    for (flag, value) in defaults {
        // A test's own value for a flag replaces the default (clap refuses a flag twice).
        if !extra.contains(&flag) {
            args.extend([flag, value]);
        }
    }
    args.extend_from_slice(extra);
    let database_url = match extra.iter().position(|a| *a == "--database-url") {
        Some(i) => extra.get(i + 1).copied().unwrap_or_default().to_owned(),
        None => db.clone(),
    };
    // From these flags alone: an exported REDIS_URL or RATE_LIMIT_* must not change the test.
    let cli = Cli::try_parse_args_only(args).unwrap();
    let config = Config::from_settings(cli.settings).unwrap();
    let app = App::build(&config).await.unwrap();
    let addr = app.local_addr().unwrap();
    let shutdown = app.shutdown_token();
    let handle = tokio::spawn(app.run_until_stopped());
    TestApp {
        addr,
        base: format!("http://{addr}"),
        client: Client::builder().no_proxy().build().unwrap(),
        shutdown,
        handle: Some(handle),
        database_url,
        _dir: dir,
        _pg: pg,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A signed-up user of a test app.
pub struct TestUser {
    pub id: String,
    pub token: String,
    pub email: String,
}

impl TestApp {
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.unwrap()
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_json(&self, path: &str, body: Value, token: Option<&str>) -> Response {
        let mut r = self.request(Method::POST, path).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.unwrap()
    }

    pub async fn signup_raw(&self, body: Value) -> Response {
        self.post_json("/auth/signup", body, None).await
    }

    pub async fn signup(&self, username: &str) -> TestUser {
        let email = format!("{}@example.com", username.to_lowercase());
        let res = self
            .signup_raw(json!({"email": email, "password": "password123", "username": username}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "signup {username}");
        let body: Value = res.json().await.unwrap();
        TestUser {
            id: body["user"]["id"].as_str().unwrap().to_owned(),
            token: body["token"].as_str().unwrap().to_owned(),

            email,
        }
    }

    pub async fn create_post(&self, user: &TestUser, content: &str) -> Value {
        let res = self
            .post_json("/posts", json!({ "content": content }), Some(&user.token))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json().await.unwrap()
    }

    pub async fn follow(&self, who: &TestUser, whom: &TestUser) -> Response {
        self.request(Method::POST, &format!("/users/follow/{}", whom.id))
            .bearer_auth(&who.token)
            .send()
            .await
            .unwrap()
    }

    /// Follows `nextCursor` from the first page to the last, returning every item's id. A
    /// cursor that loops fails the test after [`MAX_PAGES`] pages instead of hanging CI.
    pub async fn walk(
        &self,
        path: &str,
        field: &str,
        limit: usize,
        token: Option<&str>,
    ) -> Vec<String> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        let sep = if path.contains('?') { '&' } else { '?' };
        for _ in 0..MAX_PAGES {
            let url = match &cursor {
                Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
                None => format!("{path}{sep}limit={limit}"),
            };
            let res = match token {
                Some(t) => self.get_auth(&url, t).await,
                None => self.get(&url).await,
            };
            assert_eq!(res.status(), StatusCode::OK, "{url}");
            let page: Value = res.json().await.unwrap();
            let page_ids = ids(&page, field);
            assert!(page_ids.len() <= limit);
            all.extend(page_ids);
            match page["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => {
                    assert!(page["nextCursor"].is_null());
                    return all;
                }
            }
        }
        panic!("walking {path} did not end in {MAX_PAGES} pages: a cursor loops");
    }
}

/// The `id` of every item of a page's list `field` (`posts`, `users`), in order.
pub fn ids(page: &Value, field: &str) -> Vec<String> {
    page[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Asserts an error response's status and `type`, returning its body.
pub async fn assert_error(res: Response, status: StatusCode, kind: &str) -> Value {
    assert_eq!(res.status(), status);
    assert!(res
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["type"], kind, "{body}");
    assert!(body["error"].is_string(), "{body}");
    body
}

/// The `--jwt-secret` every test app gets unless the test passes its own.
pub const JWT_SECRET: &str = "test-secret-that-is-at-least-32-bytes-long";

/// A genuine HS256 token signed with the test apps' secret, for claims the API cannot produce
/// (an expired token, a user that does not exist): `{sub, iat, exp}`.
pub fn mint_token(sub: &str, iat: u64, exp: u64) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({ "sub": sub, "iat": iat, "exp": exp }),
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

/// The claims of a token a test app issued, checked against the test apps' secret.
pub fn token_claims(token: &str) -> Value {
    let validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(JWT_SECRET.as_bytes()),
        &validation,
    )
    .unwrap()
    .claims
}

/// Seconds since the Unix epoch, as JWTs count time.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
