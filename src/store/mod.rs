//! Persistence: the only module that knows a storage engine exists. Everything is kept in one
//! ordered key space split into keyspaces by a leading byte, so that one commit group is one
//! atomic batch on one tree followed by one flush.

pub mod backup;
pub mod balance_file;
mod codec;
pub mod entries;
mod entry_block;
mod entry_run;
mod error;
pub mod fault;
mod fjall_engine;
mod key_filter;
pub mod schema;
mod sled_engine;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use error::StoreError;
pub use fjall_engine::FjallEngine;
pub use schema::Keyspace;
pub use sled_engine::SledEngine;

/// The sled store's directory inside a data directory (stores made before fjall, or with
/// `store.engine = "sled"`).
pub const STORE_DIR_NAME: &str = "store";
/// The fjall store's directory inside a data directory.
pub const FJALL_STORE_DIR_NAME: &str = "store-fjall";

/// The storage engines a store can be kept in. A new store uses the configured one; an existing
/// store is always opened with the engine it was made with (its directory's name says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// An LSM tree: a commit group is one journal append and one fsync.
    #[default]
    Fjall,
    /// A B-link tree with a log: each record is a tree insert.
    Sled,
}

impl EngineKind {
    fn dir_name(self) -> &'static str {
        match self {
            EngineKind::Fjall => FJALL_STORE_DIR_NAME,
            EngineKind::Sled => STORE_DIR_NAME,
        }
    }

    /// The engine of the store in `data_dir`, if it has one; a directory with both is refused.
    pub fn of_data_dir(data_dir: &Path) -> Result<Option<EngineKind>, StoreError> {
        let present: Vec<EngineKind> = [EngineKind::Fjall, EngineKind::Sled]
            .into_iter()
            .filter(|kind| data_dir.join(kind.dir_name()).is_dir())
            .collect();
        match present.as_slice() {
            [] => Ok(None),
            [kind] => Ok(Some(*kind)),
            _ => Err(StoreError::Io(format!(
                "{} holds both a {STORE_DIR_NAME}/ and a {FJALL_STORE_DIR_NAME}/ store; \
                 keep the one the switch should use and move the other away",
                data_dir.display()
            ))),
        }
    }

    /// Opens (or creates) a store of this engine in `data_dir`, with `settings`.
    pub fn open(
        self,
        data_dir: &Path,
        settings: EngineSettings,
    ) -> Result<Arc<dyn Engine>, StoreError> {
        let dir = data_dir.join(self.dir_name());
        Ok(match self {
            EngineKind::Fjall => Arc::new(FjallEngine::open_with(&dir, settings.background)?),
            EngineKind::Sled => {
                Arc::new(SledEngine::open_with_cache(&dir, settings.cache_bytes_max)?)
            }
        })
    }
}

/// One change in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    Put { key: Vec<u8>, value: Vec<u8> },
    Delete { key: Vec<u8> },
}

impl WriteOp {
    pub fn key(&self) -> &[u8] {
        match self {
            WriteOp::Put { key, .. } | WriteOp::Delete { key } => key,
        }
    }
}

/// A storage engine: ordered bytes to bytes, atomic batches, explicit durability.
/// Another engine (or a fault-injecting wrapper) implements this and nothing else changes.
pub trait Engine: Send + Sync + 'static {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Keys in `[start, end)` in key order (or reverse order).
    fn range(&self, start: &[u8], end: &[u8], reverse: bool) -> KeyValueIter<'_>;
    /// Applies every op or none.
    fn apply(&self, ops: &[WriteOp]) -> Result<(), StoreError>;
    /// Makes everything applied so far durable.
    fn flush(&self) -> Result<(), StoreError>;
    /// Approximate bytes on disk, for the metrics.
    fn size_on_disk_bytes(&self) -> Result<u64, StoreError>;
}

pub type KeyValueIter<'a> = Box<dyn Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> + 'a>;

/// An engine's range of converted pairs, in key order or reversed.
fn ordered<'a, I>(pairs: I, reverse: bool) -> KeyValueIter<'a>
where
    I: DoubleEndedIterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> + 'a,
{
    if reverse {
        Box::new(pairs.rev())
    } else {
        Box::new(pairs)
    }
}

/// The page cache of short-lived opens (`verify`, `backup`, `restore`, tests); sled stores only.
pub const SHORT_OPEN_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// What an engine is opened with; each engine takes the settings that concern it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineSettings {
    /// sled's page cache (`store.cache_bytes_max`); fjall sizes its own caches.
    pub cache_bytes_max: u64,
    /// At what priority fjall's background threads run (`store.background_idle`,
    /// `store.background_nice`).
    pub background: BackgroundPriority,
}

/// At what priority fjall's background threads (memtable flushes, compactions) run beside the
/// threads that serve requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackgroundPriority {
    /// The opener's own.
    Same,
    /// The flusher and compactor at this nice value; fjall's monitor at the opener's.
    Nice(i32),
    /// Every thread fjall starts under Linux's `SCHED_IDLE`: it runs only when no other thread
    /// wants the core (`docs/performance.md`, "fjall's threads under SCHED_IDLE").
    Idle,
}

impl BackgroundPriority {
    /// Puts the calling thread at this priority: a thread of the switch's own that does bulk
    /// work off the request path (the balance snapshots) runs where fjall's flusher and
    /// compactor do. If the system refuses, says so and goes on at the switch's priority.
    pub fn apply_to_own_thread(self) {
        match self {
            BackgroundPriority::Same => {}
            BackgroundPriority::Nice(nice) => {
                let own = rustix::thread::gettid();
                if let Err(error) = rustix::process::setpriority_process(Some(own), nice) {
                    tracing::warn!(%error, "a background thread keeps the switch's priority");
                }
            }
            BackgroundPriority::Idle => fjall_engine::lower_own_thread_to_idle(),
        }
    }
}

impl EngineSettings {
    /// Short-lived opens (`verify`, `backup`, `restore`, tests): a small cache, and fjall's
    /// threads at the opener's own priority, as no requests are served beside them.
    pub const SHORT_OPEN: EngineSettings = EngineSettings {
        cache_bytes_max: SHORT_OPEN_CACHE_BYTES,
        background: BackgroundPriority::Same,
    };
}

/// How long an open waits for a lock its own process is releasing: an engine's threads can
/// hold the directory a moment after the last handle of a closed store is dropped, so a reopen
/// in the same process (a restart in tests, restore's audit) may find it still locked. A
/// directory held by another running switch stays locked and is refused after this.
const OWN_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
const OWN_LOCK_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(20);

/// Runs `open` again while it fails `Locked`, for at most `OWN_LOCK_WAIT`.
fn retry_while_locked<T>(mut open: impl FnMut() -> Result<T, StoreError>) -> Result<T, StoreError> {
    let started = std::time::Instant::now();
    loop {
        match open() {
            Err(StoreError::Locked(_)) if started.elapsed() < OWN_LOCK_WAIT => {
                std::thread::sleep(OWN_LOCK_RETRY_PAUSE);
            }
            opened => return opened,
        }
    }
}

/// Typed access to an engine: versioned, checksummed records under the schema's keys.
#[derive(Clone)]
pub struct Store {
    engine: Arc<dyn Engine>,
}

impl Store {
    /// Opens the store of an existing data directory with its own engine; `None` if the
    /// directory holds no store.
    pub fn open_existing(data_dir: &Path) -> Result<Option<Store>, StoreError> {
        match EngineKind::of_data_dir(data_dir)? {
            None => Ok(None),
            Some(kind) => {
                Ok(Some(Store::with_engine(kind.open(data_dir, EngineSettings::SHORT_OPEN)?)))
            }
        }
    }

    pub fn with_engine(engine: Arc<dyn Engine>) -> Store {
        Store { engine }
    }

    /// Reads and decodes one record.
    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        match self.engine.get(key)? {
            None => Ok(None),
            Some(bytes) => codec::decode(key, &bytes).map(Some),
        }
    }

    /// Every record of a keyspace whose key starts with `prefix` (keyspace byte included).
    pub fn scan_prefix<T: DeserializeOwned>(
        &self,
        prefix: &[u8],
        reverse: bool,
    ) -> impl Iterator<Item = Result<(Vec<u8>, T), StoreError>> + '_ {
        let end = schema::prefix_end(prefix);
        self.scan_range(prefix, &end, reverse)
    }

    /// Every record with a key in `[start, end)`.
    pub fn scan_range<T: DeserializeOwned>(
        &self,
        start: &[u8],
        end: &[u8],
        reverse: bool,
    ) -> impl Iterator<Item = Result<(Vec<u8>, T), StoreError>> + '_ {
        self.engine.range(start, end, reverse).map(|item| {
            let (key, bytes) = item?;
            let value = codec::decode(&key, &bytes)?;
            Ok((key, value))
        })
    }

    /// The keys of every record whose key starts with `prefix`, in key order (values are not
    /// decoded).
    pub fn scan_keys(
        &self,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<Vec<u8>, StoreError>> + '_ {
        let end = schema::prefix_end(prefix);
        self.engine.range(prefix, &end, false).map(|item| item.map(|(key, _)| key))
    }

    /// True when nothing has ever been written.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        let mut all = self.engine.range(&[], &[u8::MAX], false);
        Ok(all.next().transpose()?.is_none())
    }

    /// Applies a batch atomically (not yet durable).
    pub fn apply(&self, batch: &Batch) -> Result<(), StoreError> {
        self.engine.apply(&batch.ops)
    }

    /// Makes every applied batch durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.engine.flush()
    }

    pub fn size_on_disk_bytes(&self) -> Result<u64, StoreError> {
        self.engine.size_on_disk_bytes()
    }
}

/// A record encoded for a batch ahead of putting it, so that a command can do everything that
/// may fail before it changes anything (`Batch::put_encoded`).
#[derive(Debug, Clone)]
pub struct EncodedPut {
    key: Vec<u8>,
    value: Vec<u8>,
}

impl EncodedPut {
    /// Encodes `value` with the current format version and checksum under `key`.
    pub fn new<T: Serialize>(key: Vec<u8>, value: &T) -> Result<EncodedPut, StoreError> {
        let value = codec::encode(&key, value)?;
        Ok(EncodedPut { key, value })
    }
}

/// Changes collected for one commit group.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    ops: Vec<WriteOp>,
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Encodes `value` with the current format version and checksum under `key`.
    pub fn put<T: Serialize>(&mut self, key: Vec<u8>, value: &T) -> Result<(), StoreError> {
        self.put_encoded(EncodedPut::new(key, value)?);
        Ok(())
    }

    /// Puts a record encoded beforehand: this cannot fail.
    pub fn put_encoded(&mut self, put: EncodedPut) {
        self.ops.push(WriteOp::Put { key: put.key, value: put.value });
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.ops.push(WriteOp::Delete { key });
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Key and value bytes the batch writes (a delete counts its key).
    pub fn bytes(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match op {
                WriteOp::Put { key, value } => key.len().saturating_add(value.len()),
                WriteOp::Delete { key } => key.len(),
            })
            .fold(0, usize::saturating_add)
    }

    /// Drops every op whose key the batch writes again later. A batch is applied atomically and
    /// in order, so only each key's last op has an effect: the result is the same, with fewer
    /// records for the engine (a group of card debits rewrites the same balances many times).
    pub fn coalesce(&mut self) {
        let mut seen = HashSet::with_capacity(self.ops.len());
        let mut keep: Vec<bool> = self.ops.iter().rev().map(|op| seen.insert(op.key())).collect();
        drop(seen);
        keep.reverse();
        let mut keep = keep.into_iter();
        self.ops.retain(|_| keep.next().unwrap_or(true));
    }

    /// Drops the ops added after the first `len` (a command that failed half-way).
    pub fn truncate(&mut self, len: usize) {
        self.ops.truncate(len);
    }
}

/// This process's threads' scheduling fields from `/proc`, for the tests of the background
/// priority (fjall's threads, the index workers, the calling thread).
#[cfg(test)]
pub(crate) mod thread_stat {
    use std::path::Path;

    /// Field `field` (numbered as in proc(5)) of thread `task`'s stat in `/proc`, with its name.
    fn field<T: std::str::FromStr>(task: &Path, field: usize) -> Option<(String, T)> {
        let name = std::fs::read_to_string(task.join("comm")).ok()?.trim().to_owned();
        let stat = std::fs::read_to_string(task.join("stat")).ok()?;
        // Fields after the name (which may hold spaces) start with the state, field 3.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        Some((name, fields.get(field.checked_sub(3)?)?.parse().ok()?))
    }

    /// The nice value of thread `task` of this process, with its name.
    fn nice_of(task: &Path) -> Option<(String, i32)> {
        field(task, 19)
    }

    /// A thread's scheduling policy (0 normal, 5 `SCHED_IDLE`), with its name.
    pub fn policy_of(task: &Path) -> Option<(String, u32)> {
        field(task, 41)
    }

    /// The calling thread's nice value.
    pub fn own_nice() -> i32 {
        nice_of(Path::new("/proc/thread-self")).map(|(_, nice)| nice).unwrap_or_default()
    }

    /// Every thread of this process, with its nice value.
    pub fn all_nices() -> Vec<(String, i32)> {
        std::fs::read_dir("/proc/self/task")
            .into_iter()
            .flatten()
            .filter_map(|task| nice_of(&task.ok()?.path()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Applies ops in order to a map, as the engine does.
    fn applied(ops: &[WriteOp]) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let mut map = BTreeMap::new();
        for op in ops {
            match op {
                WriteOp::Put { key, value } => map.insert(key.clone(), value.clone()),
                WriteOp::Delete { key } => map.remove(key),
            };
        }
        map
    }

    #[test]
    fn a_background_priority_lowers_the_calling_thread_only() {
        use super::thread_stat::own_nice;
        let before = own_nice();
        // Only a privileged thread may raise its priority: lower it from wherever it is.
        let target = before.max(13);
        let lowered = std::thread::spawn(move || {
            BackgroundPriority::Nice(target).apply_to_own_thread();
            own_nice()
        });
        assert_eq!(lowered.join().unwrap(), target);
        let same = std::thread::spawn(|| {
            BackgroundPriority::Same.apply_to_own_thread();
            own_nice()
        });
        assert_eq!(same.join().unwrap(), before);
        assert_eq!(own_nice(), before, "the caller keeps its own");
    }

    #[test]
    fn coalescing_keeps_each_keys_last_op_and_the_result() {
        let mut batch = Batch::new();
        batch.put(b"a".to_vec(), &1_u32).unwrap();
        batch.put(b"b".to_vec(), &2_u32).unwrap();
        batch.put(b"a".to_vec(), &3_u32).unwrap();
        batch.delete(b"b".to_vec());
        batch.put(b"c".to_vec(), &4_u32).unwrap();
        batch.delete(b"c".to_vec());
        batch.put(b"c".to_vec(), &5_u32).unwrap();
        batch.put(b"d".to_vec(), &6_u32).unwrap();
        let before = applied(&batch.ops);
        batch.coalesce();
        assert_eq!(applied(&batch.ops), before);
        let keys: Vec<&[u8]> = batch.ops.iter().map(WriteOp::key).collect();
        assert_eq!(keys, [b"a".as_slice(), b"b", b"c", b"d"]);
        assert!(matches!(&batch.ops[1], WriteOp::Delete { .. }));
        assert_eq!(
            codec::decode::<u32>(
                b"c",
                match &batch.ops[2] {
                    WriteOp::Put { value, .. } => value,
                    WriteOp::Delete { .. } => panic!("c ends with a put"),
                }
            )
            .unwrap(),
            5
        );
    }

    #[test]
    fn a_store_open_elsewhere_is_reported_as_locked_by_either_engine() {
        for kind in [EngineKind::Fjall, EngineKind::Sled] {
            let dir = tempfile::tempdir().unwrap();
            let _first = kind.open(dir.path(), EngineSettings::SHORT_OPEN).unwrap();
            match kind.open(dir.path(), EngineSettings::SHORT_OPEN) {
                Err(StoreError::Locked(_)) => {}
                Err(other) => panic!("{kind:?}: expected Locked, got {other}"),
                Ok(_) => panic!("{kind:?}: a second open of a locked store succeeded"),
            }
        }
    }
}
