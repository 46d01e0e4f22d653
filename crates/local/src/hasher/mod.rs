//! Password hashing with argon2id on a few dedicated threads, each with its own reusable work
//! area, behind a bounded queue with a wait limit (see [`pool`] for why, [`phc`] for the
//! memory).

mod phc;
mod pool;

use std::sync::Arc;
use std::time::Duration;

use argon2::{Algorithm, Argon2, Params};
use async_trait::async_trait;
use domain::model::Password;
use domain::ports::PasswordHasher;
use domain::StoreError;

use phc::Scratch;
use pool::Pool;
pub use pool::PoolConfig;

/// Cost parameters and the shape of the hashing pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HasherConfig {
    /// Memory per hash, KiB.
    pub memory_kib: u32,
    pub iterations: u32,
    pub lanes: u32,
    /// Threads, queue, wait limit and priority of the hashing pool. Each thread holds
    /// `memory_kib` from its first hash until it has been idle for `pool.idle`.
    pub pool: PoolConfig,
}

impl Default for HasherConfig {
    /// OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane); one thread fewer than the CPUs
    /// (at least one) at nice 10, 256 waiting at most, for at most 3 s. Fewer threads than
    /// cores is what kept the other routes' p99 low in a login storm (docs/BENCHMARKS.md).
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        HasherConfig {
            memory_kib: 19_456,
            iterations: 2,
            lanes: 1,
            pool: PoolConfig {
                threads: cpus.saturating_sub(1).max(1),
                queue: 256,
                wait: Duration::from_secs(3),
                nice: 10,
                idle: Duration::from_secs(5),
            },
        }
    }
}

/// What every hashing thread shares.
struct Inner {
    argon: Argon2<'static>,
    /// A PHC string with the current parameters that no password hashes to: unknown accounts
    /// are verified against it, so they cost the same as known ones.
    dummy: String,
}

/// [`PasswordHasher`] with argon2id (PHC strings, random 16-byte salts).
///
/// Cheap to clone; clones share the pool. The threads stop when the last clone is dropped.
#[derive(Clone)]
pub struct Argon2Hasher {
    inner: Arc<Inner>,
    pool: Arc<Pool<Scratch>>,
}

impl Argon2Hasher {
    /// Builds the hasher and starts its threads. Cheap: no hash is computed and no work area
    /// allocated here (see [`dummy_hash`] and [`Scratch::new`]).
    ///
    /// # Errors
    /// `Internal` when the parameters are outside what argon2 accepts or a thread cannot start.
    pub fn new(config: HasherConfig) -> Result<Self, StoreError> {
        let params = Params::new(config.memory_kib, config.iterations, config.lanes, None)
            .map_err(|e| StoreError::Internal(format!("invalid argon2 parameters: {e}")))?;
        let argon = Argon2::new(Algorithm::Argon2id, argon2::Version::V0x13, params.clone());
        let dummy = dummy_hash(&params)?;
        let pool = Pool::start("hash", config.pool, move || Scratch::new(&params))?;
        Ok(Argon2Hasher {
            inner: Arc::new(Inner { argon, dummy }),
            pool: Arc::new(pool),
        })
    }

    /// Runs `work` on a hashing thread, with that thread's work area.
    async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Inner, &mut Scratch) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        self.pool.run(move |scratch| work(&inner, scratch)).await?
    }
}

/// A PHC string with the parameters of a real hash, a random salt and a random output, which
/// no password hashes to (finding one is a preimage of argon2). Verifying against it costs one
/// full hash with those parameters, exactly as for a real account, yet building it costs
/// nothing: hashing a random password instead took one whole hash's time at every start-up.
fn dummy_hash(params: &Params) -> Result<String, StoreError> {
    use argon2::password_hash::phc::{Output, PasswordHash, Salt};
    let bad = |e: argon2::password_hash::phc::Error| {
        StoreError::Internal(format!("cannot build the dummy hash: {e}"))
    };
    let salt = Salt::new(&rand::random::<[u8; 16]>()).map_err(bad)?;
    let output = Output::new(&rand::random::<[u8; Params::DEFAULT_OUTPUT_LEN]>()).map_err(bad)?;
    let dummy = phc::phc_string(params, &salt, &output);
    // Parsed once here so that a format mistake shows at start-up, not as a failed login.
    PasswordHash::new(&dummy)
        .map_err(|e| StoreError::Internal(format!("the dummy hash does not parse: {e}")))?;
    Ok(dummy)
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<String, StoreError> {
        let password = password.expose().to_owned();
        self.run(move |inner, scratch| phc::hash(&inner.argon, scratch, password.as_bytes()))
            .await
    }

    async fn verify(&self, password: &Password, hash: Option<&str>) -> Result<bool, StoreError> {
        let password = password.expose().to_owned();
        let stored = hash.map(str::to_owned);
        self.run(move |inner, scratch| match stored {
            Some(hash) => phc::verify(scratch, password.as_bytes(), &hash),
            // The same code path and cost as a real account; the answer is thrown away.
            None => phc::verify(scratch, password.as_bytes(), &inner.dummy).map(|_| false),
        })
        .await
    }
}

#[cfg(test)]
mod tests;
