//! `GET /stream` and `POST /stream/ticket` over a real socket: who may open a stream, what it
//! carries and in which order, resuming, the caps, the heartbeat and a reader too slow.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::helpers::{assert_error, spawn_app, spawn_app_with, TestApp, TestUser};
use super::sse::{Frame, Sse, WAIT};

fn stream(app: &TestApp, token: &str) -> reqwest::RequestBuilder {
    app.request(Method::GET, "/stream").bearer_auth(token)
}

async fn ticket(app: &TestApp, user: &TestUser) -> String {
    let res = app
        .post_json("/stream/ticket", json!({}), Some(&user.token))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["expiresIn"], 60, "{body}");
    body["ticket"].as_str().unwrap().to_owned()
}

/// The next `post` or `delete` event, skipping nothing else.
async fn next(sse: &mut Sse) -> Frame {
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

fn id_of(post: &Value) -> String {
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
    let key: Value = app
        .post_json(
            "/users/me/api-keys",
            json!({"name": "k"}),
            Some(&alice.token),
        )
        .await
        .json()
        .await
        .unwrap();
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

#[tokio::test]
async fn streams_are_capped_per_user_and_per_instance() {
    let app = spawn_app_with(&[
        "--stream-max-per-user",
        "2",
        "--stream-max-connections",
        "3",
    ])
    .await;
    let (alice, bob, carol) = (
        app.signup("alice").await,
        app.signup("bob").await,
        app.signup("carol").await,
    );
    let (a1, _, _) = Sse::open_ready(stream(&app, &alice.token)).await;
    let (_a2, _, _) = Sse::open_ready(stream(&app, &alice.token)).await;
    let res = Sse::open(stream(&app, &alice.token))
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "RateLimitError").await;

    let (_b1, _, _) = Sse::open_ready(stream(&app, &bob.token)).await;
    let res = Sse::open(stream(&app, &carol.token))
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(res.headers().contains_key("retry-after"));
    assert_error(
        res,
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailableError",
    )
    .await;

    // A closed stream frees its place (once the server notices, on its next write).
    drop(a1);
    let mut opened = false;
    for _ in 0..50 {
        app.create_post(&alice, "wakes the closed stream's writer")
            .await;
        if Sse::open(stream(&app, &carol.token)).await.is_ok() {
            opened = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(opened, "the closed stream's place was never freed");
}

/// Heartbeats also keep a quiet stream from counting as a response that makes no progress
/// (`HTTP_IDLE_TIMEOUT_MS`, here shorter than the test).
#[tokio::test]
async fn a_quiet_stream_gets_heartbeats_and_outlives_the_idle_timeout() {
    let app = spawn_app_with(&[
        "--stream-heartbeat-seconds",
        "1",
        "--http-idle-timeout-ms",
        "1500",
    ])
    .await;
    let alice = app.signup("alice").await;
    let (mut sse, _, ready) = Sse::open_ready(stream(&app, &alice.token)).await;
    assert_eq!(ready.json()["heartbeatSeconds"], 1);
    for _ in 0..4 {
        let f = sse.frame(WAIT).await.expect("a heartbeat");
        assert_eq!((f.event.as_str(), f.data.as_str()), ("heartbeat", "{}"));
        assert_eq!(f.id, None, "a heartbeat moves no client's position");
    }
}

/// A reader that stops reading is disconnected once its queue is full; a reader keeping up
/// with the same events gets all of them.
#[tokio::test]
async fn a_reader_too_slow_is_disconnected_and_the_others_keep_everything() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    if super::helpers::POSTGRES {
        // The database plays no part, and filling a socket's buffers takes thousands of posts.
        return;
    }
    // The default queue (256): the keeping reader, on this test's one thread with the server
    // and the posting loop, must never fall that far behind a burst of 100 posts.
    let app = spawn_app_with(&["--rate-limit-post", "100000/30s"]).await;
    let (alice, slow_user, fast_user) = (
        app.signup("alice").await,
        app.signup("slowpoke").await,
        app.signup("keeper").await,
    );
    app.follow(&slow_user, &alice).await;
    app.follow(&fast_user, &alice).await;

    // A socket that reads nothing after `ready`, with a small receive window.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut slow = socket.connect(app.addr).await.unwrap();
    let req = format!(
        "GET /stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
        slow_user.token
    );
    slow.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !String::from_utf8_lossy(&head).contains("event: ready") {
        let mut b = [0u8; 512];
        let n = slow.read(&mut b).await.unwrap();
        assert!(n > 0, "closed before ready");
        head.extend_from_slice(&b[..n]);
    }
    let (mut fast, _, _) = Sse::open_ready(stream(&app, &fast_user.token)).await;

    // The keeping reader reads all the time, in a task of its own.
    let (fast_tx, mut fast_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(f) = fast.event(Duration::from_secs(60)).await {
            if fast_tx.send(f).is_err() {
                break;
            }
        }
    });

    let content = "x".repeat(280);
    let mut sent = Vec::new();
    let mut dropped = false;
    // Enough to fill the slow socket's buffers first (the kernel's, up to `tcp_wmem`'s 4 MiB
    // on the server's side, and hyper's): only then does its queue in the server fill. About
    // 8,000 to 15,000 posts here.
    while sent.len() < 30_000 && !dropped {
        let batch = (0..100).map(|_| app.create_post(&alice, &content));
        for post in futures::future::join_all(batch).await {
            sent.push(id_of(&post));
        }
        let metrics = app.get("/metrics").await.text().await.unwrap();
        dropped = metrics
            .lines()
            .any(|l| l.starts_with("stream_slow_closed_total") && !l.ends_with(" 0"));
    }
    assert!(
        dropped,
        "a reader that never reads was not disconnected after {} posts",
        sent.len()
    );
    eprintln!("slow reader disconnected after {} posts", sent.len());
    // The slow socket is closed once what was queued for it is written.
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(WAIT, slow.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the server did not close the slow stream");
    // The keeping reader got every post (they were made 50 at a time, so their commit order
    // is not the order of `sent`), the last one last, and is still open.
    let last = id_of(&app.create_post(&alice, "still here").await);
    let mut got = std::collections::HashSet::new();
    for _ in 0..sent.len() {
        let f = tokio::time::timeout(WAIT, fast_rx.recv())
            .await
            .expect("the keeping reader's next event")
            .expect("the keeping reader is open");
        got.insert(f.json()["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(got, sent.iter().cloned().collect());
    let f = tokio::time::timeout(WAIT, fast_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(f.json()["id"].as_str(), Some(last.as_str()));
}

/// Streams never end on their own: a draining instance ends them at once (its clients move to
/// another instance) instead of holding its shutdown for the whole grace period.
#[tokio::test]
async fn a_draining_instance_ends_its_streams_and_stops() {
    let mut app = spawn_app_with(&["--shutdown-grace-seconds", "60"]).await;
    let alice = app.signup("alice").await;
    let (mut sse, _, _) = Sse::open_ready(stream(&app, &alice.token)).await;
    app.shutdown.cancel();
    assert!(sse.ends(WAIT).await, "the stream outlived the drain");
    let stopped = tokio::time::timeout(WAIT, app.handle.take().unwrap()).await;
    assert!(stopped.is_ok(), "the server waited for the stream");
}

/// A stream outlives its credential's expiry but not its revocation: a logout ends the
/// streams opened with the user's tokens and tickets, a revoked key those opened with it, and
/// a stream opened after the logout stays.
#[tokio::test]
async fn a_logout_or_a_revoked_key_ends_the_streams_opened_with_them() {
    let app = spawn_app_with(&["--stream-revalidate-seconds", "1"]).await;
    let alice = app.signup("alice").await;
    let t = ticket(&app, &alice).await;
    let key: Value = app
        .post_json(
            "/users/me/api-keys",
            json!({"name": "k"}),
            Some(&alice.token),
        )
        .await
        .json()
        .await
        .unwrap();
    let raw_key = key["key"].as_str().unwrap().to_owned();
    let by_key = || {
        app.request(Method::GET, "/stream")
            .header("x-api-key", &raw_key)
    };
    let (mut token_stream, _, _) = Sse::open_ready(stream(&app, &alice.token)).await;
    let path = format!("/stream?ticket={t}");
    let (mut ticket_stream, _, _) = Sse::open_ready(app.request(Method::GET, &path)).await;
    let (mut key_stream, _, _) = Sse::open_ready(by_key()).await;

    let res = app
        .post_json("/auth/logout", json!({}), Some(&alice.token))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(
        token_stream.ends(WAIT).await,
        "the token's stream outlived the logout"
    );
    assert!(
        ticket_stream.ends(WAIT).await,
        "the ticket's stream outlived the logout"
    );
    let res = app
        .post_json(
            "/auth/login",
            json!({"email": alice.email, "password": "password123"}),
            None,
        )
        .await;
    let token = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (mut after_logout, _, _) = Sse::open_ready(stream(&app, &token)).await;

    let res = app
        .request(
            Method::DELETE,
            &format!("/users/me/api-keys/{}", key["id"].as_str().unwrap()),
        )
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(
        key_stream.ends(WAIT).await,
        "the key's stream outlived its revocation"
    );
    // Two more rounds of checks: the stream opened after the logout is still there.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let me = TestUser {
        id: alice.id.clone(),
        token: token.clone(),
        email: alice.email.clone(),
    };
    let p = app.create_post(&me, "still streaming").await;
    assert_eq!(next(&mut after_logout).await.json(), p);
}
