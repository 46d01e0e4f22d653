//! Fan-out timelines end to end (`FEED_STRATEGY=fanout`, the default with Redis): two fan-out
//! instances on one database and Redis, their relays and workers handling the events; a third
//! instance serving the pull query is the reference.

use std::time::Duration;

use redis_adapter::testing::{redis_url, ClosedPort};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::{database, eventually, ids, prefix, spawn, Instance, User};

/// A small limit, so that both the push and the pull-merge paths run; abandoned events are
/// claimed quickly.
const FANOUT: [&str; 4] = ["--feed-fanout-limit", "2", "--feed-claim-idle-ms", "300"];
const PULL: [&str; 4] = ["--feed-strategy", "pull", "--feed-workers", "0"];

/// Events may be handled late (they are asynchronous): the feeds must agree within this.
const SETTLE: Duration = Duration::from_secs(15);

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }
}

/// Every post id of `user`'s feed on `i`, walked with pages of `limit`.
async fn walk(i: &Instance, user: &User, limit: usize) -> Vec<String> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => format!("/feed?limit={limit}"),
            Some(c) => format!("/feed?limit={limit}&cursor={c}"),
        };
        let page: Value = i.json_as(&path, Some(&user.token)).await;
        let got = ids(&page);
        assert!(got.len() <= limit);
        all.extend(got);
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return all,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_feeds_equal_the_pull_query_across_two_instances() {
    let Some(url) = redis_url().await else { return };
    let db = database().await;
    let p = prefix();
    let a = spawn(&db, &url, &p, &FANOUT).await;
    let b = spawn(&db, &url, &p, &FANOUT).await;
    let pull = spawn(&db, &url, &p, &PULL).await;
    let health = a.json("/health").await;
    assert_eq!(health["feed"]["strategy"], "fanout");
    assert_eq!(pull.json("/health").await["feed"]["strategy"], "pull");

    let mut users = Vec::new();
    for i in 0..6 {
        users.push(a.signup(&format!("fan{i}")).await);
    }
    let mut posts: Vec<(String, usize)> = Vec::new();
    let mut rng = Rng(0x5EED_F00D);
    for _ in 0..150 {
        let on = if rng.below(2) == 0 { &a } else { &b };
        let (x, y) = (rng.below(users.len()), rng.below(users.len()));
        match rng.below(10) {
            0..=2 if x != y => {
                let path = format!("/users/follow/{}", users[y].id);
                let res = on
                    .send(Method::POST, &path, Some(&users[x].token), None)
                    .await;
                assert!(
                    [StatusCode::CREATED, StatusCode::CONFLICT].contains(&res.status()),
                    "follow: {}",
                    res.status()
                );
            }
            3 if x != y => {
                let path = format!("/users/follow/{}", users[y].id);
                let res = on
                    .send(Method::DELETE, &path, Some(&users[x].token), None)
                    .await;
                assert!(
                    [StatusCode::NO_CONTENT, StatusCode::NOT_FOUND].contains(&res.status()),
                    "unfollow: {}",
                    res.status()
                );
            }
            4..=6 => posts.push((on.post(&users[x], "fan-out").await, x)),
            7 if !posts.is_empty() => {
                let (id, author) = posts.swap_remove(rng.below(posts.len()));
                let path = format!("/posts/{id}");
                let res = on
                    .send(Method::DELETE, &path, Some(&users[author].token), None)
                    .await;
                assert_eq!(res.status(), StatusCode::NO_CONTENT);
            }
            _ => {
                // A read builds the reader's timeline when it is missing.
                let path = format!("/feed?limit={}", 1 + rng.below(5));
                on.json_as(&path, Some(&users[x].token)).await;
            }
        }
    }

    for user in &users {
        let want = walk(&pull, user, 100).await;
        for (i, limit) in [(&a, 1), (&b, 2), (&a, 5), (&b, 100)] {
            eventually(SETTLE, "the fan-out feed equals the pull query", || async {
                walk(i, user, limit).await == want
            })
            .await;
        }
    }
    let metrics = a.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("feed_timeline_reads_total"), "{metrics}");

    // Redis loses every timeline (this test's keys only: the machine's Redis is shared): each
    // is rebuilt by its owner's next read, and the feeds are unchanged.
    delete_keys(&url, &p).await;
    for user in &users {
        let want = walk(&pull, user, 100).await;
        assert_eq!(
            walk(&a, user, 3).await,
            want,
            "after the timelines were lost"
        );
    }
    let metrics = b.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("feed_rebuilds_total"), "{metrics}");
}

/// Deletes every key under `prefix` (never FLUSHALL: other tests share this Redis).
async fn delete_keys(url: &str, prefix: &str) {
    let (url, pattern) = (url.to_owned(), format!("{prefix}*"));
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new("redis-cli")
            .args(["-u", &url, "--scan", "--pattern", &pattern])
            .output()
            .expect("cannot run redis-cli");
        let keys: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        for chunk in keys.chunks(100) {
            let status = std::process::Command::new("redis-cli")
                .args(["-u", &url, "DEL"])
                .args(chunk)
                .output()
                .expect("cannot run redis-cli");
            assert!(status.status.success());
        }
    })
    .await
    .unwrap();
}

/// An instance that committed posts and died before relaying them (its Redis unreachable, so
/// the events stayed in the outbox): a restarted instance relays them, and the follower's stored
/// timeline gets the post.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_committed_before_a_crash_reach_the_timelines_after_restart() {
    let Some(url) = redis_url().await else { return };
    let db = database().await;
    let p = prefix();
    let live = spawn(&db, &url, &p, &FANOUT).await;
    let ada = live.signup("ada").await;
    let bob = live.signup("bob").await;
    live.follow(&bob, &ada).await;
    let early = live.post(&ada, "before").await;
    // Bob's timeline is built and holds the early post.
    eventually(SETTLE, "bob's feed shows the early post", || async {
        ids(&live.json_as("/feed", Some(&bob.token)).await) == [early.clone()]
    })
    .await;
    drop(live);

    // An instance whose Redis is unreachable: the post commits, its event waits.
    let closed = ClosedPort::new();
    let cut_url = format!("redis://127.0.0.1:{}", closed.port);
    let cut = spawn(&db, &cut_url, &p, &FANOUT).await;
    let late = cut.post(&ada, "after").await;
    // Degraded (503) without its Redis, and saying why the events wait.
    let health: Value = cut.get("/health").await.json().await.unwrap();
    assert_eq!(health["feed"]["strategy"], "fanout");
    eventually(SETTLE, "the relay reports it is waiting", || async {
        let h: Value = cut.get("/health").await.json().await.unwrap();
        h["feed"]["relay"] == "waiting"
    })
    .await;
    drop(cut);

    let back = spawn(&db, &url, &p, &FANOUT).await;
    eventually(
        SETTLE,
        "bob's feed shows the post relayed after restart",
        || async {
            ids(&back.json_as("/feed", Some(&bob.token)).await) == [late.clone(), early.clone()]
        },
    )
    .await;
}

/// A worker that took a batch and died before acknowledging it: its events stay pending in the
/// stream, and a worker of another instance claims them once they have been idle for
/// `FEED_CLAIM_IDLE_MS` and delivers them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_pending_events_are_claimed_and_delivered() {
    use std::sync::Arc;

    use domain::model::FeedEvent;
    use domain::ports::FeedEventStream;
    use redis_adapter::{RedisFeedStream, RedisOptions, RedisShared, RedisTarget};

    let Some(url) = redis_url().await else { return };
    let db = database().await;
    let p = prefix();
    // Relays, but runs no worker: every event waits in the stream for whoever takes it.
    let relay_only = spawn(&db, &url, &p, &["--feed-workers", "0"]).await;
    let ada = relay_only.signup("ada").await;
    let bob = relay_only.signup("bob").await;
    relay_only.follow(&bob, &ada).await;
    let early = relay_only.post(&ada, "early").await;
    // Bob's timeline is built from the database, holding the early post.
    let feed = relay_only.json_as("/feed", Some(&bob.token)).await;
    assert_eq!(ids(&feed), std::slice::from_ref(&early));
    let late = relay_only.post(&ada, "late").await;

    // The worker about to die: it takes every event, the late post's among them, and never
    // acknowledges them.
    let options = RedisOptions {
        key_prefix: p.clone(),
        ..RedisOptions::default()
    };
    let shared = Arc::new(RedisShared::new(RedisTarget::parse(&url).unwrap(), options));
    let stream = RedisFeedStream::new(shared);
    let deadline = std::time::Instant::now() + SETTLE;
    let is_late =
        |e: &FeedEvent| matches!(e, FeedEvent::Posted { post, .. } if post.to_string() == late);
    loop {
        let got = stream
            .receive("dying", 100, Duration::from_millis(100))
            .await
            .unwrap();
        if got.iter().any(|d| is_late(&d.entry.event)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the late post's event never reached the stream"
        );
    }
    drop(stream);
    // Nobody delivers it meanwhile: bob's stored timeline still ends at the early post.
    let feed = relay_only.json_as("/feed", Some(&bob.token)).await;
    assert_eq!(
        ids(&feed),
        std::slice::from_ref(&early),
        "not delivered by anyone yet"
    );

    // An instance with workers claims the abandoned events and delivers them.
    let live = spawn(&db, &url, &p, &FANOUT).await;
    eventually(SETTLE, "the late post reaches bob's timeline", || async {
        ids(&live.json_as("/feed", Some(&bob.token)).await) == [late.clone(), early.clone()]
    })
    .await;
}
