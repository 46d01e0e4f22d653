//! `socialscale healthcheck`: one HTTP/1.1 GET over a plain socket, for a container image
//! that has no shell or curl (`deploy/Dockerfile`'s `HEALTHCHECK`). Synchronous and
//! dependency-free on purpose: it runs every few seconds, so it starts no runtime.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// GETs `url` (`http://host[:port][/path]`) and returns the status line when it is a 200.
/// Every step (name lookup aside, which the OS bounds) shares the one `timeout`.
pub fn healthcheck(url: &str, timeout: Duration) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err("the URL has no host".into());
    }
    // A port follows the last ':' unless that ':' is inside an IPv6 literal's brackets.
    let has_port = authority
        .rfind(':')
        .is_some_and(|i| !authority[i..].contains(']'));
    let target = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let addrs: Vec<_> = target
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {target}: {e}"))?
        .collect();
    let mut last_error = format!("{target} resolved to no address");
    for addr in addrs {
        let Some(left) = remaining(deadline) else {
            break;
        };
        match TcpStream::connect_timeout(&addr, left) {
            Ok(stream) => return get(stream, authority, path, deadline),
            Err(e) => last_error = format!("connect {addr}: {e}"),
        }
    }
    Err(last_error)
}

fn remaining(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
}

fn get(
    mut stream: TcpStream,
    authority: &str,
    path: &str,
    deadline: Instant,
) -> Result<String, String> {
    let timed_out = || "no answer within the timeout".to_owned();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: socialscale-healthcheck\r\n\
         Connection: close\r\n\r\n"
    );
    stream
        .set_write_timeout(Some(remaining(deadline).ok_or_else(timed_out)?))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    // Only the status line matters; a bounded read keeps a misbehaving peer from feeding us.
    let mut head = Vec::new();
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") {
        if head.len() > 4096 {
            return Err("no status line in the first 4 KiB".into());
        }
        stream
            .set_read_timeout(Some(remaining(deadline).ok_or_else(timed_out)?))
            .map_err(|e| e.to_string())?;
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(timed_out());
            }
            Err(e) => return Err(format!("read: {e}")),
        };
        if n == 0 {
            return Err("the connection closed before a status line".into());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let status_line = head.lines().next().unwrap_or_default().trim().to_owned();
    let mut parts = status_line.split(' ');
    match (parts.next(), parts.next()) {
        (Some(version), Some("200")) if version.starts_with("HTTP/1.") => Ok(status_line),
        _ => Err(format!("answered {status_line:?}")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::healthcheck;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::Duration;

    const TIMEOUT: Duration = Duration::from_secs(5);

    /// A one-connection server that answers `reply` (or nothing, when `None`) after reading
    /// the request head, and hands the request back.
    fn serve_once(reply: Option<&'static str>) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 512];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = conn.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            match reply {
                Some(reply) => conn.write_all(reply.as_bytes()).unwrap(),
                // Hold the connection open, silent, until the client gives up.
                None => {
                    let _ = conn.read(&mut buf);
                }
            }
            String::from_utf8(got).unwrap()
        });
        (format!("127.0.0.1:{port}"), handle)
    }

    #[test]
    fn a_200_passes_and_the_request_is_a_plain_get() {
        let (addr, server) = serve_once(Some("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"));
        let line = healthcheck(&format!("http://{addr}/health/liveness"), TIMEOUT).unwrap();
        assert_eq!(line, "HTTP/1.1 200 OK");
        let request = server.join().unwrap();
        assert!(
            request.starts_with("GET /health/liveness HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(request.contains(&format!("Host: {addr}\r\n")), "{request}");
    }

    #[test]
    fn any_other_status_fails() {
        for reply in [
            "HTTP/1.1 503 Service Unavailable\r\n\r\n",
            "HTTP/1.1 204 No Content\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
            "SSH-2.0-OpenSSH\r\n",
        ] {
            let (addr, server) = serve_once(Some(reply));
            let err = healthcheck(&format!("http://{addr}/"), TIMEOUT).unwrap_err();
            assert!(err.starts_with("answered "), "{reply:?}: {err}");
            server.join().unwrap();
        }
    }

    #[test]
    fn a_silent_peer_fails_within_the_timeout() {
        let (addr, server) = serve_once(None);
        let started = std::time::Instant::now();
        let err = healthcheck(&format!("http://{addr}/"), Duration::from_millis(300)).unwrap_err();
        assert!(err.contains("timeout"), "{err}");
        assert!(started.elapsed() < TIMEOUT, "{:?}", started.elapsed());
        server.join().unwrap();
    }

    #[test]
    fn a_closed_port_and_a_bad_url_fail() {
        // Bound, never listening: a connect is refused, not hung.
        let closed = redis_adapter::testing::ClosedPort::new();
        let err = healthcheck(&format!("http://127.0.0.1:{}/", closed.port), TIMEOUT).unwrap_err();
        assert!(err.starts_with("connect "), "{err}");
        assert!(healthcheck("https://127.0.0.1/", TIMEOUT).is_err());
        assert!(healthcheck("http:///path", TIMEOUT).is_err());
    }

    #[test]
    fn a_name_is_resolved() {
        let (addr, server) = serve_once(Some("HTTP/1.0 200 OK\r\n\r\n"));
        let port = addr.rsplit(':').next().unwrap();
        healthcheck(&format!("http://localhost:{port}"), TIMEOUT).unwrap();
        assert!(server.join().unwrap().starts_with("GET / HTTP/1.1\r\n"));
    }
}
