//! One sorted run of the account-entry index (`entries.rs`): an immutable file of fixed-size
//! records in entry-position order, written once and read by position with a binary search.
//!
//! Layout: an 8-byte magic (`CSENTRY` and the format's version byte), the record count (u64,
//! big-endian), the records (`RECORD_BYTES` each: account id, post date, transaction id, entry
//! index, layer, side, amount units, all big-endian), then a CRC-32 of everything before it.
//! The whole file is read and checked when it is opened; reads after that go to the file by
//! offset, found through the first position of every block kept in memory.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::schema::{ordered_i64, EntryPosition};
use super::StoreError;

const MAGIC: [u8; 8] = *b"CSENTRY\x01";
const HEADER_LEN: usize = 16;
const HEADER_BYTES: u64 = 16;
const CRC_LEN: usize = 4;
const CRC_BYTES: u64 = 4;
/// Bytes of one record on disk.
pub const RECORD_BYTES: usize = 37;
const RECORD_BYTES_U64: u64 = 37;
/// Records read at once (about 4.7 KiB); every block's first position is kept in memory.
const BLOCK_RECORDS: u64 = 128;

/// One account entry as the index keeps it: where it is in its account's history and what it
/// posts. The ledger's types stay out of the store: the side is `credit`, the amount its units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct IndexedEntry {
    pub position: EntryPosition,
    pub layer: i16,
    pub credit: bool,
    pub amount_units: i64,
}

impl IndexedEntry {
    fn encode(&self, out: &mut [u8; RECORD_BYTES]) {
        let position = &self.position;
        out[0..8].copy_from_slice(&position.account_id.to_be_bytes());
        // Order-preserving, so that a run's bytes sort as its positions do.
        out[8..16].copy_from_slice(&ordered_i64(position.post_date_ms));
        out[16..24].copy_from_slice(&position.transaction_id.to_be_bytes());
        out[24..26].copy_from_slice(&position.entry_index.to_be_bytes());
        out[26..28].copy_from_slice(&self.layer.to_be_bytes());
        out[28] = u8::from(self.credit);
        out[29..37].copy_from_slice(&self.amount_units.to_be_bytes());
    }

    fn decode(bytes: &[u8]) -> Option<IndexedEntry> {
        let field8 = |at: usize| -> Option<[u8; 8]> { bytes.get(at..at + 8)?.try_into().ok() };
        let field2 = |at: usize| -> Option<[u8; 2]> { bytes.get(at..at + 2)?.try_into().ok() };
        let credit = match bytes.get(28)? {
            0 => false,
            1 => true,
            _ => return None,
        };
        Some(IndexedEntry {
            position: EntryPosition {
                account_id: u64::from_be_bytes(field8(0)?),
                post_date_ms: super::schema::i64_from_ordered(field8(8)?),
                transaction_id: u64::from_be_bytes(field8(16)?),
                entry_index: u16::from_be_bytes(field2(24)?),
            },
            layer: i16::from_be_bytes(field2(26)?),
            credit,
            amount_units: i64::from_be_bytes(field8(29)?),
        })
    }
}

/// An open run file.
#[derive(Debug)]
pub struct Run {
    pub id: u64,
    count: u64,
    /// The highest transaction id in the run.
    max_transaction_id: Option<u64>,
    file: File,
    path: PathBuf,
    /// The first position of every block.
    fences: Vec<EntryPosition>,
}

/// The file name of run `id`.
pub fn file_name(id: u64) -> String {
    format!("run-{id:016x}")
}

fn corrupt(path: &Path, reason: impl Into<String>) -> StoreError {
    StoreError::Corruption { key: path.display().to_string(), reason: reason.into() }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |error| {
        StoreError::from_io(&std::io::Error::new(
            error.kind(),
            format!("{}: {error}", path.display()),
        ))
    }
}

/// Writes `entries` (in position order, `count` of them) as run `id` in `dir`: to a temporary
/// name, synced, then renamed into place and the directory synced. A crash leaves either the
/// whole run or no file of that name.
pub fn write(
    dir: &Path,
    id: u64,
    count: u64,
    entries: impl Iterator<Item = Result<IndexedEntry, StoreError>>,
) -> Result<Run, StoreError> {
    let partial = dir.join(format!("{}.partial", file_name(id)));
    let written = write_partial(&partial, count, entries);
    if written.is_err() {
        // Whatever was written is of no use; an open would delete it anyway.
        let _ = std::fs::remove_file(&partial);
    }
    written?;
    let path = dir.join(file_name(id));
    std::fs::rename(&partial, &path).map_err(io(&path))?;
    super::sync_dir(dir).map_err(io(dir))?;
    open(dir, id)
}

/// Writes and syncs the whole file at `partial`.
fn write_partial(
    partial: &Path,
    count: u64,
    entries: impl Iterator<Item = Result<IndexedEntry, StoreError>>,
) -> Result<(), StoreError> {
    let file = super::private_file(partial).map_err(io(partial))?;
    let mut crc = crc32fast::Hasher::new();
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let mut put = |bytes: &[u8], out: &mut BufWriter<File>| -> Result<(), StoreError> {
        crc.update(bytes);
        out.write_all(bytes).map_err(io(partial))
    };
    put(&MAGIC, &mut out)?;
    put(&count.to_be_bytes(), &mut out)?;
    let mut written = 0_u64;
    let mut last: Option<EntryPosition> = None;
    let mut record = [0_u8; RECORD_BYTES];
    for entry in entries {
        let entry = entry?;
        if last.is_some_and(|last| last >= entry.position) {
            return Err(corrupt(partial, "entries handed to a run out of order"));
        }
        last = Some(entry.position);
        entry.encode(&mut record);
        put(&record, &mut out)?;
        written = written.saturating_add(1);
    }
    if written != count {
        return Err(corrupt(partial, format!("{written} entries written, {count} announced")));
    }
    let sum = crc.finalize();
    out.write_all(&sum.to_be_bytes()).map_err(io(partial))?;
    let file = out.into_inner().map_err(|error| io(partial)(error.into_error()))?;
    file.sync_all().map_err(io(partial))
}

/// Opens run `id` in `dir`, reading the whole file once: its length, order and checksum.
pub fn open(dir: &Path, id: u64) -> Result<Run, StoreError> {
    let path = dir.join(file_name(id));
    let file = File::open(&path).map_err(io(&path))?;
    let length = file.metadata().map_err(io(&path))?.len();
    let mut reader = BufReader::with_capacity(256 * 1024, &file);
    let mut crc = crc32fast::Hasher::new();
    let mut header = [0_u8; HEADER_LEN];
    reader.read_exact(&mut header).map_err(|_| corrupt(&path, "shorter than its header"))?;
    crc.update(&header);
    if header[..8] != MAGIC {
        return Err(corrupt(&path, "not an entry run of this format"));
    }
    let count = u64::from_be_bytes(header[8..16].try_into().unwrap_or_default());
    let expected = count
        .checked_mul(RECORD_BYTES_U64)
        .and_then(|bytes| bytes.checked_add(HEADER_BYTES + CRC_BYTES));
    if expected != Some(length) {
        return Err(corrupt(&path, format!("{length} bytes for {count} entries")));
    }
    let mut fences = Vec::with_capacity(usize::try_from(count / BLOCK_RECORDS + 1).unwrap_or(0));
    let mut record = [0_u8; RECORD_BYTES];
    let mut last: Option<EntryPosition> = None;
    let mut max_transaction_id = None;
    for index in 0..count {
        reader.read_exact(&mut record).map_err(io(&path))?;
        crc.update(&record);
        let entry = IndexedEntry::decode(&record)
            .ok_or_else(|| corrupt(&path, format!("entry {index} is malformed")))?;
        if last.is_some_and(|last| last >= entry.position) {
            return Err(corrupt(&path, format!("entry {index} is out of order")));
        }
        last = Some(entry.position);
        max_transaction_id = max_transaction_id.max(Some(entry.position.transaction_id));
        if index.is_multiple_of(BLOCK_RECORDS) {
            fences.push(entry.position);
        }
    }
    let mut stored = [0_u8; CRC_LEN];
    reader.read_exact(&mut stored).map_err(io(&path))?;
    if u32::from_be_bytes(stored) != crc.finalize() {
        return Err(corrupt(&path, "checksum mismatch"));
    }
    drop(reader);
    Ok(Run { id, count, max_transaction_id, file, path, fences })
}

impl Run {
    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn max_transaction_id(&self) -> Option<u64> {
        self.max_transaction_id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Entries `[start, end)` by index, read from the file.
    fn read(&self, start: u64, end: u64) -> Result<Vec<IndexedEntry>, StoreError> {
        let count = usize::try_from(end.saturating_sub(start)).unwrap_or(0);
        let mut bytes = vec![0_u8; count.saturating_mul(RECORD_BYTES)];
        let offset = HEADER_BYTES.saturating_add(start.saturating_mul(RECORD_BYTES_U64));
        self.file.read_exact_at(&mut bytes, offset).map_err(io(&self.path))?;
        bytes
            .chunks_exact(RECORD_BYTES)
            .map(|record| {
                IndexedEntry::decode(record).ok_or_else(|| corrupt(&self.path, "malformed entry"))
            })
            .collect()
    }

    /// The index of the first entry at or after `position` (`count` if none is).
    fn lower_bound(&self, position: &EntryPosition) -> Result<u64, StoreError> {
        // The last block starting before `position` holds the answer, or the answer is the
        // next block's start.
        let block = self.fences.partition_point(|fence| fence < position);
        let Some(block) = block.checked_sub(1) else {
            return Ok(0);
        };
        let start = u64::try_from(block).unwrap_or(u64::MAX).saturating_mul(BLOCK_RECORDS);
        let end = start.saturating_add(BLOCK_RECORDS).min(self.count);
        let entries = self.read(start, end)?;
        let within = entries.partition_point(|entry| entry.position < *position);
        Ok(start.saturating_add(u64::try_from(within).unwrap_or(u64::MAX)))
    }

    /// The entries with positions in `[from, to)`, in order or reversed, read a block at a time.
    pub fn range(
        self: &Arc<Run>,
        from: &EntryPosition,
        to: &EntryPosition,
        reverse: bool,
    ) -> Result<RunCursor, StoreError> {
        let start = self.lower_bound(from)?;
        let end = self.lower_bound(to)?.max(start);
        Ok(RunCursor { run: Arc::clone(self), start, end, reverse, buffer: VecDeque::new() })
    }

    /// Every entry of the run, in order.
    pub fn all(self: &Arc<Run>) -> RunCursor {
        RunCursor {
            run: Arc::clone(self),
            start: 0,
            end: self.count,
            reverse: false,
            buffer: VecDeque::new(),
        }
    }
}

/// A run's entries in `[start, end)` by index, not yet read.
pub struct RunCursor {
    run: Arc<Run>,
    start: u64,
    end: u64,
    reverse: bool,
    buffer: VecDeque<IndexedEntry>,
}

impl Iterator for RunCursor {
    type Item = Result<IndexedEntry, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buffer.is_empty() && self.start < self.end {
            let (from, to) = if self.reverse {
                (self.end.saturating_sub(BLOCK_RECORDS).max(self.start), self.end)
            } else {
                (self.start, self.start.saturating_add(BLOCK_RECORDS).min(self.end))
            };
            match self.run.read(from, to) {
                Ok(entries) => self.buffer = entries.into(),
                Err(error) => {
                    self.start = self.end;
                    return Some(Err(error));
                }
            }
            if self.reverse {
                self.end = from;
            } else {
                self.start = to;
            }
        }
        let next = if self.reverse { self.buffer.pop_back() } else { self.buffer.pop_front() };
        next.map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(account_id: u64, post_date_ms: i64, transaction_id: u64) -> IndexedEntry {
        IndexedEntry {
            position: EntryPosition { account_id, post_date_ms, transaction_id, entry_index: 1 },
            layer: -3,
            credit: transaction_id.is_multiple_of(2),
            amount_units: -7 * i64::try_from(transaction_id).unwrap(),
        }
    }

    fn sample(count: u64) -> Vec<IndexedEntry> {
        (0..count).map(|n| entry(n / 50, i64::try_from(n % 50).unwrap() - 20, n)).collect()
    }

    #[test]
    fn a_record_round_trips_and_sorts_as_its_position() {
        let (a, b) = (entry(1, -5, 9), entry(1, 3, 2));
        let (mut bytes_a, mut bytes_b) = ([0; RECORD_BYTES], [0; RECORD_BYTES]);
        a.encode(&mut bytes_a);
        b.encode(&mut bytes_b);
        assert_eq!(IndexedEntry::decode(&bytes_a), Some(a));
        assert!(bytes_a[..26] < bytes_b[..26] && a.position < b.position);
    }

    #[test]
    fn ranges_read_what_a_filter_would_in_both_directions() {
        let dir = tempfile::tempdir().unwrap();
        let entries = sample(1_000);
        let run = Arc::new(write(dir.path(), 7, 1_000, entries.iter().copied().map(Ok)).unwrap());
        assert_eq!(run.count(), 1_000);
        assert_eq!(run.max_transaction_id(), Some(999));
        assert_eq!(run.all().collect::<Result<Vec<_>, _>>().unwrap(), entries);
        for (account, from, to) in
            [(0, -20, 30), (3, -2, 5), (7, 0, 0), (19, -100, 100), (25, 0, 9)]
        {
            let low = EntryPosition {
                account_id: account,
                post_date_ms: from,
                transaction_id: 0,
                entry_index: 0,
            };
            let high = EntryPosition {
                account_id: account,
                post_date_ms: to,
                transaction_id: 0,
                entry_index: 0,
            };
            let expected: Vec<_> = entries
                .iter()
                .filter(|entry| entry.position >= low && entry.position < high)
                .copied()
                .collect();
            let forward: Vec<_> =
                run.range(&low, &high, false).unwrap().map(Result::unwrap).collect();
            assert_eq!(forward, expected, "account {account} [{from}, {to})");
            let mut backward: Vec<_> =
                run.range(&low, &high, true).unwrap().map(Result::unwrap).collect();
            backward.reverse();
            assert_eq!(backward, expected);
        }
    }

    #[test]
    fn a_damaged_or_cut_run_is_refused_at_open() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 1, 300, sample(300).into_iter().map(Ok)).unwrap();
        let path = dir.path().join(file_name(1));
        let good = std::fs::read(&path).unwrap();
        for at in [3, 12, 500, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x20;
            std::fs::write(&path, &bad).unwrap();
            assert!(matches!(open(dir.path(), 1), Err(StoreError::Corruption { .. })), "{at}");
        }
        std::fs::write(&path, &good[..good.len() - 40]).unwrap();
        assert!(matches!(open(dir.path(), 1), Err(StoreError::Corruption { .. })));
        std::fs::write(&path, &good).unwrap();
        assert_eq!(open(dir.path(), 1).unwrap().count(), 300);
    }

    #[test]
    fn entries_out_of_order_are_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut entries = sample(10);
        entries.swap(3, 4);
        assert!(write(dir.path(), 1, 10, entries.into_iter().map(Ok)).is_err());
        assert!(!dir.path().join(file_name(1)).exists());
    }
}
