//! Progress of a seed: a bar per table with rows/s and ETA, then one line per finishing stage.
//! On a terminal indicatif draws them on stderr; elsewhere (CI, a pipe) the bars are hidden
//! and each table and stage prints one plain line instead.

use std::cell::Cell;
use std::future::Future;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Plan;

pub(super) struct Progress {
    multi: MultiProgress,
    pub users: Table,
    pub follows: Table,
    pub posts: Table,
    started: Instant,
}

/// One table's bar, and when its first batch arrived and its last was loaded: the tables load
/// one after another, so each rate is over its own span.
pub(super) struct Table {
    bar: ProgressBar,
    first: Cell<Option<Instant>>,
    last: Cell<Option<Instant>>,
}

impl Table {
    /// A batch arrived and is about to be loaded.
    pub fn begin(&self) {
        if self.first.get().is_none() {
            self.first.set(Some(Instant::now()));
            self.bar.reset_elapsed();
            self.bar.reset_eta();
        }
    }

    /// `n` rows are loaded.
    pub fn done(&self, n: u64) {
        self.bar.inc(n);
        self.last.set(Some(Instant::now()));
    }

    fn span(&self) -> Duration {
        match (self.first.get(), self.last.get()) {
            (Some(a), Some(b)) => b.duration_since(a),
            _ => Duration::ZERO,
        }
    }
}

const BAR: &str =
    "{prefix:>8} [{bar:32}] {human_pos:>11}/{human_len:<11} {per_sec:>14}  eta {eta:<4} {elapsed}";

impl Progress {
    pub fn new(show: bool, plan: &Plan) -> Progress {
        let target = if show {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        // The template is a constant checked by the tests; a bad one falls back to the default.
        let style = ProgressStyle::with_template(BAR)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = |name: &'static str, len: u64| {
            let bar = multi.add(ProgressBar::new(len));
            bar.set_style(style.clone());
            bar.set_prefix(name);
            Table {
                bar,
                first: Cell::new(None),
                last: Cell::new(None),
            }
        };
        Progress {
            users: bar("users", u64::from(plan.users)),
            follows: bar("follows", 0),
            posts: bar("posts", plan.posts),
            multi,
            started: Instant::now(),
        }
    }

    pub fn plan_follows(&self, n: u64) {
        self.follows.bar.set_length(n);
    }

    pub fn finish_tables(&self) {
        for table in [&self.users, &self.follows, &self.posts] {
            let bar = &table.bar;
            bar.set_length(bar.position());
            bar.finish();
            let secs = table.span().as_secs_f64();
            self.line(&format!(
                "{}: {} rows in {secs:.1}s ({:.0} rows/s)",
                bar.prefix(),
                bar.position(),
                bar.position() as f64 / secs.max(0.001)
            ));
        }
    }

    /// Runs one stage of the finish (indexes, counters, …) under a spinner.
    pub async fn stage<T>(&self, name: &str, work: impl Future<Output = T>) -> T {
        let spinner = self.multi.add(ProgressBar::new_spinner());
        spinner.set_message(name.to_owned());
        spinner.enable_steady_tick(Duration::from_millis(200));
        let started = Instant::now();
        let out = work.await;
        spinner.finish_and_clear();
        self.line(&format!(
            "{name}: {:.1}s (total {:.1}s)",
            started.elapsed().as_secs_f64(),
            self.started.elapsed().as_secs_f64()
        ));
        out
    }

    fn line(&self, text: &str) {
        if self.multi.is_hidden() {
            eprintln!("{text}");
        } else {
            let _ = self.multi.println(text);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bar_template_parses() {
        assert!(indicatif::ProgressStyle::with_template(super::BAR).is_ok());
    }
}
