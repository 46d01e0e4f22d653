use reqwest::{Method, StatusCode};

use crate::helpers::{assert_error, spawn_app};

#[tokio::test]
async fn feed_has_own_and_followed_posts_newest_first() {
    let app = spawn_app().await;
    let me = app.signup("reader").await;
    let friend = app.signup("friend").await;
    let stranger = app.signup("stranger").await;
    assert_eq!(app.follow(&me, &friend).await.status(), StatusCode::CREATED);

    let mut expected = Vec::new();
    let mut mine = Vec::new();
    for i in 0..4 {
        expected.push(
            app.create_post(&friend, &format!("friend {i}")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        app.create_post(&stranger, &format!("stranger {i}")).await;
        let own = app.create_post(&me, &format!("mine {i}")).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        expected.push(own.clone());
        mine.push(own);
    }
    expected.reverse();
    mine.reverse();
    assert_eq!(
        app.walk("/feed", "posts", 3, Some(&me.token)).await,
        expected
    );

    let res = app
        .request(Method::DELETE, &format!("/users/follow/{}", friend.id))
        .bearer_auth(&me.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // Exactly my own posts, newest first: not merely four posts of anyone's.
    let only_mine = app.walk("/feed", "posts", 10, Some(&me.token)).await;
    assert_eq!(only_mine, mine);

    assert_error(
        app.get("/feed").await,
        StatusCode::UNAUTHORIZED,
        "UnauthorizedError",
    )
    .await;
}
