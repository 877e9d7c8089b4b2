//! Card authorization on the writer's hot path: a card debit, credit or card-to-card transfer
//! is decided by `authorize` (PIN block, card state, expiry, product, channel, funds, velocity,
//! in that order of precedence), then posted, logged, and counted by velocity, all in one
//! commit; a retry with the same RRN gets the stored answer, exactly as for wallets.

use std::sync::Arc;

use super::authorize::{class_of, class_tag, CardDecision};
use super::command::{CardMovement, Decline, Outcome};
use super::execute::{GroupContext, PreparedTransaction};
use super::execute_card::PreparedCounts;
use super::execute_money::PreparedTranlog;
use super::tranlog::{
    Tranlog, IRC_APPROVED, ITC_CARD_CREDIT, ITC_CARD_PURCHASE, ITC_CARD_TRANSFER,
    ITC_CARD_WITHDRAWAL,
};
use super::CoreError;
use crate::card::{Card, TransactionClass, VelocityProfile};
use crate::ledger::post::{self, TransactionRequest};
use crate::ledger::PENDING_LAYER_OFFSET;
use crate::wallet::currency_text;

impl GroupContext<'_> {
    /// Decides a card movement, then writes it: every step that can fail or decline runs in
    /// `decide_card_money`, which cannot change the group, and the writing cannot fail, so the
    /// command needs no savepoint (`GroupContext::execute`).
    pub(super) fn move_card_money(&mut self, request: CardMovement) -> Result<Outcome, CoreError> {
        let decided = self.decide_card_money(&request)?;
        Ok(self.write_card_money(decided))
    }

    fn decide_card_money(&self, request: &CardMovement) -> Result<CardMoneyDecision, CoreError> {
        if let Some(original) = self.movement_by_rrn(&request.rrn)? {
            return Ok(CardMoneyDecision::Answered(self.replay_card_money(request, original)));
        }
        let authorizer = self.authorizer();
        let card = match authorizer.card(&request.token) {
            Ok(card) => card,
            Err(decline) => return Ok(CardMoneyDecision::Answered(Outcome::Declined(decline))),
        };
        let profiles = authorizer.applicable_profiles(&card, request);
        let decision = authorizer.decide(request, &card, &profiles);
        let mut tranlog = self.card_tranlog(request, &card);
        let posting = match decision {
            Ok(decision) => self.prepare_card_posting(request, decision, &mut tranlog)?,
            Err(decline) => Err(decline),
        };
        let counted: Vec<Arc<VelocityProfile>> = match &posting {
            Ok(_) => profiles,
            Err(_) => profiles.into_iter().filter(|profile| !profile.approvals_only).collect(),
        };
        let counts = self.prepare_velocity(&card, &counted, request.amount)?;
        let (transaction, decline) = match posting {
            Ok(transaction) => (Some(transaction), None),
            Err(decline) => {
                tranlog.mark_declined(&decline);
                (None, Some(decline))
            }
        };
        let tranlog = PreparedTranlog::new(tranlog, true)?;
        Ok(CardMoneyDecision::Logged { transaction, counts, tranlog, decline })
    }

    /// The answer to a retry of the movement logged as `original` (the same RRN).
    fn replay_card_money(&self, request: &CardMovement, original: Tranlog) -> Outcome {
        if original.fingerprint != request.fingerprint {
            return Outcome::Declined(Decline::DuplicateRrn);
        }
        // The PIN block is not part of the fingerprint (it is never stored): a retry must
        // still prove it, or a wrong PIN could read back an approval.
        let authorizer = self.authorizer();
        if authorizer
            .card(&request.token)
            .is_ok_and(|card| !authorizer.pin_block_matches(&card, request.pin_block.as_deref()))
        {
            return Outcome::Declined(Decline::InvalidPin);
        }
        match original.decline.clone() {
            Some(decline) => Outcome::Declined(decline),
            None => Outcome::CardMoved { tranlog: Arc::new(original), replayed: true },
        }
    }

    /// Writes what `decide_card_money` decided; nothing here can fail.
    fn write_card_money(&mut self, decided: CardMoneyDecision) -> Outcome {
        match decided {
            CardMoneyDecision::Answered(outcome) => outcome,
            CardMoneyDecision::Logged { transaction, counts, tranlog, decline } => {
                if let Some(transaction) = transaction {
                    self.apply_transaction(transaction);
                }
                self.apply_velocity(counts);
                let tranlog = self.apply_tranlog(tranlog);
                match decline {
                    Some(decline) => Outcome::Declined(decline),
                    None => Outcome::CardMoved { tranlog, replayed: false },
                }
            }
        }
    }

    /// The posting of an approved movement, checked and encoded; a decline if a balance would
    /// overflow.
    fn prepare_card_posting(
        &self,
        request: &CardMovement,
        decision: CardDecision,
        tranlog: &mut Tranlog,
    ) -> Result<Result<PreparedTransaction, Decline>, CoreError> {
        let transaction_request = TransactionRequest {
            journal: super::bootstrap::DEFAULT_CHART.to_owned(),
            post_date_ms: self.now_ms,
            detail: if request.description.is_empty() {
                format!("{} {}", tranlog.itc, request.amount)
            } else {
                request.description.clone()
            },
            tags: class_tag(request).to_owned(),
            entries: decision.entries,
        };
        let mut transaction = post::plan(
            &*self.state,
            &transaction_request,
            self.state.next_transaction_id,
            self.now_ms,
        )
        .map_err(|reject| {
            CoreError::Corrupt(format!("a decided card movement does not post: {reject:?}"))
        })?;
        transaction.reference = Some(tranlog.id);
        let transaction_id = transaction.id;
        let prepared = self.prepare_transaction(transaction)?;
        if prepared.is_ok() {
            // A declined movement names no transaction: none was written.
            tranlog.transaction_id = Some(transaction_id);
            tranlog.card2 = decision.recipient.map(|recipient| recipient.token.clone());
        }
        Ok(prepared)
    }

    /// A tranlog record of `request`, approved until a decline says otherwise.
    fn card_tranlog(&self, request: &CardMovement, card: &Card) -> Tranlog {
        let id = self.state.next_tranlog_id;
        let holder = card.cardholder.as_ref().and_then(|real_id| self.state.customers.get(real_id));
        let pending = i16::try_from(request.currency)
            .ok()
            .and_then(|layer| layer.checked_add(PENDING_LAYER_OFFSET));
        Tranlog {
            id,
            date_ms: self.now_ms,
            itc: itc_of(request).to_owned(),
            irc: IRC_APPROVED.to_owned(),
            rrn: request.rrn.clone(),
            approval_number: Some(Tranlog::approval_number_for(id)),
            amount: request.amount,
            amount_with_fees: request.amount,
            fees: Vec::new(),
            currency_code: currency_text(request.currency),
            layers: i16::try_from(request.currency).into_iter().chain(pending).collect(),
            wallet1: None,
            wallet2: None,
            customer: holder.map(|customer| customer.full_name()),
            customer2: None,
            ss_data: Some(class_tag(request).to_owned()),
            type_description: None,
            geo_location: None,
            json_request: request.json_request.clone(),
            fingerprint: request.fingerprint.clone(),
            transaction_id: None,
            decline: None,
            reversal_count: 0,
            reversal_id: None,
            void_count: 0,
            void_id: None,
            original_id: None,
            card: Some(card.token.clone()),
            card2: request.recipient.clone(),
            channel: request.channel_name.clone(),
        }
    }
}

fn itc_of(request: &CardMovement) -> &'static str {
    match class_of(request) {
        TransactionClass::Purchase => ITC_CARD_PURCHASE,
        TransactionClass::Withdrawal => ITC_CARD_WITHDRAWAL,
        TransactionClass::Credit => ITC_CARD_CREDIT,
        TransactionClass::Transfer => ITC_CARD_TRANSFER,
    }
}

/// What a card movement comes to, decided and encoded before anything is written.
// Lives on the writer's stack from deciding to writing, moved once: boxing the large variant
// would cost an allocation a card movement for nothing.
#[allow(clippy::large_enum_variant)]
enum CardMoneyDecision {
    /// Nothing to write: a retry answered from its record, or a card that cannot be found.
    Answered(Outcome),
    /// A movement to log: its posting if approved, its velocity counts and its tranlog record.
    Logged {
        transaction: Option<PreparedTransaction>,
        counts: PreparedCounts,
        tranlog: PreparedTranlog,
        decline: Option<Decline>,
    },
}
