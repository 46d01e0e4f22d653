use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// A UUIDv7: time-ordered, so sorting by id sorts by creation and keyset pagination by
        /// id works. Clients treat it as opaque.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps an id this system issued (from the id generator or the database).
            pub fn from_uuid(id: Uuid) -> Self {
                $name(id)
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            /// Accepts only what this server could have issued: a version-7 UUID. Anything else
            /// is an id that cannot exist, which callers answer like an unknown one (404).
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                let id = Uuid::try_parse(s).map_err(|_| InvalidId)?;
                if id.get_version_num() == 7 {
                    Ok($name(id))
                } else {
                    Err(InvalidId)
                }
            }
        }
    };
}

id_type!(
    /// Identifies a user.
    UserId
);
id_type!(
    /// Identifies a post.
    PostId
);
id_type!(
    /// Identifies one follow edge; only used to order follower lists.
    FollowId
);
id_type!(
    /// Identifies an API key (and is part of the key a client holds, see `ApiKeySecret`).
    ApiKeyId
);

/// A string that is not an id this server issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an id issued by this server")]
pub struct InvalidId;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_a_v7_id() {
        let raw = Uuid::now_v7();
        let id: UserId = raw.to_string().parse().unwrap();
        assert_eq!(id.as_uuid(), raw);
        assert_eq!(id.to_string(), raw.hyphenated().to_string());
    }

    #[test]
    fn rejects_ids_this_server_never_issues() {
        assert!("not-an-id".parse::<PostId>().is_err());
        assert!(Uuid::new_v4().to_string().parse::<PostId>().is_err());
        assert!("".parse::<UserId>().is_err());
    }

    #[test]
    fn ids_sort_by_creation() {
        let a = PostId::from_uuid(Uuid::now_v7());
        let b = PostId::from_uuid(Uuid::now_v7());
        assert!(a < b);
    }
}
