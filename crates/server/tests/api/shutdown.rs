use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::spawn_app;

/// Bounds every wait below; reached only when the server is broken.
const DEADLINE: Duration = Duration::from_secs(20);

/// A request whose body is still arriving when shutdown starts is answered, then the server
/// stops and refuses new connections.
#[tokio::test]
async fn shutdown_finishes_in_flight_requests() {
    let mut app = spawn_app().await;
    let body = json!({"email": "late@example.com", "password": "password123", "username": "late"})
        .to_string();
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /auth/signup HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nexpect: 100-continue\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // `100 Continue` is sent when the handler asks for the body: the request is in flight.
    let interim = read_some(&mut stream).await;
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");

    app.shutdown.cancel();
    // The listener closes only after the drain has begun.
    wait_until_refused(app.addr).await;
    stream.write_all(body.as_bytes()).await.unwrap();

    let mut response = Vec::new();
    let read = tokio::time::timeout(DEADLINE, stream.read_to_end(&mut response)).await;
    read.expect("the connection closes after its answer")
        .unwrap();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 201"), "{text}");

    let stopped = tokio::time::timeout(DEADLINE, app.handle.take().unwrap()).await;
    assert!(stopped.unwrap().unwrap().is_ok(), "server stopped cleanly");
    assert!(
        TcpStream::connect(app.addr).await.is_err(),
        "no longer accepting"
    );
}

async fn read_some(stream: &mut TcpStream) -> String {
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(DEADLINE, stream.read(&mut buf))
        .await
        .expect("bytes within the deadline")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Polls until a new connection is refused; each one that still gets through is dropped at
/// once so it holds nothing open.
async fn wait_until_refused(addr: SocketAddr) {
    let poll = async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(DEADLINE, poll)
        .await
        .expect("the listener closes within the deadline");
}
