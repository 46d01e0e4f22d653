//! SIGTERM on the real binary: what a client sees while it drains, and that it ends.
//!
//! What the server does on SIGTERM: `/health/readiness` turns 503 and every new request is
//! answered 503 (`Retry-After`, connection closed) at once, on new connections and on open
//! keep-alive ones, while the requests already started are answered; once they are, the
//! listener closes and the process exits — or at `SHUTDOWN_GRACE_SECONDS`, whichever is first.

use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::support::{
    kill, read_to_close, read_until, start, start_request_awaiting_body, wait_until_refused,
};

const DRAINING: &str = "shutting down: draining in-flight requests";
const CUT_OFF: &str = "grace period over; dropping the connections still open";

fn body_of(response: &str) -> Value {
    let (_, body) = response.split_once("\r\n\r\n").unwrap();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
}

/// Sends one request on `stream` and reads the answer up to the connection's close: a request
/// refused for the drain must close its connection.
async fn refused_for_the_drain(stream: &mut TcpStream, request: &[u8]) -> String {
    stream.write_all(request).await.unwrap();
    let answer = read_to_close(stream).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("\r\nretry-after: 1\r\n"),
        "{answer}"
    );
    answer
}

#[tokio::test]
async fn sigterm_answers_requests_in_flight_refuses_new_ones_with_503_and_exits_cleanly() {
    // A grace period far past the test's own deadline: exiting at all shows the drain ended
    // because the requests did, not because the cut-off struck.
    let mut server = start(&[("SHUTDOWN_GRACE_SECONDS", "600")]).await;
    let addr = server.addr;

    // A keep-alive connection that has served a request and sits idle.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /health/readiness HTTP/1.1\r\nhost: e2e\r\n\r\n")
        .await
        .unwrap();
    let ready = read_until(&mut idle, b"\"ready\"").await;
    assert!(ready.starts_with(b"HTTP/1.1 200"));

    // A signup whose body has not been sent yet; its handler is waiting for it.
    let body =
        json!({"email": "drain@example.com", "password": "password123", "username": "drain"})
            .to_string();
    let mut in_flight = start_request_awaiting_body(addr, "/auth/signup", body.len()).await;

    kill(server.pid(), "TERM");
    server.wait_for_log(|l| l["message"] == DRAINING).await;

    // New work during the drain: on the open keep-alive connection and on new connections.
    let answer =
        refused_for_the_drain(&mut idle, b"GET /posts HTTP/1.1\r\nhost: e2e\r\n\r\n").await;
    assert_eq!(body_of(&answer)["type"], "ServiceUnavailableError");
    let mut fresh = TcpStream::connect(addr).await.unwrap();
    let answer = refused_for_the_drain(
        &mut fresh,
        b"POST /auth/login HTTP/1.1\r\nhost: e2e\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
    )
    .await;
    assert_eq!(body_of(&answer)["type"], "ServiceUnavailableError");
    let mut probe = TcpStream::connect(addr).await.unwrap();
    probe
        .write_all(b"GET /health/readiness HTTP/1.1\r\nhost: e2e\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let not_ready = read_to_close(&mut probe).await;
    assert!(not_ready.starts_with("HTTP/1.1 503"), "{not_ready}");
    assert_eq!(
        body_of(&not_ready),
        json!({"status": "not ready", "error": "shutting down"})
    );

    in_flight.write_all(body.as_bytes()).await.unwrap();
    let created = read_to_close(&mut in_flight).await;
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    assert_eq!(body_of(&created)["user"]["username"], "drain");

    // With the last admitted request answered the listener closes and the process ends.
    wait_until_refused(addr).await;
    let status = server.wait_exit().await;
    assert!(status.success(), "exit status {status}");
    let output = server.all_output();
    assert!(
        output.iter().any(|l| l.contains("\"stopped\"")),
        "{output:#?}"
    );
    assert!(!output.iter().any(|l| l.contains(CUT_OFF)), "{output:#?}");
}

#[tokio::test]
async fn the_grace_period_ends_the_process_despite_a_request_that_never_completes() {
    // Real time: the cut-off is a wall-clock timer in the binary; one second keeps the test short.
    let mut server = start(&[("SHUTDOWN_GRACE_SECONDS", "1")]).await;
    let mut stuck = start_request_awaiting_body(server.addr, "/auth/signup", 100).await;

    kill(server.pid(), "TERM");
    server.wait_for_log(|l| l["message"] == DRAINING).await;
    let cut_off = server.wait_for_log(|l| l["message"] == CUT_OFF).await;
    assert_eq!(cut_off["level"], "WARN");

    let status = server.wait_exit().await;
    assert!(status.success(), "exit status {status}");
    let rest = read_to_close(&mut stuck).await;
    assert!(
        !rest.contains("HTTP/1.1"),
        "no answer to a body never sent: {rest}"
    );
}

/// Ctrl-C (SIGINT) starts the same drain as SIGTERM.
#[tokio::test]
async fn sigint_drains_like_sigterm() {
    let mut server = start(&[("SHUTDOWN_GRACE_SECONDS", "600")]).await;
    kill(server.pid(), "INT");
    server.wait_for_log(|l| l["message"] == DRAINING).await;
    let status = server.wait_exit().await;
    assert!(status.success(), "exit status {status}");
    assert!(!server.all_output().iter().any(|l| l.contains(CUT_OFF)));
}

/// Issue 11: SIGTERM under load. Sixteen clients post and read as fast as they can on
/// keep-alive connections while SIGTERM arrives. Every request is answered: 2xx, or, once the
/// drain has begun, the drain's 503; none is cut off and none is a 500. Each client stops at its
/// first 503, as a client honouring `Retry-After` would. A signup held open across the signal
/// (its body sent only once every client has stopped) keeps the drain going, so no client can
/// race the listener's close; it is answered 201, and the process then exits 0 on its own, long
/// before the grace period.
#[tokio::test]
async fn sigterm_under_load_answers_every_request_in_flight_and_exits_0() {
    let mut server = start(&[
        ("SHUTDOWN_GRACE_SECONDS", "600"),
        ("RATE_LIMIT_GENERAL", "1000000/1s"),
        ("RATE_LIMIT_POST", "1000000/1s"),
        ("RATE_LIMIT_SIGNUP", "1000000/1s"),
    ])
    .await;
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();
    let mut tokens = Vec::new();
    for i in 0..16 {
        let res = client
            .post(format!("{base}/auth/signup"))
            .json(&json!({
                "email": format!("load{i}@example.com"),
                "password": "password123",
                "username": format!("load{i}"),
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        tokens.push(body["token"].as_str().unwrap().to_owned());
    }
    let held_body =
        json!({"email": "held@example.com", "password": "password123", "username": "held"})
            .to_string();
    let mut held = start_request_awaiting_body(server.addr, "/auth/signup", held_body.len()).await;

    let workers: Vec<_> = tokens
        .into_iter()
        .enumerate()
        .map(|(i, token)| {
            let (client, base) = (client.clone(), base.clone());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                for n in 0.. {
                    let request = if n % 2 == 0 {
                        client
                            .post(format!("{base}/posts"))
                            .bearer_auth(&token)
                            .json(&json!({"content": format!("load {i} {n}")}))
                    } else {
                        client.get(format!("{base}/posts?limit=5"))
                    };
                    let res = request
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("client {i}, request {n}: no answer: {e}"));
                    let status = res.status().as_u16();
                    // The whole body too: an answer cut off midway is not an answer.
                    res.text()
                        .await
                        .unwrap_or_else(|e| panic!("client {i}, request {n}: cut off: {e}"));
                    statuses.push(status);
                    if status == 503 {
                        break;
                    }
                }
                statuses
            })
        })
        .collect();

    // Let the load run, then signal in its middle.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    kill(server.pid(), "TERM");

    let mut answered = 0;
    for worker in workers {
        let statuses = worker.await.unwrap();
        answered += statuses.len();
        for status in &statuses {
            assert!(
                (200..300).contains(status) || *status == 503,
                "{status} in {statuses:?}"
            );
        }
    }
    assert!(answered > 32, "the load ran ({answered} requests)");

    held.write_all(held_body.as_bytes()).await.unwrap();
    let created = read_to_close(&mut held).await;
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    let status = server.wait_exit().await;
    assert!(status.success(), "exit status {status}");
    let output = server.all_output();
    assert!(output.iter().any(|l| l.contains(DRAINING)), "{output:#?}");
    assert!(!output.iter().any(|l| l.contains(CUT_OFF)), "{output:#?}");
}
