//! Chromium over WebDriver: Debian's `chromium` and `chromium-driver`, one `chromedriver` this
//! test starts on a loopback port, and one browser session (its own profile, its own storage)
//! per person.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

/// Set to `1` (as `.ci/run` does), a missing browser fails the suite instead of skipping it.
pub const REQUIRED: &str = "SOCIALSCALE_TEST_BROWSER";

/// The bound on every wait: only ever reached when something is broken.
pub const DEADLINE: Duration = Duration::from_secs(20);

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// A port to try the driver on: 16000–19999, below the kernel's ephemeral range and apart from
/// the Redis (10000–15999, buses 20000–25999) and PostgreSQL (26000–31999) test servers. Never
/// probed and released (that races): a port another process holds makes the driver exit, and
/// another is tried.
fn candidate_port() -> u16 {
    let r = uuid::Uuid::new_v4().as_u128();
    16_000 + u16::try_from(r % 4_000).unwrap()
}

/// A running `chromedriver`, killed on drop.
pub struct Chromedriver {
    child: Child,
    url: String,
    chromium: PathBuf,
}

impl Chromedriver {
    /// `None`, after one line saying so, when Chromium or its driver is not installed; a
    /// failure instead when `SOCIALSCALE_TEST_BROWSER=1`.
    pub fn start_or_skip() -> Option<Self> {
        let chromium = on_path(&["chromium", "chromium-browser"]);
        let driver = on_path(&["chromedriver"]);
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            assert!(
                std::env::var(REQUIRED).as_deref() != Ok("1"),
                "{REQUIRED}=1 but chromium or chromedriver is not on PATH \
                 (apt-get install chromium chromium-driver)"
            );
            // Straight to the stream: the harness hides `eprintln!` output of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "note: chromium or chromedriver is not on PATH: skipping the browser suite"
            );
            return None;
        };
        for _ in 0..20 {
            let port = candidate_port();
            if let Some(child) = launch(&driver, port) {
                return Some(Chromedriver {
                    child,
                    url: format!("http://127.0.0.1:{port}"),
                    chromium,
                });
            }
        }
        panic!("chromedriver could not listen on any of 20 random loopback ports");
    }

    /// A new browser: headless, its own temporary profile, a laptop-sized window.
    pub async fn browser(&self) -> Browser {
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": self.chromium,
                "args": [
                    "--headless=new",
                    // Root in CI: Chromium's sandbox refuses to run as root.
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--disable-gpu",
                    "--window-size=1280,800",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-extensions",
                    "--disable-background-networking",
                    "--disable-sync",
                    "--password-store=basic",
                    "--lang=en-US",
                ],
            }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("no browser session from chromedriver: {e}"));
        Browser { client }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the driver on `port`: the child once it says it listens, `None` when it exited
/// first (the port was taken).
fn launch(driver: &Path, port: u16) -> Option<Child> {
    let mut child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    // Reads to the end, so the driver never blocks on a full pipe later.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("started successfully") => return Some(child),
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = child.wait();
                return None;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromedriver on port {port} did not start within {DEADLINE:?}");
            }
        }
    }
}

/// One person's browser.
pub struct Browser {
    pub client: Client,
}

impl Browser {
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    pub async fn reload(&self) {
        self.client.refresh().await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        let el = self.client.find(Locator::Css(css)).await.unwrap();
        el.click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Types `text` into the field `css`, key by key, as a person would.
    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.client.find(Locator::Css(css)).await.unwrap();
        el.send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    pub async fn clear(&self, css: &str) {
        let el = self.client.find(Locator::Css(css)).await.unwrap();
        el.clear()
            .await
            .unwrap_or_else(|e| panic!("clear {css}: {e}"));
    }

    /// Runs `script` (a function body; `return` gives the value) in the page.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls `script` until it returns something other than `null` or `false`, and returns
    /// that; fails after [`DEADLINE`] with `what` and the last value seen.
    pub async fn until(&self, what: &str, script: &str) -> Value {
        self.until_within(DEADLINE, what, script).await
    }

    /// [`Browser::until`] with its own bound, for what must happen sooner than [`DEADLINE`].
    pub async fn until_within(&self, bound: Duration, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + bound;
        loop {
            let value = self.js(script).await;
            if !value.is_null() && value != Value::Bool(false) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "not within {bound:?}: {what} (the page shows: {})",
                self.js("return document.querySelector('main')?.innerText ?? ''")
                    .await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves what the page shows now as `target/browser-screenshots/{name}.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// The workspace's `target/browser-screenshots`, kept by CI as an artifact.
pub fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-screenshots")
}
