use serde::{Deserialize, Serialize};

use super::validation::{plain_text, Text, ValidationErrors};
use super::{PostId, Timestamp, UserId, UserSummary};

/// A post body: trimmed, 1 to 280 Unicode scalar values, no control characters but `\n`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostContent(String);

impl PostContent {
    pub const MAX: usize = 280;

    pub fn parse(raw: &str) -> Result<Self, ValidationErrors> {
        let t = raw.trim();
        if t.is_empty() {
            return Err(ValidationErrors::new("content", "must not be empty"));
        }
        if t.chars().count() > Self::MAX {
            return Err(ValidationErrors::new(
                "content",
                format!("must be at most {} characters", Self::MAX),
            ));
        }
        plain_text("content", t, Text::Post)?;
        Ok(PostContent(t.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A post as stored. Immutable once written (posts are deleted, never edited), which is why its
/// body may be cached for long.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostRecord {
    pub id: PostId,
    pub author_id: UserId,
    pub content: String,
    pub created_at: Timestamp,
}

/// A post with its author's current summary, as every listing shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Post {
    pub id: PostId,
    pub content: String,
    pub author_id: UserId,
    pub author: UserSummary,
    pub created_at: Timestamp,
}

impl Post {
    pub fn new(record: PostRecord, author: UserSummary) -> Self {
        Post {
            id: record.id,
            content: record.content,
            author_id: record.author_id,
            author,
            created_at: record.created_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_trimmed() {
        assert_eq!(PostContent::parse("  hi \n").unwrap().as_str(), "hi");
        assert!(PostContent::parse(" \n\t ").is_err());
    }

    #[test]
    fn content_counts_scalar_values_not_bytes() {
        assert!(PostContent::parse(&"é".repeat(280)).is_ok());
        assert!(PostContent::parse(&"🦀".repeat(280)).is_ok());
        let e = PostContent::parse(&"a".repeat(281)).unwrap_err();
        assert_eq!(e.summary(), "Content must be at most 280 characters");
    }

    #[test]
    fn content_allows_newlines_only_among_controls() {
        assert!(PostContent::parse("line one\nline two").is_ok());
        assert!(PostContent::parse("nul\0byte").is_err());
        assert!(PostContent::parse("tab\there").is_err());
        assert!(PostContent::parse("bell\u{7}").is_err());
        assert!(PostContent::parse("cr\r\nlf").is_err());
    }
}
