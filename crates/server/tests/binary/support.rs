//! The real `socialscale` binary as a child process: a clean environment, a temporary working
//! directory, its output captured line by line, and raw HTTP/1.1 over a socket.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

#[path = "../common/raw_http.rs"]
mod raw_http;
pub use raw_http::{read_to_close, read_until, start_request_awaiting_body, DEADLINE};

pub const BINARY: &str = env!("CARGO_BIN_EXE_socialscale");

/// A command for the binary that sees only `vars` (plus `PATH` and `HOME`), run in `dir`: an
/// exported variable or a `.env` file of the developer's cannot change what a test sees.
pub fn command(dir: &std::path::Path, vars: &[(&str, &str)]) -> Command {
    hermetic(Command::new(BINARY), dir, vars)
}

/// [`command`], started by `sh` under an open-file limit (`ulimit -n`, soft and hard) of
/// `limit`.
pub fn command_with_open_files(
    dir: &std::path::Path,
    vars: &[(&str, &str)],
    limit: u32,
) -> Command {
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(format!("ulimit -n {limit} && exec \"$0\""))
        .arg(BINARY);
    hermetic(sh, dir, vars)
}

fn hermetic(mut cmd: Command, dir: &std::path::Path, vars: &[(&str, &str)]) -> Command {
    cmd.env_clear().current_dir(dir);
    for name in ["PATH", "HOME"] {
        if let Some(value) = std::env::var_os(name) {
            cmd.env(name, value);
        }
    }
    cmd.envs(vars.iter().copied());
    cmd
}

/// Runs the binary to its end (bounded by [`DEADLINE`]) and returns what it printed.
pub fn run_to_exit(mut cmd: Command) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            kill(id, "KILL");
            panic!("the binary did not exit within {DEADLINE:?}");
        }
    }
}

/// Sends a signal to one process we started, by its id.
pub fn kill(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// A running server. Killed on drop, so a failing test leaves no process behind.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    lines: mpsc::UnboundedReceiver<String>,
    /// Every line of stdout and stderr read so far, in arrival order per stream.
    seen: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

/// Starts the binary on a fresh SQLite database, an ephemeral port of 127.0.0.1 and JSON logs,
/// with `extra` variables on top, and waits for its `listening` line.
pub async fn start(extra: &[(&str, &str)]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("e2e.db").display());
    let mut vars = vec![
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        ("DATABASE_URL", db.as_str()),
        ("LOG_FORMAT", "json"),
        ("LOG_LEVEL", "info"),
    ];
    vars.retain(|(name, _)| !extra.iter().any(|(n, _)| n == name));
    vars.extend_from_slice(extra);
    let mut child = command(dir.path(), &vars)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::unbounded_channel();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let stdout: Box<dyn Read + Send> = Box::new(child.stdout.take().unwrap());
    let stderr: Box<dyn Read + Send> = Box::new(child.stderr.take().unwrap());
    let readers = [stdout, stderr]
        .into_iter()
        .map(|stream| {
            let (tx, seen) = (tx.clone(), seen.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    // A test that panicked holding the lock must not hide its output.
                    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                    seen.push(line.clone());
                    drop(seen);
                    let _ = tx.send(line);
                }
            })
        })
        .collect();
    let mut server = Server {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        lines,
        seen,
        readers,
        _dir: dir,
    };
    let listening = server.wait_for_log(|l| l["message"] == "listening").await;
    server.addr = listening["addr"].as_str().unwrap().parse().unwrap();
    server
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the next JSON log line that `matches`, skipping the others.
    pub async fn wait_for_log(&mut self, matches: impl Fn(&Value) -> bool) -> Value {
        let wait = async {
            loop {
                let Some(line) = self.lines.recv().await else {
                    panic!("the server's output ended before the awaited log line");
                };
                if let Ok(json) = serde_json::from_str::<Value>(&line) {
                    if matches(&json) {
                        return json;
                    }
                }
            }
        };
        match tokio::time::timeout(DEADLINE, wait).await {
            Ok(json) => json,
            Err(_) => {
                let seen = self.seen.lock().unwrap().join("\n");
                panic!("no such log line within {DEADLINE:?}; seen:\n{seen}")
            }
        }
    }

    /// Waits for the process to exit. Polls because `Child::wait` would block the runtime; the
    /// poll's period is not a synchronisation, only how often the exit is looked at.
    pub async fn wait_exit(&mut self) -> ExitStatus {
        let wait = async {
            loop {
                if let Some(status) = self.child.try_wait().unwrap() {
                    return status;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(DEADLINE, wait)
            .await
            .unwrap_or_else(|_| panic!("the server did not exit within {DEADLINE:?}"))
    }

    /// Every line the process printed on stdout and stderr, once it has exited.
    pub fn all_output(&mut self) -> Vec<String> {
        assert!(self.child.try_wait().unwrap().is_some(), "still running");
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls until a new connection to `addr` is refused: the listener is closed. Each connection
/// that still gets through is dropped at once, so it holds nothing open.
pub async fn wait_until_refused(addr: SocketAddr) {
    let poll = async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(DEADLINE, poll)
        .await
        .expect("the listener closes within the deadline");
}
