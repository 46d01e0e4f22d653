//! What one run found, as a table for people and as JSON.

use std::collections::BTreeMap;

use loadtest::report::Latency;
use serde::Serialize;

#[derive(Serialize)]
pub(super) struct Report {
    pub(super) label: String,
    pub(super) streams_requested: usize,
    pub(super) streams_ready: usize,
    pub(super) open_failures: BTreeMap<String, usize>,
    pub(super) closed_early: BTreeMap<String, usize>,
    pub(super) open_seconds: f64,
    pub(super) server_rss_before_kib: u64,
    pub(super) server_rss_after_kib: u64,
    pub(super) bytes_per_stream: f64,
    /// The server's jemalloc `allocated` bytes (`/metrics`), same two moments.
    pub(super) heap_allocated_before: u64,
    pub(super) heap_allocated_after: u64,
    pub(super) heap_bytes_per_stream: f64,
    pub(super) tool_rss_kib: u64,
    pub(super) posts: u32,
    pub(super) expected_deliveries: usize,
    pub(super) deliveries: usize,
    pub(super) missing: usize,
    /// Deliveries whose event was read before the post's 201 (recorded as 0 ms).
    pub(super) early: usize,
    /// Receive − 201 over every delivery, negatives as 0.
    pub(super) latency: Latency,
    /// Per post, the latency of the last stream to receive it.
    pub(super) last_stream: Latency,
    pub(super) post_201_ms: Latency,
}

pub(super) fn table(r: &Report) -> String {
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
