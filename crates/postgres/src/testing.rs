//! Throwaway databases for tests, on the server named by `SOCIALSCALE_TEST_POSTGRES_URL`.
//!
//! Unset: [`TestDatabase::create`] answers `None` and the caller skips, after one line on
//! stderr per test binary. Set but unreachable: it answers an error and the test fails — a CI
//! that exports the URL must never pass by skipping.
//!
//! [`LocalCluster`]: a private primary and streaming standby a test starts itself.

mod cluster;
mod process;

pub use cluster::LocalCluster;

use std::io::Write;
use std::str::FromStr;
use std::sync::Once;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};

/// The variable naming an administrative URL (a role that may CREATE DATABASE), e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`.
pub const ENV: &str = "SOCIALSCALE_TEST_POSTGRES_URL";

static SKIP_NOTICE: Once = Once::new();

/// A fresh, empty database; dropped (with any connections still open to it) on drop.
#[derive(Debug)]
pub struct TestDatabase {
    /// Connects to this database.
    pub url: String,
    name: String,
    admin: String,
}

impl TestDatabase {
    /// `Ok(None)` when the variable is unset; see the module doc.
    pub async fn create(tag: &str) -> Result<Option<TestDatabase>, String> {
        let Some(admin) = std::env::var(ENV).ok().filter(|v| !v.trim().is_empty()) else {
            SKIP_NOTICE.call_once(|| {
                // Straight to the stream: the test harness captures `eprintln!` of passing
                // tests, and this line is meant to be seen.
                let _ = writeln!(
                    std::io::stderr(),
                    "note: {ENV} is not set: skipping the PostgreSQL tests of this binary"
                );
            });
            return Ok(None);
        };
        let mut suffix = uuid::Uuid::new_v4().simple().to_string();
        suffix.truncate(16);
        let name = format!("ss_test_{tag}_{suffix}");
        let mut conn = admin_connection(&admin).await?;
        conn.execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await
            .map_err(|e| format!("{ENV}: CREATE DATABASE failed: {e}"))?;
        let _ = conn.close().await;
        Ok(Some(TestDatabase {
            url: with_database(&admin, &name),
            name,
            admin,
        }))
    }
}

async fn admin_connection(admin: &str) -> Result<sqlx::PgConnection, String> {
    PgConnectOptions::from_str(admin)
        .map_err(|e| format!("{ENV}: bad URL: {e}"))?
        .connect()
        .await
        .map_err(|e| format!("{ENV}: cannot connect to {admin}: {e}"))
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop is synchronous and may run on a single-threaded runtime, so the DROP runs on a
        // thread of its own, with its own runtime, and is waited for: databases do not pile up.
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let dropper = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = admin_connection(&admin).await {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = conn.execute(sql.as_str()).await;
                    let _ = conn.close().await;
                }
            });
        });
        let _ = dropper.join();
    }
}

/// A loopback port that refuses connections for as long as this lives: bound but never
/// listening, so nothing else can take it meanwhile (a port probed free and released could be
/// taken by another test's server before it is used).
#[derive(Debug)]
pub struct ClosedPort {
    pub port: u16,
    _socket: tokio::net::TcpSocket,
}

impl ClosedPort {
    pub fn new() -> std::io::Result<Self> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(([127, 0, 0, 1], 0).into())?;
        let port = socket.local_addr()?.port();
        Ok(ClosedPort {
            port,
            _socket: socket,
        })
    }
}

/// `admin` with its database path replaced by `name` (query parameters kept).
pub fn with_database(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_of_a_url() {
        let a = "postgres://postgres@127.0.0.1:5432/postgres";
        assert_eq!(
            with_database(a, "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        let b = "postgres://u:p@h/db?sslmode=disable";
        assert_eq!(with_database(b, "x"), "postgres://u:p@h/x?sslmode=disable");
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
