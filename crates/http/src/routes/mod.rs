//! Handlers, one module per resource. Each handler parses, calls one service, maps the answer.

pub mod api_keys;
pub mod auth;
pub mod health;
pub mod posts;
pub mod stream;
pub mod users;
pub mod web;

use utoipa::IntoParams;

/// `?limit&cursor` as documented (parsing is done by `extract::PageQuery`).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Only read by the OpenAPI generator.
pub struct PageParams {
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// A `nextCursor` from a previous page of this same list (a UUIDv7 in 32 hex digits).
    #[param(pattern = "^[0-9a-f]{12}7[0-9a-f]{19}$")]
    cursor: Option<String>,
}

/// The `Idempotency-Key` header of the writes that take one (parsing is done by
/// `extract::IdempotencyKeyHeader`).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // Only read by the OpenAPI generator.
pub struct IdempotencyKeyParam {
    /// 1 to 255 visible ASCII characters. A retry with the same key and the same request gets
    /// the first response and writes nothing; the same key with a different request is 422
    /// `IdempotencyKeyReusedError`. Keys live 24 hours.
    #[param(
        rename = "Idempotency-Key",
        min_length = 1,
        max_length = 255,
        pattern = "^[!-~]{1,255}$"
    )]
    idempotency_key: Option<String>,
}
