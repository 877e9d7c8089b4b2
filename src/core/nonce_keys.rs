//! The keys of the stored nonce records, in time order, so the writer can delete expired ones
//! without reading them back.
//!
//! Each commit group stores one nonce record, keyed by its newest timestamp, and the writer
//! deletes it once it is past retention. Finding expired records by scanning the store cost a
//! range seek and a decode of every record (a group's record holds all its nonces) for each
//! group: 12% of the switch's core at a million cards while it worked off a populate's backlog.
//! Here the writer remembers what it wrote, so pruning is a lookup in memory plus tombstones.

use std::collections::BTreeSet;

use crate::store::{schema, Keyspace, Store, StoreError};

/// Stored nonce-record keys (a key starts with its record's timestamp, so key order is time
/// order), at most `keys_max` of them.
pub struct NonceKeys {
    keys: BTreeSet<Box<[u8]>>,
    keys_max: usize,
    /// False when some stored record may be missing from `keys`: more than `keys_max` were
    /// stored, or deletions may not have reached the disk. Then the store is scanned again once
    /// `keys` has room.
    complete: bool,
}

impl NonceKeys {
    /// Reads the key of every stored nonce record (keys only: values are not decoded).
    pub fn load(store: &Store, keys_max: usize) -> Result<NonceKeys, StoreError> {
        let mut loaded = NonceKeys { keys: BTreeSet::new(), keys_max, complete: true };
        for key in store.scan_keys(&Keyspace::Nonce.prefix()) {
            loaded.insert(key?);
            if !loaded.complete {
                break;
            }
        }
        Ok(loaded)
    }

    /// Remembers a record the writer stored.
    pub fn insert(&mut self, key: Vec<u8>) {
        if self.keys.len() < self.keys_max {
            self.keys.insert(key.into_boxed_slice());
        } else {
            self.complete = false;
        }
    }

    /// Up to `count_max` keys of records stored before `timestamp_ms`, oldest first.
    pub fn expired(&self, timestamp_ms: i64, count_max: usize) -> Vec<Vec<u8>> {
        let (_, end) = schema::nonces_before(timestamp_ms);
        self.keys.range(..end.into_boxed_slice()).take(count_max).map(|key| key.to_vec()).collect()
    }

    /// Forgets the `count` oldest keys once their deletion is applied: the keys `expired` gave,
    /// as nothing is added between the two.
    pub fn forget_oldest(&mut self, count: usize) {
        for _ in 0..count {
            self.keys.pop_first();
        }
    }

    /// Marks the keys as possibly missing records (a flush failed: deletions and records of the
    /// groups it held may or may not be on disk).
    pub fn invalidate(&mut self) {
        self.complete = false;
    }

    /// True when the store should be scanned again: some records are not known here and there
    /// is room for at least half of the limit.
    pub fn needs_reload(&self) -> bool {
        !self.complete && self.keys.len() <= self.keys_max / 2
    }

    pub fn keys_max(&self) -> usize {
        self.keys_max
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(timestamp_ms: i64, nonce: &str) -> Vec<u8> {
        schema::nonce_key(timestamp_ms, &uuid::Uuid::nil(), nonce)
    }

    fn keys(max: usize) -> NonceKeys {
        NonceKeys { keys: BTreeSet::new(), keys_max: max, complete: true }
    }

    #[test]
    fn expired_keys_come_oldest_first_and_stop_at_the_bound() {
        let mut nonce_keys = keys(10);
        for (timestamp_ms, nonce) in [(300, "c"), (100, "a"), (200, "b"), (-5, "early")] {
            nonce_keys.insert(key(timestamp_ms, nonce));
        }
        assert_eq!(
            nonce_keys.expired(250, 10),
            vec![key(-5, "early"), key(100, "a"), key(200, "b")]
        );
        assert_eq!(nonce_keys.expired(250, 2), vec![key(-5, "early"), key(100, "a")]);
        assert!(nonce_keys.expired(-5, 10).is_empty(), "the bound itself is not expired");
        nonce_keys.forget_oldest(2);
        assert_eq!(nonce_keys.expired(1_000, 10), vec![key(200, "b"), key(300, "c")]);
    }

    #[test]
    fn past_the_limit_keys_are_not_kept_and_a_reload_is_asked_for_once_there_is_room() {
        let mut nonce_keys = keys(4);
        for timestamp_ms in 0..6 {
            nonce_keys.insert(key(timestamp_ms, "n"));
        }
        assert_eq!(nonce_keys.len(), 4);
        assert!(!nonce_keys.needs_reload(), "no room yet");
        nonce_keys.forget_oldest(nonce_keys.expired(2, 10).len());
        assert!(nonce_keys.needs_reload());
    }

    #[test]
    fn a_failed_flush_asks_for_a_reload() {
        let mut nonce_keys = keys(4);
        nonce_keys.insert(key(1, "n"));
        assert!(!nonce_keys.needs_reload());
        nonce_keys.invalidate();
        assert!(nonce_keys.needs_reload());
    }
}
