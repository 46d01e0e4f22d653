//! Shared by the Redis test binaries.
#![allow(dead_code)]

pub mod suites;
pub mod support;
