//! The card authorization decision, pure: the group's state, the master key and the clock in;
//! an approval with the entries to post, or a decline, out. The writer loads, calls this, then
//! writes; `benches/core.rs` measures it alone.

use std::sync::Arc;

use base64::Engine as _;

use super::command::{CardMovement, CardMovementKind, Decline};
use super::keys::{hmac_sha256, MasterKey};
use super::state::{State, VelocityKey};
use crate::card::{
    month_index, Card, CardKind, CardProduct, CardState, Channel, TransactionClass,
    VelocityCounter, VelocityProfile, VelocityScope,
};
use crate::clock::EpochMs;
use crate::ledger::post::{self, EntryRequest};
use crate::ledger::{Chartbook, Layer, Side, PENDING_LAYER_OFFSET};
use crate::money::Amount;
use crate::wallet::{ACQUIRER_ACCOUNT, ISSUER_ACCOUNT};

/// What an approved card movement posts.
#[derive(Debug)]
pub struct CardDecision {
    pub entries: Vec<EntryRequest>,
    pub recipient: Option<Arc<Card>>,
}

/// The state a decision reads: one version of it, the key of PIN hashes and the time.
pub struct Authorizer<'a> {
    pub state: &'a State,
    pub keys: &'a MasterKey,
    pub now_ms: EpochMs,
}

impl Authorizer<'_> {
    /// Every check in order of precedence: PIN block, card state, expiry, product, channel,
    /// funds over the currency's accounting and pending layers, velocity.
    pub fn decide(
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
        let entries = self.card_entries(request, card, recipient.as_deref(), &product, layer)?;
        Ok(CardDecision { entries, recipient })
    }

    /// A payment card by token (cashback passes are not cards on these paths). Shared, not
    /// copied: a copy is a dozen strings, each a cache miss in a large store.
    pub fn card(&self, token: &str) -> Result<Arc<Card>, Decline> {
        self.state
            .cards
            .get(token)
            .filter(|card| card.kind == CardKind::Payment)
            .cloned()
            .ok_or(Decline::CardNotFound)
    }

    /// The velocity profiles of the card's product that count this movement.
    pub fn applicable_profiles(
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

    /// A PIN block sent for a card with a PIN must be that PIN's; without one nothing is
    /// checked.
    pub fn pin_block_matches(&self, card: &Card, block: Option<&str>) -> bool {
        match (block, &card.pin_hash) {
            (Some(block), Some(expected)) => self.card_pin_hash(&card.token, block) == *expected,
            _ => true,
        }
    }

    /// The keyed hash a card's PIN block (or gift-card PIN) is kept as.
    pub fn card_pin_hash(&self, token: &str, pin_block: &str) -> String {
        card_pin_hash(self.keys, token, pin_block)
    }

    /// The counter `profile` has for `card` in the current period.
    pub fn velocity_counter(&self, profile: &VelocityProfile, card: &Card) -> VelocityCounter {
        self.state
            .velocity_counters
            .get(&velocity_key(profile, card, self.now_ms))
            .copied()
            .unwrap_or_default()
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
}

/// The keyed hash a card's PIN block (or gift-card PIN) is kept as: salted by the card's token,
/// under a key derived from the master key; never the PIN block itself.
pub fn card_pin_hash(keys: &MasterKey, token: &str, pin_block: &str) -> String {
    let key = keys.derive("cardswitch/card-pin/v1");
    let digest = hmac_sha256(key.expose(), &[token.as_bytes(), &[0], pin_block.trim().as_bytes()]);
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// The counter key of `profile` for `card` at `now_ms`.
pub(super) fn velocity_key(profile: &VelocityProfile, card: &Card, now_ms: EpochMs) -> VelocityKey {
    let scope = match profile.scope {
        VelocityScope::Card => format!("card:{}", card.token),
        VelocityScope::Account => format!("account:{}", card.account_id),
    };
    VelocityKey { profile_id: profile.id, scope, window_start_ms: profile.window_start(now_ms) }
}

pub(super) fn class_of(request: &CardMovement) -> TransactionClass {
    match (request.kind, request.channel) {
        (CardMovementKind::Debit, Channel::Atm) => TransactionClass::Withdrawal,
        (CardMovementKind::Debit, _) => TransactionClass::Purchase,
        (CardMovementKind::Credit, _) => TransactionClass::Credit,
        (CardMovementKind::Transfer, _) => TransactionClass::Transfer,
    }
}

/// How the movement is tagged in the ledger and the tranlog (`ssData`).
pub(super) fn class_tag(request: &CardMovement) -> &'static str {
    match class_of(request) {
        TransactionClass::Purchase => "cardrest::debit",
        TransactionClass::Withdrawal => "cardrest::withdrawal",
        TransactionClass::Credit => "cardrest::credit",
        TransactionClass::Transfer => "cardrest::transfer",
    }
}
