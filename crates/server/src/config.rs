//! Configuration from the environment, a `.env` file, or the same names as flags.
//!
//! Every value is checked here, before anything starts, so a bad value stops start-up with one
//! line that names it.

use std::net::IpAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use domain::ports::{RateAlgorithm, RatePolicy};
use http_adapter::TrustedProxies;

mod auth;
mod feed;
mod hashing;
mod http;
mod seed;
mod stream;
mod targets;
pub use auth::{AuthSettings, UserCommand};
pub use feed::{FeedConfig, FeedSettings, FeedStrategy};
pub use hashing::HashSettings;
pub use http::{HttpLimits, HttpSettings};
pub use redis_adapter::RedisTarget;
pub use seed::{Preset, SeedArgs, SeedSize};
pub use stream::{StreamConfig, StreamSettings};
pub use targets::DatabaseTarget;

#[derive(Parser, Debug)]
#[command(
    name = "socialscale",
    version,
    about = "SocialScale: a social-media API server"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

impl Cli {
    /// Parses `args` alone: no setting is read from the environment (each setting's variable
    /// is switched off before parsing). For tests and embedders, whose configuration must not
    /// change with whatever the shell exported (`REDIS_URL`, `RATE_LIMIT_*`, …).
    pub fn try_parse_args_only<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory, FromArgMatches};
        let command = Cli::command().mut_args(|arg| arg.env(None::<&str>));
        Cli::from_arg_matches(&command.try_get_matches_from(args)?)
    }
}

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Serve the API (the default when no command is given).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Fill the database with generated users, follows and posts (for benchmarks).
    Seed(SeedArgs),
    /// Exit 0 if the liveness URL answers 200, else 1 (a container HEALTHCHECK without curl).
    Healthcheck(HealthcheckArgs),
    /// Operator commands on users (`user set-tier USERNAME trusted`).
    #[command(subcommand)]
    User(UserCommand),
    /// Run the feed's outbox relay and fan-out workers only, no HTTP listener (a separate
    /// worker tier; needs REDIS_URL). Stops on SIGTERM after the batch in hand.
    Worker,
}

/// `socialscale healthcheck`.
#[derive(Args, Debug, Clone)]
pub struct HealthcheckArgs {
    /// The URL to GET (http:// only) [default: http://127.0.0.1:$PORT/health/liveness, or
    /// HOST in place of 127.0.0.1 when HOST is a specific address].
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Bound on the whole check: resolving, connecting, sending and reading the status line.
    #[arg(long, value_name = "MS", default_value_t = 3000,
        value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub timeout_ms: u64,
}

impl HealthcheckArgs {
    /// The URL to check: `--url`, else the liveness route of the address `serve` listens on.
    pub fn target(&self, settings: &Settings) -> String {
        if let Some(url) = &self.url {
            return url.clone();
        }
        // A wildcard bind is reached on loopback of the same family.
        let host = match settings.host {
            IpAddr::V4(a) if a.is_unspecified() => "127.0.0.1".to_owned(),
            IpAddr::V6(a) if a.is_unspecified() => "[::1]".to_owned(),
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => format!("[{a}]"),
        };
        format!("http://{host}:{}/health/liveness", settings.port)
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// The raw settings, each with its environment variable. Parsed into [`Config`].
#[derive(Args, Debug, Clone)]
pub struct Settings {
    #[arg(
        long,
        env = "PORT",
        value_name = "PORT",
        default_value_t = 3333,
        global = true
    )]
    pub port: u16,
    #[arg(
        long,
        env = "HOST",
        value_name = "HOST",
        default_value = "0.0.0.0",
        global = true
    )]
    pub host: IpAddr,
    #[arg(
        long,
        env = "APP_ENV",
        value_name = "APP_ENV",
        value_enum,
        default_value = "development",
        global = true
    )]
    pub app_env: AppEnv,
    #[arg(
        long,
        env = "DATABASE_URL",
        value_name = "DATABASE_URL",
        default_value = "sqlite://socialscale.db",
        global = true
    )]
    pub database_url: String,
    #[arg(
        long,
        env = "DATABASE_READ_URLS",
        value_name = "DATABASE_READ_URLS",
        global = true
    )]
    pub database_read_urls: Option<String>,
    #[arg(long, env = "DB_MAX_CONNECTIONS", value_name = "DB_MAX_CONNECTIONS", default_value_t = 8,
        value_parser = clap::value_parser!(u32).range(1..=1000), global = true)]
    pub db_max_connections: u32,
    #[arg(
        long,
        env = "DB_STATEMENT_TIMEOUT_MS",
        value_name = "DB_STATEMENT_TIMEOUT_MS",
        default_value_t = 5000,
        global = true
    )]
    pub db_statement_timeout_ms: u64,
    #[arg(long, env = "REDIS_URL", value_name = "REDIS_URL", global = true)]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and of the invalidation channel (instances sharing a Redis
    /// and a database must use the same one).
    #[arg(
        long,
        env = "REDIS_KEY_PREFIX",
        value_name = "REDIS_KEY_PREFIX",
        default_value = "ss:",
        global = true
    )]
    pub redis_key_prefix: String,
    /// Bound on each Redis call; past it the request is served without Redis.
    #[arg(long, env = "REDIS_TIMEOUT_MS", value_name = "REDIS_TIMEOUT_MS", default_value_t = 250,
        value_parser = clap::value_parser!(u64).range(1..=60_000), global = true)]
    pub redis_timeout_ms: u64,
    /// With Redis, the longest an entry stays in the in-process L1 (the backstop for missed
    /// invalidation messages).
    #[arg(long, env = "REDIS_L1_TTL_MS", value_name = "REDIS_L1_TTL_MS", default_value_t = 1000,
        value_parser = clap::value_parser!(u64).range(0..=3_600_000), global = true)]
    pub redis_l1_ttl_ms: u64,
    #[arg(
        long,
        env = "JWT_SECRET",
        value_name = "JWT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub jwt_secret: Option<String>,
    #[arg(long, env = "JWT_TTL", value_name = "JWT_TTL", default_value = "7d", value_parser = parse_duration, global = true)]
    pub jwt_ttl: Duration,
    #[arg(
        long,
        env = "LOG_LEVEL",
        value_name = "LOG_LEVEL",
        default_value = "info",
        global = true
    )]
    pub log_level: String,
    #[arg(
        long,
        env = "LOG_FORMAT",
        value_name = "LOG_FORMAT",
        value_enum,
        default_value = "json",
        global = true
    )]
    pub log_format: LogFormat,
    #[arg(long, env = "RATE_LIMIT_ALGORITHM", value_name = "RATE_LIMIT_ALGORITHM", default_value = "sliding_window", value_parser = parse_algorithm, global = true)]
    pub rate_limit_algorithm: RateAlgorithm,
    #[arg(long, env = "RATE_LIMIT_GENERAL", value_name = "RATE_LIMIT_GENERAL", default_value = "15000/30s", value_parser = parse_limit, global = true)]
    pub rate_limit_general: (u32, Duration),
    #[arg(long, env = "RATE_LIMIT_POST", value_name = "RATE_LIMIT_POST", default_value = "10000/30s", value_parser = parse_limit, global = true)]
    pub rate_limit_post: (u32, Duration),
    #[arg(long, env = "RATE_LIMIT_LOGIN", value_name = "RATE_LIMIT_LOGIN", default_value = "5000/60s", value_parser = parse_limit, global = true)]
    pub rate_limit_login: (u32, Duration),
    #[arg(long, env = "RATE_LIMIT_SIGNUP", value_name = "RATE_LIMIT_SIGNUP", default_value = "2000/60s", value_parser = parse_limit, global = true)]
    pub rate_limit_signup: (u32, Duration),
    #[arg(long, env = "RATE_LIMIT_LOGIN_FAILURES", value_name = "RATE_LIMIT_LOGIN_FAILURES", default_value = "10/15m", value_parser = parse_limit, global = true)]
    pub rate_limit_login_failures: (u32, Duration),
    #[arg(long, env = "RATE_LIMIT_LOGIN_FAILURES_ACCOUNT", value_name = "RATE_LIMIT_LOGIN_FAILURES_ACCOUNT", default_value = "100/15m", value_parser = parse_limit, global = true)]
    pub rate_limit_login_failures_account: (u32, Duration),
    #[arg(long, env = "TRUSTED_PROXIES", value_name = "TRUSTED_PROXIES", default_value = "", value_parser = parse_proxies, global = true)]
    pub trusted_proxies: TrustedProxies,
    #[arg(
        long,
        env = "CORS_ORIGINS",
        value_name = "CORS_ORIGINS",
        default_value = "*",
        global = true
    )]
    pub cors_origins: String,
    #[arg(
        long,
        env = "SHUTDOWN_GRACE_SECONDS",
        value_name = "SHUTDOWN_GRACE_SECONDS",
        default_value_t = 30,
        // An hour is already longer than any orchestrator waits before SIGKILL.
        value_parser = clap::value_parser!(u64).range(0..=3600),
        global = true
    )]
    pub shutdown_grace_seconds: u64,
    /// Entries the in-process cache holds at most.
    #[arg(
        long,
        env = "CACHE_CAPACITY",
        value_name = "CACHE_CAPACITY",
        default_value_t = 100_000,
        global = true
    )]
    pub cache_capacity: u64,
    /// `false` turns caching off (to measure what the cache buys).
    #[arg(long, env = "CACHE_ENABLED", value_name = "CACHE_ENABLED", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub cache_enabled: bool,
    #[command(flatten)]
    pub hashing: HashSettings,
    #[command(flatten)]
    pub http: HttpSettings,
    #[command(flatten)]
    pub auth: AuthSettings,
    #[command(flatten)]
    pub feed: FeedSettings,
    #[command(flatten)]
    pub stream: StreamSettings,
}

/// The checked configuration the composition root builds from.
#[derive(Clone, Debug)]
pub struct Config {
    pub settings: Settings,
    /// `DATABASE_URL` and `DATABASE_READ_URLS`, parsed.
    pub database: DatabaseTarget,
    /// `REDIS_URL`, parsed; `None` keeps the cache and limits in process.
    pub redis: Option<RedisTarget>,
    pub jwt_secret: Vec<u8>,
    /// True when no secret was configured and a random one was made (tokens die on restart).
    pub jwt_secret_generated: bool,
    pub policies: Policies,
    pub cors_origins: Option<Vec<axum::http::HeaderValue>>,
    /// `HTTP_*`: timeouts, connection cap, load shedding.
    pub http: HttpLimits,
    /// `HASH_*`: the password hasher's cost and pool.
    pub hashing: local::HasherConfig,
    /// `FEED_*`: pull or fan-out, and the fan-out's limits.
    pub feed: FeedConfig,
    /// `STREAM_*`: the live stream's caps and history.
    pub stream: StreamConfig,
}

#[derive(Clone, Debug)]
pub struct Policies {
    pub general: RatePolicy,
    pub post: RatePolicy,
    pub login: RatePolicy,
    pub signup: RatePolicy,
    /// Failed logins per (client address, account).
    pub login_failures: RatePolicy,
    /// Failed logins per account, from any address (looser).
    pub login_failures_account: RatePolicy,
    /// Requests per API key.
    pub api_key: RatePolicy,
    /// Trusted users' limits are this many times the standard ones.
    pub trusted_multiplier: u32,
}

impl Config {
    /// Checks what clap cannot check field by field. The error is one line naming the variable.
    pub fn from_settings(settings: Settings) -> Result<Self, String> {
        let (jwt_secret, generated) = match (&settings.jwt_secret, settings.app_env) {
            (Some(s), _) if s.len() >= 32 => (s.as_bytes().to_vec(), false),
            (Some(_), AppEnv::Production) => {
                return Err("JWT_SECRET must be at least 32 bytes when APP_ENV=production".into())
            }
            (None, AppEnv::Production) => {
                return Err(
                    "JWT_SECRET is required (at least 32 bytes) when APP_ENV=production".into(),
                )
            }
            (Some(_), AppEnv::Development) => {
                return Err("JWT_SECRET must be at least 32 bytes".into())
            }
            (None, AppEnv::Development) => {
                let bytes: [u8; 32] = rand::random();
                (bytes.to_vec(), true)
            }
        };
        let database = DatabaseTarget::parse(
            &settings.database_url,
            settings.database_read_urls.as_deref(),
        )?;
        if settings.db_statement_timeout_ms == 0 {
            return Err("DB_STATEMENT_TIMEOUT_MS must be at least 1".into());
        }
        let redis = targets::parse_redis(settings.redis_url.as_deref())?;
        if settings.redis_key_prefix.contains(['{', '}']) {
            return Err(
                "REDIS_KEY_PREFIX must not contain { or } (they pick Redis Cluster slots)".into(),
            );
        }
        let hashing = settings.hashing.hasher_config()?;
        let feed = settings.feed.config(redis.is_some())?;
        let stream = settings.stream.config()?;
        let cors_origins = parse_origins(&settings.cors_origins)?;
        let algorithm = settings.rate_limit_algorithm;
        let policy = |name: &'static str, (limit, window): (u32, Duration)| RatePolicy {
            name,
            limit,
            window,
            algorithm,
        };
        let policies = Policies {
            general: policy("general", settings.rate_limit_general),
            post: policy("post", settings.rate_limit_post),
            login: policy("login", settings.rate_limit_login),
            signup: policy("signup", settings.rate_limit_signup),
            login_failures: policy("login_failures", settings.rate_limit_login_failures),
            login_failures_account: policy(
                "login_failures_account",
                settings.rate_limit_login_failures_account,
            ),
            api_key: policy("api_key", settings.auth.rate_limit_api_key),
            trusted_multiplier: settings.auth.rate_limit_trusted_multiplier,
        };
        Ok(Config {
            http: settings.http.limits(),
            settings,
            database,
            redis,
            jwt_secret,
            jwt_secret_generated: generated,
            policies,
            cors_origins,
            hashing,
            feed,
            stream,
        })
    }
}

fn parse_origins(raw: &str) -> Result<Option<Vec<axum::http::HeaderValue>>, String> {
    let items: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if items.is_empty() || items == ["*"] {
        return Ok(None);
    }
    items
        .into_iter()
        .map(|o| {
            axum::http::HeaderValue::from_str(o)
                .map_err(|_| format!("CORS_ORIGINS: {o:?} is not a valid origin"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

const MAX_DURATION_SECS: u64 = 3650 * 86_400;

/// `90`, `90s`, `15m`, `2h`, `7d`; at most ten years.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (digits, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration like 90s, 15m, 2h or 7d"))?;
    let unit_secs: u64 = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{raw:?} has an unknown unit (use s, m, h or d)")),
    };
    // Ten years bounds every use (a token's lifetime, a rate-limit window) far beyond sense,
    // and keeps the arithmetic on timestamps and milliseconds downstream from overflowing.
    let secs = n
        .checked_mul(unit_secs)
        .filter(|s| *s <= MAX_DURATION_SECS)
        .ok_or_else(|| format!("{raw:?} is too long (at most 3650d)"))?;
    if secs == 0 {
        return Err("a duration must be positive".into());
    }
    Ok(Duration::from_secs(secs))
}

/// `<count>/<window>`, e.g. `15000/30s` or `10/15m`.
pub fn parse_limit(raw: &str) -> Result<(u32, Duration), String> {
    let (count, window) = raw
        .split_once('/')
        .ok_or_else(|| format!("{raw:?} is not a limit like 15000/30s"))?;
    let count: u32 = count
        .trim()
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{raw:?}: the count must be a positive integer"))?;
    Ok((count, parse_duration(window)?))
}

fn parse_algorithm(raw: &str) -> Result<RateAlgorithm, String> {
    RateAlgorithm::parse(raw)
        .ok_or_else(|| format!("{raw:?} is not one of fixed_window, sliding_window, token_bucket"))
}

fn parse_proxies(raw: &str) -> Result<TrustedProxies, String> {
    TrustedProxies::parse(raw)
}

#[cfg(test)]
mod tests;
