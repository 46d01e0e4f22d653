//! `socialscale-streams`: N open `GET /stream` connections on one instance, all of them
//! followers of one author, and what they cost: the server's memory per open stream, and the
//! time from each of the author's posts' 201 to its `post` event on every stream.
//!
//! The followers must exist already (`socialscale seed --follows 0 --posts 0` makes them in
//! bulk, without one argon2 hash each); their ids come in a file. Here: one author signs up
//! through the API, every follower follows it through the API (so counters, the outbox and the
//! live log are the real ones), with a token signed here with the server's `JWT_SECRET`, the
//! same HS256 token a login would return. Then the streams open in batches, the server's RSS
//! is read before and after, and the author posts.
//!
//! The streams are raw HTTP/1.1 over tokio sockets, one small task each: a reqwest client per
//! stream would cost the tool more than the server. Latency is measured from the instant the
//! author's `POST /posts` response head arrived to the instant the read that completed the
//! `post` frame returned; both clocks are this process's. The tool shares the machine's cores
//! with the server, so its own scheduling delay is in the figures.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use clap::Parser;
use futures::StreamExt;
use hdrhistogram::Histogram;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use loadtest::cli::check_url;
use loadtest::report::Latency;
use loadtest::stages::parse_duration;
use loadtest::stats::histogram;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

fn duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s)
}

#[derive(Debug, Parser)]
#[command(
    name = "socialscale-streams",
    version,
    about = "Opens N live streams (GET /stream) of followers of one author on one instance and \
             measures the server's memory per stream and the latency from each post's 201 to \
             its event on every stream",
    after_help = "Loopback targets only. Every wait is bounded; exit status 0 when every stream \
                  opened and every event arrived, 1 otherwise, 2 when the run could not start."
)]
struct Args {
    /// Base URL of the server (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:3333")]
    url: String,
    /// A file of user ids, one per line: the followers.
    #[arg(long)]
    followers: PathBuf,
    /// Use only the first N ids of --followers [default: all].
    #[arg(long)]
    streams: Option<usize>,
    /// The server's JWT_SECRET, to sign the followers' tokens.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    secret: String,
    /// The server's process id, whose VmRSS is read from /proc.
    #[arg(long)]
    pid: u32,
    /// Posts the author makes once every stream is open.
    #[arg(long, default_value_t = 20)]
    posts: u32,
    /// Time between two posts.
    #[arg(long, default_value = "500ms", value_parser = duration_arg)]
    interval: Duration,
    /// Streams opened at once; the next batch starts when every stream of this one is ready.
    #[arg(long, default_value_t = 250)]
    batch: usize,
    /// Follow requests in flight at once during setup.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// How long after the last post's 201 an event may still arrive before it counts missing.
    #[arg(long, default_value = "10s", value_parser = duration_arg)]
    timeout: Duration,
    /// Quiet time before each RSS reading, so the reading is of a server at rest.
    #[arg(long, default_value = "5s", value_parser = duration_arg)]
    settle: Duration,
    /// A name for this run in the report (e.g. the backend).
    #[arg(long, default_value = "")]
    label: String,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// How long one batch of streams may take to become ready.
const BATCH_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stream may take to connect and be answered.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// A response head larger than this is not the server's.
const MAX_HEAD: usize = 16 * 1024;
/// Distinct failure messages kept for the report.
const MAX_FAILURE_KINDS: usize = 10;

/// What a stream task tells the run.
enum Event {
    Ready,
    /// The stream never became ready: why.
    Failed(String),
    Delivered {
        post: String,
        at: Instant,
    },
    /// The stream ended after it was ready: why.
    Closed(String),
}

#[derive(Serialize)]
struct Report {
    label: String,
    streams_requested: usize,
    streams_ready: usize,
    open_failures: BTreeMap<String, usize>,
    closed_early: BTreeMap<String, usize>,
    open_seconds: f64,
    server_rss_before_kib: u64,
    server_rss_after_kib: u64,
    bytes_per_stream: f64,
    /// The server's jemalloc `allocated` bytes (`/metrics`), same two moments.
    heap_allocated_before: u64,
    heap_allocated_after: u64,
    heap_bytes_per_stream: f64,
    tool_rss_kib: u64,
    posts: u32,
    expected_deliveries: usize,
    deliveries: usize,
    missing: usize,
    /// Deliveries whose event was read before the post's 201 (recorded as 0 ms).
    early: usize,
    /// Receive − 201 over every delivery, negatives as 0.
    latency: Latency,
    /// Per post, the latency of the last stream to receive it.
    last_stream: Latency,
    post_201_ms: Latency,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

#[derive(Deserialize)]
struct Session {
    token: String,
    user: Created,
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    iat: u64,
    exp: u64,
    iat_ms: u128,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("socialscale-streams: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("socialscale-streams: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let base = check_url(&args.url, false).map_err(anyhow::Error::msg)?;
    if base.scheme() != "http" {
        bail!("--url: the streams speak plain HTTP/1.1 only");
    }
    let addr = base
        .socket_addrs(|| None)?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("--url {} resolves to no address", args.url))?;
    let host = match base.port() {
        Some(p) => format!("{}:{p}", base.host_str().unwrap_or("127.0.0.1")),
        None => base.host_str().unwrap_or("127.0.0.1").to_owned(),
    };
    let mut ids: Vec<String> = std::fs::read_to_string(&args.followers)
        .with_context(|| format!("reading {}", args.followers.display()))?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(n) = args.streams {
        if n > ids.len() {
            bail!(
                "--streams {n}: {} has only {} ids",
                args.followers.display(),
                ids.len()
            );
        }
        ids.truncate(n);
    }
    let n = ids.len();
    if n == 0 {
        bail!("{} holds no user ids", args.followers.display());
    }
    let open_files = raise_open_files()?;
    // Each stream is a socket; the rest is the HTTP client's pool, stdio and the runtime.
    if open_files < n as u64 + 64 {
        bail!(
            "{n} streams need {} open files; the hard limit is {open_files}",
            n + 64
        );
    }
    let rss = |pid: u32| vm_rss_kib(pid).with_context(|| format!("VmRSS of process {pid}"));
    rss(args.pid)?;

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let url = |path: &str| format!("{}{}", base.as_str().trim_end_matches('/'), path);
    let stamp = unix_millis();
    let name = format!("streams{}", loadtest::scenarios::base36(stamp as u64));
    let signup = http
        .post(url("/auth/signup"))
        .json(&json!({
            "email": format!("{name}@loadtest.example"),
            "password": loadtest::scenarios::PASSWORD,
            "username": name,
        }))
        .send()
        .await?;
    if signup.status().as_u16() != 201 {
        bail!(
            "author signup: {} {}",
            signup.status(),
            signup.text().await?
        );
    }
    let author: Session = signup.json().await?;
    eprintln!(
        "author {} ({}); {n} followers follow it through the API",
        name, author.user.id
    );

    let key = EncodingKey::from_secret(args.secret.as_bytes());
    let tokens = ids
        .iter()
        .map(|id| mint(&key, id))
        .collect::<Result<Vec<_>, _>>()?;
    let started = Instant::now();
    let follow_path = url(&format!("/users/follow/{}", author.user.id));
    let statuses = futures::stream::iter(&tokens)
        .map(|token| {
            let req = http.post(&follow_path).bearer_auth(token).send();
            async move {
                match req.await {
                    Ok(r) => r.status().as_u16().to_string(),
                    Err(e) => format!("error: {e}"),
                }
            }
        })
        .buffer_unordered(args.concurrency.max(1))
        .fold(BTreeMap::<String, usize>::new(), |mut m, s| async move {
            *m.entry(s).or_default() += 1;
            m
        })
        .await;
    eprintln!(
        "follows: {statuses:?} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if statuses.get("201") != Some(&n) {
        bail!("not every follow was 201: {statuses:?}");
    }

    tokio::time::sleep(args.settle).await;
    let rss_before = rss(args.pid)?;
    let heap_before = heap_allocated(&http, &url("/metrics")).await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut ready = 0;
    let mut failures = BTreeMap::<String, usize>::new();
    let mut closed = BTreeMap::<String, usize>::new();
    let mut deliveries: Vec<(String, Instant)> = Vec::with_capacity(n * args.posts as usize);
    let opening = Instant::now();
    for (b, chunk) in tokens.chunks(args.batch.max(1)).enumerate() {
        for token in chunk {
            let request = format!(
                "GET /stream HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
                 Accept: text/event-stream\r\n\r\n"
            );
            tokio::spawn(stream(addr, request, tx.clone()));
        }
        let deadline = tokio::time::Instant::now() + BATCH_TIMEOUT;
        let mut answered = 0;
        while answered < chunk.len() {
            let ev = tokio::select! {
                ev = rx.recv() => ev,
                () = tokio::time::sleep_until(deadline) => None,
            };
            match ev {
                Some(Event::Ready) => {
                    ready += 1;
                    answered += 1;
                }
                Some(Event::Failed(why)) => {
                    note(&mut failures, why);
                    answered += 1;
                }
                Some(Event::Closed(why)) => note(&mut closed, why),
                Some(Event::Delivered { post, at }) => deliveries.push((post, at)),
                None => {
                    let missing = chunk.len() - answered;
                    *failures
                        .entry(format!("not ready within {BATCH_TIMEOUT:?}"))
                        .or_default() += missing;
                    break;
                }
            }
        }
        if (b + 1) % 8 == 0 {
            eprintln!("{ready} of {n} streams ready");
        }
    }
    let open_seconds = opening.elapsed().as_secs_f64();
    eprintln!(
        "{ready} of {n} streams ready in {open_seconds:.1} s; failures {failures:?}; settling"
    );
    let settled = tokio::time::Instant::now() + args.settle;
    while let Ok(ev) = tokio::time::timeout_at(settled, rx.recv()).await {
        match ev {
            Some(Event::Closed(why)) => note(&mut closed, why),
            Some(Event::Delivered { post, at }) => deliveries.push((post, at)),
            Some(_) | None => {}
        }
    }
    let rss_after = rss(args.pid)?;
    let heap_after = heap_allocated(&http, &url("/metrics")).await?;
    let tool_rss = vm_rss_kib(std::process::id()).unwrap_or(0);
    let open_now = ready - closed.values().sum::<usize>();

    // Warm the author's connection, so the first post's time is not a TCP handshake.
    http.get(url("/health/liveness")).send().await?;
    let mut posted: Vec<(String, Instant)> = Vec::new();
    let mut post_201 = histogram();
    let mut tick = tokio::time::interval(args.interval);
    for i in 0..args.posts {
        tick.tick().await;
        let sent = Instant::now();
        let res = http
            .post(url("/posts"))
            .bearer_auth(&author.token)
            .json(&json!({ "content": format!("stream probe {i}") }))
            .send()
            .await?;
        let answered = Instant::now();
        if res.status().as_u16() != 201 {
            bail!("post {i}: {} {}", res.status(), res.text().await?);
        }
        let post: Created = res.json().await?;
        record(&mut post_201, answered - sent);
        posted.push((post.id, answered));
    }
    let expected = open_now * posted.len();
    let until = tokio::time::Instant::now() + args.timeout;
    let wanted = |d: &[(String, Instant)]| {
        d.iter()
            .filter(|(p, _)| posted.iter().any(|(q, _)| q == p))
            .count()
    };
    let mut have = wanted(&deliveries);
    while have < expected {
        match tokio::time::timeout_at(until, rx.recv()).await {
            Ok(Some(Event::Delivered { post, at })) => {
                if posted.iter().any(|(q, _)| *q == post) {
                    have += 1;
                }
                deliveries.push((post, at));
            }
            Ok(Some(Event::Closed(why))) => note(&mut closed, why),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }

    let mut all = histogram();
    let mut early = 0;
    let mut got = 0;
    let mut last = histogram();
    for (id, at201) in &posted {
        let mut slowest = Duration::ZERO;
        for (_, at) in deliveries.iter().filter(|(p, _)| p == id) {
            got += 1;
            let lat = at.checked_duration_since(*at201).unwrap_or_else(|| {
                early += 1;
                Duration::ZERO
            });
            slowest = slowest.max(lat);
            record(&mut all, lat);
        }
        record(&mut last, slowest);
    }
    let report = Report {
        label: args.label.clone(),
        streams_requested: n,
        streams_ready: ready,
        open_failures: failures,
        closed_early: closed,
        open_seconds,
        server_rss_before_kib: rss_before,
        server_rss_after_kib: rss_after,
        bytes_per_stream: (rss_after as f64 - rss_before as f64) * 1024.0 / ready.max(1) as f64,
        heap_allocated_before: heap_before,
        heap_allocated_after: heap_after,
        heap_bytes_per_stream: (heap_after as f64 - heap_before as f64) / ready.max(1) as f64,
        tool_rss_kib: tool_rss,
        posts: args.posts,
        expected_deliveries: n * posted.len(),
        deliveries: got,
        missing: (n * posted.len()).saturating_sub(got),
        early,
        latency: Latency::of(&all),
        last_stream: Latency::of(&last),
        post_201_ms: Latency::of(&post_201),
    };
    print!("{}", table(&report));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(report.streams_ready == n && report.missing == 0 && report.closed_early.is_empty())
}

fn note(m: &mut BTreeMap<String, usize>, why: String) {
    // A failure that repeats per stream would otherwise grow the map by one key per stream.
    let key = if m.len() >= MAX_FAILURE_KINDS && !m.contains_key(&why) {
        "other".to_owned()
    } else {
        why
    };
    *m.entry(key).or_default() += 1;
}

fn record(h: &mut Histogram<u64>, d: Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
    h.saturating_record(us);
}

fn table(r: &Report) -> String {
    let l = &r.latency;
    let s = &r.last_stream;
    let p = &r.post_201_ms;
    format!(
        "== {label}\n\
         streams: {ready} of {n} ready in {open:.1} s; open failures {fail:?}; ended early {closed:?}\n\
         server RSS: {before} KiB before, {after} KiB with the streams open: {per:.0} bytes per \
         stream (tool RSS {tool} KiB)\n\
         server heap allocated: {hb} bytes before, {ha} after: {hper:.0} bytes per stream\n\
         posts: {posts}, POST /posts 201 p50 {pp50:.2} ms, p99 {pp99:.2} ms\n\
         deliveries: {got} of {exp} ({missing} missing), {early} read before the 201 (counted as 0)\n\
         201 -> event, every delivery: p50 {p50:.2} ms, p90 {p90:.2} ms, p99 {p99:.2} ms, max {max:.2} ms\n\
         201 -> event on the last stream, per post: p50 {s50:.2} ms, p99 {s99:.2} ms, max {smax:.2} ms\n",
        label = if r.label.is_empty() { "streams" } else { &r.label },
        ready = r.streams_ready,
        n = r.streams_requested,
        open = r.open_seconds,
        fail = r.open_failures,
        closed = r.closed_early,
        before = r.server_rss_before_kib,
        after = r.server_rss_after_kib,
        per = r.bytes_per_stream,
        tool = r.tool_rss_kib,
        hb = r.heap_allocated_before,
        ha = r.heap_allocated_after,
        hper = r.heap_bytes_per_stream,
        posts = r.posts,
        pp50 = p.p50_ms,
        pp99 = p.p99_ms,
        got = r.deliveries,
        exp = r.expected_deliveries,
        missing = r.missing,
        early = r.early,
        p50 = l.p50_ms,
        p90 = l.p90_ms,
        p99 = l.p99_ms,
        max = l.max_ms,
        s50 = s.p50_ms,
        s99 = s.p99_ms,
        smax = s.max_ms,
    )
}

fn unix_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// The token a login would return for `user`: HS256 over `sub`, `iat`, `exp`, `iat_ms`.
fn mint(key: &EncodingKey, user: &str) -> anyhow::Result<String> {
    let ms = unix_millis();
    let iat = (ms / 1000) as u64;
    let claims = Claims {
        sub: user,
        iat,
        exp: iat + 86_400,
        iat_ms: ms,
    };
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        key,
    )?)
}

/// Raises the soft open-file limit to the hard one; the limit now.
fn raise_open_files() -> anyhow::Result<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        )
        .context("raising the open-file limit")?;
    }
    // `None` is no limit at all.
    Ok(limit.maximum.unwrap_or(u64::MAX))
}

/// The server's live heap bytes: jemalloc's `allocated`, which `/metrics` reports as
/// `process_heap_bytes{kind="allocated"}`; 0 when absent (another allocator).
async fn heap_allocated(http: &reqwest::Client, url: &str) -> anyhow::Result<u64> {
    let text = http.get(url).send().await?.text().await?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("process_heap_bytes{kind=\"allocated\"} "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64))
}

/// The resident set of a process, from `/proc/<pid>/status`.
fn vm_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS line"))
}

/// One stream, until the server or the run ends it.
async fn stream(addr: SocketAddr, request: String, tx: mpsc::UnboundedSender<Event>) {
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
