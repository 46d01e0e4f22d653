//! The test harness's config comes from its flags alone (`Cli::try_parse_args_only`), never
//! from the environment. One test in its own binary, because it sets process-wide variables.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use server::{Cli, Config};

#[test]
fn exported_variables_do_not_reach_a_config_parsed_from_flags_only() {
    // Process-wide, which is why this binary holds no other test.
    std::env::set_var("REDIS_URL", "redis://127.0.0.1:1");
    std::env::set_var("RATE_LIMIT_GENERAL", "1/1h");
    std::env::set_var("CACHE_ENABLED", "false");
    std::env::set_var("PORT", "1");

    let flags_only = Cli::try_parse_args_only(["socialscale", "--port", "0"]).unwrap();
    let config = Config::from_settings(flags_only.settings).unwrap();
    assert_eq!(config.settings.redis_url, None);
    assert!(config.settings.cache_enabled);
    assert_eq!(config.settings.port, 0);

    // The binary's own parsing still reads them (that is how operators configure it).
    let from_env = <Cli as clap::Parser>::try_parse_from(["socialscale"]).unwrap();
    assert_eq!(
        from_env.settings.redis_url.as_deref(),
        Some("redis://127.0.0.1:1")
    );
    assert_eq!(from_env.settings.port, 1);
}
