//! JSON renderings shared by several jCard routes: amounts, customers, tranlog records and
//! their GL transactions, statement lines.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::dates;
use super::errors::JcardError;
use crate::core::tranlog::Tranlog;
use crate::core::Core;
use crate::ledger::statement::StatementLine;
use crate::ledger::{Chartbook, Side, Transaction};
use crate::money::Amount;
use crate::wallet::Customer;

pub use crate::api::shared::number;

/// An amount as the wallet balance routes write it: a string with at least two decimals.
pub fn money_text(amount: Amount) -> String {
    let exact = amount.to_decimal();
    if exact.scale() <= 2 {
        amount.to_fixed(2)
    } else {
        exact.to_string()
    }
}

/// A decimal text kept from a request as a JSON number.
fn decimal(text: &str) -> Value {
    text.parse::<serde_json::Number>().map_or(Value::Null, Value::Number)
}

pub fn geo_location(location: Option<&(String, String)>) -> Value {
    location.map_or(Value::Null, |(latitude, longitude)| json!({"latitude": decimal(latitude), "longitude": decimal(longitude)}))
}

/// A customer as `GET /customers/{realId}` answers it; absent fields are `null`.
pub fn customer(customer: &Customer) -> Value {
    let details = &customer.details;
    json!({
        "id": customer.id,
        "realId": customer.real_id,
        "active": customer.active,
        "institutionId": customer.institution_id,
        "firstName": customer.first_name,
        "middleName": details.middle_name,
        "lastName": customer.last_name,
        "lastName2": details.last_name2,
        "honorific": details.honorific,
        "gender": details.gender,
        "email": details.email,
        "phone": details.phone,
        "address1": details.address1,
        "address2": details.address2,
        "city": details.city,
        "state": details.state,
        "zip": details.zip,
        "country": details.country,
        "birthDate": details.birth_date,
        "startDate": details.start_date,
        "endDate": details.end_date,
        "notes": details.notes,
    })
}

/// The fee lines of a movement's answer.
pub fn fees(record: &Tranlog) -> Value {
    Value::Array(
        record
            .fees
            .iter()
            .map(|fee| json!({"amount": number(fee.amount), "type": fee.name, "account": fee.account}))
            .collect(),
    )
}

/// A tranlog record as the wallet transactions list shows it.
pub fn tranlog(record: &Tranlog) -> Value {
    let json_request = serde_json::from_str::<Value>(&record.json_request).unwrap_or(Value::Null);
    let mut additional =
        json!({"jsonRequest": json_request, "typeDescription": record.type_description});
    for key in ["financialEntityData", "posAtm"] {
        if let Some(value) = json_request.get(key) {
            additional[key] = value.clone();
        }
    }
    json!({
        "id": record.id,
        "date": dates::format_seconds(record.date_ms),
        "amount": number(record.amount),
        "fees": number(record.fee_total()),
        "currencyCode": record.currency_code,
        "rrn": record.rrn,
        "itc": record.itc,
        "irc": record.irc,
        "approvalNumber": record.approval_number,
        "wallet1": record.wallet1,
        "wallet2": record.wallet2,
        "customer": record.customer,
        "customer2": record.customer2.clone().unwrap_or_else(|| "UNKNOWN UNKNOWN".to_owned()),
        "ssData": record.ss_data,
        "typeDescription": record.type_description,
        "geoLocation": geo_location(record.geo_location.as_ref()),
        "additionalData": additional,
        "reversalCount": record.reversal_count,
        "voidCount": record.void_count,
    })
}

/// A tranlog record as `GET /transactions/{rrn}` shows it: with its GL transaction.
pub fn tranlog_detail(core: &Core, record: &Tranlog) -> Result<Value, JcardError> {
    let mut body = tranlog(record);
    body["wallet"] = json!(record.wallet1);
    body["node"] = json!("01");
    body["captureDate"] = json!(dates::format_day(record.date_ms));
    if let Some(id) = record.transaction_id {
        if let Some(transaction) = core.transaction(id)? {
            body["transaction"] = transaction_json(core, &transaction);
        }
    }
    Ok(body)
}

fn transaction_json(core: &Core, transaction: &Transaction) -> Value {
    let state = core.snapshot();
    let entries: Vec<Value> = transaction
        .entries
        .iter()
        .map(|entry| {
            let account = state.account(entry.account_id);
            let side = match entry.side {
                Side::Debit => "debit",
                Side::Credit => "credit",
            };
            let mut line = json!({
                "detail": entry.detail,
                "layer": entry.layer,
                "tags": entry.tags,
                "account": account.map(|account| account.code.clone()),
                "accountDescription": account.map(|account| account.description.clone()),
            });
            line[side] = number(entry.amount);
            line
        })
        .collect();
    json!({
        "date": dates::format_day(transaction.post_date_ms),
        "postDate": dates::format_instant(transaction.timestamp_ms),
        "timestamp": transaction.timestamp_ms,
        "journal": transaction.journal,
        "detail": transaction.detail,
        "entries": entries,
    })
}

/// A wallet statement line, with what its tranlog record says about the movement.
pub fn statement_line(
    line: &StatementLine,
    records: &mut TranlogCache<'_>,
) -> Result<Value, JcardError> {
    let side = match line.side {
        Side::Credit => "credit",
        Side::Debit => "debit",
    };
    let mut entry = json!({
        "postDate": dates::format_instant(line.timestamp_ms),
        "detail": line.detail,
        "layer": line.layer,
        "balance": number(line.balance),
        "tags": line.tags,
        "reversalCount": line.reversal_count,
    });
    entry[side] = number(line.amount);
    match line.reference.map(|id| records.get(id)).transpose()?.flatten() {
        Some(record) => {
            entry["wallet1"] = json!(record.wallet1);
            if record.wallet2.is_some() {
                entry["wallet2"] = json!(record.wallet2);
            }
            entry["rrn"] = json!(record.rrn);
            entry["fees"] = number(record.fee_total());
            entry["reversalCount"] = json!(record.reversal_count);
            if record.geo_location.is_some() {
                entry["geoLocation"] = geo_location(record.geo_location.as_ref());
            }
        }
        None => entry["fees"] = json!(0),
    }
    Ok(entry)
}

/// Tranlog records loaded once per answer.
pub struct TranlogCache<'a> {
    core: &'a Core,
    loaded: HashMap<u64, Option<Tranlog>>,
}

impl<'a> TranlogCache<'a> {
    pub fn new(core: &'a Core) -> TranlogCache<'a> {
        TranlogCache { core, loaded: HashMap::new() }
    }

    fn get(&mut self, id: u64) -> Result<Option<Tranlog>, JcardError> {
        if let Some(record) = self.loaded.get(&id) {
            return Ok(record.clone());
        }
        let record = self.core.tranlog(id)?;
        self.loaded.insert(id, record.clone());
        Ok(record)
    }
}
