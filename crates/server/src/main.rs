use std::process::ExitCode;

use clap::Parser;
use server::config::{Cli, Command, Config};
use server::{commands, telemetry};

fn main() -> ExitCode {
    // A missing .env is normal; a malformed one is reported by the config check below.
    let _ = dotenvy::dotenv();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.to_string();
            eprintln!(
                "{}",
                text.lines()
                    .next()
                    .unwrap_or("error: invalid configuration")
            );
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Healthcheck(args)) = &cli.command {
        // Before the configuration check and logging: the probe must not fail, or print log
        // lines, because of a setting only `serve` needs.
        let url = args.target(&cli.settings);
        let timeout = std::time::Duration::from_millis(args.timeout_ms);
        return match commands::healthcheck(&url, timeout) {
            Ok(status_line) => {
                println!("{url}: {status_line}");
                ExitCode::SUCCESS
            }
            Err(why) => {
                eprintln!("unhealthy: {url}: {why}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match Config::from_settings(cli.settings) {
        Ok(c) => c,
        Err(line) => {
            eprintln!("error: {line}");
            return ExitCode::from(2);
        }
    };
    let mut log_level = config.settings.log_level.clone();
    if matches!(cli.command, Some(Command::Seed(_))) {
        // A bulk load's index builds and commit are slow statements by design: sqlx's
        // slow-statement warnings would only bury the progress lines.
        log_level.push_str(",sqlx::query=error");
    }
    if let Err(line) = telemetry::init_logging(&log_level, config.settings.log_format) {
        eprintln!("error: {line}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => commands::serve(&config).await,
            Command::Migrate => commands::migrate(&config).await,
            Command::Seed(args) => commands::seed(&config, &args).await,
            Command::User(command) => commands::user(&config, &command).await,
            Command::Worker => commands::worker(&config).await,
            Command::Healthcheck(_) => unreachable!("handled before the configuration check"),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line with the whole cause chain; no backtrace.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
