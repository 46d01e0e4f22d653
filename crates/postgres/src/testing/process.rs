//! Running the server binaries for [`super::LocalCluster`]: finding them, and running one to
//! its end.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Command, Output};

/// The directory of `initdb` and friends, or why there is none.
pub(super) fn find_bin() -> Result<PathBuf, String> {
    let out = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .map_err(|_| "pg_config is not on PATH".to_owned())?;
    let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    for program in ["initdb", "pg_ctl", "pg_basebackup", "psql"] {
        if !bin.join(program).is_file() {
            return Err(format!("{program} is not in {}", bin.display()));
        }
    }
    if running_as_root()
        && Command::new("id")
            .arg("postgres")
            .output()
            .map_or(true, |o| !o.status.success())
    {
        return Err("running as root without a postgres OS user for initdb".to_owned());
    }
    Ok(bin)
}

pub(super) fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

pub(super) fn run(mut cmd: Command) -> Result<Output, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
