//! Issue 11: `kill -9` of the binary during concurrent writes, on SQLite and on PostgreSQL.
//!
//! Sixteen writers each post and follow in turn, every write with its own `Idempotency-Key`,
//! until the process is killed (once a number of writes were acknowledged; a count, never a
//! time). Then, on a new process over the same database:
//!
//! - every acknowledged post and follow is there, and every counter equals its rows;
//! - retrying every write with its key, acknowledged or not, is answered 201: an acknowledged
//!   one with its first response byte for byte, an unacknowledged one that had committed with
//!   the post it had made (its response was lost with the process), one that had not with a new
//!   write;
//! - afterwards each write exists exactly once, and the counters are still exact.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use reqwest::Client;
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::support::{kill, start, Server, DEADLINE};

const WRITERS: usize = 16;
/// Users each writer follows one by one (so every follow is a new edge): also the most rounds
/// a writer runs.
const TARGETS: usize = 24;
/// Acknowledged writes before the kill: a fraction of the `WRITERS × TARGETS × 2` the writers
/// would make, so most of them are still writing when it lands.
const KILL_AFTER: usize = 150;
const SECRET: &str = "crash-test-secret-that-is-at-least-32-bytes";

/// One write a writer attempted, and its answer if one arrived.
#[derive(Clone, Debug)]
struct Attempt {
    writer: usize,
    /// `Ok(content)` for a post, `Err(target)` for a follow.
    write: Result<String, usize>,
    key: String,
    answer: Option<(u16, String)>,
}

struct User {
    id: String,
    token: String,
}

fn client() -> Client {
    // Every request bounded: a write cut off by the kill fails, it never hangs.
    Client::builder()
        .no_proxy()
        .timeout(DEADLINE)
        .build()
        .unwrap()
}

async fn start_on(database_url: &str) -> Server {
    start(&[
        ("DATABASE_URL", database_url),
        ("JWT_SECRET", SECRET),
        ("RATE_LIMIT_GENERAL", "1000000/1s"),
        ("RATE_LIMIT_POST", "1000000/1s"),
        ("RATE_LIMIT_SIGNUP", "1000000/1s"),
    ])
    .await
}

/// `POST path` with the key; the status and whole body, or `None` when no answer came.
async fn keyed(
    c: &Client,
    base: &str,
    path: &str,
    token: &str,
    key: &str,
    body: Option<Value>,
) -> Option<(u16, String)> {
    let mut r = c
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .header("Idempotency-Key", key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let res = r.send().await.ok()?;
    let status = res.status().as_u16();
    Some((status, res.text().await.ok()?))
}

async fn get(c: &Client, base: &str, path: &str) -> Value {
    let res = c.get(format!("{base}{path}")).send().await.unwrap();
    assert_eq!(res.status(), 200, "GET {path}");
    res.json().await.unwrap()
}

/// Every item of a paginated list, walking `nextCursor`.
async fn walk(c: &Client, base: &str, path: &str, field: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1_000 {
        let url = match &cursor {
            Some(cur) => format!("{path}?limit=100&cursor={cur}"),
            None => format!("{path}?limit=100"),
        };
        let page = get(c, base, &url).await;
        all.extend(page[field].as_array().unwrap().iter().cloned());
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return all,
        }
    }
    panic!("{path}: the cursor walk does not end");
}

async fn signup(c: &Client, base: &str, name: &str) -> User {
    let body = json!({"email": format!("{name}@example.com"), "password": "password123", "username": name});
    let res = c
        .post(format!("{base}/auth/signup"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "signup {name}");
    let body: Value = res.json().await.unwrap();
    User {
        id: body["user"]["id"].as_str().unwrap().to_owned(),
        token: body["token"].as_str().unwrap().to_owned(),
    }
}

/// One writer: post, follow the next target, and again, until an answer does not come.
async fn write_until_cut_off(
    writer: usize,
    me: Arc<User>,
    targets: Arc<Vec<String>>,
    base: String,
    acks: Arc<(AtomicUsize, Notify)>,
) -> Vec<Attempt> {
    let c = client();
    let mut attempts = Vec::new();
    for n in 0..TARGETS {
        for write in [Ok(format!("writer {writer} post {n}")), Err(n)] {
            let (path, body, key) = match &write {
                Ok(content) => (
                    "/posts".to_owned(),
                    Some(json!({ "content": content })),
                    format!("w{writer}-p{n}"),
                ),
                Err(t) => (
                    format!("/users/follow/{}", targets[*t]),
                    None,
                    format!("w{writer}-f{n}"),
                ),
            };
            let answer = keyed(&c, &base, &path, &me.token, &key, body).await;
            let cut_off = answer.is_none();
            if let Some((status, body)) = &answer {
                assert_eq!(*status, 201, "writer {writer}, {key}: {body}");
                acks.0.fetch_add(1, Ordering::SeqCst);
                acks.1.notify_one();
            }
            attempts.push(Attempt {
                writer,
                write,
                key,
                answer,
            });
            if cut_off {
                return attempts;
            }
        }
    }
    attempts
}

/// What the database holds for the writers: per writer, post content → id and the targets
/// followed. Checks on the way that every counter equals its rows and nothing is doubled.
async fn snapshot(
    c: &Client,
    base: &str,
    writers: &[Arc<User>],
    targets: &[String],
) -> Vec<(BTreeMap<String, String>, BTreeSet<String>)> {
    let mut out = Vec::new();
    for w in writers {
        let posts = walk(c, base, &format!("/users/{}/posts", w.id), "posts").await;
        let by_content: BTreeMap<String, String> = posts
            .iter()
            .map(|p| {
                (
                    p["content"].as_str().unwrap().to_owned(),
                    p["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(by_content.len(), posts.len(), "a post stored twice");
        let following = walk(c, base, &format!("/users/{}/following", w.id), "users").await;
        let followed: BTreeSet<String> = following
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .collect();
        let profile = get(c, base, &format!("/users/{}", w.id)).await;
        assert_eq!(profile["postsCount"], posts.len(), "postsCount of {}", w.id);
        assert_eq!(
            profile["followingCount"],
            following.len(),
            "followingCount of {}",
            w.id
        );
        out.push((by_content, followed));
    }
    for t in targets {
        let followers = walk(c, base, &format!("/users/{t}/followers"), "users").await;
        let profile = get(c, base, &format!("/users/{t}")).await;
        assert_eq!(
            profile["followersCount"],
            followers.len(),
            "followersCount of {t}"
        );
    }
    out
}

async fn kill_during_writes_then_retry(database_url: &str) {
    let mut server = start_on(database_url).await;
    let base = format!("http://{}", server.addr);
    let c = client();
    let mut writers = Vec::new();
    for i in 0..WRITERS {
        writers.push(Arc::new(signup(&c, &base, &format!("writer{i}")).await));
    }
    let mut targets = Vec::new();
    for i in 0..TARGETS {
        targets.push(signup(&c, &base, &format!("target{i}")).await.id);
    }
    let targets = Arc::new(targets);

    let acks = Arc::new((AtomicUsize::new(0), Notify::new()));
    let tasks: Vec<_> = writers
        .iter()
        .enumerate()
        .map(|(i, me)| {
            let (me, targets, base, acks) =
                (me.clone(), targets.clone(), base.clone(), acks.clone());
            tokio::spawn(write_until_cut_off(i, me, targets, base, acks))
        })
        .collect();
    let enough = async {
        while acks.0.load(Ordering::SeqCst) < KILL_AFTER {
            acks.1.notified().await;
        }
    };
    tokio::time::timeout(DEADLINE, enough)
        .await
        .expect("enough writes acknowledged");
    kill(server.pid(), "KILL");
    let status = server.wait_exit().await;
    assert_eq!(status.signal(), Some(9), "killed, not exited: {status}");
    let mut attempts = Vec::new();
    for task in tasks {
        attempts.extend(
            tokio::time::timeout(DEADLINE, task)
                .await
                .expect("writers stop")
                .unwrap(),
        );
    }
    drop(server);
    let unacked = attempts.iter().filter(|a| a.answer.is_none()).count();
    assert!(unacked > 0, "the kill landed while writers were writing");

    // A new process on the same database: everything acknowledged is there, counters exact.
    let server = start_on(database_url).await;
    let base = format!("http://{}", server.addr);
    let before = snapshot(&c, &base, &writers, &targets).await;
    for a in &attempts {
        let (posts, followed) = &before[a.writer];
        let Some((_, body)) = &a.answer else { continue };
        match &a.write {
            Ok(content) => {
                let first: Value = serde_json::from_str(body).unwrap();
                assert_eq!(
                    posts.get(content).map(String::as_str),
                    first["id"].as_str(),
                    "{} lost",
                    a.key
                );
            }
            Err(t) => assert!(followed.contains(&targets[*t]), "{} lost", a.key),
        }
    }

    // Every write retried with its key: the first answer, or the one the crash swallowed.
    let mut retried: HashMap<String, (u16, String)> = HashMap::new();
    for a in &attempts {
        let me = &writers[a.writer];
        let (path, body) = match &a.write {
            Ok(content) => ("/posts".to_owned(), Some(json!({ "content": content }))),
            Err(t) => (format!("/users/follow/{}", targets[*t]), None),
        };
        let again = keyed(&c, &base, &path, &me.token, &a.key, body.clone())
            .await
            .unwrap();
        assert_eq!(again.0, 201, "{}: {}", a.key, again.1);
        match (&a.answer, &a.write) {
            (Some(first), _) => assert_eq!(&again, first, "{}: not the first response", a.key),
            (None, Ok(content)) => {
                // Committed before the kill: the retry is answered with that very post.
                if let Some(id) = before[a.writer].0.get(content) {
                    let post: Value = serde_json::from_str(&again.1).unwrap();
                    assert_eq!(post["id"].as_str(), Some(id.as_str()), "{}", a.key);
                }
            }
            (None, Err(_)) => {}
        }
        // And a second retry repeats the first retry's answer.
        let twice = keyed(&c, &base, &path, &me.token, &a.key, body)
            .await
            .unwrap();
        assert_eq!(twice, again, "{}", a.key);
        retried.insert(a.key.clone(), again);
    }

    // Each write exactly once: nothing doubled, nothing missing.
    let after = snapshot(&c, &base, &writers, &targets).await;
    for (w, (posts, followed)) in after.iter().enumerate() {
        let mine = attempts.iter().filter(|a| a.writer == w);
        let want_posts: BTreeSet<&String> =
            mine.clone().filter_map(|a| a.write.as_ref().ok()).collect();
        let want_follows: BTreeSet<String> = mine
            .filter_map(|a| a.write.as_ref().err())
            .map(|&t| targets[t].clone())
            .collect();
        assert_eq!(
            posts.keys().collect::<BTreeSet<_>>(),
            want_posts,
            "writer {w}'s posts"
        );
        assert_eq!(followed, &want_follows, "writer {w}'s follows");
    }
    assert_eq!(retried.len(), attempts.len(), "one key per write");
}

#[tokio::test]
async fn kill_9_during_writes_on_sqlite_loses_nothing_and_retries_write_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("crash.db").display());
    kill_during_writes_then_retry(&url).await;
}

#[tokio::test]
async fn kill_9_during_writes_on_postgres_loses_nothing_and_retries_write_once() {
    let Some(db) = postgres_adapter::testing::TestDatabase::create("crash")
        .await
        .unwrap()
    else {
        return;
    };
    kill_during_writes_then_retry(&db.url).await;
}
