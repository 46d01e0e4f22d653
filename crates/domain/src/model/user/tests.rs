use super::*;

#[test]
fn email_is_trimmed_and_lower_cased() {
    assert_eq!(
        Email::parse("  Alice@Example.COM ").unwrap().as_str(),
        "alice@example.com"
    );
}

#[test]
fn email_rejects_what_is_not_an_address() {
    for bad in [
        "",
        "   ",
        "plain",
        "a@b",
        "@example.com",
        "a@.com",
        "a@example.",
        "a b@example.com",
        "a..b@example.com",
        "a@exa mple.com",
        "a@-example.com",
        "a@example.c0m",
        "ü@example.com",
        "a@bücher.de",
        "a@example.рф",
    ] {
        assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
    }
    let long = format!("{}@example.com", "a".repeat(250));
    assert!(Email::parse(&long).is_err());
    assert!(Email::parse("first.last+tag@sub.example.org").is_ok());
    assert!(Email::parse("a@xn--bcher-kva.de").is_ok());
    let local = |n| format!("{}@example.com", "a".repeat(n));
    assert!(Email::parse(&local(64)).is_ok());
    assert!(Email::parse(&local(65)).is_err());
}

#[test]
fn password_bounds() {
    assert!(Password::parse_new("1234567").is_err());
    assert!(Password::parse_new("12345678").is_ok());
    assert!(Password::parse_new(&"x".repeat(128)).is_ok());
    assert!(Password::parse_new(&"x".repeat(129)).is_err());
    assert!(Password::parse_attempt("short").is_ok());
    assert!(Password::parse_attempt("").is_err());
    assert_eq!(
        format!("{:?}", Password::parse_new("hunter2hunter2").unwrap()),
        "Password(<redacted>)"
    );
}

#[test]
fn username_rules() {
    assert!(Username::parse("ab").is_err());
    assert!(Username::parse("abc").is_ok());
    assert!(Username::parse(&"a".repeat(20)).is_ok());
    let e = Username::parse(&"a".repeat(21)).unwrap_err();
    assert_eq!(e.summary(), "Username must be at most 20 characters");
    assert!(Username::parse("bad-name").is_err());
    assert!(Username::parse("émile").is_err());
    let u = Username::parse("John_Doe").unwrap();
    assert_eq!(u.as_str(), "John_Doe");
    assert_eq!(u.canonical(), "john_doe");
}

#[test]
fn name_is_trimmed_and_bounded() {
    assert_eq!(Name::parse("  Ann ").unwrap().as_str(), "Ann");
    assert!(Name::parse("   ").is_err());
    assert!(Name::parse(&"n".repeat(50)).is_ok());
    assert!(Name::parse(&"n".repeat(51)).is_err());
}

#[test]
fn a_new_user_is_stored_with_zero_counters_and_no_bio() {
    let new = NewUser {
        id: UserId::from_uuid(uuid::Uuid::now_v7()),
        email: Email::parse("New@Example.com").unwrap(),
        username: Username::parse("Newbie").unwrap(),
        name: Some(Name::parse(" N ").unwrap()),
        password_hash: "h".into(),
        created_at: Timestamp::from_unix_millis(7),
    };
    let user = new.to_user();
    assert_eq!(
        (
            user.email.as_str(),
            user.username.as_str(),
            user.name.as_deref()
        ),
        ("new@example.com", "Newbie", Some("N"))
    );
    assert_eq!(user.bio, None);
    assert_eq!(
        (user.followers_count, user.following_count, user.posts_count),
        (0, 0, 0)
    );
    assert_eq!((user.id, user.created_at), (new.id, new.created_at));
}

#[test]
fn empty_bio_clears() {
    assert_eq!(Bio::parse("").unwrap(), None);
    assert!(Bio::parse(&"b".repeat(160)).unwrap().is_some());
    assert!(Bio::parse(&"b".repeat(161)).is_err());
}

#[test]
fn profile_update_needs_a_field_and_reports_every_error() {
    assert!(ProfileUpdate::parse(None, None).is_err());
    let e = ProfileUpdate::parse(Some(Some("")), Some(Some(&"b".repeat(200)))).unwrap_err();
    assert_eq!(e.fields().len(), 2);
    let clear = ProfileUpdate::parse(Some(None), Some(Some(""))).unwrap();
    assert_eq!(clear.name, Some(None));
    assert_eq!(clear.bio, Some(None));
    let set = ProfileUpdate::parse(None, Some(Some("hi"))).unwrap();
    assert_eq!(set.name, None);
    assert_eq!(set.bio.unwrap().unwrap().as_str(), "hi");
}
