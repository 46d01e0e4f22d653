//! `socialscale worker`: the feed's relay and fan-out workers with no HTTP listener, for a
//! separate worker tier.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use redis_adapter::testing::redis_url;

use crate::support::{command, kill, run_to_exit, DEADLINE};

#[test]
fn without_redis_it_refuses_to_start_naming_redis_url() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("w.db").display());
    let out = run_to_exit({
        let mut cmd = command(dir.path(), &[("DATABASE_URL", db.as_str())]);
        cmd.arg("worker");
        cmd
    });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("REDIS_URL"),
        "{stderr}"
    );
}

#[tokio::test]
async fn it_runs_the_workers_without_a_listener_and_stops_on_sigterm() {
    let Some(url) = redis_url().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("w.db").display());
    let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    let vars = [
        ("DATABASE_URL", db.as_str()),
        ("REDIS_URL", url.as_str()),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        ("FEED_WORKERS", "3"),
        ("LOG_FORMAT", "json"),
        ("LOG_LEVEL", "info"),
    ];
    let mut cmd = command(dir.path(), &vars);
    let mut child = cmd
        .arg("worker")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let wait_for = |what: &str| {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no log line {what:?} within {DEADLINE:?}"));
            let json: serde_json::Value = serde_json::from_str(&line).unwrap();
            if json["message"] == what {
                return json;
            }
            assert_ne!(
                json["message"], "listening",
                "a worker has no HTTP listener"
            );
        }
    };
    let running = wait_for("feed workers running");
    assert_eq!(running["workers"], 3);
    kill(child.id(), "TERM");
    wait_for("stopping: the workers finish the batch in hand");
    wait_for("stopped");
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the worker did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}
