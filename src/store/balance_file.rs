//! The balance snapshot file (`balances.snapshot` in the data directory): every balance of the
//! ledger as of one transaction id, written whole beside the store and renamed into place. The
//! balances are derived from the GL transactions; the file only saves replaying all of them at
//! open (`core::balance_snapshot` decides when it is written and how it is read back).
//!
//! Layout (little-endian): the magic `CSBAL001`, the id below which every transaction is in it
//! (u64), the count of balances (u64), then per balance the account id (u64), the layer (i16)
//! and the amount in ledger units (i64), in account and layer order; last, the CRC-32 of
//! everything before it.

use std::path::Path;

use crate::files;

/// The snapshot's name in the data directory.
pub const BALANCES_FILE: &str = "balances.snapshot";
const MAGIC: &[u8; 8] = b"CSBAL001";
const HEADER_BYTES: usize = 24;
const BALANCE_BYTES: usize = 18;
const CRC_BYTES: usize = 4;

/// One balance: an account's amount on a layer, in ledger units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredBalance {
    pub account_id: u64,
    pub layer: i16,
    pub units: i64,
}

/// A snapshot read back: the balances with every transaction below `transactions_below`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceSnapshot {
    pub transactions_below: u64,
    pub balances: Vec<StoredBalance>,
}

/// The file's bytes for the balances `balances` (any order) with every transaction below
/// `transactions_below`.
pub fn encode(
    transactions_below: u64,
    balances: impl IntoIterator<Item = StoredBalance>,
) -> Vec<u8> {
    let mut sorted: Vec<StoredBalance> = balances.into_iter().collect();
    sorted.sort_unstable_by_key(|balance| (balance.account_id, balance.layer));
    let count = u64::try_from(sorted.len()).unwrap_or(u64::MAX);
    let mut bytes =
        Vec::with_capacity(HEADER_BYTES + sorted.len().saturating_mul(BALANCE_BYTES) + CRC_BYTES);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&transactions_below.to_le_bytes());
    bytes.extend_from_slice(&count.to_le_bytes());
    for balance in sorted {
        bytes.extend_from_slice(&balance.account_id.to_le_bytes());
        bytes.extend_from_slice(&balance.layer.to_le_bytes());
        bytes.extend_from_slice(&balance.units.to_le_bytes());
    }
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
}

/// Reads `bytes` back; `Err` says why they are not a whole snapshot.
pub fn decode(bytes: &[u8]) -> Result<BalanceSnapshot, String> {
    let (body, crc) = bytes
        .split_last_chunk::<CRC_BYTES>()
        .filter(|(body, _)| body.len() >= HEADER_BYTES)
        .ok_or_else(|| format!("{} bytes are too few for a snapshot", bytes.len()))?;
    if !body.starts_with(MAGIC) {
        return Err("it is not a balance snapshot (or of another version)".to_owned());
    }
    if crc32fast::hash(body) != u32::from_le_bytes(*crc) {
        return Err("its checksum does not match".to_owned());
    }
    let (header, records) = body.split_at(HEADER_BYTES);
    let transactions_below = u64::from_le_bytes(array(&header[8..16]));
    let count = u64::from_le_bytes(array(&header[16..24]));
    if usize::try_from(count).ok().and_then(|count| count.checked_mul(BALANCE_BYTES))
        != Some(records.len())
    {
        return Err(format!("it names {count} balances and holds {} bytes of them", records.len()));
    }
    let balances = records
        .chunks_exact(BALANCE_BYTES)
        .map(|record| StoredBalance {
            account_id: u64::from_le_bytes(array(&record[0..8])),
            layer: i16::from_le_bytes(array(&record[8..10])),
            units: i64::from_le_bytes(array(&record[10..18])),
        })
        .collect();
    Ok(BalanceSnapshot { transactions_below, balances })
}

/// The first `N` bytes of `bytes` (callers pass exactly `N`).
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0_u8; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

/// Replaces the data directory's snapshot with `bytes` (from `encode`) durably: a crash
/// leaves the old snapshot or the new one, never a part.
pub fn write(data_dir: &Path, bytes: &[u8]) -> std::io::Result<()> {
    files::replace_file(data_dir, BALANCES_FILE, bytes)
}

/// The data directory's snapshot: `Ok(None)` when there is none, `Err` saying why the one
/// there cannot be used.
pub fn read(data_dir: &Path) -> Result<Option<BalanceSnapshot>, String> {
    match std::fs::read(data_dir.join(BALANCES_FILE)) {
        Ok(bytes) => decode(&bytes).map(Some),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balance(account_id: u64, layer: i16, units: i64) -> StoredBalance {
        StoredBalance { account_id, layer, units }
    }

    #[test]
    fn a_snapshot_reads_back_sorted_and_whole() {
        let bytes =
            encode(42, [balance(9, 1840, -5), balance(3, 840, 700), balance(9, 840, i64::MIN)]);
        let snapshot = decode(&bytes).expect("a whole snapshot");
        assert_eq!(snapshot.transactions_below, 42);
        assert_eq!(
            snapshot.balances,
            vec![balance(3, 840, 700), balance(9, 840, i64::MIN), balance(9, 1840, -5)]
        );
        assert_eq!(decode(&encode(1, [])).expect("empty").balances, vec![]);
    }

    #[test]
    fn every_cut_and_every_flipped_byte_is_refused() {
        let bytes = encode(7, [balance(1, 0, 10), balance(2, 0, -10)]);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut} accepted");
        }
        for at in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x10;
            assert!(decode(&flipped).is_err(), "flip at {at} accepted");
        }
    }

    #[test]
    fn a_written_snapshot_replaces_the_last_and_leaves_no_partial_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(read(dir.path()), Ok(None));
        write(dir.path(), &encode(3, [balance(1, 0, 5)])).expect("first");
        write(dir.path(), &encode(9, [balance(1, 0, 8)])).expect("second");
        let snapshot = read(dir.path()).expect("readable").expect("present");
        assert_eq!(
            snapshot,
            BalanceSnapshot { transactions_below: 9, balances: vec![balance(1, 0, 8)] }
        );
        assert!(!dir.path().join(format!("{BALANCES_FILE}.partial")).exists());
        std::fs::write(dir.path().join(BALANCES_FILE), b"CSBAL001 but cut").expect("overwrite");
        assert!(read(dir.path()).is_err());
    }
}
