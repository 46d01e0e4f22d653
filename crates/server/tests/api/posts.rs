use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_error, ids, spawn_app, MAX_PAGES};

#[tokio::test]
async fn create_and_read_a_post() {
    let app = spawn_app().await;
    let user = app.signup("writer").await;
    let post = app.create_post(&user, "  Hello,\nworld 🦀  ").await;
    assert_eq!(post["content"], "Hello,\nworld 🦀");
    assert_eq!(post["authorId"], user.id.as_str());
    assert_eq!(
        post["author"],
        json!({"id": user.id, "username": "writer", "name": null})
    );
    assert!(post["createdAt"].as_str().unwrap().ends_with('Z'));

    let id = post["id"].as_str().unwrap();
    let res = app.get(&format!("/posts/{id}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap(), post);

    let me: Value = app
        .get_auth("/users/me", &user.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["postsCount"], 1);
    for path in [
        "/posts/nope".to_owned(),
        format!("/posts/{}", uuid::Uuid::now_v7()),
    ] {
        assert_error(app.get(&path).await, StatusCode::NOT_FOUND, "NotFoundError").await;
    }
}

#[tokio::test]
async fn post_content_rules() {
    let app = spawn_app().await;
    let user = app.signup("rules").await;
    for bad in [
        json!({"content": "   "}),
        json!({"content": "x".repeat(281)}),
        json!({"content": "bell\u{7}"}),
        json!({}),
    ] {
        let res = app.post_json("/posts", bad, Some(&user.token)).await;
        assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
    }
    let res = app
        .post_json(
            "/posts",
            json!({"content": "é".repeat(280)}),
            Some(&user.token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app
        .post_json("/posts", json!({"content": "hi"}), None)
        .await;
    assert_error(res, StatusCode::UNAUTHORIZED, "UnauthorizedError").await;
}

#[tokio::test]
async fn only_the_author_deletes_and_the_post_disappears_everywhere() {
    let app = spawn_app().await;
    let author = app.signup("author").await;
    let other = app.signup("other").await;
    assert_eq!(
        app.follow(&other, &author).await.status(),
        StatusCode::CREATED
    );
    let post = app.create_post(&author, "ephemeral").await;
    let id = post["id"].as_str().unwrap().to_owned();
    // Warm every cache the post is in.
    assert_eq!(
        app.get(&format!("/posts/{id}")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.walk("/posts", "posts", 20, None).await,
        vec![id.clone()]
    );

    let delete = |token: &str| {
        app.request(Method::DELETE, &format!("/posts/{id}"))
            .bearer_auth(token.to_owned())
            .send()
    };
    assert_error(
        delete(&other.token).await.unwrap(),
        StatusCode::FORBIDDEN,
        "ForbiddenError",
    )
    .await;
    assert_eq!(
        delete(&author.token).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        delete(&author.token).await.unwrap(),
        StatusCode::NOT_FOUND,
        "NotFoundError",
    )
    .await;

    assert_error(
        app.get(&format!("/posts/{id}")).await,
        StatusCode::NOT_FOUND,
        "NotFoundError",
    )
    .await;
    assert!(app.walk("/posts", "posts", 20, None).await.is_empty());
    assert!(app
        .walk(&format!("/users/{}/posts", author.id), "posts", 20, None)
        .await
        .is_empty());
    assert!(app
        .walk("/feed", "posts", 20, Some(&other.token))
        .await
        .is_empty());
    let me: Value = app
        .get_auth("/users/me", &author.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["postsCount"], 0);
}

#[tokio::test]
async fn the_authors_next_read_sees_their_post_even_with_a_warm_cache() {
    let app = spawn_app().await;
    let user = app.signup("fresh").await;
    app.create_post(&user, "first").await;
    let before: Value = app.get("/posts?limit=5").await.json().await.unwrap();
    assert_eq!(before["posts"].as_array().unwrap().len(), 1);
    let post = app.create_post(&user, "second").await;
    let after: Value = app.get("/posts?limit=5").await.json().await.unwrap();
    assert_eq!(after["posts"][0]["id"], post["id"]);
    let mine: Value = app
        .get(&format!("/users/{}/posts", user.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["posts"][0]["id"], post["id"]);
}

#[tokio::test]
async fn profile_changes_show_in_embedded_authors() {
    let app = spawn_app().await;
    let user = app.signup("renamer").await;
    let post = app.create_post(&user, "who wrote this?").await;
    let id = post["id"].as_str().unwrap();
    // Cache the post and the author summary.
    app.get(&format!("/posts/{id}")).await;
    app.get("/posts").await;
    let res = app
        .request(Method::PUT, "/users/profile")
        .bearer_auth(&user.token)
        .json(&json!({"name": "New Name"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let single: Value = app.get(&format!("/posts/{id}")).await.json().await.unwrap();
    assert_eq!(single["author"]["name"], "New Name");
    let list: Value = app.get("/posts").await.json().await.unwrap();
    assert_eq!(list["posts"][0]["author"]["name"], "New Name");
}

#[tokio::test]
async fn timeline_pages_never_skip_or_repeat_while_posts_are_created() {
    let app = spawn_app().await;
    let user = app.signup("prolific").await;
    let mut existing = Vec::new();
    for i in 0..23 {
        existing.push(
            app.create_post(&user, &format!("post {i}")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    existing.reverse();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let url = match &cursor {
            Some(c) => format!("/posts?limit=5&cursor={c}"),
            None => "/posts?limit=5".to_owned(),
        };
        let page: Value = app.get(&url).await.json().await.unwrap();
        seen.extend(ids(&page, "posts"));
        pages += 1;
        assert!(
            pages < MAX_PAGES,
            "the cursor walk did not end in {MAX_PAGES} pages"
        );
        // New posts arrive between page reads.
        app.create_post(&user, &format!("interloper {pages}")).await;
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        seen, existing,
        "every post that existed at the start, once, in order"
    );
    assert_eq!(pages, 5);
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len());
}

#[tokio::test]
async fn every_first_page_size_agrees_with_the_walk() {
    let app = spawn_app().await;
    let user = app.signup("slicer").await;
    // 25 posts: more than the default page of 20, so the default is seen, not the total.
    for i in 0..25 {
        app.create_post(&user, &format!("p{i}")).await;
    }
    let all = app.walk("/posts", "posts", 100, None).await;
    assert_eq!(all.len(), 25);
    for limit in [1, 5, 20, 24, 25, 26] {
        let page: Value = app
            .get(&format!("/posts?limit={limit}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(ids(&page, "posts"), all[..limit.min(25)]);
        assert_eq!(page["nextCursor"].is_null(), limit >= 25, "limit {limit}");
    }
    assert_eq!(
        app.walk(&format!("/users/{}/posts", user.id), "posts", 5, None)
            .await,
        all
    );
    let default: Value = app.get("/posts").await.json().await.unwrap();
    assert_eq!(ids(&default, "posts"), all[..20]);
    assert!(
        default["nextCursor"].is_string(),
        "a default page of 20 leaves 5 more"
    );
}

#[tokio::test]
async fn bad_limits_and_cursors_are_400() {
    let app = spawn_app().await;
    let user = app.signup("pager").await;
    for q in [
        "limit=0",
        "limit=101",
        "limit=abc",
        "limit=-5",
        "cursor=abc",
        "cursor=",
        "limit=10&cursor=0123456789abcdef0123456789abcdef",
    ] {
        let res = app.get(&format!("/posts?{q}")).await;
        assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
        let res = app.get(&format!("/users/{}/posts?{q}", user.id)).await;
        assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
        let res = app.get_auth(&format!("/feed?{q}"), &user.token).await;
        assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
    }
    let missing = format!("/users/{}/posts", uuid::Uuid::now_v7());
    assert_error(
        app.get(&missing).await,
        StatusCode::NOT_FOUND,
        "NotFoundError",
    )
    .await;
}

#[tokio::test]
async fn only_the_exact_cursor_shape_is_accepted_on_every_list() {
    let app = spawn_app().await;
    let user = app.signup("shapes").await;
    let key = uuid::Uuid::now_v7();
    let good = key.simple().to_string();
    let bad = [
        good.to_uppercase(),
        good[..31].to_owned(),
        format!("{good}0"),
        key.hyphenated().to_string(),
        uuid::Uuid::new_v4().simple().to_string(),
        format!("{}g", &good[..31]),
        "z".repeat(32),
    ];
    for list in [
        "/posts".to_owned(),
        "/feed".to_owned(),
        format!("/users/{}/posts", user.id),
        format!("/users/{}/followers", user.id),
        format!("/users/{}/following", user.id),
    ] {
        // The right shape passes, so each 400 below is about the shape alone.
        let res = app
            .get_auth(&format!("{list}?cursor={good}"), &user.token)
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{list}");
        for cursor in &bad {
            let res = app
                .get_auth(&format!("{list}?cursor={cursor}"), &user.token)
                .await;
            let body = assert_error(res, StatusCode::BAD_REQUEST, "ValidationError").await;
            assert_eq!(body["details"][0]["field"], "cursor", "{list} {cursor}");
        }
    }
}

/// First pages are windows onto cached heads and their JSON is kept per (head version, page
/// shape). Each write must show on the very next read of every shape of both lists: a post,
/// a rename of its author, and its deletion — with every shape read (so cached) before each.
#[tokio::test]
async fn every_warm_first_page_shows_each_write_on_the_next_read() {
    let app = spawn_app().await;
    let ada = app.signup("shapes").await;
    let other = app.signup("bystander").await;
    for i in 0..3 {
        app.create_post(&ada, &format!("old {i}")).await;
    }
    app.create_post(&other, "not ada's").await;
    let lists = ["/posts".to_owned(), format!("/users/{}/posts", ada.id)];
    let limits = [1, 2, 20, 100];
    let read_all = || async {
        let mut pages = Vec::new();
        for list in &lists {
            for limit in limits {
                let res = app.get(&format!("{list}?limit={limit}")).await;
                assert_eq!(res.status(), StatusCode::OK);
                let page: Value = res.json().await.unwrap();
                pages.push((format!("{list}?limit={limit}"), page));
            }
        }
        pages
    };
    read_all().await;

    let new = app.create_post(&ada, "new").await;
    for (url, page) in read_all().await {
        assert_eq!(page["posts"][0]["id"], new["id"], "{url} after the post");
    }

    let res = app
        .request(Method::PUT, "/users/profile")
        .bearer_auth(&ada.token)
        .json(&json!({"name": "Renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    for (url, page) in read_all().await {
        assert_eq!(
            page["posts"][0]["author"]["name"], "Renamed",
            "{url} after the rename"
        );
    }

    let res = app
        .request(
            Method::DELETE,
            &format!("/posts/{}", new["id"].as_str().unwrap()),
        )
        .bearer_auth(&ada.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for (url, page) in read_all().await {
        let ids = ids(&page, "posts");
        assert!(
            !ids.contains(&new["id"].as_str().unwrap().to_owned()),
            "{url} after the delete"
        );
        assert!(!ids.is_empty(), "{url}");
    }
    // The author list holds exactly ada's three older posts; a limit of 2 has a next page.
    let two: Value = app
        .get(&format!("/users/{}/posts?limit=2", ada.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&two, "posts").len(), 2);
    assert!(two["nextCursor"].is_string());
    assert_eq!(
        app.walk(&format!("/users/{}/posts", ada.id), "posts", 2, None)
            .await
            .len(),
        3
    );
}
