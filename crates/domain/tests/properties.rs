//! Every value type, the cursor and the ids over arbitrary input: a parse never panics, and what
//! it accepts keeps the type's rules (so whatever reaches a store or a response is well-formed);
//! what it refuses names the field the contract's 400 reports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use domain::model::{
    Bio, Cursor, Email, Limit, Name, PageRequest, Password, PostContent, PostId, UserId, Username,
};
use proptest::prelude::*;

/// Any string, weighted towards what breaks parsers: controls, bidi marks, spaces, digits,
/// signs, hex and multi-byte characters, at lengths around the limits.
fn nasty() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        any::<char>().prop_map(String::from),
        Just("\u{0}".to_owned()),
        Just("\u{202E}".to_owned()),
        Just("\u{2067}".to_owned()),
        Just("\n".to_owned()),
        Just(" ".to_owned()),
        Just("+".to_owned()),
        Just("-".to_owned()),
        Just("@".to_owned()),
        Just(".".to_owned()),
        "[0-9a-f]{1,8}",
        "[a-zA-Z_]{1,8}",
        Just("é".to_owned()),
        Just("😀".to_owned()),
    ];
    prop::collection::vec(pieces, 0..80).prop_map(|v| v.concat())
}

fn field_of(e: &domain::model::ValidationErrors) -> &'static str {
    e.fields()[0].field
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn names_are_one_trimmed_line_of_1_to_50_without_controls(raw in nasty()) {
        match Name::parse(&raw) {
            Ok(name) => {
                let s = name.as_str();
                prop_assert_eq!(s, s.trim());
                prop_assert!((1..=50).contains(&s.chars().count()));
                prop_assert!(!s.chars().any(char::is_control));
                let bidi = s.contains('\u{202E}') || s.contains('\u{2067}');
                prop_assert!(!bidi, "bidi control kept in {:?}", s);
            }
            Err(e) => prop_assert_eq!(field_of(&e), "name"),
        }
    }

    #[test]
    fn bios_keep_newlines_only(raw in nasty()) {
        match Bio::parse(&raw) {
            Ok(Some(bio)) => {
                let s = bio.as_str();
                prop_assert!((1..=160).contains(&s.chars().count()));
                prop_assert!(!s.chars().any(|c| c.is_control() && c != '\n'));
                let bidi = s.contains('\u{202E}');
                prop_assert!(!bidi, "bidi control kept in {:?}", s);
            }
            Ok(None) => prop_assert!(raw.is_empty()),
            Err(e) => prop_assert_eq!(field_of(&e), "bio"),
        }
    }

    #[test]
    fn post_content_is_1_to_280_without_controls_but_newlines(raw in nasty()) {
        match PostContent::parse(&raw) {
            Ok(content) => {
                let s = content.as_str();
                prop_assert_eq!(s, s.trim());
                prop_assert!((1..=PostContent::MAX).contains(&s.chars().count()));
                prop_assert!(!s.chars().any(|c| c.is_control() && c != '\n'));
            }
            Err(e) => prop_assert_eq!(field_of(&e), "content"),
        }
    }

    #[test]
    fn usernames_are_3_to_20_word_characters(raw in nasty()) {
        match Username::parse(&raw) {
            Ok(u) => {
                let s = u.as_str();
                prop_assert!((3..=20).contains(&s.len()));
                prop_assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
                prop_assert_eq!(u.canonical(), s.to_ascii_lowercase());
            }
            Err(e) => prop_assert_eq!(field_of(&e), "username"),
        }
    }

    #[test]
    fn emails_are_trimmed_lower_cased_and_bounded(raw in nasty()) {
        match Email::parse(&raw) {
            Ok(e) => {
                let s = e.as_str();
                prop_assert_eq!(s, s.trim());
                prop_assert_eq!(s.to_lowercase(), s);
                prop_assert!(s.chars().count() <= 254 && s.contains('@'));
                // Parsing what was stored gives it back: the stored form is canonical.
                let again = Email::parse(s).unwrap();
                prop_assert_eq!(again.as_str(), s);
            }
            Err(e) => prop_assert_eq!(field_of(&e), "email"),
        }
    }

    #[test]
    fn passwords_are_bounded_and_attempts_are_looser(raw in nasty()) {
        let n = raw.chars().count();
        match Password::parse_new(&raw) {
            Ok(p) => {
                prop_assert!((8..=128).contains(&n));
                prop_assert_eq!(p.expose(), raw.as_str());
                prop_assert!(Password::parse_attempt(&raw).is_ok());
            }
            Err(e) => prop_assert_eq!(field_of(&e), "password"),
        }
        if Password::parse_attempt(&raw).is_ok() {
            prop_assert!((1..=128).contains(&n));
        }
    }

    #[test]
    fn limits_are_plain_digits_from_1_to_100(raw in nasty()) {
        match Limit::parse(Some(&raw)) {
            Ok(l) => {
                prop_assert!((1..=Limit::MAX).contains(&l.get()));
                prop_assert!(raw.bytes().all(|b| b.is_ascii_digit()));
            }
            Err(e) => prop_assert_eq!(field_of(&e), "limit"),
        }
    }

    #[test]
    fn limits_in_range_parse_to_themselves(n in 1usize..=100) {
        prop_assert_eq!(Limit::parse(Some(&n.to_string())).unwrap().get(), n);
    }

    #[test]
    fn cursors_round_trip_and_nothing_else_parses(raw in nasty(), bits in any::<u128>()) {
        if let Ok(c) = Cursor::parse(&raw) {
            prop_assert_eq!(c.to_string(), raw.clone());
        }
        // Any version-7 key: its text form parses back to itself.
        let key = uuid::Builder::from_u128(bits).with_version(uuid::Version::SortRand).into_uuid();
        let cursor = Cursor::after(key);
        prop_assert_eq!(Cursor::parse(&cursor.to_string()).unwrap(), cursor);
        // A page request reports every bad part, each by its field.
        if let Err(e) = PageRequest::parse(Some(&raw), Some(&raw)) {
            for f in e.fields() {
                prop_assert!(f.field == "limit" || f.field == "cursor");
            }
        }
    }

    #[test]
    fn ids_round_trip_and_garbage_is_refused_without_panic(raw in nasty(), bits in any::<u128>()) {
        let _ = raw.parse::<UserId>();
        let _ = raw.parse::<PostId>();
        let uuid = uuid::Builder::from_u128(bits).with_version(uuid::Version::SortRand).into_uuid();
        let id = UserId::from_uuid(uuid);
        prop_assert_eq!(id.to_string().parse::<UserId>().unwrap(), id);
        let post = PostId::from_uuid(uuid);
        prop_assert_eq!(post.to_string().parse::<PostId>().unwrap(), post);
    }
}
