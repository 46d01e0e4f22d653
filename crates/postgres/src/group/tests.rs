//! The batch bookkeeping of `group`, without a database.

use super::*;

#[test]
fn a_repeated_key_waits_for_the_first() {
    let items = [1, 2, 1, 3, 2];
    assert_eq!(first_of_each(&items, |&i| vec![i]), vec![0, 1, 3]);
    // Two keys per item: a repeat of either holds the item back.
    let pairs = [(1, 10), (2, 20), (3, 10), (1, 30)];
    assert_eq!(first_of_each(&pairs, |&(a, b)| vec![a, b]), vec![0, 1]);
}

#[test]
fn items_not_inserted_run_alone() {
    // Items 0, 2, 3 sent (1 was a repeat); the statement inserted sent[0] and sent[2].
    let sent = [0, 2, 3];
    let alone = settle(remap(BatchOutcome::Inserted(vec![0, 2]), &sent), 4);
    assert_eq!(alone.ok(), Some(vec![false, true, true, false]));
}
