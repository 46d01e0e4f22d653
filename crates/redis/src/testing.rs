//! Test support (feature `testing`): which Redis the tests use, and redis-server processes a
//! test starts itself (one node or a three-node cluster), killed when dropped — on a panic too.
//!
//! Gating: `SOCIALSCALE_TEST_REDIS_URL` names the machine's Redis. Unset, tests needing Redis
//! skip (saying so once per test binary); set, Redis being unreachable or the `redis-server`
//! binary missing is a failure, never a skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

pub const ENV: &str = "SOCIALSCALE_TEST_REDIS_URL";

static SKIP_NOTICE: Once = Once::new();

fn skip(what: &str) {
    SKIP_NOTICE.call_once(|| {
        // Straight to stderr: the test harness captures `eprintln!` of passing tests.
        let _ = writeln!(
            std::io::stderr(),
            "{ENV} is unset: skipping tests that need Redis ({what})"
        );
    });
}

/// The machine's Redis, checked reachable; `None` (after the skip notice) when not configured.
pub async fn redis_url() -> Option<String> {
    let url = match std::env::var(ENV) {
        Ok(u) if !u.trim().is_empty() => u,
        _ => {
            skip("no URL");
            return None;
        }
    };
    let client =
        redis::Client::open(url.as_str()).expect("SOCIALSCALE_TEST_REDIS_URL is not a valid URL");
    let ping = async {
        let mut c = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<()>(&mut c).await
    };
    match tokio::time::timeout(Duration::from_secs(5), ping).await {
        Ok(Ok(())) => Some(url),
        Ok(Err(e)) => panic!("{ENV}={url} is set but Redis is unreachable: {e}"),
        Err(_) => panic!("{ENV}={url} is set but Redis did not answer within 5 s"),
    }
}

/// Whether tests may start their own redis-server: `false` (skip) only when the binary is
/// missing and no Redis is configured; missing while configured is a failure.
pub fn can_start_servers() -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return true;
    }
    if std::env::var(ENV).is_ok_and(|u| !u.trim().is_empty()) {
        panic!("{ENV} is set but the redis-server binary is not on PATH");
    }
    skip("no redis-server binary");
    false
}

/// A port to try a server on: 10000–15999, so its cluster-bus port (+10000) is 20000–25999.
/// Both lie below the kernel's ephemeral range (32768 and up on Linux), where no client socket
/// or port-0 listener lands, and apart from the private PostgreSQL servers of the postgres
/// crate's tests (26000–31999). Random, so parallel tests rarely pick the same one, and when
/// they do the loser fails to bind and tries another. Never probed and released: that races.
fn candidate_port() -> u16 {
    let r = uuid::Uuid::new_v4().as_u128();
    10_000 + u16::try_from(r % 6_000).unwrap()
}

/// A loopback port that refuses connections for as long as this lives: bound but never
/// listening, so nothing else can take it meanwhile (a port probed free and released could be
/// taken by another test's server before it is used).
pub struct ClosedPort {
    pub port: u16,
    _socket: tokio::net::TcpSocket,
}

impl ClosedPort {
    pub fn new() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
        let port = socket.local_addr().unwrap().port();
        ClosedPort {
            port,
            _socket: socket,
        }
    }
}

impl Default for ClosedPort {
    fn default() -> Self {
        Self::new()
    }
}

/// A redis-server child process, killed on drop.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
    cluster: bool,
}

impl RedisServer {
    /// Starts a server with no persistence on a loopback port and waits until it answers.
    pub fn start() -> Self {
        Self::start_new(false)
    }

    /// Tries ports until one binds: a port another server holds makes ours exit at once.
    fn start_new(cluster: bool) -> Self {
        Self::start_picking(candidate_port, cluster)
    }

    fn start_picking(mut pick: impl FnMut() -> u16, cluster: bool) -> Self {
        for _ in 0..20 {
            let mut s = RedisServer {
                port: pick(),
                child: None,
                // A fresh one per try: a cluster node's nodes.conf names its port.
                dir: tempfile::tempdir().unwrap(),
                cluster,
            };
            if s.launch() {
                return s;
            }
        }
        panic!("redis-server could not bind any of 20 random loopback ports");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the process (Redis becomes unreachable; its data is gone).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Freezes the process (`SIGSTOP`): connections stay open but nothing is answered, like a
    /// hung server or a silently dropped route.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Undoes [`RedisServer::pause`] (`SIGCONT`).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let pid = self
            .child
            .as_ref()
            .expect("redis-server is not running")
            .id();
        let status = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .expect("cannot run kill");
        assert!(status.success(), "kill {sig} {pid} failed");
    }

    /// Starts it again on the same port, and waits until it answers. The port was ours a moment
    /// ago and lies outside the ephemeral range, so only another test's random pick landing on
    /// it in between could take it; that fails here loudly rather than being retried, since the
    /// point of a restart is the same address.
    pub fn restart(&mut self) {
        assert!(
            self.launch(),
            "redis-server could not bind port {} again on restart",
            self.port
        );
    }

    /// Spawns redis-server on `self.port`: `true` once this very process answers, `false` when
    /// it exited (it could not bind). The answer is matched by process id, since a server of
    /// another test on the same port would answer PING too.
    fn launch(&mut self) -> bool {
        self.stop();
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.cluster {
            cmd.args(["--cluster-enabled", "yes", "--cluster-config-file"])
                .arg(self.dir.path().join("nodes.conf"));
        }
        // Held in `self` at once, so a panic below still kills it on drop.
        let child = self
            .child
            .insert(cmd.spawn().expect("cannot start redis-server"));
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.child.as_mut().unwrap().try_wait().unwrap().is_some() {
                self.child = None;
                return false;
            }
            if served_by(self.port, pid) {
                return true;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for redis-server to answer on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether the server answering on `port` is the process `pid`: its `INFO server` says so.
/// Plain TCP with timeouts, not redis-cli: whatever else holds the port (another test's server
/// of any kind) must not be able to hang the wait.
fn served_by(port: u16, pid: u32) -> bool {
    let ask = || -> std::io::Result<bool> {
        let timeout = Duration::from_millis(500);
        let mut conn = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout)?;
        conn.set_read_timeout(Some(timeout))?;
        conn.write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")?;
        let want = format!("\r\nprocess_id:{pid}\r\n");
        let (mut seen, mut buf) = (Vec::new(), [0_u8; 4096]);
        loop {
            let n = conn.read(&mut buf)?;
            if n == 0 {
                return Ok(false);
            }
            seen.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&seen);
            if text.contains(&want) {
                return Ok(true);
            }
            if text.contains("\r\nprocess_id:") && text.ends_with("\r\n\r\n") {
                return Ok(false);
            }
        }
    };
    ask().unwrap_or(false)
}

fn wait_for(mut ok: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Three masters in cluster mode, no replicas; every node killed on drop.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..3).map(|_| RedisServer::start_new(true)).collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("cannot run redis-cli");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {out:?}"
        );
        for n in &nodes {
            wait_for(
                || {
                    Command::new("redis-cli")
                        .args(["-p", &n.port.to_string(), "cluster", "info"])
                        .output()
                        .is_ok_and(|o| {
                            String::from_utf8_lossy(&o.stdout).contains("cluster_state:ok")
                        })
                },
                "the cluster to be ok",
            );
        }
        RedisCluster { nodes }
    }

    /// `REDIS_URL` for this cluster.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port someone else holds is given up for another, and the server found is ours.
    #[test]
    fn a_server_whose_port_is_taken_starts_on_another() {
        if !can_start_servers() {
            return;
        }
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let mut picks = std::iter::once(port).chain(std::iter::repeat_with(candidate_port));
        let server = RedisServer::start_picking(|| picks.next().unwrap(), false);
        assert_ne!(server.port, port);
        let pid = server.child.as_ref().unwrap().id();
        assert!(served_by(server.port, pid));
        assert!(
            !served_by(port, pid),
            "the holder of the taken port is not ours"
        );
    }
}
