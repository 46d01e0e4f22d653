//! One open `GET /stream` as raw HTTP/1.1 on a tokio socket: the response head, the chunked
//! body, and the SSE frames in it, each `post` reported with the instant it was read.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::{Created, Event};

/// How long a stream may take to connect and be answered.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// A response head larger than this is not the server's.
const MAX_HEAD: usize = 16 * 1024;

/// One stream, until the server or the run ends it.
pub(super) async fn stream(addr: SocketAddr, request: String, tx: mpsc::UnboundedSender<Event>) {
    let mut ready = false;
    let why = match read_stream(addr, &request, &tx, &mut ready).await {
        Ok(()) => "the server ended the stream".to_owned(),
        Err(e) => e.to_string(),
    };
    // The run may be over already, and then nobody is listening.
    let _ = tx.send(if ready {
        Event::Closed(why)
    } else {
        Event::Failed(why)
    });
}

async fn read_stream(
    addr: SocketAddr,
    request: &str,
    tx: &mpsc::UnboundedSender<Event>,
    ready: &mut bool,
) -> anyhow::Result<()> {
    let (mut socket, head, rest) = tokio::time::timeout(HEAD_TIMEOUT, async {
        let mut socket = TcpStream::connect(addr).await.context("connect")?;
        socket.set_nodelay(true)?;
        socket.write_all(request.as_bytes()).await?;
        let mut buf = Vec::with_capacity(1024);
        let end = loop {
            if let Some(end) = find(&buf, b"\r\n\r\n") {
                break end;
            }
            if buf.len() > MAX_HEAD {
                bail!("response head over {MAX_HEAD} bytes");
            }
            if socket.read_buf(&mut buf).await? == 0 {
                bail!("closed before a response head");
            }
        };
        let rest = buf.split_off(end + 4);
        anyhow::Ok((socket, String::from_utf8_lossy(&buf).into_owned(), rest))
    })
    .await
    .map_err(|_| anyhow!("no response head within {HEAD_TIMEOUT:?}"))??;
    let status = head.split(' ').nth(1).unwrap_or("");
    if status != "200" {
        let mut rest = rest;
        if rest.is_empty() {
            // The error body may follow the head in a later segment; it names the cause.
            let _ = tokio::time::timeout(Duration::from_secs(1), socket.read_buf(&mut rest)).await;
        }
        let body: String = String::from_utf8_lossy(&rest).chars().take(200).collect();
        bail!("HTTP {status}: {body}");
    }
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let mut raw = rest;
    let mut sse = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut buf = [0u8; 4096];
    let mut at = Instant::now();
    loop {
        let ended = if chunked {
            dechunk(&mut raw, &mut sse)?
        } else {
            sse.append(&mut raw);
            false
        };
        while let Some(end) = find(&sse, b"\n\n") {
            let frame: Vec<u8> = sse.drain(..end + 2).collect();
            let (kind, data) = parse_frame(&frame);
            match kind {
                Some("ready") if !*ready => {
                    *ready = true;
                    let _ = tx.send(Event::Ready);
                }
                Some("post") => {
                    let post: Created =
                        serde_json::from_str(data.unwrap_or("")).context("a post event's data")?;
                    // An event may come twice (the API allows it); the first one counts.
                    if !seen.contains(&post.id) {
                        seen.push(post.id.clone());
                        let _ = tx.send(Event::Delivered { post: post.id, at });
                    }
                }
                _ => {}
            }
        }
        if ended {
            return Ok(());
        }
        let n = socket.read(&mut buf).await?;
        at = Instant::now();
        if n == 0 {
            return Ok(());
        }
        raw.extend_from_slice(&buf[..n]);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Moves the complete chunks of a chunked body from `raw` to `out`; `true` at the last chunk.
fn dechunk(raw: &mut Vec<u8>, out: &mut Vec<u8>) -> anyhow::Result<bool> {
    loop {
        let Some(line_end) = find(raw, b"\r\n") else {
            return Ok(false);
        };
        let line = std::str::from_utf8(&raw[..line_end]).context("a chunk size line")?;
        let hex = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(hex, 16).with_context(|| format!("chunk size {hex:?}"))?;
        if size == 0 {
            return Ok(true);
        }
        let start = line_end + 2;
        if raw.len() < start + size + 2 {
            return Ok(false);
        }
        out.extend_from_slice(&raw[start..start + size]);
        raw.drain(..start + size + 2);
    }
}

/// An SSE frame's `event:` and `data:` (one data line is all this server sends).
fn parse_frame(frame: &[u8]) -> (Option<&str>, Option<&str>) {
    let text = std::str::from_utf8(frame).unwrap_or("");
    let mut kind = None;
    let mut data = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            kind = Some(v.trim());
        } else if let Some(v) = line.strip_prefix("data:") {
            data = Some(v.trim_start());
        }
    }
    (kind, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_split_anywhere_decode_to_the_frames() {
        let body = b"1f\r\nid: 1-0\nevent: ready\ndata: {}\n\n\r\n5\r\n: hea\r\n8\r\nrtbeat\n\n\r\n0\r\n\r\n";
        for cut in 0..body.len() {
            let mut raw = body[..cut].to_vec();
            let mut out = Vec::new();
            let mut ended = dechunk(&mut raw, &mut out).unwrap();
            raw.extend_from_slice(&body[cut..]);
            ended |= dechunk(&mut raw, &mut out).unwrap();
            assert!(ended, "cut at {cut}");
            assert_eq!(out, b"id: 1-0\nevent: ready\ndata: {}\n\n: heartbeat\n\n");
        }
    }

    #[test]
    fn frames_give_their_event_and_data() {
        let (k, d) = parse_frame(b"id: 3-1\nevent: post\ndata: {\"id\":\"p\"}\n\n");
        assert_eq!((k, d), (Some("post"), Some("{\"id\":\"p\"}")));
        assert_eq!(parse_frame(b": heartbeat\n\n"), (None, None));
    }
}
