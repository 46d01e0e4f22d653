//! 500s: a failure nobody foresaw is answered in the contract's shape, and says nothing about
//! its cause (SQLite only: the schema is broken behind the server's back through the file).

use reqwest::StatusCode;

use crate::helpers::{assert_error, spawn_app};

#[tokio::test]
async fn unexpected_store_errors_are_500_without_internals() {
    let app = spawn_app().await;
    let user = app.signup("victim").await;
    app.create_post(&user, "about to vanish").await;

    let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
    sqlx::query("DROP TABLE posts")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    // A user's posts are read from the store, not a cache.
    let res = app.get(&format!("/users/{}/posts", user.id)).await;
    assert!(res.headers().contains_key("x-request-id"));
    let body = assert_error(
        res,
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServerError",
    )
    .await;
    assert_eq!(body["error"], "Internal server error");
    let text = body.to_string().to_lowercase();
    for leak in ["table", "sqlite", "sql", "posts"] {
        assert!(!text.contains(leak), "{leak} leaked: {text}");
    }
    // The rest of the server is unaffected.
    assert_eq!(app.get("/health/liveness").await.status(), StatusCode::OK);
}
