//! Signup, with or without an idempotency key.

use crate::error::AuthError;
use crate::model::{
    Email, Fingerprint, IdempotencyKey, KeyClaim, KeyScope, Name, NewUser, Password, StoredKey,
    User, UserId, Username, ValidationErrors,
};
use crate::ports::CreateUserError;
use crate::services::idempotency::Claimed;

use super::{AuthService, Session};

/// A signup request as it arrives; every field is checked and all errors reported together.
pub struct SignupInput<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub username: &'a str,
    pub name: Option<&'a str>,
}

impl AuthService {
    pub async fn signup(&self, input: SignupInput<'_>) -> Result<Session, AuthError> {
        self.signup_with_key(input, None).await
    }

    /// With a key (scoped by the email, see `KeyScope::signup`), a retry of the same signup
    /// is answered with the account the first one created, as it was created, and writes
    /// nothing. The token is a fresh one: tokens are never stored, so the first cannot be
    /// handed out again. The password is not part of the stored fingerprint (nothing derived
    /// from it but its argon2 hash is ever stored): a retry proves it by verifying against the
    /// account's hash, like a login, and a wrong one is `KeyReused`, counted as a failed login
    /// of the account (the retry is a login in all but name, so it must not be a way around
    /// the failed-login limit). Another username or name with the same key is `KeyReused`.
    pub async fn signup_with_key(
        &self,
        input: SignupInput<'_>,
        key: Option<&IdempotencyKey>,
    ) -> Result<Session, AuthError> {
        let email = Email::parse(input.email);
        let password = Password::parse_new(input.password);
        let username = Username::parse(input.username);
        let name = input.name.map(Name::parse).transpose();
        let (Ok(email), Ok(password), Ok(username), Ok(name)) = (email, password, username, name)
        else {
            // Re-parse only to collect every message; the common path above parses once.
            return Err(AuthError::Invalid(collect_signup_errors(&input)));
        };
        let claim = key.map(|key| KeyClaim {
            scope: KeyScope::signup(&email),
            key: key.clone(),
            fingerprint: Fingerprint::of("auth.signup")
                .field("email", Some(email.as_str()))
                .field("username", Some(username.as_str()))
                .field("name", name.as_ref().map(Name::as_str))
                .finish(),
        });
        let mut new = NewUser {
            id: UserId::from_uuid(self.ids.new_id()),
            email,
            username,
            name,
            password_hash: String::new(),
            created_at: self.clock.now(),
        };
        // A retry is answered before hashing: verifying costs what hashing would.
        if let Some(claim) = &claim {
            match self.idempotency.prior::<User>(claim).await? {
                Some(Claimed::Replay(first)) => {
                    return self.replay_signup(first, new, &password).await
                }
                Some(_) => return Err(AuthError::KeyReused),
                None => {}
            }
        }
        new.password_hash = self.hasher.hash(&password).await?;
        new.created_at = self.clock.now();
        let created = match &claim {
            None => self.users.create(&new).await.map(Claimed::Written),
            Some(claim) => {
                let users = &self.users;
                let new = &new;
                self.idempotency
                    .write(claim, || users.create_keyed(new, claim))
                    .await
            }
        };
        let user = match created {
            Ok(Claimed::Written(user)) => user,
            Ok(Claimed::Replay(first)) => return self.replay_signup(first, new, &password).await,
            Ok(Claimed::Reused) => return Err(AuthError::KeyReused),
            Err(CreateUserError::EmailTaken) => return Err(AuthError::EmailTaken),
            Err(CreateUserError::UsernameTaken) => return Err(AuthError::UsernameTaken),
            Err(CreateUserError::Store(e)) => return Err(AuthError::Store(e)),
        };
        let token = self.tokens.issue(user.id, self.clock.now())?;
        Ok(Session { user, token })
    }

    /// The answer to a retried signup whose key and fingerprint match `first`: the account as
    /// the first signup created it (`request` rebuilt with its id and time) and a fresh token,
    /// once the password checks out against the account's hash.
    async fn replay_signup(
        &self,
        first: StoredKey,
        request: NewUser,
        password: &Password,
    ) -> Result<Session, AuthError> {
        let policy = &self.login_limits.per_account;
        let account = request.email.as_str();
        let budget = self.limiter.check(policy, account, 0).await?;
        if !budget.allowed {
            return Err(AuthError::RateLimited(budget));
        }
        let stored = self
            .users
            .credentials_by_email(&request.email)
            .await?
            .filter(|s| s.user.id.as_uuid() == first.resource);
        let hash = stored.as_ref().map(|s| s.password_hash.as_str());
        let matches = self.hasher.verify(password, hash).await?;
        let Some(stored) = stored.filter(|_| matches) else {
            self.limiter.check(policy, account, 1).await?;
            return Err(AuthError::KeyReused);
        };
        let user = NewUser {
            id: UserId::from_uuid(first.resource),
            created_at: first.created_at,
            ..request
        }
        .to_user();
        let token = self
            .tokens
            .issue(user.id, self.issue_time(stored.user.tokens_valid_after))?;
        Ok(Session { user, token })
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
