//! Money movements by RRN, run by the writer inside a commit group: credit, debit and transfer
//! (idempotent: a retry with the same RRN and content gets the stored answer), and the
//! reversal or void of an approved movement. Every decided movement is logged in the tranlog.

use std::sync::Arc;

use super::command::{Decline, MoneyMovement, Outcome};
use super::execute::{GroupContext, PreparedTransaction};
use super::execute_wallet::{PinCheck, PreparedWallet};
use super::history;
use super::rrn_index;
use super::tranlog::{is_movement_itc, FeeLine, Tranlog, IRC_APPROVED, ITC_REVERSAL, ITC_VOID};
use super::CoreError;
use crate::ledger::post::{self, balance_deltas, TransactionRequest};
use crate::ledger::{Chartbook, Transaction};
use crate::money::Amount;
use crate::store::{schema, EncodedPut};
use crate::wallet::fees;
use crate::wallet::plan::{self, Movement};
use crate::wallet::{
    currency_of_layer, currency_text, wallet_account_code, Wallet, WalletOwner, WalletState,
    CUSTOMER_ACCOUNT_PREFIX, FEE_ACCOUNT, WALLET_ACCOUNT_PREFIX,
};

/// Journal every wallet movement is posted to.
const JOURNAL: &str = super::bootstrap::DEFAULT_CHART;

/// What a wallet movement comes to, decided and encoded before anything is written.
// Lives on the writer's stack from deciding to writing, moved once: boxing the large variant
// would cost an allocation a movement for nothing (as `CardMoneyDecision`).
#[allow(clippy::large_enum_variant)]
enum MoneyDecision {
    /// Nothing to write: a retry answered from its record.
    Answered(Outcome),
    Decided {
        /// The source wallet with its PIN count changed by the PIN presented.
        counted: Option<PreparedWallet>,
        logged: Logged,
    },
}

/// What a decided movement logs.
enum Logged {
    /// Nothing: a dry run, answered as the movement would be.
    Not(Outcome),
    Declined {
        tranlog: PreparedTranlog,
        decline: Decline,
    },
    Moved {
        transaction: PreparedTransaction,
        tranlog: PreparedTranlog,
    },
}

/// The answer to a retry of the movement logged as `original` (the same RRN).
fn replay_money(request: &MoneyMovement, original: Tranlog) -> Outcome {
    if original.fingerprint != request.fingerprint {
        return Outcome::Declined(Decline::DuplicateRrn);
    }
    match original.decline.clone() {
        Some(decline) => Outcome::Declined(decline),
        None => Outcome::MoneyMoved { tranlog: Box::new(original), replayed: true },
    }
}

/// What deciding a movement produced.
struct Decision {
    plan: plan::MovementPlan,
    fees: Vec<FeeLine>,
    source: Arc<Wallet>,
    destination: Option<Arc<Wallet>>,
}

impl GroupContext<'_> {
    /// Decides a wallet movement, then writes it: every step that can fail or decline runs in
    /// `decide_money`, which cannot change the group, and the writing cannot fail, so the
    /// command needs no savepoint (`GroupContext::execute`), as card movements do not.
    pub(super) fn move_money(&mut self, request: MoneyMovement) -> Result<Outcome, CoreError> {
        let decided = self.decide_money(&request)?;
        Ok(self.write_money(decided))
    }

    fn decide_money(&self, request: &MoneyMovement) -> Result<MoneyDecision, CoreError> {
        if !request.dry_run {
            if let Some(original) = self.movement_by_rrn(&request.rrn)? {
                return Ok(MoneyDecision::Answered(replay_money(request, original)));
            }
        }
        let (pin_verdict, counted) = match self.presented_pin(request)? {
            Some(PinCheck { verdict, counted }) => (verdict, counted),
            None => (Ok(()), None),
        };
        let decision = pin_verdict.and_then(|()| self.decide_movement(request));
        let mut tranlog = self.new_tranlog(request, decision.as_ref().ok());
        if request.dry_run {
            let outcome = match decision {
                Ok(_) => Outcome::MoneyMoved { tranlog: Box::new(tranlog), replayed: false },
                Err(decline) => Outcome::Declined(decline),
            };
            return Ok(MoneyDecision::Decided { counted, logged: Logged::Not(outcome) });
        }
        let posting = match decision {
            Ok(decision) => self.prepare_movement_posting(request, decision, &mut tranlog)?,
            Err(decline) => Err(decline),
        };
        let logged = match posting {
            Ok(transaction) => {
                Logged::Moved { transaction, tranlog: PreparedTranlog::new(tranlog, true)? }
            }
            Err(decline) => {
                tranlog.mark_declined(&decline);
                Logged::Declined { tranlog: PreparedTranlog::new(tranlog, true)?, decline }
            }
        };
        Ok(MoneyDecision::Decided { counted, logged })
    }

    /// Writes what `decide_money` decided; nothing here can fail.
    fn write_money(&mut self, decided: MoneyDecision) -> Outcome {
        let (counted, logged) = match decided {
            MoneyDecision::Answered(outcome) => return outcome,
            MoneyDecision::Decided { counted, logged } => (counted, logged),
        };
        // The PIN's count is written whatever the answer, dry runs included.
        if let Some(counted) = counted {
            self.apply_wallet(counted);
        }
        match logged {
            Logged::Not(outcome) => outcome,
            Logged::Declined { tranlog, decline } => {
                self.apply_tranlog(tranlog);
                Outcome::Declined(decline)
            }
            Logged::Moved { transaction, tranlog } => {
                self.apply_transaction(transaction);
                let tranlog = self.apply_tranlog(tranlog);
                Outcome::MoneyMoved { tranlog: Box::new(Tranlog::clone(&tranlog)), replayed: false }
            }
        }
    }

    /// The posting of a decided movement, checked and encoded (and named in `tranlog` if it
    /// posts); a decline if a balance would overflow.
    fn prepare_movement_posting(
        &self,
        request: &MoneyMovement,
        decision: Decision,
        tranlog: &mut Tranlog,
    ) -> Result<Result<PreparedTransaction, Decline>, CoreError> {
        let transaction_request = TransactionRequest {
            journal: JOURNAL.to_owned(),
            post_date_ms: self.now_ms,
            detail: if request.description.is_empty() {
                format!("{} {}", request.movement.itc(), request.amount)
            } else {
                request.description.clone()
            },
            tags: request.kind.clone(),
            entries: decision.plan.entries,
        };
        let mut transaction = post::plan(
            &*self.state,
            &transaction_request,
            self.state.next_transaction_id,
            self.now_ms,
        )
        .map_err(|reject| {
            CoreError::Corrupt(format!("a decided wallet movement does not post: {reject:?}"))
        })?;
        transaction.reference = Some(tranlog.id);
        let transaction_id = transaction.id;
        let prepared = self.prepare_transaction(transaction)?;
        if prepared.is_ok() {
            // A declined movement names no transaction: none was written.
            tranlog.transaction_id = Some(transaction_id);
        }
        Ok(prepared)
    }

    /// The PIN a debit or transfer carries, checked (and counted towards the lock) like a
    /// login's, dry runs included so that they cannot be used to guess; `None` if it carries
    /// none, or names a wallet the movement's own checks decline.
    fn presented_pin(&self, request: &MoneyMovement) -> Result<Option<PinCheck>, CoreError> {
        let Some(pin) = &request.pin else { return Ok(None) };
        match self.state.wallets.get(&request.wallet) {
            Some(wallet) if wallet.state != WalletState::Deleted => {
                self.prepare_pin_check(Wallet::clone(wallet), pin).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Checks wallets, fees and funds (pure on the group's state).
    fn decide_movement(&self, request: &MoneyMovement) -> Result<Decision, Decline> {
        let source = self.movable_wallet(&request.wallet)?;
        let destination = match (&request.destination, request.movement) {
            (Some(code), Movement::Transfer) => {
                if *code == request.wallet {
                    return Err(Decline::SameWallet);
                }
                Some(self.movable_wallet(code)?)
            }
            _ => None,
        };
        let layer =
            request.layers.first().copied().ok_or(Decline::Ledger(post::Reject::TooFewEntries))?;
        let currency = currency_text(currency_of_layer(layer));
        let rules = self.state.fee_rules(&request.kind, &currency);
        let overflow = || Decline::Ledger(post::Reject::AmountOverflow);
        let charged = fees::charge(&rules, request.amount).ok_or_else(overflow)?;
        let destination_account =
            destination.as_ref().map(|wallet| wallet_account_code(&wallet.code));
        let plan = plan::plan(
            request.movement,
            &wallet_account_code(&source.code),
            destination_account.as_deref(),
            layer,
            request.amount,
            &charged,
            &request.kind,
        )
        .ok_or_else(overflow)?;
        if plan.payer_outflow.units() > 0 {
            let available = request
                .layers
                .iter()
                .try_fold(Amount::ZERO, |sum, layer| {
                    sum.checked_add(self.state.balance(source.account_id, *layer))
                })
                .ok_or_else(overflow)?;
            if available < plan.payer_outflow {
                return Err(Decline::InsufficientFunds);
            }
        }
        let fees = charged
            .into_iter()
            .map(|fee| FeeLine {
                name: fee.name,
                account: FEE_ACCOUNT.to_owned(),
                amount: fee.amount,
            })
            .collect();
        Ok(Decision { plan, fees, source, destination })
    }

    fn movable_wallet(&self, code: &str) -> Result<Arc<Wallet>, Decline> {
        let wallet = self.state.wallets.get(code).ok_or(Decline::WalletNotFound)?;
        match wallet.state {
            WalletState::Active => Ok(Arc::clone(wallet)),
            WalletState::Blocked => Err(Decline::WalletBlocked),
            WalletState::Deleted => Err(Decline::WalletDeleted),
        }
    }

    /// A tranlog record for `request`, approved as far as `decision` goes.
    fn new_tranlog(&self, request: &MoneyMovement, decision: Option<&Decision>) -> Tranlog {
        let id = if request.dry_run { 0 } else { self.state.next_tranlog_id };
        let layer = request.layers.first().copied().unwrap_or_default();
        let holder =
            |wallet: Option<&Arc<Wallet>>| wallet.and_then(|wallet| self.holder_name(wallet));
        Tranlog {
            id,
            date_ms: self.now_ms,
            itc: request.movement.itc().to_owned(),
            irc: IRC_APPROVED.to_owned(),
            rrn: request.rrn.clone(),
            approval_number: (!request.dry_run).then(|| Tranlog::approval_number_for(id)),
            amount: request.amount,
            amount_with_fees: decision
                .map_or(request.amount, |decision| decision.plan.amount_with_fees),
            fees: decision.map(|decision| decision.fees.clone()).unwrap_or_default(),
            currency_code: currency_text(currency_of_layer(layer)),
            layers: request.layers.clone(),
            wallet1: Some(request.wallet.clone()),
            wallet2: request.destination.clone(),
            customer: holder(decision.map(|decision| &decision.source)),
            customer2: holder(decision.and_then(|decision| decision.destination.as_ref())),
            ss_data: Some(request.kind.clone()),
            type_description: self
                .state
                .sysconfig
                .get(&format!("type.{}", request.kind))
                .map(|entry| entry.value.clone()),
            geo_location: request.geo_location.clone(),
            json_request: request.json_request.clone(),
            fingerprint: request.fingerprint.clone(),
            transaction_id: None,
            decline: None,
            reversal_count: 0,
            reversal_id: None,
            void_count: 0,
            void_id: None,
            original_id: None,
            card: None,
            card2: None,
            channel: None,
        }
    }

    fn holder_name(&self, wallet: &Wallet) -> Option<String> {
        match &wallet.owner {
            WalletOwner::Customer(real_id) => {
                self.state.customers.get(real_id).map(|customer| customer.full_name())
            }
            WalletOwner::Agent(id) => self.state.agents.get(id).map(|agent| agent.name.clone()),
            WalletOwner::None => None,
        }
    }

    /// Writes a tranlog record. By RRN, a new one is found in `written.rrns` for the rest of
    /// the group, in the writer's recent RRNs once the group is applied, and in the RRN index
    /// (as in the card and wallet index) once it is published (`rrn_index.rs`).
    /// A record written before (`new` false) is written as its revision (`history.rs`).
    pub(super) fn write_tranlog(&mut self, tranlog: &Tranlog, new: bool) -> Result<(), CoreError> {
        let prepared = PreparedTranlog::new(tranlog.clone(), new)?;
        self.apply_tranlog(prepared);
        Ok(())
    }

    /// Writes a prepared tranlog record (`write_tranlog` without what can fail); returns it as
    /// the group keeps it.
    pub(super) fn apply_tranlog(&mut self, prepared: PreparedTranlog) -> Arc<Tranlog> {
        let PreparedTranlog { tranlog, record, new } = prepared;
        self.batch.put_encoded(record);
        if new {
            let key = rrn_index::rrn_key(&tranlog.rrn);
            self.written.rrns.entry(key).or_default().push_back(tranlog.id);
            self.state.next_tranlog_id =
                self.state.next_tranlog_id.max(tranlog.id.saturating_add(1));
        }
        let tranlog = Arc::new(tranlog);
        self.written.tranlogs.insert(tranlog.id, Arc::clone(&tranlog));
        tranlog
    }

    /// Every tranlog record with `rrn`, oldest first: applied groups' and this group's
    /// included.
    fn tranlogs_by_rrn(&self, rrn: &str) -> Result<Vec<Tranlog>, CoreError> {
        let key = rrn_index::rrn_key(rrn);
        let mut ids = self.rrns.candidates(key)?;
        if let Some(written) = self.written.rrns.get(&key) {
            ids.extend(written.iter().copied());
            ids.sort_unstable();
            ids.dedup();
        }
        let mut records = Vec::with_capacity(ids.len());
        for id in ids {
            let record = match self.written.tranlogs.get(&id) {
                Some(record) => Tranlog::clone(record),
                None => history::tranlog(self.store, id)?.ok_or_else(|| {
                    CoreError::Corrupt(format!("RRN index names missing tranlog {id}"))
                })?,
            };
            // Another RRN may share the key.
            if record.rrn == rrn {
                records.push(record);
            }
        }
        Ok(records)
    }

    /// The credit, debit or transfer logged under `rrn`, approved or not.
    pub(super) fn movement_by_rrn(&self, rrn: &str) -> Result<Option<Tranlog>, CoreError> {
        Ok(self.tranlogs_by_rrn(rrn)?.into_iter().find(|record| is_movement_itc(&record.itc)))
    }

    pub(super) fn reverse_by_rrn(&mut self, rrn: &str) -> Result<Outcome, CoreError> {
        let mut original = match self.undoable(rrn)? {
            Ok(original) => original,
            Err(decline) => return Ok(Outcome::Declined(decline)),
        };
        let undo = self.undo(
            &original,
            ITC_REVERSAL,
            rrn.to_owned(),
            Decline::FurtherActivityPreventsReversal,
        )?;
        let reversal = match undo {
            Ok(reversal) => reversal,
            Err(decline) => return Ok(Outcome::Declined(decline)),
        };
        original.reversal_count = original.reversal_count.saturating_add(1);
        original.reversal_id = Some(reversal.id);
        self.write_tranlog(&original, false)?;
        Ok(Outcome::ReversedByRrn { tranlog_id: reversal.id })
    }

    pub(super) fn void_by_rrn(&mut self, rrn: &str) -> Result<Outcome, CoreError> {
        let mut original = match self.undoable(rrn)? {
            Ok(original) => original,
            Err(decline) => return Ok(Outcome::Declined(decline)),
        };
        // A void is a new transaction with its own RRN: `V` and its tranlog id, unique and
        // never equal to an RRN of a client's (those are named before the switch sees them,
        // so a bare number could collide).
        let void_rrn = format!("V{}", self.state.next_tranlog_id);
        let void =
            match self.undo(&original, ITC_VOID, void_rrn, Decline::FurtherActivityPreventsVoid)? {
                Ok(void) => void,
                Err(decline) => return Ok(Outcome::Declined(decline)),
            };
        original.void_count = original.void_count.saturating_add(1);
        original.void_id = Some(void.id);
        self.write_tranlog(&original, false)?;
        Ok(Outcome::Voided { void: Box::new(void), original: Box::new(original) })
    }

    /// The approved movement under `rrn` if it may still be undone.
    fn undoable(&self, rrn: &str) -> Result<Result<Tranlog, Decline>, CoreError> {
        let original = self.movement_by_rrn(rrn)?.filter(Tranlog::is_approved);
        Ok(match original {
            None => Err(Decline::OriginalNotFound),
            Some(original) if original.void_count > 0 => Err(Decline::OriginalVoided),
            Some(original) if original.reversal_count > 0 => Err(Decline::PreviouslyReversed),
            Some(original) => Ok(original),
        })
    }

    /// Posts the negated copy of `original`'s GL transaction and logs it as a new record,
    /// unless that would leave a wallet below zero (money already moved on).
    fn undo(
        &mut self,
        original: &Tranlog,
        itc: &str,
        rrn: String,
        further_activity: Decline,
    ) -> Result<Result<Tranlog, Decline>, CoreError> {
        let transaction_id = original.transaction_id.ok_or_else(|| {
            CoreError::Corrupt(format!("approved tranlog {} has no transaction", original.id))
        })?;
        let mut gl_original: Transaction =
            self.load_transaction(transaction_id)?.ok_or_else(|| {
                CoreError::Corrupt(format!("tranlog {} names missing transaction", original.id))
            })?;
        let record_id = self.state.next_tranlog_id;
        let Ok(mut reversal) =
            post::reversal(&gl_original, self.state.next_transaction_id, self.now_ms, self.now_ms)
        else {
            return Ok(Err(Decline::Ledger(post::Reject::AmountOverflow)));
        };
        reversal.reference = Some(record_id);
        if self.touches_a_deleted_wallet(original) {
            return Ok(Err(Decline::WalletDeleted));
        }
        if self.would_overdraw_a_wallet(&reversal) {
            return Ok(Err(further_activity));
        }
        let reversal_id = reversal.id;
        if let Some(decline) = self.commit_transaction(reversal)? {
            return Ok(Err(decline));
        }
        gl_original.reversal_count = gl_original.reversal_count.saturating_add(1);
        self.batch.put(schema::transaction_revision_key(gl_original.id), &gl_original)?;
        self.written.transactions.insert(gl_original.id, Arc::new(gl_original));
        let record = Tranlog {
            id: record_id,
            date_ms: self.now_ms,
            itc: itc.to_owned(),
            irc: IRC_APPROVED.to_owned(),
            rrn,
            approval_number: Some(Tranlog::approval_number_for(record_id)),
            transaction_id: Some(reversal_id),
            original_id: Some(original.id),
            reversal_count: 0,
            reversal_id: None,
            void_count: 0,
            void_id: None,
            json_request: String::new(),
            fingerprint: String::new(),
            ..original.clone()
        };
        self.write_tranlog(&record, true)?;
        Ok(Ok(record))
    }

    /// Money put back into a deleted wallet could never leave it again.
    fn touches_a_deleted_wallet(&self, original: &Tranlog) -> bool {
        [&original.wallet1, &original.wallet2].into_iter().flatten().any(|code| {
            self.state.wallets.get(code).is_some_and(|wallet| wallet.state == WalletState::Deleted)
        })
    }

    fn would_overdraw_a_wallet(&self, transaction: &Transaction) -> bool {
        let Ok(deltas) = balance_deltas(&*self.state, transaction) else { return true };
        deltas.iter().any(|delta| {
            // Wallet and cardholder accounts hold customers' money: never below zero.
            let is_wallet = self.state.account(delta.account_id).is_some_and(|account| {
                account.is_final
                    && (account.code.starts_with(WALLET_ACCOUNT_PREFIX)
                        || account.code.starts_with(CUSTOMER_ACCOUNT_PREFIX))
            });
            let after = self.state.balance(delta.account_id, delta.layer).checked_add(delta.delta);
            is_wallet && after.is_none_or(|balance| balance.is_negative())
        })
    }
}

/// A tranlog record encoded for the batch: writing it cannot fail (`GroupContext::apply_tranlog`).
pub(super) struct PreparedTranlog {
    tranlog: Tranlog,
    record: EncodedPut,
    /// False for a revision of a record written before.
    new: bool,
}

impl PreparedTranlog {
    pub(super) fn new(tranlog: Tranlog, new: bool) -> Result<PreparedTranlog, CoreError> {
        let key = if new {
            schema::tranlog_key(tranlog.id)
        } else {
            schema::tranlog_revision_key(tranlog.id)
        };
        let record = EncodedPut::new(key, &tranlog)?;
        Ok(PreparedTranlog { tranlog, record, new })
    }
}
