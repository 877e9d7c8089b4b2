//! The properties the fuzz targets check: one function per target, taking any bytes. Each
//! feeds the input to the switch's own decoders and parsers and asserts what must hold for
//! every input: no panic, a refusal is an error value of the dialect's "bad request" kind
//! (never a server error), and parse(format(x)) == x where a format exists. The fuzz targets
//! call these; `tests/it/fuzz_regressions.rs` replays the seed corpus and every input that
//! once failed through the same functions in `cargo test`.

use cardswitch::api::cashback::errors::CashbackError;
use cardswitch::api::cashback::wire as cashback;
use cardswitch::api::giftcard::errors::GiftcardError;
use cardswitch::api::giftcard::wire as giftcard;
use cardswitch::api::issuing::errors::IssuingError;
use cardswitch::api::issuing::{jws, wire as issuing};
use cardswitch::api::jcard::errors::JcardError;
use cardswitch::api::jcard::{dates, gl, lenient, wire, wire_card, wire_wallet};
use cardswitch::bearer::{self, BearerClaims, BearerKey, BearerScope};
use cardswitch::config::Config;
use cardswitch::core::auth::{self, NonceCache};
use cardswitch::core::keys::MasterKey;
use cardswitch::http::router::Router;
use cardswitch::ledger::parse_layers;
use cardswitch::money::Amount;
use cardswitch::wallet::plan::Movement;
use serde_json::{Number, Value};

/// The clock every target reads: a fixed instant, so a failing input fails again.
const NOW_MS: i64 = 1_700_000_000_000;

/// The limits the targets check against: the shipped defaults.
fn limits() -> Config {
    Config::default()
}

/// The input cut at newlines into exactly `count` fields (missing ones are empty; the last
/// keeps the rest, newlines included).
fn fields(data: &[u8], count: usize) -> Vec<&[u8]> {
    let mut parts: Vec<&[u8]> = data.splitn(count, |byte| *byte == b'\n').collect();
    parts.resize(count, &[]);
    parts
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `Amount::parse` on any text; what it accepts renders back to itself, in every rendering
/// a dialect uses. Also any 64-bit amount renders to text that parses back to it.
pub fn amount(data: &[u8]) {
    let input = text(data);
    if let Ok(amount) = Amount::parse(&input) {
        amount_round_trips(amount);
        jcard_amount_agrees(&input, amount);
    }
    if let Some(units) = data.get(..8).and_then(|bytes| <[u8; 8]>::try_from(bytes).ok()) {
        amount_round_trips(Amount::from_units(i64::from_le_bytes(units)));
    }
    cashback_amount(&input);
    if let Ok(number) = serde_json::from_str::<Number>(input.trim()) {
        if let Ok(amount) = issuing::amount(&number) {
            assert!(amount.units() > 0, "issuing accepted {input:?} as {amount:?}");
        }
    }
}

fn amount_round_trips(amount: Amount) {
    let shown = amount.to_string();
    assert_eq!(Amount::parse(&shown), Ok(amount), "{amount:?} rendered as {shown:?}");
    let fixed = amount.to_fixed(4);
    assert_eq!(Amount::parse(&fixed), Ok(amount), "{amount:?} rendered as {fixed:?}");
    assert_eq!(Amount::parse(&amount.to_decimal().to_string()), Ok(amount));
}

/// jCard reads amounts as JSON numbers: a number the ledger keeps means the same there.
fn jcard_amount_agrees(input: &str, amount: Amount) {
    if let Ok(number) = serde_json::from_str::<Number>(input.trim()) {
        assert_eq!(wire::amount(&number, "amount").ok(), Some(amount), "jCard read {input:?}");
    }
}

/// The cashback dialect's amounts (string or number, two decimals, positive, bounded): what
/// it accepts, it renders as text it accepts again as the same amount.
fn cashback_amount(input: &str) {
    let mut values = vec![Value::String(input.to_owned())];
    if let Ok(number) = serde_json::from_str::<Number>(input.trim()) {
        values.push(Value::Number(number));
    }
    for value in values {
        let whole_max = limits().cashback.amount_whole_max;
        match cashback::amount("amount", &value, whole_max) {
            Ok(amount) => {
                assert!(amount > Amount::ZERO, "cashback accepted {value} as {amount:?}");
                let shown = Value::String(cashback::money(amount));
                assert_eq!(
                    cashback::amount("amount", &shown, whole_max).ok(),
                    Some(amount),
                    "cashback rendered {amount:?} as {shown}"
                );
            }
            Err(error) => assert_cashback_refusal(error),
        }
    }
}

/// The jCard body reader that mends the document's comma slips: it agrees with strict JSON on
/// valid JSON, and mends any valid JSON whose commas were all left out (each replaced by a
/// space, as the document's examples do with line breaks: `[7,7]` without its comma is `[77]`).
pub fn jcard_lenient(data: &[u8]) {
    let lenient = lenient::parse(data);
    let Ok(strict) = serde_json::from_slice::<Value>(data) else {
        if let Ok(value) = lenient {
            // What was mended is valid JSON once written back.
            let again = serde_json::from_str::<Value>(&value.to_string());
            assert_eq!(again.ok(), Some(value), "mended {:?}", text(data));
        }
        return;
    };
    assert_eq!(lenient.as_ref().ok(), Some(&strict), "strict JSON read differently");
    if strict.is_object() || strict.is_array() {
        let without_commas = commas_as_spaces(&strict.to_string());
        assert_eq!(
            lenient::parse(without_commas.as_bytes()).ok(),
            Some(strict),
            "not mended: {without_commas}"
        );
    }
}

/// `json` (compact, valid) with every comma outside strings replaced by a space.
fn commas_as_spaces(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut in_string = false;
    let mut escaped = false;
    for character in json.chars() {
        if in_string {
            in_string = escaped || character != '"';
            escaped = !escaped && character == '\\';
        } else if character == '"' {
            in_string = true;
        } else if character == ',' {
            out.push(' ');
            continue;
        }
        out.push(character);
    }
    out
}

/// Every jCard request-body decoder on the same body. A refusal is a 400 of the dialect.
pub fn jcard_bodies(data: &[u8]) {
    check_jcard(wire::parse_json(data).map(drop));
    jcard_struct_bodies(data);
    for creating in [true, false] {
        check_jcard(wire_card::card_product(data, creating).map(drop));
        check_jcard(wire_card::velocity(data, creating).map(drop));
        check_jcard(wire_wallet::customer_update(data, creating).map(drop));
    }
    for (transfer, debit) in [(false, false), (false, true), (true, false)] {
        check_jcard(wire_card::card_movement(data, transfer, debit).map(drop));
    }
    for movement in [Movement::Credit, Movement::Debit, Movement::Transfer] {
        check_jcard(wire_wallet::movement_body(movement, data).map(drop));
    }
    check_jcard(wire_card::card_pin(data).map(drop));
    check_jcard(wire_wallet::customer_create(data).map(drop));
    check_jcard(wire_wallet::agent_create(data).map(drop));
    check_jcard(wire_wallet::agent_update(data).map(drop));
}

/// The bodies read straight into a schema struct, then checked as their handler does.
fn jcard_struct_bodies(data: &[u8]) {
    check_jcard(
        wire::parse_body::<wire::GlTransaction>(data)
            .and_then(|body| gl::transaction_request(body, limits().lists.transaction_entries_max))
            .map(drop),
    );
    check_jcard(wire::parse_body::<wire::GlAccount>(data).map(drop));
    check_jcard(
        wire::parse_body::<wire::SysconfigCreate>(data)
            .and_then(|body| wire::identifier(&body.id, "id").map(drop)),
    );
    check_jcard(
        wire::parse_body::<wire::SysconfigUpdate>(data)
            .and_then(|body| wire::identifier(&body.id, "id").map(drop)),
    );
    check_jcard(
        wire::parse_body::<wire_card::CardCreate>(data)
            .and_then(|body| wire_card::card_number(&body).map(drop)),
    );
    check_jcard(
        wire::parse_body::<wire_card::CardStatus>(data)
            .and_then(|body| wire_card::card_state(&body.card_state).map(drop)),
    );
    check_jcard(wire::parse_body::<wire_card::CardUpdate>(data).map(drop));
    check_jcard(wire::parse_body::<wire_card::CardAccount>(data).map(drop));
    check_jcard(wire::parse_body::<wire_card::CardCardholder>(data).map(drop));
    check_jcard(wire::parse_body::<wire_wallet::Login>(data).map(drop));
    check_jcard(
        wire::parse_body::<wire_wallet::WalletCreate>(data)
            .and_then(|body| wire_wallet::wallet_code(&body.code).map(drop)),
    );
    check_jcard(wire::parse_body::<wire_wallet::WalletLink>(data).map(drop));
    check_jcard(
        wire::parse_body::<wire_wallet::ChangePin>(data)
            .and_then(|body| wire_wallet::pin(&body.pin).map(drop)),
    );
}

fn check_jcard(result: Result<(), JcardError>) {
    if let Err(error) = result {
        assert!(matches!(error, JcardError::BadRequest { .. }), "not a 400: {error:?}");
        let response = error.into_response();
        assert!(response.status.is_client_error(), "{response:?}");
        let body: Value = serde_json::from_slice(&response.body).unwrap_or_default();
        assert_eq!(body["success"], Value::Bool(false), "{response:?}");
    }
}

/// Every card-issuing body and the checks its handler runs on the fields.
pub fn issuing_bodies(data: &[u8]) {
    check_issuing(issuing::parse::<issuing::RequestOnly>(data).and_then(|body| {
        issuing::request_id(&body.request_id)?;
        Ok(())
    }));
    check_issuing(issuing::parse::<issuing::CardIssue>(data).and_then(|body| {
        issuing::request_id(&body.request_id)?;
        issuing::currency(&body.currency)?;
        Ok(())
    }));
    check_issuing(issuing::parse::<issuing::CardRequest>(data).map(drop));
    check_issuing(issuing::parse::<issuing::VerifyHolder>(data).map(|body| {
        let name = issuing::normalized_name(&body.first_name);
        assert_eq!(issuing::normalized_name(&name), name, "normalizing twice changes it");
        let long_enough = true_digits(&body.phone) >= 7;
        assert_eq!(issuing::same_phone(&body.phone, &body.phone), long_enough, "{:?}", body.phone);
    }));
    check_issuing(issuing::parse::<issuing::BlockCard>(data).map(drop));
    check_issuing(issuing::parse::<issuing::GiftCardIssue>(data).and_then(|body| {
        issuing::amount(&body.amount)?;
        issuing::currency(&body.currency)?;
        Ok(())
    }));
    check_issuing(issuing::parse::<issuing::Money>(data).and_then(|body| {
        issuing::amount(&body.amount)?;
        issuing::currency(&body.currency)?;
        issuing::reference("outlet_name", body.outlet_name.as_deref())?;
        issuing::reference("invoice_number", body.invoice_number.as_deref())?;
        Ok(())
    }));
    check_issuing(issuing::parse::<issuing::Reverse>(data).and_then(|body| {
        issuing::request_id(&body.request_id)?;
        issuing::request_id(&body.original_request_id)?;
        Ok(())
    }));
}

/// Digits in a phone number once leading zeros are dropped.
fn true_digits(phone: &str) -> usize {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    digits.trim_start_matches('0').len()
}

fn check_issuing(result: Result<(), IssuingError>) {
    if let Err(error) = result {
        assert!(matches!(error, IssuingError::BadRequest(_)), "not a 400: {error:?}");
        let response = error.into_response();
        assert!(response.status.is_client_error(), "{response:?}");
    }
}

/// The gift-card history body: what it accepts keeps within the document's limits.
pub fn giftcard_body(data: &[u8]) {
    match giftcard::parse(data) {
        Ok(request) => {
            for number in [request.limit, request.offset].into_iter().flatten() {
                assert!(i16::try_from(number).is_ok(), "{number} accepted as a 2-byte integer");
            }
            if let (Some(from), Some(to)) = (request.from_ms, request.to_ms) {
                assert!(from <= to, "startDate after endDate accepted");
            }
            assert!(!request.cards.is_empty(), "no cards accepted");
            for card in &request.cards {
                assert!(!card.number.trim().is_empty());
                assert!(card.number.chars().count() <= giftcard::CARD_NUMBER_CHARS_MAX);
                assert!(card.pin.chars().count() <= giftcard::PIN_CHARS_MAX);
            }
        }
        Err(error) => {
            assert!(matches!(&error, GiftcardError::Invalid(problems) if !problems.is_empty()));
            assert!(error.into_response().status.is_client_error());
        }
    }
}

/// Every cashback body and the checks its handler runs on the fields.
pub fn cashback_bodies(data: &[u8]) {
    let limits = limits().cashback;
    check_cashback(cashback::parse::<cashback::Debit>(data).and_then(|body| {
        let missing = || cashback::missing("field");
        cashback::uuid("ticket_id", &body.ticket_id.ok_or_else(missing)?)?;
        let device_id = body.device_id.ok_or_else(missing)?;
        cashback::text("device_id", &device_id, limits.device_id_bytes_max)?;
        if let Some(number) = body.ticket_number {
            cashback::text("ticket_number", &number, limits.ticket_number_bytes_max)?;
        }
        let row = body.payment_row.ok_or_else(missing)?;
        let amount = row.amount.ok_or_else(missing)?;
        cashback::amount("payment_row.amount", &amount, limits.amount_whole_max)?;
        cashback::currency("payment_row.currency", &row.currency.ok_or_else(missing)?)?;
        Ok(())
    }));
    check_cashback(cashback::parse::<cashback::NewGroup>(data).and_then(|body| {
        cashback::text("name", &body.name, limits.name_bytes_max)?;
        let code = cashback::currency("currency", &body.currency)?;
        let shown = Value::String(cashback::currency_text(code));
        assert_eq!(cashback::currency("currency", &shown).ok(), Some(code));
        Ok(())
    }));
    check_cashback(cashback::parse::<cashback::NewStore>(data).map(drop));
    check_cashback(cashback::parse::<cashback::NewPointOfSale>(data).map(drop));
    check_cashback(cashback::parse::<cashback::NewPass>(data).and_then(|body| {
        cashback::text("holder_name", &body.holder_name, limits.name_bytes_max)?;
        for value in [body.nfc, body.barcode, body.manual_code].into_iter().flatten() {
            cashback::text("identifier", &value, limits.search_q_bytes_max)?;
        }
        Ok(())
    }));
    check_cashback(cashback::parse::<cashback::Credit>(data).and_then(|body| {
        cashback::uuid("request_id", &body.request_id)?;
        cashback::amount("amount", &body.amount, limits.amount_whole_max)?;
        cashback::currency("currency", &body.currency)?;
        Ok(())
    }));
}

fn check_cashback(result: Result<(), CashbackError>) {
    if let Err(error) = result {
        assert_cashback_refusal(error);
    }
}

fn assert_cashback_refusal(error: CashbackError) {
    assert!(matches!(error, CashbackError::Invalid(_)), "not a 400: {error:?}");
    assert!(error.into_response().status.is_client_error());
}

/// The jCard credential headers (`consumer-id`, `timestamp`, `nonce`, `hash`, then the
/// body), one per line: parsing never panics, a hash the key made verifies, any other body
/// or nonce does not, and a nonce is accepted once.
pub fn jcard_auth(data: &[u8]) {
    let parts = fields(data, 5);
    let (consumer, timestamp, nonce, hash) =
        (text(parts[0]), text(parts[1]), text(parts[2]), text(parts[3]));
    let body = parts[4];
    let consumer = auth::parse_consumer_id(&consumer).unwrap_or_default();
    let key = b"fuzzing key";
    let verified = auth::verify_jcard_hash(key, &timestamp, &nonce, body, &hash);
    let made = auth::jcard_hash(key, &timestamp, &nonce, body);
    assert_eq!(verified, hash.trim() == made, "a hash the key did not make verified");
    assert!(auth::verify_jcard_hash(key, &timestamp, &nonce, body, &made));
    let mut other_body = body.to_vec();
    other_body.push(b' ');
    assert!(!auth::verify_jcard_hash(key, &timestamp, &nonce, &other_body, &made));
    assert!(!auth::verify_jcard_hash(key, &timestamp, &format!("{nonce}x"), body, &made));
    if let Ok(timestamp_ms) = auth::check_timestamp(&timestamp, NOW_MS, 300_000) {
        assert!((timestamp_ms - NOW_MS).abs() <= 300_000);
        let nonces = NonceCache::new(16, 300_000);
        assert!(nonces.check_and_insert(consumer, &nonce, timestamp_ms, NOW_MS).is_ok());
        assert!(nonces.check_and_insert(consumer, &nonce, timestamp_ms, NOW_MS).is_err());
    }
}

/// The `X-JWS-Signature` header (then the uri, method and params, one per line): parsing
/// never panics, only HS512 headers naming this request pass, and a header signed for the
/// request verifies with its key only.
pub fn jws_header(data: &[u8]) {
    let parts = fields(data, 4);
    let (value, uri, method, params) =
        (text(parts[0]), text(parts[1]), text(parts[2]), text(parts[3]));
    if let Ok(parsed) = jws::parse(Some(&value), &uri, &method, &params) {
        assert_eq!(parsed.header.alg, jws::JWS_ALGORITHM);
        assert_eq!((parsed.header.uri.as_str(), parsed.header.params.as_str()), (&*uri, &*params));
        assert!(parsed.header.method.eq_ignore_ascii_case(&method));
    }
    let signed = jws::sign(b"fuzzing key", &uri, "fuzz", &params, data);
    let parsed = jws::parse(Some(&signed), &uri, "POST", &params);
    let parsed = parsed.unwrap_or_else(|error| panic!("own signature refused: {error}"));
    assert_eq!(parsed.verify(b"fuzzing key", data), Ok(()));
    assert!(parsed.verify(b"other key", data).is_err());
}

/// The `Authorization` header of the bearer-token dialects: parsing never panics, and only
/// what the key signed verifies, as the claims it was signed with.
pub fn bearer_token(data: &[u8]) {
    let header = text(data);
    let key = BearerKey::derive(&MasterKey::from_bytes([7; 32]));
    let Ok(token) = bearer::from_authorization(Some(&header)) else { return };
    if let Ok(claims) = bearer::verify(&key, token, NOW_MS) {
        assert_eq!(bearer::issue(&key, &claims), token, "accepted a token the key did not sign");
        assert!(NOW_MS / 1000 < claims.exp);
    }
    let claims = BearerClaims {
        scope: BearerScope::Cashback,
        group_id: data.first().map(|byte| u64::from(*byte)),
        store_ids: data.iter().take(3).map(|byte| u64::from(*byte)).collect(),
        iat: NOW_MS / 1000,
        exp: NOW_MS / 1000 + 60,
        jti: token.to_owned(),
    };
    let issued = bearer::issue(&key, &claims);
    if issued.len() <= bearer::TOKEN_BYTES_MAX {
        assert_eq!(bearer::verify(&key, &issued, NOW_MS), Ok(claims));
    }
}

/// What a request line carries besides the body (method, then path, then one query value, one
/// per line): the route table's match with its decoded path parameters, and every reader of a
/// query or path value. Parsed values format back to themselves.
pub fn request_line(data: &[u8]) {
    let parts = fields(data, 3);
    let (method, path, value) = (text(parts[0]), text(parts[1]), text(parts[2]));
    if let Ok(method) = http::Method::from_bytes(method.trim().as_bytes()) {
        if let Ok(matched) = router().find(&method, &path) {
            for (name, param) in &matched.params {
                assert_eq!(param.trim(), param, "{name} not trimmed in {path:?}");
            }
        }
    }
    query_value(&value);
}

fn router() -> &'static Router {
    static ROUTER: std::sync::OnceLock<Router> = std::sync::OnceLock::new();
    ROUTER.get_or_init(Router::new)
}

fn query_value(value: &str) {
    if let Ok(layers) = parse_layers(value) {
        let joined: Vec<String> = layers.iter().map(ToString::to_string).collect();
        assert_eq!(parse_layers(&joined.join(",")), Ok(layers), "layers {value:?}");
    }
    if let Some(start_ms) = dates::parse_day_start(value) {
        assert_eq!(dates::parse_day_start(&dates::format_day(start_ms)), Some(start_ms));
        assert_eq!(dates::parse_day_end(value), start_ms.checked_add(86_400_000));
    }
    check_jcard(wire_wallet::flag(Some(value), "flag").map(drop));
    check_jcard(wire_card::expiration_text(value).map(drop));
    check_jcard(wire_card::card_state(value).map(drop));
    check_jcard(wire_wallet::wallet_code(value).map(drop));
    check_jcard(wire::identifier(value, "id").map(drop));
    check_cashback(cashback::search_mode(value).map(drop));
    let _ = giftcard::parse_instant(value.trim());
    let _ = giftcard::expiry_instant(value);
    let mut problems = Vec::new();
    match giftcard::short(Some(&Value::String(value.to_owned())), "limit", &mut problems) {
        Some(number) => assert!(i16::try_from(number).is_ok() && problems.is_empty()),
        None => assert_eq!(problems.len(), 1, "{value:?}"),
    }
}
