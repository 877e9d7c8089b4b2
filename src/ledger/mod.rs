//! The double-entry ledger (miniGL semantics): charts, journals, composite and final accounts
//! of debit or credit type, layers, transactions balanced per layer, reversals. Pure: no I/O,
//! no clock; time arrives as arguments.
//!
//! Sign rule: an entry raises its account's balance when its side matches the account's type
//! and lowers it otherwise. A composite's balance is the sum of its children's, each counted
//! positive when the child has the composite's type and negative otherwise (miniGL's rule for
//! chart roots, applied at every level because jCard lets a credit account sit under a debit
//! parent, as the document's own example does).

pub mod invariants;
pub mod post;
pub mod statement;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::clock::EpochMs;
use crate::money::Amount;

/// A layer: the ISO-4217 numeric currency code for the accounting layer, currency + 1000 for
/// the pending (hold) layer, other offsets as a deployment chooses. A Java `short` in miniGL.
pub type Layer = i16;

/// Offset from a currency's accounting layer to its pending layer.
pub const PENDING_LAYER_OFFSET: Layer = 1000;

pub type AccountId = u64;
pub type TransactionId = u64;

/// Debit-type accounts grow with debits (assets), credit-type with credits (liabilities,
/// income).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountType {
    Debit,
    Credit,
}

/// The side an entry is posted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Debit,
    Credit,
}

impl AccountType {
    /// How an entry of `amount` on `side` moves an account of this type.
    pub fn impact(self, side: Side, amount: Amount) -> Option<Amount> {
        if self.grows_with(side) {
            Some(amount)
        } else {
            amount.checked_neg()
        }
    }

    fn grows_with(self, side: Side) -> bool {
        matches!(
            (self, side),
            (AccountType::Debit, Side::Debit) | (AccountType::Credit, Side::Credit)
        )
    }

    /// How a child's balance change moves a parent of this type.
    pub fn roll_up(self, child: AccountType, delta: Amount) -> Option<Amount> {
        if self == child {
            Some(delta)
        } else {
            delta.checked_neg()
        }
    }
}

/// A chart of accounts: the root that top-level accounts hang from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chart {
    /// Shared by its journals and accounts (`State` hands them this one), so comparing an
    /// account's chart with a journal's is a pointer comparison, not a read of a cold string
    /// in each of millions of accounts.
    pub name: Arc<str>,
    pub description: String,
    pub created_ms: EpochMs,
}

/// A journal: where transactions over one chart are posted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub name: String,
    pub chart: Arc<str>,
    pub closed: bool,
    /// Posting dates before `start_ms`, after `end_ms` or not after `lock_date_ms` are refused.
    pub start_ms: Option<EpochMs>,
    pub end_ms: Option<EpochMs>,
    pub lock_date_ms: Option<EpochMs>,
}

impl Journal {
    /// An open journal over `chart` that takes any posting date.
    pub fn open(name: &str, chart: Arc<str>) -> Journal {
        Journal {
            name: name.to_owned(),
            chart,
            closed: false,
            start_ms: None,
            end_ms: None,
            lock_date_ms: None,
        }
    }
}

/// An account. Composite accounts only sum their children; final accounts take entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub code: String,
    pub chart: Arc<str>,
    pub description: String,
    pub account_type: AccountType,
    pub is_final: bool,
    pub parent_id: Option<AccountId>,
    pub currency_code: Option<String>,
    pub tags: String,
    /// Entries posted after this date are refused.
    pub expiration_ms: Option<EpochMs>,
    pub created_ms: EpochMs,
}

/// One line of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub account_id: AccountId,
    pub side: Side,
    pub layer: Layer,
    pub amount: Amount,
    pub detail: String,
    pub tags: String,
}

/// A posted transaction. Its entries balance on every layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub id: TransactionId,
    pub journal: String,
    /// When the switch posted it.
    pub timestamp_ms: EpochMs,
    /// The accounting date it belongs to.
    pub post_date_ms: EpochMs,
    pub detail: String,
    pub tags: String,
    pub entries: Vec<Entry>,
    /// Set on a reversal: the transaction it undoes.
    pub reversal_of: Option<TransactionId>,
    /// How many times this transaction was reversed.
    pub reversal_count: u32,
    /// The record outside the ledger this transaction belongs to (a tranlog id), if any.
    #[serde(default)]
    pub reference: Option<u64>,
}

/// Read access to accounts and journals, as the pure functions need it.
pub trait Chartbook {
    fn journal(&self, name: &str) -> Option<&Journal>;
    fn account_by_code(&self, code: &str) -> Option<&Account>;
    fn account(&self, id: AccountId) -> Option<&Account>;
}

/// Parses a layer list such as `840,1840` or `840 1840` (miniGL accepts both separators).
pub fn parse_layers(text: &str) -> Result<Vec<Layer>, String> {
    let mut layers = Vec::new();
    for part in text.split([',', ' ']).map(str::trim).filter(|part| !part.is_empty()) {
        let layer = part.parse::<Layer>().map_err(|_| format!("invalid layer `{part}`"))?;
        if !layers.contains(&layer) {
            layers.push(layer);
        }
    }
    Ok(layers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impact_follows_the_account_type() {
        let ten = Amount::from_units(10);
        assert_eq!(AccountType::Debit.impact(Side::Debit, ten), Some(ten));
        assert_eq!(AccountType::Debit.impact(Side::Credit, ten), Some(Amount::from_units(-10)));
        assert_eq!(AccountType::Credit.impact(Side::Credit, ten), Some(ten));
        assert_eq!(
            AccountType::Debit.roll_up(AccountType::Credit, ten),
            Some(Amount::from_units(-10))
        );
    }

    #[test]
    fn layers_parse_with_either_separator() {
        assert_eq!(parse_layers("840,1840"), Ok(vec![840, 1840]));
        assert_eq!(parse_layers(" 840 1840,840 "), Ok(vec![840, 1840]));
        assert_eq!(parse_layers(""), Ok(vec![]));
        assert!(parse_layers("840,abc").is_err());
        assert!(parse_layers("40000").is_err());
    }
}
