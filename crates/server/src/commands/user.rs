//! `socialscale user set-tier USERNAME TIER`.

use std::sync::Arc;

use anyhow::bail;
use domain::error::UserError;
use domain::model::Tier;
use domain::services::TierService;
use local::UuidV7Generator;
use tokio_util::sync::CancellationToken;

use crate::backends::{Database, SharedTier};
use crate::config::{Config, UserCommand};

pub async fn user(config: &Config, command: &UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::SetTier { username, tier } => set_tier(config, username, *tier).await,
    }
}

/// Writes the tier, then invalidates the user in the cache the servers share: with Redis, every
/// running instance drops its copy at once (the same pub/sub a logout uses). Without Redis each
/// server caches users in its own memory, out of this process's reach: they see the change when
/// their copy expires, within a minute (the user cache's lifetime).
async fn set_tier(config: &Config, username: &str, tier: Tier) -> anyhow::Result<()> {
    let database = Database::open(config).await?;
    let stop = CancellationToken::new();
    let shared = SharedTier::build(config, &stop).await?;
    let tiers = TierService::new(
        database.users.clone(),
        shared.cache.clone(),
        Arc::new(UuidV7Generator),
    );
    let outcome = tiers.set_tier(username, tier).await;
    stop.cancel();
    database.close().await;
    match outcome {
        Ok(id) => {
            println!("{username} ({id}) is now {tier}");
            if config.redis.is_none() {
                println!(
                    "note: without REDIS_URL, a running server applies it within 60 s (when its cached copy of the user expires)"
                );
            }
            Ok(())
        }
        Err(UserError::NotFound) => bail!("no user named {username:?}"),
        Err(e) => Err(e.into()),
    }
}
