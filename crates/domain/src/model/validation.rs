use std::fmt;

/// One broken rule: which field, and what the rule is ("must be at most 20 characters").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

/// Every rule a request broke, so a client can fix them all at once.
///
/// Never empty: constructors take at least one error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors(Vec<FieldError>);

impl ValidationErrors {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        ValidationErrors(vec![FieldError {
            field,
            message: message.into(),
        }])
    }

    /// Collects the errors of several parses; `Ok` when there were none.
    pub fn collect(errors: impl IntoIterator<Item = ValidationErrors>) -> Result<(), Self> {
        let all: Vec<FieldError> = errors.into_iter().flat_map(|e| e.0).collect();
        if all.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(all))
        }
    }

    pub fn fields(&self) -> &[FieldError] {
        &self.0
    }

    /// The human headline: the first error, field name capitalised ("Username must be …").
    pub fn summary(&self) -> String {
        match self.0.first() {
            Some(first) => {
                let mut chars = first.field.chars();
                let field: String = match chars.next() {
                    Some(c) => c.to_uppercase().chain(chars).collect(),
                    None => String::new(),
                };
                format!("{field} {}", first.message)
            }
            None => "Invalid request".to_owned(),
        }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}

impl std::error::Error for ValidationErrors {}

/// Ok(value) of a parse, or the error of it, kept so several fields are checked together.
pub(crate) fn first_error<T>(r: &Result<T, ValidationErrors>) -> Option<ValidationErrors> {
    r.as_ref().err().cloned()
}

/// Which characters a free-text field refuses besides control characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Text {
    /// One line shown inline next to other text (a display name): no newline, and no bidi
    /// controls, which would reorder what is displayed after it (an impersonation trick).
    Line,
    /// Several lines shown in a block of its own (a bio): newlines allowed, bidi controls not.
    Block,
    /// A post: newlines allowed; bidi marks too, since right-to-left writers use them in text
    /// that mixes scripts, and a post is laid out in its own block.
    Post,
}

/// The explicit bidirectional formatting characters (Unicode TR9): marks, embeddings,
/// overrides and isolates.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Refuses control characters (NUL included) in `text`, and what `kind` also refuses.
pub(crate) fn plain_text(
    field: &'static str,
    text: &str,
    kind: Text,
) -> Result<(), ValidationErrors> {
    let newlines = kind != Text::Line;
    if text
        .chars()
        .any(|c| c.is_control() && !(newlines && c == '\n'))
    {
        let message = if newlines {
            "must not contain control characters other than newlines"
        } else {
            "must not contain control characters"
        };
        return Err(ValidationErrors::new(field, message));
    }
    if kind != Text::Post && text.chars().any(is_bidi_control) {
        return Err(ValidationErrors::new(
            field,
            "must not contain bidirectional control characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_refuses_controls_and_bidi_where_asked() {
        assert!(plain_text("name", "Ann Lee", Text::Line).is_ok());
        assert!(plain_text("name", "a\u{0}b", Text::Line).is_err());
        assert!(plain_text("name", "a\nb", Text::Line).is_err());
        assert!(plain_text("name", "a\u{7f}b", Text::Line).is_err());
        assert!(plain_text("name", "a\u{85}b", Text::Line).is_err());
        assert!(plain_text("name", "evil\u{202E}gpj.exe", Text::Line).is_err());
        assert!(plain_text("bio", "two\nlines", Text::Block).is_ok());
        assert!(plain_text("bio", "a\u{2067}b", Text::Block).is_err());
        assert!(plain_text("bio", "a\u{0}b", Text::Block).is_err());
        assert!(plain_text("content", "\u{200F}שלום hi", Text::Post).is_ok());
        assert!(plain_text("content", "a\tb", Text::Post).is_err());
        let e = plain_text("bio", "x\u{1}", Text::Block).unwrap_err();
        assert_eq!(e.fields()[0].field, "bio");
    }

    #[test]
    fn summary_capitalises_the_field() {
        let e = ValidationErrors::new("username", "must be at most 20 characters");
        assert_eq!(e.summary(), "Username must be at most 20 characters");
    }

    #[test]
    fn collect_merges_and_is_ok_when_empty() {
        assert!(ValidationErrors::collect(Vec::new()).is_ok());
        let merged = ValidationErrors::collect(vec![
            ValidationErrors::new("a", "x"),
            ValidationErrors::new("b", "y"),
        ])
        .unwrap_err();
        assert_eq!(merged.fields().len(), 2);
        assert_eq!(merged.fields()[1].field, "b");
    }
}
