//! `/cardproducts` (with their velocity profiles), `/cards` and `/customers/{realId}/cards`.

use std::fmt::Write as _;

use http::StatusCode;
use serde_json::{json, Value};

use super::errors::JcardError;
use super::render::number;
use super::{dates, success, wallets, wire, wire_card, wire_wallet};
use crate::api::shared::push_json_str;
use crate::api::{ApiRequest, ApiResponse};
use crate::card::{Card, CardProduct, Channel, VelocityPeriod, VelocityProfile, VelocityScope};
use crate::clock::EpochMs;
use crate::core::command::{CardMovement, CardMovementKind, Command, Decline, NewCard, Outcome};
use crate::core::reads_wallet::TranlogFilter;
use crate::core::state::State;
use crate::core::tranlog::{Tranlog, IRC_APPROVED};
use crate::core::{Core, Principal};
use crate::ledger::{Layer, PENDING_LAYER_OFFSET};
use crate::money::Amount;

fn id_param(request: &ApiRequest, name: &str) -> Result<u64, JcardError> {
    request.param(name).parse().map_err(|_| {
        JcardError::bad_request("invalid.request", format!("{name} is a positive integer"))
    })
}

/// An issuer written as a number when it is one (the document's examples).
fn issuer_json(issuer: Option<&String>) -> Value {
    issuer.map_or(Value::Null, |text| {
        text.parse::<serde_json::Number>().map_or_else(|_| json!(text), Value::Number)
    })
}

fn product_json(product: &CardProduct) -> Value {
    json!({
        "id": product.id,
        "name": product.name,
        "code": product.code,
        "active": product.active,
        "anonymous": product.anonymous,
        "smart": product.smart,
        "bin": product.bin,
        "cardNumberLength": product.card_number_length,
        "cardLength": product.card_number_length.unwrap_or(0),
        "randomCardNumber": product.random_card_number,
        "allowAtm": product.allow_atm,
        "allowEcommerce": product.allow_ecommerce,
        "allowMoto": product.allow_moto,
        "allowPos": product.allow_pos,
        "allowTips": product.allow_tips,
        "startDate": product.start_date,
        "endDate": product.end_date,
        "issuer": issuer_json(product.issuer.as_ref()),
        "institutionId": product.institution_id,
        "issuedAccount": product.issued_account,
        "feeAccount": product.fee_account,
        "lossesAccount": product.losses_account,
        "externalAccount": product.external_account,
    })
}

fn velocity_json(profile: &VelocityProfile) -> Value {
    json!({
        "id": profile.id,
        "name": profile.name,
        "active": profile.active,
        "currencyCode": profile.currency_code,
        "approvalsOnly": profile.approvals_only,
        "usageLimit": profile.usage_limit,
        "amountLimit": number(profile.amount_limit),
        "validOnCredit": profile.valid_on_credit,
        "validOnPurchase": profile.valid_on_purchase,
        "validOnTransfer": profile.valid_on_transfer,
        "validOnWithdrawal": profile.valid_on_withdrawal,
        "scopeEntity": match profile.scope { VelocityScope::Card => "card", VelocityScope::Account => "account" },
        "scopeTime": match profile.period { VelocityPeriod::Daily => "daily", VelocityPeriod::Monthly => "monthly" },
    })
}

fn saved_product(outcome: Outcome, status: StatusCode) -> Result<ApiResponse, JcardError> {
    match outcome {
        Outcome::CardProductSaved(product) => Ok(ApiResponse::json(
            status,
            &json!({"success": true, "cardproduct": product_json(&product)}),
        )),
        other => Err(super::unexpected_or_declined(other)),
    }
}

pub async fn create_product(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let fields = wire_card::card_product(&request.body, true)?;
    let outcome = core
        .execute(Command::CreateCardProduct(Box::new(fields)), Some(principal.nonce.clone()))
        .await?;
    saved_product(outcome, StatusCode::CREATED)
}

pub async fn update_product(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let id = id_param(request, "id")?;
    let fields = wire_card::card_product(&request.body, false)?;
    let outcome = core
        .execute(
            Command::UpdateCardProduct { id, fields: Box::new(fields) },
            Some(principal.nonce.clone()),
        )
        .await?;
    saved_product(outcome, StatusCode::CREATED)
}

pub fn get_product(core: &Core, request: &ApiRequest) -> Result<ApiResponse, JcardError> {
    let id = id_param(request, "id")?;
    let state = core.snapshot();
    let product =
        state.card_products.get(&id).ok_or(JcardError::Declined(Decline::CardProductNotFound))?;
    Ok(ApiResponse::json(
        StatusCode::OK,
        &json!({"success": true, "cardproduct": product_json(product)}),
    ))
}

fn saved_velocity(outcome: Outcome) -> Result<ApiResponse, JcardError> {
    match outcome {
        Outcome::VelocityProfileSaved(profile) => Ok(ApiResponse::json(
            StatusCode::OK,
            &json!({"success": true, "velocityprofile": velocity_json(&profile)}),
        )),
        other => Err(super::unexpected_or_declined(other)),
    }
}

pub async fn create_velocity(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let product_id = id_param(request, "id")?;
    let fields = Box::new(wire_card::velocity(&request.body, true)?);
    saved_velocity(
        core.execute(
            Command::CreateVelocityProfile { product_id, fields },
            Some(principal.nonce.clone()),
        )
        .await?,
    )
}

pub async fn update_velocity(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let (product_id, id) = (id_param(request, "id")?, id_param(request, "velocityId")?);
    let fields = Box::new(wire_card::velocity(&request.body, false)?);
    saved_velocity(
        core.execute(
            Command::UpdateVelocityProfile { product_id, id, fields },
            Some(principal.nonce.clone()),
        )
        .await?,
    )
}

pub async fn delete_velocity(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let (product_id, id) = (id_param(request, "id")?, id_param(request, "velocityId")?);
    match core
        .execute(Command::DeleteVelocityProfile { product_id, id }, Some(principal.nonce.clone()))
        .await?
    {
        Outcome::VelocityProfileDeleted => Ok(success(StatusCode::OK)),
        other => Err(super::unexpected_or_declined(other)),
    }
}

pub fn get_velocity(core: &Core, request: &ApiRequest) -> Result<ApiResponse, JcardError> {
    let (product_id, id) = (id_param(request, "id")?, id_param(request, "velocityId")?);
    let state = core.snapshot();
    let profile = state
        .velocity_profiles
        .get(&id)
        .filter(|profile| profile.product_id == product_id)
        .ok_or(JcardError::Declined(Decline::VelocityProfileNotFound))?;
    Ok(ApiResponse::json(
        StatusCode::OK,
        &json!({"success": true, "velocityprofile": velocity_json(profile)}),
    ))
}

pub fn list_velocity(core: &Core, request: &ApiRequest) -> Result<ApiResponse, JcardError> {
    let product_id = id_param(request, "id")?;
    let state = core.snapshot();
    if !state.card_products.contains_key(&product_id) {
        return Err(JcardError::Declined(Decline::CardProductNotFound));
    }
    let profiles: Vec<Value> = state
        .velocity_profiles
        .values()
        .filter(|profile| profile.product_id == product_id)
        .take(core.settings().list_items_max)
        .map(|profile| velocity_json(profile))
        .collect();
    Ok(ApiResponse::json(StatusCode::OK, &json!({"success": true, "velocityprofiles": profiles})))
}

pub async fn create_card(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let body: wire_card::CardCreate = wire::parse_body(&request.body)?;
    let (number, expiration, service_code, track_name) = wire_card::card_number(&body)?;
    let card = NewCard {
        product: body.card_product.trim().to_owned(),
        cardholder: body.card_holder.trim().to_owned(),
        account_code: body.account_code.map(|code| code.trim().to_owned()),
        number,
        expiration,
        service_code,
        embossing_name: body.embossing_name.or(track_name),
        is_virtual: body.is_virtual.unwrap_or(false),
    };
    match core.execute(Command::IssueCard(Box::new(card)), Some(principal.nonce.clone())).await? {
        Outcome::CardIssued { card, pan } => {
            let mut answer = json!({
                "success": true,
                "id": card.id,
                "token": card.token,
                "lastFour": card.last_four,
                "pinEnabled": card.pin_hash.is_some(),
                "maskedPan": card.masked_pan(),
                "expiration": card.expiration,
                "status": card.state.name().to_ascii_uppercase(),
            });
            if let Some(pan) = pan {
                answer["pan"] = json!(pan);
            }
            Ok(ApiResponse::json(StatusCode::CREATED, &answer))
        }
        other => Err(super::unexpected_or_declined(other)),
    }
}

/// Debit or credit of the card in the path, or a transfer between two cards.
pub async fn move_money(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
    kind: CardMovementKind,
) -> Result<ApiResponse, JcardError> {
    let transfer = kind == CardMovementKind::Transfer;
    let body = wire_card::card_movement(&request.body, transfer, kind == CardMovementKind::Debit)?;
    let token = if transfer {
        body.sender.clone().unwrap_or_default()
    } else {
        request.param("token").to_owned()
    };
    let route = match kind {
        CardMovementKind::Debit => "card-debit",
        CardMovementKind::Credit => "card-credit",
        CardMovementKind::Transfer => "card-transfer",
    };
    let movement = CardMovement {
        kind,
        fingerprint: wire_wallet::fingerprint(route, &[&token], &body.canonical),
        token,
        recipient: body.recipient,
        amount: body.amount,
        currency: body.currency,
        channel: Channel::parse(body.channel.as_deref()),
        channel_name: body.channel,
        rrn: body.rrn,
        description: body.description,
        json_request: body.canonical,
        pin_block: body.pin_block,
    };
    match core
        .execute(Command::MoveCardMoney(Box::new(movement)), Some(principal.nonce.clone()))
        .await?
    {
        Outcome::CardMoved { tranlog, replayed } => {
            let answer = CardMoved {
                approval_number: tranlog.approval_number.as_deref(),
                itc: &tranlog.itc,
                replayed,
                result_code: &tranlog.irc,
                rrn: &tranlog.rrn,
                success: true,
            };
            Ok(ApiResponse::serialized(StatusCode::CREATED, &answer))
        }
        other => Err(super::unexpected_or_declined(other)),
    }
}

/// The answer to an approved card movement, borrowed from its tranlog record. Its members in
/// the order of their names, as a JSON tree would print them.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct CardMoved<'a> {
    approval_number: Option<&'a str>,
    itc: &'a str,
    replayed: bool,
    result_code: &'a str,
    rrn: &'a str,
    success: bool,
}

async fn card_command(
    core: &Core,
    principal: &Principal,
    command: Command,
) -> Result<ApiResponse, JcardError> {
    match core.execute(command, Some(principal.nonce.clone())).await? {
        Outcome::CardUpdated => Ok(success(StatusCode::OK)),
        other => Err(super::unexpected_or_declined(other)),
    }
}

pub async fn set_status(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let body: wire_card::CardStatus = wire::parse_body(&request.body)?;
    let state = wire_card::card_state(&body.card_state)?;
    card_command(
        core,
        principal,
        Command::ChangeCardState { token: request.param("token").to_owned(), state },
    )
    .await
}

pub async fn activate(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    card_command(
        core,
        principal,
        Command::ActivateCard { token: request.param("token").to_owned() },
    )
    .await
}

pub async fn update(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let body: wire_card::CardUpdate = wire::parse_body(&request.body)?;
    let product_id = body
        .card_product
        .map(|number| {
            number.as_u64().ok_or_else(|| {
                JcardError::bad_request("invalid.request", "cardProduct is a card product id")
            })
        })
        .transpose()?;
    let expiration = body.expiration.as_deref().map(wire_card::expiration_text).transpose()?;
    let command = Command::UpdateCard {
        token: request.param("token").to_owned(),
        product_id,
        expiration,
        is_virtual: body.is_virtual,
    };
    card_command(core, principal, command).await
}

pub async fn set_pin(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let (new, old) = wire_card::card_pin(&request.body)?;
    card_command(
        core,
        principal,
        Command::SetCardPin { token: request.param("token").to_owned(), new, old },
    )
    .await
}

pub async fn set_account(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let body: wire_card::CardAccount = wire::parse_body(&request.body)?;
    let command = Command::SetCardAccount {
        token: request.param("token").to_owned(),
        account_code: body.account_code.trim().to_owned(),
    };
    card_command(core, principal, command).await
}

pub async fn set_cardholder(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let body: wire_card::CardCardholder = wire::parse_body(&request.body)?;
    let command = Command::SetCardholder {
        token: request.param("token").to_owned(),
        real_id: body.cardholder_real_id.trim().to_owned(),
    };
    card_command(core, principal, command).await
}

/// A payment card by token (cashback passes live in the cashback API only).
fn card(core: &Core, request: &ApiRequest) -> Result<std::sync::Arc<Card>, JcardError> {
    card_in(&core.snapshot(), request).cloned()
}

/// The payment card the request's `token` names, in `state`.
fn card_in<'s>(
    state: &'s State,
    request: &ApiRequest,
) -> Result<&'s std::sync::Arc<Card>, JcardError> {
    state
        .cards
        .get(request.param("token"))
        .filter(|card| card.kind == crate::card::CardKind::Payment)
        .ok_or(JcardError::Declined(Decline::CardNotFound))
}

/// `yyyyMM` as the detail writes it: `YYMM`.
fn short_expiry(expiration: &str) -> String {
    expiration.get(2..).unwrap_or_default().to_owned()
}

pub fn detail(core: &Core, request: &ApiRequest) -> Result<ApiResponse, JcardError> {
    let card = card(core, request)?;
    let answer = json!({
        "success": true,
        "token": card.token,
        "cardholderId": card.cardholder,
        "accountId": card.account_id.to_string(),
        "productId": card.product_id.to_string(),
        "pan": card.masked_pan(),
        "expiryDate": short_expiry(&card.expiration),
        "cardType": "DEBIT",
        "status": card.state.name().to_ascii_uppercase(),
        "embossedName": card.embossing_name,
        "pinEnabled": card.pin_hash.is_some(),
        "virtual": card.is_virtual,
    });
    Ok(ApiResponse::json(StatusCode::OK, &answer))
}

/// A card account's balance as the balance enquiry answers it (and a card's transactions with
/// `balance=true`). Fields in name order, the order of a `serde_json::Value` object, so the
/// enquiry and the transactions' `balance` read alike.
struct CardBalance<'s> {
    account_code: &'s str,
    balance: Amount,
    now_ms: EpochMs,
    layers: [Layer; 2],
}

impl CardBalance<'_> {
    /// The answer's JSON object, written field by field rather than through serde's derive and
    /// a `Value` number: this is the balance enquiry's hot path, where those were a quarter of
    /// its handler (docs/performance.md, "The balance enquiry's answer and reads").
    fn to_json(&self, success: bool) -> String {
        let mut out = String::with_capacity(128);
        out.push_str("{\"accountCode\":");
        push_json_str(&mut out, self.account_code);
        out.push_str(",\"balance\":");
        out.push_str(&self.balance.to_string());
        out.push_str(",\"date\":\"");
        dates::push_day(&mut out, self.now_ms);
        out.push_str("\",\"journalCode\":");
        push_json_str(&mut out, super::JOURNAL);
        out.push_str(",\"layers\":\"");
        // Writing into a `String` cannot fail.
        let _ = write!(out, "{},{}\"", self.layers[0], self.layers[1]);
        if success {
            out.push_str(",\"success\":true");
        }
        out.push('}');
        out
    }
}

/// The card account's balance in the default currency (accounting plus pending layer), in
/// `state`.
fn card_balance<'s>(
    core: &Core,
    state: &'s State,
    card: &Card,
) -> Result<CardBalance<'s>, JcardError> {
    let currency = i16::try_from(core.settings().wallets.default_currency).unwrap_or(840);
    let layers = [currency, currency.saturating_add(PENDING_LAYER_OFFSET)];
    let (account, balance) =
        crate::core::reads::account_balance(state, super::JOURNAL, card.account_id, &layers)
            .ok_or(JcardError::Declined(Decline::InvalidCardAccount))??;
    Ok(CardBalance { account_code: &account.code, balance, now_ms: core.now_ms(), layers })
}

pub fn balance(core: &Core, request: &ApiRequest) -> Result<ApiResponse, JcardError> {
    // The hot path of a balance enquiry: one snapshot for the card and its balance, and the
    // answer written from borrowed fields.
    let state = core.snapshot();
    let card = card_in(&state, request)?;
    let answer = card_balance(core, &state, card)?.to_json(true);
    Ok(ApiResponse::text(StatusCode::OK, "application/json", answer))
}

fn list_query(request: &ApiRequest, name: &str) -> Vec<String> {
    request
        .query(name)
        .map(|text| {
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

pub fn transactions(core: &Core, request: &ApiRequest) -> Result<ApiResponse, JcardError> {
    let card = card(core, request)?;
    let (from_ms, to_ms) = wallets::day_range(request)?;
    let ascending = match request.query("order").map(str::to_ascii_lowercase).as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(_) => return Err(JcardError::bad_request("invalid.request", "order is asc or desc")),
    };
    let offset = match request.query("offset") {
        None => 0,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| JcardError::bad_request("invalid.request", "offset is a whole number"))?,
    };
    let ircs = match list_query(request, "irc") {
        ircs if ircs.is_empty() => vec![IRC_APPROVED.to_owned()],
        ircs => ircs,
    };
    let currencies = list_query(request, "currency")
        .into_iter()
        .map(|code| code.parse::<u16>().map(crate::wallet::currency_text).unwrap_or(code))
        .collect();
    let filter = TranlogFilter {
        from_ms,
        to_ms,
        itcs: list_query(request, "itc"),
        length: wallets::length_query(request, core)?,
        offset: offset.min(core.settings().statement_entries_max),
        ascending,
        ircs,
        currencies,
    };
    let records = core.card_tranlogs(&card.token, &filter)?;
    let mut answer = json!({"success": true, "transactions": records.iter().map(card_tranlog_json).collect::<Vec<_>>()});
    if wire_wallet::flag(request.query("balance"), "balance")? {
        let state = core.snapshot();
        let balance = card_balance(core, &state, &card)?.to_json(false);
        // Written by `to_json` from a number and escaped strings: it always parses.
        answer["balance"] = serde_json::from_str(&balance).unwrap_or_default();
    }
    Ok(ApiResponse::json(StatusCode::OK, &answer))
}

/// A card's tranlog record, with the document's field names (some Spanish: the document was
/// written around a Uruguayan deployment).
fn card_tranlog_json(record: &Tranlog) -> Value {
    let description = serde_json::from_str::<Value>(&record.json_request)
        .ok()
        .and_then(|request| request.get("description").or_else(|| request.get("reason")).cloned());
    json!({
        "id": record.id,
        "date": dates::format_seconds(record.date_ms),
        "descripcion": description,
        "code": record.ss_data,
        "itc": record.itc,
        "responseCode": record.irc,
        "irc": record.irc,
        "approvalNumber": record.approval_number,
        "comercio": record.channel,
        "currency": record.currency_code.parse::<u16>().ok(),
        "amount": number(record.amount),
        "confirmed": record.is_approved() && record.reversal_count == 0 && record.void_count == 0,
        "reversalCount": record.reversal_count,
        "voidCount": record.void_count,
        "mid": Value::Null,
        "tid": Value::Null,
        "rrn": record.rrn,
        "stan": format!("{:012}", record.id),
        "card": record.card,
        "card2": record.card2,
    })
}

pub fn customer_cards(core: &Core, request: &ApiRequest) -> Result<ApiResponse, JcardError> {
    let state = core.snapshot();
    let customer = state
        .customers
        .get(request.param("realId"))
        .ok_or(JcardError::Declined(Decline::CustomerNotFound))?;
    let cards: Vec<Value> = state
        .customer_cards
        .get(&customer.real_id)
        .into_iter()
        .flatten()
        .filter_map(|token| state.cards.get(token))
        .map(|card| {
            json!({
                "token": card.token,
                "cardState": card.state.name().to_ascii_uppercase(),
                "cardProduct": card.product_id,
                "bin": card.bin,
                "lastFour": card.last_four,
                "expiration": last_day(&card.expiration),
                "virtual": card.is_virtual,
                "cardType": "DEBIT",
                "pinEnabled": card.pin_hash.is_some(),
            })
        })
        .collect();
    let info = json!({
        "firstName": customer.first_name,
        "middleName": customer.details.middle_name,
        "lastName": customer.last_name,
        "cards": cards,
    });
    Ok(ApiResponse::json(StatusCode::OK, &json!({"success": true, "info": info})))
}

/// `yyyyMM` → the month's last day, `yyyy-MM-dd` (how the document lists a card's expiry).
fn last_day(expiration: &str) -> Option<String> {
    let year: i32 = expiration.get(..4)?.parse().ok()?;
    let month: u32 = expiration.get(4..6)?.parse().ok()?;
    let (next_year, next_month) =
        if month == 12 { (year.checked_add(1)?, 1) } else { (year, month.checked_add(1)?) };
    let first_of_next = chrono::NaiveDate::from_ymd_opt(next_year, next_month, 1)?;
    Some(first_of_next.pred_opt()?.format("%Y-%m-%d").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_balance_answer_is_the_json_it_reads_as() {
        let answer = CardBalance {
            account_code: "21.\"card\"\\7",
            balance: Amount::parse("-4693.38").unwrap(),
            now_ms: 1_779_494_400_000,
            layers: [840, 1840],
        };
        let expected = json!({
            "accountCode": "21.\"card\"\\7",
            "balance": number(Amount::parse("-4693.38").unwrap()),
            "date": "2026-05-23",
            "journalCode": super::super::JOURNAL,
            "layers": "840,1840",
        });
        assert_eq!(serde_json::from_str::<Value>(&answer.to_json(false)).unwrap(), expected);
        let mut with_success = expected;
        with_success["success"] = json!(true);
        assert_eq!(serde_json::from_str::<Value>(&answer.to_json(true)).unwrap(), with_success);
        assert!(answer.to_json(true).contains("\"balance\":-4693.38,"), "a number, exact");
    }
}
