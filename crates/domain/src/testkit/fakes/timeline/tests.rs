//! The fakes against their contract suites.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::*;
use crate::ports::FeedEventStream;
use crate::testkit::fakes::block_on;
use crate::testkit::limiter::TimeControl;
use crate::testkit::timeline::{feed_event_stream_contract, timeline_store_contract};

/// The fake stream reads `Instant::now()`: time passes by sleeping.
struct Sleep;

impl TimeControl for Sleep {
    fn advance(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        std::thread::sleep(d);
        Box::pin(async {})
    }
}

#[test]
fn memory_timelines_pass_the_timeline_store_contract() {
    for cap in [4, 9] {
        block_on(timeline_store_contract(&MemoryTimelines::new(cap), cap));
    }
}

#[test]
fn memory_feed_stream_passes_the_feed_event_stream_contract() {
    block_on(feed_event_stream_contract(&MemoryFeedStream::new(), &Sleep));
}

#[test]
fn switched_off_they_fail_as_unavailable() {
    let user = UserId::from_uuid(uuid::Uuid::now_v7());
    let t = MemoryTimelines::default();
    t.set_unavailable(true);
    assert!(matches!(
        block_on(t.window(user, None, 10)),
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        block_on(t.begin_rebuild(user)),
        Err(StoreError::Unavailable(_))
    ));
    t.set_unavailable(false);
    assert_eq!(
        block_on(t.window(user, None, 10)).unwrap(),
        TimelineWindow::Missing
    );

    let s = MemoryFeedStream::new();
    s.set_unavailable(true);
    assert!(matches!(block_on(s.lag()), Err(StoreError::Unavailable(_))));
    assert!(matches!(
        block_on(s.receive("c", 1, Duration::ZERO)),
        Err(StoreError::Unavailable(_))
    ));
    s.set_unavailable(false);
    assert_eq!(block_on(s.lag()).unwrap(), 0);
}
