//! Wire formats of the cashback card API: request bodies (snake_case; fields the switch does
//! not use are ignored, so a POS can send back the pass it got from search), their checks
//! against the configured limits, and the JSON of passes, payment rows and receipts.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::errors::CashbackError;
use crate::api::shared;
use crate::card::{PassIdentifier, SearchMode};
use crate::core::execute_cashback::CashbackReceipt;
use crate::core::reads_cashback::PassView;
use crate::money::Amount;

/// Decimal places an amount may have (cents).
const AMOUNT_PLACES: u32 = 2;

/// Ledger units (1/10000) in one cent: an amount with at most two decimals is a multiple.
const CENT_UNITS: i64 = 100;

pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, CashbackError> {
    serde_json::from_slice(body)
        .map_err(|error| CashbackError::Invalid(format!("invalid body: {error}")))
}

#[derive(Debug, Deserialize)]
pub struct Debit {
    pub ticket_id: Option<String>,
    pub ticket_number: Option<String>,
    pub point_of_sale_id: Option<u64>,
    pub device_id: Option<String>,
    pub pass: Option<PassRef>,
    pub payment_row: Option<PaymentRow>,
}

/// The pass as search answered it; only its id is used.
#[derive(Debug, Deserialize)]
pub struct PassRef {
    pub id: Option<String>,
}

/// An amount (decimal string or JSON number, at most two decimals) and an ISO-4217 numeric
/// currency (string or number).
#[derive(Debug, Deserialize)]
pub struct PaymentRow {
    pub amount: Option<Value>,
    pub currency: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    pub name: String,
    pub currency: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewStore {
    pub group_id: u64,
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPointOfSale {
    pub store_id: u64,
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPass {
    pub group_id: u64,
    pub holder_name: String,
    pub nfc: Option<String>,
    pub barcode: Option<String>,
    pub manual_code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credit {
    pub request_id: String,
    pub amount: Value,
    pub currency: Value,
}

pub fn missing(name: &str) -> CashbackError {
    CashbackError::Invalid(format!("{name} is required"))
}

/// A UUID in its canonical lower-case form.
pub fn uuid(name: &str, text: &str) -> Result<String, CashbackError> {
    uuid::Uuid::parse_str(text.trim())
        .map(|id| id.to_string())
        .map_err(|_| CashbackError::Invalid(format!("{name} must be a UUID")))
}

/// A non-empty text of at most `bytes_max` bytes, trimmed.
pub fn text(name: &str, value: &str, bytes_max: usize) -> Result<String, CashbackError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(CashbackError::Invalid(format!("{name} must not be empty")));
    }
    if trimmed.len() > bytes_max {
        return Err(CashbackError::Invalid(format!("{name} is longer than {bytes_max} bytes")));
    }
    Ok(trimmed.to_owned())
}

/// A positive amount with at most two decimals and at most `whole_max` units.
pub fn amount(name: &str, value: &Value, whole_max: i64) -> Result<Amount, CashbackError> {
    let text = match value {
        Value::String(text) => text.trim().to_owned(),
        Value::Number(number) => number.to_string(),
        _ => return Err(CashbackError::Invalid(format!("{name} must be a decimal amount"))),
    };
    let invalid = || {
        CashbackError::Invalid(format!(
            "{name} must be a positive amount with at most two decimals"
        ))
    };
    let places = text.split_once('.').map_or(0, |(_, fraction)| fraction.len());
    if u32::try_from(places).map_or(true, |places| places > AMOUNT_PLACES) {
        return Err(invalid());
    }
    let amount = Amount::parse(&text).map_err(|_| invalid())?;
    // The text's places are not enough: `1E-4` has none yet means 0.0001 (a fuzz finding).
    if amount <= Amount::ZERO || amount.units() % CENT_UNITS != 0 {
        return Err(invalid());
    }
    let max = Amount::from_whole(whole_max).unwrap_or(Amount::ZERO);
    if amount > max {
        return Err(CashbackError::Invalid(format!("{name} exceeds {whole_max}")));
    }
    Ok(amount)
}

/// An ISO-4217 numeric currency code, as `"978"` or `978`.
pub fn currency(name: &str, value: &Value) -> Result<u16, CashbackError> {
    let code = match value {
        Value::String(text) if text.len() == 3 => text.parse::<u16>().ok(),
        Value::Number(number) => number.as_u64().and_then(|code| u16::try_from(code).ok()),
        _ => None,
    };
    code.filter(|code| (1..1000).contains(code)).ok_or_else(|| {
        CashbackError::Invalid(format!("{name} must be an ISO-4217 numeric code such as \"978\""))
    })
}

/// The search mode as the document spells it.
pub fn search_mode(text: &str) -> Result<SearchMode, CashbackError> {
    match text.trim() {
        "NFC" => Ok(SearchMode::Nfc),
        "BARCODE" => Ok(SearchMode::Barcode),
        "MANUAL" => Ok(SearchMode::Manual),
        _ => Err(CashbackError::Invalid("search_mode must be NFC, BARCODE or MANUAL".to_owned())),
    }
}

/// An amount as the wire writes it: a decimal string with two places.
pub fn money(amount: Amount) -> String {
    amount.to_fixed(AMOUNT_PLACES)
}

pub fn currency_text(code: u16) -> String {
    format!("{code:03}")
}

fn masked(identifier: Option<&PassIdentifier>) -> Value {
    identifier.map_or(Value::Null, |identifier| Value::String(identifier.masked.clone()))
}

/// A pass as search answers it.
pub fn pass(view: &PassView) -> Value {
    json!({
        "id": view.card.token,
        "type": "CASHBACK",
        "holder_name": view.details.holder_name,
        "group_id": view.details.group_id,
        "nfc_masked": masked(view.details.nfc.as_ref()),
        "barcode_masked": masked(view.details.barcode.as_ref()),
        "manual_code_masked": masked(view.details.manual.as_ref()),
        "balance": {
            "amount": money(view.balance),
            "currency": currency_text(view.details.currency),
        },
    })
}

/// The answer of a debit (the same for every repetition of its ticket).
pub fn debit_answer(receipt: &CashbackReceipt) -> Value {
    json!({
        "ticket_id": receipt.reference,
        "payment_row": {
            "amount": money(receipt.amount),
            "currency": currency_text(receipt.currency),
        },
        "receipt_row": {
            "pass_masked": receipt.pass_masked,
            "amount": money(receipt.amount),
            "currency": currency_text(receipt.currency),
            "balance_after": money(receipt.balance_after),
            "approval_code": receipt.approval_code,
            "ticket_number": receipt.ticket_number,
            "point_of_sale_id": receipt.point_of_sale_id,
            "date": shared::instant(receipt.date_ms),
        },
    })
}

/// The answer of an admin credit.
pub fn credit_answer(receipt: &CashbackReceipt) -> Value {
    json!({
        "request_id": receipt.reference,
        "pass_id": receipt.token,
        "amount": money(receipt.amount),
        "currency": currency_text(receipt.currency),
        "balance_after": money(receipt.balance_after),
        "approval_code": receipt.approval_code,
        "date": shared::instant(receipt.date_ms),
    })
}
