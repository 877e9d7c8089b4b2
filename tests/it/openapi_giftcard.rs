//! The OpenAPI document of the gift-card history dialect (`openapi/giftcard.json`) agrees with
//! the route table, resolves every reference, describes the document's request body and every
//! answer the dialect gives, and is what the switch serves at `GET /openapi/giftcard.json`.

use cardswitch::http::router::giftcard_templates;
use serde_json::Value;

use crate::openapi_common::{
    assert_lists_the_routes, assert_references_resolve, assert_served, operations, parse, resolve,
};

/// The document as the binary embeds it.
const DOCUMENT: &str = include_str!("../../openapi/giftcard.json");

fn document() -> Value {
    parse(DOCUMENT, "openapi/giftcard.json")
}

#[test]
fn the_document_and_the_route_table_list_the_same_operations() {
    assert_lists_the_routes(
        &document(),
        &giftcard_templates(),
        "giftcard.json",
        "src/api/giftcard/routes.rs",
    );
}

#[test]
fn every_reference_resolves() {
    assert_references_resolve(&document());
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
    assert_served("giftcard.json", &document()).await;
}
