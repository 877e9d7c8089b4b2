//! The core's side of the account-entry index (`store::entries`): which entries a GL
//! transaction puts in it, and opening it with the entries of the transactions it has not got
//! yet, read back from the store's transaction records.

use std::path::Path;

use crate::ledger::{Layer, Side, Transaction};
use crate::money::Amount;
use crate::store::entries::{
    EntryIndex, EntryIndexSettings, IndexedEntry, OpenMode, ENTRIES_DIR_NAME,
};
use crate::store::schema::{self, EntryPosition, Keyspace};
use crate::store::Store;

use super::CoreError;

/// Transactions to index at open from which the work is logged (a store made before the
/// index, or one whose index was rebuilt, is indexed whole at its first start).
const CATCH_UP_LOGGED_MIN: u64 = 100_000;

/// The index entries of `transaction`, one per ledger entry, in entry order.
pub fn indexed_entries(transaction: &Transaction) -> impl Iterator<Item = IndexedEntry> + '_ {
    transaction.entries.iter().zip(0_u16..).map(|(entry, entry_index)| IndexedEntry {
        position: EntryPosition {
            account_id: entry.account_id,
            post_date_ms: transaction.post_date_ms,
            transaction_id: transaction.id,
            entry_index,
        },
        layer: entry.layer,
        credit: entry.side == Side::Credit,
        amount_units: entry.amount.units(),
    })
}

/// An index entry's layer, side and amount as the ledger has them.
pub fn ledger_terms(entry: &IndexedEntry) -> (Layer, Side, Amount) {
    let side = if entry.credit { Side::Credit } else { Side::Debit };
    (entry.layer, side, Amount::from_units(entry.amount_units))
}

/// Opens the index of `data_dir` for a store whose next transaction id is
/// `next_transaction_id`, and adds the entries of every stored transaction it does not hold
/// yet (all of them for a store made before the index, or after a damaged index is dropped).
/// Returns why the index on disk was not used, if it was not.
pub fn open(
    data_dir: &Path,
    store: &Store,
    next_transaction_id: u64,
    settings: EntryIndexSettings,
    mode: OpenMode,
) -> Result<(EntryIndex, Option<String>), CoreError> {
    let dir = data_dir.join(ENTRIES_DIR_NAME);
    let (index, discarded) = EntryIndex::open(&dir, next_transaction_id, settings, mode)?;
    let missing = next_transaction_id.saturating_sub(index.indexed_below());
    let started = std::time::Instant::now();
    if missing >= CATCH_UP_LOGGED_MIN && mode == OpenMode::Serve {
        tracing::info!(
            transactions = missing,
            "indexing the account entries of the transactions the entry index does not hold yet"
        );
    }
    let start = schema::transaction_key(index.indexed_below());
    let end = schema::prefix_end(&Keyspace::Transaction.prefix());
    for item in store.scan_range::<Transaction>(&start, &end, false) {
        let (_, transaction) = item?;
        if transaction.id >= next_transaction_id {
            return Err(CoreError::Corrupt(format!(
                "transaction {} is stored past the next id {next_transaction_id}",
                transaction.id
            )));
        }
        index.add(indexed_entries(&transaction));
        index.spill_while_full()?;
    }
    if missing >= CATCH_UP_LOGGED_MIN && mode == OpenMode::Serve {
        tracing::info!(
            transactions = missing,
            seconds = started.elapsed().as_secs_f64(),
            "the entry index holds every transaction's entries"
        );
    }
    Ok((index, discarded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Entry;

    #[test]
    fn a_transactions_entries_are_indexed_in_order_and_read_back_as_posted() {
        let entry = |account_id, side, units| Entry {
            account_id,
            side,
            layer: 840,
            amount: Amount::from_units(units),
            detail: String::new(),
            tags: String::new(),
        };
        let transaction = Transaction {
            id: 12,
            journal: "jcard".to_owned(),
            timestamp_ms: 1,
            post_date_ms: -5,
            detail: String::new(),
            tags: String::new(),
            entries: vec![entry(3, Side::Debit, 700), entry(9, Side::Credit, 700)],
            reversal_of: None,
            reversal_count: 0,
            reference: None,
        };
        let indexed: Vec<IndexedEntry> = indexed_entries(&transaction).collect();
        assert_eq!(indexed.len(), 2);
        assert_eq!(
            indexed[1].position,
            EntryPosition { account_id: 9, post_date_ms: -5, transaction_id: 12, entry_index: 1 }
        );
        assert_eq!(ledger_terms(&indexed[0]), (840, Side::Debit, Amount::from_units(700)));
        assert_eq!(ledger_terms(&indexed[1]), (840, Side::Credit, Amount::from_units(700)));
    }
}
