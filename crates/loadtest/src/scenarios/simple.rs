//! The seed README's three k6 tests: k6-basic (`health`), k6-auth (`auth`), k6-stress
//! (`stress`).

use std::time::Duration;

use super::journey::{login, signup};
use super::Vu;
use crate::client::Req;
use crate::stats::Step;

pub const HEALTH: Step = Step::load("health", "GET /health");
pub const HEALTH_STEPS: &[Step] = &[HEALTH];

/// k6-basic: GET /health, sleep 1 s.
pub async fn health(vu: Vu) {
    while !vu.stopped() {
        vu.caller.call(Req::get(&HEALTH, "/health")).await;
        if !vu.think(Duration::from_secs(1)).await {
            return;
        }
    }
}

pub const AUTH_SIGNUP: Step = Step::setup("setup_signup", "POST /auth/signup");
pub const AUTH_LOGIN: Step = Step::load("login", "POST /auth/login");
pub const AUTH_POSTS: Step = Step::load("posts", "GET /posts?limit=20 (token)");
pub const AUTH_STEPS: &[Step] = &[AUTH_SIGNUP, AUTH_LOGIN, AUTH_POSTS];

/// k6-auth: log in, read the timeline with the token, sleep 1 s. The seed logs every VU in as
/// one `test@example.com`; here each VU signs up its own account first, because this server
/// answers a second simultaneous login for one account 429 (a person does not log in twice at
/// once), which would turn the seed's script into a test of that rule.
pub async fn auth(vu: Vu) {
    let username = loop {
        if vu.stopped() {
            return;
        }
        // A fresh name per try: a signup that timed out may still have been made.
        let username = vu.shared.unique_name();
        if signup(&vu.caller, &AUTH_SIGNUP, &username).await.is_some() {
            break username;
        }
        if !vu.think(Duration::from_secs(1)).await {
            return;
        }
    };
    let email = format!("{username}@loadtest.example");
    while !vu.stopped() {
        if let Some(token) = login(&vu, &AUTH_LOGIN, &email).await {
            vu.caller
                .call(Req::get(&AUTH_POSTS, "/posts?limit=20").auth(&token))
                .await;
        }
        if !vu.think(Duration::from_secs(1)).await {
            return;
        }
    }
}

pub const STRESS: Step = Step::load("posts", "GET /posts?limit=20");
pub const STRESS_STEPS: &[Step] = &[STRESS];

/// k6-stress: GET /posts?limit=20 with no pause.
pub async fn stress(vu: Vu) {
    while !vu.stopped() {
        vu.caller.call(Req::get(&STRESS, "/posts?limit=20")).await;
    }
}
