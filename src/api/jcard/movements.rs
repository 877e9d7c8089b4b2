//! Money movements (`/wallets/{code}/credit`, `/debit`, `/transfer`) and transactions by RRN
//! (`/transactions/{rrn}`, `/reverse/{rrn}`, `/void/{rrn}`).

use http::StatusCode;
use serde_json::json;

use super::errors::JcardError;
use super::render::{self, number};
use super::wire_wallet;
use crate::api::{ApiRequest, ApiResponse};
use crate::core::command::{Command, Decline, MoneyMovement, Outcome};
use crate::core::tranlog::IRC_APPROVED;
use crate::core::{Core, Principal};
use crate::wallet::plan::Movement;

/// Credit, debit or a transfer to `destination`.
pub async fn move_money(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
    movement: Movement,
    destination: Option<String>,
) -> Result<ApiResponse, JcardError> {
    let body = wire_wallet::movement_body(movement, &request.body)?;
    let wallet = request.param("walletCode").to_owned();
    let dry_run = wire_wallet::flag(request.query("dryRun"), "dryRun")?;
    let wallets: Vec<&str> =
        [Some(wallet.as_str()), destination.as_deref()].into_iter().flatten().collect();
    let fingerprint = wire_wallet::fingerprint(movement.itc(), &wallets, &body.canonical);
    let command = MoneyMovement {
        movement,
        wallet,
        destination,
        amount: body.amount,
        layers: body.layers,
        kind: body.kind,
        rrn: body.rrn,
        fingerprint,
        description: body.description,
        json_request: body.canonical,
        geo_location: body.geo_location,
        dry_run,
        pin: body.pin,
    };
    match core.execute(Command::MoveMoney(Box::new(command)), Some(principal.nonce.clone())).await?
    {
        Outcome::MoneyMoved { tranlog, replayed } => {
            let answer = json!({
                "success": true,
                "fees": render::fees(&tranlog),
                "amountWithFees": number(tranlog.amount_with_fees),
                "amount": number(tranlog.amount),
                "rrn": tranlog.rrn,
                "itc": tranlog.itc,
                "resultCode": tranlog.irc,
                "approvalNumber": tranlog.approval_number,
                "dryRun": dry_run,
                "replayed": replayed,
            });
            Ok(ApiResponse::json(StatusCode::OK, &answer))
        }
        other => Err(super::unexpected_or_declined(other)),
    }
}

/// The destination of a transfer written the document's way, after the query:
/// `/wallets/{source}/transfer?dryRun=/{destination}` or `?dryRun=true/{destination}`. The
/// part before the last `/` is the `dryRun` value.
pub fn destination_in_query(
    request: &ApiRequest,
) -> Result<(Option<String>, ApiRequest), JcardError> {
    let mut rewritten = request.clone();
    let mut destination = None;
    for (_, value) in rewritten.query.iter_mut().filter(|(key, _)| key == "dryRun") {
        if let Some((flag, code)) = value.rsplit_once('/') {
            destination = Some(code.trim().to_owned());
            *value = flag.to_owned();
        }
    }
    let destination = destination.filter(|code| !code.is_empty()).ok_or_else(|| {
        JcardError::bad_request(
            "missing.fields",
            "the destination wallet is missing: /wallets/{source}/transfer/{destination}",
        )
    })?;
    wire_wallet::wallet_code(&destination)?;
    Ok((Some(destination), rewritten))
}

pub fn by_rrn(core: &Core, request: &ApiRequest) -> Result<ApiResponse, JcardError> {
    let records = core.tranlogs_by_rrn(request.param("rrn"))?;
    if records.is_empty() {
        return Err(JcardError::Declined(Decline::TransactionNotFound));
    }
    let tranlogs = records
        .iter()
        .map(|record| render::tranlog_detail(core, record))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ApiResponse::json(StatusCode::OK, &json!({"success": true, "tranlogs": tranlogs})))
}

pub async fn reverse(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let command = Command::ReverseByRrn { rrn: request.param("rrn").to_owned() };
    match core.execute(command, Some(principal.nonce.clone())).await? {
        Outcome::ReversedByRrn { .. } => Ok(super::success(StatusCode::OK)),
        other => Err(super::unexpected_or_declined(other)),
    }
}

pub async fn void(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let command = Command::VoidByRrn { rrn: request.param("rrn").to_owned() };
    match core.execute(command, Some(principal.nonce.clone())).await? {
        Outcome::Voided { void, original } => {
            let answer = json!({
                "success": true,
                "voidRrn": void.rrn,
                "approvalNumber": void.approval_number,
                "itc": original.itc,
                "resultCode": IRC_APPROVED,
                "amount": number(original.amount),
            });
            Ok(ApiResponse::json(StatusCode::OK, &answer))
        }
        other => Err(super::unexpected_or_declined(other)),
    }
}
