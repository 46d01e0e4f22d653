//! `socialscale user set-tier` as an operator runs it: the exit code and what it prints.

use crate::support::{command, run_to_exit};

fn set_tier(dir: &tempfile::TempDir, username: &str, tier: &str) -> std::process::Output {
    let mut cmd = command(
        dir.path(),
        &[("DATABASE_URL", "sqlite://users.db"), ("LOG_LEVEL", "warn")],
    );
    cmd.args(["user", "set-tier", username, tier]);
    run_to_exit(cmd)
}

#[test]
fn an_unknown_user_exits_1_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = set_tier(&dir, "nobody", "trusted");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr, "error: no user named \"nobody\"\n");
}

#[test]
fn an_unknown_tier_exits_2_naming_the_choices() {
    let dir = tempfile::tempdir().unwrap();
    let out = set_tier(&dir, "ada", "gold");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("standard or trusted"), "{stderr}");
}
