//! `GET /stream` and `POST /stream/ticket` over a real socket: who may open a stream, what it
//! carries and in which order, and resuming (the limits are in `stream_limits.rs`).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::helpers::{assert_error, spawn_app, TestApp, TestUser};
use super::sse::{Frame, Sse, WAIT};

pub(super) fn stream(app: &TestApp, token: &str) -> reqwest::RequestBuilder {
    app.request(Method::GET, "/stream").bearer_auth(token)
}

pub(super) async fn ticket(app: &TestApp, user: &TestUser) -> String {
    let res = app
        .post_json("/stream/ticket", json!({}), Some(&user.token))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["expiresIn"], 60, "{body}");
    body["ticket"].as_str().unwrap().to_owned()
}

/// A new API key of `user`'s: `{id, key, …}`.
pub(super) async fn api_key(app: &TestApp, user: &TestUser) -> Value {
    app.post_json(
        "/users/me/api-keys",
        json!({"name": "k"}),
        Some(&user.token),
    )
    .await
    .json()
    .await
    .unwrap()
}

/// The next `post` or `delete` event, skipping nothing else.
pub(super) async fn next(sse: &mut Sse) -> Frame {
    let f = sse.event(WAIT).await.expect("an event");
    assert!(f.event == "post" || f.event == "delete", "{f:?}");
    f
}

async fn delete(app: &TestApp, user: &TestUser, id: &str) {
    let res = app
        .request(Method::DELETE, &format!("/posts/{id}"))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

pub(super) fn id_of(post: &Value) -> String {
    post["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_stream_needs_a_token_key_or_ticket_and_a_ticket_opens_nothing_else() {
    let app = spawn_app().await;
    let alice = app.signup("alice").await;
    let open = |req| async { Sse::open(req).await.map(|_| ()).unwrap_err() };

    let res = open(app.request(Method::GET, "/stream")).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "UnauthorizedError").await;
    let res = app.post_json("/stream/ticket", json!({}), None).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "UnauthorizedError").await;
    let garbage = open(app.request(Method::GET, "/stream?ticket=nope")).await;
    let body = assert_error(garbage, StatusCode::UNAUTHORIZED, "UnauthorizedError").await;
    assert_eq!(body["error"], "Invalid or expired stream ticket");
    // A bearer token is not a ticket, and a ticket is not a bearer token.
    let path = format!("/stream?ticket={}", alice.token);
    let res = open(app.request(Method::GET, &path)).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "UnauthorizedError").await;
    let t = ticket(&app, &alice).await;
    let res = app.get_auth("/users/me", &t).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "UnauthorizedError").await;
    let both = app
        .request(Method::GET, &format!("/stream?ticket={t}"))
        .bearer_auth(&alice.token);
    assert_error(
        open(both).await,
        StatusCode::UNAUTHORIZED,
        "UnauthorizedError",
    )
    .await;

    // Each credential opens a stream, `ready` first.
    let by_ticket = app.request(Method::GET, &format!("/stream?ticket={t}"));
    let (_s1, replay, ready) = Sse::open_ready(by_ticket).await;
    assert!(replay.is_empty());
    assert!(ready.id.is_some());
    assert_eq!(ready.json()["heartbeatSeconds"], 15);
    let (_s2, _, _) = Sse::open_ready(stream(&app, &alice.token)).await;
    let key = api_key(&app, &alice).await;
    let by_key = app
        .request(Method::GET, "/stream")
        .header("x-api-key", key["key"].as_str().unwrap());
    let (_s3, _, _) = Sse::open_ready(by_key).await;

    // A logout revokes tickets with the tokens.
    let res = app
        .post_json("/auth/logout", json!({}), Some(&alice.token))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = open(app.request(Method::GET, &format!("/stream?ticket={t}"))).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "UnauthorizedError").await;
}

#[tokio::test]
async fn posts_and_deletions_of_followed_accounts_and_your_own_arrive_in_order() {
    let app = spawn_app().await;
    let (alice, bob, carol) = (
        app.signup("alice").await,
        app.signup("bob").await,
        app.signup("carol").await,
    );
    assert_eq!(app.follow(&bob, &alice).await.status(), StatusCode::CREATED);
    let (mut sse, _, ready) = Sse::open_ready(stream(&app, &bob.token)).await;

    let mut sent = Vec::new();
    for n in 0..5 {
        app.create_post(&carol, &format!("not followed {n}")).await;
        sent.push(app.create_post(&alice, &format!("alice {n}")).await);
    }
    sent.push(app.create_post(&bob, "bob's own").await);

    let mut last = ready.id.clone().unwrap();
    let mut check_order = |f: &Frame| {
        let id = f.id.clone().unwrap();
        assert!(newer(&id, &last), "ids grow: {id} after {last}");
        last = id;
    };
    for post in &sent {
        let f = next(&mut sse).await;
        check_order(&f);
        assert_eq!(f.event, "post");
        // The Post object, as the timelines render it.
        assert_eq!(&f.json(), post);
    }
    delete(&app, &alice, &id_of(&sent[1])).await;
    let gone = next(&mut sse).await;
    check_order(&gone);
    assert_eq!(gone.event, "delete");
    assert_eq!(
        gone.json(),
        json!({"id": id_of(&sent[1]), "authorId": alice.id})
    );
    assert!(
        sse.event(Duration::from_millis(300)).await.is_none(),
        "nothing of carol's"
    );
}

/// `<ms>-<n>` ids compare by both numbers.
fn newer(a: &str, b: &str) -> bool {
    let parts = |s: &str| {
        let (x, y) = s.split_once('-').unwrap();
        (x.parse::<u64>().unwrap(), y.parse::<u64>().unwrap())
    };
    parts(a) > parts(b)
}

#[tokio::test]
async fn a_follow_or_unfollow_while_the_stream_is_open_takes_effect() {
    let app = spawn_app().await;
    let (alice, bob) = (app.signup("alice").await, app.signup("bob").await);
    let (mut sse, _, _) = Sse::open_ready(stream(&app, &bob.token)).await;
    assert_eq!(app.follow(&bob, &alice).await.status(), StatusCode::CREATED);
    let p = app.create_post(&alice, "after the follow").await;
    assert_eq!(next(&mut sse).await.json(), p);

    let res = app
        .request(Method::DELETE, &format!("/users/follow/{}", alice.id))
        .bearer_auth(&bob.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    app.create_post(&alice, "after the unfollow").await;
    // Bob's own post after it: had alice's arrived, it would come first.
    let own = app.create_post(&bob, "mine").await;
    assert_eq!(next(&mut sse).await.json(), own);
}

#[tokio::test]
async fn last_event_id_replays_what_was_missed_and_an_unknown_one_resets() {
    let app = spawn_app().await;
    let (alice, bob) = (app.signup("alice").await, app.signup("bob").await);
    app.follow(&bob, &alice).await;
    let (mut sse, _, ready) = Sse::open_ready(stream(&app, &bob.token)).await;
    let first = app.create_post(&alice, "one").await;
    let got = next(&mut sse).await;
    assert_eq!(got.json(), first);
    drop(sse);

    let missed = [
        app.create_post(&alice, "two").await,
        app.create_post(&alice, "three").await,
    ];
    // What was missed comes replayed before `ready`, or live after it if this instance had not
    // routed it yet when the stream opened: both, in order, exactly once.
    let resume = |req| async {
        let (mut sse, replay, ready) = Sse::open_ready(req).await;
        let mut posts: Vec<Value> = replay.iter().map(Frame::json).collect();
        if let Some(last) = replay.last() {
            assert_eq!(ready.id, last.id, "ready continues from the replay");
        }
        while posts.len() < missed.len() {
            posts.push(next(&mut sse).await.json());
        }
        assert_eq!(posts, missed);
        assert!(sse.event(Duration::from_millis(200)).await.is_none());
    };
    resume(stream(&app, &bob.token).header("last-event-id", got.id.clone().unwrap())).await;
    let path = format!("/stream?lastEventId={}", got.id.clone().unwrap());
    resume(app.request(Method::GET, &path).bearer_auth(&bob.token)).await;

    // From `ready` before anything happened: everything since.
    let from_ready = stream(&app, &bob.token).header("last-event-id", ready.id.unwrap());
    let (_c, replay, _) = Sse::open_ready(from_ready).await;
    assert_eq!(replay.len(), 3);

    // Positions this server never handed out: reload.
    for bad in ["garbage", "1-1", "99999999999999-0"] {
        let req = stream(&app, &bob.token).header("last-event-id", bad);
        let (_d, replay, _) = Sse::open_ready(req).await;
        assert_eq!(replay.len(), 1, "{bad}");
        assert_eq!(replay[0].event, "reset", "{bad}");
        assert_eq!(replay[0].id, None);
    }
}
