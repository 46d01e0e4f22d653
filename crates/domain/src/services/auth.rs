use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cache::{ReadCache, Write};
use crate::error::{AuthError, CredentialError, StoreError};
use crate::model::{
    Email, Identity, Password, Standing, Tier, Timestamp, User, UserId, ValidationErrors, Via,
};
use crate::ports::{
    Clock, IdGenerator, PasswordHasher, RateDecision, RateLimiter, RatePolicy, TokenClaims,
    TokenError, TokenIssuer, UserRepository,
};

use super::{ApiKeyService, IdempotencyService, Ports};

/// How far ahead of its own clock a logout revokes tokens: another instance whose clock runs
/// ahead (by less than this) may have issued a token "in the future" before the logout, and it
/// must be revoked too. Logins in the meantime are dated past the logout (see
/// `AuthService::issue_time`), so they are not.
pub const CLOCK_SKEW_ALLOWANCE: Duration = Duration::from_secs(1);

/// A credential as a request presents it, not yet checked.
#[derive(Clone, Copy, Debug)]
pub enum Presented<'a> {
    /// `Authorization: Bearer <token>`.
    Bearer(&'a str),
    /// `X-API-Key: <key>`.
    ApiKey(&'a str),
    /// `GET /stream?ticket=<ticket>` (see [`TokenIssuer::issue_ticket`]).
    StreamTicket(&'a str),
}

/// A signed-in user: who, and the bearer token that proves it.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub token: String,
}

/// How failed logins are limited. Per (account, client address): a stranger guessing from their
/// address spends only that pair's budget, so the owner can still log in from theirs. Per
/// account, looser: guesses spread over many addresses still stop.
#[derive(Clone, Debug)]
pub struct LoginLimits {
    pub per_address: RatePolicy,
    pub per_account: RatePolicy,
}

/// Signup, login and token checks.
#[derive(Clone)]
pub struct AuthService {
    users: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn TokenIssuer>,
    limiter: Arc<dyn RateLimiter>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    /// Authentication reads users through it: a local-memory hit in the common case, and a
    /// logout or tier change invalidates it on every instance.
    cache: ReadCache,
    keys: ApiKeyService,
    idempotency: IdempotencyService,
    login_limits: LoginLimits,
    /// (address, account) pairs with a login being checked right now on this instance. The failure budget is
    /// charged only after a password fails, so without this a burst of simultaneous guesses
    /// would all pass the budget check before the first failure is counted.
    in_flight: Arc<Mutex<HashSet<String>>>,
}

/// Removes an account from the in-flight set when its login attempt ends, however it ends.
struct InFlight {
    set: Arc<Mutex<HashSet<String>>>,
    key: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // A poisoned set still holds valid keys; recover it rather than leak the entry.
        let mut set = self.set.lock().unwrap_or_else(|e| e.into_inner());
        set.remove(&self.key);
    }
}

impl AuthService {
    pub fn new(
        ports: &Ports,
        cache: ReadCache,
        keys: ApiKeyService,
        idempotency: IdempotencyService,
        login_limits: LoginLimits,
    ) -> Self {
        AuthService {
            users: ports.users.clone(),
            hasher: ports.hasher.clone(),
            tokens: ports.tokens.clone(),
            limiter: ports.limiter.clone(),
            clock: ports.clock.clone(),
            ids: ports.ids.clone(),
            cache,
            keys,
            idempotency,
            login_limits,
            in_flight: Arc::default(),
        }
    }

    /// Checks credentials. Unknown email and wrong password take the same path through the
    /// hasher and give the same error. Failures count against (client, account) and, more
    /// loosely, the account (see [`LoginLimits`]); `client` is the caller's address key.
    ///
    /// A failure that cannot be counted (the limiter errs) refuses the login: an attacker
    /// must not get uncounted guesses out of a limiter in trouble.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: &str,
    ) -> Result<Session, AuthError> {
        let (email, password) = match (Email::parse(email), Password::parse_attempt(password)) {
            (Ok(e), Ok(p)) => (e, p),
            (e, p) => {
                return Err(AuthError::Invalid(
                    ValidationErrors::collect([e.err(), p.err()].into_iter().flatten())
                        .err()
                        .unwrap_or_else(|| ValidationErrors::new("email", "is required")),
                ))
            }
        };
        let account = email.as_str();
        // The client key never contains '|', so the pair is unambiguous.
        let pair = format!("{client}|{account}");
        let limits = &self.login_limits;
        let budget = self.limiter.check(&limits.per_address, &pair, 0).await?;
        if !budget.allowed {
            return Err(AuthError::RateLimited(budget));
        }
        let account_budget = self.limiter.check(&limits.per_account, account, 0).await?;
        if !account_budget.allowed {
            return Err(AuthError::RateLimited(account_budget));
        }
        let Some(_guard) = self.begin_attempt(&pair) else {
            // Another attempt for this account from this client is being checked: a person
            // does not log in twice at once, a guessing script does.
            return Err(AuthError::RateLimited(RateDecision {
                allowed: false,
                retry_after: Some(Duration::from_secs(1)),
                ..budget
            }));
        };
        let stored = self.users.credentials_by_email(&email).await?;
        let ok = self
            .hasher
            .verify(&password, stored.as_ref().map(|s| s.password_hash.as_str()))
            .await?;
        match stored {
            Some(stored) if ok => {
                let issued_at = self.issue_time(stored.user.tokens_valid_after);
                let token = self.tokens.issue(stored.user.id, issued_at)?;
                Ok(Session {
                    user: stored.user,
                    token,
                })
            }
            _ => {
                self.limiter.check(&limits.per_address, &pair, 1).await?;
                self.limiter.check(&limits.per_account, account, 1).await?;
                Err(AuthError::InvalidCredentials)
            }
        }
    }

    fn begin_attempt(&self, key: &str) -> Option<InFlight> {
        let mut set = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        set.insert(key.to_owned()).then(|| InFlight {
            set: self.in_flight.clone(),
            key: key.to_owned(),
        })
    }

    /// When a token issued to `user` now says it was issued: now, but always after their last
    /// logout (which reaches [`CLOCK_SKEW_ALLOWANCE`] into the future). So a login right after
    /// a logout, on any instance, gets a token that logout does not revoke.
    fn issue_time(&self, tokens_valid_after: Option<Timestamp>) -> Timestamp {
        let now = self.clock.now();
        match tokens_valid_after {
            Some(after) if now <= after => Timestamp::from_unix_millis(after.unix_millis() + 1),
            _ => now,
        }
    }

    /// Who a credential proves the caller to be. A token must be genuine, unexpired and issued
    /// after its user's last logout; a key must exist and its secret match. The user's
    /// [`Standing`] (tier, last logout) and the key are read through the cache, which a logout,
    /// a tier change or a revocation invalidates on every instance.
    ///
    /// # Errors
    /// `Rejected` for any credential that is not accepted; `Store` when whether it is revoked
    /// cannot be known (refusing is then the only safe answer, and the caller may retry).
    pub async fn authenticate(
        &self,
        presented: Presented<'_>,
    ) -> Result<Identity, CredentialError> {
        match presented {
            Presented::Bearer(token) => self.token_identity(self.tokens.verify(token)).await,
            Presented::StreamTicket(ticket) => {
                self.token_identity(self.tokens.verify_ticket(ticket)).await
            }
            Presented::ApiKey(raw) => {
                let key = self.keys.verify(raw).await?;
                // Keys are deleted with their user, so a key without one is a key being
                // deleted: not a credential any more.
                let standing = self
                    .standing(key.user)
                    .await?
                    .ok_or(CredentialError::Rejected)?;
                Ok(Identity {
                    user: standing.user,
                    tier: standing.tier,
                    via: Via::ApiKey(key.id),
                    issued_at: None,
                })
            }
        }
    }

    /// A stream ticket for `user` (who authenticated already): see
    /// [`TokenIssuer::issue_ticket`]. Issued after their last logout, like a token.
    pub async fn stream_ticket(&self, user: UserId) -> Result<String, StoreError> {
        let issued_at = match self.standing(user).await? {
            Some(standing) => self.issue_time(standing.tokens_valid_after),
            None => self.clock.now(),
        };
        self.tokens.issue_ticket(user, issued_at)
    }

    /// The identity a verified token or stream ticket proves, unless a logout revoked it.
    async fn token_identity(
        &self,
        verified: Result<TokenClaims, TokenError>,
    ) -> Result<Identity, CredentialError> {
        let claims = verified.map_err(|_| CredentialError::Rejected)?;
        let Some(standing) = self.standing(claims.user).await? else {
            // Accounts are never deleted through the API: a genuine token for an id no
            // account has (a database restored from before its signup) stays a valid
            // credential, and handlers answer "User not found" as the contract says.
            return Ok(Identity {
                user: claims.user,
                tier: Tier::Standard,
                via: Via::Token,
                issued_at: Some(claims.issued_at),
            });
        };
        if standing
            .tokens_valid_after
            .is_some_and(|after| claims.issued_at <= after)
        {
            return Err(CredentialError::Rejected);
        }
        Ok(Identity {
            user: standing.user,
            tier: standing.tier,
            via: Via::Token,
            issued_at: Some(claims.issued_at),
        })
    }

    /// Whether a credential accepted earlier (`identity`, as [`AuthService::authenticate`]
    /// answered it) is still good: its user has not logged out since it was issued, or its API
    /// key was not revoked. Expiry is not checked: what was opened with a credential may
    /// outlive it, not its revocation (the live stream asks this of its open streams).
    pub async fn still_valid(&self, identity: &Identity) -> Result<bool, StoreError> {
        match identity.via {
            Via::Token => {
                let Some(standing) = self.standing(identity.user).await? else {
                    return Ok(true);
                };
                Ok(identity
                    .issued_at
                    .zip(standing.tokens_valid_after)
                    .is_none_or(|(issued, after)| issued > after))
            }
            Via::ApiKey(id) => self.keys.exists(id).await,
        }
    }

    /// Read through its own cache entry, not the user's: a post or a follow makes the user
    /// (its counters) stale, and must not cost its author's next request a load.
    async fn standing(&self, id: UserId) -> Result<Option<Arc<Standing>>, StoreError> {
        let users = &self.users;
        self.cache
            .standing(id, || async move {
                Ok(users.by_id(id).await?.map(|u| u.standing()))
            })
            .await
    }

    /// Revokes every token `user` holds (API keys stay: they are revoked one by one). Returns
    /// once no instance accepts them any more.
    pub async fn logout(&self, user: UserId) -> Result<(), StoreError> {
        let allowance = i64::try_from(CLOCK_SKEW_ALLOWANCE.as_millis()).unwrap_or(i64::MAX);
        let at =
            Timestamp::from_unix_millis(self.clock.now().unix_millis().saturating_add(allowance));
        self.users.revoke_tokens(user, at).await?;
        self.cache.written(Write::Credentials { user }).await;
        Ok(())
    }
}

mod signup;

pub use signup::SignupInput;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod credentials_tests;
