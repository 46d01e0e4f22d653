//! The original project's k6 user journey: per virtual user a health check, two signups
//! (accounts A and B), a login as A, then loop: post, follow B (first iteration only), the
//! global timeline, A's own posts, a profile update every 5th iteration, 0.5–2.5 s think time.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::{Vu, PASSWORD};
use crate::client::{Reply, Req};
use crate::stats::Step;

pub const HEALTH: Step = Step::load("health", "GET /health");
pub const SIGNUP: Step = Step::load("signup", "POST /auth/signup");
pub const LOGIN: Step = Step::load("login", "POST /auth/login");
pub const CREATE_POST: Step = Step::load("create_post", "POST /posts");
pub const FOLLOW: Step = Step::load("follow", "POST /users/follow/:id");
pub const TIMELINE: Step = Step::load("timeline", "GET /posts?limit=20");
pub const USER_POSTS: Step = Step::load("user_posts", "GET /users/:id/posts");
pub const PROFILE_UPDATE: Step = Step::load("profile_update", "PUT /users/profile");

pub const STEPS: &[Step] = &[
    HEALTH,
    SIGNUP,
    LOGIN,
    CREATE_POST,
    FOLLOW,
    TIMELINE,
    USER_POSTS,
    PROFILE_UPDATE,
];

/// A signed-up account: (id, token).
fn account(reply: Option<Reply>) -> Option<(String, String)> {
    let reply = reply.filter(|r| r.ok)?;
    let v = reply.json()?;
    let id = v.get("user")?.get("id")?.as_str()?.to_string();
    let token = v.get("token")?.as_str()?.to_string();
    Some((id, token))
}

pub async fn signup(vu: &Vu, step: &Step, username: &str) -> Option<(String, String)> {
    let body = json!({
        "email": format!("{username}@loadtest.example"),
        "password": PASSWORD,
        "username": username,
        "name": "Load Test",
    });
    account(vu.caller.call(Req::post(step, "/auth/signup", body)).await)
}

pub async fn login(vu: &Vu, step: &Step, email: &str) -> Option<String> {
    let body = json!({ "email": email, "password": PASSWORD });
    let reply = vu
        .caller
        .call(Req::post(step, "/auth/login", body).want(200))
        .await;
    account(reply).map(|(_, token)| token)
}

/// Health, two signups and a login; None if any of them failed.
async fn start(vu: &Vu) -> Option<(String, String, String)> {
    vu.caller
        .call(Req::get(&HEALTH, "/health"))
        .await
        .filter(|r| r.ok)?;
    let name = vu.shared.unique_name();
    let a = format!("{name}a");
    let (a_id, _) = signup(vu, &SIGNUP, &a).await?;
    let (b_id, _) = signup(vu, &SIGNUP, &format!("{name}b")).await?;
    let token = login(vu, &LOGIN, &format!("{a}@loadtest.example")).await?;
    Some((a_id, b_id, token))
}

pub async fn vu(vu: Vu) {
    // A failed start is retried after a pause, as a person would try again.
    let (a_id, b_id, token) = loop {
        if vu.stopped() {
            return;
        }
        match start(&vu).await {
            Some(ok) => break ok,
            None => {
                if !vu.think(Duration::from_secs(1)).await {
                    return;
                }
            }
        }
    };
    let mut i: u64 = 0;
    while !vu.stopped() {
        let content = json!({ "content": format!("Journey post {i} from VU {}", vu.id) });
        vu.caller
            .call(Req::post(&CREATE_POST, "/posts", content).auth(&token))
            .await;
        if i == 0 {
            let path = format!("/users/follow/{b_id}");
            vu.caller
                .call(Req::new(&FOLLOW, Method::POST, path).want(201).auth(&token))
                .await;
        }
        vu.caller.call(Req::get(&TIMELINE, "/posts?limit=20")).await;
        vu.caller
            .call(Req::get(&USER_POSTS, format!("/users/{a_id}/posts")))
            .await;
        if i % 5 == 0 {
            let body = json!({ "bio": format!("Iteration {i} of a load test") });
            vu.caller
                .call(
                    Req::new(&PROFILE_UPDATE, Method::PUT, "/users/profile")
                        .body(body)
                        .auth(&token),
                )
                .await;
        }
        i += 1;
        let think = Duration::from_millis(rand::random_range(500..=2500));
        if !vu.think(think).await {
            return;
        }
    }
}
