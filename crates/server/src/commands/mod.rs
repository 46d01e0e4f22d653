//! The binary's subcommands.

pub mod healthcheck;
pub mod seed;

pub use healthcheck::healthcheck;
pub use seed::seed;

use crate::app::{shutdown_signal, App};
use crate::backends::Database;
use crate::config::Config;

/// Serves until SIGINT/SIGTERM, then shuts down gracefully.
pub async fn serve(config: &Config) -> anyhow::Result<()> {
    if config.jwt_secret_generated {
        tracing::warn!(
            "JWT_SECRET is not set: using a random secret, so tokens stop working on restart"
        );
    }
    let app = App::build(config).await?;
    let addr = app.local_addr()?;
    let stop = app.shutdown_token();
    let signal = shutdown_signal();
    tokio::spawn(async move {
        signal.await;
        stop.cancel();
    });
    tracing::info!(%addr, database = %redact(&config.settings.database_url), "listening");
    app.run_until_stopped().await
}

/// Applies migrations and exits.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let database = Database::open(config).await?;
    database.close().await;
    tracing::info!("migrations applied");
    println!("migrations applied");
    Ok(())
}

/// A database URL without its password, fit for a log line.
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
    use super::redact;

    #[test]
    fn passwords_never_reach_the_log() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("sqlite://socialscale.db"), "sqlite://socialscale.db");
    }
}
