use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

use super::*;

/// Cheap parameters: the tests are about behaviour, not cost.
fn fast(threads: usize) -> Argon2Hasher {
    Argon2Hasher::new(HasherConfig {
        memory_kib: 64,
        iterations: 1,
        lanes: 1,
        pool: PoolConfig {
            threads,
            queue: 64,
            wait: Duration::from_secs(60),
            nice: 0,
            idle: Duration::from_secs(600),
        },
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

/// Hashes stored before the work area was kept per thread (the argon2 crate's own
/// `hash_password`) still verify, and ours verify with the crate's own check: the same PHC
/// strings both ways.
#[tokio::test]
async fn hashes_are_interchangeable_with_the_argon2_crate() {
    let h = fast(1);
    let theirs = h
        .inner
        .argon
        .hash_password(b"correct horse")
        .unwrap()
        .to_string();
    assert!(h.verify(&pw("correct horse"), Some(&theirs)).await.unwrap());
    assert!(!h.verify(&pw("wrong horse"), Some(&theirs)).await.unwrap());

    let ours = h.hash(&pw("correct horse")).await.unwrap();
    let parsed = argon2::PasswordHash::new(&ours).unwrap();
    assert!(h
        .inner
        .argon
        .verify_password(b"correct horse", &parsed)
        .is_ok());
    assert!(h
        .inner
        .argon
        .verify_password(b"wrong horse", &parsed)
        .is_err());
}

/// A hash made with other parameters than the current ones (the setting changed since) is
/// checked with its own: costlier than the kept work area, and cheaper.
#[tokio::test]
async fn hashes_made_with_other_parameters_still_verify() {
    let h = fast(1);
    for (m, t) in [(256, 2), (32, 3)] {
        let other = Argon2::new(
            Algorithm::Argon2id,
            argon2::Version::V0x13,
            Params::new(m, t, 1, None).unwrap(),
        );
        let stored = other.hash_password(b"correct horse").unwrap().to_string();
        assert!(stored.contains(&format!("m={m},t={t}")), "{stored}");
        assert!(h.verify(&pw("correct horse"), Some(&stored)).await.unwrap());
        assert!(!h.verify(&pw("wrong horse"), Some(&stored)).await.unwrap());
    }
}

/// Each thread hashes in one work area, allocated at its first hash and then reused: hashing
/// allocates nothing, and memory is bounded at threads × work area.
#[tokio::test]
async fn each_thread_reuses_one_work_area() {
    let h = fast(1);
    let before = h.run(|_, s| Ok(s.held())).await.unwrap();
    assert_eq!(before, 0, "nothing held before the first hash");
    let mut areas = Vec::new();
    for _ in 0..3 {
        h.hash(&pw("correct horse")).await.unwrap();
        h.verify(&pw("correct horse"), None).await.unwrap();
        areas.push(h.run(|_, s| Ok((s.held(), s.area()))).await.unwrap());
    }
    assert_eq!(areas[0].0, 64 * 1024, "exactly the configured memory");
    assert!(areas.windows(2).all(|w| w[0] == w[1]), "{areas:?}");
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
        pool: Arc::clone(&h.pool),
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
    for bad in [
        "",
        "not a hash",
        "$argon2id$v=19$m=64,t=1,p=1$bad",
        "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0",
        "$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
        "$scrypt$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
    ] {
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
/// on another one (a hashing thread), or a login would stall every request on its worker.
#[tokio::test(flavor = "current_thread")]
async fn hashing_runs_on_the_hashing_threads() {
    let h = fast(1);
    let executor = std::thread::current().id();
    let (worker, name) = h
        .run(|_, _| {
            let me = std::thread::current();
            Ok((me.id(), me.name().map(str::to_owned)))
        })
        .await
        .unwrap();
    assert_ne!(worker, executor);
    assert_eq!(name.as_deref(), Some("hash-0"));
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
                h.run(move |_, _| {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(3));
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

/// A refusal of the pool reaches the caller of `hash` and `verify` as it is, known account or
/// not: the unknown-account path queues like the known one.
#[tokio::test]
async fn a_saturated_pool_refuses_hashes_and_both_kinds_of_verification() {
    let h = Argon2Hasher::new(HasherConfig {
        memory_kib: 64,
        iterations: 1,
        lanes: 1,
        pool: PoolConfig {
            threads: 1,
            queue: 1,
            wait: Duration::from_millis(20),
            nice: 0,
            idle: Duration::from_secs(600),
        },
    })
    .unwrap();
    let stored = h.hash(&pw("correct horse")).await.unwrap();
    let (started_tx, started) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let blocker = {
        let h = h.clone();
        tokio::spawn(async move {
            h.run(move |_, _| {
                let _ = started_tx.send(());
                let _ = released.recv();
                Ok(())
            })
            .await
        })
    };
    tokio::task::spawn_blocking(move || started.recv())
        .await
        .unwrap()
        .unwrap();
    let r = h.hash(&pw("correct horse")).await;
    assert!(matches!(r, Err(StoreError::Overloaded { .. })), "{r:?}");
    for stored in [Some(stored.as_str()), None] {
        let r = h.verify(&pw("correct horse"), stored).await;
        assert!(matches!(r, Err(StoreError::Overloaded { .. })), "{r:?}");
    }
    release.send(()).unwrap();
    blocker.await.unwrap().unwrap();
    // The refused jobs hold their queue slot until the thread pops and skips them, which it
    // does as soon as it is free: until then a new job may still find the queue full.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match h.verify(&pw("correct horse"), Some(&stored)).await {
            Ok(ok) => {
                assert!(ok);
                break;
            }
            Err(StoreError::Overloaded { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
}
