//! The offline audit behind `cardswitch verify`: re-reads a stopped data directory and checks
//! every ledger invariant and every index against the records.

use std::collections::BTreeSet;
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
    let state = State::load(store, keys, chrono::Utc::now().timestamp_millis())?;
    // Sizes matter only to an index that writes runs, which this one does not.
    let settings = EntryIndexSettings { run_entries: usize::MAX, runs_per_merge: 2 };
    let (indexes, discarded) =
        Indexes::open(data_dir, store, &state, settings, OpenMode::ReadOnly)?;
    let mut report = audit_loaded(store, &state, &indexes)?;
    report.problems.extend(discarded);
    Ok(report)
}

/// Audits the store and its derived indexes `indexes`. `Err` only when the store cannot be
/// read at all.
pub fn audit_store(
    store: &Store,
    keys: &MasterKey,
    indexes: &Indexes,
) -> Result<AuditReport, CoreError> {
    let state = State::load(store, keys, chrono::Utc::now().timestamp_millis())?;
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
    for item in store.scan_prefix::<Transaction>(&Keyspace::Transaction.prefix(), false) {
        let (key, transaction) = item?;
        let transaction = history::revised_transaction(store, transaction)?;
        if key != schema::transaction_key(transaction.id) {
            report
                .problems
                .push(format!("transaction {} is stored under another id", transaction.id));
        }
        check_reversal_link(store, &transaction, &mut report)?;
        auditor.add(state, &transaction);
        expected_index.extend(indexed_entries(&transaction));
    }
    report.transactions = auditor.transactions();
    report.entries = auditor.entries();
    check_index(&indexes.entries, ACCOUNT_ENTRIES, &mut expected_index, &mut report);
    let mut expected_tranlogs = BTreeSet::new();
    let mut expected_rrns = BTreeSet::new();
    let mut postings = Vec::new();
    for item in store.scan_prefix::<Tranlog>(&Keyspace::Tranlog.prefix(), false) {
        let (_, tranlog) = item?;
        indexed_tranlog(&tranlog, &mut postings);
        expected_tranlogs.extend(postings.drain(..));
        expected_rrns.insert(indexed_rrn(&tranlog));
    }
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
