//! Cashback commands, run by the writer inside a commit group: merchant groups, stores, points
//! of sale, passes (cards of kind `Cashback` with their own account), crediting cashback onto a
//! pass and debiting it at a point of sale. A ticket id (or a credit's request id) is recorded
//! in the same commit as the posting it caused, so it moves money at most once.

use std::sync::Arc;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::command::{CashbackCredit, CashbackDebit, Decline, NewAccount, NewPass, Outcome};
use super::execute::GroupContext;
use super::execute_card::random_token;
use super::keys::hmac_sha256;
use super::CoreError;
use crate::card::{
    mask_identifier, Card, CardKind, CardState, PassDetails, PassIdentifier, SearchMode,
};
use crate::clock::EpochMs;
use crate::ledger::post::{self, EntryRequest, TransactionRequest};
use crate::ledger::{AccountType, Side};
use crate::money::Amount;
use crate::store::schema;

/// A merchant group: the owner of passes and stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantGroup {
    pub id: u64,
    pub name: String,
    /// ISO-4217 numeric: the currency of its passes' cashback.
    pub currency: u16,
    pub created_ms: EpochMs,
}

/// A store of a merchant group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantStore {
    pub id: u64,
    pub group_id: u64,
    pub name: String,
    pub created_ms: EpochMs,
}

/// A point of sale (till) of a store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointOfSale {
    pub id: u64,
    pub store_id: u64,
    pub name: String,
    pub created_ms: EpochMs,
}

/// What a cashback debit or credit did: the answer a repeated request gets again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashbackReceipt {
    /// The ticket id (debit) or request id (credit).
    pub reference: String,
    pub token: String,
    pub pass_masked: String,
    pub amount: Amount,
    pub currency: u16,
    pub balance_after: Amount,
    pub approval_code: String,
    pub ticket_number: Option<String>,
    pub point_of_sale_id: Option<u64>,
    pub date_ms: EpochMs,
    pub transaction_id: u64,
}

/// A spent ticket or credit request: what it asked (fingerprint) and what it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketRecord {
    pub fingerprint: String,
    pub receipt: CashbackReceipt,
}

/// Parent of every pass account (`21.cb.<card token>`).
pub const PASSES_PARENT: &str = "21.cb";
/// Parent of what the switch owes each merchant group for redeemed cashback (`22.cb.<group>`).
pub const MERCHANTS_PARENT: &str = "22.cb";
/// Where credited cashback comes from: the programme's expense.
pub const CASHBACK_EXPENSE: &str = "41.cb";
const EXPENSES_ROOT: &str = "41";
/// Key kinds of the ticket keyspace.
const TICKET_DEBIT: u8 = b'd';
const TICKET_CREDIT: u8 = b'c';
const CREDIT: AccountType = AccountType::Credit;
const DEBIT: AccountType = AccountType::Debit;
/// Tag of every cashback posting.
const CASHBACK_TAG: &str = "cashback";

impl GroupContext<'_> {
    pub(super) fn create_merchant_group(
        &mut self,
        name: String,
        currency: u16,
    ) -> Result<Outcome, CoreError> {
        let id = self.state.merchant_groups.keys().next_back().map_or(1, |id| id.saturating_add(1));
        self.ensure_account(
            MERCHANTS_PARENT,
            "Cashback owed to merchant groups",
            "22",
            CREDIT,
            false,
        )?;
        let code = format!("{MERCHANTS_PARENT}.{id}");
        self.ensure_account(
            &code,
            &format!("Cashback owed to group {id}"),
            MERCHANTS_PARENT,
            CREDIT,
            true,
        )?;
        let group = MerchantGroup { id, name, currency, created_ms: self.now_ms };
        self.batch.put(schema::merchant_group_key(id), &group)?;
        self.state.merchant_groups.insert(id, Arc::new(group.clone()));
        Ok(Outcome::MerchantGroupCreated(Box::new(group)))
    }

    pub(super) fn create_merchant_store(
        &mut self,
        group_id: u64,
        name: String,
    ) -> Result<Outcome, CoreError> {
        if !self.state.merchant_groups.contains_key(&group_id) {
            return Ok(Outcome::Declined(Decline::MerchantGroupNotFound));
        }
        let id = self.state.merchant_stores.keys().next_back().map_or(1, |id| id.saturating_add(1));
        let store = MerchantStore { id, group_id, name, created_ms: self.now_ms };
        self.batch.put(schema::merchant_store_key(id), &store)?;
        self.state.merchant_stores.insert(id, Arc::new(store.clone()));
        Ok(Outcome::MerchantStoreCreated(Box::new(store)))
    }

    pub(super) fn create_point_of_sale(
        &mut self,
        store_id: u64,
        name: String,
    ) -> Result<Outcome, CoreError> {
        if !self.state.merchant_stores.contains_key(&store_id) {
            return Ok(Outcome::Declined(Decline::MerchantStoreNotFound));
        }
        let id = self.state.points_of_sale.keys().next_back().map_or(1, |id| id.saturating_add(1));
        let point = PointOfSale { id, store_id, name, created_ms: self.now_ms };
        self.batch.put(schema::point_of_sale_key(id), &point)?;
        self.state.points_of_sale.insert(id, Arc::new(point.clone()));
        Ok(Outcome::PointOfSaleCreated(Box::new(point)))
    }

    /// Opens the pass's account and issues it as an active card of kind `Cashback`.
    pub(super) fn create_pass(&mut self, pass: NewPass) -> Result<Outcome, CoreError> {
        let Some(group) = self.state.merchant_groups.get(&pass.group_id).cloned() else {
            return Ok(Outcome::Declined(Decline::MerchantGroupNotFound));
        };
        let identifiers = [
            (SearchMode::Nfc, pass.nfc.as_deref()),
            (SearchMode::Barcode, pass.barcode.as_deref()),
            (SearchMode::Manual, pass.manual.as_deref()),
        ];
        let mut made: Vec<Option<PassIdentifier>> = Vec::new();
        for (mode, value) in identifiers {
            let identifier = value.map(|value| PassIdentifier {
                hash: self.pass_identifier_hash(mode, value),
                masked: mask_identifier(&mode.normalize(value)),
            });
            if identifier
                .as_ref()
                .is_some_and(|id| self.state.pass_identifiers.contains_key(&id.hash))
            {
                return Ok(Outcome::Declined(Decline::PassIdentifierTaken));
            }
            made.push(identifier);
        }
        let [nfc, barcode, manual]: [Option<PassIdentifier>; 3] = made
            .try_into()
            .map_err(|_| CoreError::Corrupt("three pass identifiers expected".to_owned()))?;
        let id = self.state.next_card_id;
        let token = random_token()?;
        let account_id = self.open_pass_account(&token, id)?;
        let card = Card {
            id,
            token,
            pan_hash: String::new(),
            bin: String::new(),
            last_four: String::new(),
            pan_length: 0,
            expiration: String::new(),
            service_code: String::new(),
            embossing_name: Some(pass.holder_name.clone()),
            is_virtual: true,
            product_id: 0,
            cardholder: None,
            account_id,
            state: CardState::Active,
            pin_hash: None,
            created_ms: self.now_ms,
            partner: None,
            kind: CardKind::Cashback,
            pass: Some(Box::new(PassDetails {
                group_id: group.id,
                holder_name: pass.holder_name,
                currency: group.currency,
                nfc,
                barcode,
                manual,
            })),
        };
        self.state.next_card_id = id.saturating_add(1);
        self.write_card(card.clone())?;
        Ok(Outcome::PassCreated(Box::new(card)))
    }

    /// A new pass's own account, named by its random token so that no account made
    /// beforehand through the GL routes can be taken for it.
    fn open_pass_account(&mut self, token: &str, id: u64) -> Result<u64, CoreError> {
        self.ensure_account(PASSES_PARENT, "Cashback passes", "21", CREDIT, false)?;
        let account = NewAccount {
            chart: super::bootstrap::DEFAULT_CHART.to_owned(),
            code: format!("{PASSES_PARENT}.{token}"),
            description: format!("Cashback pass {id}"),
            account_type: CREDIT,
            parent_code: PASSES_PARENT.to_owned(),
            is_final: true,
            currency_code: None,
            tags: CASHBACK_TAG.to_owned(),
            expiration_ms: None,
        };
        match self.create_account(account)? {
            Outcome::AccountCreated { account_id } => Ok(account_id),
            other => Err(CoreError::Corrupt(format!("cashback pass account: {other:?}"))),
        }
    }

    /// Credits cashback onto a pass from the programme's expense; once per request id.
    pub(super) fn credit_cashback(&mut self, credit: CashbackCredit) -> Result<Outcome, CoreError> {
        let fingerprint = fingerprint(&[
            credit.token.as_bytes(),
            &credit.amount.units().to_be_bytes(),
            &credit.currency.to_be_bytes(),
        ]);
        let key = schema::cashback_ticket_key(TICKET_CREDIT, &credit.request_id);
        if let Some(replayed) = self.replay(&key, &fingerprint)? {
            return Ok(replayed);
        }
        let (card, details) = match self.pass(&credit.token) {
            Ok(found) => found,
            Err(decline) => return Ok(Outcome::Declined(decline)),
        };
        if details.currency != credit.currency {
            return Ok(Outcome::Declined(Decline::CurrencyMismatch));
        }
        let savepoint = self.savepoint();
        self.ensure_account(
            EXPENSES_ROOT,
            "Expenses",
            super::bootstrap::DEFAULT_CHART,
            DEBIT,
            false,
        )?;
        self.ensure_account(CASHBACK_EXPENSE, "Cashback granted", EXPENSES_ROOT, DEBIT, true)?;
        let posting = Posting {
            debit: CASHBACK_EXPENSE.to_owned(),
            credit: pass_account_code(&card),
            amount: credit.amount,
            currency: credit.currency,
            detail: format!("Cashback credit {}", credit.request_id),
        };
        let transaction_id = match self.post_cashback(&posting)? {
            Ok(id) => id,
            Err(decline) => {
                // A declined credit leaves nothing behind, not even the accounts it opened.
                self.rollback(savepoint);
                return Ok(Outcome::Declined(decline));
            }
        };
        let receipt = self.receipt(&card, &details, &posting, transaction_id, credit.request_id);
        self.record_ticket(key, fingerprint, &receipt)?;
        Ok(Outcome::Cashback { receipt: Box::new(receipt), replayed: false })
    }

    /// Debits cashback from a pass at a point of sale; once per ticket id. A decline (no
    /// such pass or POS, pass of another group, insufficient cashback) records nothing.
    pub(super) fn debit_cashback(&mut self, debit: CashbackDebit) -> Result<Outcome, CoreError> {
        let fingerprint = debit_fingerprint(&debit);
        let key = schema::cashback_ticket_key(TICKET_DEBIT, &debit.ticket_id);
        if let Some(replayed) = self.replay(&key, &fingerprint)? {
            return Ok(replayed);
        }
        let (card, details) = match self.debit_target(&debit) {
            Ok(found) => found,
            Err(decline) => return Ok(Outcome::Declined(decline)),
        };
        let layer = i16::try_from(details.currency).unwrap_or(i16::MAX);
        if self.state.balance(card.account_id, layer) < debit.amount {
            return Ok(Outcome::Declined(Decline::InsufficientFunds));
        }
        let posting = Posting {
            debit: pass_account_code(&card),
            credit: format!("{MERCHANTS_PARENT}.{}", details.group_id),
            amount: debit.amount,
            currency: debit.currency,
            detail: format!("Cashback debit, ticket {}", debit.ticket_id),
        };
        let transaction_id = match self.post_cashback(&posting)? {
            Ok(id) => id,
            Err(decline) => return Ok(Outcome::Declined(decline)),
        };
        let mut receipt = self.receipt(&card, &details, &posting, transaction_id, debit.ticket_id);
        receipt.ticket_number = debit.ticket_number;
        receipt.point_of_sale_id = Some(debit.point_of_sale_id);
        self.record_ticket(key, fingerprint, &receipt)?;
        Ok(Outcome::Cashback { receipt: Box::new(receipt), replayed: false })
    }

    /// The pass a debit names, checked against its point of sale's group and its currency.
    fn debit_target(&self, debit: &CashbackDebit) -> Result<(Card, PassDetails), Decline> {
        let point = self
            .state
            .points_of_sale
            .get(&debit.point_of_sale_id)
            .ok_or(Decline::PointOfSaleNotFound)?;
        let store = self
            .state
            .merchant_stores
            .get(&point.store_id)
            .ok_or(Decline::MerchantStoreNotFound)?;
        let (card, details) = self.pass(&debit.token)?;
        if details.group_id != store.group_id {
            return Err(Decline::PassNotFound);
        }
        if details.currency != debit.currency {
            return Err(Decline::CurrencyMismatch);
        }
        Ok((card, details))
    }

    /// The stored answer of a spent ticket (same content), a refusal (other content), or
    /// `None` for a new one. Looks at this group's writes first, then the store.
    fn replay(&self, key: &[u8], fingerprint: &str) -> Result<Option<Outcome>, CoreError> {
        let record = match self.written.tickets.get(key) {
            Some(record) => Some(record.clone()),
            None => self.store.get::<TicketRecord>(key)?,
        };
        Ok(record.map(|record| {
            if record.fingerprint == fingerprint {
                Outcome::Cashback { receipt: Box::new(record.receipt), replayed: true }
            } else {
                Outcome::Declined(Decline::TicketReused)
            }
        }))
    }

    fn record_ticket(
        &mut self,
        key: Vec<u8>,
        fingerprint: String,
        receipt: &CashbackReceipt,
    ) -> Result<(), CoreError> {
        let record = TicketRecord { fingerprint, receipt: receipt.clone() };
        self.batch.put(key.clone(), &record)?;
        self.written.tickets.insert(key, record);
        Ok(())
    }

    /// A pass by token.
    fn pass(&self, token: &str) -> Result<(Card, PassDetails), Decline> {
        let card = self.state.cards.get(token).ok_or(Decline::PassNotFound)?;
        match (&card.kind, &card.pass) {
            (CardKind::Cashback, Some(details)) => {
                Ok((Card::clone(card), PassDetails::clone(details)))
            }
            _ => Err(Decline::PassNotFound),
        }
    }

    /// Posts one balanced two-entry transaction; its id, or the ledger's decline.
    fn post_cashback(&mut self, posting: &Posting) -> Result<Result<u64, Decline>, CoreError> {
        let layer = i16::try_from(posting.currency).unwrap_or(i16::MAX);
        let entry = |account_code: &str, side: Side| EntryRequest {
            account_code: account_code.to_owned(),
            side,
            layer,
            amount: posting.amount,
            detail: posting.detail.clone(),
            tags: CASHBACK_TAG.to_owned(),
        };
        let request = TransactionRequest {
            journal: super::bootstrap::DEFAULT_CHART.to_owned(),
            post_date_ms: self.now_ms,
            detail: posting.detail.clone(),
            tags: CASHBACK_TAG.to_owned(),
            entries: vec![entry(&posting.debit, Side::Debit), entry(&posting.credit, Side::Credit)],
        };
        let id = self.state.next_transaction_id;
        let transaction = match post::plan(&*self.state, &request, id, self.now_ms) {
            Ok(transaction) => transaction,
            Err(reject) => return Ok(Err(reject.into())),
        };
        Ok(match self.commit_transaction(transaction)? {
            Some(decline) => Err(decline),
            None => Ok(id),
        })
    }

    fn receipt(
        &self,
        card: &Card,
        details: &PassDetails,
        posting: &Posting,
        transaction_id: u64,
        reference: String,
    ) -> CashbackReceipt {
        let layer = i16::try_from(details.currency).unwrap_or(i16::MAX);
        CashbackReceipt {
            reference,
            token: card.token.clone(),
            pass_masked: pass_masked(details),
            amount: posting.amount,
            currency: posting.currency,
            balance_after: self.state.balance(card.account_id, layer),
            approval_code: format!("{:06}", transaction_id % 1_000_000),
            ticket_number: None,
            point_of_sale_id: None,
            date_ms: self.now_ms,
            transaction_id,
        }
    }

    /// The account with `code`, created (under `parent`) when it does not exist yet.
    fn ensure_account(
        &mut self,
        code: &str,
        description: &str,
        parent: &str,
        account_type: AccountType,
        is_final: bool,
    ) -> Result<u64, CoreError> {
        if let Some(id) = self.state.account_ids_by_code.get(code) {
            return Ok(*id);
        }
        let account = NewAccount {
            chart: super::bootstrap::DEFAULT_CHART.to_owned(),
            code: code.to_owned(),
            description: description.to_owned(),
            account_type,
            parent_code: parent.to_owned(),
            is_final,
            currency_code: None,
            tags: CASHBACK_TAG.to_owned(),
            expiration_ms: None,
        };
        match self.create_account(account)? {
            Outcome::AccountCreated { account_id } => Ok(account_id),
            other => Err(CoreError::Corrupt(format!("cashback account {code}: {other:?}"))),
        }
    }

    /// The keyed hash a pass identifier is indexed by.
    pub(super) fn pass_identifier_hash(&self, mode: SearchMode, value: &str) -> String {
        pass_identifier_hash(self.keys, mode, value)
    }
}

/// The keyed hash of one identifier of one search mode.
pub fn pass_identifier_hash(
    keys: &super::keys::MasterKey,
    mode: SearchMode,
    value: &str,
) -> String {
    let key = keys.derive("cardswitch/pass-identifier/v1");
    base64::engine::general_purpose::STANDARD.encode(hmac_sha256(
        key.expose(),
        &[mode.label().as_bytes(), mode.normalize(value).as_bytes()],
    ))
}

/// The masked identifier a receipt prints: the first of NFC, barcode, manual code.
pub fn pass_masked(details: &PassDetails) -> String {
    [&details.nfc, &details.barcode, &details.manual]
        .into_iter()
        .flatten()
        .next()
        .map_or_else(String::new, |identifier| identifier.masked.clone())
}

fn pass_account_code(card: &Card) -> String {
    format!("{PASSES_PARENT}.{}", card.token)
}

/// One cashback movement between two accounts.
struct Posting {
    debit: String,
    credit: String,
    amount: Amount,
    currency: u16,
    detail: String,
}

/// Identifies a debit's content: a repeated ticket id must carry the same.
fn debit_fingerprint(debit: &CashbackDebit) -> String {
    fingerprint(&[
        debit.token.as_bytes(),
        &debit.point_of_sale_id.to_be_bytes(),
        debit.device_id.as_bytes(),
        debit.ticket_number.as_deref().unwrap_or_default().as_bytes(),
        &debit.amount.units().to_be_bytes(),
        &debit.currency.to_be_bytes(),
    ])
}

fn fingerprint(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
        hasher.update(part);
    }
    super::keys::hex_lower(&hasher.finalize())
}
