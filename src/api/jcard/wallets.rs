//! `/wallets`: opening wallets, balances, statements, their tranlog, their customer, owner
//! type, PIN and state.

use http::StatusCode;
use serde_json::{json, Value};

use super::errors::JcardError;
use super::render::{self, money_text, number, TranlogCache};
use super::{customers, dates, success, wire, wire_wallet};
use crate::api::{ApiRequest, ApiResponse};
use crate::core::command::{Command, Decline, Outcome, WalletStateChange};
use crate::core::reads::StatementAnswer;
use crate::core::reads_wallet::TranlogFilter;
use crate::core::{Core, Principal};
use crate::ledger::{parse_layers, Layer};
use crate::wallet::{wallet_account_code, Wallet, WalletOwner};

/// Entries or records a list answers when the request names no `length`.
const LENGTH_DEFAULT: usize = 5;

/// The wallet named in the path, if it exists.
pub fn wallet(core: &Core, request: &ApiRequest) -> Result<std::sync::Arc<Wallet>, JcardError> {
    core.snapshot()
        .wallets
        .get(request.param("walletCode"))
        .cloned()
        .ok_or(JcardError::Declined(Decline::WalletNotFound))
}

pub async fn create(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let body: wire_wallet::WalletCreate = wire::parse_body(&request.body)?;
    let code = wire_wallet::wallet_code(&body.code)?.to_owned();
    let command =
        Command::CreateWallet { code, card_product: body.card_product, owner: WalletOwner::None };
    match core.execute(command, Some(principal.nonce.clone())).await? {
        Outcome::WalletCreated { id, pin } => Ok(ApiResponse::json(
            StatusCode::CREATED,
            &json!({"success": true, "id": id, "pin": pin}),
        )),
        other => Err(super::unexpected_or_declined(other)),
    }
}

/// The `layers` query parameter, which the wallet routes require.
fn required_layers(request: &ApiRequest) -> Result<Vec<Layer>, JcardError> {
    let layers = parse_layers(request.query("layers").unwrap_or_default())
        .map_err(|message| JcardError::bad_request("invalid.layers", message))?;
    if layers.is_empty() {
        return Err(JcardError::bad_request(
            "missing.fields",
            "layers is required, e.g. layers=840,1840",
        ));
    }
    Ok(layers)
}

fn date_query(request: &ApiRequest, name: &str) -> Result<Option<i64>, JcardError> {
    match request.query(name) {
        None => Ok(None),
        Some(text) => dates::parse_day_end(text).map(Some).ok_or_else(|| {
            JcardError::bad_request("invalid.date", format!("{name} must be a date yyyy-MM-dd"))
        }),
    }
}

pub fn length_query(request: &ApiRequest, core: &Core) -> Result<usize, JcardError> {
    match request.query("length") {
        None => Ok(LENGTH_DEFAULT),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|length| *length > 0 && *length <= core.settings().statement_entries_max)
            .ok_or_else(|| {
                let max = core.settings().statement_entries_max;
                JcardError::bad_request("invalid.length", format!("length is 1 to {max}"))
            }),
    }
}

pub fn balance(core: &Core, request: &ApiRequest) -> Result<ApiResponse, JcardError> {
    let wallet = wallet(core, request)?;
    let layers = required_layers(request)?;
    let before_ms = date_query(request, "date")?;
    let answer =
        core.balance(super::JOURNAL, &wallet_account_code(&wallet.code), &layers, before_ms)?;
    Ok(ApiResponse::json(
        StatusCode::CREATED,
        &json!({"success": true, "balance": money_text(answer.balance)}),
    ))
}

pub fn cash_out_balance(core: &Core, request: &ApiRequest) -> Result<ApiResponse, JcardError> {
    let wallet = wallet(core, request)?;
    let layers = required_layers(request)?;
    let kind = request
        .query("type")
        .ok_or_else(|| JcardError::bad_request("missing.fields", "type is required"))?;
    let before_ms = date_query(request, "date")?;
    let limit = core.cash_out_balance(&wallet.code, kind, &layers, before_ms)?;
    Ok(ApiResponse::json(
        StatusCode::CREATED,
        &json!({"success": true, "balance": money_text(limit)}),
    ))
}

pub fn statement(core: &Core, request: &ApiRequest) -> Result<ApiResponse, JcardError> {
    let wallet = wallet(core, request)?;
    let layers = required_layers(request)?;
    let length = length_query(request, core)?;
    let answer = core.recent_statement(&wallet_account_code(&wallet.code), &layers, length)?;
    let lines = &answer.statement.lines;
    let mut body = statement_body(core, &answer)?;
    body["start"] =
        lines.last().map_or(Value::Null, |line| json!(dates::format_millis(line.timestamp_ms)));
    body["end"] =
        lines.first().map_or(Value::Null, |line| json!(dates::format_millis(line.timestamp_ms)));
    Ok(ApiResponse::json(StatusCode::OK, &json!({"success": true, "walletStatement": body})))
}

pub fn detail(core: &Core, request: &ApiRequest) -> Result<ApiResponse, JcardError> {
    let wallet = wallet(core, request)?;
    let layers = required_layers(request)?;
    let (start, end) = day_range(request)?;
    let descending = match request.query("order").map(str::to_ascii_lowercase).as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(JcardError::bad_request("invalid.request", "order is asc or desc")),
    };
    let mut answer =
        core.statement(super::JOURNAL, &wallet_account_code(&wallet.code), &layers, start, end)?;
    if descending {
        answer.statement.lines.reverse();
    }
    let mut body = statement_body(core, &answer)?;
    body["start"] = json!(dates::format_java(start));
    body["end"] = json!(dates::format_java_day_end(end));
    Ok(ApiResponse::json(StatusCode::OK, &json!({"success": true, "walletDetail": body})))
}

/// `start`/`end` as inclusive days, miniGL's defaults when absent.
pub fn day_range(request: &ApiRequest) -> Result<(i64, i64), JcardError> {
    let parse = |name: &str, default: &str, end: bool| {
        let text = request.query(name).unwrap_or(default);
        let parsed = if end { dates::parse_day_end(text) } else { dates::parse_day_start(text) };
        parsed.ok_or_else(|| {
            JcardError::bad_request("invalid.date", format!("{name} must be a date yyyy-MM-dd"))
        })
    };
    let start = parse("start", dates::STATEMENT_START_DEFAULT, false)?;
    let end = parse("end", dates::STATEMENT_END_DEFAULT, true)?;
    if end <= start {
        return Err(JcardError::bad_request("invalid.date", "end is before start"));
    }
    Ok((start, end))
}

fn statement_body(core: &Core, answer: &StatementAnswer) -> Result<Value, JcardError> {
    let mut records = TranlogCache::new(core);
    let entries = answer
        .statement
        .lines
        .iter()
        .map(|line| render::statement_line(line, &mut records))
        .collect::<Result<Vec<_>, _>>()?;
    let mut body = json!({
        "accountCode": answer.account.code,
        "description": answer.account.description,
        "journalCode": answer.journal.name,
        "credits": number(answer.statement.credits),
        "debits": number(answer.statement.debits),
        "initialBalance": number(answer.statement.initial_balance),
        "finalBalance": number(answer.statement.final_balance),
        "entries": entries,
        "layers": answer.layers,
    });
    if answer.statement.truncated {
        body["truncated"] = json!(true);
    }
    Ok(body)
}

pub fn transactions(core: &Core, request: &ApiRequest) -> Result<ApiResponse, JcardError> {
    let wallet = wallet(core, request)?;
    let (start, end) = day_range(request)?;
    let filter = TranlogFilter {
        from_ms: start,
        to_ms: end,
        itcs: request
            .query("itc")
            .map(|itcs| {
                itcs.split(',')
                    .map(str::trim)
                    .filter(|itc| !itc.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        length: length_query(request, core)?,
        offset: 0,
        ascending: wire_wallet::flag(request.query("asc"), "asc")?,
        ircs: Vec::new(),
        currencies: Vec::new(),
    };
    let records = core.wallet_tranlogs(&wallet.code, &filter)?;
    let account =
        core.balance(super::JOURNAL, &wallet_account_code(&wallet.code), &[], None)?.account;
    let body = json!({
        "success": true,
        "transactions": {
            "accountCode": account.code,
            "description": account.description,
            "journalCode": super::JOURNAL,
            "start": dates::format_java(start),
            "end": dates::format_java_day_end(end),
            "tranlogs": records.iter().map(render::tranlog).collect::<Vec<_>>(),
        }
    });
    Ok(ApiResponse::json(StatusCode::OK, &body))
}

pub fn customer(core: &Core, request: &ApiRequest) -> Result<ApiResponse, JcardError> {
    let wallet = wallet(core, request)?;
    let WalletOwner::Customer(real_id) = &wallet.owner else {
        return Err(JcardError::Declined(Decline::WalletNotLinked));
    };
    let state = core.snapshot();
    let customer =
        state.customers.get(real_id).ok_or(JcardError::Declined(Decline::CustomerNotFound))?;
    Ok(ApiResponse::json(
        StatusCode::OK,
        &json!({"success": true, "customer": render::customer(customer)}),
    ))
}

pub async fn link(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let body: wire_wallet::WalletLink = wire::parse_body(&request.body)?;
    let command =
        Command::LinkWallet { code: request.param("walletCode").to_owned(), real_id: body.real_id };
    updated(core.execute(command, Some(principal.nonce.clone())).await?, StatusCode::CREATED)
}

pub async fn update_customer(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let fields = wire_wallet::customer_update(&request.body, false)?;
    let patch = customers::patch(fields);
    let command =
        Command::UpdateWalletCustomer { code: request.param("walletCode").to_owned(), patch };
    updated(core.execute(command, Some(principal.nonce.clone())).await?, StatusCode::CREATED)
}

pub fn owner_type(core: &Core, request: &ApiRequest) -> Result<ApiResponse, JcardError> {
    let wallet = wallet(core, request)?;
    let (kind, id) = match &wallet.owner {
        WalletOwner::Customer(real_id) => ("customer", json!(real_id)),
        WalletOwner::Agent(id) => ("agent", json!(id.to_string())),
        WalletOwner::None => ("none", Value::Null),
    };
    Ok(ApiResponse::json(
        StatusCode::OK,
        &json!({"success": true, "wallet": {"type": kind, "id": id}}),
    ))
}

pub async fn change_pin(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let body: wire_wallet::ChangePin = wire::parse_body(&request.body)?;
    let pin = wire_wallet::pin(&body.pin)?.to_owned();
    let command = Command::ChangePin { code: request.param("walletCode").to_owned(), pin };
    updated(core.execute(command, Some(principal.nonce.clone())).await?, StatusCode::OK)
}

pub async fn change_state(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
    change: WalletStateChange,
) -> Result<ApiResponse, JcardError> {
    let command =
        Command::ChangeWalletState { code: request.param("walletCode").to_owned(), change };
    updated(core.execute(command, Some(principal.nonce.clone())).await?, StatusCode::OK)
}

fn updated(outcome: Outcome, status: StatusCode) -> Result<ApiResponse, JcardError> {
    match outcome {
        Outcome::WalletUpdated => Ok(success(status)),
        other => Err(super::unexpected_or_declined(other)),
    }
}
