//! The driving adapter: HTTP in, domain services out.
//!
//! # Layout
//!
//! - `router`: the route table and the middleware stack, outermost first.
//! - `routes/`: handlers, one module per resource, each annotated for the OpenAPI document.
//! - `extract`: `AppJson`, `AuthUser`, `PageQuery` — request parsing that fails with our errors.
//! - `dto`: the JSON shapes; `error`: `ApiError` and its mapping to status and `type`.
//! - `middleware/`: request ids, client address and trusted proxies, rate limits, metrics.
//! - `health`: cached dependency probes; `openapi`: the generated document.
//! - `render`: post pages rendered once per (head version, page shape), shared by requests.

pub mod dto;
pub mod error;
pub mod extract;
pub mod health;
pub mod middleware;
pub mod openapi;
pub mod render;
pub mod routes;
pub mod state;

use std::time::Duration;

use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, Request, Response};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::predicate::{Predicate, SizeAbove};
use tower_http::compression::{CompressionLayer, DefaultPredicate};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

pub use error::ApiError;
pub use health::Health;
pub use middleware::client_ip::TrustedProxies;
pub use state::{AppState, MetricsRender, RoutePolicies, ShutdownFlag};

/// Request bodies above this are refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;
/// Responses smaller than this are not worth compressing.
const COMPRESS_ABOVE: u16 = 1024;

/// `CORS_ORIGINS`: `None` allows any origin (without credentials).
#[derive(Clone, Debug, Default)]
pub struct HttpOptions {
    pub cors_origins: Option<Vec<HeaderValue>>,
}

pub fn router(state: AppState, options: &HttpOptions) -> Router {
    use routes::{auth, health as h, posts, users};
    middleware::rate_limit::register_metrics(&state);

    // Everything a client calls is rate limited; probes, metrics and docs are not, so a load
    // balancer's checks can never be answered 429.
    let limited = Router::new()
        .route("/auth/signup", post(auth::signup))
        .route("/auth/login", post(auth::login))
        .route("/users/me", get(users::me))
        .route("/users/profile", put(users::update_profile))
        .route("/users/by-username/{username}", get(users::by_username))
        .route(
            "/users/follow/{id}",
            post(users::follow).delete(users::unfollow),
        )
        .route("/users/{id}", get(users::get_user))
        .route("/users/{id}/followers", get(users::followers))
        .route("/users/{id}/following", get(users::following))
        .route("/users/{id}/posts", get(users::user_posts))
        .route("/posts", post(posts::create).get(posts::timeline))
        .route(
            "/posts/{id}",
            get(posts::get_post).delete(posts::delete_post),
        )
        .route("/feed", get(posts::feed))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::rate_limit::rate_limit,
        ))
        // Outside the limiter: a request refused for the drain spends no budget.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::drain::drain,
        ));
    let open = Router::new()
        .route("/health", get(h::health))
        .route("/health/readiness", get(h::readiness))
        .route("/health/liveness", get(h::liveness))
        .route("/metrics", get(h::metrics));
    let docs: Router<AppState> = SwaggerUi::new("/docs")
        .url("/openapi.json", openapi::ApiDoc::openapi())
        .into();

    Router::new()
        .merge(limited)
        .merge(open)
        .merge(docs)
        .route_layer(axum::middleware::from_fn(middleware::metrics::track))
        .fallback(|| async { ApiError::NotFound("Route not found") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(CompressionLayer::new().compress_when(
            // The default already skips gRPC, images and event streams.
            DefaultPredicate::new().and(SizeAbove::new(COMPRESS_ABOVE)),
        ))
        .layer(cors(options))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal("handler panicked".into()).into_response()
        }))
        .layer(PropagateRequestIdLayer::new(
            middleware::request_id::X_REQUEST_ID.clone(),
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(make_span)
                .on_response(|res: &Response<Body>, latency: Duration, _span: &Span| {
                    tracing::info!(
                        status = res.status().as_u16(),
                        latency_ms = latency.as_secs_f64() * 1000.0,
                        "request"
                    );
                }),
        )
        .layer(SetRequestIdLayer::new(
            middleware::request_id::X_REQUEST_ID.clone(),
            MakeRequestUuid,
        ))
        .layer(axum::middleware::from_fn(middleware::request_id::sanitize))
        .with_state(state)
}

fn make_span(req: &Request<Body>) -> Span {
    let id = req
        .headers()
        .get(&middleware::request_id::X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("http", request_id = %id, method = %req.method(), path = %req.uri().path())
}

fn cors(options: &HttpOptions) -> CorsLayer {
    let exposed = [
        "x-request-id",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "ratelimit-policy",
        "retry-after",
    ]
    .map(HeaderName::from_static);
    let origins = match &options.cors_origins {
        None => AllowOrigin::from(Any),
        Some(list) => AllowOrigin::list(list.iter().cloned()),
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers(Any)
        .expose_headers(exposed)
        .max_age(Duration::from_secs(600))
}
