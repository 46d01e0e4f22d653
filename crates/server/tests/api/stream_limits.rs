//! `GET /stream`'s limits over a real socket: the caps, the heartbeat, a reader too slow, a
//! draining instance, and credentials revoked while a stream is open.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::helpers::{assert_error, spawn_app_with, TestUser};
use super::sse::{Sse, WAIT};
use super::stream::{api_key, id_of, next, stream, ticket};

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
    let key = api_key(&app, &alice).await;
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
