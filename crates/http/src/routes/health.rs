use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Backends {
    /// `sqlite` or `postgres`.
    pub database: &'static str,
    /// `local` (in process) or `redis`.
    pub cache: &'static str,
    #[serde(rename = "rateLimit")]
    pub rate_limit: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct ServiceStates {
    /// `healthy` or `unhealthy`.
    pub database: &'static str,
    pub cache: &'static str,
}

/// The home feed's strategy and, with fan-out, its relay and workers in this process.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedHealth {
    /// `pull` or `fanout`.
    pub strategy: &'static str,
    /// Fan-out worker tasks running in this process.
    pub workers: u64,
    /// `ok`, or `waiting` while the event stream cannot be reached (events wait in the outbox).
    pub relay: &'static str,
    /// Outbox rows not yet relayed, as last counted.
    pub outbox_backlog: u64,
    /// Events relayed and not yet handled by a worker, as last counted.
    pub stream_lag: u64,
    /// Events handled by this process's workers.
    pub events_handled: u64,
}

#[derive(Serialize, ToSchema)]
pub struct HealthReport {
    /// `ok`, or `degraded` when a service is unhealthy.
    pub status: &'static str,
    pub timestamp: String,
    /// Seconds since start.
    pub uptime: f64,
    pub version: &'static str,
    pub backends: Backends,
    pub services: ServiceStates,
    pub feed: FeedHealth,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not ready`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Liveness {
    pub status: &'static str,
}

fn state_word(r: &Result<(), String>) -> &'static str {
    if r.is_ok() {
        "healthy"
    } else {
        "unhealthy"
    }
}

/// Every dependency's state; 503 when one is unhealthy. Probes are cached for 1 s.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, body = HealthReport),
        (status = 503, description = "A dependency is unhealthy", body = HealthReport)))]
pub async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let h = &state.health;
    let (db, cache) = tokio::join!(h.database.check(), h.cache.check());
    let ok = db.is_ok() && cache.is_ok();
    let report = HealthReport {
        status: if ok { "ok" } else { "degraded" },
        timestamp: domain::model::Timestamp::from_datetime(time::OffsetDateTime::now_utc())
            .to_rfc3339(),
        uptime: h.started.elapsed().as_secs_f64(),
        version: state.version,
        backends: Backends {
            database: h.database.backend(),
            cache: h.cache.backend(),
            rate_limit: h.rate_limit.backend(),
        },
        services: ServiceStates {
            database: state_word(&db),
            cache: state_word(&cache),
        },
        feed: (h.feed)(),
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, [(header::CACHE_CONTROL, "no-store")], Json(report))
}

/// Whether this instance should get traffic: the database answers and it is not stopping.
#[utoipa::path(get, path = "/health/readiness", tag = "health",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readiness(State(state): State<AppState>) -> impl IntoResponse {
    let not_ready = |error: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Readiness {
                status: "not ready",
                error: Some(error),
            }),
        )
    };
    if state.shutdown.is_set() {
        return not_ready("shutting down".to_owned());
    }
    match state.health.database.check().await {
        Ok(()) => (
            StatusCode::OK,
            Json(Readiness {
                status: "ready",
                error: None,
            }),
        ),
        Err(_) => not_ready("database unavailable".to_owned()),
    }
}

/// The process is up; nothing else is checked.
#[utoipa::path(get, path = "/health/liveness", tag = "health",
    responses((status = 200, body = Liveness)))]
pub async fn liveness() -> Json<Liveness> {
    Json(Liveness { status: "alive" })
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus exposition", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        (state.metrics)(),
    )
}
