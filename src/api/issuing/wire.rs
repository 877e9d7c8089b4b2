//! Request bodies of the card-issuing API (snake_case, unknown fields refused), and their
//! first check. Every body carries `request_id`, a UUID.

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::errors::IssuingError;
use crate::money::Amount;

/// Gift cards one order may issue.
pub const GIFT_CARDS_PER_ORDER_MAX: u32 = 100;

pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, IssuingError> {
    serde_json::from_slice(body)
        .map_err(|error| IssuingError::BadRequest(format!("invalid body: {error}")))
}

/// A request id: a UUID, kept in its canonical lower-case form.
pub fn request_id(text: &str) -> Result<String, IssuingError> {
    uuid::Uuid::parse_str(text.trim())
        .map(|id| id.to_string())
        .map_err(|_| IssuingError::BadRequest("request_id must be a UUID".to_owned()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestOnly {
    pub request_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardIssue {
    pub request_id: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: String,
    pub email: Option<String>,
    pub birth_date: Option<String>,
    pub card_product: String,
    pub currency: serde_json::Value,
    #[serde(rename = "virtual")]
    pub is_virtual: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardRequest {
    pub request_id: String,
    pub card_token: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyHolder {
    pub request_id: String,
    pub card_token: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockCard {
    pub request_id: String,
    pub card_token: String,
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GiftCardIssue {
    pub request_id: String,
    pub card_product: String,
    pub amount: serde_json::Number,
    pub currency: serde_json::Value,
    pub quantity: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Money {
    pub request_id: String,
    pub card_token: String,
    pub amount: serde_json::Number,
    pub currency: serde_json::Value,
    pub description: Option<String>,
    /// Where the money moved; shown by the gift-card history API.
    pub outlet_name: Option<String>,
    /// The merchant's invoice; shown by the gift-card history API.
    pub invoice_number: Option<String>,
}

/// Longest `outlet_name` and `invoice_number` (the gift-card history document's lengths).
pub const REFERENCE_CHARS_MAX: usize = 50;

/// An optional reference of 1 to [`REFERENCE_CHARS_MAX`] characters, trimmed.
pub fn reference(name: &str, value: Option<&str>) -> Result<Option<String>, IssuingError> {
    match value.map(str::trim) {
        None => Ok(None),
        Some(text) if !text.is_empty() && text.chars().count() <= REFERENCE_CHARS_MAX => {
            Ok(Some(text.to_owned()))
        }
        Some(_) => Err(IssuingError::BadRequest(format!(
            "{name} is 1 to {REFERENCE_CHARS_MAX} characters"
        ))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reverse {
    pub request_id: String,
    pub original_request_id: String,
}

/// A positive amount with at most the ledger's decimals.
pub fn amount(number: &serde_json::Number) -> Result<Amount, IssuingError> {
    let amount = Amount::parse(&number.to_string())
        .map_err(|error| IssuingError::BadRequest(format!("amount {error}")))?;
    if amount.units() <= 0 {
        return Err(IssuingError::BadRequest("amount must be positive".to_owned()));
    }
    Ok(amount)
}

/// An ISO-4217 numeric currency, as a number (`840`) or text (`"840"`).
pub fn currency(value: &serde_json::Value) -> Result<u16, IssuingError> {
    let code = match value {
        serde_json::Value::Number(number) => number.as_u64(),
        serde_json::Value::String(text) => text.trim().parse::<u64>().ok(),
        _ => None,
    };
    code.and_then(|code| u16::try_from(code).ok())
        .filter(|code| (1..1000).contains(code))
        .ok_or_else(|| {
            IssuingError::BadRequest("currency is an ISO-4217 numeric code such as 840".to_owned())
        })
}

/// Text a person typed, compared the way a person would: trimmed, inner spaces collapsed,
/// case ignored.
pub fn normalized_name(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Whether two phone numbers are the same line: only digits count, and a country code or
/// trunk prefix may differ as long as the last seven or more digits agree.
pub fn same_phone(left: &str, right: &str) -> bool {
    let digits = |text: &str| text.chars().filter(char::is_ascii_digit).collect::<String>();
    let (left, right) = (digits(left), digits(right));
    let left = left.trim_start_matches('0');
    let right = right.trim_start_matches('0');
    let (short, long) = if left.len() <= right.len() { (left, right) } else { (right, left) };
    short.len() >= 7 && long.ends_with(short)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_compare_names_and_phones_loosely() {
        assert_eq!(normalized_name("  José   MARÍA "), "josé maría");
        assert!(same_phone("+598 99 123 456", "099123456"));
        assert!(same_phone("(099) 123-456", "99123456"));
        assert!(!same_phone("099123456", "099123457"));
        assert!(!same_phone("123", "0123"), "too short to be sure");
        assert_eq!(
            request_id("828CF71D-A447-4A67-A149-C1DF8BC197CA").unwrap(),
            "828cf71d-a447-4a67-a149-c1df8bc197ca"
        );
        assert!(request_id("nope").is_err());
        assert_eq!(currency(&serde_json::json!("840")).unwrap(), 840);
        assert!(currency(&serde_json::json!(1840)).is_err());
    }
}
