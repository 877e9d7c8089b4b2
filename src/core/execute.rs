//! Executing one command inside a commit group: load what it needs, decide (pure ledger
//! functions), then write the batch and apply the result to the group's working state. A
//! command either changes both or neither.

use std::sync::Arc;

use super::authorize::Authorizer;
use super::command::{
    Command, Consumer, Decline, NewAccount, NewConsumer, Outcome, SysConfig, SysconfigUpdate,
};
use super::history;
use super::keys::MasterKey;
use super::rrn_index::RrnLookup;
use super::state::{ConsumerRecord, NonceRecord, State, StoredNonces};
use super::tranlog::Tranlog;
use super::{CoreError, WalletSettings};
use crate::clock::EpochMs;
use crate::ledger::post::{self, balance_deltas, TransactionRequest};
use crate::ledger::{Account, AccountId, Chartbook, Layer, Transaction, TransactionId};
use crate::money::Amount;
use crate::store::schema;
use crate::store::{Batch, EncodedPut, Store, StoreError};

/// Everything one command of a group may touch.
pub struct GroupContext<'a> {
    pub state: &'a mut State,
    pub batch: &'a mut Batch,
    /// Records written earlier in this group, not yet readable from the store.
    pub written: &'a mut GroupWrites,
    pub store: &'a Store,
    /// Where RRNs are looked up (the store holds no RRN records).
    pub rrns: RrnLookup<'a>,
    pub keys: &'a MasterKey,
    pub settings: &'a WalletSettings,
    pub now_ms: EpochMs,
}

/// What a commit group wrote so far, for the commands after it in the same group.
/// Persistent maps, so that a savepoint is a cheap copy; records behind `Arc`, so that the first
/// change after a savepoint copies pointers, not records (a map node holds up to 32 of them).
#[derive(Debug, Default, Clone)]
pub struct GroupWrites {
    pub transactions: imbl::HashMap<TransactionId, Arc<Transaction>>,
    pub tranlogs: imbl::HashMap<u64, Arc<Tranlog>>,
    /// The ids of the tranlog records the group added, by their RRN's key (`rrn_index::rrn_key`:
    /// each hashed once, here; the group's RRN postings are these).
    pub rrns: imbl::HashMap<u64, imbl::Vector<u64>>,
    /// Partner request keys recorded.
    pub requests: imbl::HashSet<Vec<u8>>,
    /// Cashback tickets and credit requests recorded, by key.
    pub tickets: imbl::HashMap<Vec<u8>, super::execute_cashback::TicketRecord>,
}

/// A transaction decided and checked, its record encoded: writing it cannot fail
/// (`GroupContext::apply_transaction`).
pub(super) struct PreparedTransaction {
    transaction: Transaction,
    record: EncodedPut,
    balances: Vec<((AccountId, Layer), Amount)>,
}

/// Where a group stood before a command: going back to it undoes the command entirely.
pub struct Savepoint {
    state: State,
    batch_len: usize,
    written: GroupWrites,
}

impl GroupContext<'_> {
    /// The pure card authorization decision over the group's state as it stands.
    pub(super) fn authorizer(&self) -> Authorizer<'_> {
        Authorizer { state: self.state, keys: self.keys, now_ms: self.now_ms }
    }

    /// Where the group stands now (cheap: persistent maps).
    pub fn savepoint(&self) -> Savepoint {
        Savepoint {
            state: self.state.clone(),
            batch_len: self.batch.len(),
            written: self.written.clone(),
        }
    }

    /// Undoes everything since `savepoint`: state, batch and the group's overlays.
    pub fn rollback(&mut self, savepoint: Savepoint) {
        *self.state = savepoint.state;
        self.batch.truncate(savepoint.batch_len);
        *self.written = savepoint.written;
    }

    /// Runs one command. On `Err` nothing of it remains in the batch, the state or the
    /// group's overlays.
    pub fn execute(&mut self, command: Command) -> Result<Outcome, CoreError> {
        match command {
            // Changes nothing before every step that can fail has passed (its deciding half
            // borrows the group immutably, its writing half returns no error), so it needs no
            // savepoint: after one, the first change to each persistent map copies that map's
            // path from the root, which was a seventh of the writer's time a card debit
            // (`docs/performance.md`, "Card debits without a savepoint").
            Command::MoveCardMoney(movement) => self.move_card_money(*movement),
            // The same split for wallet movements (`move_money`).
            Command::MoveMoney(movement) => self.move_money(*movement),
            other => self.execute_with_savepoint(other),
        }
    }

    /// `execute` for a command that may fail after changing something: undone if it does.
    fn execute_with_savepoint(&mut self, command: Command) -> Result<Outcome, CoreError> {
        let savepoint = self.savepoint();
        let result = match command {
            Command::PostTransaction(request) => self.post_transaction(&request),
            Command::ReverseTransaction { transaction_id } => {
                self.reverse_transaction(transaction_id)
            }
            Command::CreateAccount(account) => self.create_account(account),
            Command::CreateSysconfig(entry) => self.create_sysconfig(entry),
            Command::UpdateSysconfig(update) => self.update_sysconfig(update),
            Command::DeleteSysconfig { id } => self.delete_sysconfig(&id),
            Command::AddConsumer(consumer) => self.add_consumer(consumer),
            Command::Initialize { admin } => self.initialize(admin),
            Command::CreateCustomer(customer) => self.create_customer(customer),
            Command::UpdateCustomer(patch) => self.update_customer(&patch),
            Command::CreateWallet { code, card_product, owner } => {
                self.create_wallet(code, card_product, owner)
            }
            Command::LinkWallet { code, real_id } => self.link_wallet(&code, real_id),
            Command::UpdateWalletCustomer { code, patch } => {
                self.update_wallet_customer(&code, &patch)
            }
            Command::ChangeWalletState { code, change } => self.change_wallet_state(&code, change),
            Command::ChangePin { code, pin } => self.change_pin(&code, &pin),
            Command::Login { wallet, pin, consumer, secret_text } => {
                self.login(&wallet, &pin, consumer, secret_text)
            }
            Command::CreateAgent { agent, create_wallet } => {
                self.create_agent(agent, create_wallet)
            }
            Command::UpdateAgent { id, agent } => self.update_agent(id, agent),
            Command::ReverseByRrn { rrn } => self.reverse_by_rrn(&rrn),
            Command::VoidByRrn { rrn } => self.void_by_rrn(&rrn),
            other => self.execute_card(other),
        };
        if result.is_err() {
            self.rollback(savepoint);
        }
        result
    }

    /// Runs a command wrapped in a partner request (the wrapper records it).
    pub(super) fn execute_inner(&mut self, command: Command) -> Result<Outcome, CoreError> {
        match command {
            Command::PartnerRequest { .. } => {
                Err(CoreError::Corrupt("nested partner request".to_owned()))
            }
            other => self.execute(other),
        }
    }

    /// The card commands.
    fn execute_card(&mut self, command: Command) -> Result<Outcome, CoreError> {
        match command {
            Command::CreateCardProduct(fields) => self.create_card_product(*fields),
            Command::UpdateCardProduct { id, fields } => self.update_card_product(id, *fields),
            Command::CreateVelocityProfile { product_id, fields } => {
                self.create_velocity_profile(product_id, *fields)
            }
            Command::UpdateVelocityProfile { product_id, id, fields } => {
                self.update_velocity_profile(product_id, id, *fields)
            }
            Command::DeleteVelocityProfile { product_id, id } => {
                self.delete_velocity_profile(product_id, id)
            }
            Command::IssueCard(card) => self.issue_card(*card),
            Command::UpdateCard { token, product_id, expiration, is_virtual } => {
                self.update_card(&token, product_id, expiration, is_virtual)
            }
            Command::ChangeCardState { token, state } => {
                self.change_card_state(&token, state, false)
            }
            Command::ActivateCard { token } => {
                self.change_card_state(&token, crate::card::CardState::Active, true)
            }
            Command::SetCardPin { token, new, old } => {
                self.set_card_pin(&token, &new, old.as_deref())
            }
            Command::SetCardAccount { token, account_code } => {
                self.set_card_account(&token, &account_code)
            }
            Command::SetCardholder { token, real_id } => self.set_cardholder(&token, real_id),
            Command::AddPartner { auth_id, key } => self.add_partner(auth_id, key),
            Command::PartnerRequest { auth_id, request_id, method, inner } => {
                self.partner_request(auth_id, request_id, method, inner)
            }
            Command::IssuePartnerCard { auth_id, customer, product, is_virtual, expiration } => {
                self.issue_partner_card(&auth_id, customer, &product, is_virtual, expiration)
            }
            Command::IssueGiftCards(order) => self.issue_gift_cards(*order),
            Command::VerifyGiftCards { order_id, cards } => {
                self.verify_gift_cards(&order_id, &cards)
            }
            other => self.execute_cashback(other),
        }
    }

    /// The cashback commands.
    fn execute_cashback(&mut self, command: Command) -> Result<Outcome, CoreError> {
        match command {
            Command::CreateMerchantGroup { name, currency } => {
                self.create_merchant_group(name, currency)
            }
            Command::CreateMerchantStore { group_id, name } => {
                self.create_merchant_store(group_id, name)
            }
            Command::CreatePointOfSale { store_id, name } => {
                self.create_point_of_sale(store_id, name)
            }
            Command::CreatePass(pass) => self.create_pass(*pass),
            Command::CreditCashback(credit) => self.credit_cashback(*credit),
            Command::DebitCashback(debit) => self.debit_cashback(*debit),
            other => Err(CoreError::Corrupt(format!("{other:?} dispatched as a card command"))),
        }
    }

    /// Remembers the nonces of a group's mutating requests durably, with the group's writes,
    /// as one record: one store write per group instead of one per request. The record is
    /// keyed by its newest timestamp, so pruning by key keeps every nonce at least as long as
    /// its own timestamp asks.
    pub fn record_nonces(
        &mut self,
        nonces: Vec<NonceRecord>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(newest) = nonces.iter().max_by_key(|nonce| nonce.timestamp_ms) else {
            return Ok(None);
        };
        let key = schema::nonce_key(newest.timestamp_ms, &newest.consumer, &newest.nonce);
        self.batch.put(key.clone(), &StoredNonces::Group(nonces))?;
        Ok(Some(key))
    }

    fn post_transaction(&mut self, request: &TransactionRequest) -> Result<Outcome, CoreError> {
        let id = self.state.next_transaction_id;
        let transaction = match post::plan(&*self.state, request, id, self.now_ms) {
            Ok(transaction) => transaction,
            Err(reject) => return Ok(Outcome::Declined(reject.into())),
        };
        match self.commit_transaction(transaction)? {
            Some(decline) => Ok(Outcome::Declined(decline)),
            None => Ok(Outcome::Posted { transaction_id: id }),
        }
    }

    /// Writes a decided transaction and moves the balances; a decline if a balance would
    /// overflow (then nothing is written).
    pub(super) fn commit_transaction(
        &mut self,
        transaction: Transaction,
    ) -> Result<Option<Decline>, CoreError> {
        Ok(match self.prepare_transaction(transaction)? {
            Ok(prepared) => {
                self.apply_transaction(prepared);
                None
            }
            Err(decline) => Some(decline),
        })
    }

    /// Everything `commit_transaction` does that can fail or decline, changing nothing: the
    /// balances the transaction leaves and its record, encoded.
    pub(super) fn prepare_transaction(
        &self,
        transaction: Transaction,
    ) -> Result<Result<PreparedTransaction, Decline>, CoreError> {
        post::check_balanced(&transaction.entries).unwrap_or_else(|reject| {
            panic!("ledger invariant: unbalanced transaction decided: {reject:?}")
        });
        let deltas = match balance_deltas(&*self.state, &transaction) {
            Ok(deltas) => deltas,
            Err(reject) => return Ok(Err(reject.into())),
        };
        let Some(balances) = self.state.balances_after(&deltas) else {
            return Ok(Err(post::Reject::AmountOverflow.into()));
        };
        // Its account entries reach the entry index from the record once the group is
        // published (`entry_index.rs`).
        if u16::try_from(transaction.entries.len()).is_err() {
            return Err(CoreError::Corrupt("too many entries".to_owned()));
        }
        let record = EncodedPut::new(schema::transaction_key(transaction.id), &transaction)?;
        Ok(Ok(PreparedTransaction { transaction, record, balances }))
    }

    /// Writes a prepared transaction and moves the balances.
    pub(super) fn apply_transaction(&mut self, prepared: PreparedTransaction) {
        let PreparedTransaction { transaction, record, balances } = prepared;
        // The balances are not written: the transaction's record is what they are rebuilt from
        // (`balance_snapshot.rs`).
        self.batch.put_encoded(record);
        for ((account_id, layer), balance) in balances {
            self.state.balances.insert(account_id, layer, balance);
        }
        self.state.next_transaction_id =
            self.state.next_transaction_id.max(transaction.id.saturating_add(1));
        self.written.transactions.insert(transaction.id, Arc::new(transaction));
    }

    pub(super) fn load_transaction(
        &self,
        id: TransactionId,
    ) -> Result<Option<Transaction>, CoreError> {
        if let Some(transaction) = self.written.transactions.get(&id) {
            return Ok(Some(Transaction::clone(transaction)));
        }
        Ok(history::transaction(self.store, id)?)
    }

    fn reverse_transaction(&mut self, id: TransactionId) -> Result<Outcome, CoreError> {
        let Some(mut original) = self.load_transaction(id)? else {
            return Ok(Outcome::Declined(Decline::TransactionNotFound));
        };
        if original.reversal_count > 0 || original.reversal_of.is_some() {
            return Ok(Outcome::Declined(Decline::AlreadyReversed));
        }
        let reversal_id = self.state.next_transaction_id;
        let reversal = match post::reversal(&original, reversal_id, self.now_ms, self.now_ms) {
            Ok(reversal) => reversal,
            Err(reject) => return Ok(Outcome::Declined(reject.into())),
        };
        if let Some(decline) = self.commit_transaction(reversal)? {
            return Ok(Outcome::Declined(decline));
        }
        original.reversal_count = original.reversal_count.saturating_add(1);
        self.batch.put(schema::transaction_revision_key(original.id), &original)?;
        self.written.transactions.insert(original.id, Arc::new(original));
        Ok(Outcome::Reversed { transaction_id: id, reversal_id })
    }

    pub(super) fn create_account(&mut self, request: NewAccount) -> Result<Outcome, CoreError> {
        let account = match decide_account(self.state, request, self.now_ms) {
            Ok(account) => account,
            Err(decline) => return Ok(Outcome::Declined(decline)),
        };
        self.batch.put(schema::account_key(account.id), &account)?;
        let account_id = account.id;
        self.state.insert_account(account);
        Ok(Outcome::AccountCreated { account_id })
    }

    fn create_sysconfig(&mut self, entry: SysConfig) -> Result<Outcome, CoreError> {
        if self.state.sysconfig.contains_key(&entry.id) {
            return Ok(Outcome::Declined(Decline::SysconfigExists));
        }
        if !valid_sysconfig_value(&entry) {
            return Ok(Outcome::Declined(Decline::InvalidFeeValue));
        }
        self.batch.put(schema::sysconfig_key(&entry.id), &entry)?;
        self.state.sysconfig.insert(entry.id.clone(), Arc::new(entry));
        Ok(Outcome::SysconfigCreated)
    }

    fn update_sysconfig(&mut self, update: SysconfigUpdate) -> Result<Outcome, CoreError> {
        let Some(existing) = self.state.sysconfig.get(&update.id) else {
            return Ok(Outcome::Declined(Decline::SysconfigNotFound));
        };
        let entry = SysConfig {
            id: update.id,
            value: update.value.unwrap_or_else(|| existing.value.clone()),
            read_perm: update.read_perm.unwrap_or_else(|| existing.read_perm.clone()),
            write_perm: update.write_perm.unwrap_or_else(|| existing.write_perm.clone()),
        };
        if !valid_sysconfig_value(&entry) {
            return Ok(Outcome::Declined(Decline::InvalidFeeValue));
        }
        self.batch.put(schema::sysconfig_key(&entry.id), &entry)?;
        self.state.sysconfig.insert(entry.id.clone(), Arc::new(entry));
        Ok(Outcome::SysconfigUpdated)
    }

    fn delete_sysconfig(&mut self, id: &str) -> Result<Outcome, CoreError> {
        if !self.state.sysconfig.contains_key(id) {
            return Ok(Outcome::Declined(Decline::SysconfigNotFound));
        }
        self.batch.delete(schema::sysconfig_key(id));
        self.state.sysconfig.remove(id);
        Ok(Outcome::SysconfigDeleted)
    }

    pub(super) fn add_consumer(&mut self, consumer: NewConsumer) -> Result<Outcome, CoreError> {
        if self.state.consumers.contains_key(&consumer.id) {
            return Ok(Outcome::Declined(Decline::ConsumerExists));
        }
        let record = ConsumerRecord {
            id: consumer.id,
            secret: self.keys.wrap(consumer.id.as_bytes(), &consumer.secret)?,
            permissions: consumer.permissions.clone(),
            active: true,
            created_ms: self.now_ms,
            wallet_scope: consumer.wallet_scope.clone(),
            expires_ms: consumer.expires_ms,
        };
        self.batch.put(schema::consumer_key(&consumer.id), &record)?;
        let consumer = Consumer {
            id: consumer.id,
            secret: consumer.secret,
            permissions: consumer.permissions,
            active: true,
            wallet_scope: consumer.wallet_scope,
            expires_ms: consumer.expires_ms,
        };
        self.state.consumers.insert(consumer.id, Arc::new(consumer));
        Ok(Outcome::ConsumerAdded)
    }

    fn initialize(&mut self, admin: NewConsumer) -> Result<Outcome, CoreError> {
        if !self.state.charts.is_empty() {
            return Ok(Outcome::Declined(Decline::AlreadyInitialized));
        }
        let (chart, journal, accounts) = super::bootstrap::default_chart(self.now_ms);
        self.batch.put(schema::chart_key(&chart.name), &chart)?;
        self.batch.put(schema::journal_key(&journal.name), &journal)?;
        self.state.insert_chart(chart);
        self.state.insert_journal(journal);
        for account in accounts {
            match self.create_account(account)? {
                Outcome::AccountCreated { .. } => {}
                other => panic!("default chart is inconsistent: {other:?}"),
            }
        }
        match self.add_consumer(admin)? {
            Outcome::ConsumerAdded => Ok(Outcome::Initialized),
            other => Ok(other),
        }
    }
}

/// A `fee.*` entry must hold a non-negative decimal amount (flat) or percentage (pct); other
/// entries are free text.
fn valid_sysconfig_value(entry: &SysConfig) -> bool {
    !entry.id.starts_with("fee.")
        || crate::money::Amount::parse(&entry.value).is_ok_and(|value| !value.is_negative())
}

/// Decides whether an account can be created and builds it (pure).
fn decide_account(state: &State, request: NewAccount, now_ms: EpochMs) -> Result<Account, Decline> {
    let Some(chart) = state.chart_name(&request.chart) else {
        return Err(Decline::ChartNotFound { chart: request.chart });
    };
    if state.account_by_code(&request.code).is_some() || request.code == request.chart {
        return Err(Decline::AccountExists { code: request.code });
    }
    let parent_id = if request.parent_code == request.chart {
        None
    } else {
        let parent = state
            .account_by_code(&request.parent_code)
            .filter(|parent| parent.chart == chart)
            .ok_or_else(|| Decline::ParentNotFound { code: request.parent_code.clone() })?;
        if parent.is_final {
            return Err(Decline::ParentNotComposite { code: request.parent_code });
        }
        Some(parent.id)
    };
    Ok(Account {
        id: state.next_account_id,
        code: request.code,
        chart,
        description: request.description,
        account_type: request.account_type,
        is_final: request.is_final,
        parent_id,
        currency_code: request.currency_code,
        tags: request.tags,
        expiration_ms: request.expiration_ms,
        created_ms: now_ms,
    })
}
