//! `HASH_*`: the password-hashing pool (see `local::hasher`).

use std::time::Duration;

use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct HashSettings {
    /// Password-hashing threads: hashes computed at once (default: the CPUs less one, at least 1).
    #[arg(
        long,
        env = "HASH_CONCURRENCY",
        value_name = "HASH_CONCURRENCY",
        global = true
    )]
    pub hash_concurrency: Option<usize>,
    /// Hashes that may wait for a hashing thread; one more is answered 503 at once.
    #[arg(
        long,
        env = "HASH_QUEUE",
        value_name = "HASH_QUEUE",
        default_value_t = 256,
        global = true
    )]
    pub hash_queue: usize,
    /// How long a hash may wait for a hashing thread before it is answered 503.
    #[arg(
        long,
        env = "HASH_WAIT_MS",
        value_name = "HASH_WAIT_MS",
        default_value_t = 3000,
        global = true
    )]
    pub hash_wait_ms: u64,
    /// Added to the hashing threads' nice value (0–19, Linux): request handling wins the cores.
    #[arg(
        long,
        env = "HASH_NICE",
        value_name = "HASH_NICE",
        default_value_t = 10,
        global = true
    )]
    pub hash_nice: i32,
}

impl HashSettings {
    /// The hasher's pool over the default cost; the error is one line naming the variable.
    pub fn hasher_config(&self) -> Result<local::HasherConfig, String> {
        let mut config = local::HasherConfig::default();
        let pool = &mut config.pool;
        match self.hash_concurrency {
            Some(0) => return Err("HASH_CONCURRENCY must be at least 1".into()),
            // Each thread keeps a 19 MiB work area: a typo must not reserve gigabytes.
            Some(n) if n > 1024 => return Err("HASH_CONCURRENCY must be at most 1024".into()),
            Some(n) => pool.threads = n,
            None => {}
        }
        if !(1..=1_000_000).contains(&self.hash_queue) {
            return Err("HASH_QUEUE must be between 1 and 1000000".into());
        }
        if !(1..=600_000).contains(&self.hash_wait_ms) {
            return Err("HASH_WAIT_MS must be between 1 and 600000 (milliseconds)".into());
        }
        if !(0..=19).contains(&self.hash_nice) {
            return Err("HASH_NICE must be between 0 and 19".into());
        }
        pool.queue = self.hash_queue;
        pool.wait = Duration::from_millis(self.hash_wait_ms);
        pool.nice = self.hash_nice;
        Ok(config)
    }
}
