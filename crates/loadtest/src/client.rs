//! HTTP calls that record themselves: every request goes through [`Caller::call`], which times
//! it (to the last byte of the body), classifies the outcome and adds both to the stats.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::HeaderValue;
use reqwest::{Method, Url};
use serde_json::Value;

use crate::stats::{Outcome, Stats, Step};

/// The shared HTTP client: one connection pool for every virtual user, as a load balancer in
/// front of the server would see many clients multiplexed over its own connections.
pub struct Http {
    client: reqwest::Client,
    base: String,
    pub stats: Arc<Stats>,
    forwarded_for: bool,
}

impl Http {
    pub fn new(
        base: &Url,
        timeout: Duration,
        forwarded_for: bool,
        stats: Arc<Stats>,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            // Never through a proxy from the environment: the target was checked to be loopback.
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Http {
            client,
            base: base.as_str().trim_end_matches('/').to_string(),
            stats,
            forwarded_for,
        })
    }

    /// A caller presenting client address number `n` (a virtual user, a pool account).
    pub fn caller(self: &Arc<Self>, n: u64) -> Caller {
        let xff = self
            .forwarded_for
            .then(|| HeaderValue::from_str(&client_address(n)).ok())
            .flatten();
        Caller {
            http: Arc::clone(self),
            xff,
        }
    }
}

/// `10.0.0.1`, `10.0.0.2`, …: a private address per simulated client, so a server that trusts
/// this tool as its proxy (`TRUSTED_PROXIES=127.0.0.1`) rate-limits each one on its own. It is
/// only ever a header value: nothing is sent to these addresses.
pub fn client_address(n: u64) -> String {
    // 10.0.0.0/8 minus its first and last address.
    let host = (n % 0x00ff_fffe) + 1;
    format!(
        "10.{}.{}.{}",
        (host >> 16) & 0xff,
        (host >> 8) & 0xff,
        host & 0xff
    )
}

/// One request to make, built with the chainable methods below.
pub struct Req<'a> {
    step: &'a Step,
    method: Method,
    path: String,
    token: Option<&'a str>,
    body: Option<Value>,
    want: u16,
    expected: &'a [u16],
    since: Option<Instant>,
}

impl<'a> Req<'a> {
    pub fn new(step: &'a Step, method: Method, path: impl Into<String>) -> Self {
        Req {
            step,
            method,
            path: path.into(),
            token: None,
            body: None,
            want: 200,
            expected: &[],
            since: None,
        }
    }
    pub fn get(step: &'a Step, path: impl Into<String>) -> Self {
        Req::new(step, Method::GET, path)
    }
    pub fn post(step: &'a Step, path: impl Into<String>, body: Value) -> Self {
        Req::new(step, Method::POST, path).body(body).want(201)
    }
    pub fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
    pub fn auth(mut self, token: &'a str) -> Self {
        self.token = Some(token);
        self
    }
    pub fn want(mut self, status: u16) -> Self {
        self.want = status;
        self
    }
    /// Statuses that are normal answers here (not errors), though not the one wanted.
    pub fn expected(mut self, statuses: &'a [u16]) -> Self {
        self.expected = statuses;
        self
    }
    /// Time from this instant (an open model's scheduled arrival) rather than from the send,
    /// so that lateness of the client itself is not hidden from the figures.
    pub fn since(mut self, t: Instant) -> Self {
        self.since = Some(t);
        self
    }
}

/// What came back; `ok` is the wanted status.
pub struct Reply {
    pub status: u16,
    pub ok: bool,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

#[derive(Clone)]
pub struct Caller {
    http: Arc<Http>,
    xff: Option<HeaderValue>,
}

impl Caller {
    pub fn stats(&self) -> &Stats {
        &self.http.stats
    }

    /// Sends, records, and returns the reply (None when there was no response at all).
    pub async fn call(&self, req: Req<'_>) -> Option<Reply> {
        let url = format!("{}{}", self.http.base, req.path);
        let mut rb = self.http.client.request(req.method, url);
        if let Some(xff) = &self.xff {
            rb = rb.header("x-forwarded-for", xff.clone());
        }
        if let Some(t) = req.token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = &req.body {
            rb = rb.json(b);
        }
        let start = req.since.unwrap_or_else(Instant::now);
        let result = match rb.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                resp.bytes().await.map(|b| (status, b.to_vec()))
            }
            Err(e) => Err(e),
        };
        let elapsed = start.elapsed();
        match result {
            Ok((status, body)) => {
                let ok = status == req.want;
                let outcome = if ok {
                    Outcome::Ok(status)
                } else if req.expected.contains(&status) {
                    Outcome::Expected(status)
                } else {
                    Outcome::Unexpected(status)
                };
                self.http.stats.record(req.step, elapsed, outcome);
                Some(Reply { status, ok, body })
            }
            Err(e) => {
                let kind = if e.is_timeout() {
                    "timeout"
                } else if e.is_connect() {
                    "connect"
                } else if e.is_body() || e.is_decode() {
                    "body"
                } else {
                    "request"
                };
                self.http
                    .stats
                    .record(req.step, elapsed, Outcome::Transport(kind));
                None
            }
        }
    }
}

/// The usernames and ids a scenario learns from timelines, for profile views and follows.
pub fn authors_of(page: &Value) -> Vec<(String, String)> {
    page.get("posts")
        .and_then(Value::as_array)
        .map(|posts| {
            posts
                .iter()
                .filter_map(|p| {
                    let id = p.get("authorId")?.as_str()?;
                    let name = p.get("author")?.get("username")?.as_str()?;
                    Some((id.to_string(), name.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_addresses_are_private_and_distinct() {
        assert_eq!(client_address(0), "10.0.0.1");
        assert_eq!(client_address(255), "10.0.1.0");
        assert_eq!(client_address(9_999), "10.0.39.16");
        assert_ne!(client_address(1), client_address(2));
    }
}
