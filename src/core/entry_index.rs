//! The core's side of the account-entry index (`store::entries::ACCOUNT_ENTRIES`): which
//! entries a GL transaction puts in it, and what they say back (opened with the card and wallet
//! tranlog index, `indexes.rs`).

use crate::ledger::{Layer, Side, Transaction};
use crate::money::Amount;
use crate::store::entries::IndexedEntry;
use crate::store::schema::EntryPosition;

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
