//! A bad setting stops the binary with one line on stderr that names the setting: a non-zero
//! exit, never a panic. (`src/config/tests.rs` checks the messages in-process; this checks
//! what an operator actually sees.)

use std::net::TcpListener;

use std::process::Command;

use crate::support::{command, command_with_open_files, run_to_exit};

/// Runs the binary with only `vars` set, in an empty directory, and checks the way it fails.
/// Returns the one stderr line.
fn fails_naming(vars: &[(&str, &str)], setting: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    fails_naming_in(&dir, vars, setting)
}

fn fails_naming_in(dir: &tempfile::TempDir, vars: &[(&str, &str)], setting: &str) -> String {
    fails_naming_when_run(command(dir.path(), vars), vars, setting)
}

fn fails_naming_when_run(cmd: Command, vars: &[(&str, &str)], setting: &str) -> String {
    let output = run_to_exit(cmd);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let case = format!("{vars:?}: status {}, stderr {stderr:?}", output.status);
    assert!(!output.status.success(), "{case}");
    assert_ne!(
        output.status.code(),
        Some(101),
        "a panic's exit code; {case}"
    );
    assert!(!stderr.contains("panicked"), "{case}");
    assert_eq!(stderr.lines().count(), 1, "exactly one line; {case}");
    assert!(stderr.ends_with('\n'), "{case}");
    assert!(stderr.starts_with("error: "), "{case}");
    assert!(stderr.contains(setting), "names {setting}; {case}");
    // Nothing started, so nothing was logged.
    assert!(stdout.is_empty(), "{case}; stdout {stdout:?}");
    stderr
}

#[test]
fn a_malformed_value_names_its_variable() {
    fails_naming(&[("PORT", "abc")], "PORT");
    fails_naming(&[("JWT_TTL", "forever")], "JWT_TTL");
    fails_naming(&[("RATE_LIMIT_GENERAL", "10/0s")], "RATE_LIMIT_GENERAL");
    fails_naming(&[("RATE_LIMIT_LOGIN", "ten/1m")], "RATE_LIMIT_LOGIN");
    fails_naming(&[("RATE_LIMIT_API_KEY", "0/30s")], "RATE_LIMIT_API_KEY");
    for bad in ["0", "1001", "ten"] {
        fails_naming(
            &[("RATE_LIMIT_TRUSTED_MULTIPLIER", bad)],
            "RATE_LIMIT_TRUSTED_MULTIPLIER",
        );
    }
    fails_naming(&[("APP_ENV", "staging")], "APP_ENV");
    fails_naming(&[("LOG_FORMAT", "xml")], "LOG_FORMAT");
    fails_naming(&[("LOG_LEVEL", "info,server=loudest")], "LOG_LEVEL");
    fails_naming(
        &[("SHUTDOWN_GRACE_SECONDS", "-1")],
        "SHUTDOWN_GRACE_SECONDS",
    );
    fails_naming(&[("HTTP_HEADER_TIMEOUT_MS", "0")], "HTTP_HEADER_TIMEOUT_MS");
    fails_naming(&[("HTTP_IDLE_TIMEOUT_MS", "soon")], "HTTP_IDLE_TIMEOUT_MS");
    fails_naming(
        &[("HTTP_REQUEST_TIMEOUT_MS", "-5")],
        "HTTP_REQUEST_TIMEOUT_MS",
    );
    fails_naming(&[("HTTP_MAX_CONNECTIONS", "0")], "HTTP_MAX_CONNECTIONS");
    fails_naming(&[("HTTP_MAX_IN_FLIGHT", "many")], "HTTP_MAX_IN_FLIGHT");
    fails_naming(&[("FEED_STRATEGY", "push")], "FEED_STRATEGY");
    fails_naming(&[("FEED_TIMELINE_CAP", "0")], "FEED_TIMELINE_CAP");
    fails_naming(&[("FEED_INACTIVE_DAYS", "-1")], "FEED_INACTIVE_DAYS");
    fails_naming(&[("FEED_FANOUT_LIMIT", "lots")], "FEED_FANOUT_LIMIT");
    fails_naming(&[("FEED_WORKERS", "257")], "FEED_WORKERS");
    fails_naming(&[("FEED_CLAIM_IDLE_MS", "0")], "FEED_CLAIM_IDLE_MS");
    fails_naming(&[("STREAM_MAX_PER_USER", "0")], "STREAM_MAX_PER_USER");
    fails_naming(&[("STREAM_BUFFER", "lots")], "STREAM_BUFFER");
    fails_naming(&[("STREAM_HISTORY", "10")], "STREAM_HISTORY");
    fails_naming(
        &[("STREAM_HEARTBEAT_SECONDS", "0")],
        "STREAM_HEARTBEAT_SECONDS",
    );
    fails_naming(
        &[("STREAM_REVALIDATE_SECONDS", "-1")],
        "STREAM_REVALIDATE_SECONDS",
    );
}

#[test]
fn a_duration_that_overflows_names_its_variable() {
    // 2^64 / 86400 + 1 days overflows u64 seconds: once a panic (debug) or a wrapped, tiny
    // value (release).
    let line = fails_naming(&[("JWT_TTL", "213503982334602d")], "JWT_TTL");
    assert!(line.contains("too long"), "{line}");
    fails_naming(
        &[("RATE_LIMIT_GENERAL", "10/99999999999999999999h")],
        "RATE_LIMIT_GENERAL",
    );
    fails_naming(&[("RATE_LIMIT_POST", "10/3651d")], "RATE_LIMIT_POST");
    fails_naming(
        &[("SHUTDOWN_GRACE_SECONDS", "18446744073709551615")],
        "SHUTDOWN_GRACE_SECONDS",
    );
}

#[test]
fn a_value_that_parses_but_cannot_work_names_its_variable() {
    // Streams are connections: a stream cap at the connection cap leaves requests no room.
    let caps = [
        ("HTTP_MAX_CONNECTIONS", "100"),
        ("STREAM_MAX_CONNECTIONS", "100"),
        // With a secret, start-up logs nothing before the check.
        ("JWT_SECRET", "a-secret-of-at-least-thirty-two-bytes!!"),
    ];
    let line = fails_naming(&caps, "STREAM_MAX_CONNECTIONS");
    assert!(line.contains("HTTP_MAX_CONNECTIONS"), "{line}");
    fails_naming(&[("DATABASE_URL", "mysql://x")], "DATABASE_URL");
    fails_naming(&[("DATABASE_URL", "postgres://h:port/db")], "DATABASE_URL");
    fails_naming(
        &[("DATABASE_URL", "sqlite://x.db?mode=sideways")],
        "DATABASE_URL",
    );
    let replicas = [
        ("DATABASE_URL", "postgres://127.0.0.1:1/db"),
        ("DATABASE_READ_URLS", "postgres://127.0.0.1:1/db,mysql://r"),
    ];
    let line = fails_naming(&replicas, "DATABASE_READ_URLS");
    assert!(line.contains("entry 2"), "{line}");
    fails_naming(
        &[("DATABASE_READ_URLS", "postgres://r/db")],
        "DATABASE_READ_URLS",
    );
    fails_naming(&[("REDIS_URL", "http://x")], "REDIS_URL");
    fails_naming(&[("REDIS_URL", "redis://a:1,http://b:2")], "REDIS_URL");
    fails_naming(&[("JWT_SECRET", "short")], "JWT_SECRET");
    // Timelines live in Redis: fan-out without it cannot work.
    let line = fails_naming(&[("FEED_STRATEGY", "fanout")], "FEED_STRATEGY");
    assert!(line.contains("REDIS_URL"), "{line}");
    let line = fails_naming(&[("APP_ENV", "production")], "JWT_SECRET");
    assert!(line.contains("APP_ENV=production"), "{line}");
}

#[test]
fn the_secret_itself_is_never_echoed() {
    let line = fails_naming(&[("JWT_SECRET", "tooshort-but-private")], "JWT_SECRET");
    assert!(!line.contains("tooshort-but-private"), "{line}");
}

#[test]
fn a_bad_value_in_dot_env_names_its_variable_too() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "JWT_TTL=someday\n").unwrap();
    fails_naming_in(&dir, &[], "JWT_TTL");
}

#[test]
fn a_port_already_taken_names_host_and_port() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let vars = [
        ("HOST", "127.0.0.1"),
        ("PORT", port.as_str()),
        ("JWT_SECRET", "a-secret-of-at-least-thirty-two-bytes"),
        ("LOG_LEVEL", "off"),
    ];
    let line = fails_naming(&vars, "PORT");
    assert!(line.contains("HOST"), "{line}");
}

/// Each connection is a file descriptor: a cap that cannot fit the open-file limit (even raised
/// to the hard limit, here lowered by the shell) stops start-up before anything is opened.
#[cfg(unix)]
#[test]
fn a_connection_cap_past_the_open_file_limit_names_its_variable() {
    let dir = tempfile::tempdir().unwrap();
    let vars = [
        ("HTTP_MAX_CONNECTIONS", "1000"),
        ("JWT_SECRET", "a-secret-of-at-least-thirty-two-bytes!!"),
        ("DATABASE_URL", "sqlite::memory:"),
        ("PORT", "0"),
    ];
    let line = fails_naming_when_run(
        command_with_open_files(dir.path(), &vars, 400),
        &vars,
        "HTTP_MAX_CONNECTIONS",
    );
    assert!(line.contains("ulimit -n"), "{line}");
}
