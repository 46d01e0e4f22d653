use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::spawn_app;

/// Bounds every wait below; reached only when the server is broken.
const DEADLINE: Duration = Duration::from_secs(20);

/// A request whose body is still arriving when shutdown starts is answered while new requests
/// get 503, then the server stops and refuses new connections.
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
    // The drain has begun once a new request is answered 503; the listener stays open until
    // the request in flight is answered.
    wait_until_draining(app.addr).await;
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

/// Polls until a request on a new connection is answered 503 for the drain.
async fn wait_until_draining(addr: SocketAddr) {
    let poll = async {
        loop {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream
                .write_all(b"GET /posts HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await.unwrap();
            let text = String::from_utf8_lossy(&answer);
            if text.starts_with("HTTP/1.1 503") {
                assert!(text.contains("ServiceUnavailableError"), "{text}");
                return;
            }
            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        }
    };
    tokio::time::timeout(DEADLINE, poll)
        .await
        .expect("the drain begins within the deadline");
}
