//! The OpenAPI document of the gift-card history dialect (`openapi/giftcard.json`) agrees with
//! the route table, resolves every reference, describes the document's request body and every
//! answer the dialect gives, and is what the switch serves at `GET /openapi/giftcard.json`.

use std::collections::BTreeSet;

use cardswitch::http::router::giftcard_templates;
use serde_json::Value;

use crate::openapi_common::{operations, parse, references, resolve};
use crate::support::TestSwitch;

/// The document as the binary embeds it.
const DOCUMENT: &str = include_str!("../../openapi/giftcard.json");

fn document() -> Value {
    parse(DOCUMENT, "openapi/giftcard.json")
}

#[test]
fn the_document_and_the_route_table_list_the_same_operations() {
    let document = document();
    assert_eq!(document["openapi"], "3.0.3", "the document declares OpenAPI 3.0.3");
    let documented: BTreeSet<(String, String)> =
        operations(&document).into_iter().map(|(method, path, _)| (method, path)).collect();
    let routed: BTreeSet<(String, String)> = giftcard_templates()
        .into_iter()
        .map(|(method, path)| (method.to_uppercase(), path))
        .collect();
    assert_eq!(routed.len(), giftcard_templates().len(), "the route table lists a route twice");
    assert_eq!(
        documented, routed,
        "openapi/giftcard.json and the route table (src/api/giftcard/routes.rs) disagree"
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

#[test]
fn every_operation_describes_the_body_the_bearer_and_every_answer() {
    let document = document();
    let mut problems = Vec::new();
    for (method, path, operation) in operations(&document) {
        let at = format!("{method} {path}");
        let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
        match resolve(&document, schema) {
            Ok(schema) => {
                for field in ["startDate", "endDate", "limit", "offset", "cards"] {
                    if schema["properties"].get(field).is_none() {
                        problems.push(format!("{at}: the body does not describe `{field}`"));
                    }
                }
                if schema["required"] != serde_json::json!(["cards"]) {
                    problems.push(format!("{at}: `cards`, and only it, is required"));
                }
            }
            Err(error) => problems.push(format!("{at}: request body: {error}")),
        }
        if operation["security"] != serde_json::json!([{"bearer": []}]) {
            problems.push(format!("{at}: not secured by the bearer scheme"));
        }
        for status in ["200", "400", "401", "403", "404", "405", "413", "503"] {
            if operation["responses"].get(status).is_none() {
                problems.push(format!("{at}: no {status} answer"));
            }
        }
    }
    assert!(problems.is_empty(), "operations:\n  {}", problems.join("\n  "));
}

#[tokio::test]
async fn the_switch_serves_the_document() {
    let switch = TestSwitch::start().await;
    let reply = switch.raw("GET", "/openapi/giftcard.json", &[], Vec::new()).await;
    assert_eq!(reply.status, 200, "GET /openapi/giftcard.json: {}", reply.text);
    assert!(reply.json == document(), "the served document differs from openapi/giftcard.json");
    switch.stop().await;
}
