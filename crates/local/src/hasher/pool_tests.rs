use std::sync::atomic::AtomicBool;
use std::sync::mpsc as std_mpsc;

use super::*;

fn pool(threads: usize, queue: usize, wait: Duration) -> Pool<()> {
    let config = PoolConfig {
        threads,
        queue,
        wait,
        nice: 0,
        idle: Duration::from_secs(600),
    };
    Pool::start("test", config, || ()).unwrap()
}

/// Occupies one thread of `pool` until the returned sender is used (or dropped); returns once
/// the job is running.
async fn occupy(pool: &Arc<Pool<()>>) -> (std_mpsc::Sender<()>, tokio::task::JoinHandle<()>) {
    let (started_tx, started) = std_mpsc::channel();
    let (release, released) = std_mpsc::channel::<()>();
    let pool = Arc::clone(pool);
    let job = tokio::spawn(async move {
        pool.run(move |_| {
            let _ = started_tx.send(());
            let _ = released.recv();
        })
        .await
        .unwrap();
    });
    tokio::task::spawn_blocking(move || started.recv())
        .await
        .unwrap()
        .unwrap();
    (release, job)
}

/// Polls `f` exactly once (a `run` queues its job before its first wait).
async fn poll_once<F: std::future::Future + Unpin>(f: &mut F) {
    tokio::select! {
        biased;
        _ = f => panic!("finished on its first poll"),
        () = std::future::ready(()) => {}
    }
}

fn overloaded(r: &Result<impl std::fmt::Debug, StoreError>, reason: &str) -> Duration {
    match r {
        Err(StoreError::Overloaded { what, retry_after }) if what.contains(reason) => *retry_after,
        other => panic!("expected Overloaded ({reason}), got {other:?}"),
    }
}

#[tokio::test]
async fn a_full_queue_is_refused_at_once() {
    let pool = Arc::new(pool(1, 1, Duration::from_secs(600)));
    let (release, blocker) = occupy(&pool).await;
    let mut queued = Box::pin(pool.run(|_| 1));
    poll_once(&mut queued).await;
    // The wait limit is ten minutes: only a full queue can answer this before then.
    let retry_after = overloaded(&pool.run(|_| 2).await, "queue_full");
    assert_eq!(
        retry_after,
        Duration::from_secs(600),
        "about one wait limit"
    );
    release.send(()).unwrap();
    blocker.await.unwrap();
    assert_eq!(queued.await.unwrap(), 1, "the queued job still runs");
}

#[tokio::test]
async fn a_job_that_cannot_start_within_the_wait_limit_is_refused_and_never_runs() {
    let pool = Arc::new(pool(1, 8, Duration::from_millis(20)));
    let (release, blocker) = occupy(&pool).await;
    let ran = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&ran);
    let r = pool.run(move |_| flag.store(true, Ordering::SeqCst)).await;
    let retry_after = overloaded(&r, "wait_limit");
    assert_eq!(
        retry_after,
        Duration::from_secs(1),
        "never less than a second"
    );
    release.send(()).unwrap();
    // The blocker started before the wait limit passed, so it was not refused however long
    // it took after.
    blocker.await.unwrap();
    // One thread takes jobs in order: once a later job ran, the refused one was passed over.
    pool.run(|_| ()).await.unwrap();
    assert!(!ran.load(Ordering::SeqCst), "a refused job never runs");
}

#[tokio::test]
async fn a_cancelled_callers_job_is_skipped() {
    let pool = Arc::new(pool(1, 8, Duration::from_secs(600)));
    let (release, blocker) = occupy(&pool).await;
    let ran = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&ran);
    let mut cancelled = Box::pin(pool.run(move |_| flag.store(true, Ordering::SeqCst)));
    poll_once(&mut cancelled).await;
    drop(cancelled);
    release.send(()).unwrap();
    blocker.await.unwrap();
    pool.run(|_| ()).await.unwrap();
    assert!(!ran.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_panicking_job_is_an_internal_error_and_the_thread_goes_on() {
    let pool = pool(1, 1, Duration::from_secs(600));
    let r: Result<(), _> = pool.run(|_| panic!("a bug in a job")).await;
    assert!(matches!(r, Err(StoreError::Internal(_))), "{r:?}");
    assert_eq!(pool.run(|_| 7).await.unwrap(), 7);
}

#[tokio::test]
async fn every_thread_has_its_own_state() {
    let config = PoolConfig {
        threads: 3,
        queue: 16,
        wait: Duration::from_secs(600),
        nice: 0,
        idle: Duration::from_secs(600),
    };
    let made = Arc::new(AtomicU8::new(0));
    let counter = Arc::clone(&made);
    let pool = Pool::start("test", config, move || {
        counter.fetch_add(1, Ordering::SeqCst);
        0_u32
    })
    .unwrap();
    // Three jobs that can only finish together: each thread has run one, so each has made its
    // state (a thread makes it when it starts, which may be after the first jobs are done).
    let all = Arc::new(std::sync::Barrier::new(3));
    let job = || {
        let all = Arc::clone(&all);
        move |n: &mut u32| {
            *n += 1;
            all.wait();
        }
    };
    let (a, b, c) = tokio::join!(pool.run(job()), pool.run(job()), pool.run(job()));
    for r in [a, b, c] {
        r.unwrap();
    }
    for _ in 0..20 {
        pool.run(|n| *n += 1).await.unwrap();
    }
    assert_eq!(
        made.load(Ordering::SeqCst),
        3,
        "one state per thread, never more"
    );
}

/// The threads' nice value is raised by the setting, the caller's is left alone.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_threads_run_at_a_lower_priority() {
    use rustix::process::getpriority_process;
    let mine = getpriority_process(None).unwrap();
    for nice in [0, 5] {
        let config = PoolConfig {
            threads: 1,
            queue: 1,
            wait: Duration::from_secs(600),
            nice,
            idle: Duration::from_secs(600),
        };
        let pool = Pool::start("test", config, || ()).unwrap();
        let theirs = pool
            .run(|_| getpriority_process(Some(rustix::thread::gettid())).unwrap())
            .await
            .unwrap();
        assert_eq!(theirs, (mine + nice).min(19), "nice {nice}");
    }
    assert_eq!(getpriority_process(None).unwrap(), mine);
}

/// A state that counts its drops.
struct Counted(Arc<AtomicU8>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// After a storm the work areas go back: a thread idle for `idle` drops its state, and the
/// next job builds a fresh one.
#[tokio::test]
async fn an_idle_thread_drops_its_state_and_the_next_job_makes_a_new_one() {
    let config = PoolConfig {
        threads: 1,
        queue: 4,
        wait: Duration::from_secs(600),
        nice: 0,
        idle: Duration::from_millis(50),
    };
    let (made, dropped) = (Arc::new(AtomicU8::new(0)), Arc::new(AtomicU8::new(0)));
    let (m, d) = (Arc::clone(&made), Arc::clone(&dropped));
    let pool = Pool::start("test", config, move || {
        m.fetch_add(1, Ordering::SeqCst);
        Counted(Arc::clone(&d))
    })
    .unwrap();
    assert_eq!(made.load(Ordering::SeqCst), 0, "no state before a job");
    pool.run(|_| ()).await.unwrap();
    assert_eq!(made.load(Ordering::SeqCst), 1);
    // Bounded: a thread that never drops its state fails here after 10 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while dropped.load(Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the idle thread kept its state"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    pool.run(|_| ()).await.unwrap();
    assert_eq!(
        made.load(Ordering::SeqCst),
        2,
        "a fresh state for the next job"
    );
}
