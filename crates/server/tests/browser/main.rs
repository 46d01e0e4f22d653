//! The web client at `/` in a real browser: headless Chromium driven over WebDriver, two
//! people in two browser sessions against one test server. Each step leaves a screenshot in
//! `target/browser-screenshots/`.
//!
//! Skipped, with one line, when Chromium or chromedriver is not installed; mandatory when
//! `SOCIALSCALE_TEST_BROWSER=1` (`.ci/run` installs both and sets it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// The API suite's helpers run this server on SQLite.
const POSTGRES: bool = false;

mod account;
mod driver;
#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use driver::{Browser, Chromedriver};
use helpers::{spawn_app, TestApp, TestUser};

const PASSWORD: &str = "password123";
/// Posts the author has before the one written in the browser: more than one page of 20.
const SEEDED: usize = 25;

/// What a list on the page is showing: its state, pages loaded and post ids and texts, once
/// it has settled (not loading). `null` while a page is on its way.
const LIST_STATE: &str = r#"
    const list = document.querySelector('main .paged');
    if (!list || list.dataset.state === 'loading' || list.dataset.pages === '0') return null;
    const posts = [...list.querySelectorAll('article.post')];
    return {
        heading: document.querySelector('main h1')?.textContent,
        state: list.dataset.state,
        pages: Number(list.dataset.pages),
        ids: posts.map((p) => p.dataset.id),
        texts: posts.map((p) => p.querySelector('.post-content').textContent),
    };
"#;

async fn sign_up(app: &TestApp, browser: &Browser, username: &str, name: &str) {
    browser.goto(&format!("{}/#/signup", app.base)).await;
    browser
        .until(
            "the sign-up form",
            "return document.querySelector('#signup-form') !== null",
        )
        .await;
    let email = format!("{username}@example.com");
    browser.type_into("#signup-email", &email).await;
    browser.type_into("#signup-username", username).await;
    browser.type_into("#signup-name", name).await;
    browser.type_into("#signup-password", PASSWORD).await;
    browser.click("#signup-submit").await;
    let script = format!(
        "return location.hash === '#/feed' \
         && document.querySelector('#nav-profile')?.textContent === '@{username}' \
         && document.querySelector('main h1')?.textContent === 'Home'"
    );
    browser
        .until(&format!("{username} signed up and home"), &script)
        .await;
}

/// The account's token from `POST /auth/login`, for seeding posts through the API.
async fn log_in_over_http(app: &TestApp, username: &str) -> TestUser {
    let email = format!("{username}@example.com");
    let res = app
        .post_json(
            "/auth/login",
            json!({ "email": email, "password": PASSWORD }),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    TestUser {
        id: body["user"]["id"].as_str().unwrap().to_owned(),
        token: body["token"].as_str().unwrap().to_owned(),
        email,
    }
}

/// The list of the page headed `heading` once settled with `pages` pages loaded.
async fn list_with_pages(browser: &Browser, what: &str, heading: &str, pages: u64) -> Value {
    let script = format!(
        "const s = (() => {{ {LIST_STATE} }})(); \
         return s && s.heading === {} && s.pages === {pages} ? s : null;",
        json!(heading)
    );
    browser.until(what, &script).await
}

fn texts(state: &Value) -> Vec<&str> {
    state["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_follow_post_scroll_and_delete_in_real_browsers() {
    let Some(chromedriver) = Chromedriver::start_or_skip() else {
        return;
    };
    let app = spawn_app().await;
    let alice = chromedriver.browser().await;
    let bob = chromedriver.browser().await;

    // 1. Both sign up through the page.
    sign_up(&app, &alice, "alice", "Alice Liddell").await;
    alice.screenshot("01-alice-signed-up").await;
    sign_up(&app, &bob, "bob", "Bob").await;
    bob.screenshot("02-bob-signed-up").await;

    // More than a page of Alice's posts, written through the API.
    let alice_api = log_in_over_http(&app, "alice").await;
    for i in 0..SEEDED {
        app.create_post(&alice_api, &format!("seeded post {i}"))
            .await;
    }

    // 2. Bob follows Alice from her profile.
    bob.goto(&format!("{}/#/u/alice", app.base)).await;
    bob.until(
        "Alice's profile with a Follow button",
        "const b = document.querySelector('#follow-button'); \
         return b !== null && !b.disabled && b.textContent === 'Follow';",
    )
    .await;
    bob.click("#follow-button").await;
    bob.until(
        "Bob follows Alice, and her count says so",
        "const b = document.querySelector('#follow-button'); \
         return b !== null && !b.disabled && b.textContent === 'Unfollow' \
             && document.querySelector('#count-followers')?.textContent === '1 follower';",
    )
    .await;
    bob.screenshot("03-bob-follows-alice").await;
    // Her followers list names him; focus moved to the new view's heading.
    bob.click("#count-followers").await;
    let names = bob
        .until(
            "Alice's followers list",
            "const list = document.querySelector('main .paged'); \
             if (!list || list.dataset.state !== 'done') return null; \
             return document.activeElement?.id === 'page-title' \
                 ? [...list.querySelectorAll('li.person')].map((p) => p.textContent) : null;",
        )
        .await;
    assert_eq!(names, json!(["Bob @bob"]));

    // 3. Alice posts from her home feed (reloaded: the session survives it), with the counter.
    alice.reload().await;
    list_with_pages(&alice, "Alice's feed after a reload", "Home", 1).await;
    let message = "Hello from Alice’s browser, line one\nand line two";
    alice.type_into("#compose-content", message).await;
    let length = message.chars().count();
    let counter = alice
        .js("return document.querySelector('#compose-count').textContent")
        .await;
    assert_eq!(counter, json!(format!("{} characters left", 280 - length)));
    alice.click("#compose-submit").await;
    let state = with_on_top(&alice, "Alice's post on top of her feed", message, "true").await;
    let post_id = state["ids"][0].as_str().unwrap().to_owned();
    alice.screenshot("04-alice-posted").await;

    // 4. Bob's home feed, opened now, starts with Alice's post: one page of 20.
    bob.goto(&format!("{}/#/feed", app.base)).await;
    let first = list_with_pages(&bob, "Bob's feed, first page", "Home", 1).await;
    assert_eq!(texts(&first)[0], message);
    assert_eq!(texts(&first).len(), 20);
    assert_eq!(first["state"], "idle", "more pages to come");
    bob.screenshot("05-bob-feed").await;

    // 5. Scrolling to the end of the list loads the next page.
    bob.js("document.querySelector('main .paged .sentinel').scrollIntoView(); return true;")
        .await;
    let all = list_with_pages(&bob, "Bob's feed, second page after scrolling", "Home", 2).await;
    assert_eq!(texts(&all).len(), SEEDED + 1);
    assert_eq!(all["state"], "done");
    assert_eq!(texts(&all)[SEEDED], "seeded post 0");
    bob.screenshot("06-bob-scrolled").await;

    // 6. Live: Alice posts while Bob's feed is open; he is offered it, not pushed it.
    live_post_shown_and_deleted_without_reload(&alice, &bob).await;

    // 7. Alice deletes her post (asked once more), and it leaves her page.
    let card = format!("article.post[data-id='{post_id}']");
    delete_from_card(&alice, &card).await;
    alice
        .until(
            "the post gone from Alice's page",
            &format!(
                "return document.querySelector(\"{card}\") === null \
                 && document.querySelector('#status').textContent === 'Post deleted.';"
            ),
        )
        .await;
    let res = app.get(&format!("/posts/{post_id}")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    alice.screenshot("07-alice-deleted").await;

    // 8. Bob reloads: gone from his feed too.
    bob.reload().await;
    let after = list_with_pages(&bob, "Bob's feed after a reload", "Home", 1).await;
    assert!(!after["ids"].as_array().unwrap().contains(&json!(post_id)));
    assert_eq!(texts(&after)[0], format!("seeded post {}", SEEDED - 1));
    let shown = bob
        .js("return document.querySelector('main').innerText")
        .await;
    assert!(!shown.as_str().unwrap().contains("null"), "{shown}");
    bob.screenshot("08-bob-reloaded").await;

    // At a phone's width the page still fits: nothing scrolls sideways.
    bob.client.set_window_size(390, 844).await.unwrap();
    bob.until(
        "no horizontal overflow at 390 px",
        "return document.documentElement.scrollWidth <= window.innerWidth;",
    )
    .await;
    bob.screenshot("09-bob-phone-width").await;

    alice.close().await;
    bob.close().await;
}

/// The ids of the posts the page shows, in order.
const POST_IDS: &str =
    "return [...document.querySelectorAll('main article.post')].map((p) => p.dataset.id);";

/// The list's state once its first post reads `text` and the script `also` holds.
async fn with_on_top(browser: &Browser, what: &str, text: &str, also: &str) -> Value {
    let script = format!(
        "const s = (() => {{ {LIST_STATE} }})(); \
         return s && s.texts[0] === {} && ({also}) ? s : null;",
        json!(text)
    );
    browser.until(what, &script).await
}

/// Deletes a post from its card, confirming once.
async fn delete_from_card(browser: &Browser, card: &str) {
    browser.click(&format!("{card} .post-delete")).await;
    browser.click(&format!("{card} .post-delete-confirm")).await;
}

/// A mark on the page's `window`: still there, the page was not reloaded or left.
const NOT_RELOADED: &str = "window.liveMark === 'this page'";

/// How soon a post or a deletion reaches an open page: the relay, the log and the stream
/// take well under a second; only a broken stream misses this.
const LIVE: Duration = Duration::from_secs(10);

/// The live banner's text while it shows, else `null`.
const BANNER: &str = "const b = document.querySelector('main .live-new'); \
     return b && !b.hidden ? b.textContent : null;";

/// Alice posts from her feed while Bob's is open and live: Bob gets a "1 new post" button,
/// not the post pushed into his list; pressing it puts the post on top. Alice deletes it and
/// it leaves Bob's page. Neither page reloads meanwhile.
async fn live_post_shown_and_deleted_without_reload(alice: &Browser, bob: &Browser) {
    for (who, page) in [("Alice", alice), ("Bob", bob)] {
        page.until(
            &format!("{who}'s feed connected to the live stream"),
            "return document.querySelector('main .live-bar')?.dataset.state === 'live';",
        )
        .await;
        page.js(&format!(
            "window.liveMark = 'this page'; return {NOT_RELOADED};"
        ))
        .await;
    }
    let shown_before = bob.js(POST_IDS).await;

    let message = "Live from Alice: are you there, Bob?";
    alice.type_into("#compose-content", message).await;
    alice.click("#compose-submit").await;
    let mine = with_on_top(
        alice,
        "the live post on top of Alice's feed",
        message,
        "true",
    )
    .await;
    let post_id = mine["ids"][0].as_str().unwrap().to_owned();

    let banner = bob
        .until_within(
            LIVE,
            "the new-post button on Bob's open feed",
            &format!("return {NOT_RELOADED} ? (() => {{ {BANNER} }})() : false;"),
        )
        .await;
    assert_eq!(banner, json!("1 new post"));
    let still = bob.js(POST_IDS).await;
    assert_eq!(still, shown_before, "the post waits behind the button");
    bob.screenshot("06a-bob-live-banner").await;

    bob.click("main .live-new").await;
    let also = format!("{NOT_RELOADED} && document.querySelector('main .live-new').hidden");
    let state = with_on_top(bob, "the live post on top of Bob's feed", message, &also).await;
    assert_eq!(state["ids"][0], json!(post_id));
    assert_eq!(texts(&state).len(), SEEDED + 2, "one more, nothing doubled");
    bob.screenshot("06b-bob-live-post-shown").await;

    // Alice's own echo came on her stream too (before Bob could press his button): her page
    // shows the post once and offers nothing new.
    let hers = alice
        .js(&format!(
            "return {NOT_RELOADED} ? {{ copies: document.querySelectorAll(\"main article.post[data-id='{post_id}']\").length, \
                 banner: (() => {{ {BANNER} }})() }} : null;"
        ))
        .await;
    assert_eq!(hers, json!({ "copies": 1, "banner": null }));

    let card = format!("article.post[data-id='{post_id}']");
    delete_from_card(alice, &card).await;
    bob.until_within(
        LIVE,
        "the live post gone from Bob's open feed",
        &format!(
            "return {NOT_RELOADED} && document.querySelector(\"{card}\") === null \
                 && document.querySelectorAll('main article.post').length === {};",
            SEEDED + 1
        ),
    )
    .await;
    bob.screenshot("06c-bob-live-post-deleted").await;
}

/// Reads the first load's figures once the first page of posts is on screen: paint and
/// rendering times from the Performance API, and the client's own files as they came over the
/// wire (compressed body bytes, and with headers).
const FIRST_LOAD: &str = r#"
    const mark = performance.getEntriesByName('socialscale:first-page')[0];
    if (!mark) return null;
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    const nav = performance.getEntriesByType('navigation')[0];
    const files = [nav, ...performance.getEntriesByType('resource')
        .filter((r) => r.initiatorType !== 'fetch')];
    return {
        fcp: fcp ? fcp.startTime : null,
        firstPage: mark.startTime,
        files: files.length,
        bodyBytes: files.reduce((n, r) => n + r.encodedBodySize, 0),
        transferBytes: files.reduce((n, r) => n + r.transferSize, 0),
    };
"#;

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The figures of docs/BENCHMARKS.md's web-client section. A measurement, not a check: nothing
/// is asserted about time. Against `SOCIALSCALE_BENCH_URL` (a release server) when set, else a
/// test server with a page of posts. Each load is a new browser, so its cache is cold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by hand (docs/BENCHMARKS.md)"]
async fn first_load_figures() {
    const RUNS: usize = 7;
    let Some(chromedriver) = Chromedriver::start_or_skip() else {
        return;
    };
    let local;
    let base = match std::env::var("SOCIALSCALE_BENCH_URL") {
        Ok(url) => url.trim_end_matches('/').to_owned(),
        Err(_) => {
            local = spawn_app().await;
            let author = local.signup("author").await;
            for i in 0..20 {
                local.create_post(&author, &format!("post {i}")).await;
            }
            local.base.clone()
        }
    };
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        let browser = chromedriver.browser().await;
        browser.goto(&format!("{base}/")).await;
        let figures = browser.until("the first page of posts", FIRST_LOAD).await;
        println!("first load: {figures}");
        runs.push(figures);
        browser.close().await;
    }
    let of = |key: &str| -> Vec<f64> { runs.iter().filter_map(|r| r[key].as_f64()).collect() };
    println!(
        "median of {RUNS}: first contentful paint {:.0} ms, first page of posts {:.0} ms, \
         {} files, {:.0} body bytes, {:.0} bytes with headers",
        median(of("fcp")),
        median(of("firstPage")),
        runs[0]["files"],
        median(of("bodyBytes")),
        median(of("transferBytes")),
    );
}
