//! `socialscale-ceiling [ADDR]`: a bare axum server that answers every `GET` with a small fixed
//! JSON body (default address 127.0.0.1:3391).
//!
//! It is the ceiling `scripts/bench.sh` measures first and divides every row by: same
//! framework, same runtime, same machine, no work of ours, so the ratio is what our own
//! per-request work costs.

use std::net::SocketAddr;
use std::process::ExitCode;

use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

#[derive(Serialize)]
struct Alive {
    status: &'static str,
}

async fn alive() -> Json<Alive> {
    Json(Alive { status: "alive" })
}

fn main() -> ExitCode {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3391".to_owned());
    let addr: SocketAddr = match addr.parse() {
        Ok(a) => a,
        Err(_) => {
            eprintln!("socialscale-ceiling: {addr:?} is not an address (e.g. 127.0.0.1:3391)");
            return ExitCode::from(2);
        }
    };
    // The server's own runtime: multi-threaded, one worker per core.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("socialscale-ceiling: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let app = Router::new().fallback(get(alive));
        axum::serve(listener, app).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("socialscale-ceiling: {e}");
            ExitCode::FAILURE
        }
    }
}
