//! A Server-Sent Events reader for the `GET /stream` tests: frames as they arrive, each read
//! bounded in time.

use std::time::Duration;

use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::Value;

/// One frame: an event (`event` set, `data` its JSON) or a comment (`event` empty, `data` the
/// comment's text).
#[derive(Clone, Debug)]
pub struct Frame {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

impl Frame {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }

    pub fn is_comment(&self) -> bool {
        self.event.is_empty()
    }
}

pub struct Sse {
    res: Response,
    buf: String,
}

/// How long a test waits for one frame it expects.
pub const WAIT: Duration = Duration::from_secs(10);

impl Sse {
    /// Sends `req`; the response if it is not a 200 event stream.
    pub async fn open(req: RequestBuilder) -> Result<Sse, Response> {
        let res = req.send().await.unwrap();
        let is_stream = res
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        if res.status() != StatusCode::OK || !is_stream {
            return Err(res);
        }
        Ok(Sse {
            res,
            buf: String::new(),
        })
    }

    /// [`Sse::open`], and reads up to its `ready` frame, returning the frames before it (a
    /// replay) and `ready` itself.
    pub async fn open_ready(req: RequestBuilder) -> (Sse, Vec<Frame>, Frame) {
        let mut sse = match Sse::open(req).await {
            Ok(s) => s,
            Err(res) => panic!(
                "no stream: {} {}",
                res.status(),
                res.text().await.unwrap_or_default()
            ),
        };
        let mut before = Vec::new();
        loop {
            let f = sse.event(WAIT).await.expect("a ready frame");
            if f.event == "ready" {
                return (sse, before, f);
            }
            before.push(f);
        }
    }

    /// The next frame, comments included; `None` on timeout or when the stream ended.
    pub async fn frame(&mut self, within: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let raw: String = self.buf.drain(..end + 2).collect();
                return Some(parse(&raw));
            }
            let chunk = tokio::time::timeout_at(deadline, self.res.chunk()).await;
            match chunk {
                Ok(Ok(Some(bytes))) => self.buf.push_str(std::str::from_utf8(&bytes).unwrap()),
                _ => return None,
            }
        }
    }

    /// The next event, skipping comments and heartbeats.
    pub async fn event(&mut self, within: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let f = self.frame(left).await?;
            if !f.is_comment() && f.event != "heartbeat" {
                return Some(f);
            }
        }
    }

    /// Whether the server ended the stream within `within` (events before the end skipped).
    #[allow(dead_code)] // Only the API suite drains an instance under a stream.
    pub async fn ends(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.res.chunk()).await {
                Ok(Ok(Some(_))) => continue,
                Ok(Ok(None)) | Ok(Err(_)) => return true,
                Err(_) => return false,
            }
        }
    }
}

fn parse(raw: &str) -> Frame {
    let mut f = Frame {
        id: None,
        event: String::new(),
        data: String::new(),
    };
    for line in raw.lines() {
        if let Some(c) = line.strip_prefix(':') {
            f.data = c.trim().to_owned();
        } else if let Some(v) = line.strip_prefix("id: ") {
            f.id = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("event: ") {
            f.event = v.to_owned();
        } else if let Some(v) = line.strip_prefix("data: ") {
            f.data = v.to_owned();
        }
    }
    f
}
