//! The ledger's global invariants, checked from scratch: every transaction balances per layer,
//! entries sit on final accounts, and every balance equals what its entries (rolled up for
//! composites) add up to. Used by `cardswitch verify` and after every step of the model test;
//! too slow for the hot path.

use std::collections::BTreeMap;

use super::post::{balance_deltas, check_balanced};
use super::{AccountId, Chartbook, Layer, Transaction};
use crate::money::Amount;

/// Balances per (account, layer), finals and composites alike.
pub type Balances = BTreeMap<(AccountId, Layer), Amount>;

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    Unbalanced { transaction_id: u64, reason: String },
    EntryOnMissingOrCompositeAccount { transaction_id: u64, account_id: AccountId },
    BalanceMismatch { account_id: AccountId, layer: Layer, recorded: Amount, from_entries: Amount },
    Overflow { transaction_id: u64 },
}

/// Recomputes balances transaction by transaction, so that a whole store can be audited
/// without holding its history in memory.
#[derive(Debug, Default)]
pub struct Auditor {
    from_entries: Balances,
    violations: Vec<Violation>,
    transactions: u64,
    entries: u64,
}

impl Auditor {
    pub fn new() -> Auditor {
        Auditor::default()
    }

    /// Checks one transaction and adds its effect to the recomputed balances.
    pub fn add(&mut self, book: &impl Chartbook, transaction: &Transaction) {
        self.transactions = self.transactions.saturating_add(1);
        self.entries = self
            .entries
            .saturating_add(u64::try_from(transaction.entries.len()).unwrap_or(u64::MAX));
        if let Err(reject) = check_balanced(&transaction.entries) {
            self.violations.push(Violation::Unbalanced {
                transaction_id: transaction.id,
                reason: format!("{reject:?}"),
            });
        }
        for entry in &transaction.entries {
            if !book.account(entry.account_id).is_some_and(|account| account.is_final) {
                self.violations.push(Violation::EntryOnMissingOrCompositeAccount {
                    transaction_id: transaction.id,
                    account_id: entry.account_id,
                });
                return;
            }
        }
        let applied = balance_deltas(book, transaction).ok().and_then(|deltas| {
            deltas.iter().try_for_each(|delta| {
                let balance = self
                    .from_entries
                    .entry((delta.account_id, delta.layer))
                    .or_insert(Amount::ZERO);
                *balance = balance.checked_add(delta.delta)?;
                Some(())
            })
        });
        if applied.is_none() {
            self.violations.push(Violation::Overflow { transaction_id: transaction.id });
        }
    }

    pub fn transactions(&self) -> u64 {
        self.transactions
    }

    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Every violation found, comparing `recorded` balances with the recomputed ones.
    pub fn finish(self, recorded: &Balances) -> Vec<Violation> {
        let mut violations = self.violations;
        violations.extend(compare(recorded, &self.from_entries));
        violations
    }
}

/// Differences between recorded balances and balances recomputed from entries; a missing
/// balance counts as zero on either side.
pub fn compare(recorded: &Balances, from_entries: &Balances) -> Vec<Violation> {
    let mut keys: Vec<_> = recorded.keys().chain(from_entries.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .filter_map(|(account_id, layer)| {
            let recorded = recorded.get(&(account_id, layer)).copied().unwrap_or_default();
            let computed = from_entries.get(&(account_id, layer)).copied().unwrap_or_default();
            (recorded != computed).then_some(Violation::BalanceMismatch {
                account_id,
                layer,
                recorded,
                from_entries: computed,
            })
        })
        .collect()
}
