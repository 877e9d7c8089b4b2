//! The operator routes of the cashback card API (`/cardapi/admin/...`, `admin` tokens): merchant
//! groups, stores, points of sale, passes, and crediting cashback onto a pass (once per request
//! id). Ids of groups, stores and points of sale are integers the switch assigns.

use http::StatusCode;
use serde_json::{json, Value};

use super::errors::CashbackError;
use super::{forbidden, wire};
use crate::api::ApiRequest;
use crate::bearer::BearerClaims;
use crate::core::command::{CashbackCredit, Command, NewPass, Outcome};
use crate::core::{Core, CoreError};

type Answer = Result<(StatusCode, Value), CashbackError>;

async fn run(core: &Core, command: Command) -> Result<Outcome, CashbackError> {
    match core.execute(command, None).await? {
        Outcome::Declined(decline) => Err(CashbackError::Declined(decline)),
        outcome => Ok(outcome),
    }
}

fn unexpected(outcome: &Outcome) -> CashbackError {
    CashbackError::Core(CoreError::Corrupt(format!(
        "a cashback admin command answered {outcome:?}"
    )))
}

fn name(core: &Core, value: &str) -> Result<String, CashbackError> {
    wire::text("name", value, core.settings().cashback.name_bytes_max)
}

pub async fn create_group(core: &Core, claims: &BearerClaims, request: &ApiRequest) -> Answer {
    if claims.group_id.is_some() {
        return Err(forbidden());
    }
    let body: wire::NewGroup = wire::parse(&request.body)?;
    let command = Command::CreateMerchantGroup {
        name: name(core, &body.name)?,
        currency: wire::currency("currency", &body.currency)?,
    };
    match run(core, command).await? {
        Outcome::MerchantGroupCreated(group) => Ok((
            StatusCode::CREATED,
            json!({"id": group.id, "name": group.name, "currency": wire::currency_text(group.currency)}),
        )),
        other => Err(unexpected(&other)),
    }
}

pub async fn create_store(core: &Core, claims: &BearerClaims, request: &ApiRequest) -> Answer {
    let body: wire::NewStore = wire::parse(&request.body)?;
    if !claims.permits_group(body.group_id) {
        return Err(forbidden());
    }
    let command =
        Command::CreateMerchantStore { group_id: body.group_id, name: name(core, &body.name)? };
    match run(core, command).await? {
        Outcome::MerchantStoreCreated(store) => Ok((
            StatusCode::CREATED,
            json!({"id": store.id, "group_id": store.group_id, "name": store.name}),
        )),
        other => Err(unexpected(&other)),
    }
}

pub async fn create_point_of_sale(
    core: &Core,
    claims: &BearerClaims,
    request: &ApiRequest,
) -> Answer {
    let body: wire::NewPointOfSale = wire::parse(&request.body)?;
    let store = core
        .merchant_store(body.store_id)
        .ok_or_else(|| CashbackError::Invalid("unknown store_id".to_owned()))?;
    if !claims.permits_store(store.group_id, store.id) {
        return Err(forbidden());
    }
    let command =
        Command::CreatePointOfSale { store_id: body.store_id, name: name(core, &body.name)? };
    match run(core, command).await? {
        Outcome::PointOfSaleCreated(point) => Ok((
            StatusCode::CREATED,
            json!({"id": point.id, "store_id": point.store_id, "name": point.name}),
        )),
        other => Err(unexpected(&other)),
    }
}

pub async fn create_pass(core: &Core, claims: &BearerClaims, request: &ApiRequest) -> Answer {
    let body: wire::NewPass = wire::parse(&request.body)?;
    if !claims.permits_group(body.group_id) {
        return Err(forbidden());
    }
    let limit = core.settings().cashback.search_q_bytes_max;
    let identifier = |label: &str, value: Option<String>| {
        value.map(|value| wire::text(label, &value, limit)).transpose()
    };
    let pass = NewPass {
        group_id: body.group_id,
        holder_name: wire::text(
            "holder_name",
            &body.holder_name,
            core.settings().cashback.name_bytes_max,
        )?,
        nfc: identifier("nfc", body.nfc)?,
        barcode: identifier("barcode", body.barcode)?,
        manual: identifier("manual_code", body.manual_code)?,
    };
    if pass.nfc.is_none() && pass.barcode.is_none() && pass.manual.is_none() {
        return Err(CashbackError::Invalid(
            "a pass needs at least one of nfc, barcode, manual_code".to_owned(),
        ));
    }
    match run(core, Command::CreatePass(Box::new(pass))).await? {
        Outcome::PassCreated(card) => {
            let view = core.pass_by_token(&card.token).ok_or_else(|| {
                CashbackError::Core(CoreError::Corrupt("a created pass is not readable".to_owned()))
            })?;
            Ok((StatusCode::CREATED, json!({"type": "CASHBACK", "pass": wire::pass(&view)})))
        }
        other => Err(unexpected(&other)),
    }
}

pub async fn credit(core: &Core, claims: &BearerClaims, request: &ApiRequest) -> Answer {
    let body: wire::Credit = wire::parse(&request.body)?;
    let token = request.param("pass_id").to_owned();
    let view = core.pass_by_token(&token).ok_or(CashbackError::PassNotFound)?;
    if !claims.permits_group(view.details.group_id) {
        return Err(forbidden());
    }
    let credit = CashbackCredit {
        request_id: wire::uuid("request_id", &body.request_id)?,
        token,
        amount: wire::amount("amount", &body.amount, core.settings().cashback.amount_whole_max)?,
        currency: wire::currency("currency", &body.currency)?,
    };
    match run(core, Command::CreditCashback(Box::new(credit))).await? {
        Outcome::Cashback { receipt, .. } => Ok((StatusCode::OK, wire::credit_answer(&receipt))),
        other => Err(unexpected(&other)),
    }
}
