//! Logs (tracing, JSON or pretty) and the Prometheus recorder.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global log subscriber. Later calls (tests build many apps) are no-ops.
pub fn init_logging(level: &str, format: LogFormat) -> Result<(), String> {
    let filter = EnvFilter::try_new(level)
        .map_err(|e| format!("LOG_LEVEL: {level:?} is not a valid filter ({e})"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _already_set = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    Ok(())
}

/// The Prometheus recorder. The `metrics` facade is process-global by design, so the recorder
/// is installed once and every app in the process (tests run many) shares its handle.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new();
            // Latency buckets from 100 µs to 10 s: loopback requests sit at the low end.
            let builder = builder
                .set_buckets_for_metric(
                    Matcher::Suffix("duration_seconds".into()),
                    &[
                        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                        0.25, 0.5, 1.0, 2.5, 10.0,
                    ],
                )
                // Group-commit batch sizes, up to the 128 a batch holds at most.
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("db_write_batch_size".into()),
                        &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0],
                    )
                })
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; then ours just stays empty.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
