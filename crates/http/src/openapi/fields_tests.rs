//! The document's patterns against the domain's parsers: for every string tried, the pattern
//! matches exactly when the parser accepts. A rule changed on one side only fails here.

use std::sync::LazyLock;

use domain::model::{ApiKeyName, Bio, Email, Name, PostContent};
use proptest::prelude::*;
use regex::Regex;

use super::*;

fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"))
}

/// A field's document rule: every pattern matches and the length (if any) holds.
struct Rule {
    patterns: Vec<Regex>,
    max_chars: Option<usize>,
}

impl Rule {
    fn new(patterns: &[String], max_chars: Option<usize>) -> Rule {
        Rule {
            patterns: patterns.iter().map(|p| compile(p)).collect(),
            max_chars,
        }
    }

    fn allows(&self, s: &str) -> bool {
        self.patterns.iter().all(|p| p.is_match(s))
            && self.max_chars.is_none_or(|m| s.chars().count() <= m)
    }

    fn agrees(&self, s: &str, accepted: bool) -> Result<(), TestCaseError> {
        prop_assert_eq!(
            self.allows(s),
            accepted,
            "document and domain disagree on {:?} (domain accepts: {})",
            s,
            accepted
        );
        Ok(())
    }
}

// Compiled once: a bounded repeat of 278 makes a large automaton, too slow to build per case.
static NAME: LazyLock<Rule> = LazyLock::new(|| Rule::new(&[name_pattern()], None));
static BIO: LazyLock<Rule> = LazyLock::new(|| Rule::new(&[bio_pattern()], Some(160)));
static CONTENT: LazyLock<Rule> = LazyLock::new(|| Rule::new(&[content_pattern()], None));
static KEY_NAME: LazyLock<Rule> = LazyLock::new(|| Rule::new(&[api_key_name_pattern()], None));
static EMAIL: LazyLock<Rule> = LazyLock::new(|| {
    Rule::new(
        &[
            email_shape_pattern(),
            email_local_pattern(),
            email_length_pattern(),
        ],
        None,
    )
});

/// Characters where the rules have edges: every kind of white space `trim` removes, white
/// space it keeps (U+FEFF, U+180E), controls inside and outside white space, the bidi
/// controls, letters beyond ASCII, an astral character, and the email punctuation.
const EDGES: &[char] = &[
    ' ', '\t', '\n', '\u{b}', '\u{c}', '\r', '\u{85}', '\u{a0}', '\u{1680}', '\u{2000}',
    '\u{200a}', '\u{2028}', '\u{2029}', '\u{202f}', '\u{205f}', '\u{3000}', '\u{feff}', '\u{180e}',
    '\u{0}', '\u{1}', '\u{1c}', '\u{1f}', '\u{7f}', '\u{9f}', '\u{61c}', '\u{200e}', '\u{200f}',
    '\u{202a}', '\u{202e}', '\u{2066}', '\u{2069}', '\u{200b}', 'a', 'Z', '0', '9', '_', '-', '.',
    '@', '+', '`', '~', '"', '(', 'é', 'ß', '中', '😀',
];

fn edge_text(max_len: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(EDGES), 0..max_len)
        .prop_map(|cs| cs.into_iter().collect())
}

/// Text near a length limit: padding, a run of one character, padding.
fn near_limit(limit: usize) -> impl Strategy<Value = String> {
    (
        edge_text(4),
        prop::sample::select(EDGES),
        limit - 3..limit + 3,
        edge_text(4),
    )
        .prop_map(|(pre, c, n, post)| format!("{pre}{}{post}", String::from(c).repeat(n)))
}

fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-z0-9]([a-z0-9-]{0,4}[a-z0-9])?",
        1 => "[a-z0-9-]{0,6}",
        1 => "[a-zA-Z0-9]{61,65}",
        1 => edge_text(4),
    ]
}

/// Padding: none as often as some.
fn padding() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), edge_text(3)]
}

/// Things shaped like addresses, mostly valid, some near a limit, some broken: padding, a
/// local part (sometimes near 64), `@`, labels (sometimes near 63), padding.
fn address() -> impl Strategy<Value = String> {
    let local = prop_oneof![
        4 => "[a-z0-9+_`-]{1,8}(\\.[a-z0-9]{1,5})?",
        2 => "[a-z]{62,67}",
        1 => "[a-z]{20,30}\\.[a-z]{30,40}",
        1 => "[a-z0-9.]{0,6}",
        1 => edge_text(6),
    ];
    let tld = prop_oneof![
        6 => "[a-z]{2,4}",
        1 => "[a-z0-9-]{1,4}",
        1 => "[a-z]{62,64}",
        1 => edge_text(3),
    ];
    (
        padding(),
        local,
        prop::collection::vec(label(), 1..4),
        tld,
        padding(),
        0usize..4,
    )
        .prop_map(|(pre, local, labels, tld, post, long)| {
            // Sometimes a domain long enough to take the whole past 254 characters.
            let filler = vec!["abcdefghij".repeat(6); long * 2].join(".");
            let mut domain = labels.join(".");
            if !filler.is_empty() {
                domain = format!("{filler}.{domain}");
            }
            format!("{pre}{local}@{domain}.{tld}{post}")
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn names_agree(s in prop_oneof![edge_text(12), near_limit(50)]) {
        NAME.agrees(&s, Name::parse(&s).is_ok())?;
    }

    #[test]
    fn bios_agree(s in prop_oneof![edge_text(12), near_limit(160)]) {
        BIO.agrees(&s, Bio::parse(&s).is_ok())?;
    }

    #[test]
    fn post_contents_agree(s in prop_oneof![edge_text(12), near_limit(280)]) {
        CONTENT.agrees(&s, PostContent::parse(&s).is_ok())?;
    }

    #[test]
    fn api_key_names_agree(s in prop_oneof![edge_text(12), near_limit(50)]) {
        KEY_NAME.agrees(&s, ApiKeyName::parse(&s).is_ok())?;
    }

    #[test]
    fn emails_agree(s in prop_oneof![address(), edge_text(10)]) {
        EMAIL.agrees(&s, Email::parse(&s).is_ok())?;
    }
}

#[test]
fn the_edges_of_each_rule_are_where_the_domain_puts_them() {
    let email = &*EMAIL;
    let local = |n: usize| format!("{}@example.com", "a".repeat(n));
    assert!(email.allows(&local(64)) && Email::parse(&local(64)).is_ok());
    assert!(!email.allows(&local(65)) && Email::parse(&local(65)).is_err());
    assert!(email.allows(" \tAda@Example.COM\u{3000}"));
    for bad in [
        "ü@example.com",
        "a@bücher.de",
        "a@example.c0m",
        "a..b@example.com",
    ] {
        assert!(!email.allows(bad) && Email::parse(bad).is_err(), "{bad}");
    }
    assert!(email.allows("a@xn--bcher-kva.de") && Email::parse("a@xn--bcher-kva.de").is_ok());

    let name = &*NAME;
    let padded = format!("   {}   ", "n".repeat(50));
    assert!(name.allows(&padded) && Name::parse(&padded).is_ok());
    assert!(!name.allows(&"n".repeat(51)));
    assert!(!name.allows("a\u{0}b") && !name.allows("a\u{202e}b") && !name.allows(" \n "));
}
