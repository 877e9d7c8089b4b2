//! The offline audit behind `cardswitch verify`: re-reads a stopped data directory and checks
//! every ledger invariant and every index against the records.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::entry_index::indexed_entries;
use super::history;
use super::indexes::Indexes;
use super::keys::MasterKey;
use super::rrn_index::indexed_rrn;
use super::state::State;
use super::tranlog::Tranlog;
use super::tranlog_index::indexed_tranlog;
use super::CoreError;
use crate::ledger::invariants::{Auditor, Balances, Violation};
use crate::ledger::Transaction;
use crate::store::entries::{
    EntryIndex, EntryIndexSettings, IndexKind, IndexedEntry, OpenMode, ACCOUNT_ENTRIES,
    CARD_WALLET_TRANLOGS, RRN_TRANLOGS,
};
use crate::store::schema::{self, Keyspace};
use crate::store::Store;

/// What the audit found.
#[derive(Debug, Default)]
pub struct AuditReport {
    pub accounts: usize,
    pub transactions: u64,
    pub entries: u64,
    pub consumers: usize,
    pub sysconfig_entries: usize,
    pub problems: Vec<String>,
}

impl AuditReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Audits the store of the stopped data directory `data_dir` and its derived indexes (read,
/// never rebuilt: an index a switch would rebuild is reported). `Err` only when the store
/// cannot be read at all.
pub fn audit_data_dir(
    data_dir: &Path,
    store: &Store,
    keys: &MasterKey,
) -> Result<AuditReport, CoreError> {
    let (state, balances) =
        State::load_reporting(store, keys, chrono::Utc::now().timestamp_millis(), Some(data_dir))?;
    // Sizes matter only to an index that writes runs, which this one does not.
    let settings = EntryIndexSettings { run_entries: usize::MAX, runs_per_merge: 2 };
    let (indexes, discarded) =
        Indexes::open(data_dir, store, &state, settings, OpenMode::ReadOnly)?;
    let mut report = audit_loaded(store, &state, &indexes)?;
    report.problems.extend(discarded);
    // A switch would replay every transaction instead; still, something wrote it wrong.
    report
        .problems
        .extend(balances.unusable.map(|why| format!("the balance snapshot is not usable: {why}")));
    Ok(report)
}

/// Audits the store and its derived indexes `indexes`. `Err` only when the store cannot be
/// read at all.
pub fn audit_store(
    data_dir: &Path,
    store: &Store,
    keys: &MasterKey,
    indexes: &Indexes,
) -> Result<AuditReport, CoreError> {
    let state = State::load(store, keys, chrono::Utc::now().timestamp_millis(), Some(data_dir))?;
    audit_loaded(store, &state, indexes)
}

/// Audits the store, whose state `state` is, and its derived indexes `indexes`.
fn audit_loaded(store: &Store, state: &State, indexes: &Indexes) -> Result<AuditReport, CoreError> {
    let mut report = AuditReport {
        accounts: state.accounts.len(),
        consumers: state.consumers.len(),
        sysconfig_entries: state.sysconfig.len(),
        ..AuditReport::default()
    };
    let mut auditor = Auditor::new();
    let mut expected_index = BTreeSet::new();
    let mut revised = Revisions::<Transaction>::load(store, TRANSACTION_REVISIONS, &mut report)?;
    for item in store.scan_prefix::<Transaction>(&Keyspace::Transaction.prefix(), false) {
        let (key, transaction) = item?;
        let transaction = revised.take(transaction, &mut report);
        if key != schema::transaction_key(transaction.id) {
            report
                .problems
                .push(format!("transaction {} is stored under another id", transaction.id));
        }
        check_reversal_link(store, &transaction, &mut report)?;
        auditor.add(state, &transaction);
        expected_index.extend(indexed_entries(&transaction));
    }
    revised.finish(&mut report);
    report.transactions = auditor.transactions();
    report.entries = auditor.entries();
    check_index(&indexes.entries, ACCOUNT_ENTRIES, &mut expected_index, &mut report);
    let mut expected_tranlogs = BTreeSet::new();
    let mut expected_rrns = BTreeSet::new();
    let mut postings = Vec::new();
    let mut revised = Revisions::<Tranlog>::load(store, TRANLOG_REVISIONS, &mut report)?;
    for item in store.scan_prefix::<Tranlog>(&Keyspace::Tranlog.prefix(), false) {
        let (_, tranlog) = item?;
        let tranlog = revised.take(tranlog, &mut report);
        indexed_tranlog(&tranlog, &mut postings);
        expected_tranlogs.extend(postings.drain(..));
        expected_rrns.insert(indexed_rrn(&tranlog));
    }
    revised.finish(&mut report);
    check_index(&indexes.tranlogs, CARD_WALLET_TRANLOGS, &mut expected_tranlogs, &mut report);
    check_index(&indexes.rrns, RRN_TRANLOGS, &mut expected_rrns, &mut report);
    let recorded: Balances = state.balances.iter().collect();
    report
        .problems
        .extend(auditor.finish(&recorded).into_iter().map(|violation| describe(state, &violation)));
    if state.next_transaction_id <= report.transactions {
        report.problems.push("transaction ids are not dense from 1".to_owned());
    }
    Ok(report)
}

/// A kind of history record that has revisions (`core::history`).
struct RevisionKind<T> {
    space: Keyspace,
    name: &'static str,
    id_of: fn(&T) -> u64,
    key_of: fn(u64) -> Vec<u8>,
    /// The record with what a revision may change (reversal and void counts and links) reset.
    fixed_part: fn(&T) -> T,
}

const TRANSACTION_REVISIONS: RevisionKind<Transaction> = RevisionKind {
    space: Keyspace::TransactionRevision,
    name: "transaction",
    id_of: |transaction| transaction.id,
    key_of: schema::transaction_revision_key,
    fixed_part: |transaction| Transaction { reversal_count: 0, ..transaction.clone() },
};

const TRANLOG_REVISIONS: RevisionKind<Tranlog> = RevisionKind {
    space: Keyspace::TranlogRevision,
    name: "tranlog record",
    id_of: |tranlog| tranlog.id,
    key_of: schema::tranlog_revision_key,
    fixed_part: |tranlog| Tranlog {
        reversal_count: 0,
        reversal_id: None,
        void_count: 0,
        void_id: None,
        ..tranlog.clone()
    },
};

/// The revisions of one kind of history record, each taken when the scan meets its record:
/// a revision must name a record that exists and change only what may change.
struct Revisions<T: 'static> {
    kind: RevisionKind<T>,
    by_id: BTreeMap<u64, T>,
}

impl<T: serde::de::DeserializeOwned + PartialEq> Revisions<T> {
    fn load(
        store: &Store,
        kind: RevisionKind<T>,
        report: &mut AuditReport,
    ) -> Result<Revisions<T>, CoreError> {
        let mut by_id = BTreeMap::new();
        for item in store.scan_prefix::<T>(&kind.space.prefix(), false) {
            let (key, revision) = item?;
            let id = (kind.id_of)(&revision);
            if key != (kind.key_of)(id) {
                report
                    .problems
                    .push(format!("the revision of {} {id} is stored under another id", kind.name));
            }
            by_id.insert(id, revision);
        }
        Ok(Revisions { kind, by_id })
    }

    /// `record`'s latest state: its revision if it has one.
    fn take(&mut self, record: T, report: &mut AuditReport) -> T {
        let id = (self.kind.id_of)(&record);
        let Some(revision) = self.by_id.remove(&id) else { return record };
        if (self.kind.fixed_part)(&revision) != (self.kind.fixed_part)(&record) {
            report.problems.push(format!(
                "the revision of {} {id} changes more than a reversal or void may",
                self.kind.name
            ));
        }
        revision
    }

    /// Revisions whose record the scan did not meet.
    fn finish(self, report: &mut AuditReport) {
        for id in self.by_id.keys() {
            report
                .problems
                .push(format!("a revision names {} {id}, which is missing", self.kind.name));
        }
    }
}

fn check_reversal_link(
    store: &Store,
    transaction: &Transaction,
    report: &mut AuditReport,
) -> Result<(), CoreError> {
    if let Some(original_id) = transaction.reversal_of {
        let original = history::transaction(store, original_id)?;
        if original.is_none_or(|original| original.reversal_count == 0) {
            report.problems.push(format!(
                "transaction {} reverses {original_id}, which is missing or not marked reversed",
                transaction.id
            ));
        }
    }
    Ok(())
}

/// Every record the index should hold (`expected`, derived from the store's records) is in
/// it, and nothing else is.
fn check_index(
    index: &EntryIndex,
    kind: IndexKind,
    expected: &mut BTreeSet<IndexedEntry>,
    report: &mut AuditReport,
) {
    for item in index.all() {
        let entry = match item {
            Ok(entry) => entry,
            // A damaged run: named, and the rest of the index left unchecked.
            Err(error) => {
                report.problems.push(format!(
                    "the {} cannot be read ({error}); stop the switch and delete its {}/ \
                     directory to rebuild it from the {}",
                    kind.what, kind.dir_name, kind.source
                ));
                return;
            }
        };
        if !expected.remove(&entry) {
            report.problems.push(format!("{} record {entry:?} matches no record", kind.what));
        }
    }
    for entry in expected.iter() {
        report.problems.push(format!("{:?} has no record in the {}", entry.position, kind.what));
    }
    // A filter that rules out a key its run holds would hide records from lookups by key.
    if let Err(error) = index.check_filters() {
        report.problems.push(format!(
            "the {} has a damaged key filter ({error}); stop the switch and delete its {}/ \
             directory to rebuild it from the {}",
            kind.what, kind.dir_name, kind.source
        ));
    }
}

fn describe(state: &State, violation: &Violation) -> String {
    let code = |id| {
        state.accounts.get(&id).map_or_else(|| format!("#{id}"), |account| account.code.clone())
    };
    match violation {
        Violation::Unbalanced { transaction_id, reason } => {
            format!("transaction {transaction_id} does not balance: {reason}")
        }
        Violation::EntryOnMissingOrCompositeAccount { transaction_id, account_id } => {
            format!("transaction {transaction_id} posts to {} which is missing or composite", code(*account_id))
        }
        Violation::BalanceMismatch { account_id, layer, recorded, from_entries } => format!(
            "account {} layer {layer}: recorded balance {recorded}, entries add up to {from_entries}",
            code(*account_id)
        ),
        Violation::Overflow { transaction_id } => format!("transaction {transaction_id} overflows a balance"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::tranlog::tests_support::blank;
    use crate::money::Amount;
    use crate::store::{Batch, EngineKind, EngineSettings};

    /// Revisions that name no record, sit under another id, or change a record's fixed part
    /// (here its amount) are each reported; a reversal's revision is taken quietly.
    #[test]
    fn revisions_are_audited_against_their_records() {
        let dir = tempfile::tempdir().unwrap();
        let engine = EngineKind::Fjall.open(dir.path(), EngineSettings::SHORT_OPEN).unwrap();
        let store = Store::with_engine(engine);
        let reversed = Tranlog { reversal_count: 1, reversal_id: Some(9), ..blank(1) };
        let altered = Tranlog { amount: Amount::from_units(5), ..blank(2) };
        let mut batch = Batch::new();
        batch.put(schema::tranlog_revision_key(1), &reversed).unwrap();
        batch.put(schema::tranlog_revision_key(2), &altered).unwrap();
        batch.put(schema::tranlog_revision_key(3), &blank(4)).unwrap();
        batch.put(schema::tranlog_revision_key(7), &blank(7)).unwrap();
        store.apply(&batch).unwrap();

        let mut report = AuditReport::default();
        let mut revised = Revisions::load(&store, TRANLOG_REVISIONS, &mut report).unwrap();
        assert_eq!(revised.take(blank(1), &mut report), reversed);
        assert_eq!(revised.take(blank(2), &mut report), altered);
        assert_eq!(revised.take(blank(5), &mut report), blank(5));
        revised.finish(&mut report);
        assert_eq!(
            report.problems,
            [
                "the revision of tranlog record 4 is stored under another id",
                "the revision of tranlog record 2 changes more than a reversal or void may",
                "a revision names tranlog record 4, which is missing",
                "a revision names tranlog record 7, which is missing",
            ]
        );
    }
}
