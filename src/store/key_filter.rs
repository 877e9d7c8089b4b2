//! A run's key filter (a blocked Bloom filter): answers "maybe" for every key the run holds and
//! "no" for nearly every key it does not, so that looking up an absent key (the RRN of a new
//! debit, nearly always) reads no block of the run.
//!
//! Each key sets `PROBES` bits inside one 512-bit block (one cache line), chosen by a mix of the
//! key: a lookup costs one cache miss per run however many bits it tests. At `BITS_PER_KEY` = 10
//! about one absent key in a hundred is a false "maybe" (the unit test measures it), which
//! costs one block read, never a wrong answer: a "maybe" is always checked against the run.

/// Bits per key a filter is sized for.
const BITS_PER_KEY: u64 = 10;
/// Bits tested per key (7 is the optimum at 10 bits a key).
const PROBES: u32 = 7;
/// u64 words in a block: 512 bits, one cache line.
const BLOCK_WORDS: usize = 8;
const BLOCK_BYTES: usize = BLOCK_WORDS * 8;
const BLOCK_BITS: u64 = 512;

/// A filter over a set of u64 keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFilter {
    words: Vec<u64>,
}

/// A 64-bit finaliser (splitmix64's): spreads sequential and hashed keys alike over all bits.
fn mix(mut value: u64) -> u64 {
    value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

impl KeyFilter {
    /// An empty filter sized for `keys` keys (at least one block).
    pub fn with_capacity(keys: u64) -> KeyFilter {
        let blocks = keys.saturating_mul(BITS_PER_KEY).div_ceil(BLOCK_BITS).max(1);
        let words = usize::try_from(blocks).unwrap_or(usize::MAX / BLOCK_WORDS) * BLOCK_WORDS;
        KeyFilter { words: vec![0; words] }
    }

    fn blocks(&self) -> u64 {
        u64::try_from(self.words.len() / BLOCK_WORDS).unwrap_or(u64::MAX)
    }

    /// The first word of `key`'s block, and the hash its bits are taken from.
    fn locate(&self, key: u64) -> (usize, u64) {
        let hash = mix(key);
        // Multiply-shift maps the hash onto the blocks without a division.
        let block = (u128::from(hash) * u128::from(self.blocks())) >> 64;
        let block = usize::try_from(block).unwrap_or(0);
        (block * BLOCK_WORDS, mix(hash ^ 0x9e37_79b9_7f4a_7c15))
    }

    /// Word (within the block) and bit mask of probe `probe` of `bits`: 9 bits of it each.
    fn probe(bits: u64, probe: u32) -> (usize, u64) {
        let position = (bits >> (probe * 9)) & (BLOCK_BITS - 1);
        (usize::try_from(position >> 6).unwrap_or(0), 1_u64 << (position & 63))
    }

    pub fn insert(&mut self, key: u64) {
        let (first, bits) = self.locate(key);
        for probe in 0..PROBES {
            let (word, mask) = Self::probe(bits, probe);
            if let Some(word) = self.words.get_mut(first + word) {
                *word |= mask;
            }
        }
    }

    /// False only if `key` was never inserted.
    pub fn may_contain(&self, key: u64) -> bool {
        let (first, bits) = self.locate(key);
        (0..PROBES).all(|probe| {
            let (word, mask) = Self::probe(bits, probe);
            self.words.get(first + word).is_some_and(|word| word & mask != 0)
        })
    }

    /// Bytes of the filter as `to_bytes` writes it.
    pub fn len_bytes(&self) -> usize {
        self.words.len() * 8
    }

    /// Appends the filter to `out` (its words, little-endian).
    pub fn to_bytes(&self, out: &mut Vec<u8>) {
        out.reserve(self.len_bytes());
        for word in &self.words {
            out.extend_from_slice(&word.to_le_bytes());
        }
    }

    /// The filter `to_bytes` wrote, if `bytes` can be one (whole blocks, at least one).
    pub fn from_bytes(bytes: &[u8]) -> Option<KeyFilter> {
        if bytes.is_empty() || !bytes.len().is_multiple_of(BLOCK_BYTES) {
            return None;
        }
        let words = bytes
            .chunks_exact(8)
            .map(|word| word.try_into().map(u64::from_le_bytes))
            .collect::<Result<Vec<u64>, _>>()
            .ok()?;
        Some(KeyFilter { words })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_inserted_key_may_be_contained_and_few_others_are() {
        let keys = 100_000_u64;
        let mut filter = KeyFilter::with_capacity(keys);
        // Sequential keys (account ids) and hashed ones (RRN keys) alike.
        let inserted = |at: u64| if at.is_multiple_of(2) { at } else { mix(at) };
        for at in 0..keys {
            filter.insert(inserted(at));
        }
        assert!((0..keys).all(|at| filter.may_contain(inserted(at))));
        let absent = (keys..keys * 3).filter(|at| filter.may_contain(inserted(*at))).count();
        let rate = f64::from(u32::try_from(absent).unwrap()) / 200_000.0;
        assert!(rate < 0.02, "false positive rate {rate}");
        assert!(rate > 0.0, "a filter of 10 bits a key answers some absent keys with maybe");
        assert_eq!(filter.len_bytes(), 125_056, "10 bits a key, rounded up to whole blocks");
    }

    #[test]
    fn a_filter_round_trips_through_its_bytes_and_bad_lengths_are_refused() {
        let mut filter = KeyFilter::with_capacity(3);
        for key in [1, 7, u64::MAX] {
            filter.insert(key);
        }
        let mut bytes = Vec::new();
        filter.to_bytes(&mut bytes);
        assert_eq!(bytes.len(), 64);
        assert_eq!(KeyFilter::from_bytes(&bytes), Some(filter));
        assert_eq!(KeyFilter::from_bytes(&bytes[..63]), None);
        assert_eq!(KeyFilter::from_bytes(&[]), None);
    }

    #[test]
    fn an_empty_filter_contains_nothing() {
        let filter = KeyFilter::with_capacity(0);
        assert!((0..1000).all(|key| !filter.may_contain(key)));
    }
}
