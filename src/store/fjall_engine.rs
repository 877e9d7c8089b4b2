//! The fjall 2 engine (an LSM tree): the default for new stores. A commit group is one atomic
//! batch appended to fjall's journal; a flush hands the journal's buffer to the OS and fsyncs
//! the journal file itself; the sorted tables are written and compacted by fjall's background
//! threads. Measured against sled in `docs/performance.md`.
//!
//! A store keeps each keyspace that grows with every movement (`schema::HISTORY`: the tranlog,
//! the GL transactions and their indexes) in a partition (an LSM tree) of its own, and the rest
//! (balances, accounts, cards, customers: records rewritten in place) in `records`. In one tree,
//! a table's key range spans whatever lies between its keys, so a compaction set off by one
//! keyspace rewrote the tables of the others lying between them, most of them history; apart,
//! the tranlog's and the transactions' tables never overlap older ones and are never merged
//! (`APPENDED_HISTORY`), and an index's compaction rewrites only that index (which the indexes
//! read only by statements and histories do four times as rarely). A store made before keeps
//! those keyspaces in `records`, and every partition keeps the options it was made with (a
//! store made before the FIFO strategy merges its history's tables level by level, as before).

use std::collections::BTreeMap;
use std::fs::{File, TryLockError};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use super::schema::{Keyspace, HISTORY};
use super::{
    ordered, retry_while_locked, BackgroundPriority, Engine, KeyValueIter, StoreError, WriteOp,
};

/// The partition of every keyspace without one of its own.
const RECORDS_PARTITION: &str = "records";
/// The file whose exclusive lock says a process has this store open.
const LOCK_FILE: &str = "cardswitch.lock";
/// Memtables one flush may write. fjall gives a keyspace one flush permit per partition after
/// replaying its journals (and one per memtable sealed later), and a permit flushes at most
/// this many sealed memtables; its default is the cores less one, 1 here. A restart after a
/// busy spell replays several sealed memtables per partition, and at one per permit the
/// backlog never shrank: the partition flushed first was always the same, the others' journals
/// could not be deleted, the journals reached fjall's limit, and writes halted for good (a
/// partition per keyspace did that, `docs/performance.md`). At this many, the first permits
/// flush the whole backlog.
const MEMTABLES_PER_FLUSH_MAX: usize = 32;
/// Tables a write-mostly index partition (`WRITE_MOSTLY_INDEXES`) gathers in its first level
/// before they are merged into the next; fjall's default is 4. An index's keys land all over
/// its range, so each such merge rewrites the whole of the next level (up to 256 MiB before a
/// level below it is started): merging four times as rarely cut the compactor's CPU by 30-46%
/// in sustained debits (`docs/performance.md`). These indexes are read only by statements and
/// history queries, which then look in up to this many more tables. fjall slows writes from 20
/// such tables and stops them at 32, which one merge's time of flushes does not come near.
const INDEX_FIRST_LEVEL_TABLES: u8 = 16;
/// The history records, each written once under an id that only grows (`core::history`: what
/// changes later is written as a revision in `records`). Every table a flush writes to their
/// partitions holds ids above every older table's, so the tables never overlap and fjall's
/// FIFO strategy, given no size limit and no age, never merges them: a read finds the one
/// table that can hold its id by binary search, and the history is written to disk once
/// instead of again on each level it went down (at 1M cards the compactor's CPU fell to
/// between a quarter and two thirds, `docs/performance.md` "The history written once"). Were
/// a table ever to overlap another (a record written again under its own key), FIFO would
/// merge the first level's tables whenever more than 20 piled up, and fjall would slow writes
/// while 20 did.
const APPENDED_HISTORY: [Keyspace; 2] = [Keyspace::Tranlog, Keyspace::Transaction];
/// The indexes read by statements and history queries only. The RRN index is not one: every
/// movement looks its RRN up, in every table of the first level.
const WRITE_MOSTLY_INDEXES: [Keyspace; 3] =
    [Keyspace::Entry, Keyspace::TranlogByCard, Keyspace::TranlogByWallet];

pub struct FjallEngine {
    // Declared before the lock file so that fjall is closed before the lock is released.
    layout: Layout,
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

/// Which partition holds which keys.
struct Layout {
    records: fjall::PartitionHandle,
    /// The history keyspaces that have a partition of their own: leading byte, partition.
    history: Vec<(u8, fjall::PartitionHandle)>,
    /// The whole key space cut where the partitions alternate, in key order.
    pieces: Vec<Piece>,
}

/// Keys from `start` up to (not including) `end`, or to the end of the key space, and which
/// partition holds them: an index into `history`, or `None` for `records`.
struct Piece {
    start: Vec<u8>,
    end: Option<Vec<u8>>,
    history: Option<usize>,
}

/// The pieces of the key space in key order: each history keyspace's single-byte range and the
/// gaps around them.
fn pieces(history: &[(u8, fjall::PartitionHandle)]) -> Vec<Piece> {
    let mut bytes: Vec<(u8, usize)> =
        history.iter().enumerate().map(|(index, (byte, _))| (*byte, index)).collect();
    bytes.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = Vec::new();
    for (byte, index) in bytes {
        pieces.push(Piece { start, end: Some(vec![byte]), history: None });
        let end = byte.checked_add(1).map(|next| vec![next]);
        pieces.push(Piece { start: vec![byte], end: end.clone(), history: Some(index) });
        let Some(end) = end else { return pieces };
        start = end;
    }
    pieces.push(Piece { start, end: None, history: None });
    pieces
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
        Self::open_with(dir, BackgroundPriority::Same)
    }

    /// `open`, fjall's background threads at `background`.
    pub fn open_with(
        dir: &Path,
        background: BackgroundPriority,
    ) -> Result<FjallEngine, StoreError> {
        std::fs::create_dir_all(dir).map_err(|error| StoreError::from_io(&error))?;
        // fjall's threads may finish a moment after the last handle is dropped, hence the wait.
        let lock = retry_while_locked(|| lock(&dir.join(LOCK_FILE)))?;
        let keyspace = open_keyspace(dir, background)?;
        let layout = Layout::open(&keyspace, dir)?;
        let journal = ActiveJournal::open(dir.join("journals"))
            .map_err(|error| StoreError::from_io(&error))?;
        Ok(FjallEngine {
            layout,
            keyspace,
            dir: dir.to_path_buf(),
            first_failure: Mutex::new(None),
            sync_failed: AtomicBool::new(false),
            journal: Mutex::new(journal),
            _lock: lock,
        })
    }
}

impl Layout {
    /// The partitions of the store `keyspace` opened. A new store gets every history
    /// keyspace's partition, made before `records`; once `records` exists no partition is
    /// added, as its keys would stay behind in `records` (a store made before keeps them all
    /// there).
    fn open(keyspace: &fjall::Keyspace, dir: &Path) -> Result<Layout, StoreError> {
        let known = |name: &str| {
            name == RECORDS_PARTITION || HISTORY.iter().any(|(_, history)| *history == name)
        };
        if let Some(name) = keyspace.list_partitions().into_iter().find(|name| !known(name)) {
            return Err(StoreError::Corruption {
                key: String::new(),
                reason: format!("the store has a partition `{name}` this build did not make"),
            });
        }
        let new_store = !keyspace.partition_exists(RECORDS_PARTITION);
        let mut history = Vec::new();
        for (space, name) in HISTORY {
            if new_store || keyspace.partition_exists(name) {
                let partition =
                    keyspace.open_partition(name, partition_options(space)).map_err(store_error)?;
                history.push((space.byte(), partition));
            }
        }
        // Only a new store gets partitions (`records` among them, made last).
        let records = keyspace
            .open_partition(RECORDS_PARTITION, fjall::PartitionCreateOptions::default())
            .map_err(store_error)?;
        if new_store {
            // fjall fsyncs a new partition's folder, not its entry in the folder above; the
            // first batch must not outlive its partitions.
            File::open(dir.join("partitions"))
                .and_then(|folder| folder.sync_all())
                .map_err(|error| StoreError::from_io(&error))?;
        }
        let pieces = pieces(&history);
        Ok(Layout { records, history, pieces })
    }

    /// The partition that holds `key`.
    fn partition_of(&self, key: &[u8]) -> &fjall::PartitionHandle {
        let byte = key.first();
        self.history
            .iter()
            .find(|(history, _)| Some(history) == byte)
            .map_or(&self.records, |(_, partition)| partition)
    }

    /// The partitions holding keys in `[start, end)`, in key order, each with its part of the
    /// range.
    fn partitions_in(
        &self,
        start: &[u8],
        end: &[u8],
    ) -> Vec<(&fjall::PartitionHandle, Vec<u8>, Vec<u8>)> {
        self.pieces
            .iter()
            .filter_map(|piece| {
                let low = piece.start.as_slice().max(start);
                let high = piece.end.as_deref().map_or(end, |piece_end| piece_end.min(end));
                let partition = piece.history.map_or(&self.records, |index| &self.history[index].1);
                (low < high).then(|| (partition, low.to_vec(), high.to_vec()))
            })
            .collect()
    }
}

/// How a new partition for `space` is made. fjall keeps a partition's options with it: they
/// are chosen once, when the store is made, and a store made before keeps its own.
fn partition_options(space: Keyspace) -> fjall::PartitionCreateOptions {
    let options = fjall::PartitionCreateOptions::default();
    if APPENDED_HISTORY.contains(&space) {
        // No size limit and no age: nothing is ever dropped, and a first level of disjoint
        // tables is left as it is (lsm-tree 2.10's `Fifo::choose`).
        let never_merged = fjall::compaction::Fifo::new(u64::MAX, None);
        return options.compaction_strategy(fjall::compaction::Strategy::Fifo(never_merged));
    }
    if !WRITE_MOSTLY_INDEXES.contains(&space) {
        return options;
    }
    let leveled =
        fjall::compaction::Leveled { l0_threshold: INDEX_FIRST_LEVEL_TABLES, ..Default::default() };
    options.compaction_strategy(fjall::compaction::Strategy::Leveled(leveled))
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

/// Opens fjall's keyspace with its background threads at `background`. On one core their work
/// (a memtable flush, a compaction: hundreds of milliseconds of CPU) otherwise takes the core
/// in slices of milliseconds from the writer, the syncer and the HTTP worker, and every request
/// waits behind them; lower, they take what the request path leaves (`docs/performance.md`,
/// "fjall's threads at a lower priority" and "fjall's threads under SCHED_IDLE").
fn open_keyspace(
    dir: &Path,
    background: BackgroundPriority,
) -> Result<fjall::Keyspace, StoreError> {
    let open = || fjall::Config::new(dir).flush_workers(MEMTABLES_PER_FLUSH_MAX).open();
    match background {
        BackgroundPriority::Same => open().map_err(store_error),
        BackgroundPriority::Nice(nice) => {
            let before = background_threads();
            let keyspace = open().map_err(store_error)?;
            lower_started_threads(&before, nice);
            Ok(keyspace)
        }
        // A thread inherits its creator's policy: fjall's threads, started by an opener under
        // SCHED_IDLE, keep it (and the flush workers each flush starts, in turn, theirs).
        BackgroundPriority::Idle => std::thread::scope(|scope| {
            let opener = scope.spawn(|| {
                lower_own_thread_to_idle();
                open().map_err(store_error)
            });
            opener.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }),
    }
}

/// Puts the calling thread under `SCHED_IDLE`; if the system refuses, says so and goes on:
/// the store works the same at the switch's priority, only with longer stalls.
pub(super) fn lower_own_thread_to_idle() {
    use thread_priority::{NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy};
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    let own = thread_priority::thread_native_id();
    if let Err(error) =
        thread_priority::set_thread_priority_and_policy(own, ThreadPriority::Min, idle)
    {
        tracing::warn!(?error, "fjall's threads keep the switch's priority");
    }
}

/// Lowers the flusher and compactor fjall started since `before` to `nice`. fjall's monitor
/// keeps the switch's priority: it decides when a memtable is flushed, and a build that lowered
/// it too did not shorten the stalls.
fn lower_started_threads(before: &BTreeMap<i32, String>, nice: i32) {
    for thread in started_threads(before).into_iter().filter_map(rustix::process::Pid::from_raw) {
        // Linux keeps a nice value per thread: this one's only.
        if let Err(error) = rustix::process::setpriority_process(Some(thread), nice) {
            tracing::warn!(%error, "a fjall thread keeps the switch's priority");
        }
    }
}

/// The flusher and compactor threads started since `before` was taken. A new thread names
/// itself once it runs, so the names are read again (for up to 100 ms) until both are there.
fn started_threads(before: &BTreeMap<i32, String>) -> Vec<i32> {
    let mut started = BTreeMap::new();
    for _ in 0..50 {
        started = background_threads();
        started.retain(|tid, _| !before.contains_key(tid));
        if ["flusher", "compactor"].iter().all(|wanted| started.values().any(|name| name == wanted))
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    started.into_keys().collect()
}

/// The threads of this process named as fjall names its flusher and compactor, by id.
fn background_threads() -> BTreeMap<i32, String> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return BTreeMap::new();
    };
    tasks
        .filter_map(|task| {
            let task = task.ok()?.path();
            let tid: i32 = task.file_name()?.to_str()?.parse().ok()?;
            let name = std::fs::read_to_string(task.join("comm")).ok()?.trim().to_owned();
            matches!(name.as_str(), "flusher" | "compactor").then_some((tid, name))
        })
        .collect()
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
        let partition = self.layout.partition_of(key);
        Ok(partition.get(key).map_err(store_error)?.map(|value| value.to_vec()))
    }

    fn range(&self, start: &[u8], end: &[u8], reverse: bool) -> KeyValueIter<'_> {
        let mut parts = self.layout.partitions_in(start, end);
        if reverse {
            parts.reverse();
        }
        // Each partition's part is read when the one before it is done.
        Box::new(parts.into_iter().flat_map(move |(partition, low, high)| {
            let pairs = partition.range(low..high).map(|item| {
                item.map(|(key, value)| (key.to_vec(), value.to_vec())).map_err(store_error)
            });
            ordered(pairs, reverse)
        }))
    }

    fn apply(&self, ops: &[WriteOp]) -> Result<(), StoreError> {
        self.refuse_if_sync_failed()?;
        let mut batch = self.keyspace.batch();
        for op in ops {
            match op {
                WriteOp::Put { key, value } => {
                    batch.insert(self.layout.partition_of(key), key.as_slice(), value.as_slice());
                }
                WriteOp::Delete { key } => {
                    batch.remove(self.layout.partition_of(key), key.as_slice());
                }
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
    use crate::store::schema;
    use crate::store::thread_stat::{all_nices, own_nice, policy_of};

    fn put(key: &[u8], value: &[u8]) -> WriteOp {
        WriteOp::Put { key: key.to_vec(), value: value.to_vec() }
    }

    /// The tranlog's tables are never merged: 33 flushes of growing ids leave 33 disjoint
    /// tables in the first level (fjall's default strategy merges such small ones from 32).
    #[test]
    fn history_tables_are_written_once_and_never_merged() {
        use fjall::AbstractTree;
        const FLUSHES: u64 = 33;
        let dir = tempfile::tempdir().unwrap();
        let engine = FjallEngine::open(dir.path()).unwrap();
        let tranlog = engine.layout.partition_of(&schema::tranlog_key(1)).clone();
        for flush in 0..FLUSHES {
            let ops: Vec<WriteOp> = (flush * 100..(flush + 1) * 100)
                .map(|id| put(&schema::tranlog_key(id), &[7; 64]))
                .collect();
            engine.apply(&ops).unwrap();
            tranlog.rotate_memtable_and_wait().unwrap();
        }
        // Time for the compactor, which each flush wakes, to act if its strategy would.
        std::thread::sleep(std::time::Duration::from_millis(500));
        let tables = usize::try_from(FLUSHES).unwrap();
        assert_eq!(tranlog.tree.level_segment_count(0), Some(tables));
        assert_eq!((tranlog.tree.segment_count(), tranlog.tree.l0_run_count()), (tables, 1));
        assert_eq!(engine.get(&schema::tranlog_key(0)).unwrap(), Some(vec![7; 64]));
        assert_eq!(engine.get(&schema::tranlog_key(3_299)).unwrap(), Some(vec![7; 64]));
    }

    #[test]
    fn fjall_threads_run_under_sched_idle_and_the_caller_keeps_its_policy() {
        const SCHED_IDLE: u32 = 5;
        let dir = tempfile::tempdir().unwrap();
        let own = policy_of(Path::new("/proc/thread-self")).unwrap().1;
        assert_ne!(own, SCHED_IDLE);
        let engine = FjallEngine::open_with(dir.path(), BackgroundPriority::Idle).unwrap();
        let threads: Vec<(String, u32)> = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|task| policy_of(&task.ok()?.path()))
            .collect();
        // No other test opens a store under SCHED_IDLE, so these threads are this one's.
        for name in ["flusher", "compactor", "monitor"] {
            assert!(threads.contains(&(name.to_owned(), SCHED_IDLE)), "{name} idle: {threads:?}");
        }
        assert_eq!(policy_of(Path::new("/proc/thread-self")).unwrap().1, own, "the caller's");
        engine.apply(&[put(b"a", b"1")]).unwrap();
        engine.flush().unwrap();
        engine.layout.partition_of(b"a").rotate_memtable().unwrap();
        drop(engine);
        let engine = FjallEngine::open(dir.path()).unwrap();
        assert_eq!(engine.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
    }

    #[test]
    fn fjall_threads_run_at_the_background_nice_and_the_caller_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let own = own_nice();
        // 7: no other test opens a store at that nice value, so these threads are this one's.
        let engine = FjallEngine::open_with(dir.path(), BackgroundPriority::Nice(7)).unwrap();
        let threads = all_nices();
        for name in ["flusher", "compactor"] {
            assert!(threads.contains(&(name.to_owned(), 7)), "{name} at nice 7 in {threads:?}");
        }
        assert!(!threads.contains(&("monitor".to_owned(), 7)), "the monitor keeps its own");
        assert_eq!(own_nice(), own, "the caller's");
        drop(engine);
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
            engine.layout.partition_of(b"a").rotate_memtable().unwrap();
            engine.apply(&[put(b"b", b"2")]).unwrap();
            engine.flush().unwrap();
            assert_eq!(engine.journal.lock().id, first + 1, "the flush moved to the new journal");
        }
        let engine = FjallEngine::open(dir.path()).unwrap();
        assert_eq!(engine.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(engine.get(b"b").unwrap().as_deref(), Some(&b"2"[..]));
    }

    /// One key in each piece of the key space: before, in and between the history keyspaces.
    const KEYS_IN_ORDER: [&[u8]; 7] = [b"L", b"a1", b"l\x00\x01", b"m", b"s9", b"t\x00\x07", b"u"];

    fn names(partition: &fjall::PartitionHandle) -> Vec<Vec<u8>> {
        partition.iter().map(|pair| pair.unwrap().0.to_vec()).collect()
    }

    #[test]
    fn a_new_store_keeps_the_history_keyspaces_apart_and_ranges_cross_them_in_key_order() {
        let dir = tempfile::tempdir().unwrap();
        {
            let engine = FjallEngine::open(dir.path()).unwrap();
            let mut ops: Vec<WriteOp> = KEYS_IN_ORDER.iter().map(|key| put(key, key)).collect();
            ops.reverse();
            engine.apply(&ops).unwrap();
            engine.flush().unwrap();
        }
        let engine = FjallEngine::open(dir.path()).unwrap();
        let layout = &engine.layout;
        assert_eq!(layout.history.len(), HISTORY.len(), "a new store has every partition");
        assert_eq!(names(layout.partition_of(b"l")), vec![b"l\x00\x01".to_vec()]);
        assert_eq!(names(layout.partition_of(b"t")), vec![b"t\x00\x07".to_vec()]);
        assert_eq!(names(&layout.records).len(), 5);
        let range = |start: &[u8], end: &[u8], reverse| {
            engine.range(start, end, reverse).map(|pair| pair.unwrap().0).collect::<Vec<_>>()
        };
        let all: Vec<Vec<u8>> = KEYS_IN_ORDER.iter().map(|key| key.to_vec()).collect();
        assert_eq!(range(b"", b"\xff", false), all);
        let mut backwards = all.clone();
        backwards.reverse();
        assert_eq!(range(b"", b"\xff", true), backwards);
        // Ranges that start and end inside pieces.
        assert_eq!(range(b"l\x00", b"t\x00\x08", false), all[2..6].to_vec());
        assert_eq!(range(b"a2", b"t", true), vec![all[4].clone(), all[3].clone(), all[2].clone()]);
        assert_eq!(range(b"t", b"u", false), vec![all[5].clone()]);
        for key in KEYS_IN_ORDER {
            assert_eq!(engine.get(key).unwrap().as_deref(), Some(key));
        }
        engine.apply(&[WriteOp::Delete { key: b"t\x00\x07".to_vec() }]).unwrap();
        assert_eq!(engine.get(b"t\x00\x07").unwrap(), None);
    }

    #[test]
    fn a_store_made_before_the_split_keeps_everything_in_its_one_partition() {
        let dir = tempfile::tempdir().unwrap();
        {
            // What earlier builds made: the one partition.
            let keyspace = fjall::Config::new(dir.path()).open().unwrap();
            let records = keyspace
                .open_partition(RECORDS_PARTITION, fjall::PartitionCreateOptions::default())
                .unwrap();
            records.insert(b"l\x00\x01", b"old").unwrap();
            keyspace.persist(fjall::PersistMode::SyncAll).unwrap();
        }
        for _ in 0..2 {
            let engine = FjallEngine::open(dir.path()).unwrap();
            assert!(engine.layout.history.is_empty(), "an old store stays as it was");
            engine.apply(&[put(b"t\x00\x02", b"new"), put(b"b", b"balance")]).unwrap();
            engine.flush().unwrap();
            assert_eq!(names(&engine.layout.records).len(), 3);
            assert_eq!(engine.get(b"l\x00\x01").unwrap().as_deref(), Some(&b"old"[..]));
            assert_eq!(engine.keyspace.partition_count(), 1);
        }
    }

    #[test]
    fn a_partition_this_build_did_not_make_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let keyspace = fjall::Config::new(dir.path()).open().unwrap();
            keyspace.open_partition("stranger", fjall::PartitionCreateOptions::default()).unwrap();
            keyspace.persist(fjall::PersistMode::SyncAll).unwrap();
        }
        match FjallEngine::open(dir.path()) {
            Err(StoreError::Corruption { reason, .. }) => assert!(reason.contains("stranger")),
            Err(other) => panic!("expected corruption, got {other}"),
            Ok(_) => panic!("expected corruption, the store opened"),
        }
    }

    fn journal_files(dir: &Path) -> usize {
        std::fs::read_dir(dir.join("journals")).unwrap().count()
    }

    /// A restart after a busy spell replays sealed memtables of every partition; every one of
    /// them must be flushed, so that their journals go and writes never halt at fjall's journal
    /// limit (fjall's default would flush one memtable per permit, always of one partition).
    #[test]
    fn every_memtable_replayed_at_a_restart_is_flushed_and_its_journal_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let rotations = 12;
        {
            let engine = FjallEngine::open(dir.path()).unwrap();
            for round in 0..rotations {
                let id = u64::try_from(round).unwrap().to_be_bytes();
                let keys = [b'b', b'l', b'r'].map(|space| [&[space][..], &id].concat());
                engine.apply(&keys.clone().map(|key| put(&key, b"1"))).unwrap();
                engine.flush().unwrap();
                for key in &keys {
                    engine.layout.partition_of(key).rotate_memtable().unwrap();
                }
            }
        }
        let sealed_at_stop = journal_files(dir.path());
        let engine = FjallEngine::open(dir.path()).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while engine.keyspace.journal_count() > 1 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(
            engine.keyspace.journal_count(),
            1,
            "journals left of {sealed_at_stop} at the restart: a replayed memtable was never flushed"
        );
        for round in 0..rotations {
            let id = u64::try_from(round).unwrap().to_be_bytes();
            assert!(engine.get(&[&b"l"[..], &id].concat()).unwrap().is_some());
        }
    }

    #[test]
    fn a_write_mostly_index_gathers_more_tables_than_the_rrn_index_before_merging() {
        let dir = tempfile::tempdir().unwrap();
        let engine = FjallEngine::open(dir.path()).unwrap();
        let (entries, rrns) = ([Keyspace::Entry.byte()], [Keyspace::TranlogByRrn.byte()]);
        let flushes = 6;
        for round in 0..flushes {
            let round = u8::try_from(round).unwrap();
            // Every table spans the same range, as an index's do: none can simply move down.
            for space in [entries, rrns] {
                let ops = [[space[0], 0, round], [space[0], 9, round]].map(|key| put(&key, b"1"));
                engine.apply(&ops).unwrap();
                engine.layout.partition_of(&space).rotate_memtable_and_wait().unwrap();
            }
        }
        let (entries, rrns) =
            (engine.layout.partition_of(&entries), engine.layout.partition_of(&rrns));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while (entries.segment_count() < flushes || rrns.segment_count() >= flushes)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(rrns.segment_count() < flushes, "the RRN index merges its tables at fjall's 4");
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(entries.segment_count(), flushes, "the entries index merged before 16 tables");
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
