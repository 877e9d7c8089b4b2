//! The three indexes the core derives from history records and keeps beside the store in runs
//! of its own (`store::entries`): account entries, from GL transactions (`entry_index.rs`);
//! card and wallet tranlogs and tranlogs by RRN, from tranlog records (`tranlog_index.rs`,
//! `rrn_index.rs`). None adds to a commit group's writes: the syncer hands each durable
//! group's postings to them.

use std::path::Path;

use serde::de::DeserializeOwned;

use super::state::State;
use super::tranlog::Tranlog;
use super::{entry_index, rrn_index, tranlog_index, CoreError};
use crate::ledger::Transaction;
use crate::metrics::Metrics;
use crate::store::entries::{
    EntryIndex, EntryIndexSettings, IndexKind, IndexedEntry, OpenMode, ACCOUNT_ENTRIES,
    CARD_WALLET_TRANLOGS, RRN_TRANLOGS,
};
use crate::store::schema::{self, Keyspace};
use crate::store::Store;

/// Records to index at open from which the work is logged (a store made before an index, or
/// one whose index was rebuilt, is indexed whole at its first start).
const CATCH_UP_LOGGED_MIN: u64 = 100_000;

/// The derived indexes of a data directory.
pub struct Indexes {
    pub entries: EntryIndex,
    pub tranlogs: EntryIndex,
    pub rrns: EntryIndex,
}

/// What a commit group puts in each index.
#[derive(Debug, Default)]
pub struct Postings {
    pub entries: Vec<IndexedEntry>,
    pub tranlogs: Vec<IndexedEntry>,
    pub rrns: Vec<IndexedEntry>,
}

impl Indexes {
    /// Opens the indexes of `data_dir` for a store whose state is `state`, adding the records
    /// each does not hold yet. Returns, for each index whose stored files were not used, why.
    pub fn open(
        data_dir: &Path,
        store: &Store,
        state: &State,
        settings: EntryIndexSettings,
        mode: OpenMode,
    ) -> Result<(Indexes, Vec<String>), CoreError> {
        let mut discarded = Vec::new();
        let entries = open_one(
            data_dir,
            store,
            Derived {
                kind: ACCOUNT_ENTRIES,
                keyspace: Keyspace::Transaction,
                key_of: schema::transaction_key,
                next_id: state.next_transaction_id,
            },
            (settings, mode),
            |transaction: &Transaction| transaction.id,
            |index, transaction| {
                index.add(entry_index::indexed_entries(transaction));
            },
            &mut discarded,
        )?;
        let tranlogs = open_one(
            data_dir,
            store,
            Derived::from_tranlogs(CARD_WALLET_TRANLOGS, state),
            (settings, mode),
            |tranlog: &Tranlog| tranlog.id,
            |index, tranlog| {
                let mut records = Vec::new();
                tranlog_index::indexed_tranlog(tranlog, &mut records);
                index.add(records);
            },
            &mut discarded,
        )?;
        let rrns = open_one(
            data_dir,
            store,
            Derived::from_tranlogs(RRN_TRANLOGS, state),
            (settings, mode),
            |tranlog: &Tranlog| tranlog.id,
            |index, tranlog| {
                index.add([rrn_index::indexed_rrn(tranlog)]);
            },
            &mut discarded,
        )?;
        Ok((Indexes { entries, tranlogs, rrns }, discarded))
    }

    fn all(&self) -> [&EntryIndex; 3] {
        [&self.entries, &self.tranlogs, &self.rrns]
    }

    /// Starts the workers that write and merge runs (serving only).
    pub fn start_workers(&self) -> Result<(), CoreError> {
        for index in self.all() {
            index.start_worker()?;
        }
        Ok(())
    }

    /// Stops the workers (idempotent).
    pub fn stop(&self) {
        for index in self.all() {
            index.stop();
        }
    }

    /// Adds the postings of durable groups (in group order), and shows the indexes' sizes in
    /// `metrics`.
    pub fn add<'a>(&self, groups: impl Iterator<Item = &'a Postings> + Clone, metrics: &Metrics) {
        let entries =
            self.entries.add(groups.clone().flat_map(|group| group.entries.iter().copied()));
        let tranlogs =
            self.tranlogs.add(groups.clone().flat_map(|group| group.tranlogs.iter().copied()));
        let rrns = self.rrns.add(groups.flat_map(|group| group.rrns.iter().copied()));
        metrics.show_index_sizes(entries, tranlogs, rrns);
    }

    /// Keeps the postings of groups whose flush failed until one succeeds.
    pub fn hold<'a>(&self, groups: impl Iterator<Item = &'a Postings> + Clone) {
        self.entries.hold(groups.clone().flat_map(|group| group.entries.iter().copied()));
        self.tranlogs.hold(groups.clone().flat_map(|group| group.tranlogs.iter().copied()));
        self.rrns.hold(groups.flat_map(|group| group.rrns.iter().copied()));
    }

    /// Adds the held postings: a flush has made their groups durable.
    pub fn release_held(&self) {
        for index in self.all() {
            index.release_held();
        }
    }
}

/// Which records an index derives from, and how far they go.
struct Derived {
    kind: IndexKind,
    keyspace: Keyspace,
    key_of: fn(u64) -> Vec<u8>,
    /// The id the next record will have: none stored is at or past it.
    next_id: u64,
}

impl Derived {
    /// An index derived from the tranlog records of a store whose state is `state`.
    fn from_tranlogs(kind: IndexKind, state: &State) -> Derived {
        Derived {
            kind,
            keyspace: Keyspace::Tranlog,
            key_of: schema::tranlog_key,
            next_id: state.next_tranlog_id,
        }
    }
}

/// Opens one index and adds to it the records of `derived.keyspace` from its `indexed_below`
/// on (`id_of` a record's id, `add` what it indexes); notes in `discarded` why its stored
/// files were not used, if they were not.
fn open_one<T: DeserializeOwned>(
    data_dir: &Path,
    store: &Store,
    derived: Derived,
    (settings, mode): (EntryIndexSettings, OpenMode),
    id_of: impl Fn(&T) -> u64,
    add: impl Fn(&EntryIndex, &T),
    discarded: &mut Vec<String>,
) -> Result<EntryIndex, CoreError> {
    let Derived { kind, keyspace, key_of, next_id } = derived;
    let dir = data_dir.join(kind.dir_name);
    let (index, why) = EntryIndex::open(&dir, kind, next_id, settings, mode)?;
    discarded.extend(why.map(|why| format!("the {} is not usable: {why}", kind.what)));
    let missing = next_id.saturating_sub(index.indexed_below());
    let logged = missing >= CATCH_UP_LOGGED_MIN && mode == OpenMode::Serve;
    let started = std::time::Instant::now();
    if logged {
        tracing::info!(
            records = missing,
            index = kind.what,
            from = kind.source,
            "indexing the records an index does not hold yet"
        );
    }
    let start = key_of(index.indexed_below());
    let end = schema::prefix_end(&keyspace.prefix());
    for item in store.scan_range::<T>(&start, &end, false) {
        let (_, record) = item?;
        let id = id_of(&record);
        if id >= next_id {
            return Err(CoreError::Corrupt(format!(
                "{} {id} is stored past the next id {next_id}",
                kind.source
            )));
        }
        add(&index, &record);
        index.spill_while_full()?;
    }
    if logged {
        tracing::info!(
            records = missing,
            index = kind.what,
            seconds = started.elapsed().as_secs_f64(),
            "the index holds every record"
        );
    }
    Ok(index)
}
