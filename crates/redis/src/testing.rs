//! Test support (feature `testing`): which Redis the tests use, and redis-server processes a
//! test starts itself (one node or a three-node cluster), killed when dropped — on a panic too.
//!
//! Gating: `SOCIALSCALE_TEST_REDIS_URL` names the machine's Redis. Unset, tests needing Redis
//! skip (saying so once per test binary); set, Redis being unreachable or the `redis-server`
//! binary missing is a failure, never a skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
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

/// A port to try a server on. Below the kernel's ephemeral range (32768 and up on Linux), with
/// its cluster-bus port (+10000) too, so no client socket or port-0 listener lands on either;
/// random, so parallel tests rarely pick the same one, and when they do the loser fails to
/// bind and [`RedisServer::start`] tries another. Never probed and released: that races.
fn candidate_port() -> u16 {
    let r = uuid::Uuid::new_v4().as_u128();
    12_000 + u16::try_from(r % 10_000).unwrap()
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
        for _ in 0..20 {
            let mut s = RedisServer {
                port: candidate_port(),
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

/// Whether the server answering on `port` is the process `pid`.
fn served_by(port: u16, pid: u32) -> bool {
    let want = format!("process_id:{pid}");
    Command::new("redis-cli")
        .args(["-p", &port.to_string(), "info", "server"])
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == want)
        })
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
