//! Read-only questions about wallets and their history: tranlog records by id, RRN or wallet,
//! the most-recent-first mini statement, and the cash-out balance. Like every read, answered
//! from the last published state and the store, never waiting for the writer.

use base64::Engine as _;
use uuid::Uuid;

use super::command::{Command, NewConsumer, Outcome};
use super::history;
use super::keys::{self, SecretBytes};
use super::reads::{ReadError, StatementAnswer};
use super::rrn_index;
use super::tranlog::Tranlog;
use super::tranlog_index::{self, Owner};
use super::{Core, CoreError};
use crate::clock::EpochMs;
use crate::ledger::statement::{self, StatementLine};
use crate::ledger::Layer;
use crate::money::Amount;
use crate::store::schema;
use crate::wallet::fees::cash_out_limit;
use crate::wallet::{currency_of_layer, currency_text, wallet_account_code};

/// Permissions of a consumer created by a login: its own wallet only (see `wallet_scope`).
pub const LOGIN_PERMISSIONS: [&str; 3] = ["wallet.read", "wallet.transfer", "wallet.pin"];

/// Which tranlog records of a wallet to list.
#[derive(Debug, Clone)]
pub struct TranlogFilter {
    /// Records dated in `[from_ms, to_ms)`.
    pub from_ms: EpochMs,
    pub to_ms: EpochMs,
    /// ITCs to keep; empty keeps all.
    pub itcs: Vec<String>,
    pub length: usize,
    /// Matching records to skip first.
    pub offset: usize,
    /// Oldest first; otherwise newest first.
    pub ascending: bool,
    /// IRCs to keep; empty keeps all.
    pub ircs: Vec<String>,
    /// Currency codes (three digits) to keep; empty keeps all.
    pub currencies: Vec<String>,
}

impl TranlogFilter {
    fn keeps(&self, record: &Tranlog) -> bool {
        let listed = |wanted: &[String], value: &str| {
            wanted.is_empty() || wanted.iter().any(|item| item == value)
        };
        record.date_ms >= self.from_ms
            && record.date_ms < self.to_ms
            && listed(&self.itcs, &record.itc)
            && listed(&self.ircs, &record.irc)
            && listed(&self.currencies, &record.currency_code)
    }
}

impl Core {
    /// A committed tranlog record.
    pub fn tranlog(&self, id: u64) -> Result<Option<Tranlog>, ReadError> {
        if id == 0 || id >= self.snapshot().next_tranlog_id {
            return Ok(None);
        }
        Ok(history::tranlog(self.store(), id)?)
    }

    /// Every committed tranlog record with `rrn`, oldest first.
    pub fn tranlogs_by_rrn(&self, rrn: &str) -> Result<Vec<Tranlog>, ReadError> {
        let entries = self.rrn_index().entries_of(rrn_index::rrn_key(rrn))?;
        let ids = entries.iter().map(|entry| Ok(entry.position.transaction_id));
        // Another RRN may share the key.
        self.committed_tranlogs(ids, usize::MAX, |record| record.rrn == rrn)
    }

    /// A wallet's tranlog records matching `filter`.
    pub fn wallet_tranlogs(
        &self,
        code: &str,
        filter: &TranlogFilter,
    ) -> Result<Vec<Tranlog>, ReadError> {
        self.filtered_tranlogs(Owner::Wallet(code), filter)
    }

    /// A card's tranlog records (as the card or the receiving card) matching `filter`.
    pub fn card_tranlogs(
        &self,
        token: &str,
        filter: &TranlogFilter,
    ) -> Result<Vec<Tranlog>, ReadError> {
        self.filtered_tranlogs(Owner::Card(token), filter)
    }

    /// `owner`'s committed tranlog records matching `filter`, from the tranlog index.
    fn filtered_tranlogs(
        &self,
        owner: Owner<'_>,
        filter: &TranlogFilter,
    ) -> Result<Vec<Tranlog>, ReadError> {
        let wanted = filter.offset.saturating_add(filter.length);
        let key = tranlog_index::owner_key(owner);
        let ids = self
            .tranlog_index()
            .range(key, EpochMs::MIN, EpochMs::MAX, !filter.ascending)
            .map(|item| Ok(item?.position.transaction_id));
        let mut records = self.committed_tranlogs(ids, wanted, |record| {
            tranlog_index::names(record, owner) && filter.keeps(record)
        })?;
        Ok(records.split_off(filter.offset.min(records.len())))
    }

    /// The first `length` records, in `ids`' order, that `keep` keeps, skipping ids of a state
    /// newer than the one read here (an index may already hold them).
    fn committed_tranlogs(
        &self,
        ids: impl Iterator<Item = Result<u64, ReadError>>,
        length: usize,
        keep: impl Fn(&Tranlog) -> bool,
    ) -> Result<Vec<Tranlog>, ReadError> {
        let committed = self.snapshot().next_tranlog_id;
        let mut records = Vec::new();
        for id in ids {
            if records.len() >= length {
                break;
            }
            let id = id?;
            if id >= committed {
                continue;
            }
            let record = history::tranlog(self.store(), id)?.ok_or_else(|| {
                CoreError::Corrupt(format!("an index names missing tranlog {id}"))
            })?;
            if keep(&record) {
                records.push(record);
            }
        }
        Ok(records)
    }

    /// The `length` most recent entries of a final account on `layers`, newest first, with
    /// the balance after each (jCard's mini statement).
    pub fn recent_statement(
        &self,
        account_code: &str,
        layers: &[Layer],
        length: usize,
    ) -> Result<StatementAnswer, ReadError> {
        let current = self.balance(super::bootstrap::DEFAULT_CHART, account_code, layers, None)?;
        let state = self.snapshot();
        let mut newest_first: Vec<StatementLine> = Vec::new();
        for item in self.entries().range(current.account.id, EpochMs::MIN, EpochMs::MAX, true) {
            if newest_first.len() >= length {
                break;
            }
            let entry = item?;
            let position = entry.position;
            let (layer, side, amount) = super::entry_index::ledger_terms(&entry);
            if position.transaction_id >= state.next_transaction_id
                || !current.layers.contains(&layer)
            {
                continue;
            }
            let transaction = self.transaction(position.transaction_id)?.ok_or_else(|| {
                CoreError::Corrupt(format!(
                    "entry of missing transaction {}",
                    position.transaction_id
                ))
            })?;
            newest_first.push(super::reads::statement_line(
                &current.account,
                &transaction,
                position,
                layer,
                side,
                amount,
            )?);
        }
        let moved =
            newest_first.iter().try_fold(Amount::ZERO, |sum, line| sum.checked_add(line.impact));
        let initial = moved
            .and_then(|moved| current.balance.checked_sub(moved))
            .ok_or(ReadError::Overflow)?;
        let mut oldest_first = newest_first;
        oldest_first.reverse();
        let mut built =
            statement::build(initial, oldest_first, length).ok_or(ReadError::Overflow)?;
        built.lines.reverse();
        Ok(StatementAnswer {
            journal: current.journal,
            account: current.account,
            layers: current.layers,
            statement: built,
        })
    }

    /// The most that could be taken from wallet `code` on `layers` with the fees of `kind`.
    pub fn cash_out_balance(
        &self,
        code: &str,
        kind: &str,
        layers: &[Layer],
        before_ms: Option<EpochMs>,
    ) -> Result<Amount, ReadError> {
        let available = self.balance(
            super::bootstrap::DEFAULT_CHART,
            &wallet_account_code(code),
            layers,
            before_ms,
        )?;
        let currency =
            currency_text(currency_of_layer(layers.first().copied().unwrap_or_default()));
        let rules = self.snapshot().fee_rules(kind, &currency);
        cash_out_limit(&rules, available.balance).ok_or(ReadError::Overflow)
    }

    /// Logs in to wallet `code` with `pin`: on success a new consumer limited to that wallet,
    /// whose secret (64 hex digits) is answered once; its key is the secret Base64-decoded,
    /// as for every consumer.
    pub async fn login(
        &self,
        code: &str,
        pin: &str,
        nonce: super::state::NonceRecord,
    ) -> Result<Outcome, CoreError> {
        let secret_text = keys::hex_lower(&keys::random_bytes(32)?);
        let key =
            base64::engine::general_purpose::STANDARD.decode(&secret_text).map_err(|error| {
                CoreError::Corrupt(format!("generated secret is not Base64: {error}"))
            })?;
        let consumer = NewConsumer::unscoped(
            Uuid::new_v4(),
            SecretBytes::new(key),
            LOGIN_PERMISSIONS.iter().map(|permission| (*permission).to_owned()).collect(),
        );
        let command =
            Command::Login { wallet: code.to_owned(), pin: pin.to_owned(), consumer, secret_text };
        self.execute(command, Some(nonce)).await
    }
}

impl Core {
    /// What became of request `request_id` of partner `auth_id`, once committed.
    pub fn partner_request(
        &self,
        auth_id: &str,
        request_id: &str,
    ) -> Result<Option<super::execute_partner::RequestRecord>, ReadError> {
        if self.metrics().is_degraded() {
            // The store may hold a failed group's record that is not durable yet, and the
            // record carries nothing to compare with the published state: say nothing until a
            // flush succeeds.
            return Err(ReadError::Core(CoreError::NotStored(
                "a request's status is not known while storage fails".to_owned(),
            )));
        }
        Ok(self.store().get(&schema::partner_request_key(auth_id, request_id))?)
    }
}
