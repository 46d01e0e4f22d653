//! New ids.

use domain::ports::IdGenerator;
use uuid::Uuid;

/// [`IdGenerator`] handing out UUIDv7s.
///
/// `Uuid::now_v7` draws from one process-wide context (a mutex around the last timestamp and a
/// 42-bit counter, reseeded each millisecond and bumped within one), so ids are strictly
/// increasing across threads even when many share a millisecond or the wall clock steps back.
#[derive(Clone, Copy, Debug, Default)]
pub struct UuidV7Generator;

impl IdGenerator for UuidV7Generator {
    fn new_id(&self) -> Uuid {
        Uuid::now_v7()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v7_and_strictly_increasing() {
        let ids: Vec<Uuid> = (0..10_000).map(|_| UuidV7Generator.new_id()).collect();
        assert!(ids.iter().all(|id| id.get_version_num() == 7));
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn ids_from_many_threads_are_all_distinct_and_ordered_per_thread() {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    (0..5_000)
                        .map(|_| UuidV7Generator.new_id())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = Vec::new();
        for h in handles {
            let ids = h.join().unwrap();
            assert!(ids.windows(2).all(|w| w[0] < w[1]));
            all.extend(ids);
        }
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 20_000);
    }
}
