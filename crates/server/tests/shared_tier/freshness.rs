//! A write on one instance is what the other instance serves next: a new post, a deletion and
//! a rename, each read on B before the write so B's caches hold the old answer.
//!
//! Both instances keep L1 entries for up to 10 minutes, so the in-process TTL cannot be what
//! makes B fresh: only the invalidation A publishes (and waits to see acknowledged) can. With
//! the default 1 s cap these checks would pass on expiry alone.
//!
//! What must hold when (docs/API.md, docs/OPERATIONS.md): the author sees their own write in
//! the very next request on any instance, because the writer answers only once every subscribed
//! instance acknowledged dropping the keys — so the author's reads are checked at once, no
//! polling. Everyone else is promised "within 1 s" (`GET /posts`, embedded authors) or "within
//! 2 s" (`GET /feed`): the follower's feed is polled with [`OTHERS_WITHIN`].

use std::time::Duration;

use redis_adapter::testing::redis_url;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{
    database, eventually, ids, posts, prefix, spawn, timeline_ids, wait_for_listeners, Database,
    Instance, User, POSTGRES,
};

/// L1 entries may live this long: far beyond any wait below.
const LONG_L1: [&str; 2] = ["--redis-l1-ttl-ms", "600000"];

/// The poll deadline for promises to other readers. Above the contract's 2 s so a loaded CI
/// machine does not fail an honest server; below every TTL of the cache entries these reads
/// use (the global head's 5 s backstop is the shortest; summaries 60 s, posts 300 s), so an
/// entry expiring cannot stand in for the invalidation.
const OTHERS_WITHIN: Duration = Duration::from_secs(3);

struct Pair {
    a: Instance,
    b: Instance,
    ada: User,
    bob: User,
    _db: Database,
}

/// Instances A and B on one database and Redis with long L1 TTLs, both listening for
/// invalidations; `ada` (signed up on A) followed by `bob`. `None` without Redis.
async fn pair() -> Option<Pair> {
    let url = redis_url().await?;
    let db = database().await;
    let p = prefix();
    let a = spawn(&db, &url, &p, &LONG_L1).await;
    let b = spawn(&db, &url, &p, &LONG_L1).await;
    wait_for_listeners(&url, &p, 2).await;
    let health = a.json("/health").await;
    let backend = if POSTGRES { "postgres" } else { "sqlite" };
    assert_eq!(
        health["backends"]["database"], backend,
        "this binary's database"
    );
    let ada = a.signup("ada").await;
    let bob = a.signup("bob").await;
    a.follow(&bob, &ada).await;
    Some(Pair {
        a,
        b,
        ada,
        bob,
        _db: db,
    })
}

/// `ids` sorted: posts made back to back may share a timestamp, and which comes first is not
/// what these tests are about.
fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

impl Pair {
    fn ada_posts(&self) -> String {
        format!("/users/{}/posts", self.ada.id)
    }

    async fn feed(&self, user: &User) -> Value {
        self.b.json_as("/feed", Some(&user.token)).await
    }

    /// B's answer for the lists a post shows in, as sorted ids: the global timeline, Ada's
    /// posts and Ada's own feed. (Bob's feed is polled separately.)
    async fn lists_on_b(&self) -> [Vec<String>; 3] {
        [
            sorted(timeline_ids(&self.b).await),
            sorted(ids(&self.b.json(&self.ada_posts()).await)),
            sorted(ids(&self.feed(&self.ada).await)),
        ]
    }

    async fn posts_count_on_b(&self) -> Value {
        self.b.json(&format!("/users/{}", self.ada.id)).await["postsCount"].clone()
    }
}

#[tokio::test]
async fn a_new_post_is_in_every_list_on_the_other_instance() {
    let Some(t) = pair().await else { return };
    let first = t.a.post(&t.ada, "first").await;
    let before = vec![first.clone()];
    assert_eq!(
        t.lists_on_b().await,
        [before.clone(), before.clone(), before.clone()]
    );
    assert_eq!(sorted(ids(&t.feed(&t.bob).await)), before);
    assert_eq!(t.posts_count_on_b().await, 1);

    let second = t.a.post(&t.ada, "second").await;
    let after = sorted(vec![first, second]);
    assert_eq!(
        t.lists_on_b().await,
        [after.clone(), after.clone(), after.clone()],
        "the author's next request on B: global timeline, own posts, own feed"
    );
    assert_eq!(t.posts_count_on_b().await, 2);
    eventually(
        OTHERS_WITHIN,
        "the post is in the follower's feed on B",
        || async { sorted(ids(&t.feed(&t.bob).await)) == after },
    )
    .await;
}

#[tokio::test]
async fn a_deleted_post_is_gone_from_every_list_on_the_other_instance() {
    let Some(t) = pair().await else { return };
    let kept = t.a.post(&t.ada, "kept").await;
    let gone = t.a.post(&t.ada, "gone").await;
    let before = sorted(vec![kept.clone(), gone.clone()]);
    assert_eq!(
        t.lists_on_b().await,
        [before.clone(), before.clone(), before.clone()]
    );
    assert_eq!(sorted(ids(&t.feed(&t.bob).await)), before);
    assert_eq!(
        t.b.get(&format!("/posts/{gone}")).await.status(),
        StatusCode::OK
    );
    assert_eq!(t.posts_count_on_b().await, 2);

    let res =
        t.a.send(
            Method::DELETE,
            &format!("/posts/{gone}"),
            Some(&t.ada.token),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        t.b.get(&format!("/posts/{gone}")).await.status(),
        StatusCode::NOT_FOUND,
        "the author's next request on B: the post itself is gone"
    );
    let after = vec![kept];
    assert_eq!(
        t.lists_on_b().await,
        [after.clone(), after.clone(), after.clone()],
        "the author's next request on B: global timeline, own posts, own feed"
    );
    assert_eq!(t.posts_count_on_b().await, 1);
    eventually(
        OTHERS_WITHIN,
        "the post is gone from the follower's feed on B",
        || async { sorted(ids(&t.feed(&t.bob).await)) == after },
    )
    .await;
}

#[tokio::test]
async fn a_rename_shows_in_the_profile_and_every_embedded_author_on_the_other_instance() {
    let Some(t) = pair().await else { return };
    let id = t.a.post(&t.ada, "hello").await;
    let post_path = format!("/posts/{id}");
    let profile_path = format!("/users/{}", t.ada.id);
    // Every place B shows Ada's name: her profile, the post, and the author embedded in each
    // list. Read once before the rename so each is cached on B.
    let names_on_b = || async {
        let lists = [
            t.b.json("/posts?limit=20").await,
            t.b.json(&t.ada_posts()).await,
            t.feed(&t.ada).await,
        ];
        let mut names = vec![
            t.b.json(&profile_path).await["name"].clone(),
            t.b.json(&post_path).await["author"]["name"].clone(),
        ];
        for list in &lists {
            let [post] = posts(list) else {
                panic!("one post expected: {list}")
            };
            names.push(post["author"]["name"].clone());
        }
        names
    };
    assert_eq!(names_on_b().await, vec![Value::Null; 5]);
    let follower_sees = |name: Value| {
        let t = &t;
        async move { posts(&t.feed(&t.bob).await)[0]["author"]["name"] == name }
    };
    assert!(follower_sees(Value::Null).await);

    let res =
        t.a.send(
            Method::PUT,
            "/users/profile",
            Some(&t.ada.token),
            Some(json!({"name": "Ada L."})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        names_on_b().await,
        vec![json!("Ada L."); 5],
        "the author's next request on B: profile, post, global timeline, own posts, own feed"
    );
    eventually(
        OTHERS_WITHIN,
        "the follower's feed on B shows the new name",
        || follower_sees(json!("Ada L.")),
    )
    .await;
}

/// Rendered first pages are kept per (head version, page shape), and B reads the versions A's
/// loads stored in Redis. A write on A must show on B's next read of every shape of both
/// cached lists, each read on B first so its rendered pages and L1 hold the old answer.
#[tokio::test]
async fn every_first_page_shape_on_the_other_instance_shows_the_write() {
    let Some(t) = pair().await else { return };
    t.a.post(&t.ada, "old").await;
    let urls: Vec<String> = [1, 2, 20, 100]
        .into_iter()
        .flat_map(|limit| {
            [
                format!("/posts?limit={limit}"),
                format!("{}?limit={limit}", t.ada_posts()),
            ]
        })
        .collect();
    for url in &urls {
        assert_eq!(posts(&t.b.json(url).await).len(), 1, "{url}");
    }
    let id = t.a.post(&t.ada, "new").await;
    for url in &urls {
        assert_eq!(posts(&t.b.json(url).await)[0]["id"], id.as_str(), "{url}");
    }
    let res =
        t.a.send(
            Method::PUT,
            "/users/profile",
            Some(&t.ada.token),
            Some(json!({"name": "Shaped"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    for url in &urls {
        for post in posts(&t.b.json(url).await) {
            assert_eq!(post["author"]["name"], "Shaped", "{url}");
        }
    }
}
