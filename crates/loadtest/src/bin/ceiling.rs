//! `socialscale-ceiling [ADDR]`: a bare axum server that answers every `GET` with a small fixed
//! JSON body (default address 127.0.0.1:3391), and `GET /bytes/{n}` with a fixed body of `n`
//! bytes (at most 1 MiB): the ceiling for a response as large as a page of posts, so a
//! benchmark can tell what our work costs from what moving the bytes costs.
//!
//! It is the ceiling `scripts/bench.sh` measures first and divides every row by: same
//! framework, same runtime, same machine, no work of ours, so the ratio is what our own
//! per-request work costs.

use std::net::SocketAddr;
use std::process::ExitCode;

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
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

/// The largest `/bytes/{n}` body.
const MAX_BYTES: usize = 1 << 20;

/// A body of `n` bytes, sliced (no copy) from one buffer made at start-up.
async fn bytes(Path(n): Path<usize>, buffer: Bytes) -> impl IntoResponse {
    if n > buffer.len() {
        return (StatusCode::BAD_REQUEST, "n must be at most 1048576").into_response();
    }
    (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        buffer.slice(..n),
    )
        .into_response()
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
        let buffer = Bytes::from(vec![b'x'; MAX_BYTES]);
        let app = Router::new()
            .route(
                "/bytes/{n}",
                get(move |n: Path<usize>| bytes(n, buffer.clone())),
            )
            .fallback(get(alive));
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
