//! Who is calling: the bearer token, verified at most once per request, and the extractors
//! handlers take it from.
//!
//! The first reader (the route's rate limiter, or else an extractor) verifies the token and
//! leaves the outcome in the request's extensions; every later reader takes it from there.

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, Extensions, HeaderMap};
use domain::model::UserId;
use domain::services::Services;

use crate::error::ApiError;
use crate::state::AppState;

/// The outcome of checking a request's credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// No `Authorization: Bearer …` header.
    Anonymous,
    /// A token that is malformed, forged or expired.
    Invalid,
    User(UserId),
}

/// The `Bearer` token of a request, if it has one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// What a request's credential says, verified now.
fn verify(headers: &HeaderMap, services: &Services) -> Caller {
    match bearer_token(headers) {
        None => Caller::Anonymous,
        Some(token) => services
            .auth
            .authenticate(token)
            .map_or(Caller::Invalid, Caller::User),
    }
}

/// The request's caller, verifying its token only if no earlier reader of this request did.
pub fn caller(headers: &HeaderMap, extensions: &mut Extensions, services: &Services) -> Caller {
    if let Some(known) = extensions.get::<Caller>() {
        return *known;
    }
    let caller = verify(headers, services);
    extensions.insert(caller);
    caller
}

/// [`caller`] for a whole request (middleware holds one, extractors hold its parts).
pub fn request_caller(req: &mut Request, services: &Services) -> Caller {
    if let Some(known) = req.extensions().get::<Caller>() {
        return *known;
    }
    let caller = verify(req.headers(), services);
    req.extensions_mut().insert(caller);
    caller
}

/// The authenticated caller; 401 without a valid token.
pub struct AuthUser(pub UserId);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match caller(&parts.headers, &mut parts.extensions, &state.services) {
            Caller::User(id) => Ok(AuthUser(id)),
            Caller::Anonymous => Err(ApiError::Unauthorized("Authentication required")),
            Caller::Invalid => Err(ApiError::Unauthorized("Invalid or expired token")),
        }
    }
}

/// The caller if there is one: `None` without a credential, 401 for a credential that is not
/// valid (a client that sent one expects to be recognised, so it is told it was not).
pub struct MaybeAuthUser(pub Option<UserId>);

impl FromRequestParts<AppState> for MaybeAuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match caller(&parts.headers, &mut parts.extensions, &state.services) {
            Caller::User(id) => Ok(MaybeAuthUser(Some(id))),
            Caller::Anonymous => Ok(MaybeAuthUser(None)),
            Caller::Invalid => Err(ApiError::Unauthorized("Invalid or expired token")),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with_auth(value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively_and_trimmed() {
        assert_eq!(bearer_token(&with_auth("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&with_auth("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(&with_auth("Basic abc")), None);
        assert_eq!(bearer_token(&with_auth("Bearer ")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }
}
