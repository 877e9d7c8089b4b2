//! Read-only questions about the ledger, answered from the last published state (balances)
//! and the store (history). Never waits for the writer; sees every acknowledged write and
//! nothing newer, because history newer than the snapshot is filtered out.

use std::sync::Arc;

use super::history;
use super::state::State;
use super::{Core, CoreError};
use crate::clock::EpochMs;
use crate::ledger::statement::{self, Statement, StatementLine};
use crate::ledger::{
    Account, AccountId, Chartbook, Journal, Layer, Side, Transaction, TransactionId,
};
use crate::money::Amount;
use crate::store::schema;

/// Why a read found nothing to answer.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("journal not found")]
    JournalNotFound,
    #[error("account not found")]
    AccountNotFound,
    #[error("a statement needs a final account")]
    AccountNotFinal,
    #[error("amounts overflow")]
    Overflow,
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl From<crate::store::StoreError> for ReadError {
    fn from(error: crate::store::StoreError) -> ReadError {
        ReadError::Core(error.into())
    }
}

/// A balance over some layers.
#[derive(Debug, Clone)]
pub struct BalanceAnswer {
    pub journal: Arc<Journal>,
    pub account: Arc<Account>,
    /// The layers summed: those asked for, or every layer the account has.
    pub layers: Vec<Layer>,
    pub balance: Amount,
}

/// A statement with what it was asked over.
#[derive(Debug, Clone)]
pub struct StatementAnswer {
    pub journal: Arc<Journal>,
    pub account: Arc<Account>,
    pub layers: Vec<Layer>,
    pub statement: Statement,
}

/// One entry of an account's history as the store keeps it.
struct HistoryEntry {
    position: schema::EntryPosition,
    layer: Layer,
    side: Side,
    amount: Amount,
}

impl Core {
    /// The balance of `account_code` over `layers` (all layers when empty), as of the end of
    /// the day before `before_ms` when given (entries posted at or after it are left out).
    pub fn balance(
        &self,
        journal: &str,
        account_code: &str,
        layers: &[Layer],
        before_ms: Option<EpochMs>,
    ) -> Result<BalanceAnswer, ReadError> {
        let state = self.snapshot();
        let (journal, account) = find_account(&state, journal, account_code)?;
        let layers = if layers.is_empty() { state.layers_of(account.id) } else { layers.to_vec() };
        let mut balance = layers_balance(&state, account.id, &layers)?;
        if let Some(before_ms) = before_ms {
            for final_id in state.final_descendants(account.id) {
                let later = self.history(&state, final_id, before_ms, EpochMs::MAX, &layers);
                for entry in later {
                    let impact = impact_on(&state, &account, final_id, &entry?)?;
                    balance = balance.checked_sub(impact).ok_or(ReadError::Overflow)?;
                }
            }
        }
        Ok(BalanceAnswer { journal, account, layers, balance })
    }

    /// The statement of a final account over `layers` (all when empty) for post dates in
    /// `[start_ms, end_ms)`.
    pub fn statement(
        &self,
        journal: &str,
        account_code: &str,
        layers: &[Layer],
        start_ms: EpochMs,
        end_ms: EpochMs,
    ) -> Result<StatementAnswer, ReadError> {
        let state = self.snapshot();
        let (journal, account) = find_account(&state, journal, account_code)?;
        if !account.is_final {
            return Err(ReadError::AccountNotFinal);
        }
        let answer = self.balance(&journal.name, account_code, layers, Some(start_ms));
        let opening = answer?;
        let mut lines = Vec::new();
        let mut transaction: Option<Transaction> = None;
        for entry in self.history(&state, account.id, start_ms, end_ms, &opening.layers) {
            let entry = entry?;
            if lines.len() >= self.settings().statement_entries_max.saturating_add(1) {
                break;
            }
            let id = entry.position.transaction_id;
            if transaction.as_ref().is_none_or(|loaded| loaded.id != id) {
                transaction = Some(self.load_transaction(id)?);
            }
            if let Some(transaction) = &transaction {
                lines.push(statement_line(
                    &account,
                    transaction,
                    entry.position,
                    entry.layer,
                    entry.side,
                    entry.amount,
                )?);
            }
        }
        let statement =
            statement::build(opening.balance, lines, self.settings().statement_entries_max)
                .ok_or(ReadError::Overflow)?;
        Ok(StatementAnswer { journal, account, layers: opening.layers, statement })
    }

    /// A committed transaction by id.
    pub fn transaction(&self, id: TransactionId) -> Result<Option<Transaction>, ReadError> {
        if id >= self.snapshot().next_transaction_id {
            return Ok(None);
        }
        Ok(history::transaction(self.store(), id)?)
    }

    fn load_transaction(&self, id: TransactionId) -> Result<Transaction, ReadError> {
        self.transaction(id)?.ok_or_else(|| {
            ReadError::Core(CoreError::Corrupt(format!("entry of missing transaction {id}")))
        })
    }

    /// Entries of one final account with post dates in `[from_ms, to_ms)` on `layers`,
    /// committed in `state`, in post-date order.
    fn history<'a>(
        &'a self,
        state: &'a State,
        account_id: AccountId,
        from_ms: EpochMs,
        to_ms: EpochMs,
        layers: &'a [Layer],
    ) -> impl Iterator<Item = Result<HistoryEntry, ReadError>> + 'a {
        self.entries()
            .range(account_id, from_ms, to_ms, false)
            .map(|item| {
                let entry = item?;
                let (layer, side, amount) = super::entry_index::ledger_terms(&entry);
                Ok(HistoryEntry { position: entry.position, layer, side, amount })
            })
            .filter(move |entry| match entry {
                Ok(entry) => {
                    entry.position.transaction_id < state.next_transaction_id
                        && layers.contains(&entry.layer)
                }
                Err(_) => true,
            })
    }
}

/// The account `account_id` and its balance in `journal` now, over `layers`, in `state`; `None`
/// if there is no such account. The balance enquiry's hot path, for a caller that holds the
/// account's id (a card's).
pub fn account_balance<'s>(
    state: &'s State,
    journal: &str,
    account_id: AccountId,
    layers: &[Layer],
) -> Option<Result<(&'s Account, Amount), ReadError>> {
    // The sum first: both lookups go by the id alone, so the CPU overlaps their cache misses,
    // where reading the account's record first made one chain of them.
    let sum = layers_balance(state, account_id, layers);
    let account = state.accounts.get(&account_id)?;
    Some(
        in_journal(state, journal, Some(account.as_ref()))
            .and_then(|(_, account)| Ok((account, sum?))),
    )
}

/// `journal` and `account`, if the account is one of the journal's chart: an account of
/// another chart is not found there. A missing journal is reported before a missing account.
fn in_journal<'s, A: std::ops::Deref<Target = Account>>(
    state: &'s State,
    journal: &str,
    account: Option<A>,
) -> Result<(&'s Arc<Journal>, A), ReadError> {
    let journal = state.journals.get(journal).ok_or(ReadError::JournalNotFound)?;
    let account = account
        .filter(|account| account.chart == journal.chart)
        .ok_or(ReadError::AccountNotFound)?;
    Ok((journal, account))
}

/// The sum of an account's balances over `layers`.
fn layers_balance(
    state: &State,
    account: AccountId,
    layers: &[Layer],
) -> Result<Amount, ReadError> {
    state.balances.sum(account, layers).ok_or(ReadError::Overflow)
}

fn find_account(
    state: &State,
    journal: &str,
    code: &str,
) -> Result<(Arc<Journal>, Arc<Account>), ReadError> {
    let account = state.account_ids_by_code.get(code).and_then(|id| state.accounts.get(id));
    let (journal, account) = in_journal(state, journal, account.cloned())?;
    Ok((Arc::clone(journal), account))
}

/// The effect of a final account's entry on `account` (itself or an ancestor).
fn impact_on(
    state: &State,
    account: &Account,
    final_id: AccountId,
    entry: &HistoryEntry,
) -> Result<Amount, ReadError> {
    let final_account = state.account(final_id).ok_or(ReadError::AccountNotFound)?;
    let mut impact =
        final_account.account_type.impact(entry.side, entry.amount).ok_or(ReadError::Overflow)?;
    let mut current = final_account;
    while current.id != account.id {
        let parent =
            current.parent_id.and_then(|id| state.account(id)).ok_or(ReadError::AccountNotFound)?;
        impact =
            parent.account_type.roll_up(current.account_type, impact).ok_or(ReadError::Overflow)?;
        current = parent;
    }
    Ok(impact)
}

/// A statement line for one entry of `transaction` on `account`.
pub(super) fn statement_line(
    account: &Account,
    transaction: &Transaction,
    position: schema::EntryPosition,
    layer: Layer,
    side: Side,
    amount: Amount,
) -> Result<StatementLine, ReadError> {
    let stored = transaction.entries.get(usize::from(position.entry_index));
    let impact = account.account_type.impact(side, amount).ok_or(ReadError::Overflow)?;
    Ok(StatementLine {
        transaction_id: transaction.id,
        post_date_ms: transaction.post_date_ms,
        timestamp_ms: transaction.timestamp_ms,
        detail: stored.map_or_else(
            || transaction.detail.clone(),
            |stored| pick(&stored.detail, &transaction.detail),
        ),
        tags: stored.map_or_else(
            || transaction.tags.clone(),
            |stored| pick(&stored.tags, &transaction.tags),
        ),
        side,
        layer,
        amount,
        impact,
        balance: Amount::ZERO,
        reversal_count: transaction.reversal_count,
        reference: transaction.reference,
    })
}

/// The entry's own text, or the transaction's when the entry has none.
fn pick(own: &str, fallback: &str) -> String {
    if own.is_empty() { fallback } else { own }.to_owned()
}
