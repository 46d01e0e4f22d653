//! `DATABASE_URL`, `DATABASE_READ_URLS` and `REDIS_URL`, parsed once into the targets the
//! backends take as they are. The syntax of each is the adapter's own parser's
//! ([`SqliteTarget`], [`PgUrl`], [`RedisTarget`]); this file only picks the adapter and names
//! the variable in the error.

use std::fmt;

use postgres_adapter::PgUrl;
use redis_adapter::RedisTarget;
use sqlite::SqliteTarget;

/// The database the server runs on.
#[derive(Clone, Debug)]
pub enum DatabaseTarget {
    /// The embedded default: a file, or a memory database.
    Sqlite(SqliteTarget),
    /// A primary and any number of read replicas.
    Postgres {
        primary: PgUrl,
        replicas: Vec<PgUrl>,
    },
}

impl DatabaseTarget {
    /// PostgreSQL for a `postgres://` or `postgresql://` URL; SQLite for a `sqlite:` URL or a
    /// plain path; any other scheme is refused. `read_urls` is the comma list of replicas
    /// (blanks ignored), which only PostgreSQL takes. The error is one line naming the variable
    /// and never echoes a URL (it may hold a password).
    pub fn parse(url: &str, read_urls: Option<&str>) -> Result<Self, String> {
        let replicas: Vec<&str> = read_urls
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if PgUrl::is_postgres(url) {
            let primary = PgUrl::parse(url).map_err(|e| format!("DATABASE_URL: {e}"))?;
            let replicas = replicas
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    PgUrl::parse(r).map_err(|e| format!("DATABASE_READ_URLS: entry {}: {e}", i + 1))
                })
                .collect::<Result<_, _>>()?;
            return Ok(DatabaseTarget::Postgres { primary, replicas });
        }
        let url = url.trim();
        if let Some((scheme, _)) = url.split_once("://") {
            if !url.starts_with("sqlite:") {
                return Err(format!(
                    "DATABASE_URL: unsupported scheme {scheme:?}; use sqlite://path.db or postgres://user@host/db"
                ));
            }
        }
        if !replicas.is_empty() {
            return Err("DATABASE_READ_URLS: read replicas need a PostgreSQL DATABASE_URL; unset it for SQLite".into());
        }
        SqliteTarget::parse(url)
            .map(DatabaseTarget::Sqlite)
            .map_err(|e| format!("DATABASE_URL: {e}"))
    }
}

/// For log lines: the primary's URL, its password redacted.
impl fmt::Display for DatabaseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseTarget::Sqlite(t) => t.fmt(f),
            DatabaseTarget::Postgres { primary, .. } => primary.fmt(f),
        }
    }
}

/// `REDIS_URL`, when set.
pub fn parse_redis(url: Option<&str>) -> Result<Option<RedisTarget>, String> {
    url.map(|u| RedisTarget::parse(u).map_err(|e| format!("REDIS_URL: {e}")))
        .transpose()
}
