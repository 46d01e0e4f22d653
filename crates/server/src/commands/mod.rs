//! The binary's subcommands.

pub mod healthcheck;
pub mod seed;
pub mod user;

pub use healthcheck::healthcheck;
pub use seed::seed;
pub use user::user;

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
    tracing::info!(%addr, database = %config.database, "listening");
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
