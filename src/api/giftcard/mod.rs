//! The gift-card history API (`/rest/v3`): point-of-sale clients with a bearer token of scope
//! `giftcard` ask for the transactions of gift cards of one order, naming each card by number
//! and PIN. The core checks the PINs (counting wrong ones, locking a card for a while) and
//! answers the history; this module only translates the document's JSON to and from it.

pub mod errors;
pub mod routes;
pub mod wire;

use http::StatusCode;
use serde_json::{json, Value};

use self::errors::GiftcardError;
use self::routes::Route;
use super::{shared, ApiRequest, ApiResponse, TransportError};
use crate::bearer::{BearerClaims, BearerScope};
use crate::card::{Card, CardState};
use crate::core::command::{Command, Decline, Outcome};
use crate::core::reads_giftcard::{
    GiftCardHistory, GiftHistoryLine, GiftHistoryQuery, GiftTxnKind, ACTIVATION_CHANNEL,
};
use crate::core::{Core, GiftcardSettings};

const SUCCESS_MESSAGE: &str = "Successfully fetched transaction history";
const TRANSACTION_MESSAGE: &str = "Transaction successful.";

/// Answers one gift-card history request.
pub async fn handle(core: &Core, route: Route, request: ApiRequest) -> ApiResponse {
    match dispatch(core, route, &request).await {
        Ok(body) => ApiResponse::json(StatusCode::OK, &body),
        Err(error) => error.into_response(),
    }
}

/// A transport-level refusal in this dialect's failure shape.
pub fn transport_error(error: TransportError) -> ApiResponse {
    GiftcardError::Transport(error).into_response()
}

async fn dispatch(core: &Core, route: Route, request: &ApiRequest) -> Result<Value, GiftcardError> {
    let claims = authenticate(core, request)?;
    match route {
        Route::OrderCardHistory => order_card_history(core, &claims, request).await,
    }
}

/// A valid, unexpired bearer token of scope `giftcard`.
fn authenticate(core: &Core, request: &ApiRequest) -> Result<BearerClaims, GiftcardError> {
    let claims =
        core.verify_bearer(request.header("authorization")).map_err(GiftcardError::Token)?;
    if claims.scope != BearerScope::Giftcard {
        return Err(GiftcardError::Scope);
    }
    Ok(claims)
}

async fn order_card_history(
    core: &Core,
    claims: &BearerClaims,
    request: &ApiRequest,
) -> Result<Value, GiftcardError> {
    let settings = &core.settings().wallets.giftcard;
    let order_id = request.param("id").to_owned();
    let body = wire::parse(&request.body)?;
    let query = history_query(request, &body, settings)?;
    check_cards(&order_id, &body, settings)?;
    let command = Command::VerifyGiftCards { order_id, cards: body.cards };
    let tokens = match core.execute(command, None).await? {
        Outcome::GiftCardsVerified { tokens } => tokens,
        Outcome::Declined(Decline::InvalidPin) => return Err(GiftcardError::HistoryFailed),
        other => {
            return Err(GiftcardError::Core(crate::core::CoreError::Corrupt(format!(
                "unexpected outcome {other:?}"
            ))))
        }
    };
    let mut cards = Vec::with_capacity(tokens.len());
    for token in &tokens {
        let history = core.gift_card_history(token, &query)?;
        cards.push(render_card(core, &history));
    }
    Ok(json!({
        "code": "0",
        "message": SUCCESS_MESSAGE,
        "messages": [],
        "refno": uuid::Uuid::new_v4().to_string(),
        "store": store_of(claims),
        "cards": cards,
        "provider": {"code": "0", "message": TRANSACTION_MESSAGE},
    }))
}

/// The order id's length and the number of cards; then any empty PIN (5140), before a PIN is
/// checked.
fn check_cards(
    order_id: &str,
    body: &wire::HistoryRequest,
    settings: &GiftcardSettings,
) -> Result<(), GiftcardError> {
    if order_id.is_empty() || order_id.chars().count() > wire::ORDER_ID_CHARS_MAX {
        return Err(GiftcardError::Invalid(vec![format!(
            "the order id is 1 to {} characters",
            wire::ORDER_ID_CHARS_MAX
        )]));
    }
    if body.cards.len() > settings.cards_per_request_max {
        return Err(GiftcardError::Invalid(vec![format!(
            "at most {} cards per request",
            settings.cards_per_request_max
        )]));
    }
    if body.cards.iter().any(|card| card.pin.trim().is_empty()) {
        return Err(GiftcardError::EmptyPin);
    }
    Ok(())
}

/// The token's store when it names exactly one, else 0.
fn store_of(claims: &BearerClaims) -> u64 {
    match claims.store_ids.as_slice() {
        [store] => *store,
        _ => 0,
    }
}

/// Dates, limit and offset of a request: the query's `limit`/`offset` win over the body's.
/// Both are checked, so a bad value is refused even where the other one would be used.
fn history_query(
    request: &ApiRequest,
    body: &wire::HistoryRequest,
    settings: &GiftcardSettings,
) -> Result<GiftHistoryQuery, GiftcardError> {
    let mut problems = Vec::new();
    let mut from_query = |name: &str| {
        let text = request.query(name).map(|text| Value::String(text.to_owned()));
        wire::short(text.as_ref(), name, &mut problems)
    };
    let (query_limit, query_offset) = (from_query("limit"), from_query("offset"));
    let limit_max = i64::from(settings.history_limit_max);
    for limit in [query_limit, body.limit].into_iter().flatten() {
        if !(1..=limit_max).contains(&limit) {
            problems.push(format!("limit must be 1 to {limit_max}"));
        }
    }
    for offset in [query_offset, body.offset].into_iter().flatten() {
        if offset < 0 {
            problems.push("offset must not be negative".to_owned());
        }
    }
    if !problems.is_empty() {
        problems.dedup();
        return Err(GiftcardError::Invalid(problems));
    }
    let limit = query_limit.or(body.limit).unwrap_or(i64::from(settings.history_limit_default));
    let offset = query_offset.or(body.offset).unwrap_or(0);
    Ok(GiftHistoryQuery {
        from_ms: body.from_ms.unwrap_or(i64::MIN),
        to_ms: body.to_ms.unwrap_or(i64::MAX),
        offset: usize::try_from(offset).unwrap_or(0),
        limit: usize::try_from(limit).unwrap_or(0),
    })
}

fn render_card(core: &Core, history: &GiftCardHistory) -> Value {
    let card = &history.card;
    let currency = core.gift_card_currency(card);
    let numeric = crate::wallet::currency_text(currency);
    let transactions: Vec<Value> = history
        .lines
        .iter()
        .map(|line| render_line(card, line, &numeric, wire::currency_alpha(currency)))
        .collect();
    json!({
        "cardNumber": card.masked_pan(),
        "currencyNumericCode": numeric,
        "balance": shared::number(history.balance),
        "status": card_status(card, history, core.now_ms()),
        "activationDate": shared::instant(history.activation_ms.unwrap_or(card.created_ms)),
        "expiry": wire::expiry_instant(&card.expiration),
        "Transactions": transactions,
    })
}

/// The document's card vocabulary: `Activated`, `Created` (never activated, or its activation
/// cancelled), `Suspended`, `Blocked` (lost, stolen, fraud), `Expired`, `Cancelled`.
fn card_status(card: &Card, history: &GiftCardHistory, now_ms: i64) -> &'static str {
    if card.state == CardState::Expired || card.expired_at(crate::card::month_index(now_ms)) {
        return "Expired";
    }
    match card.state {
        CardState::Active if history.activation_ms.is_some() && !history.activation_cancelled => {
            "Activated"
        }
        CardState::Active | CardState::Created | CardState::Issued | CardState::Nonactivated => {
            "Created"
        }
        CardState::Suspended | CardState::Compliance | CardState::Debt => "Suspended",
        CardState::Lost | CardState::Stolen | CardState::Fraud => "Blocked",
        CardState::Expired => "Expired",
        CardState::Cancelled | CardState::Deleted => "Cancelled",
    }
}

fn render_line(card: &Card, line: &GiftHistoryLine, numeric: &str, alpha: Option<&str>) -> Value {
    let record = &line.tranlog;
    let mut transaction = json!({
        "type": kind_name(line.kind),
        "amount": shared::number(record.amount),
        "balance": shared::number(line.balance_after),
        "status": if line.cancelled { "CANCELLED" } else { "SUCCESS" },
        "currencyNumericCode": numeric,
        "outletName": request_text(record, "outlet_name")
            .unwrap_or_else(|| outlet_name(card, record.channel.as_deref())),
        "invoiceNumber": request_text(record, "invoice_number")
            .or_else(|| request_text(record, "request_id"))
            .unwrap_or_else(|| record.rrn.clone()),
        "date": shared::instant(record.date_ms),
        "notes": line.notes,
        "additionalTxnFields": {
            "ApprovalCode": record.approval_number,
            "CurrencyCode": alpha,
            "ResponseCode": 0,
            "ResponseMessage": TRANSACTION_MESSAGE,
            "TransactionId": record.id,
        },
    });
    if let Some(original) = record.original_id {
        transaction["additionalTxnFields"]["OriginalTransactionId"] = json!(original);
    }
    transaction
}

fn kind_name(kind: GiftTxnKind) -> &'static str {
    match kind {
        GiftTxnKind::Activate => "GIFT CARD ACTIVATE",
        GiftTxnKind::Reload => "GIFT CARD RELOAD",
        GiftTxnKind::Redeem => "GIFT CARD REDEEM",
        GiftTxnKind::CancelActivate => "GIFT CARD CANCEL ACTIVATE",
        GiftTxnKind::CancelReload => "GIFT CARD CANCEL RELOAD",
        GiftTxnKind::CancelRedeem => "GIFT CARD CANCEL REDEEM",
    }
}

/// Who took the money when the request named no outlet: the card-issuing partner (by auth id)
/// for its own movements and for the activation of the cards it ordered, otherwise the
/// channel the movement came by.
fn outlet_name(card: &Card, channel: Option<&str>) -> String {
    match channel {
        Some(ACTIVATION_CHANNEL) | None => card.partner.clone().unwrap_or_default(),
        Some(channel) => channel.strip_prefix("card-api:").unwrap_or(channel).to_owned(),
    }
}

/// A text field of the request a movement was logged with (a card-api fund or debit carries
/// `request_id`, and `outlet_name`/`invoice_number` when the partner gave them).
fn request_text(record: &crate::core::tranlog::Tranlog, name: &str) -> Option<String> {
    serde_json::from_str::<Value>(&record.json_request)
        .ok()
        .and_then(|request| request.get(name).and_then(Value::as_str).map(str::to_owned))
}
