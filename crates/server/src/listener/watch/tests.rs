use std::task::Waker;

use super::*;

/// The deadline and its reason, checked to lie `after` one of the instants in `window`.
fn assert_deadline(
    clock: &Clock,
    t: &Timeouts,
    window: (Instant, Instant),
    after: Duration,
    reason: &str,
) {
    let (when, why) = clock.deadline(t, Waker::noop()).expect("a deadline");
    let why = match why {
        Reason::Header => "header",
        Reason::Idle => "idle",
    };
    assert_eq!(why, reason);
    assert!(
        window.0 + after <= when && when <= window.1 + after,
        "{reason} deadline out of its window"
    );
}

/// Around `f`: the instants just before and after it.
fn during(f: impl FnOnce()) -> (Instant, Instant) {
    let before = Instant::now();
    f();
    (before, Instant::now())
}

#[test]
fn each_phase_has_its_own_deadline() {
    let t = Timeouts::new(Duration::from_secs(10), Duration::from_secs(75));
    let mut clock = None;
    let opened = during(|| clock = Some(Clock::new()));
    let clock = clock.unwrap();
    std::thread::sleep(Duration::from_millis(5));
    clock.bytes_read();
    // The first head counts from the connection's opening, not from its first byte.
    assert_deadline(&clock, &t, opened, t.header, "header");

    let handling = clock.handling();
    assert!(
        clock.deadline(&t, Waker::noop()).is_none(),
        "none in the handler"
    );

    let mut sending = None;
    let answered = during(|| sending = Some(handling.answered()));
    assert_deadline(&clock, &t, answered, t.idle, "idle");
    clock.bytes_read();
    assert_deadline(&clock, &t, answered, t.idle, "idle");
    std::thread::sleep(Duration::from_millis(5));
    // Each write that makes progress restarts the wait.
    let wrote = during(|| clock.bytes_written());
    assert_deadline(&clock, &t, wrote, t.idle, "idle");

    let sent = during(|| drop(sending));
    assert_deadline(&clock, &t, sent, t.idle, "idle");
    std::thread::sleep(Duration::from_millis(5));
    // A later head counts from its first byte, and only the first.
    let began = during(|| clock.bytes_read());
    assert_deadline(&clock, &t, began, t.header, "header");
    std::thread::sleep(Duration::from_millis(5));
    clock.bytes_read();
    assert_deadline(&clock, &t, began, t.header, "header");
}
