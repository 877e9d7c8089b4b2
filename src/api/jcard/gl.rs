//! `/gl`: posting transactions, balances, statements and chart accounts.

use http::StatusCode;
use serde_json::{json, Value};

use super::errors::JcardError;
use super::render::number;
use super::{dates, success, wire};
use crate::api::{ApiRequest, ApiResponse};
use crate::core::command::{Command, NewAccount, Outcome};
use crate::core::reads::StatementAnswer;
use crate::core::{Core, Principal};
use crate::ledger::post::{EntryRequest, TransactionRequest};
use crate::ledger::statement::StatementLine;
use crate::ledger::{parse_layers, AccountType, Layer, Side};

/// Layer of an entry that names none (miniGL's default).
const LAYER_DEFAULT: Layer = 0;

pub async fn post_transaction(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let body: wire::GlTransaction = wire::parse_body(&request.body)?;
    let transaction = transaction_request(body, core.settings().transaction_entries_max)?;
    match core.execute(Command::PostTransaction(transaction), Some(principal.nonce.clone())).await?
    {
        Outcome::Posted { transaction_id } => Ok(ApiResponse::json(
            StatusCode::CREATED,
            &json!({"success": true, "id": transaction_id}),
        )),
        Outcome::Declined(decline) => Err(JcardError::Declined(decline)),
        other => Err(unexpected(&other)),
    }
}

/// A posted transaction's body checked and turned into the core's request (public for the
/// fuzz targets).
pub fn transaction_request(
    body: wire::GlTransaction,
    entries_max: usize,
) -> Result<TransactionRequest, JcardError> {
    if body.entries.len() < 2 || body.entries.len() > entries_max {
        return Err(JcardError::bad_request(
            "invalid.entries",
            format!("a transaction has 2 to {entries_max} entries"),
        ));
    }
    let post_date_ms = dates::parse_day_start(&body.post_date).ok_or_else(|| {
        JcardError::bad_request("invalid.postDate", "postDate must be a date yyyy-MM-dd")
    })?;
    let entries = body
        .entries
        .into_iter()
        .enumerate()
        .map(|(index, entry)| entry_request(index, entry))
        .collect::<Result<_, _>>()?;
    Ok(TransactionRequest {
        journal: wire::identifier(&body.journal_name, "journalName")?.to_owned(),
        post_date_ms,
        detail: body.detail.unwrap_or_default(),
        tags: body.tags.unwrap_or_default(),
        entries,
    })
}

fn entry_request(index: usize, entry: wire::GlEntry) -> Result<EntryRequest, JcardError> {
    let layer = match entry.layer {
        None => LAYER_DEFAULT,
        Some(layer) => Layer::try_from(layer).map_err(|_| {
            JcardError::bad_request(
                "invalid.layer",
                format!("entries[{index}].layer is out of range"),
            )
        })?,
    };
    Ok(EntryRequest {
        account_code: wire::identifier(&entry.account_code, "accountCode")?.to_owned(),
        side: side(entry.side),
        layer,
        amount: wire::amount(&entry.amount, &format!("entries[{index}].amount"))?,
        detail: entry.detail.unwrap_or_default(),
        tags: entry.tags.unwrap_or_default(),
    })
}

fn side(side: wire::EntrySide) -> Side {
    match side {
        wire::EntrySide::Debit => Side::Debit,
        wire::EntrySide::Credit => Side::Credit,
    }
}

fn layers_query(request: &ApiRequest) -> Result<Vec<Layer>, JcardError> {
    parse_layers(request.query("layers").unwrap_or_default())
        .map_err(|message| JcardError::bad_request("invalid.layers", message))
}

fn day_query(request: &ApiRequest, name: &str) -> Result<Option<String>, JcardError> {
    match request.query(name) {
        None => Ok(None),
        Some(text) if dates::parse_day_start(text).is_some() => Ok(Some(text.to_owned())),
        Some(_) => Err(JcardError::bad_request(
            "invalid.date",
            format!("{name} must be a date yyyy-MM-dd"),
        )),
    }
}

fn join_layers(layers: &[Layer]) -> String {
    layers.iter().map(Layer::to_string).collect::<Vec<_>>().join(",")
}

pub fn balance(core: &Core, request: &ApiRequest) -> Result<ApiResponse, JcardError> {
    let layers = layers_query(request)?;
    // Without a date the balance is the current one: no history to scan.
    let asked_day = day_query(request, "date")?;
    let before_ms = asked_day.as_deref().and_then(dates::parse_day_end);
    let day = asked_day.unwrap_or_else(|| dates::format_day(core.now_ms()));
    let answer = core.balance(
        request.param("journalCode"),
        request.param("accountCode"),
        &layers,
        before_ms,
    )?;
    let body = json!({
        "success": true,
        "response": {
            "date": day,
            "accountCode": answer.account.code,
            "balance": number(answer.balance),
            "layers": join_layers(&answer.layers),
            "journalCode": answer.journal.name,
        }
    });
    Ok(ApiResponse::json(StatusCode::OK, &body))
}

pub fn statement(core: &Core, request: &ApiRequest) -> Result<ApiResponse, JcardError> {
    let layers = layers_query(request)?;
    let start =
        day_query(request, "start")?.unwrap_or_else(|| dates::STATEMENT_START_DEFAULT.to_owned());
    let end = day_query(request, "end")?.unwrap_or_else(|| dates::STATEMENT_END_DEFAULT.to_owned());
    let start_ms = dates::parse_day_start(&start).unwrap_or_default();
    let end_ms = dates::parse_day_end(&end).unwrap_or_default();
    if end_ms <= start_ms {
        return Err(JcardError::bad_request("invalid.date", "end is before start"));
    }
    let answer = core.statement(
        request.param("journalCode"),
        request.param("accountCode"),
        &layers,
        start_ms,
        end_ms,
    )?;
    let body =
        json!({"success": true, "accountStatement": render_statement(&answer, start_ms, end_ms)});
    Ok(ApiResponse::json(StatusCode::OK, &body))
}

fn render_statement(answer: &StatementAnswer, start_ms: i64, end_ms: i64) -> Value {
    let statement = &answer.statement;
    let mut body = json!({
        "accountCode": answer.account.code,
        "description": answer.account.description,
        "journalCode": answer.journal.name,
        "entries": statement.lines.iter().map(render_line).collect::<Vec<_>>(),
        "credits": number(statement.credits),
        "debits": number(statement.debits),
        "initialBalance": number(statement.initial_balance),
        "finalBalance": number(statement.final_balance),
        "start": dates::format_java(start_ms),
        "end": dates::format_java_day_end(end_ms),
        "layers": answer.layers,
    });
    if statement.truncated {
        body["truncated"] = Value::Bool(true);
    }
    body
}

fn render_line(line: &StatementLine) -> Value {
    let side = match line.side {
        Side::Credit => "credit",
        Side::Debit => "debit",
    };
    let mut entry = json!({
        "postDate": dates::format_instant(line.post_date_ms),
        "detail": line.detail,
        "layer": line.layer,
        "balance": number(line.balance),
        "reversalCount": line.reversal_count,
        "transactionId": line.transaction_id,
    });
    entry[side] = number(line.amount);
    if !line.tags.is_empty() {
        entry["tags"] = Value::String(line.tags.clone());
    }
    entry
}

pub async fn create_account(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let body: wire::GlAccount = wire::parse_body(&request.body)?;
    let expiration_ms =
        match body.expiration.as_deref().map(str::trim).filter(|text| !text.is_empty()) {
            None => None,
            Some(text) => Some(
                dates::parse_day_end(text).map(|end| end.saturating_sub(1)).ok_or_else(|| {
                    JcardError::bad_request("invalid.date", "expiration must be a date yyyy-MM-dd")
                })?,
            ),
        };
    let account = NewAccount {
        chart: wire::identifier(request.param("chartName"), "chartName")?.to_owned(),
        code: wire::identifier(&body.code, "code")?.to_owned(),
        description: body.description.unwrap_or_default(),
        account_type: match body.account_type {
            wire::EntrySide::Debit => AccountType::Debit,
            wire::EntrySide::Credit => AccountType::Credit,
        },
        parent_code: wire::identifier(&body.parent_code, "parentCode")?.to_owned(),
        is_final: body.is_final,
        currency_code: body.currency_code,
        tags: body.tags.unwrap_or_default(),
        expiration_ms,
    };
    match core.execute(Command::CreateAccount(account), Some(principal.nonce.clone())).await? {
        Outcome::AccountCreated { .. } => Ok(success(StatusCode::CREATED)),
        Outcome::Declined(decline) => Err(JcardError::Declined(decline)),
        other => Err(unexpected(&other)),
    }
}

fn unexpected(outcome: &Outcome) -> JcardError {
    JcardError::Core(crate::core::CoreError::Corrupt(format!("unexpected outcome {outcome:?}")))
}
