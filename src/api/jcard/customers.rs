//! `/login`, `/customers` and `/agents`.

use http::StatusCode;
use serde_json::json;

use super::errors::JcardError;
use super::render::{self, number};
use super::{wire, wire_wallet};
use crate::api::{ApiRequest, ApiResponse};
use crate::core::command::{AgentFields, Command, CustomerPatch, Decline, NewCustomer, Outcome};
use crate::core::{Core, Principal};
use crate::ledger::PENDING_LAYER_OFFSET;
use crate::wallet::{currency_text, wallet_account_code, CustomerDetails};

pub async fn login(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let body: wire_wallet::Login = wire::parse_body(&request.body)?;
    match core.login(&body.wallet, &body.pin, principal.nonce.clone()).await? {
        Outcome::LoggedIn { consumer, secret } => Ok(ApiResponse::json(
            StatusCode::CREATED,
            &json!({"success": true, "secret": secret, "consumer": consumer.to_string()}),
        )),
        other => Err(super::unexpected_or_declined(other)),
    }
}

pub async fn create(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    // `wallet` is the deprecated name of `createWallet`.
    let asked = request.query("createWallet").or_else(|| request.query("wallet"));
    let create_wallet = wire_wallet::flag(asked, "createWallet")?;
    let fields = wire_wallet::customer_create(&request.body)?;
    let wallet = create_wallet
        .then(|| fields.wallet_code.clone().or_else(|| fields.phone.clone()))
        .flatten();
    if let Some(code) = &wallet {
        wire_wallet::wallet_code(code)?;
    }
    let customer = NewCustomer {
        real_id: fields.real_id.clone().unwrap_or_default(),
        active: fields.active.unwrap_or(true),
        institution_id: fields.institution_id.clone().unwrap_or_default(),
        first_name: fields.first_name.clone().unwrap_or_default(),
        last_name: fields.last_name.clone().unwrap_or_default(),
        currency_codes: fields.currency_codes.clone().unwrap_or_default(),
        details: details(&fields),
        wallet,
    };
    match core.execute(Command::CreateCustomer(customer), Some(principal.nonce.clone())).await? {
        Outcome::CustomerCreated { pin: Some(pin) } => {
            Ok(ApiResponse::json(StatusCode::CREATED, &json!({"success": true, "pin": pin})))
        }
        Outcome::CustomerCreated { pin: None } => Ok(super::success(StatusCode::CREATED)),
        other => Err(super::unexpected_or_declined(other)),
    }
}

pub async fn update(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let fields = wire_wallet::customer_update(&request.body, true)?;
    match core
        .execute(Command::UpdateCustomer(patch(fields)), Some(principal.nonce.clone()))
        .await?
    {
        Outcome::CustomerUpdated => Ok(super::success(StatusCode::CREATED)),
        other => Err(super::unexpected_or_declined(other)),
    }
}

/// The free-form fields of a customer body.
fn details(fields: &wire_wallet::CustomerFields) -> CustomerDetails {
    CustomerDetails {
        start_date: fields.start_date.clone(),
        end_date: fields.end_date.clone(),
        honorific: fields.honorific.clone(),
        gender: fields.gender.map(|gender| {
            match gender {
                wire_wallet::Gender::Female => "f",
                wire_wallet::Gender::Male => "m",
            }
            .to_owned()
        }),
        middle_name: fields.middle_name.clone(),
        last_name2: fields.last_name2.clone(),
        email: fields.email.clone(),
        address1: fields.address1.clone(),
        address2: fields.address2.clone(),
        city: fields.city.clone(),
        state: fields.state.clone(),
        zip: fields.zip.clone(),
        country: fields.country.clone(),
        birth_date: fields.birth_date.clone(),
        notes: fields.notes.clone(),
        phone: fields.phone.clone(),
        card_product: fields.card_product.clone(),
    }
}

/// A customer patch from an update body.
pub fn patch(fields: wire_wallet::CustomerFields) -> CustomerPatch {
    CustomerPatch {
        details: details(&fields),
        real_id: fields.real_id,
        active: fields.active,
        institution_id: fields.institution_id,
        first_name: fields.first_name,
        last_name: fields.last_name,
    }
}

pub fn get(core: &Core, request: &ApiRequest) -> Result<ApiResponse, JcardError> {
    let state = core.snapshot();
    let customer = state
        .customers
        .get(request.param("realId"))
        .ok_or(JcardError::Declined(Decline::CustomerNotFound))?;
    Ok(ApiResponse::json(
        StatusCode::OK,
        &json!({"success": true, "customer": render::customer(customer)}),
    ))
}

/// The balances of a customer's own account and wallets, per currency (accounting plus
/// pending layer: the available balance).
pub fn balances(core: &Core, request: &ApiRequest) -> Result<ApiResponse, JcardError> {
    let state = core.snapshot();
    let customer = state
        .customers
        .get(request.param("realId"))
        .ok_or(JcardError::Declined(Decline::CustomerNotFound))?;
    let own = state.accounts.get(&customer.account_id).map(|account| account.code.clone());
    let wallets = state
        .customer_wallets
        .get(&customer.real_id)
        .into_iter()
        .flatten()
        .map(|code| wallet_account_code(code));
    let mut balances = Vec::new();
    for code in own.into_iter().chain(wallets) {
        for currency in &customer.currency_codes {
            let Ok(layer) = i16::try_from(*currency) else { continue };
            let layers = [layer, layer.saturating_add(PENDING_LAYER_OFFSET)];
            let answer = core.balance(super::JOURNAL, &code, &layers, None)?;
            balances.push(json!({
                "balance": number(answer.balance),
                "journalCode": super::JOURNAL,
                "accountCode": code,
                "currency": currency_text(*currency),
                "layers": format!("{},{}", layers[0], layers[1]),
            }));
        }
    }
    Ok(ApiResponse::json(StatusCode::CREATED, &json!({"success": true, "balances": balances})))
}

pub async fn create_agent(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let create_wallet = wire_wallet::flag(request.query("wallet"), "wallet")?;
    let fields = agent_fields(wire_wallet::agent_create(&request.body)?)?;
    if create_wallet {
        wire_wallet::wallet_code(fields.phone.as_deref().unwrap_or_default())?;
    }
    match core
        .execute(
            Command::CreateAgent { agent: fields, create_wallet },
            Some(principal.nonce.clone()),
        )
        .await?
    {
        Outcome::AgentCreated { agent_id, wallet_id } => {
            let mut answer = json!({"success": true, "agentId": agent_id});
            if let Some(wallet_id) = wallet_id {
                answer["walletId"] = json!(wallet_id);
            }
            Ok(ApiResponse::json(StatusCode::CREATED, &answer))
        }
        other => Err(super::unexpected_or_declined(other)),
    }
}

pub async fn update_agent(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let id = request.param("id").parse::<u64>().map_err(|_| {
        JcardError::bad_request("invalid.request", "the agent id is a positive integer")
    })?;
    let fields = agent_fields(wire_wallet::agent_update(&request.body)?)?;
    match core
        .execute(Command::UpdateAgent { id, agent: fields }, Some(principal.nonce.clone()))
        .await?
    {
        Outcome::AgentUpdated => Ok(super::success(StatusCode::CREATED)),
        other => Err(super::unexpected_or_declined(other)),
    }
}

fn agent_fields(fields: wire_wallet::AgentFields) -> Result<AgentFields, JcardError> {
    Ok(AgentFields {
        parent_id: fields.parent_id.as_ref().map(wire_wallet::agent_id).transpose()?,
        name: fields.name,
        phone: fields.phone,
        agent_type: fields.agent_type,
        account: fields.account,
        active: fields.active,
        mcc: fields.mcc,
    })
}
