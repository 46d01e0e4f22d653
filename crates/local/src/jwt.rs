//! Bearer tokens: HS256 JWTs with `sub`, `iat`, `exp`, and `iat_ms` (the issue time to the
//! millisecond, which a logout is compared against; `iat` stays the standard whole seconds).

mod verified;

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use domain::model::{Timestamp, UserId};
use domain::ports::{TokenClaims, TokenError, TokenIssuer, STREAM_TICKET_TTL};
use domain::StoreError;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: u64,
    exp: u64,
    /// Absent from tokens issued before logout existed: they count as issued at the start of
    /// their `iat` second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat_ms: Option<i64>,
    /// `stream` on a stream ticket, absent on a bearer token: each kind is refused where the
    /// other is expected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
}

/// The audience of a stream ticket.
const TICKET_AUDIENCE: &str = "stream";

/// [`TokenIssuer`] signing with one shared secret, so every instance accepts every other's
/// tokens.
pub struct JwtIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ticket_validation: Validation,
    ttl: Duration,
    verified: verified::Verified,
}

impl JwtIssuer {
    /// Tokens signed with `secret` (config requires 32+ bytes in production), valid for `ttl`.
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        // Only HS256: the algorithm named in a token's header is attacker-controlled, and
        // accepting anything else (`none`, or RS256 "signed" with our secret as a public key)
        // is the classic JWT forgery.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        // Instances share NTP-synced clocks and the issuer's own clock wrote `exp`: nothing to
        // forgive, and a leeway would quietly extend every token's life.
        validation.leeway = 0;
        validation.validate_aud = false;
        let mut ticket_validation = validation.clone();
        ticket_validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        ticket_validation.set_audience(&[TICKET_AUDIENCE]);
        JwtIssuer {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ticket_validation,
            ttl,
            verified: verified::Verified::new(),
        }
    }
}

/// The secret and keys are left out on purpose: this may end up in a log.
impl fmt::Debug for JwtIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtIssuer")
            .field("algorithm", &"HS256")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl JwtIssuer {
    fn sign(
        &self,
        user: UserId,
        issued_at: Timestamp,
        ttl: Duration,
        aud: Option<&str>,
    ) -> Result<String, StoreError> {
        let ms = issued_at.unix_millis();
        let iat = u64::try_from(ms.div_euclid(1000)).unwrap_or(0);
        let claims = Claims {
            sub: user.to_string(),
            iat,
            exp: iat.saturating_add(ttl.as_secs()),
            iat_ms: Some(ms),
            aud: aud.map(str::to_owned),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| StoreError::Internal(format!("token signing failed: {e}")))
    }

    fn check(&self, token: &str, validation: &Validation) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}

impl TokenIssuer for JwtIssuer {
    fn issue(&self, user: UserId, issued_at: Timestamp) -> Result<String, StoreError> {
        self.sign(user, issued_at, self.ttl, None)
    }

    fn verify(&self, token: &str) -> Result<TokenClaims, TokenError> {
        let now = unix_now();
        if let Some(known) = self.verified.get(token, now) {
            return Ok(known);
        }
        let c = self.check(token, &self.validation)?;
        if c.aud.is_some() {
            // A stream ticket (or anything else with an audience) is not a bearer token.
            return Err(TokenError::Invalid);
        }
        let exp = c.exp;
        let verified = claims(c)?;
        self.verified.insert(token, verified, exp);
        Ok(verified)
    }

    fn issue_ticket(&self, user: UserId, issued_at: Timestamp) -> Result<String, StoreError> {
        self.sign(user, issued_at, STREAM_TICKET_TTL, Some(TICKET_AUDIENCE))
    }

    fn verify_ticket(&self, ticket: &str) -> Result<TokenClaims, TokenError> {
        claims(self.check(ticket, &self.ticket_validation)?)
    }
}

/// The clock `jsonwebtoken` checks `exp` against.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn claims(c: Claims) -> Result<TokenClaims, TokenError> {
    let whole_second = i64::try_from(c.iat).map_or(i64::MAX, |s| s.saturating_mul(1000));
    Ok(TokenClaims {
        user: c.sub.parse().map_err(|_| TokenError::Invalid)?,
        issued_at: Timestamp::from_unix_millis(c.iat_ms.unwrap_or(whole_second)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn issuer() -> JwtIssuer {
        JwtIssuer::new(SECRET, Duration::from_secs(3600))
    }

    fn user() -> UserId {
        UserId::from_uuid(uuid::Uuid::now_v7())
    }

    fn now_ms() -> Timestamp {
        Timestamp::from_unix_millis(i64::try_from(unix_now()).unwrap() * 1000 + 123)
    }

    fn sign(alg: Algorithm, secret: &[u8], sub: String, iat: u64, exp: u64) -> String {
        let claims = Claims {
            sub,
            iat,
            exp,
            iat_ms: None,
            aud: None,
        };
        jsonwebtoken::encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    /// Base64url without padding, as JWTs use; written out so the test needs no extra crate.
    fn b64url(bytes: &[u8]) -> String {
        const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
            }
        }
        out
    }

    #[test]
    fn round_trips_to_the_millisecond() {
        let (issuer, id, at) = (issuer(), user(), now_ms());
        let token = issuer.issue(id, at).unwrap();
        let claims = TokenClaims {
            user: id,
            issued_at: at,
        };
        assert_eq!(issuer.verify(&token), Ok(claims));
    }

    /// Tokens from before `iat_ms` existed still verify, as issued at the start of their second.
    #[test]
    fn a_token_without_milliseconds_counts_from_its_whole_second() {
        let (id, secs) = (user(), unix_now());
        let token = sign(Algorithm::HS256, SECRET, id.to_string(), secs, secs + 60);
        let claims = issuer().verify(&token).unwrap();
        assert_eq!(claims.user, id);
        assert_eq!(claims.issued_at.unix_millis(), secs as i64 * 1000);
    }

    #[test]
    fn header_and_claims_are_as_documented() {
        let at = now_ms();
        let token = issuer().issue(user(), at).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::HS256);
        let claims = jsonwebtoken::decode::<Claims>(
            &token,
            &DecodingKey::from_secret(SECRET),
            &issuer().validation,
        )
        .unwrap()
        .claims;
        assert_eq!(claims.exp - claims.iat, 3600);
        assert_eq!(claims.iat_ms, Some(at.unix_millis()));
        assert_eq!(claims.iat, (at.unix_millis() / 1000) as u64);
    }

    #[test]
    fn an_expired_token_is_expired() {
        let now = unix_now();
        let token = sign(
            Algorithm::HS256,
            SECRET,
            user().to_string(),
            now - 20,
            now - 10,
        );
        assert_eq!(issuer().verify(&token), Err(TokenError::Expired));
    }

    #[test]
    fn a_forged_signature_is_invalid() {
        let now = unix_now();
        let token = sign(
            Algorithm::HS256,
            b"another secret",
            user().to_string(),
            now,
            now + 60,
        );
        assert_eq!(issuer().verify(&token), Err(TokenError::Invalid));

        let mut tampered = issuer().issue(user(), now_ms()).unwrap();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(issuer().verify(&tampered), Err(TokenError::Invalid));
    }

    #[test]
    fn a_remembered_token_vouches_for_itself_only() {
        let (issuer, id, at) = (issuer(), user(), now_ms());
        let token = issuer.issue(id, at).unwrap();
        let first = issuer.verify(&token).unwrap();
        assert_eq!(
            issuer.verify(&token),
            Ok(first),
            "the remembered answer is the same"
        );
        assert_eq!(first.user, id);
        // Same payload, another signature; and the signature on another payload.
        let (head, sig) = token.rsplit_once('.').unwrap();
        let flipped = if sig.starts_with('A') { 'B' } else { 'A' };
        let tampered = format!("{head}.{flipped}{}", &sig[1..]);
        assert_eq!(issuer.verify(&tampered), Err(TokenError::Invalid));
        let other = issuer.issue(user(), at).unwrap();
        let (other_head, _) = other.rsplit_once('.').unwrap();
        assert_eq!(
            issuer.verify(&format!("{other_head}.{sig}")),
            Err(TokenError::Invalid)
        );
        // A ticket is checked as a ticket, never vouched for by the bearer memo.
        let ticket = issuer.issue_ticket(id, at).unwrap();
        assert_eq!(issuer.verify(&ticket), Err(TokenError::Invalid));
        assert_eq!(issuer.verify(&ticket), Err(TokenError::Invalid));
        assert!(issuer.verify_ticket(&ticket).is_ok());
    }

    #[test]
    fn alg_none_is_invalid() {
        let now = unix_now();
        let header = b64url(br#"{"alg":"none","typ":"JWT"}"#);
        let claims = format!(r#"{{"sub":"{}","iat":{now},"exp":{}}}"#, user(), now + 60);
        let claims = b64url(claims.as_bytes());
        for token in [format!("{header}.{claims}."), format!("{header}.{claims}")] {
            assert_eq!(issuer().verify(&token), Err(TokenError::Invalid), "{token}");
        }
    }

    #[test]
    fn other_algorithms_are_invalid_even_with_our_secret() {
        let now = unix_now();
        for alg in [Algorithm::HS512, Algorithm::HS384] {
            let token = sign(alg, SECRET, user().to_string(), now, now + 60);
            assert_eq!(issuer().verify(&token), Err(TokenError::Invalid), "{alg:?}");
        }
    }

    #[test]
    fn a_subject_that_is_not_a_user_id_is_invalid() {
        let now = unix_now();
        for sub in ["admin".to_owned(), uuid::Uuid::new_v4().to_string()] {
            let token = sign(Algorithm::HS256, SECRET, sub, now, now + 60);
            assert_eq!(issuer().verify(&token), Err(TokenError::Invalid));
        }
    }

    #[test]
    fn garbage_is_invalid() {
        for token in [
            "",
            "abc",
            "a.b.c",
            "...",
            "eyJhbGciOiJIUzI1NiJ9.e30.",
            "🦀.🦀.🦀",
        ] {
            assert_eq!(
                issuer().verify(token),
                Err(TokenError::Invalid),
                "{token:?}"
            );
        }
    }

    #[test]
    fn debug_shows_no_secret() {
        let shown = format!("{:?}", issuer());
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
    }

    #[test]
    fn base64url_helper_matches_the_known_header() {
        assert_eq!(
            b64url(br#"{"alg":"none","typ":"JWT"}"#),
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"
        );
    }

    #[test]
    fn tickets_and_tokens_are_each_refused_where_the_other_is_expected() {
        let i = issuer();
        let (u, at) = (user(), now_ms());
        let ticket = i.issue_ticket(u, at).unwrap();
        let token = i.issue(u, at).unwrap();
        let claims = i.verify_ticket(&ticket).unwrap();
        assert_eq!((claims.user, claims.issued_at), (u, at));
        assert_eq!(i.verify(&ticket), Err(TokenError::Invalid));
        assert_eq!(i.verify_ticket(&token), Err(TokenError::Invalid));
        let other = JwtIssuer::new(
            b"another secret, 32 bytes at least!",
            Duration::from_secs(3600),
        );
        assert_eq!(other.verify_ticket(&ticket), Err(TokenError::Invalid));
    }

    #[test]
    fn a_ticket_lives_for_the_ticket_lifetime_not_the_tokens() {
        let i = issuer();
        let old = Timestamp::from_unix_millis(
            i64::try_from(unix_now() - STREAM_TICKET_TTL.as_secs() - 2).unwrap() * 1000,
        );
        assert_eq!(
            i.verify_ticket(&i.issue_ticket(user(), old).unwrap()),
            Err(TokenError::Expired)
        );
        assert!(i.verify(&i.issue(user(), old).unwrap()).is_ok());
    }
}
