//! [`SqliteTarget`]: what an SQLite database URL names, parsed and checked once.

use std::fmt;
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;

/// A parsed, checked SQLite database URL.
///
/// Accepted forms: `sqlite://path.db`, `sqlite:path.db` (with sqlx's query parameters, e.g.
/// `?mode=ro`), a plain path, or any spelling of a memory database (`sqlite::memory:`,
/// `:memory:`, `?mode=memory`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqliteTarget {
    /// A private memory database (see [`crate::SqliteStore::connect`] for how it is pooled).
    Memory,
    /// A `sqlite:` URL, handed to sqlx's parser so query parameters (`?mode=ro`) keep working.
    Url(String),
    /// A plain path, taken literally (no URL decoding of `%` or `?`).
    Path(String),
}

impl SqliteTarget {
    /// Checks the URL as sqlx will read it (unknown query parameters and bad values are
    /// refused here, not at connect time). Opens nothing: a missing file is created on connect.
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if url.is_empty() {
            return Err("empty database URL".to_owned());
        }
        // Any spelling of a memory database gets the single-pool treatment; its other URL
        // parameters are not needed there.
        let is_memory = url.contains(":memory:") || url.contains("mode=memory");
        let target = if is_memory {
            SqliteTarget::Memory
        } else if url.starts_with("sqlite:") {
            SqliteTarget::Url(url.to_owned())
        } else {
            SqliteTarget::Path(url.to_owned())
        };
        target.options()?;
        Ok(target)
    }

    /// The connect options the pools start from.
    pub(crate) fn options(&self) -> Result<SqliteConnectOptions, String> {
        match self {
            // sqlx names each parsed memory URL uniquely (`file:sqlx-in-memory-N`, shared
            // cache), so two stores opened with `sqlite::memory:` never see each other.
            SqliteTarget::Memory => SqliteConnectOptions::from_str("sqlite::memory:"),
            SqliteTarget::Url(url) => SqliteConnectOptions::from_str(url),
            SqliteTarget::Path(path) => Ok(SqliteConnectOptions::new().filename(path)),
        }
        .map_err(|e| format!("bad SQLite URL: {e}"))
    }
}

/// For log lines: an SQLite URL carries no credentials, so it is shown as given.
impl fmt::Display for SqliteTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqliteTarget::Memory => f.write_str("sqlite::memory:"),
            SqliteTarget::Url(url) | SqliteTarget::Path(url) => f.write_str(url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_every_url_form() {
        assert_eq!(
            SqliteTarget::parse("sqlite::memory:"),
            Ok(SqliteTarget::Memory)
        );
        assert_eq!(SqliteTarget::parse(":memory:"), Ok(SqliteTarget::Memory));
        assert_eq!(
            SqliteTarget::parse("sqlite://?mode=memory"),
            Ok(SqliteTarget::Memory)
        );
        assert_eq!(
            SqliteTarget::parse("sqlite://data/app.db"),
            Ok(SqliteTarget::Url("sqlite://data/app.db".into()))
        );
        assert_eq!(
            SqliteTarget::parse(" sqlite:app.db?mode=ro "),
            Ok(SqliteTarget::Url("sqlite:app.db?mode=ro".into()))
        );
        assert_eq!(
            SqliteTarget::parse("socialscale.db"),
            Ok(SqliteTarget::Path("socialscale.db".into()))
        );
    }

    /// What sqlx would refuse at connect time is refused when parsing.
    #[test]
    fn bad_urls_are_refused_before_connecting() {
        assert!(SqliteTarget::parse("  ").is_err());
        let e = SqliteTarget::parse("sqlite://app.db?mode=sideways").unwrap_err();
        assert!(e.contains("mode"), "{e}");
        let e = SqliteTarget::parse("sqlite://app.db?colour=blue").unwrap_err();
        assert!(e.contains("colour"), "{e}");
    }
}
