//! A private PostgreSQL primary and a streaming standby, started by a test from the binaries of
//! `pg_config --bindir`, for what the machine's shared server cannot show (where a read went on
//! a real replica, a replica going away). Everything is stopped and its directory removed on
//! drop, a panic included.
//!
//! Gating, as for the shared server: the binaries missing is a skip (one line per test binary)
//! when `SOCIALSCALE_TEST_POSTGRES_URL` is unset, and a failure when it is set. initdb refuses
//! to run as root, so as root every server command runs as the `postgres` OS user.
//!
//! Every call blocks on child processes: from async code, run it on `spawn_blocking`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use super::process::{find_bin, run, running_as_root};
use super::ENV;

static SKIP_NOTICE: Once = Once::new();

/// How long a wait on the servers (start, catch-up) may take before the test fails; only
/// reached when something is broken.
const PATIENCE: Duration = Duration::from_secs(30);

/// A primary, optionally a standby streaming from it; both on loopback ports, with their unix
/// sockets in a directory of their own.
#[derive(Debug)]
pub struct LocalCluster {
    bin: PathBuf,
    /// Owned by the user the servers run as; holds both data directories and the sockets.
    root: PathBuf,
    /// `Some("postgres")` when running as root.
    run_as: Option<&'static str>,
    primary: Node,
    standby: Option<Node>,
}

#[derive(Debug)]
struct Node {
    data: PathBuf,
    port: u16,
    /// Set before `pg_ctl start` is even tried, so a half-started server is stopped on drop.
    started: bool,
}

impl LocalCluster {
    /// Initialises and starts a primary. `Ok(None)` (skip) when the binaries are missing and no
    /// test server is configured; see the module doc.
    pub fn start() -> Result<Option<LocalCluster>, String> {
        Self::start_trying(None)
    }

    /// [`LocalCluster::start`], with the primary trying `first` before random ports.
    fn start_trying(first: Option<u16>) -> Result<Option<LocalCluster>, String> {
        let configured = std::env::var(ENV).is_ok_and(|v| !v.trim().is_empty());
        let bin = match find_bin() {
            Ok(bin) => bin,
            Err(why) if configured => return Err(format!("{ENV} is set but {why}")),
            Err(why) => {
                SKIP_NOTICE.call_once(|| {
                    // Straight to the stream: the harness captures `eprintln!` of passing tests.
                    let _ = writeln!(
                        std::io::stderr(),
                        "note: {why}: skipping the tests that start their own PostgreSQL"
                    );
                });
                return Ok(None);
            }
        };
        let run_as = running_as_root().then_some("postgres");
        let mut suffix = uuid::Uuid::new_v4().simple().to_string();
        suffix.truncate(12);
        let root = std::env::temp_dir().join(format!("ss-pg-{suffix}"));
        std::fs::create_dir(&root).map_err(|e| format!("create {}: {e}", root.display()))?;
        let mut cluster = LocalCluster {
            bin,
            primary: Node {
                data: root.join("primary"),
                port: 0,
                started: false,
            },
            root,
            run_as,
            standby: None,
        };
        if let Some(user) = run_as {
            let mut chown = Command::new("chown");
            chown.arg(format!("{user}:")).arg(&cluster.root);
            run(chown)?;
        }
        let mut initdb = cluster.command("initdb");
        initdb.arg("-D").arg(&cluster.primary.data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(initdb)?;
        let data = cluster.primary.data.clone();
        cluster.primary.started = true;
        cluster.primary.port = cluster.launch(&data, first)?;
        Ok(Some(cluster))
    }

    /// Makes a standby with `pg_basebackup -R` from the primary, starts it, and returns once the
    /// primary reports it streaming.
    pub fn add_standby(&mut self) -> Result<(), String> {
        self.add_standby_with("")
    }

    /// [`LocalCluster::add_standby`], for a standby that replays each commit only `delay` after
    /// the primary made it (`recovery_min_apply_delay`), from its very start: it holds what the
    /// primary had at the copy, and nothing committed later until the delay is over (or lifted
    /// with [`LocalCluster::delay_standby_replay`]).
    pub fn add_delayed_standby(&mut self, delay: Duration) -> Result<(), String> {
        let ms = delay.as_millis();
        self.add_standby_with(&format!("recovery_min_apply_delay = '{ms}ms'\n"))
    }

    /// `settings`: lines added to the standby's `postgresql.auto.conf` before it starts.
    fn add_standby_with(&mut self, settings: &str) -> Result<(), String> {
        assert!(self.standby.is_none(), "one standby per cluster");
        let data = self.root.join("standby");
        let mut backup = self.command("pg_basebackup");
        backup
            .arg("-D")
            .arg(&data)
            .args(["-R", "-X", "stream", "--checkpoint=fast", "--no-sync"])
            .args(["-h", "127.0.0.1", "-U", "postgres"])
            .args(["-p", &self.primary.port.to_string()]);
        run(backup)?;
        if !settings.is_empty() {
            // Appended to the file `-R` wrote: it keeps its owner, the server's user.
            let auto = data.join("postgresql.auto.conf");
            std::fs::OpenOptions::new()
                .append(true)
                .open(&auto)
                .and_then(|mut f| f.write_all(settings.as_bytes()))
                .map_err(|e| format!("{}: {e}", auto.display()))?;
        }
        self.standby = Some(Node {
            data: data.clone(),
            port: 0,
            started: true,
        });
        let port = self.launch(&data, None)?;
        if let Some(standby) = self.standby.as_mut() {
            standby.port = port;
        }
        self.wait_for("the standby to stream from the primary", || {
            self.sql(
                self.primary.port,
                "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
            )
            .is_ok_and(|n| n == "1")
                && self
                    .sql(port, "SELECT pg_is_in_recovery()")
                    .is_ok_and(|r| r == "t")
        })
    }

    /// The primary's database `db`, over TCP.
    pub fn primary_url(&self, db: &str) -> String {
        url(self.primary.port, db)
    }

    /// The standby's database `db`, over TCP.
    pub fn standby_url(&self, db: &str) -> String {
        url(self.standby().port, db)
    }

    /// Runs `sql` on the standby and answers its output (unaligned, tuples only).
    pub fn standby_sql(&self, sql: &str) -> Result<String, String> {
        self.sql(self.standby().port, sql)
    }

    /// Returns once the standby has replayed everything the primary has written so far.
    pub fn wait_standby_caught_up(&self) -> Result<(), String> {
        let lsn = self.sql(self.primary.port, "SELECT pg_current_wal_lsn()")?;
        let check = format!("SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn");
        self.wait_for("the standby to catch up", || {
            self.standby_sql(&check).is_ok_and(|r| r == "t")
        })
    }

    /// Holds the standby's replay (it keeps receiving WAL but applies none of it) and returns
    /// once it is paused: from then on it shows the primary as it was.
    pub fn pause_standby_replay(&self) -> Result<(), String> {
        self.standby_sql("SELECT pg_wal_replay_pause()")?;
        self.wait_for("the standby's replay to pause", || {
            self.standby_sql("SELECT pg_get_wal_replay_pause_state()")
                .is_ok_and(|s| s == "paused")
        })
    }

    /// Undoes [`LocalCluster::pause_standby_replay`].
    pub fn resume_standby_replay(&self) -> Result<(), String> {
        self.standby_sql("SELECT pg_wal_replay_resume()")
            .map(|_| ())
    }

    /// Delays the standby's replay of every commit until `delay` after it was made on the
    /// primary (`recovery_min_apply_delay`, reloaded: no restart); `Duration::ZERO` lifts the
    /// delay, and the standby then catches up at once.
    pub fn delay_standby_replay(&self, delay: Duration) -> Result<(), String> {
        let ms = delay.as_millis();
        self.standby_sql(&format!(
            "ALTER SYSTEM SET recovery_min_apply_delay = '{ms}ms'"
        ))?;
        self.standby_sql("SELECT pg_reload_conf()")?;
        let check = "SELECT setting FROM pg_settings WHERE name = 'recovery_min_apply_delay'";
        self.wait_for("the standby to take its new replay delay", || {
            self.standby_sql(check).is_ok_and(|v| v == ms.to_string())
        })
    }

    /// Stops the standby (fast shutdown: its sessions are ended); its data stays until drop.
    pub fn stop_standby(&mut self) -> Result<(), String> {
        let data = self.standby().data.clone();
        self.stop(&data)?;
        if let Some(s) = self.standby.as_mut() {
            s.started = false;
        }
        Ok(())
    }

    /// Stops the primary (fast shutdown: its sessions are ended, as when a server is
    /// restarted) and returns once it is down; its data stays.
    pub fn stop_primary(&mut self) -> Result<(), String> {
        self.stop(&self.primary.data)?;
        self.primary.started = false;
        Ok(())
    }

    /// Starts the primary again after [`LocalCluster::stop_primary`], on the port it had, so
    /// the URLs handed out before still reach it.
    pub fn start_primary(&mut self) -> Result<(), String> {
        let (data, port) = (self.primary.data.clone(), self.primary.port);
        self.primary.started = true;
        if self.try_launch(&data, port)? {
            Ok(())
        } else {
            Err(format!("port {port} was taken while the primary was down"))
        }
    }

    fn stop(&self, data: &Path) -> Result<(), String> {
        let mut stop = self.command("pg_ctl");
        stop.arg("-D").arg(data).args(["-m", "fast", "-w", "stop"]);
        run(stop).map(|_| ())
    }

    fn standby(&self) -> &Node {
        let Some(standby) = self.standby.as_ref() else {
            panic!("no standby: call add_standby first");
        };
        standby
    }

    /// Starts the server of `data` on a random port, trying another when that one is taken
    /// (the server then fails to bind and exits): picking a port known to be free and using it
    /// later would race with every other test doing the same.
    fn launch(&self, data: &Path, first: Option<u16>) -> Result<u16, String> {
        // 26000–31999: below the ephemeral range (32768 and up on Linux), where client sockets
        // and port-0 listeners never land, and apart from the redis-servers of the redis
        // crate's tests (10000–15999 and their cluster-bus ports, 20000–25999).
        let random = std::iter::repeat_with(|| uuid::Uuid::new_v4().as_u128() % 6_000)
            .map(|r| 26_000 + u16::try_from(r).unwrap_or(0));
        for port in first.into_iter().chain(random).take(20) {
            if self.try_launch(data, port)? {
                return Ok(port);
            }
        }
        Err("PostgreSQL could not bind any of 20 random loopback ports".to_owned())
    }

    /// Starts the server of `data` on `port`: `Ok(false)` when the port was taken.
    fn try_launch(&self, data: &Path, port: u16) -> Result<bool, String> {
        let log = data.with_extension("log");
        let settings = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
             -c fsync=off -c full_page_writes=off -c shared_buffers=16MB",
            self.root.display()
        );
        let _ = std::fs::remove_file(&log);
        let mut start = self.command("pg_ctl");
        start
            .arg("-D")
            .arg(data)
            .arg("-l")
            .arg(&log)
            .args(["-o", &settings, "-w", "-t", "30", "start"]);
        let out = start.output().map_err(|e| format!("pg_ctl: {e}"))?;
        if out.status.success() {
            return Ok(true);
        }
        let logged = std::fs::read_to_string(&log).unwrap_or_default();
        if logged.contains("could not bind") || logged.contains("could not create any TCP") {
            return Ok(false);
        }
        Err(format!(
            "pg_ctl start failed: {}\n{logged}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }

    /// `psql` on the unix socket of the server on `port`.
    fn sql(&self, port: u16, sql: &str) -> Result<String, String> {
        let mut psql = self.command("psql");
        psql.arg("-h")
            .arg(&self.root)
            .args(["-p", &port.to_string(), "-U", "postgres", "-d", "postgres"])
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]);
        run(psql).map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    }

    fn wait_for(&self, what: &str, mut ok: impl FnMut() -> bool) -> Result<(), String> {
        let deadline = Instant::now() + PATIENCE;
        while !ok() {
            if Instant::now() > deadline {
                return Err(format!("timed out waiting for {what}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// `program` from the server binaries, as the server's user.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut cmd = match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        };
        // The server's working directory must be readable by its user.
        cmd.current_dir(&self.root).stdin(Stdio::null());
        cmd
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        // Immediate: nothing here is worth a clean shutdown, and drop should be quick.
        let nodes = [Some(&self.primary), self.standby.as_ref()];
        for node in nodes.into_iter().flatten().filter(|n| n.started) {
            let mut stop = self.command("pg_ctl");
            stop.arg("-D")
                .arg(&node.data)
                .args(["-m", "immediate", "-w", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let _ = stop.status();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn url(port: u16, db: &str) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/{db}")
}

#[cfg(test)]
mod tests {
    use super::LocalCluster;

    /// A port someone else holds makes the server fail to bind; another is tried.
    #[test]
    fn a_server_whose_port_is_taken_starts_on_another() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let Some(cluster) = LocalCluster::start_trying(Some(port)).unwrap() else {
            return;
        };
        assert_ne!(cluster.primary.port, port);
        let answer = cluster.sql(cluster.primary.port, "SELECT 1").unwrap();
        assert_eq!(answer, "1");
    }
}
