//! A SocialScale server in the test's own process, on a fresh SQLite file, with rate limits
//! raised and the loopback trusted as a proxy (the load tool's X-Forwarded-For counts).

use std::path::PathBuf;

use server::backends::Database;
use server::commands::seed::{self, Plan};
use server::{App, Cli, Config};
use tokio_util::sync::CancellationToken;

pub struct TestServer {
    pub base: String,
    shutdown: CancellationToken,
    dir: tempfile::TempDir,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestServer {
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

pub async fn spawn_server() -> TestServer {
    spawn_server_with(None).await
}

/// A server over a database `socialscale seed` filled with `plan` first: the load tool's
/// account names and the seed's are checked against each other, not against a copy.
pub async fn spawn_seeded_server(plan: Plan) -> TestServer {
    spawn_server_with(Some(plan)).await
}

async fn spawn_server_with(seed: Option<Plan>) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("test.db").display());
    let args = [
        "socialscale",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--database-url",
        &db,
        "--jwt-secret",
        "loadtest-secret-that-is-at-least-32-bytes",
        "--log-level",
        "warn",
        "--shutdown-grace-seconds",
        "1",
        "--trusted-proxies",
        "127.0.0.1",
        "--rate-limit-general",
        "1000000/60s",
        "--rate-limit-post",
        "1000000/60s",
        "--rate-limit-login",
        "1000000/60s",
        "--rate-limit-signup",
        "1000000/60s",
    ];
    // From these flags alone: an exported REDIS_URL or RATE_LIMIT_* must not change the test.
    let cli = Cli::try_parse_args_only(args).unwrap();
    let config = Config::from_settings(cli.settings).unwrap();
    if let Some(plan) = seed {
        let db = Database::open(&config).await.unwrap();
        seed::load(db.bulk.as_ref(), plan, false, false)
            .await
            .unwrap();
        db.close().await;
    }
    let app = App::build(&config).await.unwrap();
    let addr = app.local_addr().unwrap();
    let shutdown = app.shutdown_token();
    tokio::spawn(app.run_until_stopped());
    TestServer {
        base: format!("http://{addr}"),
        shutdown,
        dir,
    }
}

/// Parses the tool's flags as the binary would.
pub fn args(argv: &[&str]) -> loadtest::Args {
    let mut all = vec!["socialscale-load"];
    all.extend_from_slice(argv);
    <loadtest::Args as clap::Parser>::try_parse_from(all).unwrap()
}
