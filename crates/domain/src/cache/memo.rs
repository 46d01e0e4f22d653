//! Decoded values by key and version, so a value read many times is decoded once per load.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::model::{Version, Versioned};

type Slot = (Version, Arc<dyn Any + Send + Sync>);

/// The cache port deals in bytes so that a shared tier can hold them; decoding them on every hit
/// was most of the cost of a warm `GET /posts`. A value's version is read from its first bytes,
/// so a hit whose version was decoded before reuses that decoding: the same for a hit of the
/// in-process tier and of the shared one, and never for a reload, which has a new version.
pub(crate) struct Memo {
    slots: Mutex<HashMap<String, Slot>>,
    max_entries: usize,
}

impl Memo {
    pub(crate) fn new(max_entries: usize) -> Self {
        Memo {
            slots: Mutex::new(HashMap::new()),
            max_entries: max_entries.max(1),
        }
    }

    pub(crate) fn get<T: Send + Sync + 'static>(
        &self,
        key: &str,
        version: Version,
    ) -> Option<Versioned<T>> {
        // Poisoning cannot leave a slot half-written (inserts are single calls).
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let (seen, value) = slots.get(key)?;
        if *seen != version {
            return None;
        }
        let value = Arc::clone(value).downcast::<T>().ok()?;
        Some(Versioned { version, value })
    }

    pub(crate) fn put<T: Send + Sync + 'static>(&self, key: &str, value: &Versioned<T>) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if slots.len() >= self.max_entries && !slots.contains_key(key) {
            // Dropping everything is crude but O(1) amortised, and only costs re-decodes.
            slots.clear();
        }
        let any: Arc<dyn Any + Send + Sync> = value.value.clone();
        slots.insert(key.to_owned(), (value.version, any));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versioned(v: u128, s: &str) -> Versioned<String> {
        Versioned {
            version: Version::from_u128(v),
            value: Arc::new(s.to_owned()),
        }
    }

    #[test]
    fn reused_for_the_same_key_and_version_only() {
        let memo = Memo::new(10);
        memo.put("k", &versioned(1, "one"));
        let hit = memo.get::<String>("k", Version::from_u128(1)).unwrap();
        assert_eq!(*hit.value, "one");
        assert!(memo.get::<String>("k", Version::from_u128(2)).is_none());
        assert!(memo.get::<String>("other", Version::from_u128(1)).is_none());
        // A slot of another type is a miss, never a wrong value.
        assert!(memo.get::<u32>("k", Version::from_u128(1)).is_none());
        memo.put("k", &versioned(2, "two"));
        assert!(memo.get::<String>("k", Version::from_u128(1)).is_none());
        assert_eq!(
            *memo
                .get::<String>("k", Version::from_u128(2))
                .unwrap()
                .value,
            "two"
        );
    }

    #[test]
    fn keeps_every_key_up_to_its_capacity_and_no_more() {
        let memo = Memo::new(3);
        for (i, k) in ["a", "b", "c"].iter().enumerate() {
            memo.put(k, &versioned(i as u128, k));
        }
        assert_eq!(memo.len(), 3);
        assert!(memo.get::<String>("a", Version::from_u128(0)).is_some());
        memo.put("d", &versioned(9, "d"));
        assert!(memo.len() <= 3);
        assert!(memo.get::<String>("d", Version::from_u128(9)).is_some());
    }
}
