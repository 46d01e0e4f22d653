//! The original project's k6 user journey: per virtual user a health check, two signups
//! (accounts A and B), a login as A, then loop: post, follow B (first iteration only), the
//! global timeline, A's own posts, a profile update every 5th iteration, 0.5–2.5 s think time.
//!
//! With `--no-auth-steps` every virtual user's two accounts are signed up before the stages
//! and the load has no signup or login: the same journey without password hashing, the
//! baseline its other steps' latency is compared with.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::Method;
use serde_json::json;

use super::{Shared, Vu, PASSWORD};
use crate::cli::Plan;
use crate::client::{Caller, Reply, Req};
use crate::stats::Step;

pub const SETUP_SIGNUP: Step = Step::setup("setup_signup", "POST /auth/signup");

pub const HEALTH: Step = Step::load("health", "GET /health");
pub const SIGNUP: Step = Step::load("signup", "POST /auth/signup");
pub const LOGIN: Step = Step::load("login", "POST /auth/login");
pub const CREATE_POST: Step = Step::load("create_post", "POST /posts");
pub const FOLLOW: Step = Step::load("follow", "POST /users/follow/:id");
pub const TIMELINE: Step = Step::load("timeline", "GET /posts?limit=20");
pub const USER_POSTS: Step = Step::load("user_posts", "GET /users/:id/posts");
pub const PROFILE_UPDATE: Step = Step::load("profile_update", "PUT /users/profile");

pub const STEPS: &[Step] = &[
    SETUP_SIGNUP,
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

pub async fn signup(caller: &Caller, step: &Step, username: &str) -> Option<(String, String)> {
    let body = json!({
        "email": format!("{username}@loadtest.example"),
        "password": PASSWORD,
        "username": username,
        "name": "Load Test",
    });
    account(caller.call(Req::post(step, "/auth/signup", body)).await)
}

pub async fn login(vu: &Vu, step: &Step, email: &str) -> Option<String> {
    let body = json!({ "email": email, "password": PASSWORD });
    let reply = vu
        .caller
        .call(Req::post(step, "/auth/login", body).want(200))
        .await;
    account(reply).map(|(_, token)| token)
}

/// A virtual user's accounts: A's id, B's id, A's token.
pub type Accounts = (String, String, String);

/// Health, two signups and a login; None if any of them failed.
async fn start(vu: &Vu) -> Option<Accounts> {
    health(vu).await?;
    let name = vu.shared.unique_name();
    let a = format!("{name}a");
    let (a_id, _) = signup(&vu.caller, &SIGNUP, &a).await?;
    let (b_id, _) = signup(&vu.caller, &SIGNUP, &format!("{name}b")).await?;
    let token = login(vu, &LOGIN, &format!("{a}@loadtest.example")).await?;
    Some((a_id, b_id, token))
}

async fn health(vu: &Vu) -> Option<()> {
    vu.caller
        .call(Req::get(&HEALTH, "/health"))
        .await
        .filter(|r| r.ok)
        .map(|_| ())
}

/// `--no-auth-steps`: the accounts of every virtual user the stages reach, two signups each
/// (A's signup gives its token), `--login-concurrency` at a time within `--setup-timeout`.
/// Each VU's signups go out with that VU's client address, as they would in the journey.
pub async fn prepare(plan: &Plan, shared: &Arc<Shared>) -> anyhow::Result<Arc<Vec<Accounts>>> {
    let a = &plan.args;
    let wanted = plan.stages.max_target().ceil() as usize;
    let deadline = tokio::time::Instant::now() + a.setup_timeout;
    let started = Instant::now();
    let signups = futures::stream::iter(0..wanted)
        .map(|id| {
            let caller = shared.http.caller(id as u64);
            let name = shared.unique_name();
            async move {
                let a = format!("{name}a");
                let (a_id, token) = signup(&caller, &SETUP_SIGNUP, &a).await?;
                let (b_id, _) = signup(&caller, &SETUP_SIGNUP, &format!("{name}b")).await?;
                Some((id, (a_id, b_id, token)))
            }
        })
        .buffer_unordered(a.login_concurrency);
    futures::pin_mut!(signups);
    let mut made: Vec<Option<Accounts>> = vec![None; wanted];
    while let Ok(Some(next)) = tokio::time::timeout_at(deadline, signups.next()).await {
        if let Some((id, accounts)) = next {
            made[id] = Some(accounts);
        }
    }
    let made: Vec<Accounts> = made.into_iter().flatten().collect();
    if !a.quiet {
        eprintln!(
            "journey: accounts of {} of {wanted} virtual users signed up in {:.1}s",
            made.len(),
            started.elapsed().as_secs_f64()
        );
    }
    if made.len() < wanted {
        anyhow::bail!(
            "journey --no-auth-steps: only {} of {wanted} virtual users' accounts could be made \
             within --setup-timeout (raise it, or the server's RATE_LIMIT_SIGNUP)",
            made.len()
        );
    }
    Ok(Arc::new(made))
}

/// `--no-auth-steps`: a health check, then the loop with accounts made before the stages.
pub async fn vu_with_accounts(vu: Vu, accounts: Arc<Vec<Accounts>>) {
    let Some(mine) = accounts.get(vu.id % accounts.len().max(1)).cloned() else {
        return;
    };
    while health(&vu).await.is_none() {
        if !vu.think(Duration::from_secs(1)).await {
            return;
        }
    }
    iterate(vu, mine).await;
}

pub async fn vu(vu: Vu) {
    // A failed start is retried after a pause, as a person would try again.
    let accounts = loop {
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
    iterate(vu, accounts).await;
}

/// Post, follow B (first iteration only), timelines, a profile update every 5th iteration.
async fn iterate(vu: Vu, (a_id, b_id, token): Accounts) {
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
