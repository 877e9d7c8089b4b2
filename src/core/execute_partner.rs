//! Card-issuing API commands, run by the writer inside a commit group: partners, the request
//! log that makes every request id single-use (checked and written in the same commit as the
//! request's effects), partner-issued payment cards and gift-card orders.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::command::{
    CardMovement, CardMovementKind, CardNumber, Command, Decline, GiftOrder, IssuedGiftCard,
    NewAccount, NewCard, NewCustomer, Outcome,
};
use super::execute::GroupContext;
use super::keys::{self, SecretBytes, WrappedSecret};
use super::CoreError;
use crate::card::{CardState, Channel};
use crate::clock::EpochMs;
use crate::ledger::AccountType;
use crate::store::schema;
use crate::wallet::{CustomerDetails, CUSTOMERS_PARENT};

/// A registered partner, its key unwrapped in memory only.
#[derive(Debug, Clone)]
pub struct Partner {
    pub auth_id: String,
    pub key: SecretBytes,
}

/// A partner as stored: its key wrapped by the master key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartnerRecord {
    pub auth_id: String,
    pub key: WrappedSecret,
    pub created_ms: EpochMs,
}

/// What the switch did with one request of a partner (answered by `request/status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub auth_id: String,
    pub request_id: String,
    pub method: String,
    pub processed_ms: EpochMs,
    /// Why it was declined; `None` when it succeeded.
    pub decline: Option<Decline>,
    /// What it produced: a card token, an order id, an approval number.
    pub reference: Option<String>,
}

/// Digits of a gift card's PIN.
const GIFT_PIN_DIGITS: usize = 4;

impl GroupContext<'_> {
    pub(super) fn add_partner(
        &mut self,
        auth_id: String,
        key: SecretBytes,
    ) -> Result<Outcome, CoreError> {
        if self.state.partners.contains_key(&auth_id) {
            return Ok(Outcome::Declined(Decline::PartnerExists));
        }
        let record = PartnerRecord {
            auth_id: auth_id.clone(),
            key: self.keys.wrap(auth_id.as_bytes(), &key)?,
            created_ms: self.now_ms,
        };
        self.batch.put(schema::partner_key(&auth_id), &record)?;
        self.state.partners.insert(auth_id.clone(), Arc::new(Partner { auth_id, key }));
        Ok(Outcome::PartnerAdded)
    }

    pub(super) fn partner_request(
        &mut self,
        auth_id: String,
        request_id: String,
        method: String,
        inner: Option<Box<Command>>,
    ) -> Result<Outcome, CoreError> {
        let key = schema::partner_request_key(&auth_id, &request_id);
        let seen = self.written.requests.contains(&key)
            || self.store.get::<RequestRecord>(&key)?.is_some();
        if seen {
            return Ok(Outcome::Declined(Decline::DuplicateRequest));
        }
        let outcome = match inner {
            Some(command) => self.execute_inner(*command)?,
            None => Outcome::RequestRecorded,
        };
        let record = RequestRecord {
            auth_id,
            request_id,
            method,
            processed_ms: self.now_ms,
            decline: match &outcome {
                Outcome::Declined(decline) => Some(decline.clone()),
                _ => None,
            },
            reference: reference_of(&outcome),
        };
        self.batch.put(key.clone(), &record)?;
        self.written.requests.insert(key);
        Ok(outcome)
    }

    /// Opens the customer and issues the card, or (on any decline) neither.
    pub(super) fn issue_partner_card(
        &mut self,
        auth_id: &str,
        customer: NewCustomer,
        product: &str,
        is_virtual: bool,
        expiration: String,
    ) -> Result<Outcome, CoreError> {
        let savepoint = self.savepoint();
        let outcome =
            self.issue_partner_card_steps(auth_id, customer, product, is_virtual, expiration)?;
        if matches!(outcome, Outcome::Declined(_)) {
            self.rollback(savepoint);
        }
        Ok(outcome)
    }

    fn issue_partner_card_steps(
        &mut self,
        auth_id: &str,
        customer: NewCustomer,
        product: &str,
        is_virtual: bool,
        expiration: String,
    ) -> Result<Outcome, CoreError> {
        let bin = match self.issuing_bin(product) {
            Ok(bin) => bin,
            Err(decline) => return Ok(Outcome::Declined(decline)),
        };
        let real_id = customer.real_id.clone();
        match self.create_customer(customer)? {
            Outcome::CustomerCreated { .. } => {}
            other => return Ok(other),
        }
        let card = NewCard {
            product: product.to_owned(),
            cardholder: real_id,
            account_code: None,
            number: CardNumber::Generate { bin },
            expiration,
            service_code: "101".to_owned(),
            embossing_name: None,
            is_virtual,
        };
        self.issue_active_card(card, auth_id, None)
    }

    /// Issues a card, activates it and marks it as the partner's (with a PIN when given).
    fn issue_active_card(
        &mut self,
        card: NewCard,
        auth_id: &str,
        pin: Option<&str>,
    ) -> Result<Outcome, CoreError> {
        let Outcome::CardIssued { card, pan } = self.issue_card(card)? else {
            return Err(CoreError::Corrupt("a checked card could not be issued".to_owned()));
        };
        let mut card = *card;
        card.state = CardState::Active;
        card.partner = Some(auth_id.to_owned());
        card.pin_hash = pin.map(|pin| self.card_pin_hash(&card.token, pin));
        self.write_card(card.clone())?;
        Ok(Outcome::CardIssued { card: Box::new(card), pan })
    }

    /// The BIN of a product that exists, is in force now, and has a BIN to issue from.
    fn issuing_bin(&self, product: &str) -> Result<String, Decline> {
        let by_id =
            product.parse::<u64>().ok().and_then(|id| self.state.card_products.get(&id).cloned());
        let found = by_id.or_else(|| {
            self.state
                .card_products
                .values()
                .find(|candidate| candidate.name == product || candidate.code == product)
                .cloned()
        });
        let product = found.ok_or(Decline::CardProductNotFound)?;
        if !product.in_force(self.now_ms) {
            return Err(Decline::ProductNotInForce);
        }
        product.bin.clone().filter(|bin| bin.len() == 6).ok_or(Decline::InvalidBin)
    }

    /// Issues a gift-card order entirely, or (on any decline) not at all.
    pub(super) fn issue_gift_cards(&mut self, order: GiftOrder) -> Result<Outcome, CoreError> {
        let savepoint = self.savepoint();
        let outcome = self.issue_gift_order(order)?;
        if matches!(outcome, Outcome::Declined(_)) {
            self.rollback(savepoint);
        }
        Ok(outcome)
    }

    fn issue_gift_order(&mut self, order: GiftOrder) -> Result<Outcome, CoreError> {
        let bin = match self.issuing_bin(&order.product) {
            Ok(bin) => bin,
            Err(decline) => return Ok(Outcome::Declined(decline)),
        };
        let holder = format!("gift-{}", order.order_id);
        let customer = NewCustomer {
            real_id: holder.clone(),
            active: true,
            institution_id: order.auth_id.clone(),
            first_name: "Gift".to_owned(),
            last_name: "Card".to_owned(),
            details: CustomerDetails::default(),
            currency_codes: vec![order.currency],
            wallet: None,
        };
        match self.create_customer(customer)? {
            Outcome::CustomerCreated { .. } => {}
            other => return Ok(other),
        }
        let mut cards = Vec::new();
        for index in 0..order.count {
            // `.00` is the order customer's own account; each card gets its own from `.01`.
            let account_code =
                format!("{CUSTOMERS_PARENT}.{holder}.{:02}", index.saturating_add(1));
            self.gift_account(&account_code, &holder)?;
            let pin = random_digits(GIFT_PIN_DIGITS)?;
            let card = NewCard {
                product: order.product.clone(),
                cardholder: holder.clone(),
                account_code: Some(account_code),
                number: CardNumber::Generate { bin: bin.clone() },
                expiration: order.expiration.clone(),
                service_code: "101".to_owned(),
                embossing_name: None,
                is_virtual: true,
            };
            let Outcome::CardIssued { card, pan } =
                self.issue_active_card(card, &order.auth_id, Some(&pin))?
            else {
                return Err(CoreError::Corrupt("a gift card was not issued".to_owned()));
            };
            if let Some(decline) = self.load_gift_card(&card.token, &order, index)? {
                return Ok(Outcome::Declined(decline));
            }
            cards.push(IssuedGiftCard { card: *card, pan: pan.unwrap_or_default(), pin });
        }
        Ok(Outcome::GiftCardsIssued { order_id: order.order_id, cards })
    }

    fn gift_account(&mut self, code: &str, holder: &str) -> Result<(), CoreError> {
        let account = NewAccount {
            chart: super::bootstrap::DEFAULT_CHART.to_owned(),
            code: code.to_owned(),
            description: format!("Gift card of order {holder}"),
            account_type: AccountType::Credit,
            parent_code: format!("{CUSTOMERS_PARENT}.{holder}"),
            is_final: true,
            currency_code: None,
            tags: String::new(),
            expiration_ms: None,
        };
        match self.create_account(account)? {
            Outcome::AccountCreated { .. } => Ok(()),
            other => Err(CoreError::Corrupt(format!("gift card account {code}: {other:?}"))),
        }
    }

    /// Activation credits a gift card with the order's amount (logged like any card credit).
    fn load_gift_card(
        &mut self,
        token: &str,
        order: &GiftOrder,
        index: u32,
    ) -> Result<Option<Decline>, CoreError> {
        let credit = CardMovement {
            kind: CardMovementKind::Credit,
            token: token.to_owned(),
            recipient: None,
            amount: order.amount,
            currency: order.currency,
            channel: Channel::Internal,
            channel_name: Some("gift-card-activation".to_owned()),
            rrn: derived_rrn('G', &[order.order_id.as_bytes(), &index.to_be_bytes()]),
            fingerprint: format!("gift:{}:{index}", order.order_id),
            description: format!("Gift card activation, order {}", order.order_id),
            json_request: "{}".to_owned(),
            pin_block: None,
        };
        match self.move_card_money(credit)? {
            Outcome::CardMoved { .. } => Ok(None),
            Outcome::Declined(decline) => Ok(Some(decline)),
            other => Err(CoreError::Corrupt(format!("gift card activation answered {other:?}"))),
        }
    }
}

/// An RRN of `prefix` and 11 base-36 digits of a SHA-256 of `parts` (about 57 bits): for
/// movements the switch itself starts, never colliding in practice.
pub fn derived_rrn(prefix: char, parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let mut number = u64::from_be_bytes([
        digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
    ]);
    let mut text = String::from(prefix);
    for _ in 0..11 {
        let digit = u32::try_from(number % 36).unwrap_or(0);
        text.push(char::from_digit(digit, 36).unwrap_or('0').to_ascii_uppercase());
        number /= 36;
    }
    text
}

/// What a request produced, for its record.
fn reference_of(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::CardIssued { card, .. } => Some(card.token.clone()),
        Outcome::GiftCardsIssued { order_id, .. } => Some(order_id.clone()),
        Outcome::CardMoved { tranlog, .. } => tranlog.approval_number.clone(),
        Outcome::ReversedByRrn { tranlog_id } => Some(tranlog_id.to_string()),
        _ => None,
    }
}

/// `digits` uniformly random decimal digits.
fn random_digits(digits: usize) -> Result<String, CoreError> {
    let bytes = keys::random_bytes(digits.saturating_mul(2))?;
    // Two bytes per digit, reduced mod 10: the bias (65536 mod 10 = 6) is negligible for a PIN.
    Ok(bytes
        .chunks(2)
        .map(|pair| {
            char::from(b'0'.saturating_add(
                u8::try_from(u16::from_le_bytes([pair[0], pair[1]]) % 10).unwrap_or(0),
            ))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_digits_are_digits() {
        let pin = super::random_digits(6).unwrap();
        assert_eq!(pin.len(), 6);
        assert!(pin.bytes().all(|byte| byte.is_ascii_digit()));
    }
}
