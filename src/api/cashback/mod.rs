//! The cashback card API (`/cardapi`): points of sale find a cashback pass by its NFC number,
//! barcode or manual code and pay with its cashback, once per ticket id; operators create
//! merchant groups, stores, points of sale and passes and credit cashback under `/admin`.
//! Every call carries an HS256 bearer token whose scope, group and stores bound what it reaches.

pub mod admin;
pub mod errors;
pub mod routes;
pub mod wire;

use http::StatusCode;
use serde_json::{json, Value};

use self::errors::CashbackError;
use self::routes::Route;
use super::{ApiRequest, ApiResponse, TransportError};
use crate::bearer::BearerClaims;
use crate::core::command::{CashbackDebit, Command, Outcome};
use crate::core::reads_cashback::PassView;
use crate::core::Core;

/// Answers one cashback card API request.
pub async fn handle(core: &Core, route: Route, request: ApiRequest) -> ApiResponse {
    match dispatch(core, route, &request).await {
        Ok((status, body)) => ApiResponse::json(status, &body),
        Err(error) => error.into_response(),
    }
}

/// A transport-level refusal in this dialect's error shape.
pub fn transport_error(error: TransportError) -> ApiResponse {
    CashbackError::Transport(error).into_response()
}

async fn dispatch(
    core: &Core,
    route: Route,
    request: &ApiRequest,
) -> Result<(StatusCode, Value), CashbackError> {
    let claims = authenticate(core, route, request)?;
    match route {
        Route::Search => search(core, &claims, request).map(|body| (StatusCode::OK, body)),
        Route::Debit => debit(core, &claims, request).await.map(|body| (StatusCode::OK, body)),
        Route::AdminGroup => admin::create_group(core, &claims, request).await,
        Route::AdminStore => admin::create_store(core, &claims, request).await,
        Route::AdminPointOfSale => admin::create_point_of_sale(core, &claims, request).await,
        Route::AdminPass => admin::create_pass(core, &claims, request).await,
        Route::AdminCredit => admin::credit(core, &claims, request).await,
    }
}

/// The token's claims, when it is valid and of the route's scope.
fn authenticate(
    core: &Core,
    route: Route,
    request: &ApiRequest,
) -> Result<BearerClaims, CashbackError> {
    let claims =
        core.verify_bearer(request.header("authorization")).map_err(CashbackError::Token)?;
    if claims.scope != route.scope() {
        return Err(CashbackError::Forbidden(format!(
            "a {} token is needed here",
            route.scope().as_str()
        )));
    }
    Ok(claims)
}

fn forbidden() -> CashbackError {
    CashbackError::Forbidden("the token does not reach this group or store".to_owned())
}

/// An integer query parameter, if present.
fn query_id(request: &ApiRequest, name: &str) -> Result<Option<u64>, CashbackError> {
    request
        .query(name)
        .map(|text| {
            text.parse::<u64>()
                .map_err(|_| CashbackError::Invalid(format!("{name} must be an integer")))
        })
        .transpose()
}

/// The merchant group a search is made for, checked against the token.
fn search_group(
    core: &Core,
    claims: &BearerClaims,
    request: &ApiRequest,
) -> Result<u64, CashbackError> {
    let group_id = query_id(request, "group_id")?;
    let store_id = query_id(request, "store_id")?;
    let point_of_sale_id = query_id(request, "point_of_sale_id")?;
    match (group_id, store_id, point_of_sale_id) {
        (Some(group_id), None, None) => {
            if !claims.permits_group(group_id) {
                return Err(forbidden());
            }
            if core.merchant_group(group_id).is_none() {
                return Err(CashbackError::Invalid("unknown group_id".to_owned()));
            }
            Ok(group_id)
        }
        (None, Some(store_id), Some(point_of_sale_id)) => {
            let (_, store) = core
                .point_of_sale(point_of_sale_id)
                .filter(|(point, _)| point.store_id == store_id)
                .ok_or_else(|| {
                    CashbackError::Invalid(
                        "point_of_sale_id is not a point of sale of store_id".to_owned(),
                    )
                })?;
            if !claims.permits_store(store.group_id, store.id) {
                return Err(forbidden());
            }
            Ok(store.group_id)
        }
        _ => Err(CashbackError::Invalid(
            "give either group_id, or store_id and point_of_sale_id".to_owned(),
        )),
    }
}

fn search(
    core: &Core,
    claims: &BearerClaims,
    request: &ApiRequest,
) -> Result<Value, CashbackError> {
    let mode = wire::search_mode(
        request.query("search_mode").ok_or_else(|| wire::missing("search_mode"))?,
    )?;
    let limit = core.settings().cashback.search_q_bytes_max;
    let q = wire::text("q", request.query("q").ok_or_else(|| wire::missing("q"))?, limit)?;
    let group_id = search_group(core, claims, request)?;
    let view: PassView = core
        .find_pass(mode, &q)
        .filter(|view| view.details.group_id == group_id)
        .ok_or(CashbackError::PassNotFound)?;
    Ok(json!({"type": "CASHBACK", "pass": wire::pass(&view)}))
}

async fn debit(
    core: &Core,
    claims: &BearerClaims,
    request: &ApiRequest,
) -> Result<Value, CashbackError> {
    let command = debit_command(core, claims, request)?;
    match core.execute(Command::DebitCashback(Box::new(command)), None).await? {
        Outcome::Cashback { receipt, .. } => Ok(wire::debit_answer(&receipt)),
        Outcome::Declined(decline) => Err(CashbackError::Declined(decline)),
        other => Err(CashbackError::Core(crate::core::CoreError::Corrupt(format!(
            "a cashback debit answered {other:?}"
        )))),
    }
}

/// Checks a debit's body and the token's reach over its point of sale.
fn debit_command(
    core: &Core,
    claims: &BearerClaims,
    request: &ApiRequest,
) -> Result<CashbackDebit, CashbackError> {
    let limits = &core.settings().cashback;
    let body: wire::Debit = wire::parse(&request.body)?;
    let ticket_id =
        wire::uuid("ticket_id", &body.ticket_id.ok_or_else(|| wire::missing("ticket_id"))?)?;
    let point_of_sale_id =
        body.point_of_sale_id.ok_or_else(|| wire::missing("point_of_sale_id"))?;
    let device_id = wire::text(
        "device_id",
        &body.device_id.ok_or_else(|| wire::missing("device_id"))?,
        limits.device_id_bytes_max,
    )?;
    let ticket_number = body
        .ticket_number
        .map(|number| wire::text("ticket_number", &number, limits.ticket_number_bytes_max))
        .transpose()?;
    let token = body.pass.and_then(|pass| pass.id).ok_or_else(|| wire::missing("pass.id"))?;
    let row = body.payment_row.ok_or_else(|| wire::missing("payment_row"))?;
    let amount = wire::amount(
        "payment_row.amount",
        &row.amount.ok_or_else(|| wire::missing("payment_row.amount"))?,
        limits.amount_whole_max,
    )?;
    let currency = wire::currency(
        "payment_row.currency",
        &row.currency.ok_or_else(|| wire::missing("payment_row.currency"))?,
    )?;
    let (_, store) = core
        .point_of_sale(point_of_sale_id)
        .ok_or_else(|| CashbackError::Invalid("unknown point_of_sale_id".to_owned()))?;
    if !claims.permits_store(store.group_id, store.id) {
        return Err(forbidden());
    }
    Ok(CashbackDebit {
        ticket_id,
        ticket_number,
        point_of_sale_id,
        device_id,
        token: token.trim().to_owned(),
        amount,
        currency,
    })
}
