//! Who is calling: the bearer token or API key, checked at most once per request, and the
//! extractors handlers take it from.
//!
//! The first reader (the route's rate limiter, or else an extractor) checks the credential and
//! leaves the outcome in the request's extensions; every later reader takes it from there. A
//! request without a credential costs two header lookups; one with a credential costs a
//! signature check (a token) and cached reads of its user and key, local-memory hits in the
//! common case (see `AuthService::authenticate`).

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, Extensions, HeaderMap, HeaderName};
use domain::error::CredentialError;
use domain::model::{Identity, UserId, Via};
use domain::services::{Presented, Services};

use crate::error::ApiError;
use crate::state::AppState;

/// The header an API key travels in.
pub const API_KEY_HEADER: HeaderName = HeaderName::from_static("x-api-key");

/// The outcome of checking a request's credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// Neither `Authorization: Bearer …` nor `X-API-Key`.
    Anonymous,
    /// A credential that is malformed, forged, expired, revoked or unknown (or both kinds at
    /// once); the message says which kind was refused.
    Invalid(&'static str),
    /// Whether the credential was revoked could not be checked: the store is down.
    Unavailable,
    User(Identity),
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

/// The `X-API-Key` of a request, if it has one.
pub fn api_key(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(API_KEY_HEADER)?.to_str().ok()?.trim();
    (!value.is_empty()).then_some(value)
}

/// What a request's credential says, checked now.
async fn verify(headers: &HeaderMap, services: &Services) -> Caller {
    let presented = match (bearer_token(headers), api_key(headers)) {
        (None, None) => return Caller::Anonymous,
        (Some(token), None) => Presented::Bearer(token),
        (None, Some(key)) => Presented::ApiKey(key),
        // Which one would count is a guess a client should not have to make.
        (Some(_), Some(_)) => {
            return Caller::Invalid("Send either a bearer token or an API key, not both")
        }
    };
    check(presented, services).await
}

/// What one presented credential proves.
pub async fn check(presented: Presented<'_>, services: &Services) -> Caller {
    match services.auth.authenticate(presented).await {
        Ok(identity) => Caller::User(identity),
        Err(CredentialError::Rejected) => Caller::Invalid(match presented {
            Presented::Bearer(_) => "Invalid or expired token",
            Presented::ApiKey(_) => "Invalid or revoked API key",
            Presented::StreamTicket(_) => "Invalid or expired stream ticket",
        }),
        Err(CredentialError::Store(e)) => {
            tracing::warn!(error = %e, "cannot check a credential");
            Caller::Unavailable
        }
    }
}

/// The request's caller, checking its credential only if no earlier reader of this request did.
pub async fn caller(
    headers: &HeaderMap,
    extensions: &mut Extensions,
    services: &Services,
) -> Caller {
    if let Some(known) = extensions.get::<Caller>() {
        return *known;
    }
    let caller = verify(headers, services).await;
    extensions.insert(caller);
    caller
}

/// [`caller`] for a whole request (middleware holds one, extractors hold its parts).
pub async fn request_caller(req: &mut Request, services: &Services) -> Caller {
    if let Some(known) = req.extensions().get::<Caller>() {
        return *known;
    }
    let caller = verify(req.headers(), services).await;
    req.extensions_mut().insert(caller);
    caller
}

/// The authenticated identity; 401 without a valid credential, 503 when it cannot be checked.
async fn identity(parts: &mut Parts, state: &AppState) -> Result<Option<Identity>, ApiError> {
    match caller(&parts.headers, &mut parts.extensions, &state.services).await {
        Caller::User(identity) => Ok(Some(identity)),
        Caller::Anonymous => Ok(None),
        Caller::Invalid(why) => Err(ApiError::Unauthorized(why)),
        Caller::Unavailable => Err(ApiError::Unavailable("credential check failed".into())),
    }
}

/// The authenticated caller (by token or API key); 401 without a valid credential.
pub struct AuthUser(pub UserId);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match identity(parts, state).await? {
            Some(identity) => Ok(AuthUser(identity.user)),
            None => Err(ApiError::Unauthorized("Authentication required")),
        }
    }
}

/// The caller if there is one: `None` without a credential, 401 for a credential that is not
/// valid (a client that sent one expects to be recognised, so it is told it was not).
pub struct MaybeAuthUser(pub Option<UserId>);

impl FromRequestParts<AppState> for MaybeAuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(MaybeAuthUser(identity(parts, state).await?.map(|i| i.user)))
    }
}

/// The caller's whole identity if there is one (which credential, issued when): for what
/// outlives the request, like a live stream, which must learn of the credential's revocation.
pub struct MaybeIdentity(pub Option<Identity>);

impl FromRequestParts<AppState> for MaybeIdentity {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(MaybeIdentity(identity(parts, state).await?))
    }
}

/// A caller signed in with a bearer token; 403 for an API key. Managing API keys takes the
/// account's own session: a leaked key must not be able to mint the keys that outlive it.
pub struct TokenUser(pub UserId);

impl FromRequestParts<AppState> for TokenUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match identity(parts, state).await? {
            Some(Identity {
                user,
                via: Via::Token,
                ..
            }) => Ok(TokenUser(user)),
            Some(_) => Err(ApiError::Forbidden(
                "API keys cannot manage API keys: use a bearer token",
            )),
            None => Err(ApiError::Unauthorized("Authentication required")),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with(name: HeaderName, value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively_and_trimmed() {
        let auth = |v| with(header::AUTHORIZATION, v);
        assert_eq!(bearer_token(&auth("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&auth("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(&auth("Basic abc")), None);
        assert_eq!(bearer_token(&auth("Bearer ")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    #[test]
    fn api_keys_are_trimmed_and_an_empty_one_is_none() {
        assert_eq!(api_key(&with(API_KEY_HEADER, " ssk_x ")), Some("ssk_x"));
        assert_eq!(api_key(&with(API_KEY_HEADER, "  ")), None);
        assert_eq!(api_key(&HeaderMap::new()), None);
    }
}
