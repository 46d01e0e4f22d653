//! Connection hygiene over real sockets: the header and idle timeouts, the connection cap, the
//! request timeout and load shedding. Each server gets short bounds so the tests are quick;
//! every wait is bounded by `DEADLINE`, which only a broken server reaches.

use std::net::SocketAddr;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::spawn_app_with;
use crate::raw_http::{read_to_close, read_until, start_request_awaiting_body, DEADLINE};

const LIVENESS: &[u8] = b"GET /health/liveness HTTP/1.1\r\nhost: t\r\n\r\n";

/// Sends `request` and reads its whole response, leaving the connection open.
async fn exchange(stream: &mut TcpStream, request: &[u8]) -> String {
    stream.write_all(request).await.unwrap();
    read_response(stream).await
}

/// Reads one response: its head and its `content-length` body.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut got = read_until(stream, b"\r\n\r\n").await;
    let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&got[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |v| v.trim().parse().unwrap());
    while got.len() < head_end + length {
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(DEADLINE, stream.read(&mut buf))
            .await
            .expect("the body within the deadline")
            .unwrap();
        assert!(n > 0, "closed mid-body");
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn body_of(response: &str) -> Value {
    let (_, body) = response.split_once("\r\n\r\n").unwrap();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
}

async fn metric(addr: SocketAddr, series: &str) -> f64 {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let text = exchange(&mut stream, b"GET /metrics HTTP/1.1\r\nhost: t\r\n\r\n").await;
    text.lines()
        .filter(|l| l.starts_with(series))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn hundreds_of_half_sent_requests_are_closed_at_the_header_timeout() {
    let app = spawn_app_with(&["--http-header-timeout-ms", "300"]).await;
    let mut stalled = Vec::new();
    for _ in 0..300 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        stream.write_all(b"GET /posts HT").await.unwrap();
        stalled.push(stream);
    }

    // A client that sends its request whole is served meanwhile.
    let mut fresh = TcpStream::connect(app.addr).await.unwrap();
    let answer = exchange(&mut fresh, LIVENESS).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    for stream in &mut stalled {
        let rest = read_to_close(stream).await;
        assert!(rest.is_empty(), "no answer to half a request: {rest}");
    }
    let closed = metric(
        app.addr,
        "http_connections_timed_out_total{reason=\"header\"}",
    )
    .await;
    assert!(closed >= 300.0, "{closed}");
}

#[tokio::test]
async fn the_connection_cap_refuses_the_surplus_and_recovers() {
    let app = spawn_app_with(&["--http-max-connections", "20"]).await;
    // Twenty kept-alive connections, each having been served: all of them counted as open.
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        let answer = exchange(&mut stream, LIVENESS).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        held.push(stream);
    }

    for _ in 0..5 {
        let mut surplus = TcpStream::connect(app.addr).await.unwrap();
        // The write may already meet the closed socket.
        let _ = surplus.write_all(LIVENESS).await;
        let rest = read_to_close(&mut surplus).await;
        assert!(rest.is_empty(), "closed at once, unanswered: {rest}");
    }

    // As connections close, new ones are served again.
    held.truncate(10);
    let served = async {
        loop {
            let mut stream = TcpStream::connect(app.addr).await.unwrap();
            let _ = stream.write_all(LIVENESS).await;
            let mut first = [0u8; 12];
            if stream.read_exact(&mut first).await.is_ok() {
                assert_eq!(&first, b"HTTP/1.1 200");
                return;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(DEADLINE, served)
        .await
        .expect("served again once connections closed");
    let refused = metric(app.addr, "http_connections_refused_total").await;
    assert!(refused >= 5.0, "{refused}");
}

#[tokio::test]
async fn a_kept_alive_connection_is_closed_after_the_idle_timeout() {
    // The header timeout far past the deadline: only the idle timer can close it in time.
    let app = spawn_app_with(&[
        "--http-idle-timeout-ms",
        "300",
        "--http-header-timeout-ms",
        "600000",
    ])
    .await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    for _ in 0..2 {
        let answer = exchange(&mut stream, LIVENESS).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "kept alive: {answer}");
    }
    let rest = read_to_close(&mut stream).await;
    assert!(rest.is_empty(), "{rest}");
}

/// The connection's timer is left at an earlier deadline when the deadline moves later (it is
/// not moved on every response); when it fires early it must move on, not close.
#[tokio::test]
async fn a_timer_left_at_an_earlier_deadline_does_not_close_a_busy_connection() {
    let app = spawn_app_with(&[
        "--http-idle-timeout-ms",
        "600000",
        "--http-header-timeout-ms",
        "200",
    ])
    .await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    // Silent for a moment, so the server's first read waits and arms the first head's deadline.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let answer = exchange(&mut stream, LIVENESS).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Past the first head's deadline (armed when the connection opened), well within idle.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let answer = exchange(&mut stream, LIVENESS).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "still open: {answer}");
}

#[tokio::test]
async fn a_kept_alive_connection_must_finish_a_head_it_began_within_the_header_timeout() {
    // The idle timeout far past the deadline: only the header timer can close it in time.
    let app = spawn_app_with(&[
        "--http-idle-timeout-ms",
        "600000",
        "--http-header-timeout-ms",
        "300",
    ])
    .await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let answer = exchange(&mut stream, LIVENESS).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    stream.write_all(b"GET /health/live").await.unwrap();
    let rest = read_to_close(&mut stream).await;
    assert!(rest.is_empty(), "{rest}");
}

#[tokio::test]
async fn a_request_slower_than_the_request_timeout_is_answered_with_the_json_503() {
    let app = spawn_app_with(&["--http-request-timeout-ms", "300"]).await;
    // The handler waits for a body that never comes.
    let mut stream = start_request_awaiting_body(app.addr, "/auth/signup", 100).await;
    // After the `100 Continue` (read above), the final answer.
    let answer = read_response(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{answer}"
    );
    assert_eq!(body_of(&answer)["type"], "ServiceUnavailableError");

    // Quick requests are unaffected.
    let mut fresh = TcpStream::connect(app.addr).await.unwrap();
    let answer = exchange(&mut fresh, b"GET /posts HTTP/1.1\r\nhost: t\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn past_the_in_flight_bound_requests_get_503_with_retry_after_and_probes_still_answer() {
    let app = spawn_app_with(&["--http-max-in-flight", "2"]).await;
    let body = |name: &str| {
        serde_json::json!({"email": format!("{name}@example.com"), "password": "password123", "username": name})
            .to_string()
    };
    let (a, b) = (body("held1"), body("held2"));
    // Two requests in their handlers (each waiting for its body) fill the bound.
    let mut first = start_request_awaiting_body(app.addr, "/auth/signup", a.len()).await;
    let mut second = start_request_awaiting_body(app.addr, "/auth/signup", b.len()).await;

    let mut surplus = TcpStream::connect(app.addr).await.unwrap();
    let answer = exchange(&mut surplus, b"GET /posts HTTP/1.1\r\nhost: t\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("\r\nretry-after: 1\r\n"),
        "{answer}"
    );
    assert_eq!(body_of(&answer)["type"], "ServiceUnavailableError");

    let mut probe = TcpStream::connect(app.addr).await.unwrap();
    let answer = exchange(&mut probe, LIVENESS).await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "liveness is never shed: {answer}"
    );
    let shed = metric(app.addr, "http_requests_shed_total").await;
    assert!(shed >= 1.0, "{shed}");

    for (stream, body) in [(&mut first, &a), (&mut second, &b)] {
        stream.write_all(body.as_bytes()).await.unwrap();
        let created = read_response(stream).await;
        assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    }
    let answer = exchange(&mut surplus, b"GET /posts HTTP/1.1\r\nhost: t\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "served again: {answer}");
}
