//! Raw HTTP/1.1 over a socket, for what a client library hides: half-sent requests, bodies
//! never sent, connections the server closes. Shared by the `api` and `binary` suites.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The bound on every wait in these tests: only ever reached when something is broken.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Reads until `marker` has arrived, returning everything read.
pub async fn read_until(stream: &mut TcpStream, marker: &[u8]) -> Vec<u8> {
    let read = async {
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.windows(marker.len()).any(|w| w == marker) {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "connection closed before {:?}; got {:?}",
                String::from_utf8_lossy(marker),
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
        }
        got
    };
    tokio::time::timeout(DEADLINE, read)
        .await
        .expect("bytes within the deadline")
}

/// Reads until the peer closes the connection (or resets it), bounded by [`DEADLINE`].
pub async fn read_to_close(stream: &mut TcpStream) -> String {
    let read = async {
        let mut got = Vec::new();
        let _ = stream.read_to_end(&mut got).await;
        got
    };
    let got = tokio::time::timeout(DEADLINE, read)
        .await
        .expect("the server closes the connection within the deadline");
    String::from_utf8_lossy(&got).into_owned()
}

/// Opens a connection, starts `POST path` with `Expect: 100-continue` and a body of
/// `body_len` bytes, and returns once the server's `100 Continue` arrives: the request has
/// reached its handler, which is now waiting for the body.
pub async fn start_request_awaiting_body(
    addr: SocketAddr,
    path: &str,
    body_len: usize,
) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: e2e\r\ncontent-type: application/json\r\n\
         content-length: {body_len}\r\nexpect: 100-continue\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let interim = read_until(&mut stream, b"\r\n\r\n").await;
    let interim = String::from_utf8_lossy(&interim);
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");
    stream
}
