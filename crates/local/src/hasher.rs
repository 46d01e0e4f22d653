//! Password hashing with argon2id, off the async executor and bounded in concurrency.

use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _};
use async_trait::async_trait;
use domain::model::Password;
use domain::ports::PasswordHasher;
use domain::StoreError;
use tokio::sync::Semaphore;

/// Cost parameters and how many hashes may run at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HasherConfig {
    /// Memory per hash, KiB.
    pub memory_kib: u32,
    pub iterations: u32,
    pub lanes: u32,
    /// Hashes running at the same time; each holds `memory_kib` and a blocking thread.
    pub max_concurrent: usize,
}

impl Default for HasherConfig {
    /// OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane), one hash per CPU.
    fn default() -> Self {
        HasherConfig {
            memory_kib: 19_456,
            iterations: 2,
            lanes: 1,
            max_concurrent: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

struct Inner {
    argon: Argon2<'static>,
    /// A hash of a random password with the current parameters: unknown accounts are verified
    /// against it, so they cost the same as known ones.
    dummy: String,
}

/// [`PasswordHasher`] with argon2id (PHC strings, random 16-byte salts from the OS CSPRNG).
///
/// Cheap to clone; clones share the concurrency bound.
#[derive(Clone)]
pub struct Argon2Hasher {
    inner: Arc<Inner>,
    permits: Arc<Semaphore>,
}

impl Argon2Hasher {
    /// Builds the hasher. Cheap: no hash is computed here (see [`dummy_hash`]).
    ///
    /// # Errors
    /// `Internal` when the parameters are outside what argon2 accepts.
    pub fn new(config: HasherConfig) -> Result<Self, StoreError> {
        let params = Params::new(config.memory_kib, config.iterations, config.lanes, None)
            .map_err(|e| StoreError::Internal(format!("invalid argon2 parameters: {e}")))?;
        let argon = Argon2::new(Algorithm::Argon2id, argon2::Version::V0x13, params);
        let dummy = dummy_hash(&config)?;
        Ok(Argon2Hasher {
            inner: Arc::new(Inner { argon, dummy }),
            permits: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
        })
    }

    /// Runs `work` on the blocking pool once a permit is free.
    async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("password hasher shut down".into()))?;
        let inner = Arc::clone(&self.inner);
        // The permit moves into the closure: if the request is cancelled while hashing, the
        // thread keeps running, and the permit must stay taken until it really stops, or
        // cancelled logins would slip past the bound.
        tokio::task::spawn_blocking(move || {
            let result = work(&inner);
            drop(permit);
            result
        })
        .await
        .map_err(|e| StoreError::Internal(format!("password hashing task failed: {e}")))?
    }
}

/// A PHC string with the parameters of a real hash, a random salt and a random output, which
/// no password hashes to (finding one is a preimage of argon2). Verifying against it costs one
/// full hash with those parameters, exactly as for a real account, yet building it costs
/// nothing: hashing a random password instead took one whole hash's time at every start-up.
fn dummy_hash(config: &HasherConfig) -> Result<String, StoreError> {
    use argon2::password_hash::phc::{Output, Salt};
    let bad = |e: argon2::password_hash::phc::Error| {
        StoreError::Internal(format!("cannot build the dummy hash: {e}"))
    };
    let salt = Salt::new(&rand::random::<[u8; 16]>()).map_err(bad)?;
    let output = Output::new(&rand::random::<[u8; Params::DEFAULT_OUTPUT_LEN]>()).map_err(bad)?;
    let dummy = format!(
        "$argon2id$v=19$m={},t={},p={}${salt}${output}",
        config.memory_kib, config.iterations, config.lanes
    );
    // Parsed once here so that a format mistake shows at start-up, not as a failed login.
    PasswordHash::new(&dummy)
        .map_err(|e| StoreError::Internal(format!("the dummy hash does not parse: {e}")))?;
    Ok(dummy)
}

fn hash_with(argon: &Argon2<'_>, password: &str) -> Result<String, StoreError> {
    argon
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Internal(format!("password hashing failed: {e}")))
}

fn verify_with(argon: &Argon2<'_>, password: &str, hash: &str) -> Result<bool, StoreError> {
    let parsed = PasswordHash::new(hash)
        .map_err(|e| StoreError::Internal(format!("stored password hash is malformed: {e}")))?;
    match argon.verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(e) => Err(StoreError::Internal(format!(
            "stored password hash cannot be checked: {e}"
        ))),
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<String, StoreError> {
        let password = password.expose().to_owned();
        self.run(move |inner| hash_with(&inner.argon, &password))
            .await
    }

    async fn verify(&self, password: &Password, hash: Option<&str>) -> Result<bool, StoreError> {
        let password = password.expose().to_owned();
        let stored = hash.map(str::to_owned);
        self.run(move |inner| match stored {
            Some(hash) => verify_with(&inner.argon, &password, &hash),
            None => verify_with(&inner.argon, &password, &inner.dummy).map(|_| false),
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Cheap parameters: the tests are about behaviour, not cost.
    fn fast(max_concurrent: usize) -> Argon2Hasher {
        Argon2Hasher::new(HasherConfig {
            memory_kib: 64,
            iterations: 1,
            lanes: 1,
            max_concurrent,
        })
        .unwrap()
    }

    fn pw(s: &str) -> Password {
        Password::parse_attempt(s).unwrap()
    }

    #[tokio::test]
    async fn round_trips_and_rejects_a_wrong_password() {
        let h = fast(2);
        let stored = h.hash(&pw("correct horse")).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$"));
        assert!(h.verify(&pw("correct horse"), Some(&stored)).await.unwrap());
        assert!(!h.verify(&pw("wrong horse"), Some(&stored)).await.unwrap());
        let again = h.hash(&pw("correct horse")).await.unwrap();
        assert_ne!(stored, again, "every hash has its own salt");
    }

    #[tokio::test]
    async fn an_unknown_account_is_never_verified() {
        let h = fast(2);
        assert!(!h.verify(&pw("anything"), None).await.unwrap());
        assert!(h.inner.dummy.starts_with("$argon2id$"));
    }

    /// The dummy path must really verify against the dummy hash, or an unknown email would
    /// answer faster than a known one. A dummy that cannot be parsed makes the work visible
    /// without timing anything: a shortcut that skipped the verification would answer `false`.
    #[tokio::test]
    async fn an_unknown_account_costs_a_real_verification_of_the_dummy() {
        let h = fast(1);
        let broken = Argon2Hasher {
            inner: Arc::new(Inner {
                argon: h.inner.argon.clone(),
                dummy: "$argon2id$not-a-hash".to_owned(),
            }),
            permits: Arc::clone(&h.permits),
        };
        let r = broken.verify(&pw("anything"), None).await;
        assert!(matches!(r, Err(StoreError::Internal(_))), "{r:?}");
    }

    /// Same algorithm, version and cost as a real hash, so verifying it takes as long.
    #[tokio::test]
    async fn the_dummy_hash_has_the_parameters_of_a_real_one() {
        let h = fast(1);
        let real = h.hash(&pw("correct horse")).await.unwrap();
        let params = |s: &str| s.split('$').take(4).collect::<Vec<_>>().join("$");
        assert_eq!(params(&h.inner.dummy), params(&real));
        assert_eq!(params(&real), "$argon2id$v=19$m=64,t=1,p=1");
        // The same salt and output lengths: the output length is part of the work.
        let lengths = |s: &str| s.split('$').skip(4).map(str::len).collect::<Vec<_>>();
        assert_eq!(lengths(&h.inner.dummy), lengths(&real));
        let other = fast(1);
        assert_ne!(
            h.inner.dummy, other.inner.dummy,
            "a random salt and output each time"
        );
    }

    #[tokio::test]
    async fn a_malformed_stored_hash_is_an_internal_error() {
        let h = fast(1);
        for bad in ["", "not a hash", "$argon2id$v=19$m=64,t=1,p=1$bad"] {
            let r = h.verify(&pw("whatever"), Some(bad)).await;
            assert!(matches!(r, Err(StoreError::Internal(_))), "{bad:?}: {r:?}");
        }
    }

    #[tokio::test]
    async fn defaults_are_owasp_argon2id() {
        let h = Argon2Hasher::new(HasherConfig::default()).unwrap();
        let stored = h.hash(&pw("correct horse")).await.unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(h.verify(&pw("correct horse"), Some(&stored)).await.unwrap());
    }

    #[test]
    fn rejects_impossible_parameters() {
        let config = HasherConfig {
            memory_kib: 1,
            ..HasherConfig::default()
        };
        assert!(Argon2Hasher::new(config).is_err());
    }

    /// On a current-thread runtime the executor is the test's own thread: hashing must happen
    /// on another one (the blocking pool), or a login would stall every request on its worker.
    #[tokio::test(flavor = "current_thread")]
    async fn hashing_runs_off_the_executor_thread() {
        let h = fast(1);
        let executor = std::thread::current().id();
        let worker = h.run(|_| Ok(std::thread::current().id())).await.unwrap();
        assert_ne!(worker, executor);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn never_runs_more_than_the_bound_at_once() {
        let h = fast(2);
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let (h, running, peak) = (h.clone(), Arc::clone(&running), Arc::clone(&peak));
                tokio::spawn(async move {
                    h.run(move |_| {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(3));
                        running.fetch_sub(1, Ordering::SeqCst);
                        Ok(())
                    })
                    .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }
}
