//! The fjall 2 engine (an LSM tree): the default for new stores. A commit group is one atomic
//! batch appended to fjall's journal; a flush hands the journal's buffer to the OS and fsyncs
//! the journal file itself; the sorted tables are written and compacted by fjall's background
//! threads. Measured against sled in `docs/performance.md`.

use std::fs::{File, TryLockError};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use super::{ordered, retry_while_locked, Engine, KeyValueIter, StoreError, WriteOp};

/// The one partition: the schema's leading byte already separates the keyspaces.
const PARTITION: &str = "records";
/// The file whose exclusive lock says a process has this store open.
const LOCK_FILE: &str = "cardswitch.lock";

pub struct FjallEngine {
    // Declared before the lock file so that fjall is closed before the lock is released.
    tree: fjall::PartitionHandle,
    keyspace: fjall::Keyspace,
    dir: PathBuf,
    /// The first write or persist failure. fjall then poisons the keyspace and answers every
    /// later write with `Poisoned`; those are reported as this failure (a full disk stays a
    /// full disk) until a restart.
    first_failure: Mutex<Option<StoreError>>,
    /// A flush's own fsync failed. After a failed fsync the OS may have dropped the unwritten
    /// pages, so a later fsync proves nothing: like fjall's poisoning, every later write and
    /// flush is refused until a restart replays the journal.
    sync_failed: AtomicBool,
    journal: Mutex<ActiveJournal>,
    _lock: File,
}

/// The journal file fjall appends to, opened again here so that a flush fsyncs it without
/// holding fjall's journal lock: fjall's own `persist` holds that lock through the fsync, and
/// every batch the writer applies meanwhile waits for it, which takes the overlap out of the
/// pipelined group commit. This leans on fjall 2's journal layout (pinned in Cargo.toml):
/// journals are `journals/<id>`, ids count up, and fjall fsyncs journal `id` (under its lock)
/// before it creates `id + 1`, so once `id + 1` exists everything in `id` is durable.
struct ActiveJournal {
    dir: PathBuf,
    id: u64,
    file: File,
}

impl ActiveJournal {
    /// The newest journal in `dir`, the one fjall appends to after opening the keyspace.
    fn open(dir: PathBuf) -> std::io::Result<ActiveJournal> {
        let mut newest = None;
        for entry in std::fs::read_dir(&dir)? {
            let name = entry?.file_name();
            if let Some(id) = name.to_str().and_then(|name| name.parse::<u64>().ok()) {
                newest = newest.max(Some(id));
            }
        }
        let id = newest.ok_or_else(|| {
            std::io::Error::new(ErrorKind::NotFound, format!("no journal in {}", dir.display()))
        })?;
        let file = File::open(dir.join(id.to_string()))?;
        Ok(ActiveJournal { dir, id, file })
    }

    /// Fsyncs the journal fjall appends to now, moving on to newer journals first: an older
    /// one was fsynced by fjall before the next was made.
    fn sync(&mut self) -> std::io::Result<()> {
        loop {
            let next = self.id.saturating_add(1);
            match File::open(self.dir.join(next.to_string())) {
                Ok(file) => {
                    self.id = next;
                    self.file = file;
                }
                Err(error) if error.kind() == ErrorKind::NotFound => break,
                Err(error) => return Err(error),
            }
        }
        self.file.sync_data()
    }
}

impl FjallEngine {
    /// Opens (or creates) the store under `dir`; refused as `Locked` while another process has
    /// it open. fjall replays its journal on open: every persisted batch is there, whole.
    pub fn open(dir: &Path) -> Result<FjallEngine, StoreError> {
        std::fs::create_dir_all(dir).map_err(|error| StoreError::from_io(&error))?;
        // fjall's threads may finish a moment after the last handle is dropped, hence the wait.
        let lock = retry_while_locked(|| lock(&dir.join(LOCK_FILE)))?;
        let keyspace = fjall::Config::new(dir).open().map_err(store_error)?;
        let tree = keyspace
            .open_partition(PARTITION, fjall::PartitionCreateOptions::default())
            .map_err(store_error)?;
        let journal = ActiveJournal::open(dir.join("journals"))
            .map_err(|error| StoreError::from_io(&error))?;
        Ok(FjallEngine {
            tree,
            keyspace,
            dir: dir.to_path_buf(),
            first_failure: Mutex::new(None),
            sync_failed: AtomicBool::new(false),
            journal: Mutex::new(journal),
            _lock: lock,
        })
    }
}

/// Takes the store's lock, or says who holds it.
fn lock(path: &Path) -> Result<File, StoreError> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|error| StoreError::from_io(&error))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => {
            Err(StoreError::Locked(format!("{} is locked", path.display())))
        }
        Err(TryLockError::Error(error)) => Err(StoreError::from_io(&error)),
    }
}

/// Whether the file system holding `dir` has (almost) no room left for an unprivileged writer.
fn disk_is_full(dir: &Path) -> bool {
    const FREE_BYTES_MIN: u64 = 1024 * 1024;
    rustix::fs::statvfs(dir)
        .is_ok_and(|stats| stats.f_bavail.saturating_mul(stats.f_frsize) < FREE_BYTES_MIN)
}

/// fjall's error as a storage error; an operating-system error keeps its kind (a full disk).
fn store_error(error: fjall::Error) -> StoreError {
    match error {
        fjall::Error::Io(error) => StoreError::from_io(&error),
        other => StoreError::Io(other.to_string()),
    }
}

impl FjallEngine {
    /// A write or persist failure as the switch reports it: the first as it was, later
    /// `Poisoned` answers as the first failure, said to last until a restart.
    fn write_failure(&self, error: fjall::Error) -> StoreError {
        let mut first = self.first_failure.lock();
        if let (fjall::Error::Poisoned, Some(failure)) = (&error, first.as_ref()) {
            let lasting = "; the store refuses writes until the switch restarts";
            return match failure {
                StoreError::DiskFull(text) => StoreError::DiskFull(format!("{text}{lasting}")),
                other => StoreError::Io(format!("{other}{lasting}")),
            };
        }
        let failure = match error {
            // Poisoned by a background write (a table flush or compaction): the cause is not
            // reported here, so a full file system is looked for.
            fjall::Error::Poisoned if disk_is_full(&self.dir) => StoreError::DiskFull(format!(
                "{} has no space left; the store refuses writes until the switch restarts",
                self.dir.display()
            )),
            fjall::Error::Poisoned => StoreError::Io(
                "a background write of the store failed; it refuses writes until the switch \
                 restarts"
                    .to_owned(),
            ),
            other => store_error(other),
        };
        first.get_or_insert_with(|| failure.clone());
        failure
    }
}

impl FjallEngine {
    /// After a failed fsync of our own, writes and flushes are refused as fjall refuses them
    /// once poisoned, reported as the first failure.
    fn refuse_if_sync_failed(&self) -> Result<(), StoreError> {
        if self.sync_failed.load(Ordering::Acquire) {
            return Err(self.write_failure(fjall::Error::Poisoned));
        }
        Ok(())
    }
}

// `apply` writes the batch to the journal and then to the memtable, all or nothing: a batch that
// fails is not in the memtable and is not replayed. `flush` fsyncs the journal.
impl Engine for FjallEngine {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree.get(key).map_err(store_error)?.map(|value| value.to_vec()))
    }

    fn range(&self, start: &[u8], end: &[u8], reverse: bool) -> KeyValueIter<'_> {
        let pairs = self.tree.range(start.to_vec()..end.to_vec()).map(|item| {
            item.map(|(key, value)| (key.to_vec(), value.to_vec())).map_err(store_error)
        });
        ordered(pairs, reverse)
    }

    fn apply(&self, ops: &[WriteOp]) -> Result<(), StoreError> {
        self.refuse_if_sync_failed()?;
        let mut batch = self.keyspace.batch();
        for op in ops {
            match op {
                WriteOp::Put { key, value } => {
                    batch.insert(&self.tree, key.as_slice(), value.as_slice());
                }
                WriteOp::Delete { key } => batch.remove(&self.tree, key.as_slice()),
            }
        }
        batch.commit().map_err(|error| self.write_failure(error))
    }

    /// Everything applied before the call is durable when it returns `Ok`.
    fn flush(&self) -> Result<(), StoreError> {
        self.refuse_if_sync_failed()?;
        // Under fjall's journal lock: its buffered bytes go to the OS (a write, no fsync).
        self.keyspace
            .persist(fjall::PersistMode::Buffer)
            .map_err(|error| self.write_failure(error))?;
        // Outside it: the writer applies the next batch meanwhile.
        self.journal.lock().sync().map_err(|error| {
            self.sync_failed.store(true, Ordering::Release);
            self.write_failure(fjall::Error::Io(error))
        })
    }

    fn size_on_disk_bytes(&self) -> Result<u64, StoreError> {
        Ok(self.keyspace.disk_space())
    }
}

impl Drop for FjallEngine {
    fn drop(&mut self) {
        // Last chance to persist anything applied; errors have nowhere to go but the log.
        if let Err(error) = self.keyspace.persist(fjall::PersistMode::SyncAll) {
            tracing::error!(%error, "final persist of the store failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &[u8], value: &[u8]) -> WriteOp {
        WriteOp::Put { key: key.to_vec(), value: value.to_vec() }
    }

    #[test]
    fn a_persisted_batch_is_there_after_a_reopen_in_order_both_ways() {
        let dir = tempfile::tempdir().unwrap();
        {
            let engine = FjallEngine::open(dir.path()).unwrap();
            engine.apply(&[put(b"a1", b"x"), put(b"a3", b"z"), put(b"a2", b"y")]).unwrap();
            engine.apply(&[WriteOp::Delete { key: b"a3".to_vec() }, put(b"b", b"w")]).unwrap();
            engine.flush().unwrap();
        }
        let engine = FjallEngine::open(dir.path()).unwrap();
        let keys = |reverse| {
            engine.range(b"a", b"b", reverse).map(|item| item.unwrap().0).collect::<Vec<_>>()
        };
        assert_eq!(keys(false), vec![b"a1".to_vec(), b"a2".to_vec()]);
        assert_eq!(keys(true), vec![b"a2".to_vec(), b"a1".to_vec()]);
        assert_eq!(engine.get(b"b").unwrap().as_deref(), Some(&b"w"[..]));
        assert_eq!(engine.get(b"a3").unwrap(), None);
    }

    #[test]
    fn a_flush_follows_the_journal_fjall_rotates_to() {
        let dir = tempfile::tempdir().unwrap();
        {
            let engine = FjallEngine::open(dir.path()).unwrap();
            engine.apply(&[put(b"a", b"1")]).unwrap();
            engine.flush().unwrap();
            let first = engine.journal.lock().id;
            // A memtable rotation seals the journal and starts the next one.
            engine.tree.rotate_memtable().unwrap();
            engine.apply(&[put(b"b", b"2")]).unwrap();
            engine.flush().unwrap();
            assert_eq!(engine.journal.lock().id, first + 1, "the flush moved to the new journal");
        }
        let engine = FjallEngine::open(dir.path()).unwrap();
        assert_eq!(engine.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(engine.get(b"b").unwrap().as_deref(), Some(&b"2"[..]));
    }

    #[test]
    fn a_poisoned_store_keeps_reporting_its_first_failure() {
        let dir = tempfile::tempdir().unwrap();
        let engine = FjallEngine::open(dir.path()).unwrap();
        let full = std::io::Error::from_raw_os_error(28);
        assert!(matches!(engine.write_failure(fjall::Error::Io(full)), StoreError::DiskFull(_)));
        match engine.write_failure(fjall::Error::Poisoned) {
            StoreError::DiskFull(text) => {
                assert!(text.contains("until the switch restarts"), "{text}")
            }
            other => panic!("expected the first failure, a full disk; got {other}"),
        }
    }
}
