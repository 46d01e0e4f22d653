use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::spawn_app;

/// A request whose body is still arriving when shutdown starts is answered, then the server
/// stops and refuses new connections.
#[tokio::test]
async fn shutdown_finishes_in_flight_requests() {
    let mut app = spawn_app().await;
    let body = json!({"email": "late@example.com", "password": "password123", "username": "late"})
        .to_string();
    let (head, tail) = body.split_at(10);
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let request = format!(
        "POST /auth/signup HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{head}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    // Let the server start reading the request before it is told to stop.
    tokio::time::sleep(Duration::from_millis(100)).await;

    app.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stream.write_all(tail.as_bytes()).await.unwrap();

    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 201"), "{text}");

    let stopped = tokio::time::timeout(Duration::from_secs(10), app.handle.take().unwrap()).await;
    assert!(stopped.unwrap().unwrap().is_ok(), "server stopped cleanly");
    assert!(
        TcpStream::connect(app.addr).await.is_err(),
        "no longer accepting"
    );
}
