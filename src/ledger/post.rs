//! Deciding a posting: turns a transaction request into a transaction and the balance changes
//! it causes, or says why it cannot be posted. Pure; the caller applies and persists the plan.

use super::{
    Account, AccountId, AccountType, Chartbook, Entry, Journal, Layer, Side, Transaction,
    TransactionId,
};
use crate::clock::EpochMs;
use crate::money::Amount;

/// One entry as asked for, naming its account by code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRequest {
    pub account_code: String,
    pub side: Side,
    pub layer: Layer,
    pub amount: Amount,
    pub detail: String,
    pub tags: String,
}

/// A transaction as asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionRequest {
    pub journal: String,
    pub post_date_ms: EpochMs,
    pub detail: String,
    pub tags: String,
    pub entries: Vec<EntryRequest>,
}

/// Why a posting is refused, in order of precedence: the first that applies is reported.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Reject {
    JournalNotFound { journal: String },
    JournalClosed { journal: String },
    PostDateOutsideJournal { journal: String },
    TooFewEntries,
    AccountNotFound { code: String },
    AccountNotFinal { code: String },
    AccountOutsideJournalChart { code: String },
    AccountExpired { code: String },
    Unbalanced { layer: Layer, debits: Amount, credits: Amount },
    AmountOverflow,
}

/// A change of one account's balance on one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceDelta {
    pub account_id: AccountId,
    pub layer: Layer,
    pub delta: Amount,
}

/// Validates `request` against the chartbook and builds transaction `id`.
pub fn plan(
    book: &impl Chartbook,
    request: &TransactionRequest,
    id: TransactionId,
    now_ms: EpochMs,
) -> Result<Transaction, Reject> {
    let journal = book
        .journal(&request.journal)
        .ok_or_else(|| Reject::JournalNotFound { journal: request.journal.clone() })?;
    check_journal_open(journal, request.post_date_ms)?;
    if request.entries.len() < 2 {
        return Err(Reject::TooFewEntries);
    }
    let entries = request
        .entries
        .iter()
        .map(|entry| resolve_entry(book, journal, entry, request.post_date_ms))
        .collect::<Result<Vec<_>, _>>()?;
    check_balanced(&entries)?;
    Ok(Transaction {
        id,
        journal: journal.name.clone(),
        timestamp_ms: now_ms,
        post_date_ms: request.post_date_ms,
        detail: request.detail.clone(),
        tags: request.tags.clone(),
        entries,
        reversal_of: None,
        reversal_count: 0,
        reference: None,
    })
}

fn check_journal_open(journal: &Journal, post_date_ms: EpochMs) -> Result<(), Reject> {
    if journal.closed {
        return Err(Reject::JournalClosed { journal: journal.name.clone() });
    }
    let before_start = journal.start_ms.is_some_and(|start| post_date_ms < start);
    let after_end = journal.end_ms.is_some_and(|end| post_date_ms > end);
    let locked = journal.lock_date_ms.is_some_and(|lock| post_date_ms <= lock);
    if before_start || after_end || locked {
        return Err(Reject::PostDateOutsideJournal { journal: journal.name.clone() });
    }
    Ok(())
}

fn resolve_entry(
    book: &impl Chartbook,
    journal: &Journal,
    request: &EntryRequest,
    post_date_ms: EpochMs,
) -> Result<Entry, Reject> {
    let code = || request.account_code.clone();
    let account = book
        .account_by_code(&request.account_code)
        .ok_or_else(|| Reject::AccountNotFound { code: code() })?;
    if !account.is_final {
        return Err(Reject::AccountNotFinal { code: code() });
    }
    if account.chart != journal.chart {
        return Err(Reject::AccountOutsideJournalChart { code: code() });
    }
    if account.expiration_ms.is_some_and(|expiration| post_date_ms > expiration) {
        return Err(Reject::AccountExpired { code: code() });
    }
    Ok(Entry {
        account_id: account.id,
        side: request.side,
        layer: request.layer,
        amount: request.amount,
        detail: request.detail.clone(),
        tags: request.tags.clone(),
    })
}

/// Σ debit amounts equals Σ credit amounts on every layer (miniGL's DoubleEntry rule, summing
/// raw amounts so that negated reversal copies balance too).
pub fn check_balanced(entries: &[Entry]) -> Result<(), Reject> {
    let mut totals: Vec<(Layer, Amount, Amount)> = Vec::new();
    for entry in entries {
        let index = match totals.iter().position(|(layer, _, _)| *layer == entry.layer) {
            Some(index) => index,
            None => {
                totals.push((entry.layer, Amount::ZERO, Amount::ZERO));
                totals.len().saturating_sub(1)
            }
        };
        let (_, debits, credits) = &mut totals[index];
        let total = match entry.side {
            Side::Debit => debits,
            Side::Credit => credits,
        };
        *total = total.checked_add(entry.amount).ok_or(Reject::AmountOverflow)?;
    }
    totals.sort_by_key(|(layer, _, _)| *layer);
    match totals.into_iter().find(|(_, debits, credits)| debits != credits) {
        Some((layer, debits, credits)) => Err(Reject::Unbalanced { layer, debits, credits }),
        None => Ok(()),
    }
}

/// The negated copy of `original` that undoes it (miniGL `createReverse`): same accounts,
/// sides and layers, negated amounts, detail in parentheses.
pub fn reversal(
    original: &Transaction,
    id: TransactionId,
    now_ms: EpochMs,
    post_date_ms: EpochMs,
) -> Result<Transaction, Reject> {
    let entries = original
        .entries
        .iter()
        .map(|entry| {
            let amount = entry.amount.checked_neg().ok_or(Reject::AmountOverflow)?;
            Ok(Entry { amount, ..entry.clone() })
        })
        .collect::<Result<Vec<_>, Reject>>()?;
    Ok(Transaction {
        id,
        journal: original.journal.clone(),
        timestamp_ms: now_ms,
        post_date_ms,
        detail: format!("({})", original.detail),
        tags: original.tags.clone(),
        entries,
        reversal_of: Some(original.id),
        reversal_count: 0,
        reference: None,
    })
}

/// Every balance change `transaction` causes: its final accounts' and, rolled up, their
/// ancestors', merged per (account, layer).
pub fn balance_deltas(
    book: &impl Chartbook,
    transaction: &Transaction,
) -> Result<Vec<BalanceDelta>, Reject> {
    let mut deltas: Vec<BalanceDelta> = Vec::with_capacity(transaction.entries.len() * 4);
    for entry in &transaction.entries {
        let Some(account) = book.account(entry.account_id) else {
            return Err(Reject::AccountNotFound { code: entry.account_id.to_string() });
        };
        let impact =
            account.account_type.impact(entry.side, entry.amount).ok_or(Reject::AmountOverflow)?;
        propagate(book, account, entry.layer, impact, &mut deltas)?;
    }
    Ok(deltas)
}

/// Adds `delta` on `account` and the rolled-up change of each of its ancestors to `deltas`.
pub fn propagate(
    book: &impl Chartbook,
    account: &Account,
    layer: Layer,
    delta: Amount,
    deltas: &mut Vec<BalanceDelta>,
) -> Result<(), Reject> {
    let mut delta = delta;
    add_delta(deltas, account.id, layer, delta)?;
    let mut child_type: AccountType = account.account_type;
    let mut parent_id = account.parent_id;
    while let Some(parent) = parent_id.and_then(|id| book.account(id)) {
        delta = parent.account_type.roll_up(child_type, delta).ok_or(Reject::AmountOverflow)?;
        add_delta(deltas, parent.id, layer, delta)?;
        child_type = parent.account_type;
        parent_id = parent.parent_id;
    }
    Ok(())
}

fn add_delta(
    deltas: &mut Vec<BalanceDelta>,
    account_id: AccountId,
    layer: Layer,
    delta: Amount,
) -> Result<(), Reject> {
    match deltas
        .iter_mut()
        .find(|existing| existing.account_id == account_id && existing.layer == layer)
    {
        Some(existing) => {
            existing.delta = existing.delta.checked_add(delta).ok_or(Reject::AmountOverflow)?;
        }
        None => deltas.push(BalanceDelta { account_id, layer, delta }),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Journal;
    use std::collections::HashMap;

    struct Book {
        journal: Journal,
        accounts: HashMap<AccountId, Account>,
    }

    impl Chartbook for Book {
        fn journal(&self, name: &str) -> Option<&Journal> {
            (self.journal.name == name).then_some(&self.journal)
        }
        fn account_by_code(&self, code: &str) -> Option<&Account> {
            self.accounts.values().find(|account| account.code == code)
        }
        fn account(&self, id: AccountId) -> Option<&Account> {
            self.accounts.get(&id)
        }
    }

    fn account(
        id: AccountId,
        code: &str,
        account_type: AccountType,
        parent: Option<AccountId>,
    ) -> Account {
        Account {
            id,
            code: code.to_owned(),
            chart: "jcard".into(),
            description: String::new(),
            account_type,
            is_final: code.len() > 6,
            parent_id: parent,
            currency_code: None,
            tags: String::new(),
            expiration_ms: None,
            created_ms: 0,
        }
    }

    fn book() -> Book {
        let accounts = [
            account(1, "11", AccountType::Debit, None),
            account(2, "11.001", AccountType::Debit, Some(1)),
            account(3, "11.001.00", AccountType::Debit, Some(2)),
            account(4, "12.001.00", AccountType::Debit, None),
            account(5, "22.001.00", AccountType::Credit, Some(2)),
        ];
        Book {
            journal: Journal::open("jcard", "jcard".into()),
            accounts: accounts.into_iter().map(|account| (account.id, account)).collect(),
        }
    }

    fn entry(code: &str, side: Side, units: i64) -> EntryRequest {
        EntryRequest {
            account_code: code.to_owned(),
            side,
            layer: 840,
            amount: Amount::from_units(units),
            detail: String::new(),
            tags: String::new(),
        }
    }

    fn request(entries: Vec<EntryRequest>) -> TransactionRequest {
        TransactionRequest {
            journal: "jcard".to_owned(),
            post_date_ms: 0,
            detail: "d".to_owned(),
            tags: String::new(),
            entries,
        }
    }

    #[test]
    fn a_balanced_posting_moves_finals_and_ancestors() {
        let book = book();
        let transaction = plan(
            &book,
            &request(vec![entry("11.001.00", Side::Credit, 5), entry("12.001.00", Side::Debit, 5)]),
            1,
            0,
        )
        .unwrap();
        let deltas = balance_deltas(&book, &transaction).unwrap();
        let get = |id| {
            deltas.iter().find(|delta| delta.account_id == id).map(|delta| delta.delta.units())
        };
        assert_eq!(get(3), Some(-5));
        assert_eq!(get(2), Some(-5));
        assert_eq!(get(1), Some(-5));
        assert_eq!(get(4), Some(5));
    }

    #[test]
    fn a_credit_child_counts_negative_in_a_debit_parent() {
        let book = book();
        let transaction = plan(
            &book,
            &request(vec![entry("22.001.00", Side::Credit, 7), entry("12.001.00", Side::Debit, 7)]),
            1,
            0,
        )
        .unwrap();
        let deltas = balance_deltas(&book, &transaction).unwrap();
        let get = |id| {
            deltas.iter().find(|delta| delta.account_id == id).map(|delta| delta.delta.units())
        };
        assert_eq!(get(5), Some(7));
        assert_eq!(get(2), Some(-7));
    }

    #[test]
    fn refusals_come_in_precedence_order() {
        let book = book();
        let unbalanced =
            request(vec![entry("11.001.00", Side::Credit, 5), entry("12.001.00", Side::Debit, 4)]);
        assert!(matches!(
            plan(&book, &unbalanced, 1, 0),
            Err(Reject::Unbalanced { layer: 840, .. })
        ));
        let composite =
            request(vec![entry("11.001", Side::Credit, 5), entry("12.001.00", Side::Debit, 4)]);
        assert!(matches!(plan(&book, &composite, 1, 0), Err(Reject::AccountNotFinal { .. })));
        let unknown = request(vec![entry("99", Side::Credit, 5), entry("11.001", Side::Debit, 4)]);
        assert!(matches!(plan(&book, &unknown, 1, 0), Err(Reject::AccountNotFound { .. })));
        let mut wrong_journal = unknown.clone();
        wrong_journal.journal = "other".to_owned();
        assert!(matches!(plan(&book, &wrong_journal, 1, 0), Err(Reject::JournalNotFound { .. })));
        assert_eq!(
            plan(&book, &request(vec![entry("11.001.00", Side::Credit, 5)]), 1, 0),
            Err(Reject::TooFewEntries)
        );
    }

    #[test]
    fn a_reversal_balances_and_undoes_every_delta() {
        let book = book();
        let original = plan(
            &book,
            &request(vec![entry("11.001.00", Side::Credit, 5), entry("12.001.00", Side::Debit, 5)]),
            1,
            0,
        )
        .unwrap();
        let reversed = reversal(&original, 2, 10, 0).unwrap();
        assert_eq!(check_balanced(&reversed.entries), Ok(()));
        assert_eq!(reversed.detail, "(d)");
        let forward = balance_deltas(&book, &original).unwrap();
        let backward = balance_deltas(&book, &reversed).unwrap();
        for (a, b) in forward.iter().zip(&backward) {
            assert_eq!(a.delta.checked_add(b.delta), Some(Amount::ZERO));
        }
    }
}
