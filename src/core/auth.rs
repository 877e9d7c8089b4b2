//! jCard request authentication (jPOS-EE's REST scheme): `hash` = Base64(HMAC-SHA256(key,
//! decimal timestamp ‖ nonce ‖ raw body)) with key = Base64-decoded consumer secret, a
//! timestamp within the allowed skew, and a nonce never seen before within that window.

use std::collections::VecDeque;
use std::hash::BuildHasher;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use rustc_hash::FxHashSet;
use sha2::Sha256;
use uuid::Uuid;

use crate::clock::EpochMs;

/// The only protocol version accepted in the `version` header.
pub const JCARD_AUTH_VERSION: &str = "1.0";

/// The credential headers of one request, as received.
#[derive(Debug, Clone, Default)]
pub struct JcardCredentials<'a> {
    pub version: Option<&'a str>,
    pub consumer_id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub hash: Option<&'a str>,
}

/// Why a request is not authenticated, in the order the checks run. The `code` strings are
/// jPOS-EE's where it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("unsupported.version")]
    UnsupportedVersion,
    #[error("invalid.consumer")]
    InvalidConsumer,
    #[error("invalid.null.hash")]
    MissingHash,
    #[error("invalid.timestamp")]
    InvalidTimestamp,
    #[error("invalid.nonce")]
    InvalidNonce,
    #[error("invalid.hash")]
    InvalidHash,
    #[error("replayed.nonce")]
    ReplayedNonce,
    #[error("invalid.timestamp")]
    BelowReplayFloor,
}

impl AuthFailure {
    /// The error string of jCard's error shape.
    pub fn code(self) -> String {
        self.to_string()
    }
}

/// The HMAC the client must have sent, Base64-encoded.
pub fn jcard_hash(key: &[u8], timestamp: &str, nonce: &str, body: &[u8]) -> String {
    let mut mac = new_mac(key);
    mac.update(timestamp.as_bytes());
    mac.update(nonce.as_bytes());
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn new_mac(key: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
}

/// The five jCard credential headers for a request with `body`, signed with `key` (the
/// Base64-decoded consumer secret). For clients: tests, benchmarks, the load generator.
pub fn sign_jcard(
    consumer_id: &Uuid,
    key: &[u8],
    timestamp_ms: EpochMs,
    nonce: &str,
    body: &[u8],
) -> [(&'static str, String); 5] {
    let timestamp = timestamp_ms.to_string();
    let hash = jcard_hash(key, &timestamp, nonce, body);
    [
        ("version", JCARD_AUTH_VERSION.to_owned()),
        ("consumer-id", consumer_id.to_string()),
        ("timestamp", timestamp),
        ("nonce", nonce.to_owned()),
        ("hash", hash),
    ]
}

/// Checks the `hash` header against the body in constant time.
pub fn verify_jcard_hash(
    key: &[u8],
    timestamp: &str,
    nonce: &str,
    body: &[u8],
    hash: &str,
) -> bool {
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(hash.trim()) else {
        return false;
    };
    let mut mac = new_mac(key);
    mac.update(timestamp.as_bytes());
    mac.update(nonce.as_bytes());
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// Parses the `timestamp` header (epoch milliseconds) and checks it against `now_ms`.
pub fn check_timestamp(
    text: &str,
    now_ms: EpochMs,
    skew_ms_max: i64,
) -> Result<EpochMs, AuthFailure> {
    let timestamp: EpochMs = text.trim().parse().map_err(|_| AuthFailure::InvalidTimestamp)?;
    let skew = now_ms.checked_sub(timestamp).map(i64::unsigned_abs);
    match skew {
        Some(skew) if skew <= skew_ms_max.unsigned_abs() => Ok(timestamp),
        _ => Err(AuthFailure::InvalidTimestamp),
    }
}

/// Parses the `consumer-id` header.
pub fn parse_consumer_id(text: &str) -> Result<Uuid, AuthFailure> {
    Uuid::parse_str(text.trim()).map_err(|_| AuthFailure::InvalidConsumer)
}

/// Nonces seen within the timestamp window, per consumer, in bounded memory.
///
/// A nonce must be remembered until its request's timestamp falls out of the allowed window;
/// after that the timestamp check alone refuses a replay. Entries are a keyed 64-bit hash of
/// (consumer, nonce) ordered by request timestamp. When a shard is full, its oldest entry is
/// evicted and the shard's floor rises to that entry's timestamp: requests at or below the
/// floor are refused as too old, so an evicted nonce can never be replayed, and a full cache
/// narrows the accepted window instead of refusing everyone.
pub struct NonceCache {
    shards: Vec<Mutex<NonceShard>>,
    shard_entries_max: usize,
    window_ms: i64,
    hasher: std::collections::hash_map::RandomState,
}

#[derive(Default)]
struct NonceShard {
    /// The keyed hashes remembered. They are keyed already (`NonceCache::hasher`), so FxHash
    /// only has to spread them, not to resist chosen collisions.
    seen: FxHashSet<u64>,
    /// The same entries by the second of their request timestamp, oldest second first. Taking
    /// the oldest from here is a step along a vector; a binary heap of a shard's up to 250,000
    /// entries was sifted down its whole height on every request once the cache was full
    /// (`docs/performance.md`, "The nonce cache").
    seconds: VecDeque<NonceSecond>,
    /// Requests with timestamps at or below this were possibly evicted: refuse them.
    floor_ms: EpochMs,
}

/// The entries whose request timestamps fall in one second.
struct NonceSecond {
    start_ms: EpochMs,
    /// (request timestamp, hash), as they came: nearly in timestamp order, sorted before the
    /// oldest is taken.
    entries: VecDeque<(EpochMs, u64)>,
    sorted: bool,
}

/// The span of timestamps one `NonceSecond` holds.
const NONCE_PERIOD_MS: i64 = 1000;
const NONCE_SHARDS: usize = 16;

impl NonceCache {
    pub fn new(entries_max: usize, window_ms: i64) -> NonceCache {
        NonceCache {
            shards: (0..NONCE_SHARDS)
                .map(|_| Mutex::new(NonceShard { floor_ms: EpochMs::MIN, ..NonceShard::default() }))
                .collect(),
            shard_entries_max: entries_max.div_ceil(NONCE_SHARDS).max(1),
            window_ms,
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    /// Records a nonce; refuses one already seen for that consumer within the window, or a
    /// timestamp at or below the floor of a shard that had to evict.
    pub fn check_and_insert(
        &self,
        consumer: Uuid,
        nonce: &str,
        timestamp_ms: EpochMs,
        now_ms: EpochMs,
    ) -> Result<(), AuthFailure> {
        let hash = self.hasher.hash_one((consumer, nonce));
        let shard_index = usize::try_from(hash).unwrap_or_default() % NONCE_SHARDS;
        let cutoff_ms = now_ms.saturating_sub(self.window_ms);
        self.shards[shard_index].lock().check_and_insert(
            hash,
            timestamp_ms,
            cutoff_ms,
            self.shard_entries_max,
        )
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.lock().seen.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl NonceShard {
    /// `NonceCache::check_and_insert` for this shard's keys: forgets requests before
    /// `cutoff_ms`, keeps at most `entries_max`.
    fn check_and_insert(
        &mut self,
        hash: u64,
        timestamp_ms: EpochMs,
        cutoff_ms: EpochMs,
        entries_max: usize,
    ) -> Result<(), AuthFailure> {
        self.expire(cutoff_ms);
        if timestamp_ms <= self.floor_ms {
            return Err(AuthFailure::BelowReplayFloor);
        }
        if self.seen.contains(&hash) {
            return Err(AuthFailure::ReplayedNonce);
        }
        while self.seen.len() >= entries_max && self.evict_oldest() {}
        if timestamp_ms <= self.floor_ms {
            return Err(AuthFailure::BelowReplayFloor);
        }
        self.insert(timestamp_ms, hash);
        Ok(())
    }

    fn insert(&mut self, timestamp_ms: EpochMs, hash: u64) {
        self.seen.insert(hash);
        let start_ms = timestamp_ms.saturating_sub(timestamp_ms.rem_euclid(NONCE_PERIOD_MS));
        // Nearly always the newest second; a request from a slower clock goes to its own.
        let second = match self.seconds.back() {
            Some(last) if last.start_ms < start_ms => self.seconds.len(),
            Some(last) if last.start_ms == start_ms => self.seconds.len().saturating_sub(1),
            _ => self.seconds.partition_point(|second| second.start_ms < start_ms),
        };
        if self.seconds.get(second).is_none_or(|found| found.start_ms != start_ms) {
            let entries = VecDeque::new();
            self.seconds.insert(second, NonceSecond { start_ms, entries, sorted: true });
        }
        if let Some(found) = self.seconds.get_mut(second) {
            found.sorted &= found.entries.back().is_none_or(|(last, _)| *last <= timestamp_ms);
            found.entries.push_back((timestamp_ms, hash));
        }
    }

    /// Drops the seconds wholly before `cutoff_ms`: the timestamp check refuses those requests
    /// anyway. (Entries of the second the cutoff falls in stay until it has passed.)
    fn expire(&mut self, cutoff_ms: EpochMs) {
        while let Some(first) = self.seconds.front() {
            if first.start_ms.saturating_add(NONCE_PERIOD_MS) > cutoff_ms {
                break;
            }
            if let Some(first) = self.seconds.pop_front() {
                for (_, hash) in first.entries {
                    self.seen.remove(&hash);
                }
            }
        }
    }

    /// Forgets the entry with the oldest request timestamp (the smallest hash among equal
    /// ones) and raises the floor to it; false if there was none.
    fn evict_oldest(&mut self) -> bool {
        let Some(first) = self.seconds.front_mut() else { return false };
        if !first.sorted {
            first.entries.make_contiguous().sort_unstable();
            first.sorted = true;
        }
        if let Some((timestamp_ms, hash)) = first.entries.pop_front() {
            self.seen.remove(&hash);
            self.floor_ms = self.floor_ms.max(timestamp_ms);
        }
        if first.entries.is_empty() {
            self.seconds.pop_front();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode("121b1b1b").unwrap()
    }

    #[test]
    fn design_test_vectors() {
        assert_eq!(
            jcard_hash(&key(), "1212332211222", "121b1b1b", b""),
            "8J/0zhWN2a/1cnndiz1YmaxXv9VYsHOk6M1ASByNjcw="
        );
        assert_eq!(
            jcard_hash(&key(), "1212332211222", "121b1b1b", br#"{"payload":100}"#),
            "oFvfjxJ8y8Jgg/pqskaZyJkV4ktgYDz/3CWiXgIrZL4="
        );
        assert_eq!(
            jcard_hash(&key(), "1212332211222", "", b""),
            "qXgl3uF5/KQL9YlGG50CTSoCETkU6bl0Nv7Fi47b3M8="
        );
    }

    #[test]
    fn verification_rejects_any_change() {
        let good = "oFvfjxJ8y8Jgg/pqskaZyJkV4ktgYDz/3CWiXgIrZL4=";
        let body: &[u8] = br#"{"payload":100}"#;
        let cases: [(&str, &str, &[u8], &str, bool); 5] = [
            ("1212332211222", "121b1b1b", body, good, true),
            ("1212332211222", "121b1b1b", br#"{"payload":101}"#, good, false),
            ("1212332211223", "121b1b1b", body, good, false),
            ("1212332211222", "121b1b1c", body, good, false),
            ("1212332211222", "121b1b1b", body, "not base64!", false),
        ];
        for (timestamp, nonce, body, hash, valid) in cases {
            assert_eq!(
                verify_jcard_hash(&key(), timestamp, nonce, body, hash),
                valid,
                "{timestamp} {nonce}"
            );
        }
    }

    #[test]
    fn timestamps_outside_the_window_are_refused() {
        let now = 1_000_000_000;
        assert_eq!(check_timestamp("1000000000", now, 300_000), Ok(now));
        assert!(check_timestamp("999700000", now, 300_000).is_ok());
        assert_eq!(check_timestamp("999699999", now, 300_000), Err(AuthFailure::InvalidTimestamp));
        assert_eq!(check_timestamp("1000300001", now, 300_000), Err(AuthFailure::InvalidTimestamp));
        assert_eq!(check_timestamp("soon", now, 300_000), Err(AuthFailure::InvalidTimestamp));
    }

    #[test]
    fn nonces_are_single_use_within_the_window() {
        let cache = NonceCache::new(1024, 1000);
        let consumer = Uuid::from_u128(1);
        assert_eq!(cache.check_and_insert(consumer, "a", 0, 0), Ok(()));
        assert_eq!(cache.check_and_insert(consumer, "a", 0, 10), Err(AuthFailure::ReplayedNonce));
        assert_eq!(cache.check_and_insert(Uuid::from_u128(2), "a", 0, 10), Ok(()));
        // Once the request's timestamp is out of the window the entry is forgotten (the
        // timestamp check refuses such a replay).
        assert_eq!(cache.check_and_insert(consumer, "a", 5000, 5000), Ok(()));
        assert_eq!(
            cache.check_and_insert(consumer, "a", 5000, 5001),
            Err(AuthFailure::ReplayedNonce)
        );
    }

    /// What a shard did with its binary heap: entries ordered by (timestamp, hash), the
    /// oldest evicted first. Without expiry the seconds must answer exactly as it did.
    #[derive(Default)]
    struct HeapShard {
        entries: std::collections::BTreeSet<(EpochMs, u64)>,
        seen: std::collections::HashSet<u64>,
        floor_ms: EpochMs,
    }

    impl HeapShard {
        fn check_and_insert(
            &mut self,
            hash: u64,
            timestamp_ms: EpochMs,
            max: usize,
        ) -> Result<(), AuthFailure> {
            if timestamp_ms <= self.floor_ms {
                return Err(AuthFailure::BelowReplayFloor);
            }
            if self.seen.contains(&hash) {
                return Err(AuthFailure::ReplayedNonce);
            }
            while self.seen.len() >= max {
                let (oldest_ms, oldest) = self.entries.pop_first().unwrap();
                self.seen.remove(&oldest);
                self.floor_ms = self.floor_ms.max(oldest_ms);
            }
            if timestamp_ms <= self.floor_ms {
                return Err(AuthFailure::BelowReplayFloor);
            }
            self.entries.insert((timestamp_ms, hash));
            self.seen.insert(hash);
            Ok(())
        }
    }

    #[test]
    fn a_full_shard_evicts_exactly_as_a_heap_by_timestamp_would() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(20261122);
        for max in [1, 7, 64] {
            let mut shard = NonceShard { floor_ms: EpochMs::MIN, ..NonceShard::default() };
            let mut model = HeapShard { floor_ms: EpochMs::MIN, ..HeapShard::default() };
            for step in 0..20_000_i64 {
                // Clocks that run behind by up to 3 s, some requests ahead, nonces reused.
                let timestamp_ms = 1_000_000 + step * 7 + rng.gen_range(-3_000..500);
                let hash = rng.gen_range(0..4_000_u64);
                let answer = shard.check_and_insert(hash, timestamp_ms, EpochMs::MIN, max);
                assert_eq!(answer, model.check_and_insert(hash, timestamp_ms, max), "step {step}");
                assert_eq!((shard.seen.len(), shard.floor_ms), (model.seen.len(), model.floor_ms));
            }
            let kept: usize = shard.seconds.iter().map(|second| second.entries.len()).sum();
            assert_eq!(kept, shard.seen.len(), "every hash remembered is in its second");
            assert!(shard
                .seconds
                .iter()
                .zip(shard.seconds.iter().skip(1))
                .all(|(a, b)| a.start_ms < b.start_ms));
        }
    }

    #[test]
    fn expiry_drops_whole_seconds_before_the_cutoff() {
        let mut shard = NonceShard { floor_ms: EpochMs::MIN, ..NonceShard::default() };
        for (timestamp_ms, hash) in [(2_500, 1), (1_999, 2), (1_000, 3), (3_000, 4), (999, 5)] {
            assert_eq!(shard.check_and_insert(hash, timestamp_ms, 0, 100), Ok(()));
        }
        let starts = |shard: &NonceShard| {
            shard.seconds.iter().map(|second| second.start_ms).collect::<Vec<_>>()
        };
        assert_eq!(starts(&shard), vec![0, 1_000, 2_000, 3_000]);
        // 1,999 is before the cutoff but its second is not over: it stays, and is still refused.
        assert_eq!(shard.check_and_insert(2, 1_999, 1_500, 100), Err(AuthFailure::ReplayedNonce));
        assert_eq!(starts(&shard), vec![1_000, 2_000, 3_000]);
        assert!(!shard.seen.contains(&5), "the second before the cutoff's is forgotten");
        assert_eq!(shard.check_and_insert(9, 4_000, 3_000, 100), Ok(()));
        assert_eq!(starts(&shard), vec![3_000, 4_000]);
        assert_eq!(shard.seen.len(), 2);
        assert_eq!(shard.floor_ms, EpochMs::MIN, "expiry is not eviction: no floor");
    }

    #[test]
    fn a_full_cache_narrows_the_window_instead_of_locking_everyone_out() {
        let cache = NonceCache::new(16, 1_000_000);
        let consumer = Uuid::from_u128(1);
        for n in 0..1000_i64 {
            assert_eq!(cache.check_and_insert(consumer, &n.to_string(), n, 1000), Ok(()), "{n}");
        }
        assert!(cache.len() <= 16 * NONCE_SHARDS);
        // Every nonce ever accepted is refused again: still remembered, or below the floor.
        for n in 0..1000_i64 {
            let again = cache.check_and_insert(consumer, &n.to_string(), n, 1000);
            assert!(
                matches!(again, Err(AuthFailure::ReplayedNonce | AuthFailure::BelowReplayFloor)),
                "{n}: {again:?}"
            );
        }
        // Fresh requests keep being accepted.
        assert_eq!(cache.check_and_insert(consumer, "fresh", 2000, 2000), Ok(()));
    }
}
