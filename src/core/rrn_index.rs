//! The core's side of the RRN index (`store::entries::RRN_TRANLOGS`): the key a tranlog
//! record is found under by its RRN, and the writer's view of it, which must include the
//! groups it applied that the index does not hold yet.
//!
//! Every money movement looks its RRN up (a retry gets the stored answer, never a second
//! movement), nearly always without a hit. In the store that was one more index record per
//! movement, journalled, flushed and compacted; here it is derived from the tranlog record
//! like the card and wallet index (`tranlog_index.rs`), and its runs carry key filters, so
//! an absent RRN costs a hash, a map lookup and one cache line per run.
//!
//! The index is fed when the syncer publishes a group. The writer decides the next groups
//! before that, against a state that already holds the groups it applied: their RRNs are in
//! `RecentRrns` until the index has them, so a retry arriving meanwhile finds its original.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use sha2::{Digest, Sha256};

use super::tranlog::Tranlog;
use crate::store::entries::{EntryIndex, IndexedEntry};
use crate::store::StoreError;

/// The key an RRN's records are kept under: 63 bits of its SHA-256 (stable, so a rebuilt
/// index matches the old one). Two RRNs may share a key: readers keep only the records whose
/// RRN is the one asked for.
pub fn rrn_key(rrn: &str) -> u64 {
    let digest = Sha256::digest(rrn.as_bytes());
    let mut first = [0_u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) >> 1
}

/// The index record of a new tranlog record.
pub fn indexed_rrn(tranlog: &Tranlog) -> IndexedEntry {
    super::tranlog_index::record(rrn_key(&tranlog.rrn), tranlog.id)
}

/// The RRN postings of groups the writer applied, until the index has them. Only the writer's
/// thread uses it. A lookup nearly always misses: a miss costs one map probe, and nothing is
/// allocated a posting.
#[derive(Debug, Default)]
pub struct RecentRrns {
    /// How many of the postings are under each key.
    counts: FxHashMap<u64, u32>,
    /// (tranlog id, key) in id order: what `forget_indexed` drops from the front.
    order: VecDeque<(u64, u64)>,
}

impl RecentRrns {
    /// Remembers the postings of a group just applied (tranlog ids above every one before).
    pub fn remember(&mut self, postings: &[IndexedEntry]) {
        for posting in postings {
            let (key, id) = (posting.position.account_id, posting.position.transaction_id);
            let count = self.counts.entry(key).or_default();
            *count = count.saturating_add(1);
            self.order.push_back((id, key));
        }
    }

    /// Forgets the postings of tranlog records below `added_below`: the index holds them.
    pub fn forget_indexed(&mut self, added_below: u64) {
        while let Some(&(id, key)) = self.order.front() {
            if id >= added_below {
                break;
            }
            self.order.pop_front();
            if let Some(count) = self.counts.get_mut(&key) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.counts.remove(&key);
                }
            }
        }
    }

    /// The tranlog ids remembered under `key`, oldest first.
    fn ids(&self, key: u64) -> Vec<u64> {
        if !self.counts.contains_key(&key) {
            return Vec::new();
        }
        self.order.iter().filter(|(_, under)| *under == key).map(|(id, _)| *id).collect()
    }
}

/// What the writer looks RRNs up in: the index and the groups it does not hold yet.
#[derive(Clone, Copy)]
pub struct RrnLookup<'a> {
    pub index: &'a EntryIndex,
    pub recent: &'a RecentRrns,
}

impl RrnLookup<'_> {
    /// The ids of the tranlog records whose RRN's key is `key` (`rrn_key`; the caller compares
    /// the RRNs), applied groups included, sorted and without repeats.
    pub fn candidates(&self, key: u64) -> Result<Vec<u64>, StoreError> {
        // The writer forgot only postings below what the index had added at the group's
        // start, and the index never drops one: between them, every applied record.
        let mut ids = self.recent.ids(key);
        ids.extend(self.index.entries_of(key)?.iter().map(|entry| entry.position.transaction_id));
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posting(key: u64, id: u64) -> IndexedEntry {
        super::super::tranlog_index::record(key, id)
    }

    #[test]
    fn an_rrn_key_is_stable_and_below_the_top_bit() {
        // SHA-256("000000000001") begins 27d6fbbe5c7d230a; the key is that shifted right by one.
        assert_eq!(rrn_key("000000000001"), 0x27d6_fbbe_5c7d_230a >> 1);
        assert_eq!(rrn_key("000000000001"), 1_435_379_303_754_666_373);
        assert_ne!(rrn_key("000000000001"), rrn_key("000000000002"));
    }

    #[test]
    fn recent_postings_are_kept_until_the_index_has_them() {
        let mut recent = RecentRrns::default();
        recent.remember(&[posting(5, 10), posting(6, 11)]);
        recent.remember(&[posting(5, 12)]);
        assert_eq!((recent.ids(5), recent.ids(6), recent.ids(7)), (vec![10, 12], vec![11], vec![]));
        recent.forget_indexed(11);
        assert_eq!((recent.ids(5), recent.ids(6)), (vec![12], vec![11]));
        recent.forget_indexed(13);
        assert!(recent.order.is_empty() && recent.counts.is_empty());
    }
}
