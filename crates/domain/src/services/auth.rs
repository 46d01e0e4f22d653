use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::AuthError;
use crate::model::{Email, Name, NewUser, Password, User, UserId, Username, ValidationErrors};
use crate::ports::{
    Clock, CreateUserError, IdGenerator, PasswordHasher, RateDecision, RateLimiter, RatePolicy,
    TokenError, TokenIssuer, UserRepository,
};

use super::Ports;

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

/// A signup request as it arrives; every field is checked and all errors reported together.
pub struct SignupInput<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub username: &'a str,
    pub name: Option<&'a str>,
}

impl AuthService {
    pub fn new(ports: &Ports, login_limits: LoginLimits) -> Self {
        AuthService {
            users: ports.users.clone(),
            hasher: ports.hasher.clone(),
            tokens: ports.tokens.clone(),
            limiter: ports.limiter.clone(),
            clock: ports.clock.clone(),
            ids: ports.ids.clone(),
            login_limits,
            in_flight: Arc::default(),
        }
    }

    pub async fn signup(&self, input: SignupInput<'_>) -> Result<Session, AuthError> {
        let email = Email::parse(input.email);
        let password = Password::parse_new(input.password);
        let username = Username::parse(input.username);
        let name = input.name.map(Name::parse).transpose();
        let (Ok(email), Ok(password), Ok(username), Ok(name)) = (email, password, username, name)
        else {
            // Re-parse only to collect every message; the common path above parses once.
            return Err(AuthError::Invalid(collect_signup_errors(&input)));
        };
        let password_hash = self.hasher.hash(&password).await?;
        let new = NewUser {
            id: UserId::from_uuid(self.ids.new_id()),
            email,
            username,
            name,
            password_hash,
            created_at: self.clock.now(),
        };
        let user = self.users.create(&new).await.map_err(|e| match e {
            CreateUserError::EmailTaken => AuthError::EmailTaken,
            CreateUserError::UsernameTaken => AuthError::UsernameTaken,
            CreateUserError::Store(e) => AuthError::Store(e),
        })?;
        let token = self.tokens.issue(user.id)?;
        Ok(Session { user, token })
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
                let token = self.tokens.issue(stored.user.id)?;
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

    /// The user a bearer token names, if it is genuine and current.
    pub fn authenticate(&self, token: &str) -> Result<UserId, TokenError> {
        self.tokens.verify(token)
    }
}

fn collect_signup_errors(input: &SignupInput<'_>) -> ValidationErrors {
    let errors = [
        Email::parse(input.email).err(),
        Password::parse_new(input.password).err(),
        Username::parse(input.username).err(),
        input.name.map(Name::parse).and_then(Result::err),
    ];
    ValidationErrors::collect(errors.into_iter().flatten())
        .err()
        .unwrap_or_else(|| ValidationErrors::new("body", "is invalid"))
}

#[cfg(test)]
mod tests;
