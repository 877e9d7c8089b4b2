//! One sorted run of a derived index (`entries.rs`): an immutable file of records in
//! entry-position order, written once and read by position, a block at a time.
//!
//! Layout (format 4): an 8-byte magic (`CSENTRY` and the format's version byte) and the record
//! count (u64, big-endian); then the records in blocks of `BLOCK_RECORDS`, each record
//! encoded against the one before it (`entry_block.rs`: 8-11 bytes in measured runs, where a
//! fixed record takes 37), each block followed by a CRC-32 of its bytes; then the footer:
//! every block's first position (`POSITION_BYTES`) and offset (u64), the run's highest
//! transaction id, the key filter (`key_filter.rs`, over the records' account ids; no bytes
//! in a run written without one) and its length (u64), and a CRC-32 of the footer; last, the
//! footer's offset (u64). An open reads the header and the footer only (a restart does not
//! read the runs, however long the history); a block's checksum is checked whenever it is
//! read, and `verify` reads them all.
//!
//! Format 3 is format 4 without the filter and its length; format 2 has fixed 37-byte records
//! (account id, post date, transaction id, entry index, layer, side, amount units, all
//! big-endian) and no block offsets, which follow from the count. Both are still read: runs
//! written before stay until a merge rewrites them.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::entry_block;
use super::key_filter::KeyFilter;
use super::schema::{ordered_i64, EntryPosition};
use super::StoreError;
use crate::files;

/// The magic of the format written, and of the older ones still read.
const MAGIC: [u8; 8] = *b"CSENTRY\x04";
const MAGIC_UNFILTERED: [u8; 8] = *b"CSENTRY\x03";
const MAGIC_FIXED: [u8; 8] = *b"CSENTRY\x02";
const HEADER_BYTES: u64 = 16;
const CRC_BYTES: u64 = 4;
/// Bytes of one record of format 2.
const RECORD_BYTES: usize = 37;
const RECORD_BYTES_U64: u64 = 37;
/// Bytes of a position: a record's first fields, which sort as the position does.
const POSITION_BYTES: usize = 26;
const POSITION_BYTES_U64: u64 = 26;
/// Bytes of a block's entry in a format 3 footer: its first position and its offset.
const FENCE_BYTES: usize = 34;
/// Bytes after the footer: its offset.
const TRAILER_BYTES: u64 = 8;
/// Records per block (about 1.2 KiB in format 3, 4.7 KiB in format 2), the unit of reading
/// and checking; every block's first position and offset are kept in memory.
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

fn encode_position(position: &EntryPosition, out: &mut [u8]) {
    out[0..8].copy_from_slice(&position.account_id.to_be_bytes());
    // Order-preserving, so that a run's bytes sort as its positions do.
    out[8..16].copy_from_slice(&ordered_i64(position.post_date_ms));
    out[16..24].copy_from_slice(&position.transaction_id.to_be_bytes());
    out[24..26].copy_from_slice(&position.entry_index.to_be_bytes());
}

fn decode_position(bytes: &[u8]) -> Option<EntryPosition> {
    let field8 = |at: usize| -> Option<[u8; 8]> { bytes.get(at..at + 8)?.try_into().ok() };
    Some(EntryPosition {
        account_id: u64::from_be_bytes(field8(0)?),
        post_date_ms: super::schema::i64_from_ordered(field8(8)?),
        transaction_id: u64::from_be_bytes(field8(16)?),
        entry_index: u16::from_be_bytes(bytes.get(24..26)?.try_into().ok()?),
    })
}

impl IndexedEntry {
    /// Format 2's record (written by tests only, to check that such runs are still read).
    #[cfg(test)]
    fn encode(&self, out: &mut [u8; RECORD_BYTES]) {
        encode_position(&self.position, &mut out[..POSITION_BYTES]);
        out[26..28].copy_from_slice(&self.layer.to_be_bytes());
        out[28] = u8::from(self.credit);
        out[29..37].copy_from_slice(&self.amount_units.to_be_bytes());
    }

    fn decode(bytes: &[u8]) -> Option<IndexedEntry> {
        let credit = match bytes.get(28)? {
            0 => false,
            1 => true,
            _ => return None,
        };
        Some(IndexedEntry {
            position: decode_position(bytes)?,
            layer: i16::from_be_bytes(bytes.get(26..28)?.try_into().ok()?),
            credit,
            amount_units: i64::from_be_bytes(bytes.get(29..37)?.try_into().ok()?),
        })
    }
}

/// How a run's blocks are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// Format 2: fixed records.
    Fixed,
    /// Formats 3 and 4: records encoded against the one before (`entry_block.rs`); the footer
    /// of format 4 has room for a key filter.
    Delta { filter_room: bool },
}

/// Blocks and records of a run of `count` records.
#[derive(Debug, Clone, Copy)]
struct Layout {
    count: u64,
}

impl Layout {
    fn blocks(self) -> u64 {
        self.count.div_ceil(BLOCK_RECORDS)
    }

    /// Records in block `block`.
    fn records_in(self, block: u64) -> u64 {
        self.count.saturating_sub(block.saturating_mul(BLOCK_RECORDS)).min(BLOCK_RECORDS)
    }

    /// Format 2: where each block starts and where the last one ends.
    fn fixed_bounds(self) -> Option<Vec<u64>> {
        let full = BLOCK_RECORDS * RECORD_BYTES_U64 + CRC_BYTES;
        let mut bounds: Vec<u64> = (0..self.blocks())
            .map(|block| block.checked_mul(full)?.checked_add(HEADER_BYTES))
            .collect::<Option<_>>()?;
        let records = self.count.checked_mul(RECORD_BYTES_U64)?;
        let end = records.checked_add(self.blocks().checked_mul(CRC_BYTES)?)?;
        bounds.push(end.checked_add(HEADER_BYTES)?);
        Some(bounds)
    }
}

/// An open run file.
#[derive(Debug)]
pub struct Run {
    pub id: u64,
    layout: Layout,
    format: Format,
    /// The highest transaction id in the run.
    max_transaction_id: Option<u64>,
    file: File,
    path: PathBuf,
    /// The first position of every block.
    fences: Vec<EntryPosition>,
    /// Where every block starts, and where the last one ends.
    bounds: Vec<u64>,
    /// The run's key filter, if it was written with one.
    filter: Option<KeyFilter>,
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

/// Writes `entries` (in position order, `count` of them) as run `id` in `dir`, with a key
/// filter if `filtered`: to a temporary name, synced, then renamed into place and the
/// directory synced. A crash leaves either the whole run or no file of that name.
pub fn write(
    dir: &Path,
    id: u64,
    count: u64,
    filtered: bool,
    entries: impl Iterator<Item = Result<IndexedEntry, StoreError>>,
) -> Result<Run, StoreError> {
    let partial = dir.join(format!("{}.partial", file_name(id)));
    let filter = filtered.then(|| KeyFilter::with_capacity(count));
    let written = write_partial(&partial, count, filter, entries);
    if written.is_err() {
        // Whatever was written is of no use; an open would delete it anyway.
        let _ = std::fs::remove_file(&partial);
    }
    written?;
    let path = dir.join(file_name(id));
    std::fs::rename(&partial, &path).map_err(io(&path))?;
    files::sync_dir(dir).map_err(io(dir))?;
    open(dir, id)
}

/// A run's file as it is written: the blocks so far, then the footer.
struct RunWriter<'a> {
    partial: &'a Path,
    out: BufWriter<File>,
    offset: u64,
    /// The block being encoded, and its last entry.
    block: Vec<u8>,
    last: Option<IndexedEntry>,
    records_in_block: u64,
    footer: Vec<u8>,
    filter: Option<KeyFilter>,
}

impl RunWriter<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.out.write_all(bytes).map_err(io(self.partial))?;
        self.offset = self.offset.saturating_add(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
        Ok(())
    }

    fn add(&mut self, entry: &IndexedEntry) -> Result<(), StoreError> {
        if self.last.is_some_and(|last| last.position >= entry.position) {
            return Err(corrupt(self.partial, "entries handed to a run out of order"));
        }
        if self.records_in_block == 0 {
            let mut fence = [0_u8; POSITION_BYTES];
            encode_position(&entry.position, &mut fence);
            self.footer.extend_from_slice(&fence);
            self.footer.extend_from_slice(&self.offset.to_be_bytes());
        }
        if let Some(filter) = &mut self.filter {
            if self.last.is_none_or(|last| last.position.account_id != entry.position.account_id) {
                filter.insert(entry.position.account_id);
            }
        }
        let previous = if self.records_in_block == 0 { None } else { self.last.as_ref() };
        entry_block::encode(previous, entry, &mut self.block);
        self.last = Some(*entry);
        self.records_in_block = self.records_in_block.saturating_add(1);
        if self.records_in_block == BLOCK_RECORDS {
            self.end_block()?;
        }
        Ok(())
    }

    fn end_block(&mut self) -> Result<(), StoreError> {
        if self.records_in_block == 0 {
            return Ok(());
        }
        let mut block = std::mem::take(&mut self.block);
        block.extend_from_slice(&crc32fast::hash(&block).to_be_bytes());
        self.put(&block)?;
        block.clear();
        self.block = block;
        self.records_in_block = 0;
        Ok(())
    }
}

/// Writes and syncs the whole file at `partial`.
fn write_partial(
    partial: &Path,
    count: u64,
    filter: Option<KeyFilter>,
    entries: impl Iterator<Item = Result<IndexedEntry, StoreError>>,
) -> Result<(), StoreError> {
    let file = files::create_private_file(partial).map_err(io(partial))?;
    let mut run = RunWriter {
        partial,
        out: BufWriter::with_capacity(256 * 1024, file),
        offset: 0,
        block: Vec::new(),
        last: None,
        records_in_block: 0,
        footer: Vec::new(),
        filter,
    };
    run.put(&MAGIC)?;
    run.put(&count.to_be_bytes())?;
    let mut written = 0_u64;
    let mut max_transaction_id = 0_u64;
    for entry in entries {
        let entry = entry?;
        run.add(&entry)?;
        max_transaction_id = max_transaction_id.max(entry.position.transaction_id);
        written = written.saturating_add(1);
    }
    if written != count {
        return Err(corrupt(partial, format!("{written} entries written, {count} announced")));
    }
    run.end_block()?;
    let footer_offset = run.offset;
    let mut footer = std::mem::take(&mut run.footer);
    footer.extend_from_slice(&max_transaction_id.to_be_bytes());
    if let Some(filter) = &run.filter {
        filter.to_bytes(&mut footer);
    }
    let filter_bytes = run.filter.as_ref().map_or(0, KeyFilter::len_bytes);
    footer.extend_from_slice(&u64::try_from(filter_bytes).unwrap_or(u64::MAX).to_be_bytes());
    footer.extend_from_slice(&crc32fast::hash(&footer).to_be_bytes());
    footer.extend_from_slice(&footer_offset.to_be_bytes());
    run.put(&footer)?;
    let file = run.out.into_inner().map_err(|error| io(partial)(error.into_error()))?;
    file.sync_all().map_err(io(partial))
}

/// Opens run `id` in `dir`, reading its header and footer: its length, block positions and
/// highest transaction id. Blocks are checked when they are read.
pub fn open(dir: &Path, id: u64) -> Result<Run, StoreError> {
    let path = dir.join(file_name(id));
    let file = File::open(&path).map_err(io(&path))?;
    let length = file.metadata().map_err(io(&path))?.len();
    let mut header = [0_u8; 16];
    file.read_exact_at(&mut header, 0).map_err(|_| corrupt(&path, "shorter than its header"))?;
    let magic: [u8; 8] = header[..8].try_into().unwrap_or_default();
    let format = match magic {
        MAGIC => Format::Delta { filter_room: true },
        MAGIC_UNFILTERED => Format::Delta { filter_room: false },
        MAGIC_FIXED => Format::Fixed,
        _ => return Err(corrupt(&path, "not an entry run of a known format")),
    };
    let count = u64::from_be_bytes(header[8..16].try_into().unwrap_or_default());
    let layout = Layout { count };
    if count == 0 {
        return Err(corrupt(&path, "no entries"));
    }
    let footer = match format {
        Format::Fixed => read_fixed_footer(&file, &path, layout, length)?,
        Format::Delta { filter_room } => {
            read_delta_footer(&file, &path, layout, length, filter_room)?
        }
    };
    let Footer { fences, mut bounds, max_transaction_id, filter } = footer;
    if u64::try_from(fences.len()).ok() != Some(layout.blocks())
        || fences.windows(2).any(|pair| pair[0] >= pair[1])
    {
        return Err(corrupt(&path, "block positions missing or out of order"));
    }
    if bounds.len() != fences.len().saturating_add(1)
        || bounds.first() != Some(&HEADER_BYTES)
        || bounds.windows(2).any(|pair| pair[0] >= pair[1])
    {
        return Err(corrupt(&path, "block offsets missing or out of order"));
    }
    bounds.shrink_to_fit();
    let max_transaction_id = Some(max_transaction_id);
    Ok(Run { id, layout, format, max_transaction_id, file, path, fences, bounds, filter })
}

/// What a run's footer says.
struct Footer {
    fences: Vec<EntryPosition>,
    bounds: Vec<u64>,
    max_transaction_id: u64,
    filter: Option<KeyFilter>,
}

/// Reads `length` bytes at `offset` and checks the CRC-32 at their end; answers the rest.
fn read_checked(
    file: &File,
    path: &Path,
    offset: u64,
    length: u64,
    what: &str,
) -> Result<Vec<u8>, StoreError> {
    let mut bytes = vec![0_u8; usize::try_from(length).unwrap_or(0)];
    file.read_exact_at(&mut bytes, offset).map_err(io(path))?;
    let stored = bytes.split_off(bytes.len().saturating_sub(4));
    if crc32fast::hash(&bytes) != u32::from_be_bytes(stored.try_into().unwrap_or_default()) {
        return Err(corrupt(path, format!("{what} checksum mismatch")));
    }
    Ok(bytes)
}

/// Splits a footer's last 8 bytes off: the highest transaction id.
fn split_max(mut body: Vec<u8>) -> (Vec<u8>, u64) {
    let max = body.split_off(body.len().saturating_sub(8));
    (body, u64::from_be_bytes(max.try_into().unwrap_or_default()))
}

fn read_fixed_footer(
    file: &File,
    path: &Path,
    layout: Layout,
    length: u64,
) -> Result<Footer, StoreError> {
    let bounds = layout.fixed_bounds().ok_or_else(|| corrupt(path, "too many entries"))?;
    let footer_offset = bounds.last().copied().unwrap_or_default();
    let footer_len = layout
        .blocks()
        .checked_mul(POSITION_BYTES_U64)
        .and_then(|fences| fences.checked_add(8 + CRC_BYTES))
        .ok_or_else(|| corrupt(path, "too many entries"))?;
    if footer_offset.checked_add(footer_len) != Some(length) {
        return Err(corrupt(path, format!("{length} bytes for {} entries", layout.count)));
    }
    let body = read_checked(file, path, footer_offset, footer_len, "footer")?;
    let (fence_bytes, max_transaction_id) = split_max(body);
    let fences = fence_bytes.chunks_exact(POSITION_BYTES).filter_map(decode_position).collect();
    Ok(Footer { fences, bounds, max_transaction_id, filter: None })
}

fn read_delta_footer(
    file: &File,
    path: &Path,
    layout: Layout,
    length: u64,
    filter_room: bool,
) -> Result<Footer, StoreError> {
    let mut trailer = [0_u8; 8];
    let trailer_at = length.checked_sub(TRAILER_BYTES).ok_or_else(|| corrupt(path, "cut short"))?;
    file.read_exact_at(&mut trailer, trailer_at).map_err(io(path))?;
    let footer_offset = u64::from_be_bytes(trailer);
    let fences_len = usize::try_from(layout.blocks())
        .ok()
        .and_then(|blocks| blocks.checked_mul(FENCE_BYTES))
        .and_then(|fences| u64::try_from(fences).ok());
    // The filter's length is what is left between the fixed parts.
    let fixed_len = fences_len
        .and_then(|fences| fences.checked_add(8 + CRC_BYTES + if filter_room { 8 } else { 0 }));
    let footer_len = trailer_at.checked_sub(footer_offset);
    let cut_wrong = || corrupt(path, format!("{length} bytes for {} entries", layout.count));
    let (Some(fixed_len), Some(footer_len)) = (fixed_len, footer_len) else {
        return Err(cut_wrong());
    };
    if footer_offset <= HEADER_BYTES
        || footer_len < fixed_len
        || (!filter_room && footer_len != fixed_len)
    {
        return Err(cut_wrong());
    }
    let mut body = read_checked(file, path, footer_offset, footer_len, "footer")?;
    let filter =
        if filter_room { split_filter(path, &mut body, footer_len - fixed_len)? } else { None };
    let (fence_bytes, max_transaction_id) = split_max(body);
    let mut fences = Vec::with_capacity(fence_bytes.len() / FENCE_BYTES);
    let mut bounds = Vec::with_capacity(fences.capacity().saturating_add(1));
    for fence in fence_bytes.chunks_exact(FENCE_BYTES) {
        let (position, offset) = fence.split_at(POSITION_BYTES);
        fences.extend(decode_position(position));
        bounds.push(u64::from_be_bytes(offset.try_into().unwrap_or_default()));
    }
    bounds.push(footer_offset);
    Ok(Footer { fences, bounds, max_transaction_id, filter })
}

/// Splits a format-4 footer's filter (`filter_len` bytes, as its stored length must say) and
/// that length off its end.
fn split_filter(
    path: &Path,
    body: &mut Vec<u8>,
    filter_len: u64,
) -> Result<Option<KeyFilter>, StoreError> {
    let stored = body.split_off(body.len().saturating_sub(8));
    if u64::from_be_bytes(stored.try_into().unwrap_or_default()) != filter_len {
        return Err(corrupt(path, "key filter length mismatch"));
    }
    if filter_len == 0 {
        return Ok(None);
    }
    let filter_len = usize::try_from(filter_len).unwrap_or(usize::MAX);
    let filter = body.split_off(body.len().saturating_sub(filter_len));
    KeyFilter::from_bytes(&filter).map(Some).ok_or_else(|| corrupt(path, "key filter malformed"))
}

impl Run {
    pub fn count(&self) -> u64 {
        self.layout.count
    }

    pub fn max_transaction_id(&self) -> Option<u64> {
        self.max_transaction_id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// False only if the run holds no record of `key` (always true without a key filter).
    pub fn may_hold(&self, key: u64) -> bool {
        self.filter.as_ref().is_none_or(|filter| filter.may_contain(key))
    }

    /// Whether the run was written with a key filter.
    pub fn is_filtered(&self) -> bool {
        self.filter.is_some()
    }

    /// Block `block`'s entries, checked against its checksum and its first position.
    fn read_block(&self, block: u64) -> Result<Vec<IndexedEntry>, StoreError> {
        let at = usize::try_from(block).unwrap_or(usize::MAX);
        let (Some(&start), Some(&end)) =
            (self.bounds.get(at), self.bounds.get(at.saturating_add(1)))
        else {
            return Err(corrupt(&self.path, format!("no block {block}")));
        };
        let what = format!("block {block}");
        let bytes = read_checked(&self.file, &self.path, start, end.saturating_sub(start), &what)?;
        let records = usize::try_from(self.layout.records_in(block)).unwrap_or(0);
        let entries = match self.format {
            Format::Delta { .. } => entry_block::decode(&bytes, records),
            Format::Fixed => (bytes.len() == records.saturating_mul(RECORD_BYTES))
                .then(|| bytes.chunks_exact(RECORD_BYTES).map(IndexedEntry::decode).collect())
                .flatten(),
        }
        .ok_or_else(|| corrupt(&self.path, format!("block {block} is malformed")))?;
        if entries.first().map(|entry| &entry.position) != self.fences.get(at) {
            return Err(corrupt(&self.path, format!("block {block} starts elsewhere")));
        }
        Ok(entries)
    }

    /// The index of the first entry at or after `position` (`count` if none is).
    fn lower_bound(&self, position: &EntryPosition) -> Result<u64, StoreError> {
        // The last block starting before `position` holds the answer, or the answer is the
        // next block's start.
        let block = self.fences.partition_point(|fence| fence < position);
        let Some(block) = block.checked_sub(1) else {
            return Ok(0);
        };
        let block = u64::try_from(block).unwrap_or(u64::MAX);
        let entries = self.read_block(block)?;
        let within = entries.partition_point(|entry| entry.position < *position);
        let within = u64::try_from(within).unwrap_or(u64::MAX);
        Ok(block.saturating_mul(BLOCK_RECORDS).saturating_add(within))
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
            end: self.count(),
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

impl RunCursor {
    /// Reads the next block in the cursor's direction into the buffer, trimmed to the range.
    fn fill(&mut self) -> Result<(), StoreError> {
        let at = if self.reverse { self.end.saturating_sub(1) } else { self.start };
        let block = at / BLOCK_RECORDS;
        let first = block.saturating_mul(BLOCK_RECORDS);
        let entries = self.run.read_block(block)?;
        let from = self.start.max(first);
        let to = self.end.min(first.saturating_add(BLOCK_RECORDS));
        let skip = usize::try_from(from.saturating_sub(first)).unwrap_or(usize::MAX);
        let take = usize::try_from(to.saturating_sub(from)).unwrap_or(0);
        self.buffer = entries.into_iter().skip(skip).take(take).collect();
        if self.reverse {
            self.end = from;
        } else {
            self.start = to;
        }
        Ok(())
    }
}

impl Iterator for RunCursor {
    type Item = Result<IndexedEntry, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buffer.is_empty() && self.start < self.end {
            if let Err(error) = self.fill() {
                self.start = self.end;
                return Some(Err(error));
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
        let run =
            Arc::new(write(dir.path(), 7, 1_000, false, entries.iter().copied().map(Ok)).unwrap());
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

    /// Run `id` in format 2, as builds before format 3 wrote it.
    fn write_fixed(dir: &Path, id: u64, entries: &[IndexedEntry]) {
        let mut bytes = MAGIC_FIXED.to_vec();
        bytes.extend_from_slice(&u64::try_from(entries.len()).unwrap().to_be_bytes());
        let mut footer = Vec::new();
        for block in entries.chunks(128) {
            let mut records = Vec::new();
            for entry in block {
                let mut record = [0; RECORD_BYTES];
                entry.encode(&mut record);
                records.extend_from_slice(&record);
            }
            footer.extend_from_slice(&records[..POSITION_BYTES]);
            bytes.extend_from_slice(&records);
            bytes.extend_from_slice(&crc32fast::hash(&records).to_be_bytes());
        }
        let max = entries.iter().map(|entry| entry.position.transaction_id).max().unwrap();
        footer.extend_from_slice(&max.to_be_bytes());
        footer.extend_from_slice(&crc32fast::hash(&footer).to_be_bytes());
        bytes.extend_from_slice(&footer);
        std::fs::write(dir.join(file_name(id)), bytes).unwrap();
    }

    #[test]
    fn a_run_of_format_2_is_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let entries = sample(300);
        write_fixed(dir.path(), 3, &entries);
        let run = Arc::new(open(dir.path(), 3).unwrap());
        assert_eq!(run.format, Format::Fixed);
        assert_eq!(run.max_transaction_id(), Some(299));
        assert_eq!(run.all().collect::<Result<Vec<_>, _>>().unwrap(), entries);
        let low =
            EntryPosition { account_id: 3, post_date_ms: 0, transaction_id: 0, entry_index: 0 };
        let high = EntryPosition { post_date_ms: i64::MAX, ..low };
        let read: Vec<_> = run.range(&low, &high, true).unwrap().map(Result::unwrap).collect();
        assert_eq!(read.len(), 30);
        assert!(read.windows(2).all(|pair| pair[0].position > pair[1].position));
    }

    #[test]
    fn a_filtered_run_may_hold_every_key_it_holds_and_few_others() {
        let dir = tempfile::tempdir().unwrap();
        // Accounts 0 to 19, 50 records each.
        let run = write(dir.path(), 2, 1_000, true, sample(1_000).into_iter().map(Ok)).unwrap();
        let run = Arc::new(open(dir.path(), run.id).unwrap());
        assert!(run.is_filtered());
        assert!((0..20).all(|account| run.may_hold(account)));
        let passed = (20..10_020).filter(|account| run.may_hold(*account)).count();
        assert!(passed < 300, "{passed} of 10,000 absent keys passed");
        assert_eq!(run.all().count(), 1_000);
        let unfiltered = write(dir.path(), 3, 1_000, false, sample(1_000).into_iter().map(Ok));
        let unfiltered = unfiltered.unwrap();
        assert!(!unfiltered.is_filtered() && unfiltered.may_hold(10_000));
        // The filter is in the footer, under its checksum.
        let path = dir.path().join(file_name(2));
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() - 8 - 4 - 8 - 10;
        bytes[at] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(open(dir.path(), 2), Err(StoreError::Corruption { .. })));
    }

    #[test]
    fn a_run_of_format_3_is_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let entries = sample(300);
        write(dir.path(), 4, 300, false, entries.iter().copied().map(Ok)).unwrap();
        // Format 3 is format 4 without the filter's length before the footer's checksum.
        let path = dir.path().join(file_name(4));
        let four = std::fs::read(&path).unwrap();
        let footer_at =
            usize::try_from(u64::from_be_bytes(four[four.len() - 8..].try_into().unwrap()))
                .unwrap();
        let body = &four[footer_at..four.len() - 8 - 4 - 8];
        let mut three = MAGIC_UNFILTERED.to_vec();
        three.extend_from_slice(&four[8..footer_at]);
        three.extend_from_slice(body);
        three.extend_from_slice(&crc32fast::hash(body).to_be_bytes());
        three.extend_from_slice(&four[four.len() - 8..]);
        std::fs::write(&path, &three).unwrap();
        let run = Arc::new(open(dir.path(), 4).unwrap());
        assert_eq!(run.format, Format::Delta { filter_room: false });
        assert!(!run.is_filtered());
        assert_eq!(run.max_transaction_id(), Some(299));
        assert_eq!(run.all().collect::<Result<Vec<_>, _>>().unwrap(), entries);
    }

    #[test]
    fn a_run_of_format_4_is_a_third_of_fixed_records_or_less() {
        let dir = tempfile::tempdir().unwrap();
        let run = write(dir.path(), 1, 10_000, false, sample(10_000).into_iter().map(Ok)).unwrap();
        let bytes = std::fs::metadata(run.path()).unwrap().len();
        assert!(bytes < 10_000 * 37 / 3, "{bytes} bytes");
    }

    #[test]
    fn a_damaged_header_or_footer_is_refused_at_open_and_a_damaged_block_when_read() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 1, 300, false, sample(300).into_iter().map(Ok)).unwrap();
        let path = dir.path().join(file_name(1));
        let good = std::fs::read(&path).unwrap();
        let second = open(dir.path(), 1).unwrap().bounds[1];
        // The magic, the count, a block's first position in the footer, the footer's
        // checksum, the footer's offset.
        for at in [3, 12, good.len() - 60, good.len() - 9, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x20;
            std::fs::write(&path, &bad).unwrap();
            assert!(matches!(open(dir.path(), 1), Err(StoreError::Corruption { .. })), "{at}");
        }
        std::fs::write(&path, &good[..good.len() - 40]).unwrap();
        assert!(matches!(open(dir.path(), 1), Err(StoreError::Corruption { .. })));
        // A record of the second block: the open does not read it, every read of it fails.
        let mut bad = good.clone();
        bad[usize::try_from(second).unwrap() + 100] ^= 0x01;
        std::fs::write(&path, &bad).unwrap();
        let run = Arc::new(open(dir.path(), 1).unwrap());
        let read: Vec<Result<IndexedEntry, StoreError>> = run.all().collect();
        assert_eq!(read.iter().filter(|entry| entry.is_ok()).count(), 128);
        assert!(matches!(read.last(), Some(Err(StoreError::Corruption { .. }))));
        std::fs::write(&path, &good).unwrap();
        assert_eq!(open(dir.path(), 1).unwrap().count(), 300);
    }

    #[test]
    fn entries_out_of_order_are_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut entries = sample(10);
        entries.swap(3, 4);
        assert!(write(dir.path(), 1, 10, false, entries.into_iter().map(Ok)).is_err());
        assert!(!dir.path().join(file_name(1)).exists());
    }
}
