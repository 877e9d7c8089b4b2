//! The OpenAPI document of the cashback dialect (`openapi/cashback.json`) agrees with the
//! route table, resolves every reference, documents the token and parameter errors of every
//! operation with the codes the switch answers, and is what the switch serves at
//! `GET /openapi/cashback.json`.

use cardswitch::http::router::cashback_templates;
use serde_json::Value;

use crate::openapi_common::{
    assert_lists_the_routes, assert_references_resolve, assert_served, operations, parse, resolve,
};

/// The document as the binary embeds it.
const DOCUMENT: &str = include_str!("../../openapi/cashback.json");

fn document() -> Value {
    parse(DOCUMENT, "openapi/cashback.json")
}

#[test]
fn the_document_and_the_route_table_list_the_same_operations() {
    assert_lists_the_routes(
        &document(),
        &cashback_templates(),
        "cashback.json",
        "src/api/cashback/routes.rs",
    );
}

#[test]
fn every_reference_resolves() {
    assert_references_resolve(&document());
}

/// The error code documented for `status` of an operation, from its example.
fn documented_code(document: &Value, operation: &Value, status: &str) -> Result<String, String> {
    let answer = operation["responses"].get(status).ok_or_else(|| format!("no {status} answer"))?;
    let answer = resolve(document, answer)?;
    answer["content"]["application/json"]["example"]["code"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("the {status} answer has no example code"))
}

#[test]
fn every_operation_documents_the_token_and_parameter_errors() {
    let document = document();
    let mut problems = Vec::new();
    for (method, path, operation) in operations(&document) {
        for (status, code) in [
            ("401", "CARD-5"),
            ("400", "CARD-8"),
            ("403", "CARD-9"),
            ("422", "CARD-3"),
            ("500", "CARD-1"),
        ] {
            match documented_code(&document, operation, status) {
                Ok(documented) if documented == code => {}
                Ok(documented) => {
                    problems.push(format!("{method} {path}: {status} is {documented}, not {code}"))
                }
                Err(error) => problems.push(format!("{method} {path}: {error}")),
            }
        }
        if operation["responses"].get("200").is_none()
            && operation["responses"].get("201").is_none()
        {
            problems.push(format!("{method} {path}: no success answer"));
        }
    }
    assert!(problems.is_empty(), "operations:\n  {}", problems.join("\n  "));
}

#[tokio::test]
async fn the_switch_serves_the_document() {
    assert_served("cashback.json", &document()).await;
}
