//! The backup file format: every record of a store, framed and checksummed so that any cut or
//! flipped byte is found before a single record is restored. All integers little-endian:
//!
//! ```text
//! header   magic "CSWBACKP" | format version u16 | created ms i64 | key fingerprint [32]
//!          | crc32 of the 50 bytes before it
//! record   'R' | key length u32 | value length u32 | key | value | crc32 of tag..value
//! trailer  'T' | record count u64 | crc32 of every byte of the file before it
//! ```
//!
//! Values are the store's own encoded records (version byte, CRC32, payload), copied as stored
//! and checked again on both sides. The key fingerprint names the master key the store's
//! wrapped secrets and keyed hashes were made with; the key itself is never in a backup.

use std::io::{self, Read, Write};

use super::{codec, schema, Store, StoreError, WriteOp};

/// The first bytes of every backup file.
pub const MAGIC: [u8; 8] = *b"CSWBACKP";
/// The format this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Bytes of the key fingerprint in the header.
pub const KEY_FINGERPRINT_BYTES: usize = 32;

const TAG_RECORD: u8 = b'R';
const TAG_TRAILER: u8 = b'T';
/// Magic, version, creation time and fingerprint: what the header CRC covers.
const HEADER_FIELDS_BYTES: usize = 8 + 2 + 8 + KEY_FINGERPRINT_BYTES;
/// Records restored per batch: big enough to be quick, small enough to bound memory.
const RESTORE_BATCH_RECORDS: usize = 4096;

/// Why a backup cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("backup I/O failed: {0}")]
    Io(#[from] io::Error),
    #[error("not a cardswitch backup (it does not start with the backup magic)")]
    NotABackup,
    #[error(
        "backup format version {0}, which this build does not read (it reads {FORMAT_VERSION})"
    )]
    UnsupportedVersion(u16),
    #[error("the backup is truncated: {0}")]
    Truncated(String),
    #[error("the backup is damaged: {0}")]
    Damaged(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a backup's header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupHeader {
    pub created_ms: i64,
    pub key_fingerprint: [u8; KEY_FINGERPRINT_BYTES],
}

/// A whole backup, written or read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    pub header: BackupHeader,
    pub records: u64,
    pub bytes: u64,
}

/// A writer that keeps the CRC32 of everything written through it.
struct HashingWriter<W: Write> {
    out: W,
    hasher: crc32fast::Hasher,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.hasher.update(bytes);
        self.bytes = self.bytes.saturating_add(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
        Ok(())
    }
}

/// Writes every record of `store` to `out`; returns what was written. Each record's own
/// checksum is checked first, so a backup never carries a damaged record.
pub fn write<W: Write>(
    store: &Store,
    header: &BackupHeader,
    out: W,
) -> Result<BackupSummary, BackupError> {
    let mut out = HashingWriter { out, hasher: crc32fast::Hasher::new(), bytes: 0 };
    out.put(&header_bytes(header))?;
    let mut records: u64 = 0;
    // Every key starts with its keyspace's letter (`schema`), so this range holds them all.
    for item in store.engine.range(&[], &[u8::MAX], false) {
        let (key, value) = item?;
        codec::decode::<serde::de::IgnoredAny>(&key, &value)?;
        out.put(&record_frame(&key, &value)?)?;
        records = records.saturating_add(1);
    }
    out.put(&[TAG_TRAILER])?;
    out.put(&records.to_le_bytes())?;
    let file_crc = out.hasher.clone().finalize();
    out.put(&file_crc.to_le_bytes())?;
    out.out.flush()?;
    Ok(BackupSummary { header: header.clone(), records, bytes: out.bytes })
}

fn header_bytes(header: &BackupHeader) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_FIELDS_BYTES + 4);
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&header.created_ms.to_le_bytes());
    bytes.extend_from_slice(&header.key_fingerprint);
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
}

fn record_frame(key: &[u8], value: &[u8]) -> Result<Vec<u8>, BackupError> {
    let length = |part: &[u8]| {
        u32::try_from(part.len()).map_err(|_| {
            BackupError::Damaged(format!(
                "record {} is longer than a frame holds",
                schema::printable_key(key)
            ))
        })
    };
    let (key_length, value_length) = (length(key)?, length(value)?);
    let mut frame = Vec::with_capacity(key.len().saturating_add(value.len()).saturating_add(13));
    frame.push(TAG_RECORD);
    frame.extend_from_slice(&key_length.to_le_bytes());
    frame.extend_from_slice(&value_length.to_le_bytes());
    frame.extend_from_slice(key);
    frame.extend_from_slice(value);
    let crc = crc32fast::hash(&frame);
    frame.extend_from_slice(&crc.to_le_bytes());
    Ok(frame)
}

/// A reader over a backup of known length that keeps the CRC32 of everything read and
/// refuses to read past the end (a damaged length cannot make it allocate more than is left).
struct BackupReader<R: Read> {
    input: R,
    hasher: crc32fast::Hasher,
    position: u64,
    length: u64,
}

impl<R: Read> BackupReader<R> {
    fn remaining(&self) -> u64 {
        self.length.saturating_sub(self.position)
    }

    /// Exactly `count` bytes; `what` names them in the error if the file ends first.
    fn take(&mut self, count: u64, what: &dyn Fn() -> String) -> Result<Vec<u8>, BackupError> {
        if count > self.remaining() {
            return Err(BackupError::Truncated(format!(
                "{} needs {count} bytes, {} remain",
                what(),
                self.remaining()
            )));
        }
        let mut bytes = Vec::new();
        (&mut self.input).take(count).read_to_end(&mut bytes)?;
        if u64::try_from(bytes.len()).ok() != Some(count) {
            return Err(BackupError::Truncated(format!("{} ends early", what())));
        }
        self.hasher.update(&bytes);
        self.position = self.position.saturating_add(count);
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, what: &dyn Fn() -> String) -> Result<[u8; N], BackupError> {
        let bytes = self.take(u64::try_from(N).unwrap_or(u64::MAX), what)?;
        bytes.try_into().map_err(|_| BackupError::Truncated(what()))
    }
}

/// Reads a whole backup of `length` bytes, checking every frame, the record count and the
/// file checksum, and hands each record to `on_record` as it is read. Nothing is trusted
/// before its checksum matched; the caller decides whether to act before the trailer.
pub fn read<R: Read>(
    input: R,
    length: u64,
    mut on_record: impl FnMut(Vec<u8>, Vec<u8>) -> Result<(), BackupError>,
) -> Result<BackupSummary, BackupError> {
    let mut reader = BackupReader { input, hasher: crc32fast::Hasher::new(), position: 0, length };
    let header = read_header(&mut reader)?;
    let mut records: u64 = 0;
    loop {
        let after = records;
        let tag = reader.array::<1>(&|| format!("the frame after record {after} (no trailer)"))?;
        match tag[0] {
            TAG_RECORD => {
                let (key, value) = read_record(&mut reader, records.saturating_add(1))?;
                on_record(key, value)?;
                records = records.saturating_add(1);
            }
            TAG_TRAILER => {
                read_trailer(&mut reader, records)?;
                return Ok(BackupSummary { header, records, bytes: reader.position });
            }
            other => {
                return Err(BackupError::Damaged(format!(
                    "unknown frame tag 0x{other:02x} after record {records}"
                )))
            }
        }
    }
}

/// Checks a whole backup without acting on it.
pub fn check<R: Read>(input: R, length: u64) -> Result<BackupSummary, BackupError> {
    read(input, length, |_, _| Ok(()))
}

/// Writes every record of a backup into `store` (meant to be new and empty) and flushes it.
/// Check the backup with `check` first: a damaged one fails here part-way.
pub fn restore<R: Read>(
    store: &Store,
    input: R,
    length: u64,
) -> Result<BackupSummary, BackupError> {
    let mut ops = Vec::with_capacity(RESTORE_BATCH_RECORDS);
    let summary = read(input, length, |key, value| {
        ops.push(WriteOp::Put { key, value });
        if ops.len() >= RESTORE_BATCH_RECORDS {
            store.engine.apply(&ops)?;
            ops.clear();
        }
        Ok(())
    })?;
    store.engine.apply(&ops)?;
    store.flush()?;
    Ok(summary)
}

fn read_header<R: Read>(reader: &mut BackupReader<R>) -> Result<BackupHeader, BackupError> {
    let what = || "the header".to_owned();
    let magic = reader.array::<8>(&what)?;
    if magic != MAGIC {
        return Err(BackupError::NotABackup);
    }
    let version = u16::from_le_bytes(reader.array::<2>(&what)?);
    if version != FORMAT_VERSION {
        return Err(BackupError::UnsupportedVersion(version));
    }
    let created_ms = i64::from_le_bytes(reader.array::<8>(&what)?);
    let key_fingerprint = reader.array::<KEY_FINGERPRINT_BYTES>(&what)?;
    let header = BackupHeader { created_ms, key_fingerprint };
    let stored_crc = u32::from_le_bytes(reader.array::<4>(&what)?);
    let fields = header_bytes(&header);
    if fields.get(..HEADER_FIELDS_BYTES).map(crc32fast::hash) != Some(stored_crc) {
        return Err(BackupError::Damaged("header checksum mismatch".to_owned()));
    }
    Ok(header)
}

fn read_record<R: Read>(
    reader: &mut BackupReader<R>,
    number: u64,
) -> Result<(Vec<u8>, Vec<u8>), BackupError> {
    let what = || format!("record {number}");
    let key_length = u32::from_le_bytes(reader.array::<4>(&what)?);
    let value_length = u32::from_le_bytes(reader.array::<4>(&what)?);
    let key = reader.take(u64::from(key_length), &what)?;
    let value = reader.take(u64::from(value_length), &what)?;
    let stored_crc = u32::from_le_bytes(reader.array::<4>(&what)?);
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&[TAG_RECORD]);
    hasher.update(&key_length.to_le_bytes());
    hasher.update(&value_length.to_le_bytes());
    hasher.update(&key);
    hasher.update(&value);
    if hasher.finalize() != stored_crc {
        return Err(BackupError::Damaged(format!("record {number} checksum mismatch")));
    }
    codec::decode::<serde::de::IgnoredAny>(&key, &value)
        .map_err(|error| BackupError::Damaged(format!("record {number}: {error}")))?;
    Ok((key, value))
}

fn read_trailer<R: Read>(reader: &mut BackupReader<R>, records: u64) -> Result<(), BackupError> {
    let what = || "the trailer".to_owned();
    let count = u64::from_le_bytes(reader.array::<8>(&what)?);
    let computed_crc = reader.hasher.clone().finalize();
    let stored_crc = u32::from_le_bytes(reader.array::<4>(&what)?);
    if computed_crc != stored_crc {
        return Err(BackupError::Damaged("file checksum mismatch".to_owned()));
    }
    if count != records {
        return Err(BackupError::Damaged(format!(
            "the trailer counts {count} records, the file holds {records}"
        )));
    }
    if reader.remaining() > 0 {
        return Err(BackupError::Damaged(format!(
            "{} bytes follow the trailer",
            reader.remaining()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::{Batch, SledEngine};

    fn store_with(records: u32) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::with_engine(Arc::new(SledEngine::open(dir.path()).unwrap()));
        let mut batch = Batch::new();
        for index in 0..records {
            batch.put(format!("s{index:04}").into_bytes(), &format!("value {index}")).unwrap();
        }
        store.apply(&batch).unwrap();
        (dir, store)
    }

    fn header() -> BackupHeader {
        BackupHeader { created_ms: 1_700_000_000_000, key_fingerprint: [7; KEY_FINGERPRINT_BYTES] }
    }

    fn backup_of(store: &Store) -> Vec<u8> {
        let mut bytes = Vec::new();
        let summary = write(store, &header(), &mut bytes).unwrap();
        assert_eq!(summary.bytes, u64::try_from(bytes.len()).unwrap());
        bytes
    }

    fn length(bytes: &[u8]) -> u64 {
        u64::try_from(bytes.len()).unwrap()
    }

    #[test]
    fn round_trip_keeps_every_record_and_the_header() {
        let (_dir, store) = store_with(10);
        let bytes = backup_of(&store);
        let summary = check(bytes.as_slice(), length(&bytes)).unwrap();
        assert_eq!((summary.records, summary.header), (10, header()));
        let (_other_dir, target) = store_with(0);
        restore(&target, bytes.as_slice(), length(&bytes)).unwrap();
        let copied: Vec<_> =
            target.engine.range(&[], &[u8::MAX], false).map(Result::unwrap).collect();
        let original: Vec<_> =
            store.engine.range(&[], &[u8::MAX], false).map(Result::unwrap).collect();
        assert_eq!(copied, original);
    }

    #[test]
    fn an_empty_store_makes_a_valid_backup() {
        let (_dir, store) = store_with(0);
        let bytes = backup_of(&store);
        assert_eq!(check(bytes.as_slice(), length(&bytes)).unwrap().records, 0);
    }

    #[test]
    fn every_cut_and_every_flipped_byte_is_refused() {
        let (_dir, store) = store_with(3);
        let bytes = backup_of(&store);
        for cut in 0..bytes.len() {
            let error = check(&bytes[..cut], u64::try_from(cut).unwrap()).unwrap_err();
            assert!(
                matches!(error, BackupError::Truncated(_) | BackupError::NotABackup),
                "cut at {cut}: {error}"
            );
        }
        for position in 0..bytes.len() {
            for flip in [0x01_u8, 0x80] {
                let mut damaged = bytes.clone();
                damaged[position] ^= flip;
                assert!(
                    check(damaged.as_slice(), length(&damaged)).is_err(),
                    "flip 0x{flip:02x} at {position} went unnoticed"
                );
            }
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(check(longer.as_slice(), length(&longer)), Err(BackupError::Damaged(_))));
    }

    #[test]
    fn a_foreign_file_or_a_future_version_is_named() {
        let text = b"hello, this is not a backup at all, just some text".to_vec();
        assert!(matches!(check(text.as_slice(), length(&text)), Err(BackupError::NotABackup)));
        let (_dir, store) = store_with(1);
        let mut future = backup_of(&store);
        future[8] = 2;
        assert!(matches!(
            check(future.as_slice(), length(&future)),
            Err(BackupError::UnsupportedVersion(2))
        ));
    }
}
