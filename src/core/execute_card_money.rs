//! Card authorization on the writer's hot path: a card debit, credit or card-to-card transfer
//! is checked (PIN block, card state, expiry, product, channel, funds, velocity, in that
//! order of precedence), posted, logged, and counted by velocity, all in one commit; a retry
//! with the same RRN gets the stored answer, exactly as for wallets.

use std::sync::Arc;

use super::command::{CardMovement, CardMovementKind, Decline, Outcome};
use super::execute::GroupContext;
use super::tranlog::{
    Tranlog, IRC_APPROVED, ITC_CARD_CREDIT, ITC_CARD_PURCHASE, ITC_CARD_TRANSFER,
    ITC_CARD_WITHDRAWAL,
};
use super::CoreError;
use crate::card::{
    month_index, Card, CardProduct, CardState, Channel, TransactionClass, VelocityProfile,
};
use crate::ledger::post::{self, EntryRequest, TransactionRequest};
use crate::ledger::{Chartbook, Layer, Side, PENDING_LAYER_OFFSET};
use crate::money::Amount;
use crate::wallet::{currency_text, ACQUIRER_ACCOUNT, ISSUER_ACCOUNT};

/// What an approved card movement posts.
struct CardDecision {
    entries: Vec<EntryRequest>,
    recipient: Option<Card>,
}

impl GroupContext<'_> {
    pub(super) fn move_card_money(&mut self, request: CardMovement) -> Result<Outcome, CoreError> {
        if let Some(original) = self.movement_by_rrn(&request.rrn)? {
            if original.fingerprint != request.fingerprint {
                return Ok(Outcome::Declined(Decline::DuplicateRrn));
            }
            // The PIN block is not part of the fingerprint (it is never stored): a retry must
            // still prove it, or a wrong PIN could read back an approval.
            if self
                .card(&request.token)
                .is_ok_and(|card| !self.pin_block_matches(&card, request.pin_block.as_deref()))
            {
                return Ok(Outcome::Declined(Decline::InvalidPin));
            }
            return Ok(match original.decline.clone() {
                Some(decline) => Outcome::Declined(decline),
                None => Outcome::CardMoved { tranlog: Box::new(original), replayed: true },
            });
        }
        let card = match self.card(&request.token) {
            Ok(card) => card,
            Err(decline) => return Ok(Outcome::Declined(decline)),
        };
        let profiles = self.applicable_profiles(&card, &request);
        let decision = self.decide_card_movement(&request, &card, &profiles);
        let mut tranlog = self.card_tranlog(&request, &card);
        let decision = match decision {
            Ok(decision) => self.post_card_movement(&request, decision, &mut tranlog)?,
            Err(decline) => Err(decline),
        };
        let counted: Vec<Arc<VelocityProfile>> = match &decision {
            Ok(()) => profiles,
            Err(_) => profiles.into_iter().filter(|profile| !profile.approvals_only).collect(),
        };
        self.count_velocity(&card, &counted, request.amount)?;
        if let Err(decline) = decision {
            tranlog.irc = decline.result_code().to_owned();
            tranlog.decline = Some(decline.clone());
            tranlog.approval_number = None;
            self.write_tranlog(&tranlog, true)?;
            return Ok(Outcome::Declined(decline));
        }
        self.write_tranlog(&tranlog, true)?;
        Ok(Outcome::CardMoved { tranlog: Box::new(tranlog), replayed: false })
    }

    /// The velocity profiles of the card's product that count this movement.
    fn applicable_profiles(
        &self,
        card: &Card,
        request: &CardMovement,
    ) -> Vec<Arc<VelocityProfile>> {
        let class = class_of(request);
        self.state
            .velocity_profiles
            .values()
            .filter(|profile| {
                profile.product_id == card.product_id && profile.applies(class, request.currency)
            })
            .cloned()
            .collect()
    }

    /// Every check in order of precedence; pure on the group's state.
    fn decide_card_movement(
        &self,
        request: &CardMovement,
        card: &Card,
        profiles: &[Arc<VelocityProfile>],
    ) -> Result<CardDecision, Decline> {
        if !self.pin_block_matches(card, request.pin_block.as_deref()) {
            return Err(Decline::InvalidPin);
        }
        let product = self.usable_card(card, request.channel)?;
        let recipient = match (request.kind, &request.recipient) {
            (CardMovementKind::Transfer, Some(token)) => {
                if *token == card.token {
                    return Err(Decline::SameWallet);
                }
                let recipient = self.card(token)?;
                self.usable_card(&recipient, Channel::Internal)?;
                Some(recipient)
            }
            _ => None,
        };
        let layer = Layer::try_from(request.currency)
            .map_err(|_| Decline::Ledger(post::Reject::AmountOverflow))?;
        if request.kind != CardMovementKind::Credit && self.available(card, layer)? < request.amount
        {
            return Err(Decline::InsufficientFunds);
        }
        if profiles
            .iter()
            .any(|profile| !profile.allows(self.velocity_counter(profile, card), request.amount))
        {
            return Err(Decline::VelocityExceeded);
        }
        let entries = self.card_entries(request, card, recipient.as_ref(), &product, layer)?;
        Ok(CardDecision { entries, recipient })
    }

    /// A PIN block sent for a card with a PIN must be that PIN's; without one nothing is
    /// checked.
    fn pin_block_matches(&self, card: &Card, block: Option<&str>) -> bool {
        match (block, &card.pin_hash) {
            (Some(block), Some(expected)) => self.card_pin_hash(&card.token, block) == *expected,
            _ => true,
        }
    }

    /// The card may be used: active, not expired, its product in force and open to `channel`.
    fn usable_card(&self, card: &Card, channel: Channel) -> Result<Arc<CardProduct>, Decline> {
        match card.state {
            CardState::Active => {}
            CardState::Lost | CardState::Stolen => return Err(Decline::CardLostOrStolen),
            CardState::Fraud => return Err(Decline::CardFraud),
            CardState::Expired => return Err(Decline::CardExpired),
            _ => return Err(Decline::CardNotActive),
        }
        if card.expired_at(month_index(self.now_ms)) {
            return Err(Decline::CardExpired);
        }
        let product = self
            .state
            .card_products
            .get(&card.product_id)
            .filter(|product| product.in_force(self.now_ms));
        let product = product.cloned().ok_or(Decline::ProductNotInForce)?;
        if !product.allows(channel) {
            return Err(Decline::ChannelNotAllowed);
        }
        Ok(product)
    }

    /// The card account's available balance: the currency's accounting and pending layers.
    fn available(&self, card: &Card, layer: Layer) -> Result<Amount, Decline> {
        let pending = layer
            .checked_add(PENDING_LAYER_OFFSET)
            .ok_or(Decline::Ledger(post::Reject::AmountOverflow))?;
        self.state
            .balance(card.account_id, layer)
            .checked_add(self.state.balance(card.account_id, pending))
            .ok_or(Decline::Ledger(post::Reject::AmountOverflow))
    }

    fn card_entries(
        &self,
        request: &CardMovement,
        card: &Card,
        recipient: Option<&Card>,
        product: &CardProduct,
        layer: Layer,
    ) -> Result<Vec<EntryRequest>, Decline> {
        let code_of = |card: &Card| {
            self.state
                .account(card.account_id)
                .map(|account| account.code.clone())
                .ok_or(Decline::InvalidCardAccount)
        };
        let entry = |account: String, side: Side| EntryRequest {
            account_code: account,
            side,
            layer,
            amount: request.amount,
            detail: request.description.clone(),
            tags: class_tag(request).to_owned(),
        };
        let own = code_of(card)?;
        Ok(match (request.kind, recipient) {
            (CardMovementKind::Debit, _) => {
                vec![entry(own, Side::Debit), entry(ACQUIRER_ACCOUNT.to_owned(), Side::Credit)]
            }
            (CardMovementKind::Credit, _) => {
                let issued = product
                    .issued_account
                    .clone()
                    .filter(|code| {
                        self.state.account_by_code(code).is_some_and(|account| account.is_final)
                    })
                    .unwrap_or_else(|| ISSUER_ACCOUNT.to_owned());
                vec![entry(issued, Side::Debit), entry(own, Side::Credit)]
            }
            (CardMovementKind::Transfer, Some(recipient)) => {
                vec![entry(own, Side::Debit), entry(code_of(recipient)?, Side::Credit)]
            }
            (CardMovementKind::Transfer, None) => return Err(Decline::CardNotFound),
        })
    }

    /// Posts an approved movement; a decline if a balance would overflow.
    fn post_card_movement(
        &mut self,
        request: &CardMovement,
        decision: CardDecision,
        tranlog: &mut Tranlog,
    ) -> Result<Result<(), Decline>, CoreError> {
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
        tranlog.transaction_id = Some(transaction.id);
        tranlog.card2 = decision.recipient.map(|recipient| recipient.token);
        match self.commit_transaction(transaction)? {
            Some(decline) => Ok(Err(decline)),
            None => Ok(Ok(())),
        }
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
            customer: holder
                .map(|customer| format!("{} {}", customer.first_name, customer.last_name)),
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

fn class_of(request: &CardMovement) -> TransactionClass {
    match (request.kind, request.channel) {
        (CardMovementKind::Debit, Channel::Atm) => TransactionClass::Withdrawal,
        (CardMovementKind::Debit, _) => TransactionClass::Purchase,
        (CardMovementKind::Credit, _) => TransactionClass::Credit,
        (CardMovementKind::Transfer, _) => TransactionClass::Transfer,
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

/// How the movement is tagged in the ledger and the tranlog (`ssData`).
fn class_tag(request: &CardMovement) -> &'static str {
    match class_of(request) {
        TransactionClass::Purchase => "cardrest::debit",
        TransactionClass::Withdrawal => "cardrest::withdrawal",
        TransactionClass::Credit => "cardrest::credit",
        TransactionClass::Transfer => "cardrest::transfer",
    }
}
