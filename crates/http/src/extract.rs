//! Extractors that turn requests into domain values, failing with the contract's errors (who
//! is calling is `auth`'s).

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use domain::model::{PageRequest, PostId, UserId};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::client_ip::ClientKey;
use crate::error::ApiError;
use crate::state::AppState;

/// `Json` whose rejections are our JSON errors: 400 for malformed or mistyped bodies, 413 over
/// the size limit, 415 for a body that is not JSON.
pub struct AppJson<T>(pub T);

impl<T, S> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let no_body = req.headers().get(header::CONTENT_TYPE).is_none()
            && req
                .headers()
                .get(header::CONTENT_LENGTH)
                .is_none_or(|v| v.as_bytes() == b"0");
        if no_body {
            return Err(ApiError::BadRequest("Request body is required".into()));
        }
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(AppJson(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::UnsupportedMediaType),
            Err(JsonRejection::JsonSyntaxError(_)) => Err(ApiError::BadRequest(
                "Malformed JSON in request body".into(),
            )),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::BadRequest(format!(
                "Invalid request body: {}",
                e.body_text().trim_start_matches(
                    "Failed to deserialize the JSON body into the target type: "
                )
            ))),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::PayloadTooLarge),
            Err(e) => Err(ApiError::BadRequest(e.body_text())),
        }
    }
}

#[derive(Deserialize)]
struct RawPage {
    limit: Option<String>,
    cursor: Option<String>,
}

/// The caller's address as the rate limiter keys it (`ip:<address>`, IPv6 by its /64).
pub struct ClientAddress(pub ClientKey);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(
            state
                .trusted_proxies
                .request_client_key(&parts.extensions, &parts.headers),
        ))
    }
}

/// `?limit&cursor`, checked: a bad limit or a cursor we did not issue is a 400.
pub struct PageQuery(pub PageRequest);

impl<S: Send + Sync> FromRequestParts<S> for PageQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(raw) = Query::<RawPage>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::BadRequest("Malformed query string".into()))?;
        Ok(PageQuery(PageRequest::parse(
            raw.limit.as_deref(),
            raw.cursor.as_deref(),
        )?))
    }
}

/// A path id we could never have issued is an unknown user: 404, not 400.
pub fn user_id(raw: &str) -> Result<UserId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::NotFound("User not found"))
}

pub fn post_id(raw: &str) -> Result<PostId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::NotFound("Post not found"))
}
