//! [`PgUrl`]: a PostgreSQL URL parsed and checked once.

use std::fmt;
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

/// A parsed, checked `postgres://` (or `postgresql://`) URL. Its [`Debug`] and [`Display`]
/// never show the password.
#[derive(Clone)]
pub struct PgUrl {
    /// Boxed: the options are large, and a URL is moved around more than it is read.
    pub(crate) options: Box<PgConnectOptions>,
    /// The URL with any password replaced by `***`, for logs.
    redacted: String,
}

impl PgUrl {
    /// Whether `raw` is meant for PostgreSQL (its scheme), valid or not.
    pub fn is_postgres(raw: &str) -> bool {
        let raw = raw.trim_start();
        raw.starts_with("postgres://") || raw.starts_with("postgresql://")
    }

    /// Checks the URL as sqlx will read it. Connects to nothing. The error never echoes the
    /// URL (it may hold a password).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if !Self::is_postgres(raw) {
            let scheme = raw.split_once("://").map_or("", |(s, _)| s);
            return Err(format!(
                "unsupported scheme {scheme:?}; use postgres://user@host/db"
            ));
        }
        let options = PgConnectOptions::from_str(raw)
            .map_err(|e| format!("not a valid PostgreSQL URL ({e})"))?;
        Ok(PgUrl {
            options: Box::new(options),
            redacted: redact(raw),
        })
    }
}

impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgUrl({:?})", self.redacted)
    }
}

/// A URL without its password, fit for a log line.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_both_schemes() {
        assert!(PgUrl::is_postgres(" postgres://u@h/db"));
        assert!(PgUrl::is_postgres("postgresql://h/db"));
        assert!(!PgUrl::is_postgres("sqlite://x.db"));
        assert!(!PgUrl::is_postgres("x.db"));
        let url = PgUrl::parse("postgresql://u@h:5433/db?sslmode=require").unwrap();
        assert_eq!(url.options.get_port(), 5433);
        assert_eq!(url.options.get_database(), Some("db"));
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_them() {
        let e = PgUrl::parse("mysql://u:hunter2@h/db").unwrap_err();
        assert!(e.contains("\"mysql\"") && !e.contains("hunter2"), "{e}");
        let e = PgUrl::parse("postgres://u:hunter2@h:notaport/db").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        let e = PgUrl::parse("postgres://u:hunter2@h/db?sslmode=sometimes").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn passwords_never_reach_the_log() {
        let url = PgUrl::parse("postgres://u:secret@h/db").unwrap();
        assert_eq!(url.to_string(), "postgres://u:***@h/db");
        assert!(!format!("{url:?}").contains("secret"));
        let url = PgUrl::parse("postgres://u@h/db").unwrap();
        assert_eq!(url.to_string(), "postgres://u@h/db");
    }
}
