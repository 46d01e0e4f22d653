//! The tool's dealings with the machine and the server outside the streams: tokens, the
//! open-file limit, and the server's memory.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use super::Claims;

pub(super) fn unix_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// The token a login would return for `user`: HS256 over `sub`, `iat`, `exp`, `iat_ms`.
pub(super) fn mint(key: &EncodingKey, user: &str) -> anyhow::Result<String> {
    let ms = unix_millis();
    let iat = (ms / 1000) as u64;
    let claims = Claims {
        sub: user,
        iat,
        exp: iat + 86_400,
        iat_ms: ms,
    };
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        key,
    )?)
}

/// Raises the soft open-file limit to the hard one; the limit now.
pub(super) fn raise_open_files() -> anyhow::Result<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        )
        .context("raising the open-file limit")?;
    }
    // `None` is no limit at all.
    Ok(limit.maximum.unwrap_or(u64::MAX))
}

/// The server's live heap bytes: jemalloc's `allocated`, which `/metrics` reports as
/// `process_heap_bytes{kind="allocated"}`; 0 when absent (another allocator).
pub(super) async fn heap_allocated(http: &reqwest::Client, url: &str) -> anyhow::Result<u64> {
    let text = http.get(url).send().await?.text().await?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("process_heap_bytes{kind=\"allocated\"} "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64))
}

/// The resident set of a process, from `/proc/<pid>/status`.
pub(super) fn vm_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS line"))
}
