//! jCard request bodies as the document's schemas define them (`additionalProperties: false`
//! becomes `deny_unknown_fields`), and their first check. Nothing here is seen by the core.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::errors::JcardError;
use super::lenient;
use crate::money::{Amount, AmountError};

/// Longest id, code or name accepted in a path or body.
pub const IDENTIFIER_CHARS_MAX: usize = 128;

/// `POST /sysconfig`: every field required. The document's example writes `readperm` and its
/// schema `readPerm`; both are accepted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SysconfigCreate {
    pub id: String,
    pub value: String,
    #[serde(rename = "readPerm", alias = "readperm")]
    pub read_perm: String,
    #[serde(rename = "writePerm", alias = "writeperm")]
    pub write_perm: String,
}

/// `PUT /sysconfig`: only `id` required.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SysconfigUpdate {
    pub id: String,
    pub value: Option<String>,
    #[serde(rename = "readPerm", alias = "readperm")]
    pub read_perm: Option<String>,
    #[serde(rename = "writePerm", alias = "writeperm")]
    pub write_perm: Option<String>,
}

/// `POST /gl/transactions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GlTransaction {
    pub detail: Option<String>,
    pub post_date: String,
    pub journal_name: String,
    pub tags: Option<String>,
    pub entries: Vec<GlEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GlEntry {
    pub amount: serde_json::Number,
    pub account_code: String,
    pub tags: Option<String>,
    pub detail: Option<String>,
    #[serde(rename = "type")]
    pub side: EntrySide,
    pub layer: Option<i64>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntrySide {
    Debit,
    Credit,
}

/// `POST /gl/charts/{chart}/accounts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GlAccount {
    pub code: String,
    pub description: Option<String>,
    pub account_type: EntrySide,
    pub tags: Option<String>,
    pub currency_code: Option<String>,
    pub parent_code: String,
    #[serde(rename = "final")]
    pub is_final: bool,
    pub expiration: Option<String>,
}

/// Reads a JSON body into a wire struct; schema violations become jCard's `missing.fields`,
/// `extra.fields` or `invalid.request` errors.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, JcardError> {
    from_value(parse_json(body)?)
}

/// A parsed JSON value into a wire struct, with the errors of [`parse_body`].
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, JcardError> {
    serde_json::from_value(value).map_err(|error| {
        let message = error.to_string();
        let code = if message.starts_with("missing field") {
            "missing.fields"
        } else if message.starts_with("unknown field") {
            "extra.fields"
        } else {
            "invalid.request"
        };
        JcardError::bad_request(code, message)
    })
}

/// Reads any JSON body (mending the document's comma slips).
pub fn parse_json(body: &[u8]) -> Result<Value, JcardError> {
    lenient::parse(body).map_err(|error| {
        JcardError::bad_request("invalid.json", format!("the body is not JSON: {error}"))
    })
}

/// Removes members whose value is `null`: like jCard's own JSON binding, the switch reads a
/// null as an absent member, in every body (a required one is then missing).
pub fn drop_nulls(members: &mut serde_json::Map<String, Value>) {
    members.retain(|_, value| !value.is_null());
}

/// An exact amount from a JSON number.
pub fn amount(number: &serde_json::Number, field: &str) -> Result<Amount, JcardError> {
    Amount::parse(&number.to_string()).map_err(|error| {
        let reason = match error {
            AmountError::TooPrecise => "has more decimal places than the ledger keeps (4)",
            AmountError::OutOfRange => "is out of range",
            AmountError::Malformed => "is not a decimal number",
        };
        JcardError::bad_request("invalid.amount", format!("{field} {reason}"))
    })
}

/// A non-empty identifier of bounded length without control characters.
pub fn identifier<'a>(text: &'a str, field: &str) -> Result<&'a str, JcardError> {
    let text = text.trim();
    if text.is_empty()
        || text.chars().count() > IDENTIFIER_CHARS_MAX
        || text.chars().any(char::is_control)
    {
        return Err(JcardError::bad_request(
            "invalid.field",
            format!("{field} must be 1 to {IDENTIFIER_CHARS_MAX} printable characters"),
        ));
    }
    Ok(text)
}
