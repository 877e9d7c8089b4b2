//! `/sysconfig`: system configuration entries. Besides the route's permission, an entry's own
//! `readPerm` guards reading it and its `writePerm` guards changing or deleting it.

use http::StatusCode;
use serde_json::{json, Value};

use super::errors::JcardError;
use super::{success, wire};
use crate::api::{ApiRequest, ApiResponse};
use crate::core::command::{Command, Decline, Outcome, SysConfig, SysconfigUpdate};
use crate::core::{Core, Principal};

fn render(entry: &SysConfig) -> Value {
    json!({"id": entry.id, "value": entry.value, "readperm": entry.read_perm, "writeperm": entry.write_perm})
}

pub fn list(core: &Core, principal: &Principal) -> Result<ApiResponse, JcardError> {
    let state = core.snapshot();
    let entries: Vec<Value> = state
        .sysconfig
        .values()
        .filter(|entry| principal.consumer.allows(&entry.read_perm))
        .take(core.settings().list_items_max)
        .map(|entry| render(entry))
        .collect();
    Ok(ApiResponse::json(StatusCode::OK, &json!({"success": true, "sysConfigs": entries})))
}

pub fn get(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let id = request.param("id");
    let state = core.snapshot();
    let entry = state.sysconfig.get(id).ok_or_else(invalid_sysconfig)?;
    if !principal.consumer.allows(&entry.read_perm) {
        return Err(JcardError::Forbidden);
    }
    Ok(ApiResponse::json(StatusCode::OK, &json!({"success": true, "sysConfig": render(entry)})))
}

pub async fn create(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let body: wire::SysconfigCreate = wire::parse_body(&request.body)?;
    let entry = SysConfig {
        id: wire::identifier(&body.id, "id")?.to_owned(),
        value: body.value,
        read_perm: body.read_perm,
        write_perm: body.write_perm,
    };
    let outcome =
        core.execute(Command::CreateSysconfig(entry), Some(principal.nonce.clone())).await?;
    expect(outcome, Outcome::SysconfigCreated, StatusCode::CREATED)
}

pub async fn update(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let body: wire::SysconfigUpdate = wire::parse_body(&request.body)?;
    let id = wire::identifier(&body.id, "id")?.to_owned();
    check_write_permission(core, principal, &id)?;
    let update = SysconfigUpdate {
        id,
        value: body.value,
        read_perm: body.read_perm,
        write_perm: body.write_perm,
    };
    let outcome =
        core.execute(Command::UpdateSysconfig(update), Some(principal.nonce.clone())).await?;
    expect(outcome, Outcome::SysconfigUpdated, StatusCode::CREATED)
}

pub async fn delete(
    core: &Core,
    principal: &Principal,
    request: &ApiRequest,
) -> Result<ApiResponse, JcardError> {
    let id = request.param("id").to_owned();
    if !core.snapshot().sysconfig.contains_key(&id) {
        return Err(invalid_sysconfig());
    }
    check_write_permission(core, principal, &id)?;
    match core.execute(Command::DeleteSysconfig { id }, Some(principal.nonce.clone())).await? {
        Outcome::Declined(Decline::SysconfigNotFound) => Err(invalid_sysconfig()),
        outcome => expect(outcome, Outcome::SysconfigDeleted, StatusCode::OK),
    }
}

/// The entry's own write permission, when it exists (a missing entry is the core's answer).
fn check_write_permission(core: &Core, principal: &Principal, id: &str) -> Result<(), JcardError> {
    match core.snapshot().sysconfig.get(id) {
        Some(entry) if !principal.consumer.allows(&entry.write_perm) => Err(JcardError::Forbidden),
        _ => Ok(()),
    }
}

fn invalid_sysconfig() -> JcardError {
    JcardError::Conflict {
        code: "invalid.sysconfig",
        message: "no sysconfig entry with this id".to_owned(),
    }
}

fn expect(
    outcome: Outcome,
    wanted: Outcome,
    status: StatusCode,
) -> Result<ApiResponse, JcardError> {
    match outcome {
        Outcome::Declined(decline) => Err(JcardError::Declined(decline)),
        outcome if outcome == wanted => Ok(success(status)),
        other => Err(JcardError::Core(crate::core::CoreError::Corrupt(format!(
            "unexpected outcome {other:?}"
        )))),
    }
}
