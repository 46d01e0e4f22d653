//! The `socialscale` binary itself, run as a child process the way an operator runs it: its
//! exit codes, its stderr, its log lines, its answer to SIGTERM, what survives a `kill -9`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod config_errors;
mod crash;
mod healthcheck;
mod logs;
mod shutdown;
mod support;
mod user;
mod worker;
