//! The `socialscale` binary's library half, so integration tests can build the same app.
//!
//! - `config`: flags, environment and `.env`, checked before anything starts.
//! - `telemetry`: logs and the Prometheus recorder.
//! - `app`: the composition root (`App::build`) and graceful shutdown.
//! - `heap`: the allocator (jemalloc) and its statistics.
//! - `listener`: the accept loop: connection timeouts and the connection cap.
//! - `backends`: which adapters back the ports (database; cache and limits), from config.
//! - `commands`: `serve` (default), `migrate`, `seed`, `healthcheck`, `user set-tier`.

pub mod app;
pub mod backends;
pub mod commands;
pub mod config;
pub mod feed;
pub mod heap;
pub mod listener;
pub mod telemetry;

pub use app::App;
pub use config::{Cli, Config};
