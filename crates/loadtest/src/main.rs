//! `socialscale-load SCENARIO [--url URL] [--stages …] [--threshold …] [--json FILE]`.
//! Exit status: 0 ok, 1 a threshold broke, 2 bad flags, a refused target or a failed setup.

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;
use loadtest::Args;

/// clap's message without its usage block: the lines before the first blank one, joined.
fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let lines: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    lines.join(" ").trim_start_matches("error: ").to_string()
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("socialscale-load: {}", one_line(&e));
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("socialscale-load: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(loadtest::run(args)) {
        Ok(report) => {
            print!("{}", report.table());
            let broken: Vec<_> = report.thresholds.iter().filter(|t| !t.passed).collect();
            if broken.is_empty() {
                ExitCode::SUCCESS
            } else {
                for t in broken {
                    eprintln!(
                        "socialscale-load: threshold {} broken (actual {})",
                        t.threshold, t.actual
                    );
                }
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("socialscale-load: {e:#}");
            ExitCode::from(2)
        }
    }
}
