//! Wire formats of the wallet, customer, agent and login routes, as the document's schemas
//! define them, and their first check. Nothing here is seen by the core.

use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::errors::JcardError;
use super::wire;
use crate::money::Amount;
use crate::wallet::plan::Movement;

/// `POST /login`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub wallet: String,
    pub pin: String,
    #[serde(rename = "geoLocation")]
    pub geo_location: Option<GeoLocation>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoLocation {
    pub latitude: serde_json::Number,
    pub longitude: serde_json::Number,
}

/// `POST /wallets`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletCreate {
    pub code: String,
    #[serde(rename = "cardProduct")]
    pub card_product: Option<String>,
}

/// `PUT /wallets/{code}/link`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletLink {
    #[serde(rename = "realId")]
    pub real_id: String,
}

/// `PUT /wallets/{code}/changepin`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePin {
    pub pin: String,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub enum Gender {
    #[serde(rename = "f")]
    Female,
    #[serde(rename = "m")]
    Male,
}

/// The CardHolder fields common to every customer schema.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CustomerFields {
    pub real_id: Option<String>,
    pub active: Option<bool>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub honorific: Option<String>,
    pub gender: Option<Gender>,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub last_name: Option<String>,
    pub last_name2: Option<String>,
    pub email: Option<String>,
    pub address1: Option<String>,
    pub address2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub country: Option<String>,
    pub birth_date: Option<String>,
    pub notes: Option<String>,
    pub phone: Option<String>,
    /// Only in `POST /customers`.
    pub card_product: Option<String>,
    pub wallet_code: Option<String>,
    pub institution_id: Option<String>,
    pub currency_codes: Option<Vec<u16>>,
}

/// Fields only `POST /customers` accepts.
const CREATE_ONLY_FIELDS: [&str; 4] =
    ["cardProduct", "walletCode", "institutionId", "currencyCodes"];

/// `POST /customers`: realId, firstName, lastName and institutionId required; phone or
/// walletCode required.
pub fn customer_create(body: &[u8]) -> Result<CustomerFields, JcardError> {
    let fields: CustomerFields = wire::parse_body(body)?;
    let missing: Vec<&str> = [
        ("realId", fields.real_id.is_none()),
        ("firstName", fields.first_name.is_none()),
        ("lastName", fields.last_name.is_none()),
        ("institutionId", fields.institution_id.is_none()),
    ]
    .into_iter()
    .filter_map(|(name, absent)| absent.then_some(name))
    .collect();
    if !missing.is_empty() {
        return Err(JcardError::bad_request(
            "missing.fields",
            format!("missing field(s) {}", missing.join(", ")),
        ));
    }
    if fields.phone.is_none() && fields.wallet_code.is_none() {
        return Err(JcardError::bad_request(
            "missing.fields",
            "one of phone or walletCode is required",
        ));
    }
    if let Some(code) = &fields.wallet_code {
        wallet_code(code)?;
    }
    if fields.currency_codes.iter().flatten().any(|currency| *currency >= 1000) {
        return Err(JcardError::bad_request(
            "invalid.request",
            "currencyCodes are ISO-4217 numeric codes below 1000",
        ));
    }
    let real_id =
        wire::identifier(fields.real_id.as_deref().unwrap_or_default(), "realId")?.to_owned();
    Ok(CustomerFields { real_id: Some(real_id), ..fields })
}

/// `PUT /customers` (realId required) and `PUT /wallets/{code}/customer` (realId optional):
/// the CardHolder put schema, without the create-only fields.
pub fn customer_update(body: &[u8], real_id_required: bool) -> Result<CustomerFields, JcardError> {
    let value = wire::parse_json(body)?;
    if let Some(field) = CREATE_ONLY_FIELDS.iter().find(|field| value.get(**field).is_some()) {
        return Err(JcardError::bad_request("extra.fields", format!("unknown field `{field}`")));
    }
    let fields: CustomerFields = wire::from_value(value)?;
    if real_id_required && fields.real_id.is_none() {
        return Err(JcardError::bad_request("missing.fields", "missing field `realId`"));
    }
    let real_id = fields
        .real_id
        .as_deref()
        .map(|real_id| wire::identifier(real_id, "realId"))
        .transpose()?
        .map(str::to_owned);
    Ok(CustomerFields { real_id, ..fields })
}

/// `POST /agents` (name and phone required) and `PUT /agents/{id}` (no phone).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AgentFields {
    pub name: Option<String>,
    pub parent_id: Option<serde_json::Number>,
    pub phone: Option<String>,
    #[serde(rename = "type")]
    pub agent_type: Option<String>,
    pub account: Option<String>,
    pub active: Option<bool>,
    pub mcc: Option<String>,
}

pub fn agent_create(body: &[u8]) -> Result<AgentFields, JcardError> {
    let fields: AgentFields = wire::parse_body(body)?;
    if fields.name.is_none() || fields.phone.is_none() {
        return Err(JcardError::bad_request("missing.fields", "name and phone are required"));
    }
    Ok(fields)
}

pub fn agent_update(body: &[u8]) -> Result<AgentFields, JcardError> {
    let value = wire::parse_json(body)?;
    if value.get("phone").is_some() {
        return Err(JcardError::bad_request("extra.fields", "unknown field `phone`"));
    }
    wire::from_value(value)
}

/// An agent id from the body or path.
pub fn agent_id(number: &serde_json::Number) -> Result<u64, JcardError> {
    number.as_u64().ok_or_else(|| {
        JcardError::bad_request("invalid.request", "an agent id is a positive integer")
    })
}

/// A wallet code: `^[a-zA-Z0-9][-_a-zA-Z0-9]{0,63}$`.
pub fn wallet_code(code: &str) -> Result<&str, JcardError> {
    let mut characters = code.chars();
    let first_ok = characters.next().is_some_and(|first| first.is_ascii_alphanumeric());
    let rest_ok = characters
        .all(|character| character.is_ascii_alphanumeric() || character == '-' || character == '_');
    if !first_ok || !rest_ok || code.len() > 64 {
        return Err(JcardError::bad_request(
            "invalid.walletCode",
            "a wallet code is 1 to 64 letters, digits, - or _, starting with a letter or digit",
        ));
    }
    Ok(code)
}

/// A PIN as `changepin` takes it: at least 4 digits.
pub fn pin(pin: &str) -> Result<&str, JcardError> {
    if pin.len() < 4 || pin.len() > 12 || !pin.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(JcardError::bad_request("invalid.pin", "a PIN is 4 to 12 digits"));
    }
    Ok(pin)
}

/// A boolean query flag: true/false, yes/no or y/n in any case; absent or empty is false.
pub fn flag(value: Option<&str>, name: &str) -> Result<bool, JcardError> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => Ok(false),
        Some("true" | "yes" | "y") => Ok(true),
        Some("false" | "no" | "n") => Ok(false),
        Some(_) => Err(JcardError::bad_request(
            "invalid.request",
            format!("{name} accepts true/false, yes/no or y/n"),
        )),
    }
}

/// A credit, debit or transfer body after its schema check.
#[derive(Debug, Clone)]
pub struct MovementBody {
    pub amount: Amount,
    /// The `currency` field: layers, the first one posted to.
    pub layers: Vec<i16>,
    pub rrn: String,
    pub kind: String,
    pub description: String,
    pub geo_location: Option<(String, String)>,
    pub pin: Option<String>,
    /// The body as canonical JSON (sorted keys, exact numbers), without `pin`: this is what
    /// the tranlog keeps and what the RRN fingerprint covers, so no PIN is ever stored, not
    /// even hashed.
    pub canonical: String,
}

const COMMON_MOVEMENT_FIELDS: [&str; 10] = [
    "description",
    "amount",
    "currency",
    "rrn",
    "geoLocation",
    "type",
    "realId",
    "birthDate",
    "interface",
    "pin",
];

/// Fields each movement's schema allows besides the common ones.
fn extra_movement_fields(movement: Movement) -> &'static [&'static str] {
    match movement {
        Movement::Credit => &["financialEntityData", "address", "phone", "posAtmCode", "posAtm"],
        Movement::Debit => {
            &["financialEntityData", "operationAdditionalInfo", "posAtmCode", "posAtm"]
        }
        Movement::Transfer => &["thirdPartyNetwork", "agentId", "phone"],
    }
}

/// Checks a movement body against its schema (required fields, types, patterns, no unknown
/// fields).
pub fn movement_body(movement: Movement, body: &[u8]) -> Result<MovementBody, JcardError> {
    if let Some(plain) = plain_movement_body(movement, body) {
        return plain;
    }
    general_movement_body(movement, body)
}

/// A wallet movement body as the switch's clients send it: valid JSON, each member once,
/// strings without escapes, no nested object (`geoLocation` and the like). Read into borrowed
/// fields without a JSON tree, as card movements are (`wire_card::PlainCardMovement`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PlainMovement<'a> {
    amount: Option<serde_json::Number>,
    currency: Option<&'a str>,
    rrn: Option<&'a str>,
    #[serde(rename = "type")]
    kind: Option<&'a str>,
    description: Option<&'a str>,
    real_id: Option<&'a str>,
    birth_date: Option<&'a str>,
    interface: Option<&'a str>,
    pin: Option<&'a str>,
    address: Option<&'a str>,
    phone: Option<&'a str>,
    pos_atm_code: Option<&'a str>,
    pos_atm: Option<&'a str>,
    agent_id: Option<&'a str>,
}

impl PlainMovement<'_> {
    /// The string members by their wire names, in the order of those names (as a JSON tree
    /// prints them); `pin` last, as it is left out of the canonical text.
    fn texts(&self) -> [(&'static str, Option<&str>); 13] {
        [
            ("address", self.address),
            ("agentId", self.agent_id),
            ("birthDate", self.birth_date),
            ("currency", self.currency),
            ("description", self.description),
            ("interface", self.interface),
            ("phone", self.phone),
            ("posAtm", self.pos_atm),
            ("posAtmCode", self.pos_atm_code),
            ("realId", self.real_id),
            ("rrn", self.rrn),
            ("type", self.kind),
            ("pin", self.pin),
        ]
    }
}

/// `movement_body` of a body that `PlainMovement` reads, or `None` for any other (mended
/// commas, a repeated member, an escaped string, a nested object, a member of the wrong type,
/// one the movement does not take, a missing one), which `general_movement_body` then reads,
/// to the same result or its error.
fn plain_movement_body(
    movement: Movement,
    body: &[u8],
) -> Option<Result<MovementBody, JcardError>> {
    let plain: PlainMovement<'_> = serde_json::from_slice(body).ok()?;
    let allowed = |key: &str| {
        COMMON_MOVEMENT_FIELDS.contains(&key) || extra_movement_fields(movement).contains(&key)
    };
    let texts = plain.texts();
    if texts.iter().any(|(key, text)| text.is_some() && !allowed(key))
        || (movement == Movement::Credit && plain.pin.is_some())
    {
        return None;
    }
    let (Some(amount), Some(currency), Some(rrn), Some(kind)) =
        (&plain.amount, plain.currency, plain.rrn, plain.kind)
    else {
        return None;
    };
    let canonical = plain_canonical(&plain)?;
    let text = |name: &str| texts.iter().find(|(key, _)| *key == name).and_then(|(_, text)| *text);
    let checked = check_movement_patterns(movement, text)
        .and_then(|()| amount_and_layers(Some(amount), currency));
    Some(checked.map(|(amount, layers)| MovementBody {
        amount,
        layers,
        rrn: rrn.to_owned(),
        kind: kind.to_owned(),
        description: plain.description.unwrap_or_default().to_owned(),
        geo_location: None,
        pin: plain.pin.map(str::to_owned),
        canonical,
    }))
}

/// What `general_movement_body` prints as the canonical body: the members present, without
/// `pin`, in the order of their names, compact.
fn plain_canonical(plain: &PlainMovement<'_>) -> Option<String> {
    let mut out = Vec::with_capacity(160);
    out.push(b'{');
    let texts = plain.texts();
    // "amount" sorts between "agentId" and "birthDate".
    let (before, after) = texts.split_at(2);
    for (name, text) in before {
        if let Some(text) = text {
            wire::put_member(&mut out, name, text)?;
        }
    }
    if let Some(amount) = &plain.amount {
        wire::put_member(&mut out, "amount", amount)?;
    }
    for (name, text) in after {
        if let (Some(text), false) = (text, *name == "pin") {
            wire::put_member(&mut out, name, text)?;
        }
    }
    out.push(b'}');
    String::from_utf8(out).ok()
}

/// Any wallet movement body, read as a JSON tree (commas mended, nulls dropped) and checked
/// member by member, each problem with its own error.
fn general_movement_body(movement: Movement, body: &[u8]) -> Result<MovementBody, JcardError> {
    let mut value = wire::parse_json(body)?;
    let Value::Object(members) = &mut value else {
        return Err(JcardError::bad_request("invalid.request", "the body must be a JSON object"));
    };
    wire::drop_nulls(members);
    let members = &*members;
    let allowed = |key: &str| {
        COMMON_MOVEMENT_FIELDS.contains(&key) || extra_movement_fields(movement).contains(&key)
    };
    if let Some(key) = members.keys().find(|key| !allowed(key)) {
        return Err(JcardError::bad_request("extra.fields", format!("unknown field `{key}`")));
    }
    // `pin` is not in the credit schema.
    if movement == Movement::Credit && members.contains_key("pin") {
        return Err(JcardError::bad_request("extra.fields", "unknown field `pin`"));
    }
    let missing: Vec<&str> = ["amount", "currency", "rrn", "type"]
        .into_iter()
        .filter(|key| !members.contains_key(*key))
        .collect();
    if !missing.is_empty() {
        return Err(JcardError::bad_request(
            "missing.fields",
            format!("missing field(s) {}", missing.join(", ")),
        ));
    }
    check_movement_types(movement, members)?;
    let number = match members.get("amount") {
        Some(Value::Number(number)) => Some(number),
        _ => None,
    };
    let text = |key: &str| members.get(key).and_then(Value::as_str).map(str::to_owned);
    let (amount, layers) =
        amount_and_layers(number, members.get("currency").and_then(Value::as_str).unwrap_or(""))?;
    let geo_location = members.get("geoLocation").map(geo_location).transpose()?;
    Ok(MovementBody {
        amount,
        layers,
        rrn: text("rrn").unwrap_or_default(),
        kind: text("type").unwrap_or_default(),
        description: text("description").unwrap_or_default(),
        geo_location,
        pin: text("pin"),
        canonical: without_pin(value),
    })
}

/// The amount (a positive number) and the layers `currency` lists, checked in that order.
fn amount_and_layers(
    number: Option<&serde_json::Number>,
    currency: &str,
) -> Result<(Amount, Vec<i16>), JcardError> {
    let amount = match number {
        Some(number) => wire::amount(number, "amount")?,
        None => return Err(JcardError::bad_request("invalid.request", "amount must be a number")),
    };
    if amount.units() <= 0 {
        return Err(JcardError::bad_request("invalid.amount", "amount must be positive"));
    }
    let layers = crate::ledger::parse_layers(currency)
        .map_err(|message| JcardError::bad_request("invalid.currency", message))?;
    if layers.is_empty() || layers.iter().any(|layer| *layer < 0) {
        return Err(JcardError::bad_request(
            "invalid.currency",
            "currency lists one or more layers, e.g. \"840\" or \"600,3600\"",
        ));
    }
    Ok((amount, layers))
}

fn without_pin(mut value: Value) -> String {
    if let Value::Object(members) = &mut value {
        members.remove("pin");
    }
    value.to_string()
}

/// Types, patterns and lengths of the movement schemas' fields.
fn check_movement_types(
    movement: Movement,
    members: &Map<String, Value>,
) -> Result<(), JcardError> {
    let invalid = |message: String| JcardError::bad_request("invalid.request", message);
    for (key, value) in members {
        match (key.as_str(), value) {
            ("amount", Value::Number(_))
            | (
                "geoLocation"
                | "financialEntityData"
                | "operationAdditionalInfo"
                | "thirdPartyNetwork",
                Value::Object(_),
            ) => {}
            ("amount", _) => return Err(invalid("amount must be a number".to_owned())),
            (
                "geoLocation"
                | "financialEntityData"
                | "operationAdditionalInfo"
                | "thirdPartyNetwork",
                _,
            ) => {
                return Err(invalid(format!("{key} must be an object")));
            }
            (_, Value::String(_)) => {}
            (_, _) => return Err(invalid(format!("{key} must be a string"))),
        }
    }
    check_movement_patterns(movement, |key| members.get(key).and_then(Value::as_str))?;
    check_nested(members)
}

/// The patterns and lengths of a movement body's string members, read by `text`, in order.
fn check_movement_patterns<'a>(
    movement: Movement,
    text: impl Fn(&str) -> Option<&'a str>,
) -> Result<(), JcardError> {
    let invalid = |message: String| JcardError::bad_request("invalid.request", message);
    let present = |key: &str| text(key).is_some();
    let text = |key: &str| text(key).unwrap_or_default();
    let alphanumeric = |text: &str, max: usize| {
        !text.is_empty()
            && text.len() <= max
            && text.bytes().all(|byte| byte.is_ascii_alphanumeric())
    };
    if !alphanumeric(text("rrn"), 12) {
        return Err(JcardError::bad_request("invalid.rrn", "rrn is 1 to 12 letters or digits"));
    }
    let single_layer = (1..=4).contains(&text("currency").len())
        && text("currency").bytes().all(|byte| byte.is_ascii_digit());
    if movement == Movement::Credit && !single_layer {
        return Err(JcardError::bad_request(
            "invalid.currency",
            "a credit's currency is one layer of 1 to 4 digits",
        ));
    }
    if present("posAtm") && !alphanumeric(text("posAtm"), 8) {
        return Err(invalid("posAtm is 1 to 8 letters or digits".to_owned()));
    }
    if text("posAtmCode").len() > 12 {
        return Err(invalid("posAtmCode is at most 12 characters".to_owned()));
    }
    Ok(())
}

/// The nested objects' required members and types.
fn check_nested(members: &Map<String, Value>) -> Result<(), JcardError> {
    let invalid = |message: &str| Err(JcardError::bad_request("invalid.request", message));
    if let Some(entity) = members.get("financialEntityData") {
        let account = entity.get("entityCustomerAccount").and_then(Value::as_str);
        if entity.get("entityId").and_then(Value::as_str).is_none() || account.is_none() {
            return invalid("financialEntityData needs entityId and entityCustomerAccount strings");
        }
        if account.is_some_and(|account| account.len() > 25) {
            return invalid("financialEntityData.entityCustomerAccount is at most 25 characters");
        }
    }
    if let Some(network) = members.get("thirdPartyNetwork") {
        let has = |key: &str| network.get(key).and_then(Value::as_str).is_some();
        if !has("tradeName") || !has("tradeContact") {
            return invalid("thirdPartyNetwork needs tradeName and tradeContact strings");
        }
    }
    if let Some(info) = members.get("operationAdditionalInfo") {
        let strings = ["serviceName", "customerData"]
            .iter()
            .all(|key| info.get(*key).is_none_or(Value::is_string));
        if !strings {
            return invalid("operationAdditionalInfo's serviceName and customerData are strings");
        }
    }
    Ok(())
}

/// A geoLocation object: latitude and longitude numbers, nothing else.
pub fn geo_location(value: &Value) -> Result<(String, String), JcardError> {
    let location: GeoLocation = wire::from_value(value.clone())?;
    Ok((location.latitude.to_string(), location.longitude.to_string()))
}

/// What identifies a request's content for RRN idempotency: the route, the wallets it names,
/// and the body (canonical JSON).
pub fn fingerprint(route: &str, wallets: &[&str], canonical_body: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [route].iter().chain(wallets).chain([&canonical_body]) {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    crate::core::keys::hex_lower(&hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documents_movement_examples_pass_their_schemas() {
        let credit = br#"{"amount": 200, "currency": "840", "description": "credit 10", "rrn": "548715406820",
            "type": "cashInA2W", "realId": "111111111", "geoLocation": {"latitude": -33, "longitude": 54.233023}}"#;
        let body = movement_body(Movement::Credit, credit).unwrap();
        assert_eq!((body.layers.clone(), body.kind.as_str()), (vec![840], "cashInA2W"));
        assert_eq!(body.geo_location, Some(("-33".to_owned(), "54.233023".to_owned())));
        let debit = br#"{
    "amount" :10.00,
    "currency" : "600,3600",
    "description":  "debit 10",
    "rrn" : "561408221870",
    "financialEntityData" :  {
        "entityId" :  "12232111",
        "entityCustomerAccount" :  "12232323"
    },
    "realId" : "11111111",
    "birthDate" : "1990-04-31"
    "type" : "creditBankAccountW2A"
}"#;
        assert_eq!(movement_body(Movement::Debit, debit).unwrap().layers, vec![600, 3600]);
        let transfer = br#"{
    "amount" : 10.00,
    "currency" : "840",
    "description" : "A description",
    "rrn" : "1234abc",
    "realId" : "111111111"
    "geoLocation" : {
        "latitude" : 34.8836,
        "longitude" :  56.1819
    },
    "pin": "123456",
    "type" : "P2PRemittances"
}"#;
        assert_eq!(
            movement_body(Movement::Transfer, transfer).unwrap().pin.as_deref(),
            Some("123456")
        );
    }

    #[test]
    fn movement_schemas_refuse_what_they_do_not_allow() {
        let refused = |movement, body: &str| {
            movement_body(movement, body.as_bytes()).unwrap_err().into_response().status.as_u16()
        };
        let base = r#""amount": 1, "currency": "840", "rrn": "abc", "type": "t""#;
        assert_eq!(refused(Movement::Credit, &format!("{{{base}, \"pin\": \"1234\"}}")), 400);
        assert_eq!(refused(Movement::Debit, &format!("{{{base}, \"phone\": \"1\"}}")), 400);
        assert_eq!(
            refused(Movement::Credit, r#"{"amount": 1, "currency": "840", "type": "t"}"#),
            400
        );
        assert_eq!(
            refused(
                Movement::Credit,
                r#"{"amount": 1, "currency": "840", "rrn": "has space", "type": "t"}"#
            ),
            400
        );
        assert_eq!(
            refused(
                Movement::Credit,
                r#"{"amount": 0, "currency": "840", "rrn": "a", "type": "t"}"#
            ),
            400
        );
        assert_eq!(
            refused(
                Movement::Credit,
                r#"{"amount": 1, "currency": "840,1840", "rrn": "a", "type": "t"}"#
            ),
            400
        );
        assert_eq!(
            refused(Movement::Debit, &format!("{{{base}, \"posAtm\": \"TOO-LONG-X\"}}")),
            400
        );
        assert_eq!(
            refused(
                Movement::Transfer,
                &format!("{{{base}, \"thirdPartyNetwork\": {{\"tradeName\": \"x\"}}}}")
            ),
            400
        );
        assert!(movement_body(
            Movement::Debit,
            format!("{{{base}, \"operationAdditionalInfo\": {{\"serviceName\": \"s\"}}}}")
                .as_bytes()
        )
        .is_ok());
    }

    /// Member names of the random bodies: the required ones, then the others any movement
    /// takes, nested ones and an unknown one.
    const NAMES: [&str; 18] = [
        "amount",
        "currency",
        "rrn",
        "type",
        "description",
        "realId",
        "birthDate",
        "interface",
        "pin",
        "address",
        "phone",
        "posAtmCode",
        "posAtm",
        "agentId",
        "geoLocation",
        "financialEntityData",
        "thirdPartyNetwork",
        "other",
    ];
    /// Member values of the random bodies, valid for some members and not for others.
    const VALUES: [&str; 20] = [
        "100",
        "10.00",
        "12.34567",
        "-5",
        "0",
        "840",
        "\"840\"",
        "\"600,3600\"",
        "\"-1\"",
        "\"548715406820\"",
        "\"5487154068201\"",
        "\"AB-12\"",
        "\"\"",
        "\"TOO-LONG-X\"",
        "\"Crédit ü\"",
        "\"say \\\"hi\\\"\"",
        "null",
        "true",
        "{\"latitude\": 1, \"longitude\": 2.5}",
        "{\"entityId\": \"1\", \"entityCustomerAccount\": \"2\"}",
    ];

    /// The borrowed reading of a wallet movement body gives what the tree reading gives, body
    /// for body and movement for movement: the same fields and canonical text, or the same
    /// error.
    #[test]
    fn a_plain_movement_body_reads_as_the_general_reading_does() {
        let recipe = wire::random_bodies::Recipe {
            names: &NAMES,
            required: 4,
            typical: 14,
            values: &VALUES,
            valid: |name| match name {
                "amount" => "25.5",
                "currency" => "\"840\"",
                "rrn" => "\"000000000123\"",
                "posAtm" => "\"POS1\"",
                _ => "\"text\"",
            },
        };
        recipe.compare(
            &[Movement::Credit, Movement::Debit, Movement::Transfer],
            plain_movement_body,
            general_movement_body,
        );
    }

    #[test]
    fn flags_and_codes() {
        assert!(flag(Some("Yes"), "x").unwrap());
        assert!(flag(Some("y"), "x").unwrap());
        assert!(!flag(Some("n"), "x").unwrap());
        assert!(!flag(None, "x").unwrap());
        assert!(flag(Some("maybe"), "x").is_err());
        assert!(wallet_code("1458743035773").is_ok());
        assert!(wallet_code("-bad").is_err());
        assert!(pin("143871378").is_ok());
        assert!(pin("12a4").is_err());
        assert_ne!(fingerprint("credit", &["a"], "{}"), fingerprint("credit", &["b"], "{}"));
    }
}
