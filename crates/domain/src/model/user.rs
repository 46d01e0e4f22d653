use std::fmt;

use serde::{Deserialize, Serialize};

use super::validation::{first_error, plain_text, Text, ValidationErrors};
use super::{Standing, Tier, Timestamp, UserId};

fn too_long(max: usize) -> String {
    format!("must be at most {max} characters")
}

/// A syntactically valid address, trimmed and lower-cased, at most 254 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ValidationErrors> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(ValidationErrors::new("email", "is required"));
        }
        if trimmed.chars().count() > 254 {
            return Err(ValidationErrors::new("email", too_long(254)));
        }
        if !is_valid_address(trimmed) {
            return Err(ValidationErrors::new(
                "email",
                "must be a valid email address",
            ));
        }
        Ok(Email(trimmed.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The practical subset of RFC 5321 that mail actually uses: one `@`, a dot-atom local part of
/// at most 64 characters, and a dotted domain of letters, digits and hyphens. ASCII only, as
/// RFC 5321 is: an internationalised domain is given in its `xn--` form. (The OpenAPI document
/// states this rule as patterns, which a test checks against this function.)
fn is_valid_address(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
    local_ok && domain_ok
}

/// 8 to 128 characters. The upper bound caps what one request can make the hasher do.
///
/// Its `Debug` never shows the secret, so it cannot leak into a log line.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN: usize = 8;
    pub const MAX: usize = 128;

    /// The rule for choosing a password (signup).
    pub fn parse_new(raw: &str) -> Result<Self, ValidationErrors> {
        let n = raw.chars().count();
        if n == 0 {
            Err(ValidationErrors::new("password", "is required"))
        } else if n < Self::MIN {
            Err(ValidationErrors::new(
                "password",
                format!("must be at least {} characters", Self::MIN),
            ))
        } else if n > Self::MAX {
            Err(ValidationErrors::new("password", too_long(Self::MAX)))
        } else {
            Ok(Password(raw.to_owned()))
        }
    }

    /// The rule for presenting one (login): any non-empty string up to the cap, so a short
    /// wrong password is just wrong (401), not a hint about the rules.
    pub fn parse_attempt(raw: &str) -> Result<Self, ValidationErrors> {
        let n = raw.chars().count();
        if n == 0 {
            Err(ValidationErrors::new("password", "is required"))
        } else if n > Self::MAX {
            Err(ValidationErrors::new("password", too_long(Self::MAX)))
        } else {
            Ok(Password(raw.to_owned()))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// 3 to 20 characters of `[A-Za-z0-9_]`, shown as typed, unique ignoring case.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, ValidationErrors> {
        let n = raw.chars().count();
        if n == 0 {
            Err(ValidationErrors::new("username", "is required"))
        } else if n < 3 {
            Err(ValidationErrors::new(
                "username",
                "must be at least 3 characters",
            ))
        } else if n > 20 {
            Err(ValidationErrors::new("username", too_long(20)))
        } else if !raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            Err(ValidationErrors::new(
                "username",
                "may only contain letters, digits and underscores",
            ))
        } else {
            Ok(Username(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness and lookups compare on.
    pub fn canonical(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// A display name: trimmed, 1 to 50 characters, one line with no control or bidi characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub fn parse(raw: &str) -> Result<Self, ValidationErrors> {
        let t = raw.trim();
        if t.is_empty() {
            Err(ValidationErrors::new(
                "name",
                "must be at least 1 character",
            ))
        } else if t.chars().count() > 50 {
            Err(ValidationErrors::new("name", too_long(50)))
        } else {
            plain_text("name", t, Text::Line)?;
            Ok(Name(t.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// At most 160 characters, kept as typed; newlines allowed, other control and bidi characters
/// not. An empty bio is no bio.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bio(String);

impl Bio {
    /// `None` for `""`: clearing and emptying are the same thing.
    pub fn parse(raw: &str) -> Result<Option<Self>, ValidationErrors> {
        if raw.is_empty() {
            Ok(None)
        } else if raw.chars().count() > 160 {
            Err(ValidationErrors::new("bio", too_long(160)))
        } else {
            plain_text("bio", raw, Text::Block)?;
            Ok(Some(Bio(raw.to_owned())))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A signup, parsed: every field valid, the password already hashed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewUser {
    pub id: UserId,
    pub email: Email,
    pub username: Username,
    pub name: Option<Name>,
    /// A PHC string; never leaves the server.
    pub password_hash: String,
    pub created_at: Timestamp,
}

impl NewUser {
    /// The user this signup becomes once stored: no bio yet, every counter zero. Stores return
    /// it after an insert instead of reading the row back.
    pub fn to_user(&self) -> User {
        User {
            id: self.id,
            email: self.email.as_str().to_owned(),
            username: self.username.as_str().to_owned(),
            name: self.name.as_ref().map(|n| n.as_str().to_owned()),
            bio: None,
            created_at: self.created_at,
            followers_count: 0,
            following_count: 0,
            posts_count: 0,
            tier: Tier::Standard,
            tokens_valid_after: None,
        }
    }
}

/// A user as stored, with counters that are exact once the write changing them returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub username: String,
    pub name: Option<String>,
    pub bio: Option<String>,
    pub created_at: Timestamp,
    pub followers_count: u64,
    pub following_count: u64,
    pub posts_count: u64,
    /// Never shown by the API: it only sets the user's rate limits.
    pub tier: Tier,
    /// Tokens issued at or before this instant are revoked (the last logout); `None` until the
    /// first logout.
    pub tokens_valid_after: Option<Timestamp>,
}

impl User {
    pub fn standing(&self) -> Standing {
        Standing {
            user: self.id,
            tier: self.tier,
            tokens_valid_after: self.tokens_valid_after,
        }
    }

    pub fn summary(&self) -> UserSummary {
        UserSummary {
            id: self.id,
            username: self.username.clone(),
            name: self.name.clone(),
        }
    }
}

/// What other objects embed about their author.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    pub id: UserId,
    pub username: String,
    pub name: Option<String>,
}

/// A user together with the hash to check a login against.
#[derive(Clone)]
pub struct StoredCredentials {
    pub user: User,
    pub password_hash: String,
}

impl fmt::Debug for StoredCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCredentials")
            .field("user", &self.user)
            .field("password_hash", &"<redacted>")
            .finish()
    }
}

/// A profile change: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileUpdate {
    pub name: Option<Option<Name>>,
    pub bio: Option<Option<Bio>>,
}

impl ProfileUpdate {
    /// Parses the request's fields: absent (`None`), `null` (`Some(None)`) or a string.
    ///
    /// At least one field must be present; a `null` name clears it, and so does a `null` or
    /// empty bio.
    pub fn parse(
        name: Option<Option<&str>>,
        bio: Option<Option<&str>>,
    ) -> Result<Self, ValidationErrors> {
        if name.is_none() && bio.is_none() {
            return Err(ValidationErrors::new(
                "profile",
                "needs at least one of name, bio",
            ));
        }
        let name = name.map(|n| n.map(Name::parse).transpose());
        let bio = bio.map(|b| b.map(Bio::parse).transpose().map(Option::flatten));
        let errors = [
            name.as_ref().and_then(first_error),
            bio.as_ref().and_then(first_error),
        ];
        ValidationErrors::collect(errors.into_iter().flatten())?;
        Ok(ProfileUpdate {
            name: name.transpose().unwrap_or_default(),
            bio: bio.transpose().unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests;
