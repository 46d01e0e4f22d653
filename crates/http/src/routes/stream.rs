//! `POST /stream/ticket` and `GET /stream`: the caller's live events as Server-Sent Events
//! (the engine is `crate::stream`).

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Json;
use domain::model::Identity;
use domain::ports::{RateDecision, STREAM_TICKET_TTL};
use domain::services::Presented;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{check, AuthUser, Caller, MaybeIdentity};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::stream::{Opening, Refused, Resume};

/// How long a refused client is asked to wait before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// A credential for `GET /stream?ticket=…`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamTicket {
    /// Valid for `GET /stream` only, any number of times until it expires; a logout revokes it.
    pub ticket: String,
    /// Seconds it lives.
    #[schema(example = 60)]
    pub expires_in: u64,
}

/// A ticket for opening the live stream from a client that cannot send headers (a browser's
/// `EventSource`).
#[utoipa::path(post, path = "/stream/ticket", tag = "stream", security(("bearer" = []), ("apiKey" = [])),
    responses((status = 201, body = StreamTicket), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub async fn ticket(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
) -> Result<(StatusCode, Json<StreamTicket>), ApiError> {
    let ticket = state.services.auth.stream_ticket(me).await?;
    Ok((
        StatusCode::CREATED,
        Json(StreamTicket {
            ticket,
            expires_in: STREAM_TICKET_TTL.as_secs(),
        }),
    ))
}

/// `?ticket&lastEventId`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// A ticket from `POST /stream/ticket`, in place of a credential header.
    ticket: Option<String>,
    /// Where to resume, for a client that cannot send `Last-Event-ID` (the header wins).
    #[serde(rename = "lastEventId")]
    #[param(rename = "lastEventId")]
    last_event_id: Option<String>,
}

/// The caller's live events: `post` and `delete` for the accounts they follow and their own,
/// `ready` once live, `reset` when a resume is impossible, and `heartbeat` after
/// `STREAM_HEARTBEAT_SECONDS` of silence. Resume with `Last-Event-ID`.
#[utoipa::path(get, path = "/stream", tag = "stream", security(("bearer" = []), ("apiKey" = []), ()),
    params(StreamParams,
        ("Last-Event-ID" = Option<String>, Header, description = "The `id` of the last event received")),
    responses(
        (status = 200, content_type = "text/event-stream", body = String,
            description = "Server-Sent Events: `event: post` (data: a Post), `event: delete` (data: `{id, authorId}`), `event: ready` (data: `{heartbeatSeconds}`), `event: reset` (data: `{}`), `event: heartbeat` (data: `{}`), each with an `id:` but `reset` and `heartbeat`"),
        (status = 400, description = "Malformed query string", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 429, description = "STREAM_MAX_PER_USER streams open already", body = ErrorBody),
        (status = 503, description = "STREAM_MAX_CONNECTIONS streams open on this instance", body = ErrorBody)))]
pub async fn stream(
    State(state): State<AppState>,
    query: Result<Query<StreamParams>, axum::extract::rejection::QueryRejection>,
    MaybeIdentity(by_header): MaybeIdentity,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|_| ApiError::BadRequest("Malformed query string".into()))?;
    let identity = caller(&state, q.ticket.as_deref(), by_header).await?;
    let resume = match headers
        .get(LAST_EVENT_ID)
        .map(|v| v.to_str().unwrap_or(""))
        .or(q.last_event_id.as_deref())
    {
        None => Resume::Fresh,
        Some(raw) => raw.parse().map_or(Resume::Unknown, Resume::From),
    };
    let sub = state
        .stream
        .subscribe(identity, resume)
        .await
        .map_err(|e| refusal(&state, e))?;
    let mut res = Response::new(Body::from_stream(sub));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // A stream ends only when the server wants the client gone (too slow, or draining): the
    // connection goes with it, rather than idling for a request that never comes.
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    // Asks a proxy (nginx) not to hold events back in its buffer.
    h.insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    Ok(res)
}

/// Who opens the stream: the ticket's user, or the header credential's.
async fn caller(
    state: &AppState,
    ticket: Option<&str>,
    by_header: Option<Identity>,
) -> Result<Identity, ApiError> {
    match (ticket, by_header) {
        (Some(_), Some(_)) => Err(ApiError::Unauthorized(
            "Send either a stream ticket or a credential header, not both",
        )),
        (Some(ticket), None) => {
            match check(Presented::StreamTicket(ticket), &state.services).await {
                Caller::User(identity) => Ok(identity),
                Caller::Invalid(why) => Err(ApiError::Unauthorized(why)),
                Caller::Anonymous => Err(ApiError::Unauthorized("Authentication required")),
                Caller::Unavailable => Err(ApiError::Unavailable("credential check failed".into())),
            }
        }
        (None, Some(identity)) => Ok(identity),
        (None, None) => Err(ApiError::Unauthorized("Authentication required")),
    }
}

fn refusal(state: &AppState, e: Opening) -> ApiError {
    match e {
        Opening::Refused(Refused::PerUser) => {
            let limit = u32::try_from(state.stream.options().max_per_user).unwrap_or(u32::MAX);
            ApiError::RateLimited(RateDecision {
                allowed: false,
                limit,
                remaining: 0,
                reset_after: RETRY_AFTER,
                retry_after: Some(RETRY_AFTER),
            })
        }
        Opening::Refused(Refused::Instance) => ApiError::Overloaded {
            cause: "STREAM_MAX_CONNECTIONS streams open".into(),
            retry_after: RETRY_AFTER,
        },
        Opening::Refused(Refused::Closed) => {
            ApiError::Unavailable("the instance is draining".into())
        }
        Opening::Store(e) => e.into(),
    }
}
