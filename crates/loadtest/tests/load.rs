//! Every scenario for a few seconds against a server in this process (0 errors, every step
//! ran), thresholds that break make the exit status non-zero, and non-loopback targets are
//! refused before any connection. No timing assertions.

// Test code: a failed setup step should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Command, Output};

use loadtest::Report;
use serde_json::Value;
use support::{args, spawn_seeded_server, spawn_server};

fn assert_clean(report: &Report, steps: &[&str]) {
    for s in &report.steps {
        assert_eq!(
            s.errors, 0,
            "step {} had errors: {:?}",
            s.name, s.errors_by_status
        );
    }
    assert_eq!(report.total.errors, 0, "{}", report.table());
    assert_eq!(report.abandoned, 0);
    for name in steps {
        let s = report
            .step(name)
            .unwrap_or_else(|| panic!("no step {name}"));
        assert!(s.count >= 1, "step {name} never ran:\n{}", report.table());
    }
}

/// Runs the binary off the async threads, so the in-process server keeps serving.
async fn binary(argv: &[&str]) -> Output {
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_socialscale-load"))
            .args(&argv)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journey_runs_every_step_without_errors() {
    let server = spawn_server().await;
    let stages = "500ms:3,2500ms:3";
    let report = loadtest::run(args(&[
        "journey",
        "--url",
        &server.base,
        "--stages",
        stages,
        "--quiet",
    ]))
    .await
    .unwrap();
    assert_clean(
        &report,
        &[
            "health",
            "signup",
            "login",
            "create_post",
            "follow",
            "timeline",
            "user_posts",
            "profile_update",
        ],
    );
    assert_eq!(
        report.step("signup").unwrap().count,
        2 * report.step("login").unwrap().count
    );
}

/// `--no-auth-steps`: the accounts are made before the stages (setup steps), and the load
/// phase has no signup or login at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journey_without_auth_steps_signs_up_before_the_stages() {
    let server = spawn_server().await;
    let report = loadtest::run(args(&[
        "journey",
        "--url",
        &server.base,
        "--stages",
        "500ms:3,2500ms:3",
        "--no-auth-steps",
        "--quiet",
    ]))
    .await
    .unwrap();
    assert_clean(
        &report,
        &[
            "setup_signup",
            "health",
            "create_post",
            "follow",
            "timeline",
            "user_posts",
        ],
    );
    assert_eq!(report.step("setup_signup").unwrap().count, 6, "two per VU");
    assert_eq!(report.step("signup").unwrap().count, 0);
    assert_eq!(report.step("login").unwrap().count, 0);
    // Every VU follows its own B once: no VU shares another's accounts.
    assert_eq!(report.step("follow").unwrap().count, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_auth_and_stress_run_without_errors() {
    let server = spawn_server().await;
    let base = server.base.as_str();
    let json_path = server.file("health.json");
    let json_file = json_path.to_str().unwrap();
    let report = loadtest::run(args(&[
        "health",
        "--url",
        base,
        "--stages",
        "500ms:3,1s:3",
        "--quiet",
        "--threshold",
        "p99<30s",
        "--threshold",
        "health:max<=60s",
        "--threshold",
        "errors<1%",
        "--json",
        json_file,
    ]))
    .await
    .unwrap();
    assert_clean(&report, &["health"]);
    assert!(report.passed(), "{}", report.table());
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(written["scenario"], "health");
    assert_eq!(written["steps"][0]["name"], "health");
    assert!(written["total"]["latency"]["p99_ms"].is_number());
    assert_eq!(written["thresholds"].as_array().unwrap().len(), 3);

    let report = loadtest::run(args(&[
        "auth",
        "--url",
        base,
        "--stages",
        "500ms:3,1500ms:3",
        "--quiet",
    ]))
    .await
    .unwrap();
    assert_clean(&report, &["setup_signup", "login", "posts"]);

    let report = loadtest::run(args(&[
        "stress",
        "--url",
        base,
        "--vus",
        "2",
        "--duration",
        "1s",
        "--quiet",
    ]))
    .await
    .unwrap();
    assert_clean(&report, &["posts"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mix_runs_the_realistic_mix_and_measures_freshness() {
    // A real seed, small: 12 accounts, about 4 follows each, posts deep enough for the feed's
    // second page.
    let plan = server::commands::seed::Plan {
        users: 12,
        follows: 4,
        posts: 600,
        days: 5,
        seed: 7,
        now_ms: 1_764_547_200_000,
    };
    let server = spawn_seeded_server(plan).await;
    let report = loadtest::run(args(&[
        "mix",
        "--url",
        &server.base,
        "--seed",
        "7",
        "--seed-users",
        "12",
        "--pool",
        "12",
        "--stages",
        "0s:150,3s:150",
        "--quiet",
        "--threshold",
        "freshness:errors<=0%",
    ]))
    .await
    .unwrap();
    assert_clean(
        &report,
        &[
            "setup_login",
            "setup_follow",
            "feed",
            "feed_next",
            "posts",
            "user_posts",
            "profile",
            "create_post",
        ],
    );
    assert_eq!(report.step("setup_login").unwrap().ok, 12);
    let follows = report.step("follow").unwrap().count + report.step("unfollow").unwrap().count;
    assert!(follows >= 1, "{}", report.table());
    let fresh = report.freshness.as_ref().unwrap();
    assert!(fresh.seen >= 1, "{}", report.table());
    assert_eq!(fresh.never_seen, 0, "{}", report.table());
    assert!(report.passed(), "{}", report.table());
    assert_eq!(report.dropped, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_thresholds_exit_non_zero() {
    let server = spawn_server().await;
    let out = binary(&[
        "health",
        "--url",
        &server.base,
        "--stages",
        "1s:1",
        "--threshold",
        "p99<0ms",
        "--quiet",
    ])
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("threshold p99<0ms broken"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("health") && stdout.contains("p99 ms"),
        "{stdout}"
    );

    // An induced error: a port bound but never listening refuses every connection, and
    // holding it keeps another test from taking it meanwhile.
    let closed = tokio::net::TcpSocket::new_v4().unwrap();
    closed.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let port = closed.local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let out = binary(&[
        "health",
        "--url",
        &url,
        "--stages",
        "1s:1",
        "--threshold",
        "errors<0.1%",
        "--quiet",
    ])
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("threshold errors<0.1% broken"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_targets_and_bad_flags_are_refused_in_one_line() {
    // 192.0.2.0/24 is TEST-NET-1: refused before any connection is attempted.
    for argv in [
        &["health", "--url", "http://192.0.2.1:3333"][..],
        &["mix", "--url", "http://10.1.2.3:3333", "--seed-users", "10"],
        &["health", "--stages", "5x:1"],
        &["health", "--threshold", "p95<50"],
        &["mix", "--rate", "10"],
        &[
            "journey",
            "--threshold",
            "nosuchstep:p99<1s",
            "--stages",
            "1s:1",
        ],
        &["warp"],
    ] {
        let out = binary(argv).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{argv:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{argv:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{argv:?}");
    }
    let out = binary(&["health", "--url", "http://192.0.2.1:3333"]).await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to load"));
    let err = loadtest::run(args(&["stress", "--url", "http://example.com"]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--allow-remote"), "{err}");
}
