use super::*;

fn settings(args: &[&str]) -> Result<Settings, clap::Error> {
    let mut all = vec!["socialscale"];
    all.extend_from_slice(args);
    Cli::try_parse_from(all).map(|c| c.settings)
}

#[test]
fn durations_and_limits() {
    assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
    assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
    assert!(parse_duration("5 parsecs").is_err());
    assert!(parse_duration("0s").is_err());
    assert_eq!(
        parse_duration("3650d").unwrap(),
        Duration::from_secs(3650 * 86_400)
    );
    for overflow in ["3651d", "213503982334602d", "18446744073709551616"] {
        let e = parse_duration(overflow).unwrap_err();
        assert!(
            e.contains("too long") || e.contains("not a duration"),
            "{e}"
        );
    }
    assert_eq!(
        parse_limit("10/15m").unwrap(),
        (10, Duration::from_secs(900))
    );
    assert!(parse_limit("0/1s").is_err());
    assert!(parse_limit("ten/1s").is_err());
}

#[test]
fn production_needs_a_long_secret() {
    let s = settings(&["--app-env", "production"]).unwrap();
    let e = Config::from_settings(s).unwrap_err();
    assert!(e.contains("JWT_SECRET"), "{e}");
    let s = settings(&["--app-env", "production", "--jwt-secret", "short"]).unwrap();
    assert!(Config::from_settings(s).unwrap_err().contains("JWT_SECRET"));
    let long = "x".repeat(32);
    let s = settings(&["--app-env", "production", "--jwt-secret", &long]).unwrap();
    let c = Config::from_settings(s).unwrap();
    assert!(!c.jwt_secret_generated);
}

#[test]
fn development_generates_a_secret() {
    let c = Config::from_settings(settings(&[]).unwrap()).unwrap();
    assert!(c.jwt_secret_generated);
    assert_eq!(c.jwt_secret.len(), 32);
    assert_eq!(c.policies.general.limit, 15_000);
    assert_eq!(c.policies.login_failures.window, Duration::from_secs(900));
    assert_eq!(
        (c.policies.api_key.limit, c.policies.api_key.window),
        (30_000, Duration::from_secs(30))
    );
    assert_eq!(c.policies.api_key.name, "api_key");
    assert_eq!(c.policies.trusted_multiplier, 10);
}

#[test]
fn the_user_command_parses_a_tier_and_refuses_others() {
    let cli = Cli::try_parse_from(["socialscale", "user", "set-tier", "Ada", "trusted"]).unwrap();
    match cli.command {
        Some(Command::User(UserCommand::SetTier { username, tier })) => {
            assert_eq!(
                (username.as_str(), tier),
                ("Ada", domain::model::Tier::Trusted)
            );
        }
        other => panic!("{other:?}"),
    }
    let e = Cli::try_parse_from(["socialscale", "user", "set-tier", "ada", "gold"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("standard or trusted"), "{e}");
}

#[test]
fn bad_values_name_their_variable() {
    let e = settings(&["--port", "eighty"]).unwrap_err().to_string();
    assert!(e.contains("PORT"), "{e}");
    let e = settings(&["--rate-limit-algorithm", "leaky"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("RATE_LIMIT_ALGORITHM"), "{e}");
    let s = settings(&["--redis-url", "localhost:6379"]).unwrap();
    let e = Config::from_settings(s).unwrap_err();
    assert!(e.starts_with("REDIS_URL") && !e.contains('\n'), "{e}");
    let s = settings(&["--redis-url", "redis+cluster://10.0.0.1:7000,10.0.0.2:7001"]).unwrap();
    assert!(Config::from_settings(s).is_ok());
    let s = settings(&["--database-url", "mysql://x"]).unwrap();
    assert!(Config::from_settings(s)
        .unwrap_err()
        .contains("DATABASE_URL"));
    let s = settings(&["--database-read-urls", "postgres://r/db"]).unwrap();
    let e = Config::from_settings(s).unwrap_err();
    assert!(e.starts_with("DATABASE_READ_URLS"), "{e}");
    let pg = ["--database-url", "postgres://p/db", "--database-read-urls"];
    let s = settings(&[&pg[..], &["postgres://r/db, postgresql://r2/db"]].concat()).unwrap();
    assert!(Config::from_settings(s).is_ok());
    let s = settings(&[&pg[..], &["mysql://r/db"]].concat()).unwrap();
    let e = Config::from_settings(s).unwrap_err();
    assert!(e.starts_with("DATABASE_READ_URLS"), "{e}");
    let s = settings(&["--db-statement-timeout-ms", "0"]).unwrap();
    let e = Config::from_settings(s).unwrap_err();
    assert!(e.starts_with("DB_STATEMENT_TIMEOUT_MS"), "{e}");
}

/// The defaults the README's configuration table documents, from no flags and no environment.
#[test]
fn documented_defaults() {
    let s = Cli::try_parse_args_only(["socialscale"]).unwrap().settings;
    assert_eq!(s.port, 3333);
    assert_eq!(s.host.to_string(), "0.0.0.0");
    assert_eq!(s.app_env, AppEnv::Development);
    assert_eq!(s.database_url, "sqlite://socialscale.db");
    assert_eq!(s.database_read_urls, None);
    assert_eq!(s.db_max_connections, 8);
    assert_eq!(s.db_statement_timeout_ms, 5000);
    assert_eq!(s.redis_url, None);
    assert_eq!(s.redis_key_prefix, "ss:");
    assert_eq!(s.redis_timeout_ms, 250);
    assert_eq!(s.redis_l1_ttl_ms, 1000);
    assert_eq!(s.jwt_ttl, Duration::from_secs(7 * 86_400));
    assert_eq!(s.log_level, "info");
    assert_eq!(s.log_format, LogFormat::Json);
    assert_eq!(s.rate_limit_algorithm, RateAlgorithm::SlidingWindow);
    assert_eq!(s.rate_limit_general, (15_000, Duration::from_secs(30)));
    assert_eq!(s.rate_limit_post, (10_000, Duration::from_secs(30)));
    assert_eq!(s.rate_limit_login, (5_000, Duration::from_secs(60)));
    assert_eq!(s.rate_limit_signup, (2_000, Duration::from_secs(60)));
    assert_eq!(s.rate_limit_login_failures, (10, Duration::from_secs(900)));
    assert_eq!(
        s.rate_limit_login_failures_account,
        (100, Duration::from_secs(900))
    );
    assert_eq!(s.cors_origins, "*");
    assert_eq!(s.shutdown_grace_seconds, 30);
    assert_eq!(s.cache_capacity, 100_000);
    assert!(s.cache_enabled);
    assert_eq!(s.hashing.hash_concurrency, None);
    assert_eq!(s.hashing.hash_queue, 256);
    assert_eq!(s.hashing.hash_wait_ms, 3000);
    assert_eq!(s.hashing.hash_nice, 10);
    let http = Config::from_settings(s).unwrap().http;
    assert_eq!(http.header_timeout, Duration::from_secs(10));
    assert_eq!(http.idle_timeout, Duration::from_secs(75));
    assert_eq!(http.request_timeout, Duration::from_secs(30));
    assert_eq!(
        http.max_connections, None,
        "10000, fitted to the open-file limit"
    );
    assert_eq!(http.max_in_flight, 1024);
}

#[test]
fn http_bounds_must_be_positive_and_name_their_variable() {
    for name in [
        "HTTP_HEADER_TIMEOUT_MS",
        "HTTP_IDLE_TIMEOUT_MS",
        "HTTP_REQUEST_TIMEOUT_MS",
        "HTTP_MAX_CONNECTIONS",
        "HTTP_MAX_IN_FLIGHT",
    ] {
        let flag = format!("--{}", name.to_lowercase().replace('_', "-"));
        let e = settings(&[&flag, "0"]).unwrap_err().to_string();
        assert!(e.lines().next().unwrap().contains(name), "{e}");
        let s = settings(&[&flag, "250"]).unwrap();
        assert!(Config::from_settings(s).is_ok(), "{name}=250");
    }
    let s = settings(&[
        "--http-max-connections",
        "50",
        "--http-idle-timeout-ms",
        "5",
    ])
    .unwrap();
    let http = Config::from_settings(s).unwrap().http;
    assert_eq!(http.max_connections, Some(50));
    assert_eq!(http.idle_timeout, Duration::from_millis(5));
}

fn config(args: &[&str]) -> Result<Config, String> {
    Config::from_settings(settings(args).unwrap())
}

/// One line, naming `variable` first.
fn refused(args: &[&str], variable: &str) -> String {
    let e = config(args).unwrap_err();
    assert!(
        e.starts_with(variable) && !e.contains('\n'),
        "{args:?}: {e}"
    );
    e
}

#[test]
fn database_urls_become_typed_targets() {
    let c = config(&[]).unwrap();
    assert!(
        matches!(&c.database, DatabaseTarget::Sqlite(sqlite::SqliteTarget::Url(u)) if u == "sqlite://socialscale.db"),
        "{:?}",
        c.database
    );
    let c = config(&["--database-url", "sqlite::memory:"]).unwrap();
    assert!(matches!(
        c.database,
        DatabaseTarget::Sqlite(sqlite::SqliteTarget::Memory)
    ));
    let c = config(&["--database-url", "data/app.db"]).unwrap();
    assert!(matches!(
        c.database,
        DatabaseTarget::Sqlite(sqlite::SqliteTarget::Path(_))
    ));
    let c = config(&[
        "--database-url",
        "postgres://u:pw@p/db",
        "--database-read-urls",
        " postgres://r1/db , ,postgresql://r2/db",
    ])
    .unwrap();
    let DatabaseTarget::Postgres { primary, replicas } = &c.database else {
        panic!("{:?}", c.database)
    };
    assert_eq!(primary.to_string(), "postgres://u:***@p/db");
    let replicas: Vec<String> = replicas.iter().map(ToString::to_string).collect();
    assert_eq!(replicas, ["postgres://r1/db", "postgresql://r2/db"]);
    assert_eq!(c.database.to_string(), "postgres://u:***@p/db");
}

#[test]
fn bad_database_urls_name_their_variable_without_echoing_a_password() {
    let e = refused(
        &["--database-url", "mysql://u:hunter2@x/db"],
        "DATABASE_URL",
    );
    assert!(e.contains("\"mysql\"") && !e.contains("hunter2"), "{e}");
    let e = refused(
        &["--database-url", "postgres://u:hunter2@h:port/db"],
        "DATABASE_URL",
    );
    assert!(!e.contains("hunter2"), "{e}");
    refused(
        &["--database-url", "sqlite://x.db?mode=sideways"],
        "DATABASE_URL",
    );
    refused(&["--database-url", " "], "DATABASE_URL");
    let pg = ["--database-url", "postgres://p/db", "--database-read-urls"];
    let e = refused(
        &[&pg[..], &["postgres://r1/db,redis://u:hunter2@r2"]].concat(),
        "DATABASE_READ_URLS",
    );
    assert!(e.contains("entry 2") && !e.contains("hunter2"), "{e}");
    let e = refused(
        &[&pg[..], &["postgres://r1/db?sslmode=sometimes"]].concat(),
        "DATABASE_READ_URLS",
    );
    assert!(e.contains("entry 1"), "{e}");
    refused(
        &[
            "--database-url",
            "sqlite::memory:",
            "--database-read-urls",
            "postgres://r/db",
        ],
        "DATABASE_READ_URLS",
    );
}

#[test]
fn redis_urls_become_typed_targets() {
    assert_eq!(config(&[]).unwrap().redis, None);
    let c = config(&["--redis-url", "redis://127.0.0.1:6379/2"]).unwrap();
    assert_eq!(
        c.redis,
        Some(RedisTarget::Single("redis://127.0.0.1:6379/2".into()))
    );
    let c = config(&["--redis-url", "redis+cluster://a:7000,b:7001"]).unwrap();
    assert_eq!(
        c.redis.unwrap().nodes(),
        ["redis://a:7000", "redis://b:7001"]
    );
    refused(&["--redis-url", "http://x"], "REDIS_URL");
    refused(
        &["--redis-url", "redis://a:7000,http://b:7001"],
        "REDIS_URL",
    );
}

#[test]
fn the_hashing_pool_is_configured_and_checked() {
    let pool = config(&[]).unwrap().hashing.pool;
    assert_eq!(pool, local::HasherConfig::default().pool);
    let c = config(&[
        "--hash-concurrency",
        "3",
        "--hash-queue",
        "7",
        "--hash-wait-ms",
        "250",
        "--hash-nice",
        "0",
    ])
    .unwrap();
    assert_eq!(
        c.hashing.pool,
        local::PoolConfig {
            threads: 3,
            queue: 7,
            wait: Duration::from_millis(250),
            nice: 0,
            idle: Duration::from_secs(5),
        }
    );
    assert_eq!(c.hashing.memory_kib, 19_456, "the cost is not a setting");
    for (flag, value, variable) in [
        ("--hash-concurrency", "0", "HASH_CONCURRENCY"),
        ("--hash-concurrency", "5000", "HASH_CONCURRENCY"),
        ("--hash-queue", "0", "HASH_QUEUE"),
        ("--hash-wait-ms", "0", "HASH_WAIT_MS"),
        ("--hash-wait-ms", "600001", "HASH_WAIT_MS"),
        ("--hash-nice", "20", "HASH_NICE"),
        ("--hash-nice=-1", "", "HASH_NICE"),
    ] {
        let args: Vec<&str> = [flag, value]
            .into_iter()
            .filter(|a| !a.is_empty())
            .collect();
        refused(&args, variable);
    }
}
