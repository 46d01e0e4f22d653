//! The process's allocator, and what it holds, as gauges on `/metrics`.
//!
//! glibc's malloc kept a load spike's memory for good (RSS stayed at its peak after a storm of
//! 1,000 clients, and mimalloc did no better); jemalloc's background thread hands freed pages
//! back to the OS within seconds (docs/BENCHMARKS.md, issue #10). It is declared here, in the
//! library, so the integration tests run on the allocator production runs on.
//!
//! RSS alone cannot tell live data from memory the allocator keeps: `allocated` is what the
//! program holds, `resident` what the allocator has in RAM, so a gap between them is the
//! allocator's and a high `allocated` is ours.

use tikv_jemalloc_ctl::{epoch, stats};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

type Read = fn() -> tikv_jemalloc_ctl::Result<usize>;

/// Sets `process_heap_bytes{kind}` (`allocated`, `active`, `resident`, `retained`) from the
/// allocator's statistics, refreshed first (jemalloc caches them until the epoch advances).
pub fn record() {
    if let Err(e) = epoch::advance() {
        tracing::debug!(error = %e, "cannot refresh the allocator's statistics");
        return;
    }
    let kinds: [(&str, Read); 4] = [
        ("allocated", stats::allocated::read),
        ("active", stats::active::read),
        ("resident", stats::resident::read),
        ("retained", stats::retained::read),
    ];
    for (kind, read) in kinds {
        if let Ok(bytes) = read() {
            metrics::gauge!("process_heap_bytes", "kind" => kind).set(bytes as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allocator_counts_what_the_program_holds() {
        let before = read_allocated();
        // Far more than the other tests running at the same time allocate or free.
        let held = vec![1u8; 64 << 20];
        let during = read_allocated();
        assert!(
            during >= before + (32 << 20),
            "64 MiB held, allocated went {before} → {during}"
        );
        drop(held);
    }

    fn read_allocated() -> usize {
        epoch::advance().unwrap();
        stats::allocated::read().unwrap()
    }
}
