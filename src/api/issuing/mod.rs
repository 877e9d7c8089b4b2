//! The card-issuing API (`/v5/card-api`): partners sign each `POST` with a detached JWS
//! (HS512); every body carries a `request_id` that the partner can use once, and
//! `request/status` tells what became of one. Payment cards, gift cards, funding, debits and
//! reversals run on the same core, cards and ledger as the jCard dialect.

pub mod errors;
pub mod jws;
pub mod routes;
pub mod wire;

use std::sync::Arc;

use http::StatusCode;
use serde_json::{json, Value};

use self::errors::IssuingError;
use self::jws::JwsFailure;
use self::routes::Route;
use super::{shared, ApiRequest, ApiResponse, TransportError};
use crate::card::{Card, CardState, Channel};
use crate::core::command::{
    CardMovement, CardMovementKind, Command, Decline, GiftOrder, NewCustomer, Outcome,
};
use crate::core::execute_partner::{derived_rrn, Partner, RequestRecord};
use crate::core::Core;
use crate::money::Amount;
use crate::wallet::CustomerDetails;

/// Months a newly issued card is valid for.
const CARD_VALIDITY_MONTHS: i64 = 36;

/// Answers one card-issuing API request.
pub async fn handle(core: &Core, route: Route, request: ApiRequest) -> ApiResponse {
    match dispatch(core, route, &request).await {
        Ok(body) => ApiResponse::json(StatusCode::OK, &body),
        Err(error) => error.into_response(),
    }
}

/// A transport-level refusal in this dialect's error shape.
pub fn transport_error(error: TransportError) -> ApiResponse {
    IssuingError::Transport(error).into_response()
}

async fn dispatch(core: &Core, route: Route, request: &ApiRequest) -> Result<Value, IssuingError> {
    let partner = authenticate(core, request)?;
    match route {
        Route::RequestStatus => request_status(core, &partner, request),
        Route::CardIssue => issue_card(core, &partner, request).await,
        Route::CardInfo => card_info(core, &partner, request).await,
        Route::CardBalance => card_balance(core, &partner, request).await,
        Route::CardVerifyHolder => verify_holder(core, &partner, request).await,
        Route::CardBlock => block(core, &partner, request, CardState::Suspended, route).await,
        Route::CardUnblock => block(core, &partner, request, CardState::Active, route).await,
        Route::GiftCardIssue => issue_gift_cards(core, &partner, request).await,
        Route::TransactionFund => {
            move_money(core, &partner, request, CardMovementKind::Credit, route).await
        }
        Route::TransactionDebit => {
            move_money(core, &partner, request, CardMovementKind::Debit, route).await
        }
        Route::TransactionReverse => reverse(core, &partner, request).await,
    }
}

/// Checks the detached JWS: HS512 only, signed for this uri, method and params, by a known
/// partner, over these exact bytes.
fn authenticate(core: &Core, request: &ApiRequest) -> Result<Arc<Partner>, IssuingError> {
    let signed = jws::parse(
        request.header("x-jws-signature"),
        &request.path,
        request.method.as_str(),
        &request.raw_query,
    )
    .map_err(IssuingError::Signature)?;
    let partner = core
        .snapshot()
        .partners
        .get(&signed.header.auth_id)
        .cloned()
        .ok_or(IssuingError::Signature(JwsFailure::UnknownPartner))?;
    signed.verify(partner.key.expose(), &request.body).map_err(IssuingError::Signature)?;
    Ok(partner)
}

/// Runs `inner` (or nothing, for a read) as request `request_id` of `partner`: refused if the
/// id was used before, recorded with its result otherwise.
async fn record(
    core: &Core,
    partner: &Partner,
    request_id: &str,
    route: Route,
    inner: Option<Command>,
) -> Result<Outcome, IssuingError> {
    let command = Command::PartnerRequest {
        auth_id: partner.auth_id.clone(),
        request_id: request_id.to_owned(),
        method: route.method_name().to_owned(),
        inner: inner.map(Box::new),
    };
    match core.execute(command, None).await? {
        Outcome::Declined(decline) => Err(IssuingError::Declined(decline)),
        outcome => Ok(outcome),
    }
}

fn request_status(
    core: &Core,
    partner: &Partner,
    request: &ApiRequest,
) -> Result<Value, IssuingError> {
    let body: wire::RequestOnly = wire::parse(&request.body)?;
    let request_id = wire::request_id(&body.request_id)?;
    let record: RequestRecord =
        core.partner_request(&partner.auth_id, &request_id)?.ok_or_else(|| {
            IssuingError::NotFound(
                "REQUEST_NOT_FOUND",
                "no request with this id was processed".to_owned(),
            )
        })?;
    Ok(json!({
        "request_id": record.request_id,
        "processed": true,
        "method": record.method,
        "processed_at": shared::instant(record.processed_ms),
        "result": if record.decline.is_some() { "declined" } else { "approved" },
        "result_code": record.decline.as_ref().map_or("0000", Decline::result_code),
        "reference": record.reference,
    }))
}

/// The card `token` of `partner` (another partner's card is not found).
fn owned_card(core: &Core, partner: &Partner, token: &str) -> Result<Arc<Card>, IssuingError> {
    core.snapshot()
        .cards
        .get(token.trim())
        .filter(|card| card.partner.as_deref() == Some(partner.auth_id.as_str()))
        .cloned()
        .ok_or_else(|| {
            IssuingError::NotFound("CARD_NOT_FOUND", "no card with this token".to_owned())
        })
}

/// `yyyyMM` → `MM/YY`.
fn expiry(expiration: &str) -> String {
    format!(
        "{}/{}",
        expiration.get(4..6).unwrap_or_default(),
        expiration.get(2..4).unwrap_or_default()
    )
}

/// `yyyyMM` of the month `months` after `now_ms`.
fn expiration_after(now_ms: i64, months: i64) -> String {
    let index = crate::card::month_index(now_ms).saturating_add(months);
    format!("{:04}{:02}", index.div_euclid(12), index.rem_euclid(12).saturating_add(1))
}

async fn issue_card(
    core: &Core,
    partner: &Partner,
    request: &ApiRequest,
) -> Result<Value, IssuingError> {
    let body: wire::CardIssue = wire::parse(&request.body)?;
    let request_id = wire::request_id(&body.request_id)?;
    let currency = wire::currency(&body.currency)?;
    for (field, value) in
        [("first_name", &body.first_name), ("last_name", &body.last_name), ("phone", &body.phone)]
    {
        if value.trim().is_empty() || value.chars().count() > 128 {
            return Err(IssuingError::BadRequest(format!("{field} is 1 to 128 characters")));
        }
    }
    let customer = NewCustomer {
        real_id: format!("{}-{}", partner.auth_id, request_id),
        active: true,
        institution_id: partner.auth_id.clone(),
        first_name: body.first_name.trim().to_owned(),
        last_name: body.last_name.trim().to_owned(),
        details: CustomerDetails {
            phone: Some(body.phone.trim().to_owned()),
            email: body.email,
            birth_date: body.birth_date,
            ..CustomerDetails::default()
        },
        currency_codes: vec![currency],
        wallet: None,
    };
    let command = Command::IssuePartnerCard {
        auth_id: partner.auth_id.clone(),
        customer,
        product: body.card_product.trim().to_owned(),
        is_virtual: body.is_virtual.unwrap_or(true),
        expiration: expiration_after(core.now_ms(), CARD_VALIDITY_MONTHS),
    };
    match record(core, partner, &request_id, Route::CardIssue, Some(command)).await? {
        Outcome::CardIssued { card, pan } => Ok(json!({
            "request_id": request_id,
            "card_token": card.token,
            "masked_pan": card.masked_pan(),
            "pan": pan,
            "expiry": expiry(&card.expiration),
            "status": card.state.name().to_ascii_uppercase(),
            "currency": crate::wallet::currency_text(currency),
        })),
        other => Err(unexpected(&other)),
    }
}

async fn card_info(
    core: &Core,
    partner: &Partner,
    request: &ApiRequest,
) -> Result<Value, IssuingError> {
    let body: wire::CardRequest = wire::parse(&request.body)?;
    let request_id = wire::request_id(&body.request_id)?;
    let card = owned_card(core, partner, &body.card_token)?;
    record(core, partner, &request_id, Route::CardInfo, None).await?;
    let state = core.snapshot();
    let holder = card.cardholder.as_ref().and_then(|real_id| state.customers.get(real_id));
    Ok(json!({
        "request_id": request_id,
        "card_token": card.token,
        "masked_pan": card.masked_pan(),
        "expiry": expiry(&card.expiration),
        "status": card.state.name().to_ascii_uppercase(),
        "card_product": state.card_products.get(&card.product_id).map(|product| product.name.clone()),
        "virtual": card.is_virtual,
        "holder": holder.map(|customer| json!({"first_name": customer.first_name, "last_name": customer.last_name})),
    }))
}

/// The card's currency: its holder's first.
fn card_currency(core: &Core, card: &Card) -> u16 {
    let state = core.snapshot();
    let holder = card.cardholder.as_ref().and_then(|real_id| state.customers.get(real_id));
    holder
        .and_then(|customer| customer.currency_codes.first().copied())
        .unwrap_or(core.settings().wallets.default_currency)
}

fn available(core: &Core, card: &Card, currency: u16) -> Result<Amount, IssuingError> {
    let state = core.snapshot();
    let account = state.accounts.get(&card.account_id).ok_or_else(|| {
        IssuingError::NotFound("CARD_NOT_FOUND", "the card has no account".to_owned())
    })?;
    let layer = i16::try_from(currency)
        .map_err(|_| IssuingError::BadRequest("currency out of range".to_owned()))?;
    let layers = [layer, layer.saturating_add(crate::ledger::PENDING_LAYER_OFFSET)];
    Ok(core.balance(crate::core::bootstrap::DEFAULT_CHART, &account.code, &layers, None)?.balance)
}

async fn card_balance(
    core: &Core,
    partner: &Partner,
    request: &ApiRequest,
) -> Result<Value, IssuingError> {
    let body: wire::CardRequest = wire::parse(&request.body)?;
    let request_id = wire::request_id(&body.request_id)?;
    let card = owned_card(core, partner, &body.card_token)?;
    record(core, partner, &request_id, Route::CardBalance, None).await?;
    let currency = card_currency(core, &card);
    let balance = available(core, &card, currency)?;
    Ok(json!({
        "request_id": request_id,
        "card_token": card.token,
        "balance": shared::number(balance),
        "currency": crate::wallet::currency_text(currency),
    }))
}

async fn verify_holder(
    core: &Core,
    partner: &Partner,
    request: &ApiRequest,
) -> Result<Value, IssuingError> {
    let body: wire::VerifyHolder = wire::parse(&request.body)?;
    let request_id = wire::request_id(&body.request_id)?;
    let card = owned_card(core, partner, &body.card_token)?;
    record(core, partner, &request_id, Route::CardVerifyHolder, None).await?;
    let state = core.snapshot();
    let holder = card.cardholder.as_ref().and_then(|real_id| state.customers.get(real_id));
    let mut mismatched = Vec::new();
    match holder {
        Some(customer) => {
            if wire::normalized_name(&body.first_name)
                != wire::normalized_name(&customer.first_name)
            {
                mismatched.push("first_name");
            }
            if wire::normalized_name(&body.last_name) != wire::normalized_name(&customer.last_name)
            {
                mismatched.push("last_name");
            }
            if !wire::same_phone(&body.phone, customer.details.phone.as_deref().unwrap_or_default())
            {
                mismatched.push("phone");
            }
        }
        None => mismatched.extend(["first_name", "last_name", "phone"]),
    }
    Ok(
        json!({"request_id": request_id, "card_token": card.token, "match": mismatched.is_empty(), "mismatched_fields": mismatched}),
    )
}

async fn block(
    core: &Core,
    partner: &Partner,
    request: &ApiRequest,
    state: CardState,
    route: Route,
) -> Result<Value, IssuingError> {
    let body: wire::BlockCard = wire::parse(&request.body)?;
    let request_id = wire::request_id(&body.request_id)?;
    if body.reason.trim().is_empty() || body.reason.chars().count() > 250 {
        return Err(IssuingError::BadRequest("reason is 1 to 250 characters".to_owned()));
    }
    let card = owned_card(core, partner, &body.card_token)?;
    // Unblock lifts this API's own block only, never a hold the issuer set (compliance, debt).
    if state == CardState::Active
        && card.state != CardState::Suspended
        && card.state != CardState::Active
    {
        return Err(IssuingError::Declined(Decline::InvalidTransition));
    }
    let command = Command::ChangeCardState { token: card.token.clone(), state };
    match record(core, partner, &request_id, route, Some(command)).await? {
        Outcome::CardUpdated => Ok(
            json!({"request_id": request_id, "card_token": card.token, "status": state.name().to_ascii_uppercase()}),
        ),
        other => Err(unexpected(&other)),
    }
}

async fn issue_gift_cards(
    core: &Core,
    partner: &Partner,
    request: &ApiRequest,
) -> Result<Value, IssuingError> {
    let body: wire::GiftCardIssue = wire::parse(&request.body)?;
    let request_id = wire::request_id(&body.request_id)?;
    let amount = wire::amount(&body.amount)?;
    let currency = wire::currency(&body.currency)?;
    let count = body.quantity.unwrap_or(1);
    if count == 0 || count > wire::GIFT_CARDS_PER_ORDER_MAX {
        return Err(IssuingError::BadRequest(format!(
            "quantity is 1 to {}",
            wire::GIFT_CARDS_PER_ORDER_MAX
        )));
    }
    let order = GiftOrder {
        auth_id: partner.auth_id.clone(),
        order_id: uuid::Uuid::new_v4().to_string(),
        product: body.card_product.trim().to_owned(),
        count,
        amount,
        currency,
        expiration: expiration_after(core.now_ms(), CARD_VALIDITY_MONTHS),
    };
    match record(
        core,
        partner,
        &request_id,
        Route::GiftCardIssue,
        Some(Command::IssueGiftCards(Box::new(order))),
    )
    .await?
    {
        Outcome::GiftCardsIssued { order_id, cards } => {
            let cards: Vec<Value> = cards
                .iter()
                .map(|issued| {
                    json!({
                        "card_token": issued.card.token,
                        "card_number": issued.pan,
                        "pin": issued.pin,
                        "masked_pan": issued.card.masked_pan(),
                        "expiry": expiry(&issued.card.expiration),
                        "amount": shared::number(amount),
                        "currency": crate::wallet::currency_text(currency),
                    })
                })
                .collect();
            Ok(json!({"request_id": request_id, "order_id": order_id, "cards": cards}))
        }
        other => Err(unexpected(&other)),
    }
}

/// The RRN a partner request's movement is logged under: derived from the partner and the
/// request id, so a reversal names it by the original request id.
fn movement_rrn(auth_id: &str, request_id: &str) -> String {
    derived_rrn('P', &[auth_id.as_bytes(), request_id.as_bytes()])
}

async fn move_money(
    core: &Core,
    partner: &Partner,
    request: &ApiRequest,
    kind: CardMovementKind,
    route: Route,
) -> Result<Value, IssuingError> {
    let body: wire::Money = wire::parse(&request.body)?;
    let request_id = wire::request_id(&body.request_id)?;
    let amount = wire::amount(&body.amount)?;
    let currency = wire::currency(&body.currency)?;
    let outlet_name = wire::reference("outlet_name", body.outlet_name.as_deref())?;
    let invoice_number = wire::reference("invoice_number", body.invoice_number.as_deref())?;
    let card = owned_card(core, partner, &body.card_token)?;
    let card_currency = card_currency(core, &card);
    if currency != card_currency {
        let expected = crate::wallet::currency_text(card_currency);
        return Err(IssuingError::BadRequest(format!("currency must be the card's, {expected}")));
    }
    let rrn = movement_rrn(&partner.auth_id, &request_id);
    let movement = CardMovement {
        kind,
        token: card.token.clone(),
        recipient: None,
        amount,
        currency,
        channel: Channel::Internal,
        channel_name: Some(format!("card-api:{}", partner.auth_id)),
        fingerprint: rrn.clone(),
        rrn,
        description: body.description.unwrap_or_default(),
        json_request: json!({"request_id": request_id, "amount": body.amount, "currency": currency,
            "outlet_name": outlet_name, "invoice_number": invoice_number})
        .to_string(),
        pin_block: None,
    };
    match record(
        core,
        partner,
        &request_id,
        route,
        Some(Command::MoveCardMoney(Box::new(movement))),
    )
    .await?
    {
        Outcome::CardMoved { tranlog, .. } => Ok(json!({
            "request_id": request_id,
            "card_token": card.token,
            "approved": true,
            "result_code": tranlog.irc,
            "approval_number": tranlog.approval_number,
            "amount": shared::number(amount),
            "currency": crate::wallet::currency_text(currency),
        })),
        other => Err(unexpected(&other)),
    }
}

async fn reverse(
    core: &Core,
    partner: &Partner,
    request: &ApiRequest,
) -> Result<Value, IssuingError> {
    let body: wire::Reverse = wire::parse(&request.body)?;
    let request_id = wire::request_id(&body.request_id)?;
    let original = wire::request_id(&body.original_request_id)?;
    let command = Command::ReverseByRrn { rrn: movement_rrn(&partner.auth_id, &original) };
    match record(core, partner, &request_id, Route::TransactionReverse, Some(command)).await? {
        Outcome::ReversedByRrn { .. } => {
            Ok(json!({"request_id": request_id, "original_request_id": original, "reversed": true}))
        }
        other => Err(unexpected(&other)),
    }
}

fn unexpected(outcome: &Outcome) -> IssuingError {
    IssuingError::Core(crate::core::CoreError::Corrupt(format!("unexpected outcome {outcome:?}")))
}
