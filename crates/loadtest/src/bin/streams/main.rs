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
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::Parser;
use futures::StreamExt;
use hdrhistogram::Histogram;
use jsonwebtoken::EncodingKey;
use loadtest::cli::check_url;
use loadtest::report::Latency;
use loadtest::stages::parse_duration;
use loadtest::stats::histogram;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::mpsc;

mod probes;
mod report;
mod sse;

use probes::{heap_allocated, mint, raise_open_files, unix_millis, vm_rss_kib};
use report::{table, Report};

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
            tokio::spawn(sse::stream(addr, request, tx.clone()));
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
