//! The machine's raw argon2id rate at the server's default cost, one thread, next to what
//! `Argon2Hasher`'s pool gets through with every thread busy (issue #10's hash-throughput
//! figure in docs/BENCHMARKS.md).
//!
//! `cargo run --release -p local --example argon2_rate [SECONDS] [THREADS] [NICE]`
//! (defaults: 5 s each, the pool's default threads and nice).

use std::error::Error;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use domain::model::Password;
use domain::ports::PasswordHasher as _;
use local::{Argon2Hasher, HasherConfig};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: u64 = args.first().map_or(Ok(5), |s| s.parse())?;
    let mut config = HasherConfig::default();
    if let Some(t) = args.get(1) {
        config.pool.threads = t.parse()?;
    }
    if let Some(n) = args.get(2) {
        config.pool.nice = n.parse()?;
    }
    let period = Duration::from_secs(seconds);
    let params = Params::new(config.memory_kib, config.iterations, config.lanes, None)?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; 32];

    let rate = |work: &mut dyn FnMut() -> Result<(), argon2::Error>| -> Result<f64, argon2::Error> {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < period {
            work()?;
            n += 1;
        }
        Ok(n as f64 / start.elapsed().as_secs_f64())
    };
    let allocating =
        rate(&mut || argon.hash_password_into(b"password", b"saltsaltsalt", &mut out))?;
    let mut blocks = vec![Block::new(); params.block_count()];
    let reused = rate(&mut || {
        argon.hash_password_into_with_memory(b"password", b"saltsaltsalt", &mut out, &mut blocks)
    })?;
    println!(
        "argon2id m={} t={} p={}: one thread {allocating:.1} hashes/s allocating each time, \
         {reused:.1} hashes/s in one reused work area",
        config.memory_kib, config.iterations, config.lanes
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let pool = config.pool;
    let through_pool = runtime.block_on(async move {
        let hasher = Argon2Hasher::new(config)?;
        let password = Password::parse_attempt("correct horse battery")
            .map_err(|_| "the example password is valid")?;
        let done = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        // Twice as many callers as threads keep every thread busy without filling the queue.
        let callers: Vec<_> = (0..pool.threads * 2)
            .map(|_| {
                let (hasher, password, done) =
                    (hasher.clone(), password.clone(), Arc::clone(&done));
                tokio::spawn(async move {
                    while start.elapsed() < period {
                        if hasher.hash(&password).await.is_ok() {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for c in callers {
            c.await?;
        }
        Ok::<f64, Box<dyn Error>>(
            done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64(),
        )
    })?;
    println!(
        "Argon2Hasher pool, {} threads at nice +{}: {through_pool:.1} hashes/s",
        pool.threads, pool.nice
    );
    Ok(())
}
