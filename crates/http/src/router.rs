//! The route table, each route with its own layer, under the stack every request passes.
//!
//! The stack (the edge: request id, span and log line, panic guard; then CORS, compression (see
//! `middleware::compress`), and
//! the request timeout and load shedding)
//! wraps the router as one tower service rather than through `Router::layer`, which would box
//! and clone each layer per route and per request. Per-route concerns (metrics, drain, the route's rate-limit policy) are one
//! `route_layer` per route (see `middleware::route`).

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, Method, Response};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;
use domain::ports::RatePolicy;
use tower::ServiceBuilder;
use tower_http::compression::predicate::{And, DefaultPredicate, Predicate, SizeAbove};
use tower_http::cors::{AllowOrigin, Any as AnyOrigin, Cors, CorsLayer};
use utoipa::OpenApi;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::error::ApiError;
use crate::middleware::compress::{Compress, CompressLayer};
use crate::middleware::edge::{Edge, EdgeLayer};
use crate::middleware::overload::Bounded;
use crate::middleware::rate_limit::{register_metrics, KeyBy, Limit};
use crate::middleware::route::RouteLayer;
use crate::openapi::ApiDoc;
use crate::state::AppState;
use crate::HttpOptions;

/// Request bodies above this are refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;
/// Responses smaller than this are not worth compressing.
const COMPRESS_ABOVE: u16 = 1024;

type CompressWhen = And<DefaultPredicate, SizeAbove>;

/// The whole HTTP service: what the server's accept loop runs and tests call.
pub type HttpService = Edge<Cors<Compress<Bounded<Router>, CompressWhen>>>;

pub fn router(state: AppState, options: &HttpOptions) -> HttpService {
    ServiceBuilder::new()
        .layer(EdgeLayer)
        .layer(cors(options))
        .layer(CompressLayer::new(
            // The default already skips gRPC, images and event streams.
            DefaultPredicate::new().and(SizeAbove::new(COMPRESS_ABOVE)),
        ))
        // Inside CORS, so a browser can read the 503s; inside the edge, so they are logged
        // with a request id.
        .layer(options.bounds.clone())
        .service(routes(state))
}

fn routes(state: AppState) -> Router {
    use crate::routes::{api_keys, auth, health as h, posts, stream, users, web};
    register_metrics(&state);
    let p = &state.policies;
    let t = Table { state: &state };
    let by_caller = KeyBy::CallerOrAddress;
    let general = |path| t.limited(path, &p.general, by_caller);

    // Everything a client calls is limited by its route's policy; probes, metrics and docs are
    // not, so a load balancer's checks can never be answered 429 (nor 503 while draining).
    let api = Router::new()
        .route_with("/auth/signup", t.with_body(post(auth::signup)), |path| {
            t.limited(path, &p.signup, KeyBy::Address)
        })
        .route_with("/auth/login", t.with_body(post(auth::login)), |path| {
            t.limited(path, &p.login, KeyBy::Address)
        })
        .route_with("/auth/logout", post(auth::logout), general)
        .route_with("/users/me", get(users::me), general)
        .route(
            "/users/me/api-keys",
            get(api_keys::list)
                .merge(t.with_body(post(api_keys::create)))
                .route_layer(general("/users/me/api-keys")),
        )
        .route_with("/users/me/api-keys/{id}", delete(api_keys::revoke), general)
        .route_with(
            "/users/profile",
            t.with_body(put(users::update_profile)),
            general,
        )
        .route_with(
            "/users/by-username/{username}",
            get(users::by_username),
            general,
        )
        .route_with(
            "/users/follow/{id}",
            post(users::follow).delete(users::unfollow),
            general,
        )
        .route_with("/users/{id}", get(users::get_user), general)
        .route_with("/users/{id}/followers", get(users::followers), general)
        .route_with("/users/{id}/following", get(users::following), general)
        .route_with("/users/{id}/posts", get(users::user_posts), general)
        .route(
            "/posts",
            get(posts::timeline).route_layer(general("/posts")).merge(
                t.with_body(post(posts::create))
                    .route_layer(t.limited("/posts", &p.post, by_caller)),
            ),
        )
        .route_with(
            "/posts/{id}",
            get(posts::get_post).delete(posts::delete_post),
            general,
        )
        .route_with("/feed", get(posts::feed), general)
        .route_with("/stream/ticket", post(stream::ticket), general)
        .route_with("/stream", get(stream::stream), general);

    let open = Router::new()
        .route_with("/health", get(h::health), RouteLayer::open)
        .route_with("/health/readiness", get(h::readiness), RouteLayer::open)
        .route_with("/health/liveness", get(h::liveness), RouteLayer::open)
        .route_with("/metrics", get(h::metrics), RouteLayer::open)
        .route_with("/openapi.json", get(openapi_document()), RouteLayer::open);
    // The web client's page and files: open like the probes, so a page load never spends the
    // API budget its own requests are about to need.
    let client = web::ASSETS
        .iter()
        .fold(Router::<AppState>::new(), |r, asset| {
            r.route_with(asset.path, get(web::serve(asset)), RouteLayer::open)
        });
    // The Swagger UI pages (`/docs`, `/docs/`, `/docs/{*rest}`) share one series.
    let docs: Router<AppState> =
        Router::from(SwaggerUi::new("/docs").config(Config::from("/openapi.json")))
            .route_layer(RouteLayer::open("/docs"));

    Router::new()
        .merge(api)
        .merge(open)
        .merge(docs)
        .merge(client)
        .fallback(|| async { ApiError::NotFound("Route not found") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
}

/// `route` with the route layer made for that same path: each path is spelt once, so a route's
/// metric series can never name another path.
trait RouteWith {
    fn route_with(
        self,
        path: &'static str,
        methods: MethodRouter<AppState>,
        layer: impl FnOnce(&'static str) -> RouteLayer,
    ) -> Self;
}

impl RouteWith for Router<AppState> {
    fn route_with(
        self,
        path: &'static str,
        methods: MethodRouter<AppState>,
        layer: impl FnOnce(&'static str) -> RouteLayer,
    ) -> Self {
        self.route(path, methods.route_layer(layer(path)))
    }
}

/// Builds the per-route layers.
struct Table<'a> {
    state: &'a AppState,
}

impl Table<'_> {
    fn limited(&self, route: &'static str, policy: &RatePolicy, key: KeyBy) -> RouteLayer {
        RouteLayer::limited(route, Limit::new(self.state, policy, key))
    }

    /// Only handlers that read a body pay for the body limit.
    fn with_body(&self, methods: MethodRouter<AppState>) -> MethodRouter<AppState> {
        methods.layer(DefaultBodyLimit::max(BODY_LIMIT))
    }
}

/// `/openapi.json`: the document is generated and serialised once, when the router is built.
fn openapi_document() -> impl Fn() -> std::future::Ready<Response<Body>> + Clone {
    let json = Bytes::from(ApiDoc::openapi().to_json().unwrap_or_default());
    move || {
        let res = ([(header::CONTENT_TYPE, "application/json")], json.clone()).into_response();
        std::future::ready(res)
    }
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
    // `Vary` names what a response depends on. With any origin allowed, every CORS header is
    // the same whatever the request says (`*` for the origin and the headers, a fixed method
    // list), so there is nothing to name; with a list, the allowed origin is the request's
    // own. (tower-http's default names three headers and joins them anew for each response.)
    let (origins, vary) = match &options.cors_origins {
        None => (AllowOrigin::from(AnyOrigin), vec![]),
        Some(list) => (
            AllowOrigin::list(list.iter().cloned()),
            vec![header::ORIGIN],
        ),
    };
    CorsLayer::new()
        .allow_origin(origins)
        .vary(vary)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers(AnyOrigin)
        .expose_headers(exposed)
        .max_age(Duration::from_secs(600))
}
