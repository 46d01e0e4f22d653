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

/// Runs the feed's outbox relay and fan-out workers, no HTTP listener, until SIGINT/SIGTERM;
/// each worker then finishes the batch in hand.
pub async fn worker(config: &Config) -> anyhow::Result<()> {
    if config.feed.strategy != crate::config::FeedStrategy::Fanout {
        anyhow::bail!(
            "socialscale worker needs REDIS_URL (and FEED_STRATEGY=fanout, its default with Redis)"
        );
    }
    let database = Database::open(config).await?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let signal = shutdown_signal();
    let shared = crate::backends::SharedTier::build(config, &shutdown).await?;
    // Only a shared log has readers outside this process.
    let live = shared
        .redis
        .as_ref()
        .map(|redis| crate::feed::live_log(config, Some(redis)));
    let (_, feed) = crate::feed::build(config, &database, shared.redis.as_ref(), live);
    // A worker tier exists to handle events: at least one worker, whatever FEED_WORKERS says.
    let workers = feed.workers().max(1);
    let tasks = feed.spawn(&shutdown, workers);
    tracing::info!(workers, database = %config.database, "feed workers running");
    signal.await;
    tracing::info!("stopping: the workers finish the batch in hand");
    shutdown.cancel();
    let grace = std::time::Duration::from_secs(config.settings.shutdown_grace_seconds);
    crate::feed::join(tasks, grace).await;
    database.close().await;
    tracing::info!("stopped");
    Ok(())
}
