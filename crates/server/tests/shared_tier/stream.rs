//! `GET /stream` across instances: two instances on one database and one Redis feed their
//! streams from one live log, so a client gets the same events, with the same ids, on either,
//! and resumes on one where it left the other. Run with fan-out (the default with Redis) and
//! with the pull strategy, whose relay feeds the log differently.

use std::time::Duration;

use redis_adapter::testing::redis_url;
use reqwest::{Method, RequestBuilder};

use crate::sse::{Frame, Sse, WAIT};
use crate::support::{database, prefix, spawn, Instance, User};

fn stream(i: &Instance, user: &User) -> RequestBuilder {
    i.client
        .request(Method::GET, format!("{}/stream", i.base))
        .bearer_auth(&user.token)
}

async fn post_event(sse: &mut Sse) -> Frame {
    let f = sse.event(WAIT).await.expect("a post event");
    assert_eq!(f.event, "post", "{f:?}");
    f
}

async fn across_two_instances(extra: &[&str]) {
    let Some(url) = redis_url().await else { return };
    let db = database().await;
    let p = prefix();
    let a = spawn(&db, &url, &p, extra).await;
    let b = spawn(&db, &url, &p, extra).await;
    let alice = a.signup("alice").await;
    let bob = a.signup("bob").await;
    a.follow(&bob, &alice).await;

    let (mut on_a, _, _) = Sse::open_ready(stream(&a, &bob)).await;
    let (mut on_b, _, _) = Sse::open_ready(stream(&b, &bob)).await;
    // Written on one instance, the post reaches streams on both, with one id.
    let first = a.post(&alice, "posted on a").await;
    let second = b.post(&alice, "posted on b").await;
    let mut ids = Vec::new();
    for post in [&first, &second] {
        let fa = post_event(&mut on_a).await;
        let fb = post_event(&mut on_b).await;
        assert_eq!(fa.json()["id"].as_str(), Some(post.as_str()));
        assert_eq!(fb.json()["id"].as_str(), Some(post.as_str()));
        assert_eq!(fa.id, fb.id, "the same position on both instances");
        ids.push(fa.id.unwrap());
    }
    // Each event once: nothing more on either.
    assert!(on_a.event(Duration::from_millis(300)).await.is_none());
    assert!(on_b.event(Duration::from_millis(300)).await.is_none());

    // Left instance b after the first post; resumes on a.
    drop(on_b);
    let third = b.post(&alice, "while away").await;
    let resume = stream(&a, &bob).header("last-event-id", &ids[0]);
    let (mut resumed, replay, _) = Sse::open_ready(resume).await;
    let mut got: Vec<String> = replay
        .iter()
        .map(|f| f.json()["id"].as_str().unwrap().to_owned())
        .collect();
    while got.len() < 2 {
        got.push(
            post_event(&mut resumed).await.json()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(got, [second, third]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_log_feeds_the_streams_of_every_fanout_instance() {
    across_two_instances(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_log_feeds_the_streams_of_every_pull_instance() {
    across_two_instances(&["--feed-strategy", "pull"]).await;
}
