use std::sync::Arc;

use tokio::sync::Notify;

use super::*;

/// A writer that answers each item with itself doubled, after `gate` (when given) opens.
fn doubler(gate: Option<Arc<Notify>>) -> GroupCommit<u32, u32> {
    GroupCommit::spawn(
        "test",
        "double",
        Limits::default(),
        move |items: Vec<u32>| {
            let gate = gate.clone();
            async move {
                if let Some(gate) = gate {
                    gate.notified().await;
                }
                items.into_iter().map(|i| i * 2).collect()
            }
        },
    )
}

/// Waits (yielding, no clock) until `n` items are queued behind the writer.
async fn until_queued<I: Send + 'static, R: Send + 'static>(g: &GroupCommit<I, R>, n: usize) {
    while g.queue.max_capacity() - g.queue.capacity() < n {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn each_caller_gets_its_own_answer_and_concurrent_items_share_batches() {
    let g = Arc::new(doubler(None));
    let calls: Vec<_> = (0..200u32)
        .map(|i| {
            let g = g.clone();
            tokio::spawn(async move { (i, g.submit(i).await) })
        })
        .collect();
    for call in calls {
        let (i, answer) = call.await.unwrap();
        assert_eq!(answer, Ok(i * 2));
    }
    let stats = g.stats();
    assert_eq!(stats.items, 200);
    assert!(stats.batches < stats.items, "no batching: {stats:?}");
}

#[tokio::test]
async fn a_batch_takes_what_queued_meanwhile_up_to_the_limit() {
    let gate = Arc::new(Notify::new());
    let limits = Limits {
        max_batch: 10,
        queue: 100,
    };
    let gate2 = gate.clone();
    let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = sizes.clone();
    let g = Arc::new(GroupCommit::spawn(
        "test",
        "sizes",
        limits,
        move |items: Vec<u32>| {
            let gate = gate2.clone();
            seen.lock().unwrap().push(items.len());
            async move {
                gate.notified().await;
                items
            }
        },
    ));
    let first = tokio::spawn({
        let g = g.clone();
        async move { g.submit(0).await }
    });
    // The writer holds the first item alone (nothing else had queued) ...
    while sizes.lock().unwrap().is_empty() {
        tokio::task::yield_now().await;
    }
    let rest: Vec<_> = (1..=25u32)
        .map(|i| {
            let g = g.clone();
            tokio::spawn(async move { g.submit(i).await })
        })
        .collect();
    until_queued(&g, 25).await;
    // ... and the 25 that queued meanwhile go in batches of at most 10.
    for _ in 0..4 {
        gate.notify_one();
        tokio::task::yield_now().await;
    }
    assert_eq!(first.await.unwrap(), Ok(0));
    for (i, call) in (1..=25u32).zip(rest) {
        assert_eq!(call.await.unwrap(), Ok(i));
    }
    assert_eq!(*sizes.lock().unwrap(), vec![1, 10, 10, 5]);
}

#[tokio::test]
async fn a_writer_aborted_mid_batch_answers_errors_never_success() {
    // The gate never opens: the batch is "committing" when the writer dies.
    let g = Arc::new(doubler(Some(Arc::new(Notify::new()))));
    let calls: Vec<_> = (0..20u32)
        .map(|i| {
            let g = g.clone();
            tokio::spawn(async move { g.submit(i).await })
        })
        .collect();
    // Every item queued or taken into the (stuck) batch.
    while g.stats().items as usize + (g.queue.max_capacity() - g.queue.capacity()) < 20 {
        tokio::task::yield_now().await;
    }
    g.abort();
    for call in calls {
        assert_eq!(call.await.unwrap(), Err(Rejected::Lost));
    }
    assert_eq!(g.submit(1).await, Err(Rejected::Closed));
}

#[tokio::test]
async fn a_panicking_batch_fails_its_callers_and_the_writer_goes_on() {
    let g = GroupCommit::spawn(
        "test",
        "panics",
        Limits::default(),
        |items: Vec<u32>| async move {
            assert!(!items.contains(&13), "unlucky");
            items
        },
    );
    assert_eq!(g.submit(13).await, Err(Rejected::Lost));
    assert_eq!(g.submit(7).await, Ok(7));
}

#[tokio::test]
async fn a_short_answer_is_an_error_for_the_unanswered() {
    let gate = Arc::new(Notify::new());
    let started = Arc::new(AtomicU64::new(0));
    let g = Arc::new(GroupCommit::spawn("test", "short", Limits::default(), {
        let (gate, started) = (gate.clone(), started.clone());
        move |items: Vec<u32>| {
            let gate = gate.clone();
            started.fetch_add(1, Ordering::Relaxed);
            async move {
                gate.notified().await;
                items.into_iter().take(1).collect::<Vec<_>>()
            }
        }
    }));
    let submit = |i: u32| {
        let g = g.clone();
        tokio::spawn(async move { g.submit(i).await })
    };
    let first = submit(0);
    while started.load(Ordering::Relaxed) == 0 {
        tokio::task::yield_now().await;
    }
    // Queued while the first batch is held: they form the second batch together.
    let second = submit(1);
    let third = submit(2);
    until_queued(&g, 2).await;
    gate.notify_one();
    assert_eq!(first.await.unwrap(), Ok(0));
    gate.notify_one();
    assert_eq!(second.await.unwrap(), Ok(1));
    assert_eq!(third.await.unwrap(), Err(Rejected::Lost));
}
