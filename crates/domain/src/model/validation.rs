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

#[cfg(test)]
mod tests {
    use super::*;

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
