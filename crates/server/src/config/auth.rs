//! The settings and the subcommand of credentials and tiers: the API key policy, the trusted
//! tier's multiplier, `socialscale user set-tier`.

use std::time::Duration;

use clap::{Args, Subcommand};
use domain::model::Tier;

use super::parse_limit;

#[derive(Args, Debug, Clone)]
pub struct AuthSettings {
    /// Requests made with one API key, on the routes limited per user (in place of the route's
    /// own policy).
    #[arg(long, env = "RATE_LIMIT_API_KEY", value_name = "RATE_LIMIT_API_KEY", default_value = "30000/30s", value_parser = parse_limit, global = true)]
    pub rate_limit_api_key: (u32, Duration),
    /// Trusted users' limits (per user and per API key) are this many times the standard ones.
    #[arg(long, env = "RATE_LIMIT_TRUSTED_MULTIPLIER", value_name = "RATE_LIMIT_TRUSTED_MULTIPLIER", default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(1..=1000), global = true)]
    pub rate_limit_trusted_multiplier: u32,
}

/// `socialscale user …`: what operators change about a user.
#[derive(Subcommand, Debug, Clone)]
pub enum UserCommand {
    /// Set a user's tier: `trusted` multiplies their rate limits by
    /// RATE_LIMIT_TRUSTED_MULTIPLIER, `standard` undoes it.
    SetTier {
        /// The username, in any case.
        username: String,
        /// `standard` or `trusted`.
        #[arg(value_parser = parse_tier)]
        tier: Tier,
    },
}

fn parse_tier(raw: &str) -> Result<Tier, String> {
    Tier::parse(raw).ok_or_else(|| format!("{raw:?} is not a tier (standard or trusted)"))
}
