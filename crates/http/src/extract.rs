//! Extractors that turn requests into domain values, failing with the contract's errors (who
//! is calling is `auth`'s).

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use std::borrow::Cow;

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use domain::model::{IdempotencyKey, PageRequest, PostId, UserId, ValidationErrors};
use serde::de::DeserializeOwned;

use crate::client_ip::ClientKey;
use crate::error::ApiError;
use crate::state::AppState;

/// `Json` whose rejections are our JSON errors: 400 for malformed or mistyped bodies and for
/// any body that is not a JSON object, 413 over the size limit, 415 for a body that is not JSON.
pub struct AppJson<T>(pub T);

impl<T, S> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let headers = req.headers();
        let no_body = headers.get(header::CONTENT_TYPE).is_none()
            && headers
                .get(header::CONTENT_LENGTH)
                .is_none_or(|v| v.as_bytes() == b"0");
        if no_body {
            return Err(ApiError::BadRequest("Request body is required".into()));
        }
        if !is_json(headers) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest(e.body_text())
            }
        })?;
        // serde reads a struct from a JSON array too (`[null, "hi"]` as a profile edit): every
        // body of the contract is an object, so anything else is refused before serde sees it.
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => {}
            None => return Err(ApiError::BadRequest("Request body is required".into())),
            Some(_) => {
                return Err(ApiError::BadRequest(
                    "Request body must be a JSON object".into(),
                ))
            }
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(AppJson(v)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::BadRequest(format!(
                "Invalid request body: {}",
                e.body_text().trim_start_matches(
                    "Failed to deserialize the JSON body into the target type: "
                )
            ))),
            Err(_) => Err(ApiError::BadRequest(
                "Malformed JSON in request body".into(),
            )),
        }
    }
}

/// `application/json` or any `application/*+json`, parameters ignored: the media types axum's
/// own `Json` accepts.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype.len() > 5
                && subtype.as_bytes()[subtype.len() - 5..].eq_ignore_ascii_case(b"+json"))
}

/// One path segment (`/users/{id}`), decoded; a segment that is not valid percent-encoded UTF-8
/// is the contract's JSON 400 rather than axum's plain-text one.
pub struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(segment)| PathParam(segment))
            .map_err(|_| {
                ApiError::BadRequest("Malformed path: not valid percent-encoded UTF-8".into())
            })
    }
}

/// The `Idempotency-Key` header, when sent: 1 to 255 visible ASCII characters, once. Anything
/// else is the contract's 400 naming the header.
pub struct IdempotencyKeyHeader(pub Option<IdempotencyKey>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKeyHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let mut values = parts.headers.get_all(IdempotencyKey::HEADER).iter();
        let Some(value) = values.next() else {
            return Ok(IdempotencyKeyHeader(None));
        };
        if values.next().is_some() {
            return Err(ValidationErrors::new(IdempotencyKey::HEADER, "must be sent once").into());
        }
        Ok(IdempotencyKeyHeader(Some(IdempotencyKey::parse(
            value.as_bytes(),
        )?)))
    }
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

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let (limit, cursor) = page_params(parts.uri.query().unwrap_or_default())?;
        Ok(PageQuery(PageRequest::parse(
            limit.as_deref(),
            cursor.as_deref(),
        )?))
    }
}

type Param<'a> = Option<Cow<'a, str>>;

/// `limit` and `cursor` from a query string, borrowed unless percent-decoding changed them
/// (read directly rather than through serde: this runs on every page read). Other keys are
/// ignored; either key twice is a malformed query.
fn page_params(query: &str) -> Result<(Param<'_>, Param<'_>), ApiError> {
    let (mut limit, mut cursor) = (None, None);
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let slot = match &*key {
            "limit" => &mut limit,
            "cursor" => &mut cursor,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(ApiError::BadRequest("Malformed query string".into()));
        }
    }
    Ok((limit, cursor))
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

#[cfg(test)]
mod tests {
    use super::page_params;
    use crate::error::ApiError;

    #[test]
    fn page_params_read_both_keys_decoded_and_ignore_others() {
        let (limit, cursor) = page_params("x=1&limit=20&cursor=a%2Bb+c&y").unwrap();
        assert_eq!(limit.as_deref(), Some("20"));
        assert_eq!(cursor.as_deref(), Some("a+b c"));
        let (limit, cursor) = page_params("").unwrap();
        assert_eq!((limit, cursor), (None, None));
        let (limit, _) = page_params("limit=").unwrap();
        assert_eq!(limit.as_deref(), Some(""));
    }

    #[test]
    fn a_key_given_twice_is_a_malformed_query() {
        for query in ["limit=1&limit=2", "cursor=a&limit=3&cursor=a"] {
            let Err(ApiError::BadRequest(why)) = page_params(query) else {
                panic!("{query}: not a 400");
            };
            assert_eq!(why, "Malformed query string", "{query}");
        }
    }
}
