//! The account pages in a browser: the API's errors shown as it words them (beside the field
//! they name, and a 429 with its wait), the profile edit, API keys shown once and revoked, and
//! logging out.

use reqwest::StatusCode;
use serde_json::json;

use crate::driver::{Browser, Chromedriver};
use crate::helpers::spawn_app_with;

/// The alert region's text once it says something.
const ALERT: &str =
    "const t = document.querySelector('#alert').textContent; return t === '' ? null : t;";

/// The ids (or tags) of the page's inputs, text areas and buttons that have no accessible
/// name: no label, no `aria-label`, no text.
const UNNAMED_CONTROLS: &str = r#"
    return [...document.querySelectorAll('input, textarea, button')]
        .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
            && !el.textContent.trim())
        .map((el) => el.id || el.tagName);
"#;

async fn submit(browser: &Browser, form: &str, fields: &[(&str, &str)]) {
    for (name, value) in fields {
        browser.clear(&format!("#{form}-{name}")).await;
        browser.type_into(&format!("#{form}-{name}"), value).await;
    }
    browser.click(&format!("#{form}-submit")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_profile_edit_api_keys_and_logout_in_a_real_browser() {
    let Some(chromedriver) = Chromedriver::start_or_skip() else {
        return;
    };
    // Two logins a minute per address, so the third is a 429 with its Retry-After.
    let app = spawn_app_with(&["--rate-limit-login", "2/60s"]).await;
    app.signup("carol").await;
    let dave = chromedriver.browser().await;

    // A field the server refuses: its message in the alert, beside the field, marked invalid.
    dave.goto(&format!("{}/#/signup", app.base)).await;
    dave.until(
        "the sign-up form",
        "return document.querySelector('#signup-form') !== null",
    )
    .await;
    let fields = [
        ("email", "dave@example"),
        ("username", "dave"),
        ("name", "Dave"),
        ("password", "password123"),
    ];
    submit(&dave, "signup", &fields).await;
    let alert = dave.until("the validation error", ALERT).await;
    assert!(alert.as_str().unwrap().contains("email"), "{alert}");
    let beside = dave
        .until(
            "the message beside the email field",
            "const e = document.querySelector('#signup-email'); \
             const t = document.querySelector('#signup-email-error').textContent; \
             return e.getAttribute('aria-invalid') === 'true' && t !== '' ? t : null;",
        )
        .await;
    assert!(!beside.as_str().unwrap().is_empty());
    dave.screenshot("10-signup-error").await;

    // Every control of the form is named for a screen reader.
    let unnamed = dave.js(UNNAMED_CONTROLS).await;
    assert_eq!(unnamed, json!([]), "controls without a name");

    // A taken username: 409, the server's words.
    submit(
        &dave,
        "signup",
        &[("email", "dave@example.com"), ("username", "CAROL")],
    )
    .await;
    let alert = dave.until("the conflict", ALERT).await;
    assert_eq!(alert, json!("Username already in use"));

    submit(&dave, "signup", &[("username", "dave")]).await;
    dave.until(
        "Dave at home",
        "return document.querySelector('#nav-profile')?.textContent === '@dave';",
    )
    .await;

    // The profile edit shows on the profile.
    dave.goto(&format!("{}/#/settings", app.base)).await;
    dave.until(
        "the settings page",
        "return document.querySelector('#profile-form') !== null",
    )
    .await;
    submit(
        &dave,
        "profile",
        &[
            ("name", "Dave Davies"),
            ("bio", "Writes tests.\nLikes trains."),
        ],
    )
    .await;
    dave.until(
        "the profile saved",
        "return document.querySelector('#status').textContent === 'Profile saved.';",
    )
    .await;
    dave.goto(&format!("{}/#/u/dave", app.base)).await;
    let shown = dave
        .until(
            "the new name and bio on the profile",
            "const h = document.querySelector('main h1')?.textContent; \
             return h === 'Dave Davies' ? document.querySelector('.bio').textContent : null;",
        )
        .await;
    assert_eq!(shown, json!("Writes tests.\nLikes trains."));

    // An API key: its secret shown once, working, then revoked.
    dave.goto(&format!("{}/#/settings", app.base)).await;
    dave.until(
        "the key form",
        "return document.querySelector('#key-form') !== null",
    )
    .await;
    assert_eq!(
        dave.js(UNNAMED_CONTROLS).await,
        json!([]),
        "controls without a name"
    );
    submit(&dave, "key", &[("name", "my script")]).await;
    let key = dave
        .until(
            "the new key, once",
            "const k = document.querySelector('#new-key'); \
             return k && document.querySelectorAll('#key-list .key').length === 1 ? k.value : null;",
        )
        .await;
    let key = key.as_str().unwrap().to_owned();
    assert!(key.starts_with("ssk_"), "{key}");
    dave.screenshot("11-api-key-created").await;
    let with_key = |key: String| {
        let req = app.request(reqwest::Method::GET, "/users/me");
        async move { req.header("x-api-key", key).send().await.unwrap().status() }
    };
    assert_eq!(with_key(key.clone()).await, StatusCode::OK);
    dave.click("#key-list .key-revoke").await;
    dave.until(
        "the key gone from the list",
        "return document.querySelectorAll('#key-list .key').length === 0;",
    )
    .await;
    assert_eq!(with_key(key).await, StatusCode::UNAUTHORIZED);

    // Logging out: the page forgets the token and says that every session ended.
    dave.click("#nav-logout").await;
    dave.until(
        "logged out",
        "return document.querySelector('#nav-login') !== null \
            && document.querySelector('#status').textContent === 'Logged out on every device.';",
    )
    .await;

    // Wrong passwords, then the limit: the 429 says when to come back.
    let wrong = [
        ("email", "dave@example.com"),
        ("password", "not-the-password"),
    ];
    for _ in 0..2 {
        submit(&dave, "login", &wrong).await;
        assert_eq!(
            dave.until("a failed login", ALERT).await,
            json!("Invalid credentials")
        );
    }
    submit(&dave, "login", &wrong).await;
    let limited = dave
        .until(
            "the rate limit",
            "const t = document.querySelector('#alert').textContent; \
             return t.includes('Too many requests') ? t : null;",
        )
        .await;
    assert!(
        limited.as_str().unwrap().contains("Try again in "),
        "{limited}"
    );
    dave.screenshot("12-login-rate-limited").await;
    // Signed out, the timeline is readable and offers no composer.
    dave.goto(&format!("{}/#/", app.base)).await;
    let text = dave
        .until(
            "the timeline, signed out",
            "const h = document.querySelector('main h1')?.textContent; \
             const list = document.querySelector('main .paged'); \
             return h === 'Timeline' && list && list.dataset.state === 'done' \
                 && document.querySelector('#compose-form') === null \
                 ? document.querySelector('main').innerText : null;",
        )
        .await;
    let text = text.as_str().unwrap();
    assert!(text.contains("No posts yet."), "{text}");
    assert!(
        !text.contains("null") && !text.contains("undefined"),
        "{text}"
    );
    dave.close().await;
}
