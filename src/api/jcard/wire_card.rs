//! Wire formats of the card product, velocity profile and card routes, as the document's
//! schemas define them (plus the fields its own examples send), and their first check.

use serde::Deserialize;
use serde_json::Value;

use super::errors::JcardError;
use super::{dates, wire};
use crate::card::pan::{parse_tracks, Pan};
use crate::card::{CardState, VelocityPeriod, VelocityScope};
use crate::core::command::{CardNumber, CardProductFields, VelocityFields};
use crate::money::Amount;

/// `POST`/`PUT /cardproducts`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CardProduct {
    pub name: Option<String>,
    pub code: Option<String>,
    pub issuer: Option<serde_json::Number>,
    pub institution_id: Option<String>,
    pub issued_account: Option<String>,
    pub fee_account: Option<String>,
    pub losses_account: Option<String>,
    pub external_account: Option<String>,
    pub active: Option<bool>,
    pub anonymous: Option<bool>,
    pub bin: Option<String>,
    pub card_number_length: Option<serde_json::Number>,
    pub random_card_number: Option<bool>,
    pub allow_atm: Option<bool>,
    pub allow_ecommerce: Option<bool>,
    pub allow_moto: Option<bool>,
    pub allow_pos: Option<bool>,
    pub allow_tips: Option<bool>,
    pub smart: Option<bool>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
}

/// A card product body: `creating` requires name, code and exactly one of issuer and
/// institutionId; an update may not carry both.
pub fn card_product(body: &[u8], creating: bool) -> Result<CardProductFields, JcardError> {
    let wire: CardProduct = wire::parse_body(body)?;
    check_product(&wire, creating)?;
    let length = wire
        .card_number_length
        .as_ref()
        .map(|number| {
            number.as_u64().and_then(|length| u32::try_from(length).ok()).ok_or_else(|| {
                JcardError::bad_request("invalid.request", "cardNumberLength is a whole number")
            })
        })
        .transpose()?;
    let day = |text: &Option<String>,
               end: bool,
               field: &str|
     -> Result<Option<(String, i64)>, JcardError> {
        let Some(text) = text else { return Ok(None) };
        let instant = if end { dates::parse_day_end(text) } else { dates::parse_day_start(text) };
        instant.map(|ms| Some((text.trim().to_owned(), ms))).ok_or_else(|| {
            JcardError::bad_request("invalid.date", format!("{field} must be a date yyyy-MM-dd"))
        })
    };
    Ok(CardProductFields {
        start_date: day(&wire.start_date, false, "startDate")?,
        end_date: day(&wire.end_date, true, "endDate")?,
        name: wire.name,
        code: wire.code,
        issuer: wire.issuer.map(|number| number.to_string()),
        institution_id: wire.institution_id,
        issued_account: wire.issued_account,
        fee_account: wire.fee_account,
        losses_account: wire.losses_account,
        external_account: wire.external_account,
        active: wire.active,
        anonymous: wire.anonymous,
        bin: wire.bin,
        card_number_length: length,
        random_card_number: wire.random_card_number,
        allow_atm: wire.allow_atm,
        allow_ecommerce: wire.allow_ecommerce,
        allow_moto: wire.allow_moto,
        allow_pos: wire.allow_pos,
        allow_tips: wire.allow_tips,
        smart: wire.smart,
    })
}

/// The product schema's required fields, oneOf and lengths.
fn check_product(wire: &CardProduct, creating: bool) -> Result<(), JcardError> {
    if creating && (wire.name.is_none() || wire.code.is_none()) {
        return Err(JcardError::bad_request("missing.fields", "name and code are required"));
    }
    match (wire.issuer.is_some(), wire.institution_id.is_some(), creating) {
        (true, true, _) => {
            return Err(JcardError::bad_request(
                "invalid.request",
                "give issuer or institutionId, not both",
            ))
        }
        (false, false, true) => {
            return Err(JcardError::bad_request(
                "missing.fields",
                "one of issuer or institutionId is required",
            ))
        }
        _ => {}
    }
    let bounded = |value: &Option<String>, field: &str| match value {
        Some(text) if text.chars().count() > 40 => Err(JcardError::bad_request(
            "invalid.request",
            format!("{field} is at most 40 characters"),
        )),
        _ => Ok(()),
    };
    for (value, field) in [
        (&wire.name, "name"),
        (&wire.code, "code"),
        (&wire.issued_account, "issuedAccount"),
        (&wire.fee_account, "feeAccount"),
        (&wire.losses_account, "lossesAccount"),
        (&wire.external_account, "externalAccount"),
    ] {
        bounded(value, field)?;
    }
    if wire.bin.as_ref().is_some_and(|bin| {
        bin.is_empty() || bin.len() > 6 || !bin.bytes().all(|byte| byte.is_ascii_digit())
    }) {
        return Err(JcardError::bad_request("invalid.bin", "bin is 1 to 6 digits"));
    }
    Ok(())
}

/// `POST`/`PUT .../velocityprofiles`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Velocity {
    pub name: Option<String>,
    pub active: Option<bool>,
    pub approvals_only: Option<bool>,
    pub scope_entity: Option<VelocityScope>,
    pub valid_on_purchase: Option<bool>,
    pub valid_on_withdrawal: Option<bool>,
    pub valid_on_transfer: Option<bool>,
    pub currency_code: Option<String>,
    pub usage_limit: Option<serde_json::Number>,
    pub amount_limit: Option<serde_json::Number>,
    pub valid_on_credit: Option<bool>,
    pub scope_time: Option<VelocityPeriod>,
}

/// A velocity profile body; `creating` requires the schema's required fields.
pub fn velocity(body: &[u8], creating: bool) -> Result<VelocityFields, JcardError> {
    let wire: Velocity = wire::parse_body(body)?;
    if creating {
        let required = [
            ("name", wire.name.is_none()),
            ("active", wire.active.is_none()),
            ("approvalsOnly", wire.approvals_only.is_none()),
            ("currencyCode", wire.currency_code.is_none()),
            ("amountLimit", wire.amount_limit.is_none()),
            ("scopeEntity", wire.scope_entity.is_none()),
            ("scopeTime", wire.scope_time.is_none()),
        ];
        let missing: Vec<&str> =
            required.iter().filter(|(_, absent)| *absent).map(|(name, _)| *name).collect();
        if !missing.is_empty() {
            return Err(JcardError::bad_request(
                "missing.fields",
                format!("missing field(s) {}", missing.join(", ")),
            ));
        }
    }
    if wire.name.as_ref().is_some_and(|name| name.chars().count() > 40) {
        return Err(JcardError::bad_request("invalid.request", "name is at most 40 characters"));
    }
    if wire
        .currency_code
        .as_ref()
        .is_some_and(|code| code.len() > 5 || code.trim().parse::<u16>().is_err())
    {
        return Err(JcardError::bad_request(
            "invalid.request",
            "currencyCode is a numeric currency code",
        ));
    }
    let usage_limit = wire
        .usage_limit
        .as_ref()
        .map(|number| {
            number.as_u64().ok_or_else(|| {
                JcardError::bad_request("invalid.request", "usageLimit is a whole number")
            })
        })
        .transpose()?;
    let amount_limit =
        wire.amount_limit.as_ref().map(|number| wire::amount(number, "amountLimit")).transpose()?;
    if amount_limit.is_some_and(Amount::is_negative) {
        return Err(JcardError::bad_request("invalid.amount", "amountLimit cannot be negative"));
    }
    Ok(VelocityFields {
        name: wire.name,
        active: wire.active,
        approvals_only: wire.approvals_only,
        scope: wire.scope_entity,
        period: wire.scope_time,
        currency_code: wire.currency_code.map(|code| code.trim().to_owned()),
        usage_limit,
        amount_limit,
        valid_on_purchase: wire.valid_on_purchase,
        valid_on_withdrawal: wire.valid_on_withdrawal,
        valid_on_transfer: wire.valid_on_transfer,
        valid_on_credit: wire.valid_on_credit,
    })
}

/// `POST /cards`. `accountCode` is not in the document's schema but its example sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CardCreate {
    pub card_holder: String,
    pub card_product: String,
    pub account_code: Option<String>,
    pub bin: Option<String>,
    pub pan: Option<String>,
    pub track1: Option<String>,
    pub track2: Option<String>,
    pub expiration: Option<String>,
    pub service_code: Option<String>,
    pub embossing_name: Option<String>,
    #[serde(rename = "virtual")]
    pub is_virtual: Option<bool>,
}

/// The card's number, expiry, service code and name, from whichever of the three forms the
/// body uses (exactly one).
pub fn card_number(
    wire: &CardCreate,
) -> Result<(CardNumber, String, String, Option<String>), JcardError> {
    let forms =
        [wire.bin.is_some(), wire.pan.is_some(), wire.track1.is_some() || wire.track2.is_some()];
    if forms.iter().filter(|used| **used).count() != 1 {
        return Err(JcardError::bad_request("invalid.request", "give exactly one of: bin + expiration + serviceCode, pan + expiration + serviceCode, or track1 + track2"));
    }
    if let (Some(track1), Some(track2)) = (&wire.track1, &wire.track2) {
        let tracks = parse_tracks(track1, track2)
            .map_err(|message| JcardError::bad_request("invalid.track", message))?;
        return Ok((
            CardNumber::Given(tracks.pan),
            tracks.expiration,
            tracks.service_code,
            tracks.name,
        ));
    }
    if wire.track1.is_some() || wire.track2.is_some() {
        return Err(JcardError::bad_request("missing.fields", "track1 and track2 go together"));
    }
    let (Some(expiration), Some(service_code)) = (&wire.expiration, &wire.service_code) else {
        return Err(JcardError::bad_request(
            "missing.fields",
            "expiration and serviceCode are required with bin or pan",
        ));
    };
    let expiration = expiration_text(expiration)?;
    if service_code.len() != 3 || !service_code.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(JcardError::bad_request("invalid.request", "serviceCode is three digits"));
    }
    let number = match (&wire.bin, &wire.pan) {
        (Some(bin), _) if bin.len() == 6 && bin.bytes().all(|byte| byte.is_ascii_digit()) => {
            CardNumber::Generate { bin: bin.clone() }
        }
        (Some(_), _) => return Err(JcardError::bad_request("invalid.bin", "bin is six digits")),
        (None, Some(pan)) => CardNumber::Given(
            Pan::parse(pan)
                .map_err(|error| JcardError::bad_request("invalid.pan", error.to_string()))?,
        ),
        (None, None) => {
            return Err(JcardError::bad_request("missing.fields", "bin or pan is required"))
        }
    };
    Ok((number, expiration, service_code.clone(), None))
}

/// `yyyyMM` with a real month.
pub fn expiration_text(text: &str) -> Result<String, JcardError> {
    let valid = text.len() == 6
        && text.bytes().all(|byte| byte.is_ascii_digit())
        && crate::card::expiration_month_index(text).is_some();
    if !valid {
        return Err(JcardError::bad_request("invalid.expiration", "expiration is yyyyMM"));
    }
    Ok(text.to_owned())
}

/// A card debit, credit or transfer body after its schema check.
#[derive(Debug, Clone)]
pub struct CardMovementBody {
    pub amount: Amount,
    pub currency: u16,
    pub rrn: String,
    pub description: String,
    pub channel: Option<String>,
    pub pin_block: Option<String>,
    pub sender: Option<String>,
    pub recipient: Option<String>,
    /// Canonical JSON without `pinblk` and `ksn`: kept in the tranlog and fingerprinted.
    pub canonical: String,
}

/// Fields of the card movement schemas; `pinblk` and `ksn` appear in the document's debit
/// example, `id` in its transfer example (taken as the RRN).
const CARD_FIELDS: [&str; 7] =
    ["currency", "amount", "rrn", "description", "channel", "invoice", "reason"];
const DEBIT_EXTRA: [&str; 2] = ["pinblk", "ksn"];
const TRANSFER_FIELDS: [&str; 9] = [
    "recipient",
    "sender",
    "currency",
    "amount",
    "reference",
    "rrn",
    "reason",
    "channel",
    "description",
];

/// Checks a card movement body: `transfer` for `POST /cards/transfers`, `debit` allows the
/// PIN block.
pub fn card_movement(
    body: &[u8],
    transfer: bool,
    debit: bool,
) -> Result<CardMovementBody, JcardError> {
    if !transfer {
        if let Some(plain) = plain_card_movement(body, debit) {
            return plain;
        }
    }
    general_card_movement(body, transfer, debit)
}

/// A card debit or credit body as the switch's clients send it: valid JSON, each member once,
/// strings without escapes. Read into borrowed fields without a JSON tree: a card debit's
/// request side spent an eighth of its time building, checking and printing that tree
/// (`docs/performance.md`, "A card movement's body read once").
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlainCardMovement<'a> {
    amount: Option<serde_json::Number>,
    currency: Option<serde_json::Number>,
    rrn: Option<&'a str>,
    description: Option<&'a str>,
    channel: Option<&'a str>,
    invoice: Option<&'a str>,
    reason: Option<&'a str>,
    pinblk: Option<&'a str>,
    ksn: Option<&'a str>,
}

/// `card_movement` of a debit or credit body that `PlainCardMovement` reads, or `None` for any
/// other body (mended commas, a repeated member, an escaped string, a member of the wrong type,
/// one the route does not take, a missing one), which `general_card_movement` then reads, to
/// the same result or its error. A `null` member is absent on both ways.
fn plain_card_movement(body: &[u8], debit: bool) -> Option<Result<CardMovementBody, JcardError>> {
    let plain: PlainCardMovement<'_> = serde_json::from_slice(body).ok()?;
    if !debit && (plain.pinblk.is_some() || plain.ksn.is_some()) {
        return None;
    }
    let (Some(amount), Some(currency), Some(rrn)) = (&plain.amount, &plain.currency, plain.rrn)
    else {
        return None;
    };
    let canonical = plain_canonical(&plain)?;
    let body = movement_body(MovementFields {
        amount: Some(amount),
        currency: Some(currency),
        rrn: Some(rrn),
        description: plain.description,
        reason: plain.reason,
        channel: plain.channel,
        pin_block: plain.pinblk,
        sender: None,
        recipient: None,
    });
    Some(body.map(|body| CardMovementBody { canonical, ..body }))
}

/// What `general_card_movement` prints as the canonical body: the members present, without
/// `pinblk` and `ksn`, in the order of their names, compact.
fn plain_canonical(plain: &PlainCardMovement<'_>) -> Option<String> {
    let mut out = Vec::with_capacity(128);
    out.push(b'{');
    if let Some(amount) = &plain.amount {
        wire::put_member(&mut out, "amount", amount)?;
    }
    if let Some(channel) = &plain.channel {
        wire::put_member(&mut out, "channel", channel)?;
    }
    if let Some(currency) = &plain.currency {
        wire::put_member(&mut out, "currency", currency)?;
    }
    for (name, text) in [
        ("description", plain.description),
        ("invoice", plain.invoice),
        ("reason", plain.reason),
        ("rrn", plain.rrn),
    ] {
        if let Some(text) = text {
            wire::put_member(&mut out, name, text)?;
        }
    }
    out.push(b'}');
    String::from_utf8(out).ok()
}

/// Any card movement body, read as a JSON tree (commas mended, nulls dropped, a transfer's `id`
/// taken as its RRN) and checked member by member, each problem with its own error.
fn general_card_movement(
    body: &[u8],
    transfer: bool,
    debit: bool,
) -> Result<CardMovementBody, JcardError> {
    let mut value = wire::parse_json(body)?;
    let Value::Object(members) = &mut value else {
        return Err(JcardError::bad_request("invalid.request", "the body must be a JSON object"));
    };
    wire::drop_nulls(members);
    if transfer && !members.contains_key("rrn") {
        if let Some(id) = members.remove("id") {
            members.insert("rrn".to_owned(), id);
        }
    }
    check_movement_members(members, transfer, debit)?;
    // check_movement_members saw every text member a string.
    let text = |key: &str| members.get(key).and_then(Value::as_str);
    let number = |key: &str| match members.get(key) {
        Some(Value::Number(number)) => Some(number),
        _ => None,
    };
    let body = movement_body(MovementFields {
        amount: number("amount"),
        currency: number("currency"),
        rrn: text("rrn"),
        description: text("description"),
        reason: text("reason"),
        channel: text("channel"),
        pin_block: text("pinblk"),
        sender: text("sender"),
        recipient: text("recipient"),
    })?;
    members.remove("pinblk");
    members.remove("ksn");
    Ok(CardMovementBody { canonical: value.to_string(), ..body })
}

/// The members of a card movement body that the switch reads, borrowed from either reading.
struct MovementFields<'a> {
    amount: Option<&'a serde_json::Number>,
    currency: Option<&'a serde_json::Number>,
    /// `None` when it is not a string (it is never missing here).
    rrn: Option<&'a str>,
    description: Option<&'a str>,
    reason: Option<&'a str>,
    channel: Option<&'a str>,
    pin_block: Option<&'a str>,
    sender: Option<&'a str>,
    recipient: Option<&'a str>,
}

/// The checks every card movement body gets once its members have the types the schema gives
/// them, in this order: the amount, the currency, the RRN. The canonical text is the caller's
/// to fill in.
fn movement_body(fields: MovementFields<'_>) -> Result<CardMovementBody, JcardError> {
    let amount = match fields.amount {
        Some(number) => wire::amount(number, "amount")?,
        None => return Err(JcardError::bad_request("invalid.request", "amount must be a number")),
    };
    if amount.units() <= 0 {
        return Err(JcardError::bad_request("invalid.amount", "amount must be positive"));
    }
    let currency = fields
        .currency
        .and_then(serde_json::Number::as_u64)
        .and_then(|code| u16::try_from(code).ok())
        .filter(|code| *code < 1000)
        .ok_or_else(|| {
            JcardError::bad_request(
                "invalid.currency",
                "currency is an ISO-4217 numeric code, e.g. 840",
            )
        })?;
    let Some(rrn) = fields.rrn else {
        return Err(JcardError::bad_request("invalid.request", "rrn must be a string"));
    };
    if rrn.is_empty() || rrn.len() > 12 || !rrn.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
        return Err(JcardError::bad_request("invalid.rrn", "rrn is 1 to 12 letters or digits"));
    }
    Ok(CardMovementBody {
        amount,
        currency,
        rrn: rrn.to_owned(),
        description: fields.description.or(fields.reason).unwrap_or_default().to_owned(),
        channel: fields.channel.map(str::to_owned),
        pin_block: fields.pin_block.map(str::to_owned),
        sender: fields.sender.map(str::to_owned),
        recipient: fields.recipient.map(str::to_owned),
        canonical: String::new(),
    })
}

/// A card movement body's field names, required fields and string fields.
fn check_movement_members(
    members: &serde_json::Map<String, Value>,
    transfer: bool,
    debit: bool,
) -> Result<(), JcardError> {
    let allowed = |key: &str| {
        if transfer {
            TRANSFER_FIELDS.contains(&key)
        } else {
            CARD_FIELDS.contains(&key) || (debit && DEBIT_EXTRA.contains(&key))
        }
    };
    if let Some(key) = members.keys().find(|key| !allowed(key)) {
        return Err(JcardError::bad_request("extra.fields", format!("unknown field `{key}`")));
    }
    let required: &[&str] = if transfer {
        &["amount", "currency", "rrn", "sender", "recipient"]
    } else {
        &["amount", "currency", "rrn"]
    };
    let missing: Vec<&str> =
        required.iter().copied().filter(|key| !members.contains_key(*key)).collect();
    if !missing.is_empty() {
        return Err(JcardError::bad_request(
            "missing.fields",
            format!("missing field(s) {}", missing.join(", ")),
        ));
    }
    let text = |key: &str| -> Result<Option<String>, JcardError> {
        match members.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => {
                Err(JcardError::bad_request("invalid.request", format!("{key} must be a string")))
            }
        }
    };
    for key in [
        "description",
        "channel",
        "invoice",
        "reason",
        "reference",
        "sender",
        "recipient",
        "pinblk",
        "ksn",
    ] {
        text(key)?;
    }
    for key in ["reference", "reason", "channel", "sender", "recipient"] {
        if text(key)?.is_some_and(|text| text.is_empty() || text.chars().count() > 250) && transfer
        {
            return Err(JcardError::bad_request(
                "invalid.request",
                format!("{key} is 1 to 250 characters"),
            ));
        }
    }
    Ok(())
}

/// `PUT /cards/{token}`: the schema names `cardProduct`, its example `cardProductId`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CardUpdate {
    #[serde(alias = "cardProductId")]
    pub card_product: Option<serde_json::Number>,
    pub expiration: Option<String>,
    #[serde(rename = "virtual")]
    pub is_virtual: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CardStatus {
    pub card_state: String,
}

pub fn card_state(text: &str) -> Result<CardState, JcardError> {
    CardState::parse(text).ok_or_else(|| {
        let names: Vec<&str> = CardState::ALL.iter().map(|state| state.name()).collect();
        JcardError::bad_request(
            "invalid.request",
            format!("cardState is one of {}", names.join(", ")),
        )
    })
}

/// `PUT /cards/{token}/pin`: the schema's `newPIN`/`oldPIN` PIN blocks (16+ of A-Z0-9), or the
/// example's `pin` (4 to 12 digits).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardPin {
    #[serde(rename = "newPIN")]
    pub new_pin: Option<String>,
    #[serde(rename = "oldPIN")]
    pub old_pin: Option<String>,
    pub pin: Option<String>,
}

pub fn card_pin(body: &[u8]) -> Result<(String, Option<String>), JcardError> {
    let wire: CardPin = wire::parse_body(body)?;
    let block_ok = |text: &str| {
        text.len() >= 16
            && text.len() <= 64
            && text.bytes().all(|byte| byte.is_ascii_uppercase() || byte.is_ascii_digit())
    };
    let pin_ok = |text: &str| {
        (4..=12).contains(&text.len()) && text.bytes().all(|byte| byte.is_ascii_digit())
    };
    let new = match (&wire.new_pin, &wire.pin) {
        (Some(block), None) if block_ok(block) => block.clone(),
        (None, Some(pin)) if pin_ok(pin) => pin.clone(),
        (None, None) => {
            return Err(JcardError::bad_request("missing.fields", "newPIN is required"))
        }
        _ => {
            return Err(JcardError::bad_request(
                "invalid.pin",
                "newPIN is a PIN block of 16+ characters A-Z0-9 (or pin, 4 to 12 digits)",
            ))
        }
    };
    if wire.old_pin.as_ref().is_some_and(|old| !block_ok(old) && !pin_ok(old)) {
        return Err(JcardError::bad_request(
            "invalid.pin",
            "oldPIN is a PIN block of 16+ characters A-Z0-9",
        ));
    }
    Ok((new, wire.old_pin))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CardAccount {
    pub account_code: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CardCardholder {
    pub cardholder_real_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documents_card_examples_pass() {
        let credit = br#"{
    "amount" : 100.00,
    "currency" : 840,
    "description": "Credit 100"
    "channel" : "jcard",
    "invoice" : "a200",
    "reason" : "Credit 100",
    "rrn" : "548715406820"
}"#;
        let body = card_movement(credit, false, false).unwrap();
        assert_eq!(
            (body.currency, body.rrn.as_str(), body.channel.as_deref()),
            (840, "548715406820", Some("jcard"))
        );
        let debit = br#"{
"currency" : 840,
"amount" : 100,
"description": "Credit 100"
"channel" : "jcard",
"invoice" : "a200",
"reason" : "Credit 100",
"rrn" : "3918506454",
"pinblk" : "ABCHSBDHB12121",
"ksn" : "ABDHABHDSBDHS"
}"#;
        let body = card_movement(debit, false, true).unwrap();
        assert_eq!(body.pin_block.as_deref(), Some("ABCHSBDHB12121"));
        assert!(!body.canonical.contains("ABCHSBDHB12121") && !body.canonical.contains("ksn"));
        assert!(card_movement(debit, false, false).is_err(), "a credit takes no PIN block");
        let transfer =
            br#"{"channel": "jcard", "amount": 100, "currency": 840, "reason": "pagoServicios",
            "reference": "Arreglo", "id": "AA1234", "sender": "s", "recipient": "r"}"#;
        assert_eq!(card_movement(transfer, true, false).unwrap().rrn, "AA1234");
        assert_eq!(card_pin(br#"{"pin": "1234"}"#).unwrap().0, "1234");
        assert!(card_pin(br#"{"newPIN": "short"}"#).is_err());
    }

    /// Member names of the random bodies: a debit's, then others.
    const NAMES: [&str; 12] = [
        "amount",
        "currency",
        "rrn",
        "description",
        "channel",
        "invoice",
        "reason",
        "pinblk",
        "ksn",
        "id",
        "sender",
        "other",
    ];
    /// Member values of the random bodies, valid for some members and not for others.
    const VALUES: [&str; 22] = [
        "100",
        "10.00",
        "12.34567",
        "-5",
        "0",
        "1e2",
        "840",
        "1000",
        "99999999999999999999",
        "\"840\"",
        "\"548715406820\"",
        "\"5487154068201\"",
        "\"AB-12\"",
        "\"\"",
        "\"Crédit 100 ü\"",
        "\"say \\\"hi\\\"\"",
        "\"tab\\there\"",
        "\"pos\"",
        "null",
        "true",
        "{}",
        "[1]",
    ];

    /// The borrowed reading of a debit or credit body gives what the tree reading gives, body
    /// for body: the same fields and canonical text, or the same error.
    #[test]
    fn a_plain_body_reads_as_the_general_reading_does() {
        let recipe = wire::random_bodies::Recipe {
            names: &NAMES,
            required: 3,
            typical: 9,
            values: &VALUES,
            valid: |name| match name {
                "amount" => "25.5",
                "currency" => "840",
                "rrn" => "\"000000000123\"",
                _ => "\"text\"",
            },
        };
        recipe.compare(
            &[false, true],
            |debit, body| plain_card_movement(body, debit),
            |debit, body| general_card_movement(body, false, debit),
        );
    }
}
