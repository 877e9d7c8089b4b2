//! Reading the history, tranlog records and GL transactions, with their revisions. A history
//! record is written once under its id and never rewritten, so the partitions holding them
//! only ever grow at their end and fjall never has to merge their tables
//! (`store/fjall_engine.rs`). What changes about a record later (a reversal or a void marks
//! its original) is written whole under the record's revision key, and a read takes the
//! revision when there is one. Stores made before revisions rewrote the record in place: with
//! no revision, the record itself is the latest.

use crate::ledger::{Transaction, TransactionId};
use crate::store::{schema, Store, StoreError};

use super::tranlog::Tranlog;

/// The latest state of tranlog record `id`, if it exists.
pub fn tranlog(store: &Store, id: u64) -> Result<Option<Tranlog>, StoreError> {
    latest(store, &schema::tranlog_revision_key(id), &schema::tranlog_key(id))
}

/// The latest state of GL transaction `id`, if it exists.
pub fn transaction(store: &Store, id: TransactionId) -> Result<Option<Transaction>, StoreError> {
    latest(store, &schema::transaction_revision_key(id), &schema::transaction_key(id))
}

fn latest<T: serde::de::DeserializeOwned>(
    store: &Store,
    revision_key: &[u8],
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    match store.get(revision_key)? {
        Some(revised) => Ok(Some(revised)),
        None => store.get(key),
    }
}
