//! The schemas of the request fields whose rules a plain `maxLength` cannot state: the domain
//! trims them (`str::trim`) before it counts, so a value padded with spaces past the limit is
//! accepted. Each pattern below accepts exactly what the domain's parser accepts — padding,
//! then the trimmed value with its length and characters — so the document neither refuses a
//! value the server takes nor allows one it refuses (`tests` checks both against `domain`).
//!
//! The patterns use only what ECMA-262, Rust's `regex` and Python's `re` read alike: character
//! classes spelt out (`\s` differs between them), no lookaround (generators such as
//! schemathesis cannot draw from it); a second length rule goes in an `allOf` instead.

use serde_json::json;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;

/// What `str::trim` removes: the characters with Unicode's `White_Space` property.
const SPACE: &str = r"\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// `char::is_control`: the C0 and C1 control characters.
const CONTROL: &str = r"\x00-\x1f\x7f-\x9f";
/// The controls a multi-line text refuses: all but `\n`.
const CONTROL_BUT_NEWLINE: &str = r"\x00-\x09\x0b-\x1f\x7f-\x9f";
/// The bidirectional formatting characters a name or bio refuses (`validation::is_bidi_control`).
const BIDI: &str = r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069";
/// The characters of an email's local part besides letters and digits (RFC 5321 `atext`).
const ATEXT: &str = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~-";

/// A value trimmed before it is checked: optional padding, then 1 to `max` characters that are
/// not `refused`, the first and last of them not white space.
fn trimmed(refused: &str, max: usize) -> String {
    let inner = if refused.is_empty() {
        r"[\s\S]".to_owned()
    } else {
        format!("[^{refused}]")
    };
    format!(
        "^[{SPACE}]*[^{SPACE}{refused}](?:{inner}{{0,{}}}[^{SPACE}{refused}])?[{SPACE}]*$",
        max.saturating_sub(2)
    )
}

fn string(description: &str, example: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .examples([json!(example)])
}

fn or_null(builder: ObjectBuilder) -> ObjectBuilder {
    builder.schema_type(SchemaType::from_iter([Type::String, Type::Null]))
}

pub(crate) fn name_pattern() -> String {
    trimmed(&format!("{CONTROL}{BIDI}"), 50)
}

pub(crate) fn content_pattern() -> String {
    trimmed(CONTROL_BUT_NEWLINE, 280)
}

pub(crate) fn api_key_name_pattern() -> String {
    trimmed("", 50)
}

pub(crate) fn bio_pattern() -> String {
    format!("^[^{CONTROL_BUT_NEWLINE}{BIDI}]*$")
}

/// The shape of an address (one `@`, a dot-atom local part, a dotted domain of letters, digits
/// and inner hyphens with an alphabetic top-level label), padding allowed around it.
pub(crate) fn email_shape_pattern() -> String {
    format!(
        "^[{SPACE}]*[{ATEXT}]+(?:\\.[{ATEXT}]+)*@\
         (?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\\.)+[A-Za-z]{{2,63}}[{SPACE}]*$"
    )
}

/// The local part is at most 64 characters (everything before the `@` but the padding).
pub(crate) fn email_local_pattern() -> String {
    format!("^[{SPACE}]*[!-?A-~]{{1,64}}@")
}

/// The trimmed address is at most 254 characters.
pub(crate) fn email_length_pattern() -> String {
    format!("^[{SPACE}]*[!-~]{{1,254}}[{SPACE}]*$")
}

const NAME: &str = "A display name: 1 to 50 characters once trimmed, on one line, without control \
                    or bidirectional control characters.";

pub fn name() -> Schema {
    string(NAME, "Ada Lovelace")
        .pattern(Some(name_pattern()))
        .build()
        .into()
}

/// `name` or `null`: at signup, no name; in a profile edit, clear it.
pub fn name_or_null() -> Schema {
    or_null(string(NAME, "Ada Lovelace"))
        .pattern(Some(name_pattern()))
        .build()
        .into()
}

pub fn bio_or_null() -> Schema {
    or_null(string(
        "At most 160 characters, kept as typed: newlines allowed, other control and \
         bidirectional control characters not. `null` or `\"\"` clears it.",
        "Analyst of engines",
    ))
    .max_length(Some(160))
    .pattern(Some(bio_pattern()))
    .build()
    .into()
}

pub fn content() -> Schema {
    string(
        "1 to 280 characters once trimmed; no control characters but `\\n` (bidirectional \
         marks are allowed).",
        "Hello, SocialScale!",
    )
    .pattern(Some(content_pattern()))
    .build()
    .into()
}

pub fn api_key_name() -> Schema {
    string(
        "A label for the key: 1 to 50 characters once trimmed.",
        "nightly export",
    )
    .pattern(Some(api_key_name_pattern()))
    .build()
    .into()
}

/// An email address, as ASCII (RFC 5321; an internationalised domain in its `xn--` form).
pub fn email() -> RefOr<Schema> {
    let rule = |pattern: String| {
        ObjectBuilder::new()
            .schema_type(SchemaType::AnyValue)
            .pattern(Some(pattern))
            .build()
    };
    let all = AllOfBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "An address of ASCII characters (RFC 5321): a local part of at most 64 characters \
             (letters, digits, the backtick and !#$%&'*+/=?^_{|}~-, with single dots between \
             them), `@`, a dotted domain of letters, digits and inner hyphens whose last label \
             is 2 or more letters; at most 254 characters once trimmed. Stored lower-cased; \
             unique ignoring case.",
        ))
        .examples([json!("ada@example.com")])
        .item(rule(email_shape_pattern()))
        .item(rule(email_local_pattern()))
        .item(rule(email_length_pattern()))
        .build();
    RefOr::T(Schema::AllOf(all))
}

#[cfg(test)]
#[path = "fields_tests.rs"]
mod tests;
