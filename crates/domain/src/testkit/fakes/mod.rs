//! In-memory fakes of every port, for unit tests of the services (and of anything else that
//! wants a whole set of ports without a database, a runtime or a network).
//!
//! Each fake is the simplest thing that keeps its port's contract: one `std::sync::Mutex`
//! around plain collections, scanned linearly. None of them ever returns `Pending`, so a test
//! drives them with [`block_on`] and needs no async runtime. The mutexes are never held across
//! an `.await` (the fakes' methods do not await while holding them; [`MapCache`] releases its
//! lock before running a loader).
//!
//! Besides the port, each fake exposes what tests want to assert on: call counters, a switch
//! that makes a store fail, a settable clock.
//!
//! [`Fakes`] bundles one of each, keeps the concrete `Arc`s so tests can reach into them, and
//! builds the [`Ports`](crate::services::Ports) / [`Services`](crate::services::Services) the
//! services are tested through.

mod auth;
mod cache;
mod clock;
mod harness;
mod store;
mod timeline;

use std::sync::{Mutex, MutexGuard};

pub use auth::{CountingLimiter, FakeTokens, PlainHasher};
pub use cache::MapCache;
pub use clock::{ManualClock, SequentialIds};
pub use harness::{
    block_on, fake_ports, login_failures_account_policy, login_failures_policy, login_limits,
    signup, Fakes, TEST_PASSWORD,
};
pub use store::{MemoryStore, PlainSecrets};
pub use timeline::{MemoryFeedStream, MemoryTimelines};

/// Locks `m`, recovering the data if another thread panicked while holding it.
///
/// Every critical section in the fakes leaves the state consistent at each step it could panic
/// at (there are no such steps: they are plain collection operations), and a test that panicked
/// has already failed, so a poisoned lock carries no information worth a second panic.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
