//! Concurrent load for the fault tests: workers send requests in a loop until stopped, each
//! with a client timeout, and record every answer with the phase of the test it was sent and
//! answered in. Shared by the `api_postgres` and `shared_tier` suites.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Client, RequestBuilder};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// An answer later than this is a hang: far above any bound the server keeps.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

/// Builds a worker's next request from the shared client; its name labels the outcome.
pub type Request = Arc<dyn Fn(&Client) -> (&'static str, RequestBuilder) + Send + Sync>;

/// What one request got.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub what: &'static str,
    /// The test's phase when it was sent and when its answer came.
    pub sent_in: u8,
    pub answered_in: u8,
    /// When it was sent.
    pub sent_at: Instant,
    /// How long its answer took.
    pub took: Duration,
    /// The status, or why there was none (a timeout: a hang).
    pub status: Result<u16, String>,
}

pub struct Load {
    phase: Arc<AtomicU8>,
    stop: CancellationToken,
    seen: Arc<Mutex<Vec<Outcome>>>,
    workers: Vec<JoinHandle<()>>,
}

impl Load {
    /// One worker per request maker, in phase 0, each pausing `pause` between requests (the
    /// machine running the test is also running the servers).
    pub fn start(requests: Vec<Request>, pause: Duration) -> Load {
        let client = Client::builder()
            .no_proxy()
            .timeout(CLIENT_TIMEOUT)
            .build()
            .unwrap();
        let phase = Arc::new(AtomicU8::new(0));
        let stop = CancellationToken::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let workers = requests
            .into_iter()
            .map(|make| {
                let (client, phase, stop) = (client.clone(), phase.clone(), stop.clone());
                let seen = seen.clone();
                tokio::spawn(async move {
                    while !stop.is_cancelled() {
                        let (what, request) = make(&client);
                        let sent_in = phase.load(Ordering::SeqCst);
                        let sent_at = Instant::now();
                        let status = match request.send().await {
                            Ok(res) => {
                                let status = res.status().as_u16();
                                // The whole body, so a response cut short counts as a failure.
                                match res.bytes().await {
                                    Ok(_) => Ok(status),
                                    Err(e) => Err(format!("body: {e}")),
                                }
                            }
                            Err(e) => Err(e.to_string()),
                        };
                        seen.lock().unwrap().push(Outcome {
                            what,
                            sent_in,
                            answered_in: phase.load(Ordering::SeqCst),
                            sent_at,
                            took: sent_at.elapsed(),
                            status,
                        });
                        tokio::time::sleep(pause).await;
                    }
                })
            })
            .collect();
        Load {
            phase,
            stop,
            seen,
            workers,
        }
    }

    pub fn set_phase(&self, phase: u8) {
        self.phase.store(phase, Ordering::SeqCst);
    }

    /// Waits until the answers so far satisfy `done`, checking every 50 ms, for at most
    /// `limit`; whether they did. For a phase that must last until something was seen in it
    /// (a request sent and answered in it), since how long one answer takes varies with load.
    pub async fn until(&self, limit: Duration, done: impl Fn(&[Outcome]) -> bool) -> bool {
        let end = Instant::now() + limit;
        loop {
            if done(&self.seen.lock().unwrap()) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the workers after the requests in flight are answered; every outcome.
    pub async fn stop(self) -> Vec<Outcome> {
        self.stop.cancel();
        for w in self.workers {
            w.await.unwrap();
        }
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

/// Fails on any request that got no answer (a hang, a connection dropped) or a status outside
/// `allowed`, listing a few.
pub fn assert_statuses(outcomes: &[Outcome], allowed: &[u16]) {
    let bad: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| !o.status.as_ref().is_ok_and(|s| allowed.contains(s)))
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} requests got no answer or one outside {allowed:?}, e.g. {:?}",
        bad.len(),
        outcomes.len(),
        &bad[..bad.len().min(5)]
    );
}
