//! `socialscale healthcheck`, the container's probe, against the real server: exit 0 while it
//! is live, 1 when nothing answers, and no dependence on the settings only `serve` checks.

use std::process::Output;

use redis_adapter::testing::ClosedPort;

use crate::support::{command, run_to_exit, start};

/// Runs `socialscale healthcheck` with only `vars` set, as the image's HEALTHCHECK does. The
/// default URL comes from PORT and HOST as `serve` reads them, so the probe needs no flag;
/// APP_ENV=production without JWT_SECRET would stop `serve`, never the probe.
fn probe(port: u16) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let port = port.to_string();
    let vars = [
        ("PORT", port.as_str()),
        ("HOST", "127.0.0.1"),
        ("APP_ENV", "production"),
    ];
    let mut cmd = command(dir.path(), &vars);
    cmd.arg("healthcheck");
    run_to_exit(cmd)
}

#[tokio::test]
async fn passes_against_a_live_server() {
    let server = start(&[]).await;
    let ok = probe(server.addr.port());
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{ok:?}");
    assert!(
        stdout.contains("/health/liveness: HTTP/1.1 200 OK"),
        "{stdout}"
    );
}

#[test]
fn fails_with_exit_1_when_nothing_answers() {
    let closed = ClosedPort::new();
    let gone = probe(closed.port);
    let stderr = String::from_utf8_lossy(&gone.stderr);
    assert_eq!(gone.status.code(), Some(1), "{gone:?}");
    assert!(
        stderr.starts_with(&format!("unhealthy: http://127.0.0.1:{}/", closed.port)),
        "{stderr}"
    );
    assert!(gone.stdout.is_empty(), "{gone:?}");
}
