//! The OpenAPI document of the cashback dialect (`openapi/cashback.json`) agrees with the
//! route table, resolves every reference, documents the token and parameter errors of every
//! operation with the codes the switch answers, and is what the switch serves at
//! `GET /openapi/cashback.json`.

use std::collections::BTreeSet;

use cardswitch::http::router::cashback_templates;
use serde_json::Value;

use crate::openapi_common::{listing, operations, parse, references, resolve};
use crate::support::TestSwitch;

/// The document as the binary embeds it.
const DOCUMENT: &str = include_str!("../../openapi/cashback.json");

fn document() -> Value {
    parse(DOCUMENT, "openapi/cashback.json")
}

#[test]
fn the_document_and_the_route_table_list_the_same_operations() {
    let document = document();
    assert_eq!(document["openapi"], "3.0.3", "the document declares OpenAPI 3.0.3");
    let documented: BTreeSet<(String, String)> =
        operations(&document).into_iter().map(|(method, path, _)| (method, path)).collect();
    let routed: BTreeSet<(String, String)> = cashback_templates()
        .into_iter()
        .map(|(method, path)| (method.to_uppercase(), path))
        .collect();
    assert_eq!(routed.len(), cashback_templates().len(), "the route table lists a route twice");
    let undocumented: BTreeSet<_> = routed.difference(&documented).collect();
    let unrouted: BTreeSet<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "openapi/cashback.json and the cashback route table (src/api/cashback/routes.rs) \
         disagree.\nRouted but not documented:\n{}\nDocumented but not routed:\n{}",
        listing(&undocumented),
        listing(&unrouted),
    );
}

#[test]
fn every_reference_resolves() {
    let document = document();
    let mut found = Vec::new();
    references(&document, &mut found);
    assert!(!found.is_empty(), "the document uses components");
    let problems: Vec<String> =
        found.into_iter().filter_map(|node| resolve(&document, node).err()).collect();
    assert!(problems.is_empty(), "unresolved references:\n  {}", problems.join("\n  "));
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
    let switch = TestSwitch::start().await;
    let reply = switch.raw("GET", "/openapi/cashback.json", &[], Vec::new()).await;
    assert_eq!(reply.status, 200, "GET /openapi/cashback.json: {}", reply.text);
    assert!(reply.json == document(), "the served document differs from openapi/cashback.json");
    switch.stop().await;
}
