//! Test support (feature `testing`): which Redis the tests use, and redis-server processes a
//! test starts itself (one node or a three-node cluster), killed when dropped — on a panic too.
//!
//! Gating: `SOCIALSCALE_TEST_REDIS_URL` names the machine's Redis. Unset, tests needing Redis
//! skip (saying so once per test binary); set, Redis being unreachable or the `redis-server`
//! binary missing is a failure, never a skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::TcpListener;
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

/// A loopback port free now, whose cluster-bus port (+10000) is free too.
pub fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
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
    /// Starts a server with no persistence on a free loopback port and waits until it answers.
    pub fn start() -> Self {
        Self::start_on(free_port(), false)
    }

    fn start_on(port: u16, cluster: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut s = RedisServer {
            port,
            child: None,
            dir,
            cluster,
        };
        s.restart();
        s
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

    /// Starts it again on the same port, and waits until it answers.
    pub fn restart(&mut self) {
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
        self.child = Some(cmd.spawn().expect("cannot start redis-server"));
        wait_for(|| ping(self.port), "redis-server to answer");
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

fn ping(port: u16) -> bool {
    Command::new("redis-cli")
        .args(["-p", &port.to_string(), "ping"])
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"PONG"))
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
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| RedisServer::start_on(free_port(), true))
            .collect();
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
