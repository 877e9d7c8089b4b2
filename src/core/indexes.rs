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
use crate::store::{BackgroundPriority, Store};

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
        let mut open_dir = |kind: IndexKind, next_id: u64| -> Result<EntryIndex, CoreError> {
            let dir = data_dir.join(kind.dir_name);
            let (index, why) = EntryIndex::open(&dir, kind, next_id, settings, mode)?;
            discarded.extend(why.map(|why| format!("the {} is not usable: {why}", kind.what)));
            Ok(index)
        };
        let entries = open_dir(ACCOUNT_ENTRIES, state.next_transaction_id)?;
        let tranlogs = open_dir(CARD_WALLET_TRANLOGS, state.next_tranlog_id)?;
        let rrns = open_dir(RRN_TRANLOGS, state.next_tranlog_id)?;
        let add_entries: Feed<'_, Transaction> = (&entries, |index, transaction| {
            index.add(entry_index::indexed_entries(transaction));
        });
        catch_up(store, Source::transactions(state), |record| record.id, &[add_entries], mode)?;
        let add_tranlogs: Feed<'_, Tranlog> = (&tranlogs, |index, tranlog| {
            let mut records = Vec::new();
            tranlog_index::indexed_tranlog(tranlog, &mut records);
            index.add(records);
        });
        let add_rrns: Feed<'_, Tranlog> = (&rrns, |index, tranlog| {
            index.add([rrn_index::indexed_rrn(tranlog)]);
        });
        let feeds = [add_tranlogs, add_rrns];
        catch_up(store, Source::tranlogs(state), |record| record.id, &feeds, mode)?;
        Ok((Indexes { entries, tranlogs, rrns }, discarded))
    }

    fn all(&self) -> [&EntryIndex; 3] {
        [&self.entries, &self.tranlogs, &self.rrns]
    }

    /// Starts the workers that write and merge runs (serving only), at the store's background
    /// priority.
    pub fn start_workers(&self, priority: BackgroundPriority) -> Result<(), CoreError> {
        for index in self.all() {
            index.start_worker(priority)?;
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

/// The records some indexes derive from, and how far they go.
struct Source {
    /// What logs call them.
    what: &'static str,
    keyspace: Keyspace,
    key_of: fn(u64) -> Vec<u8>,
    /// The id the next record will have: none stored is at or past it.
    next_id: u64,
}

impl Source {
    fn transactions(state: &State) -> Source {
        Source {
            what: ACCOUNT_ENTRIES.source,
            keyspace: Keyspace::Transaction,
            key_of: schema::transaction_key,
            next_id: state.next_transaction_id,
        }
    }

    fn tranlogs(state: &State) -> Source {
        Source {
            what: CARD_WALLET_TRANLOGS.source,
            keyspace: Keyspace::Tranlog,
            key_of: schema::tranlog_key,
            next_id: state.next_tranlog_id,
        }
    }
}

/// An index fed from a source's records, and what it takes from one.
type Feed<'a, T> = (&'a EntryIndex, fn(&EntryIndex, &T));

/// Adds to each index of `feeds` the records of `source` from its `indexed_below` on, in one
/// scan from the lowest of them (`id_of` a record's id): the two tranlog indexes are read
/// back together, not once each.
fn catch_up<T: DeserializeOwned>(
    store: &Store,
    source: Source,
    id_of: fn(&T) -> u64,
    feeds: &[Feed<'_, T>],
    mode: OpenMode,
) -> Result<(), CoreError> {
    let Source { what, keyspace, key_of, next_id } = source;
    let froms: Vec<u64> = feeds.iter().map(|(index, _)| index.indexed_below()).collect();
    let Some(&start) = froms.iter().min() else {
        return Ok(());
    };
    let missing = next_id.saturating_sub(start);
    let logged = missing >= CATCH_UP_LOGGED_MIN && mode == OpenMode::Serve;
    let started = std::time::Instant::now();
    if logged {
        tracing::info!(
            records = missing,
            from = what,
            "indexing the records an index does not hold yet"
        );
    }
    let end = schema::prefix_end(&keyspace.prefix());
    for item in store.scan_range::<T>(&key_of(start), &end, false) {
        let (_, record) = item?;
        let id = id_of(&record);
        if id >= next_id {
            return Err(CoreError::Corrupt(format!(
                "{what} {id} is stored past the next id {next_id}"
            )));
        }
        for ((index, add), from) in feeds.iter().zip(&froms) {
            if id >= *from {
                add(index, &record);
                index.spill_while_full()?;
            }
        }
    }
    if logged {
        tracing::info!(
            records = missing,
            from = what,
            seconds = started.elapsed().as_secs_f64(),
            "the indexes hold every record"
        );
    }
    Ok(())
}
