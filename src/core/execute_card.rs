//! Card commands, run by the writer inside a commit group: card products and their velocity
//! profiles, issuing cards, their state, PIN, account and cardholder, and the authorization of
//! card debits, credits and transfers (velocity counters written in the same batch).

use std::sync::Arc;

use base64::Engine as _;

use super::authorize::velocity_key;
use super::command::{CardNumber, CardProductFields, Decline, NewCard, Outcome, VelocityFields};
use super::execute::GroupContext;
use super::keys::{self, hmac_sha256};
use super::state::VelocityKey;
use super::CoreError;
use crate::card::pan::{Pan, PAN_DIGITS_MAX, PAN_DIGITS_MIN};
use crate::card::{
    Card, CardKind, CardProduct, CardState, VelocityCounter, VelocityPeriod, VelocityProfile,
    VelocityScope,
};
use crate::ledger::Chartbook;
use crate::money::Amount;
use crate::store::{schema, EncodedPut};
use crate::wallet::{CUSTOMERS_PARENT, CUSTOMER_ACCOUNT_PREFIX, WALLET_ACCOUNT_PREFIX};

/// PAN length when the product names none.
const PAN_LENGTH_DEFAULT: usize = 16;

impl GroupContext<'_> {
    pub(super) fn create_card_product(
        &mut self,
        fields: CardProductFields,
    ) -> Result<Outcome, CoreError> {
        let name = fields.name.clone().unwrap_or_default();
        let code = fields.code.clone().unwrap_or_default();
        if self
            .state
            .card_products
            .values()
            .any(|product| product.name == name || product.code == code)
        {
            return Ok(Outcome::Declined(Decline::CardProductExists));
        }
        let blank = CardProduct::blank(self.state.next_card_product_id, name, code);
        let product = apply_product_fields(blank, fields);
        self.state.next_card_product_id = product.id.saturating_add(1);
        self.write_card_product(product)
    }

    pub(super) fn update_card_product(
        &mut self,
        id: u64,
        fields: CardProductFields,
    ) -> Result<Outcome, CoreError> {
        let Some(existing) = self.state.card_products.get(&id) else {
            return Ok(Outcome::Declined(Decline::CardProductNotFound));
        };
        let clash = |other: &CardProduct| {
            other.id != id
                && (fields.name.as_ref() == Some(&other.name)
                    || fields.code.as_ref() == Some(&other.code))
        };
        if self.state.card_products.values().any(|other| clash(other)) {
            return Ok(Outcome::Declined(Decline::CardProductExists));
        }
        let product = apply_product_fields(CardProduct::clone(existing), fields);
        self.write_card_product(product)
    }

    fn write_card_product(&mut self, product: CardProduct) -> Result<Outcome, CoreError> {
        self.batch.put(schema::card_product_key(product.id), &product)?;
        self.state.card_products.insert(product.id, Arc::new(product.clone()));
        Ok(Outcome::CardProductSaved(Box::new(product)))
    }

    pub(super) fn create_velocity_profile(
        &mut self,
        product_id: u64,
        fields: VelocityFields,
    ) -> Result<Outcome, CoreError> {
        if !self.state.card_products.contains_key(&product_id) {
            return Ok(Outcome::Declined(Decline::CardProductNotFound));
        }
        let blank = VelocityProfile {
            id: self.state.next_velocity_profile_id,
            product_id,
            name: String::new(),
            active: true,
            approvals_only: true,
            scope: VelocityScope::Card,
            period: VelocityPeriod::Daily,
            currency_code: String::new(),
            usage_limit: None,
            amount_limit: Amount::ZERO,
            valid_on_purchase: true,
            valid_on_withdrawal: true,
            valid_on_transfer: true,
            valid_on_credit: false,
        };
        let profile = apply_velocity_fields(blank, fields);
        self.state.next_velocity_profile_id = profile.id.saturating_add(1);
        self.write_velocity_profile(profile)
    }

    pub(super) fn update_velocity_profile(
        &mut self,
        product_id: u64,
        id: u64,
        fields: VelocityFields,
    ) -> Result<Outcome, CoreError> {
        let Some(existing) = self
            .state
            .velocity_profiles
            .get(&id)
            .filter(|profile| profile.product_id == product_id)
        else {
            return Ok(Outcome::Declined(Decline::VelocityProfileNotFound));
        };
        let profile = apply_velocity_fields(VelocityProfile::clone(existing), fields);
        self.write_velocity_profile(profile)
    }

    pub(super) fn delete_velocity_profile(
        &mut self,
        product_id: u64,
        id: u64,
    ) -> Result<Outcome, CoreError> {
        if self
            .state
            .velocity_profiles
            .get(&id)
            .is_none_or(|profile| profile.product_id != product_id)
        {
            return Ok(Outcome::Declined(Decline::VelocityProfileNotFound));
        }
        self.batch.delete(schema::velocity_profile_key(id));
        self.state.velocity_profiles.remove(&id);
        Ok(Outcome::VelocityProfileDeleted)
    }

    fn write_velocity_profile(&mut self, profile: VelocityProfile) -> Result<Outcome, CoreError> {
        self.batch.put(schema::velocity_profile_key(profile.id), &profile)?;
        self.state.velocity_profiles.insert(profile.id, Arc::new(profile.clone()));
        Ok(Outcome::VelocityProfileSaved(Box::new(profile)))
    }

    /// The product named by id, name or code.
    fn product_named(&self, name: &str) -> Option<Arc<CardProduct>> {
        let by_id =
            name.parse::<u64>().ok().and_then(|id| self.state.card_products.get(&id).cloned());
        by_id.or_else(|| {
            self.state
                .card_products
                .values()
                .find(|product| product.name == name || product.code == name)
                .cloned()
        })
    }

    pub(super) fn issue_card(&mut self, request: NewCard) -> Result<Outcome, CoreError> {
        let Some(product) = self.product_named(&request.product) else {
            return Ok(Outcome::Declined(Decline::CardProductNotFound));
        };
        if !self.state.customers.contains_key(&request.cardholder) {
            return Ok(Outcome::Declined(Decline::CustomerNotFound));
        }
        let account_code = request
            .account_code
            .clone()
            .unwrap_or_else(|| format!("{CUSTOMERS_PARENT}.{}.00", request.cardholder));
        let Some(account_id) = self.card_account(&account_code) else {
            return Ok(Outcome::Declined(Decline::InvalidCardAccount));
        };
        let (pan, generated) = match &request.number {
            CardNumber::Given(pan) => (pan.clone(), false),
            CardNumber::Generate { bin } => match self.generate_pan(&product, bin)? {
                Ok(pan) => (pan, true),
                Err(decline) => return Ok(Outcome::Declined(decline)),
            },
        };
        if product.bin.as_ref().is_some_and(|bin| !pan.expose().starts_with(bin.as_str())) {
            return Ok(Outcome::Declined(Decline::InvalidBin));
        }
        let pan_hash = self.pan_hash(&pan);
        if self.state.cards_by_pan.contains_key(&pan_hash) {
            return Ok(Outcome::Declined(Decline::CardExists));
        }
        let card = Card {
            id: self.state.next_card_id,
            token: random_token()?,
            pan_hash,
            bin: pan.bin().to_owned(),
            last_four: pan.last_four().to_owned(),
            pan_length: pan.expose().len(),
            expiration: request.expiration,
            service_code: request.service_code,
            embossing_name: request.embossing_name,
            is_virtual: request.is_virtual,
            product_id: product.id,
            cardholder: Some(request.cardholder),
            account_id,
            state: CardState::Created,
            pin_hash: None,
            created_ms: self.now_ms,
            partner: None,
            kind: CardKind::Payment,
            pass: None,
        };
        self.state.next_card_id = card.id.saturating_add(1);
        self.write_card(card.clone())?;
        let pan = generated.then(|| pan.expose().to_owned());
        Ok(Outcome::CardIssued { card: Box::new(card), pan })
    }

    /// A new PAN for `product` from `bin`: random digits, or the product's next sequence
    /// number when it does not ask for random numbers. Retries a taken random number.
    fn generate_pan(
        &mut self,
        product: &CardProduct,
        bin: &str,
    ) -> Result<Result<Pan, Decline>, CoreError> {
        if product.bin.as_ref().is_some_and(|own| own != bin) {
            return Ok(Err(Decline::InvalidBin));
        }
        let length = product
            .card_number_length
            .and_then(|length| usize::try_from(length).ok())
            .filter(|length| (PAN_DIGITS_MIN..=PAN_DIGITS_MAX).contains(length))
            .unwrap_or(PAN_LENGTH_DEFAULT);
        let body_digits = length.saturating_sub(bin.len()).saturating_sub(1);
        for _ in 0..32 {
            let fill: Vec<u8> = if product.random_card_number {
                keys::random_bytes(body_digits)?
            } else {
                let next = product.issued_count.saturating_add(1);
                let text = format!("{next:0width$}", width = body_digits);
                text.bytes()
                    .rev()
                    .take(body_digits)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .map(|byte| byte.saturating_sub(b'0'))
                    .collect()
            };
            let Some(pan) = Pan::generate(bin, length, fill) else {
                return Ok(Err(Decline::InvalidBin));
            };
            if !product.random_card_number {
                let mut counted = product.clone();
                counted.issued_count = counted.issued_count.saturating_add(1);
                self.write_card_product(counted)?;
                return Ok(Ok(pan));
            }
            if !self.state.cards_by_pan.contains_key(&self.pan_hash(&pan)) {
                return Ok(Ok(pan));
            }
        }
        Ok(Err(Decline::CardExists))
    }

    pub(super) fn write_card(&mut self, card: Card) -> Result<(), CoreError> {
        self.batch.put(schema::card_key(&card.token), &card)?;
        self.state.insert_card(card);
        Ok(())
    }

    /// The card with `token`, a copy to change.
    /// Cashback passes are not reachable here: they have no card path.
    pub(super) fn card(&self, token: &str) -> Result<Card, Decline> {
        self.authorizer().card(token).map(Arc::unwrap_or_clone)
    }

    pub(super) fn update_card(
        &mut self,
        token: &str,
        product_id: Option<u64>,
        expiration: Option<String>,
        is_virtual: Option<bool>,
    ) -> Result<Outcome, CoreError> {
        let mut card = match self.card(token) {
            Ok(card) => card,
            Err(decline) => return Ok(Outcome::Declined(decline)),
        };
        if let Some(product_id) = product_id {
            if !self.state.card_products.contains_key(&product_id) {
                return Ok(Outcome::Declined(Decline::CardProductNotFound));
            }
            card.product_id = product_id;
        }
        card.expiration = expiration.unwrap_or(card.expiration);
        card.is_virtual = is_virtual.unwrap_or(card.is_virtual);
        self.write_card(card)?;
        Ok(Outcome::CardUpdated)
    }

    pub(super) fn change_card_state(
        &mut self,
        token: &str,
        state: CardState,
        activation: bool,
    ) -> Result<Outcome, CoreError> {
        let mut card = match self.card(token) {
            Ok(card) => card,
            Err(decline) => return Ok(Outcome::Declined(decline)),
        };
        let allowed =
            if activation { card.state.may_activate() } else { card.state.may_become(state) };
        if !allowed {
            return Ok(Outcome::Declined(Decline::InvalidTransition));
        }
        if card.state != state {
            card.state = state;
            self.write_card(card)?;
        }
        Ok(Outcome::CardUpdated)
    }

    pub(super) fn set_card_pin(
        &mut self,
        token: &str,
        new: &str,
        old: Option<&str>,
    ) -> Result<Outcome, CoreError> {
        let mut card = match self.card(token) {
            Ok(card) => card,
            Err(decline) => return Ok(Outcome::Declined(decline)),
        };
        if let (Some(old), Some(current)) = (old, &card.pin_hash) {
            if self.card_pin_hash(&card.token, old) != *current {
                return Ok(Outcome::Declined(Decline::InvalidPin));
            }
        }
        card.pin_hash = Some(self.card_pin_hash(&card.token, new));
        self.write_card(card)?;
        Ok(Outcome::CardUpdated)
    }

    pub(super) fn set_card_account(
        &mut self,
        token: &str,
        account_code: &str,
    ) -> Result<Outcome, CoreError> {
        let mut card = match self.card(token) {
            Ok(card) => card,
            Err(decline) => return Ok(Outcome::Declined(decline)),
        };
        let Some(account_id) = self.card_account(account_code) else {
            return Ok(Outcome::Declined(Decline::InvalidCardAccount));
        };
        card.account_id = account_id;
        self.write_card(card)?;
        Ok(Outcome::CardUpdated)
    }

    pub(super) fn set_cardholder(
        &mut self,
        token: &str,
        real_id: String,
    ) -> Result<Outcome, CoreError> {
        let mut card = match self.card(token) {
            Ok(card) => card,
            Err(decline) => return Ok(Outcome::Declined(decline)),
        };
        if !self.state.customers.contains_key(&real_id) {
            return Ok(Outcome::Declined(Decline::CustomerNotFound));
        }
        if let Some(previous) = card.cardholder.as_ref().filter(|previous| **previous != real_id) {
            if let Some(owned) = self.state.customer_cards.get_mut(previous) {
                owned.retain(|owned_token| owned_token != token);
            }
        }
        // A card on its old holder's own account follows the card to the new holder's.
        let old_own =
            card.cardholder.as_ref().map(|previous| format!("{CUSTOMERS_PARENT}.{previous}.00"));
        let old_own_id =
            old_own.and_then(|code| self.state.account_by_code(&code).map(|account| account.id));
        if old_own_id == Some(card.account_id) {
            if let Some(account_id) = self.card_account(&format!("{CUSTOMERS_PARENT}.{real_id}.00"))
            {
                card.account_id = account_id;
            }
        }
        card.cardholder = Some(real_id);
        self.write_card(card)?;
        Ok(Outcome::CardUpdated)
    }

    /// The id of an account a card may draw on: a final customer (`21.`) or wallet (`23.`)
    /// account, never one of the switch's own.
    fn card_account(&self, code: &str) -> Option<u64> {
        let holder =
            code.starts_with(CUSTOMER_ACCOUNT_PREFIX) || code.starts_with(WALLET_ACCOUNT_PREFIX);
        self.state
            .account_by_code(code)
            .filter(|account| account.is_final && holder)
            .map(|account| account.id)
    }

    /// The counters of `profiles` (already known to apply) for `card` with `amount` added,
    /// their records encoded, changing nothing. Each profile has counters of its own (its id
    /// is in the key), so none sees another's.
    pub(super) fn prepare_velocity(
        &self,
        card: &Card,
        profiles: &[Arc<VelocityProfile>],
        amount: Amount,
    ) -> Result<PreparedCounts, CoreError> {
        let mut counts = Vec::with_capacity(profiles.len());
        for profile in profiles {
            let key = velocity_key(profile, card, self.now_ms);
            let counter = self.state.velocity_counters.get(&key).copied().unwrap_or_default();
            let counter = counter
                .plus(amount)
                .ok_or_else(|| CoreError::Corrupt("velocity counter overflow".to_owned()))?;
            let record = EncodedPut::new(
                schema::velocity_counter_key(key.window_start_ms, key.profile_id, &key.scope),
                &(&key, counter),
            )?;
            counts.push((key, counter, record));
        }
        Ok(PreparedCounts(counts))
    }

    /// Writes prepared velocity counters.
    pub(super) fn apply_velocity(&mut self, counts: PreparedCounts) {
        for (key, counter, record) in counts.0 {
            self.batch.put_encoded(record);
            self.state.velocity_counters.insert(key, counter);
        }
    }

    /// A keyed hash of a PAN: how the switch finds a card by number without keeping it.
    pub(super) fn pan_hash(&self, pan: &Pan) -> String {
        let key = self.keys.derive("cardswitch/pan/v1");
        base64::engine::general_purpose::STANDARD
            .encode(hmac_sha256(key.expose(), &[pan.expose().as_bytes()]))
    }

    /// A keyed hash of a card's PIN block (salted by the card's token).
    pub(super) fn card_pin_hash(&self, token: &str, pin_block: &str) -> String {
        self.authorizer().card_pin_hash(token, pin_block)
    }
}

/// Velocity counters counted up, their records encoded: writing them cannot fail
/// (`GroupContext::apply_velocity`).
pub(super) struct PreparedCounts(Vec<(VelocityKey, VelocityCounter, EncodedPut)>);

/// 32 random hex digits: a card's token, unrelated to its number.
pub(super) fn random_token() -> Result<String, CoreError> {
    Ok(keys::hex_lower(&keys::random_bytes(16)?))
}

fn apply_product_fields(mut product: CardProduct, fields: CardProductFields) -> CardProduct {
    let set = |target: &mut Option<String>, value: Option<String>| {
        if value.is_some() {
            *target = value;
        }
    };
    product.name = fields.name.unwrap_or(product.name);
    product.code = fields.code.unwrap_or(product.code);
    if fields.issuer.is_some() || fields.institution_id.is_some() {
        product.issuer = fields.issuer;
        product.institution_id = fields.institution_id;
    }
    set(&mut product.issued_account, fields.issued_account);
    set(&mut product.fee_account, fields.fee_account);
    set(&mut product.losses_account, fields.losses_account);
    set(&mut product.external_account, fields.external_account);
    set(&mut product.bin, fields.bin);
    product.active = fields.active.unwrap_or(product.active);
    product.anonymous = fields.anonymous.unwrap_or(product.anonymous);
    product.card_number_length = fields.card_number_length.or(product.card_number_length);
    product.random_card_number = fields.random_card_number.unwrap_or(product.random_card_number);
    product.allow_atm = fields.allow_atm.unwrap_or(product.allow_atm);
    product.allow_ecommerce = fields.allow_ecommerce.unwrap_or(product.allow_ecommerce);
    product.allow_moto = fields.allow_moto.unwrap_or(product.allow_moto);
    product.allow_pos = fields.allow_pos.unwrap_or(product.allow_pos);
    product.allow_tips = fields.allow_tips.unwrap_or(product.allow_tips);
    product.smart = fields.smart.unwrap_or(product.smart);
    if let Some((date, start_ms)) = fields.start_date {
        product.start_date = Some(date);
        product.start_ms = Some(start_ms);
    }
    if let Some((date, end_ms)) = fields.end_date {
        product.end_date = Some(date);
        product.end_ms = Some(end_ms);
    }
    product
}

fn apply_velocity_fields(mut profile: VelocityProfile, fields: VelocityFields) -> VelocityProfile {
    profile.name = fields.name.unwrap_or(profile.name);
    profile.active = fields.active.unwrap_or(profile.active);
    profile.approvals_only = fields.approvals_only.unwrap_or(profile.approvals_only);
    profile.scope = fields.scope.unwrap_or(profile.scope);
    profile.period = fields.period.unwrap_or(profile.period);
    profile.currency_code = fields.currency_code.unwrap_or(profile.currency_code);
    profile.usage_limit = fields.usage_limit.or(profile.usage_limit);
    profile.amount_limit = fields.amount_limit.unwrap_or(profile.amount_limit);
    profile.valid_on_purchase = fields.valid_on_purchase.unwrap_or(profile.valid_on_purchase);
    profile.valid_on_withdrawal = fields.valid_on_withdrawal.unwrap_or(profile.valid_on_withdrawal);
    profile.valid_on_transfer = fields.valid_on_transfer.unwrap_or(profile.valid_on_transfer);
    profile.valid_on_credit = fields.valid_on_credit.unwrap_or(profile.valid_on_credit);
    profile
}
