//! The account-entry index: every GL entry by account and post date (what statements and mini
//! statements read), kept outside the storage engine in sorted runs of our own.
//!
//! The index is derived: a GL transaction record holds its entries, and the transaction is
//! what a commit group makes durable. So the index adds nothing to a group's writes. The
//! syncer hands each durable group's entries to the index, which keeps them in memory
//! (`Pending`, by account) until there are `run_entries` of them; a worker thread then sorts
//! them into a run file (`entry_run.rs`), records it in the manifest with the transaction id
//! below which every entry is in a run (`indexed_below`), and drops them from memory. Runs of
//! one level are merged into one of the next level `runs_per_merge` at a time, so there are
//! few runs and each entry is rewritten once per level. At open, the entries of transactions
//! from `indexed_below` on are read again from the transaction records (`Core` does that).
//!
//! In an LSM tree each entry was a random-key insert into a memtable, journalled, flushed and
//! compacted level by level with the whole index (`docs/performance.md`, "Account entries").
//!
//! What always holds: every entry of every published transaction is in exactly one of the
//! active set, the frozen set (being written to a run) or a run; a run holds only entries of
//! transactions below `indexed_below`, which never passes a durable transaction; files not
//! named in the manifest are leftovers of an interrupted write and are deleted at open. An
//! index that fails its checks at open is deleted and rebuilt from the transactions.
//!
//! The same runs keep two more derived indexes, both of tranlog records: tranlog ids by card
//! and by wallet (`CARD_WALLET_TRANLOGS`, `core::tranlog_index`) and by RRN (`RRN_TRANLOGS`,
//! `core::rrn_index`). There a record's "account" is the card's, wallet's or RRN's key, its
//! "transaction" the tranlog id, and the rest is zero. The RRN index is read by keys it mostly
//! does not hold, so its runs carry key filters (`key_filter.rs`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

pub use super::entry_run::IndexedEntry;
use super::entry_run::{self, Run};
use super::schema::EntryPosition;
use super::{BackgroundPriority, StoreError};
use crate::files;

/// Which index of a data directory an `EntryIndex` is: the same runs serve two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexKind {
    /// The directory inside the data directory.
    pub dir_name: &'static str,
    /// What logs call it.
    pub what: &'static str,
    /// The records it is derived from (and rebuilt from).
    pub source: &'static str,
    /// Its worker thread's name.
    pub thread: &'static str,
    /// Whether its runs carry a key filter (`key_filter.rs`): for an index read mostly by keys
    /// it does not hold.
    pub key_filter: bool,
}

/// GL entries by account and post date.
pub const ACCOUNT_ENTRIES: IndexKind = IndexKind {
    dir_name: "entries",
    what: "account-entry index",
    source: "GL transactions",
    thread: "cardswitch-entries",
    key_filter: false,
};

/// Tranlog ids by card and by wallet (`core::tranlog_index` says how its records are keyed).
pub const CARD_WALLET_TRANLOGS: IndexKind = IndexKind {
    dir_name: "tranlog-index",
    what: "card and wallet tranlog index",
    source: "tranlog records",
    thread: "cardswitch-tranlogs",
    key_filter: false,
};

/// Tranlog ids by RRN (`core::rrn_index`): read by every money movement, for a retry, and
/// nearly always without a hit, so its runs carry key filters.
pub const RRN_TRANLOGS: IndexKind = IndexKind {
    dir_name: "rrn-index",
    what: "RRN index",
    source: "tranlog records",
    thread: "cardswitch-rrns",
    key_filter: true,
};
const MANIFEST_FILE: &str = "MANIFEST";
const MANIFEST_VERSION: u32 = 1;
/// Most entries a merge writes between two looks at whether a run's worth waits in memory.
const SPILL_CHECK_ENTRIES: u64 = 65_536;
/// How long the worker waits after a failed write before it tries again.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// How large runs are and how many of a level are merged at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryIndexSettings {
    /// Entries kept in memory before they are written as a run (a few bytes each on disk,
    /// `entry_block.rs`).
    pub run_entries: usize,
    /// Runs of one level merged into one of the next.
    pub runs_per_merge: usize,
}

/// Whether an open may write: a serving switch keeps the index; an audit only reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    Serve,
    ReadOnly,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Manifest {
    version: u32,
    /// Every entry of a transaction with a smaller id is in a run, and none of a larger one.
    indexed_below: u64,
    next_run_id: u64,
    runs: Vec<RunRecord>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct RunRecord {
    id: u64,
    level: u8,
    entries: u64,
}

/// Where a key's chain of entries in `Pending` ends.
const CHAIN_END: usize = usize::MAX;
/// Most entries a `Pending` makes room for up front (four default runs' worth).
const PENDING_ROOM_MAX: usize = 1 << 20;

/// Entries not yet in a run, in the order they were added, each key's chained from its newest:
/// two vectors and a map slot a key, nothing allocated a key (the RRN index adds one entry a
/// debit under a key it never saw; a vector a key cost an allocation each, measured in the
/// syncer's time).
#[derive(Debug, Default)]
struct Pending {
    entries: Vec<IndexedEntry>,
    /// For each entry, the one added before it under the same key (`CHAIN_END` if none).
    earlier: Vec<usize>,
    /// Each key's newest entry.
    newest: FxHashMap<u64, usize>,
    max_transaction_id: Option<u64>,
}

impl Pending {
    /// An empty set with room for a run's worth of entries (`run_entries`) and some more, so
    /// that adding to it never grows it on the syncer's path, which every answer waits for (a
    /// doubling copies the whole set and rehashes its map at once). Its memory is only
    /// reserved: the first writes fault it in (`for_run_touched` does that ahead).
    fn for_run(run_entries: usize) -> Pending {
        // Entries keep coming while the worker wakes to write the run out. An index that never
        // spills (`verify`'s, `usize::MAX`) or a configured run beyond the cap grows past it.
        let room = run_entries.saturating_add(run_entries / 8).min(PENDING_ROOM_MAX);
        Pending {
            entries: Vec::with_capacity(room),
            earlier: Vec::with_capacity(room),
            newest: FxHashMap::with_capacity_and_hasher(room, rustc_hash::FxBuildHasher),
            max_transaction_id: None,
        }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    /// `for_run`, with its memory written once here (on the index's worker thread), so that
    /// the syncer's adds to it fault nothing in.
    fn for_run_touched(run_entries: usize) -> Pending {
        let mut pending = Pending::for_run(run_entries);
        let room = pending.entries.capacity();
        let zero = IndexedEntry {
            position: EntryPosition {
                account_id: 0,
                post_date_ms: 0,
                transaction_id: 0,
                entry_index: 0,
            },
            layer: 0,
            credit: false,
            amount_units: 0,
        };
        pending.entries.resize(room, zero);
        pending.earlier.resize(room, CHAIN_END);
        // Keys spread over the whole table, as account ids do.
        pending.newest.extend((0..room).map(|at| (u64::try_from(at).unwrap_or(u64::MAX), at)));
        pending.clear();
        pending
    }

    /// Empties the set, keeping its memory.
    fn clear(&mut self) {
        self.entries.clear();
        self.earlier.clear();
        self.newest.clear();
        self.max_transaction_id = None;
    }

    fn insert(&mut self, entry: IndexedEntry) {
        let at = self.entries.len();
        let earlier = self.newest.insert(entry.position.account_id, at).unwrap_or(CHAIN_END);
        self.entries.push(entry);
        self.earlier.push(earlier);
        self.max_transaction_id = self.max_transaction_id.max(Some(entry.position.transaction_id));
    }

    /// `key`'s entries, newest first.
    fn of_key(&self, key: u64) -> impl Iterator<Item = &IndexedEntry> {
        let mut at = self.newest.get(&key).copied().unwrap_or(CHAIN_END);
        std::iter::from_fn(move || {
            let entry = self.entries.get(at)?;
            at = self.earlier.get(at).copied().unwrap_or(CHAIN_END);
            Some(entry)
        })
    }

    fn collect_range(
        &self,
        low: &EntryPosition,
        high: &EntryPosition,
        into: &mut Vec<IndexedEntry>,
    ) {
        into.extend(
            self.of_key(low.account_id)
                .filter(|entry| entry.position >= *low && entry.position < *high),
        );
    }

    fn sorted(&self) -> Vec<IndexedEntry> {
        let mut all = self.entries.clone();
        all.sort_unstable_by_key(|entry| entry.position);
        all
    }
}

/// What readers see, swapped as one under the lock.
#[derive(Debug, Default)]
struct View {
    active: Pending,
    /// Entries taken out of `active` while they are written as a run.
    frozen: Option<Arc<Pending>>,
    runs: Arc<Vec<Arc<Run>>>,
}

impl View {
    /// Runs on disk, and entries in memory.
    fn sizes(&self) -> (usize, usize) {
        let frozen = self.frozen.as_ref().map_or(0, |frozen| frozen.len());
        (self.runs.len(), self.active.len().saturating_add(frozen))
    }
}

#[derive(Debug)]
struct Shared {
    kind: IndexKind,
    dir: PathBuf,
    settings: EntryIndexSettings,
    view: RwLock<View>,
    /// Entries of groups whose flush failed: published (and added) with the next flush that
    /// succeeds, and never written to a run before that.
    held: Mutex<Vec<IndexedEntry>>,
    /// The files' manifest; changed only by the one thread writing files.
    manifest: Mutex<Manifest>,
    /// Raised by `stop`: a merge in progress gives up (its partial file is deleted).
    stopping: AtomicBool,
    /// Every entry of a transaction below this id is in the view (so readable), added since
    /// the open or in a run; raised under the view's write lock.
    added_below: AtomicU64,
    /// The set of the last run written, emptied, to take the active one's place at the next
    /// spill: its memory is already the process's. A new set's first writes fault in fresh
    /// memory on the syncer's path, which on this virtual machine took 3-5 ms a huge page
    /// (docs/performance.md, "The open loop's pacer").
    spare: Mutex<Option<Pending>>,
}

/// The account-entry index of a data directory.
pub struct EntryIndex {
    shared: Arc<Shared>,
    mode: OpenMode,
    worker: Mutex<Option<Worker>>,
}

struct Worker {
    wake: SyncSender<Wake>,
    thread: JoinHandle<()>,
}

enum Wake {
    Work,
    Stop,
}

/// An entry iterator over several sorted sources.
pub type EntryIter = Box<dyn Iterator<Item = Result<IndexedEntry, StoreError>> + Send>;

impl EntryIndex {
    /// Opens the index in `dir` for a store whose next transaction id is
    /// `next_transaction_id`. Returns why the stored index was not used, if it was not (it is
    /// then rebuilt from the transactions: deleted first when serving, left alone when only
    /// reading). The caller adds the entries of transactions from `indexed_below()` on.
    pub fn open(
        dir: &Path,
        kind: IndexKind,
        next_transaction_id: u64,
        settings: EntryIndexSettings,
        mode: OpenMode,
    ) -> Result<(EntryIndex, Option<String>), StoreError> {
        if mode == OpenMode::Serve {
            files::create_private_dir(dir).map_err(|error| StoreError::from_io(&error))?;
        }
        let (manifest, runs, discarded) = match load(dir, next_transaction_id) {
            Ok(Some((manifest, runs))) => (manifest, runs, None),
            Ok(None) => {
                (Manifest { version: MANIFEST_VERSION, ..Manifest::default() }, Vec::new(), None)
            }
            Err(why) => (
                Manifest { version: MANIFEST_VERSION, ..Manifest::default() },
                Vec::new(),
                Some(why),
            ),
        };
        if mode == OpenMode::Serve {
            if let Some(why) = &discarded {
                tracing::warn!(dir = %dir.display(), %why, index = kind.what, from = kind.source,
                    "an index is not usable; it is rebuilt from the records it derives from");
            }
            let keep: Vec<String> = runs.iter().map(|run| entry_run::file_name(run.id)).collect();
            remove_unlisted(dir, &keep, discarded.is_none())?;
        }
        let shared = Shared {
            kind,
            dir: dir.to_owned(),
            settings,
            view: RwLock::new(View {
                active: Pending::for_run(settings.run_entries),
                frozen: None,
                runs: Arc::new(runs.into_iter().map(Arc::new).collect()),
            }),
            held: Mutex::new(Vec::new()),
            added_below: AtomicU64::new(manifest.indexed_below),
            manifest: Mutex::new(manifest),
            stopping: AtomicBool::new(false),
            spare: Mutex::new(None),
        };
        let index = EntryIndex { shared: Arc::new(shared), mode, worker: Mutex::new(None) };
        Ok((index, discarded))
    }

    /// Every entry of a transaction below this id is in a run.
    pub fn indexed_below(&self) -> u64 {
        self.shared.manifest.lock().indexed_below
    }

    /// Every entry of a transaction below this id has been added (readers find it); entries
    /// of later ones may have been added too.
    pub fn added_below(&self) -> u64 {
        self.shared.added_below.load(Ordering::Acquire)
    }

    /// Adds the entries of durable transactions (in transaction order, after every entry added
    /// before), with any held ones first. Wakes the worker when a run's worth is waiting.
    /// Returns the index's sizes after it (`sizes`), read under the same lock.
    pub fn add(&self, entries: impl IntoIterator<Item = IndexedEntry>) -> (usize, usize) {
        let held = std::mem::take(&mut *self.shared.held.lock());
        let (full, sizes) = {
            let mut view = self.shared.view.write();
            let mut below = 0_u64;
            for entry in held.into_iter().chain(entries) {
                below = below.max(entry.position.transaction_id.saturating_add(1));
                view.active.insert(entry);
            }
            self.shared.added_below.fetch_max(below, Ordering::Release);
            (view.active.len() >= self.shared.settings.run_entries, view.sizes())
        };
        if full {
            self.wake();
        }
        sizes
    }

    /// Keeps the entries of groups whose flush failed until a flush succeeds (`release_held`
    /// or the next `add`).
    pub fn hold(&self, entries: impl IntoIterator<Item = IndexedEntry>) {
        self.shared.held.lock().extend(entries);
    }

    /// Adds the held entries: a flush has made their transactions durable.
    pub fn release_held(&self) {
        self.add(std::iter::empty());
    }

    /// While opening: writes runs on the caller's thread while a run's worth is waiting, so
    /// that rebuilding a large index keeps one run in memory.
    pub fn spill_while_full(&self) -> Result<(), StoreError> {
        let full = self.shared.view.read().active.len() >= self.shared.settings.run_entries;
        if self.mode == OpenMode::Serve && full {
            self.shared.catch_up()?;
        }
        Ok(())
    }

    /// Starts the worker that writes and merges runs (serving only), at `priority`: a run's
    /// sort and write, and a merge, are bursts of work off the request path.
    pub fn start_worker(&self, priority: BackgroundPriority) -> Result<(), StoreError> {
        if self.mode != OpenMode::Serve {
            return Ok(());
        }
        let (wake, woken) = sync_channel(1);
        let shared = Arc::clone(&self.shared);
        let dispatch = tracing::dispatcher::get_default(tracing::Dispatch::clone);
        let thread = std::thread::Builder::new()
            .name(self.shared.kind.thread.to_owned())
            .spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    priority.apply_to_own_thread();
                    shared.work(&woken);
                });
            })
            .map_err(|error| StoreError::Io(error.to_string()))?;
        *self.worker.lock() = Some(Worker { wake, thread });
        // What the open left in memory may already be a run's worth.
        self.wake();
        Ok(())
    }

    fn wake(&self) {
        if let Some(worker) = &*self.worker.lock() {
            // A full channel already holds a wake-up.
            let _ = worker.wake.try_send(Wake::Work);
        }
    }

    /// Stops the worker, letting a run or merge being written finish. Idempotent.
    pub fn stop(&self) {
        let worker = self.worker.lock().take();
        if let Some(worker) = worker {
            self.shared.stopping.store(true, Ordering::Relaxed);
            let _ = worker.wake.send(Wake::Stop);
            if worker.thread.join().is_err() {
                tracing::error!(index = self.shared.kind.what, "an index's worker panicked");
            }
        }
    }

    /// The entries of `account_id` with post dates in `[from_ms, to_ms)`, in position order
    /// or reversed.
    pub fn range(&self, account_id: u64, from_ms: i64, to_ms: i64, reverse: bool) -> EntryIter {
        let low =
            EntryPosition { account_id, post_date_ms: from_ms, transaction_id: 0, entry_index: 0 };
        let high =
            EntryPosition { account_id, post_date_ms: to_ms, transaction_id: 0, entry_index: 0 };
        let (mut pending, runs) = self.in_memory_and_runs(&low, &high);
        pending.sort_unstable_by_key(|entry| entry.position);
        if reverse {
            pending.reverse();
        }
        let mut sources: Vec<EntryIter> = vec![Box::new(pending.into_iter().map(Ok))];
        for run in runs.iter().filter(|run| run.may_hold(account_id)) {
            sources.push(match run.range(&low, &high, reverse) {
                Ok(cursor) => Box::new(cursor),
                Err(error) => Box::new(std::iter::once(Err(error))),
            });
        }
        Box::new(Merged::new(sources, reverse))
    }

    /// Every entry of `key` (the "account"), in position order: what an index read by key
    /// looks up (the RRN index). Runs whose key filter rules `key` out are not read, so an
    /// absent key costs a look at the memory and one cache line per run.
    pub fn entries_of(&self, key: u64) -> Result<Vec<IndexedEntry>, StoreError> {
        let low = EntryPosition {
            account_id: key,
            post_date_ms: i64::MIN,
            transaction_id: 0,
            entry_index: 0,
        };
        // The range's end is excluded: only an entry at exactly this position is missed, and
        // none has the largest transaction id.
        let high = EntryPosition {
            account_id: key,
            post_date_ms: i64::MAX,
            transaction_id: u64::MAX,
            entry_index: u16::MAX,
        };
        // Collected and sorted once, not merged: this is on every money movement's path.
        let (mut found, runs) = self.in_memory_and_runs(&low, &high);
        for run in runs.iter().filter(|run| run.may_hold(key)) {
            for entry in run.range(&low, &high, false)? {
                found.push(entry?);
            }
        }
        found.sort_unstable_by_key(|entry| entry.position);
        Ok(found)
    }

    /// The entries in memory at positions in `[low, high)` (one account's), unsorted, and the
    /// runs, taken under one read of the view.
    fn in_memory_and_runs(
        &self,
        low: &EntryPosition,
        high: &EntryPosition,
    ) -> (Vec<IndexedEntry>, Arc<Vec<Arc<Run>>>) {
        let mut pending = Vec::new();
        let view = self.shared.view.read();
        for memory in std::iter::once(&view.active).chain(view.frozen.as_deref()) {
            memory.collect_range(low, high, &mut pending);
        }
        (pending, Arc::clone(&view.runs))
    }

    /// Checks that every key a run holds passes its key filter (a filter that failed one would
    /// hide it from `entries_of`); names the first run where one does not. For `verify`.
    pub fn check_filters(&self) -> Result<(), StoreError> {
        let runs = Arc::clone(&self.shared.view.read().runs);
        for run in runs.iter().filter(|run| run.is_filtered()) {
            for entry in run.all() {
                let key = entry?.position.account_id;
                if !run.may_hold(key) {
                    return Err(StoreError::Corruption {
                        key: run.path().display().to_string(),
                        reason: format!("its key filter rules out key {key}, which it holds"),
                    });
                }
            }
        }
        Ok(())
    }

    /// Every entry, in position order (the audit's view).
    pub fn all(&self) -> EntryIter {
        let (mut pending, runs) = {
            let view = self.shared.view.read();
            let frozen = view.frozen.iter().flat_map(|frozen| frozen.entries.iter());
            let pending: Vec<IndexedEntry> =
                view.active.entries.iter().chain(frozen).copied().collect();
            (pending, Arc::clone(&view.runs))
        };
        pending.sort_unstable_by_key(|entry| entry.position);
        let mut sources: Vec<EntryIter> = vec![Box::new(pending.into_iter().map(Ok))];
        sources.extend(runs.iter().map(|run| boxed(run.all())));
        Box::new(Merged::new(sources, false))
    }

    /// Runs on disk, and entries in memory (for the metrics and tests).
    pub fn sizes(&self) -> (usize, usize) {
        self.shared.view.read().sizes()
    }
}

impl Drop for EntryIndex {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Shared {
    /// The worker's loop: write runs and merge them whenever woken, until told to stop.
    fn work(&self, woken: &Receiver<Wake>) {
        while let Ok(Wake::Work) = woken.recv() {
            if let Err(error) = self.catch_up() {
                if self.stopping.load(Ordering::Relaxed) {
                    return;
                }
                tracing::error!(%error, index = self.kind.what,
                    "writing an index's run failed; its entries stay in memory and it tries again");
                match woken.recv_timeout(RETRY_PAUSE) {
                    Ok(Wake::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                    Ok(Wake::Work) | Err(RecvTimeoutError::Timeout) => {}
                }
            }
        }
    }

    fn catch_up(&self) -> Result<(), StoreError> {
        loop {
            let spilled = self.spill()?;
            let merged = self.merge_if_due()?;
            if !spilled && !merged {
                return Ok(());
            }
        }
    }

    /// Writes the entries in memory as a run if there are a run's worth (or a frozen set left
    /// by a failed attempt). Returns whether it wrote one.
    fn spill(&self) -> Result<bool, StoreError> {
        self.prepare_spare();
        let frozen = {
            let mut view = self.view.write();
            if view.frozen.is_none() {
                // Held entries belong to transactions before the active ones: a run of the
                // active ones would pass them.
                if view.active.len() < self.settings.run_entries || !self.held.lock().is_empty() {
                    return Ok(false);
                }
                let spare = self.spare.lock().take();
                let next = spare.unwrap_or_else(|| Pending::for_run(self.settings.run_entries));
                view.frozen = Some(Arc::new(std::mem::replace(&mut view.active, next)));
            }
            match &view.frozen {
                Some(frozen) => Arc::clone(frozen),
                None => return Ok(false),
            }
        };
        let entries = frozen.sorted();
        let id = self.reserve_run_id();
        let count = u64::try_from(entries.len()).unwrap_or(u64::MAX);
        let run = entry_run::write(
            &self.dir,
            id,
            count,
            self.kind.key_filter,
            entries.into_iter().map(Ok),
        )?;
        let mut manifest = self.manifest.lock();
        let mut next = manifest.clone();
        next.runs.push(RunRecord { id, level: 0, entries: count });
        if let Some(max) = frozen.max_transaction_id {
            next.indexed_below = next.indexed_below.max(max.saturating_add(1));
        }
        write_manifest(&self.dir, &next)?;
        *manifest = next;
        // Under the manifest's lock, so that the view changes in the manifest's order.
        let mut view = self.view.write();
        let mut runs = Vec::clone(&view.runs);
        runs.push(Arc::new(run));
        view.runs = Arc::new(runs);
        view.frozen = None;
        drop(view);
        // A reader may still hold the set for a moment; then the next spill makes a new one
        // (`prepare_spare`).
        if let Ok(mut emptied) = Arc::try_unwrap(frozen) {
            emptied.clear();
            *self.spare.lock() = Some(emptied);
        }
        Ok(true)
    }

    /// Makes the set that will take the active one's place, its memory written here, when a
    /// spill is due and no written-out set came back (the first spill after an open, or a
    /// reader held the last one). Outside the view's lock: the syncer goes on adding meanwhile.
    fn prepare_spare(&self) {
        let due = self.view.read().active.len() >= self.settings.run_entries;
        if due && self.spare.lock().is_none() {
            let spare = Pending::for_run_touched(self.settings.run_entries);
            *self.spare.lock() = Some(spare);
        }
    }

    /// A run id no file has: the manifest's next one, taken at once (a crash before the
    /// manifest is written leaves a file the next open deletes).
    fn reserve_run_id(&self) -> u64 {
        let mut manifest = self.manifest.lock();
        let id = manifest.next_run_id;
        manifest.next_run_id = id.saturating_add(1);
        id
    }

    /// The oldest `runs_per_merge` runs of the lowest level that has that many, if any.
    fn merge_due(&self) -> Option<(u8, Vec<u64>)> {
        let per_merge = self.settings.runs_per_merge.max(2);
        let manifest = self.manifest.lock();
        let mut levels: Vec<u8> = manifest.runs.iter().map(|run| run.level).collect();
        levels.sort_unstable();
        levels.dedup();
        let level = levels.into_iter().find(|level| {
            manifest.runs.iter().filter(|run| run.level == *level).count() >= per_merge
        })?;
        let mut chosen: Vec<u64> =
            manifest.runs.iter().filter(|run| run.level == level).map(|run| run.id).collect();
        chosen.sort_unstable();
        chosen.truncate(per_merge);
        Some((level, chosen))
    }

    /// Merges the runs `merge_due` names into one run of the next level. Returns whether it
    /// merged. A long merge writes the runs that fill up meanwhile as it goes, so memory stays
    /// bounded by about one run while it lasts.
    fn merge_if_due(&self) -> Result<bool, StoreError> {
        let Some((level, chosen)) = self.merge_due() else {
            return Ok(false);
        };
        let inputs: Vec<Arc<Run>> =
            self.view.read().runs.iter().filter(|run| chosen.contains(&run.id)).cloned().collect();
        let count = inputs.iter().map(|run| run.count()).fold(0_u64, u64::saturating_add);
        let sources = inputs.iter().map(|run| boxed(run.all())).collect();
        let id = self.reserve_run_id();
        let check_every = u64::try_from(self.settings.run_entries)
            .unwrap_or(SPILL_CHECK_ENTRIES)
            .clamp(1, SPILL_CHECK_ENTRIES);
        let mut merged_so_far = 0_u64;
        let merged = Merged::new(sources, false).map(|entry| {
            if self.stopping.load(Ordering::Relaxed) {
                return Err(StoreError::Io("the switch is stopping".to_owned()));
            }
            merged_so_far = merged_so_far.wrapping_add(1);
            if merged_so_far.is_multiple_of(check_every) {
                self.spill()?;
            }
            entry
        });
        let merged = entry_run::write(&self.dir, id, count, self.kind.key_filter, merged)?;
        let next_level = level.saturating_add(1);
        {
            let mut manifest = self.manifest.lock();
            let mut next = manifest.clone();
            // Only this thread removes runs: every chosen one is still there.
            next.runs.retain(|run| !chosen.contains(&run.id));
            next.runs.push(RunRecord { id, level: next_level, entries: count });
            write_manifest(&self.dir, &next)?;
            *manifest = next;
            let mut view = self.view.write();
            let mut runs: Vec<Arc<Run>> =
                view.runs.iter().filter(|run| !chosen.contains(&run.id)).cloned().collect();
            runs.push(Arc::new(merged));
            view.runs = Arc::new(runs);
        }
        // Readers that still hold a merged run keep reading its open file.
        for run in inputs {
            if let Err(error) = std::fs::remove_file(run.path()) {
                tracing::warn!(%error, path = %run.path().display(),
                    "a merged run could not be deleted; the next open deletes it");
            }
        }
        Ok(true)
    }
}

/// Reads the manifest and opens its runs; `None` when there is no index yet, `Err` with why
/// when there is one that cannot be used.
fn load(dir: &Path, next_transaction_id: u64) -> Result<Option<(Manifest, Vec<Run>)>, String> {
    let path = dir.join(MANIFEST_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("{}: {error}", path.display())),
    };
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|error| format!("{}: {error}", path.display()))?;
    if manifest.version != MANIFEST_VERSION {
        return Err(format!(
            "{}: version {} is not {MANIFEST_VERSION}",
            path.display(),
            manifest.version
        ));
    }
    if manifest.indexed_below > next_transaction_id {
        return Err(format!(
            "it indexes transactions up to {}, the store has {}: it belongs to another store",
            manifest.indexed_below, next_transaction_id
        ));
    }
    let mut runs = Vec::with_capacity(manifest.runs.len());
    for record in &manifest.runs {
        let run = entry_run::open(dir, record.id).map_err(|error| error.to_string())?;
        if run.count() != record.entries {
            return Err(format!(
                "run {} holds {} entries, the manifest says {}",
                record.id,
                run.count(),
                record.entries
            ));
        }
        if run.max_transaction_id().is_some_and(|max| max >= manifest.indexed_below) {
            return Err(format!("run {} holds entries past {}", record.id, manifest.indexed_below));
        }
        runs.push(run);
    }
    Ok(Some((manifest, runs)))
}

/// Writes the manifest to a temporary file, syncs it, and renames it into place.
fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(manifest).map_err(|error| StoreError::Encode {
        key: MANIFEST_FILE.to_owned(),
        reason: error.to_string(),
    })?;
    files::replace_file(dir, MANIFEST_FILE, &bytes).map_err(|error| StoreError::from_io(&error))
}

/// Deletes every file in `dir` but the manifest (if `keep_manifest`) and the runs named in
/// `keep`: leftovers of a write or merge a crash interrupted (or the whole of an index that is
/// rebuilt).
fn remove_unlisted(dir: &Path, keep: &[String], keep_manifest: bool) -> Result<(), StoreError> {
    let io = |error: std::io::Error| StoreError::from_io(&error);
    for item in std::fs::read_dir(dir).map_err(io)? {
        let item = item.map_err(io)?;
        let name = item.file_name().to_string_lossy().into_owned();
        let kept = keep.contains(&name) || (name == MANIFEST_FILE && keep_manifest);
        if !kept && item.file_type().map_err(io)?.is_file() {
            std::fs::remove_file(item.path()).map_err(io)?;
        }
    }
    Ok(())
}

fn boxed(cursor: entry_run::RunCursor) -> EntryIter {
    Box::new(cursor)
}

/// Sorted sources merged into one sorted stream (reversed: each source reversed too).
struct Merged {
    sources: Vec<std::iter::Peekable<EntryIter>>,
    reverse: bool,
}

impl Merged {
    fn new(sources: Vec<EntryIter>, reverse: bool) -> Merged {
        Merged { sources: sources.into_iter().map(Iterator::peekable).collect(), reverse }
    }
}

impl Iterator for Merged {
    type Item = Result<IndexedEntry, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut best: Option<(usize, EntryPosition)> = None;
        for (at, source) in self.sources.iter_mut().enumerate() {
            match source.peek() {
                None => {}
                Some(Err(_)) => return source.next(),
                Some(Ok(entry)) => {
                    let better = best.is_none_or(|(_, position)| {
                        if self.reverse {
                            entry.position > position
                        } else {
                            entry.position < position
                        }
                    });
                    if better {
                        best = Some((at, entry.position));
                    }
                }
            }
        }
        let (at, _) = best?;
        self.sources.get_mut(at)?.next()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const SETTINGS: EntryIndexSettings = EntryIndexSettings { run_entries: 16, runs_per_merge: 3 };

    /// Transaction `id`'s two entries: accounts and post dates drawn from the id, so that
    /// positions arrive out of order.
    fn transaction(id: u64) -> [IndexedEntry; 2] {
        let mix = id.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
        let post_date_ms = i64::try_from(mix % 37).unwrap() - 10;
        let entry = |account_id, entry_index, credit| IndexedEntry {
            position: EntryPosition { account_id, post_date_ms, transaction_id: id, entry_index },
            layer: 840,
            credit,
            amount_units: i64::try_from(id).unwrap(),
        };
        [entry(mix % 5, 0, false), entry(5 + mix % 3, 1, true)]
    }

    fn model(ids: std::ops::Range<u64>) -> BTreeMap<EntryPosition, IndexedEntry> {
        ids.flat_map(transaction).map(|entry| (entry.position, entry)).collect()
    }

    fn assert_reads(index: &EntryIndex, model: &BTreeMap<EntryPosition, IndexedEntry>) {
        let all: Vec<IndexedEntry> = index.all().map(Result::unwrap).collect();
        assert_eq!(all, model.values().copied().collect::<Vec<_>>());
        for account in 0..9 {
            for (from, to) in [(i64::MIN, i64::MAX), (-3, 4), (0, 0), (20, 19), (26, 27)] {
                let expected: Vec<IndexedEntry> = model
                    .values()
                    .filter(|entry| {
                        let position = entry.position;
                        position.account_id == account
                            && (from..to).contains(&position.post_date_ms)
                    })
                    .copied()
                    .collect();
                let forward: Vec<_> =
                    index.range(account, from, to, false).map(Result::unwrap).collect();
                assert_eq!(forward, expected, "account {account} [{from}, {to})");
                let mut backward: Vec<_> =
                    index.range(account, from, to, true).map(Result::unwrap).collect();
                backward.reverse();
                assert_eq!(backward, expected, "account {account} [{from}, {to}) reversed");
            }
        }
    }

    fn open(dir: &Path, next: u64, mode: OpenMode) -> (EntryIndex, Option<String>) {
        EntryIndex::open(dir, ACCOUNT_ENTRIES, next, SETTINGS, mode).unwrap()
    }

    /// What `Core` does at open: the entries of the transactions the runs do not hold.
    fn catch_up(index: &EntryIndex, next: u64) {
        for id in index.indexed_below()..next {
            index.add(transaction(id));
            index.spill_while_full().unwrap();
        }
    }

    #[test]
    fn reads_agree_with_a_model_through_runs_merges_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let (index, discarded) = open(dir.path(), 0, OpenMode::Serve);
        assert_eq!(discarded, None);
        assert_eq!(index.indexed_below(), 0);
        for id in 0..100 {
            index.add(transaction(id));
            index.spill_while_full().unwrap();
        }
        // 200 entries in runs of 16, merged three at a time.
        let (runs, in_memory) = index.sizes();
        assert!(runs < 12 && in_memory < 16, "{runs} runs, {in_memory} in memory");
        assert!(index.indexed_below() > 90);
        assert_reads(&index, &model(0..100));
        drop(index);

        let (index, discarded) = open(dir.path(), 100, OpenMode::Serve);
        assert_eq!(discarded, None);
        assert!(index.indexed_below() > 90);
        catch_up(&index, 100);
        assert_reads(&index, &model(0..100));
        for id in 100..130 {
            index.add(transaction(id));
        }
        index.spill_while_full().unwrap();
        assert_reads(&index, &model(0..130));
    }

    /// The set written out as a run comes back emptied to take the next run's entries: a
    /// key of the old set must not chain into the new one.
    #[test]
    fn a_spill_keeps_the_set_it_wrote_out_emptied_for_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let (index, _) = open(dir.path(), 0, OpenMode::Serve);
        assert!(index.shared.spare.lock().is_none(), "no spare before a first run");
        for id in 0..8 {
            index.add(transaction(id));
        }
        assert!(index.shared.spill().unwrap());
        let spare = index.shared.spare.lock().take().unwrap();
        assert_eq!((spare.len(), spare.newest.len(), spare.max_transaction_id), (0, 0, None));
        assert!(spare.entries.capacity() >= SETTINGS.run_entries);
        *index.shared.spare.lock() = Some(spare);
        for first in [8, 16] {
            for id in first..first + 8 {
                index.add(transaction(id));
            }
            assert!(index.shared.spill().unwrap());
            assert_reads(&index, &model(0..first + 8));
        }
        for id in 24..28 {
            index.add(transaction(id));
        }
        assert_reads(&index, &model(0..28));
    }

    #[test]
    fn a_merge_writes_the_run_that_fills_up_while_it_lasts() {
        let dir = tempfile::tempdir().unwrap();
        let (index, _) = open(dir.path(), 0, OpenMode::Serve);
        for first in [0, 8, 16] {
            for id in first..first + 8 {
                index.add(transaction(id));
            }
            assert!(index.shared.spill().unwrap());
        }
        for id in 24..32 {
            index.add(transaction(id));
        }
        assert_eq!(index.sizes(), (3, 16));
        assert!(index.shared.merge_if_due().unwrap());
        // The three runs merged into one, and the 16 entries waiting written as a run of
        // their own meanwhile.
        assert_eq!(index.sizes(), (2, 0));
        assert_eq!(index.indexed_below(), 32);
        assert_reads(&index, &model(0..32));
        drop(index);
        let (index, discarded) = open(dir.path(), 32, OpenMode::Serve);
        assert_eq!((discarded, index.sizes()), (None, (2, 0)));
        assert_reads(&index, &model(0..32));
    }

    #[test]
    fn the_worker_writes_runs_in_the_background_and_stops() {
        let dir = tempfile::tempdir().unwrap();
        let (index, _) = open(dir.path(), 0, OpenMode::Serve);
        // 12: no other test starts a worker at that nice value, so such a thread is this one's.
        index.start_worker(BackgroundPriority::Nice(12)).unwrap();
        let started = std::time::Instant::now();
        // `comm` holds the first 15 bytes of a thread's name.
        let name: String = ACCOUNT_ENTRIES.thread.chars().take(15).collect();
        while !crate::store::thread_stat::all_nices().contains(&(name.clone(), 12)) {
            assert!(started.elapsed() < Duration::from_secs(10), "the worker is not at nice 12");
            std::thread::sleep(Duration::from_millis(5));
        }
        for id in 0..200 {
            index.add(transaction(id));
        }
        let started = std::time::Instant::now();
        while index.sizes().1 >= SETTINGS.run_entries {
            assert!(started.elapsed() < Duration::from_secs(10), "no run written");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_reads(&index, &model(0..200));
        index.stop();
        index.stop();
        drop(index);
        let (index, _) = open(dir.path(), 200, OpenMode::Serve);
        catch_up(&index, 200);
        assert_reads(&index, &model(0..200));
    }

    /// One record per id under key `id * 7`, as the RRN index keeps them.
    fn keyed(id: u64) -> IndexedEntry {
        let position = EntryPosition {
            account_id: id * 7,
            post_date_ms: 0,
            transaction_id: id,
            entry_index: 0,
        };
        IndexedEntry { position, layer: 0, credit: false, amount_units: 0 }
    }

    #[test]
    fn a_key_is_looked_up_in_memory_and_in_the_runs_its_filters_pass() {
        let dir = tempfile::tempdir().unwrap();
        let (index, _) =
            EntryIndex::open(dir.path(), RRN_TRANLOGS, 0, SETTINGS, OpenMode::Serve).unwrap();
        assert_eq!(index.added_below(), 0);
        for id in 0..40 {
            index.add([keyed(id)]);
            index.spill_while_full().unwrap();
        }
        index.hold([keyed(40)]);
        assert_eq!(index.added_below(), 40, "held entries are not added yet");
        let (runs, in_memory) = index.sizes();
        assert!(runs >= 1 && in_memory > 0, "{runs} runs, {in_memory} in memory");
        for id in 0..40 {
            assert_eq!(index.entries_of(id * 7).unwrap(), vec![keyed(id)], "{id}");
        }
        assert_eq!(index.entries_of(40 * 7).unwrap(), vec![]);
        assert_eq!(index.entries_of(3).unwrap(), vec![]);
        index.release_held();
        assert_eq!((index.added_below(), index.entries_of(280).unwrap()), (41, vec![keyed(40)]));
        index.check_filters().unwrap();

        // Damage every block of every run: a key the filters rule out is still answered
        // without reading one, a key a run holds is not.
        let runs = std::sync::Arc::clone(&index.shared.view.read().runs);
        for run in runs.iter() {
            let mut bytes = std::fs::read(run.path()).unwrap();
            bytes[16 + 1] ^= 0x01;
            std::fs::write(run.path(), bytes).unwrap();
        }
        let absent = (1_000..1_100).filter(|key| index.entries_of(*key).is_ok()).count();
        assert!(absent > 90, "{absent} of 100 absent keys answered without a block read");
        assert!(index.entries_of(0).is_err());
        assert!(index.check_filters().is_err());
    }

    #[test]
    fn held_entries_are_read_and_written_only_once_released() {
        let dir = tempfile::tempdir().unwrap();
        let (index, _) = open(dir.path(), 0, OpenMode::Serve);
        index.add(transaction(0));
        index.hold(transaction(1));
        assert_reads(&index, &model(0..1));
        for id in 2..40 {
            index.hold(transaction(id));
        }
        index.spill_while_full().unwrap();
        assert_eq!((index.sizes().0, index.indexed_below()), (0, 0), "nothing passes the held");
        index.release_held();
        index.spill_while_full().unwrap();
        assert!(index.sizes().0 > 0);
        assert_reads(&index, &model(0..40));
    }

    #[test]
    fn leftovers_of_an_interrupted_write_are_deleted_and_runs_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (index, _) = open(dir.path(), 0, OpenMode::Serve);
        catch_up(&index, 20);
        let runs = index.sizes().0;
        assert!(runs > 0);
        drop(index);
        std::fs::write(dir.path().join("run-00000000000000ff.partial"), b"half").unwrap();
        std::fs::write(dir.path().join(entry_run::file_name(0xfe)), b"not listed").unwrap();
        std::fs::write(dir.path().join("MANIFEST.partial"), b"{").unwrap();
        let (index, discarded) = open(dir.path(), 20, OpenMode::Serve);
        assert_eq!((discarded, index.sizes().0), (None, runs));
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|item| item.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), runs + 1, "{names:?}");
        assert!(names.iter().all(|name| name == MANIFEST_FILE || !name.contains('.')), "{names:?}");
        catch_up(&index, 20);
        assert_reads(&index, &model(0..20));
    }

    #[test]
    fn a_damaged_or_foreign_index_is_reported_and_rebuilt_only_when_serving() {
        let dir = tempfile::tempdir().unwrap();
        let (index, _) = open(dir.path(), 0, OpenMode::Serve);
        catch_up(&index, 40);
        drop(index);
        // A store that has fewer transactions than the index covers is another store.
        let (index, discarded) = open(dir.path(), 3, OpenMode::ReadOnly);
        assert!(discarded.unwrap().contains("another store"));
        assert_eq!((index.indexed_below(), index.sizes().0), (0, 0));
        drop(index);

        let run = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|item| item.unwrap().path())
            .find(|path| path.file_name().unwrap().to_string_lossy().starts_with("run-"))
            .unwrap();
        let mut bytes = std::fs::read(&run).unwrap();
        // The footer's checksum is followed by the footer's offset (8 bytes).
        let footer_crc = bytes.len() - 8 - 2;
        bytes[footer_crc] ^= 1;
        std::fs::write(&run, &bytes).unwrap();
        let (_, discarded) = open(dir.path(), 40, OpenMode::ReadOnly);
        assert!(discarded.unwrap().contains("checksum"));
        assert!(run.exists(), "an audit leaves the files alone");
        let (index, discarded) = open(dir.path(), 40, OpenMode::Serve);
        assert!(discarded.is_some());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "rebuilt from nothing");
        catch_up(&index, 40);
        assert_reads(&index, &model(0..40));
        drop(index);
        let (index, discarded) = open(dir.path(), 40, OpenMode::Serve);
        assert_eq!(discarded, None);
        catch_up(&index, 40);
        assert_reads(&index, &model(0..40));
    }

    #[test]
    fn an_audit_open_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("entries");
        let (index, discarded) = open(&missing, 10, OpenMode::ReadOnly);
        assert_eq!(discarded, None);
        catch_up(&index, 10);
        index.start_worker(BackgroundPriority::Same).unwrap();
        assert_reads(&index, &model(0..10));
        assert!(!missing.exists());
    }
}
