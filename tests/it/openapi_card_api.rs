//! The OpenAPI document of the card-issuing dialect (`openapi/card-api.json`) agrees with the
//! route table, resolves every reference, describes a `request_id` body for every method, gives
//! a signature example the switch's own signer reproduces, and is what the switch serves at
//! `GET /openapi/card-api.json`.

use cardswitch::api::issuing::jws;
use cardswitch::http::router::issuing_templates;
use serde_json::Value;

use crate::openapi_common::{
    assert_lists_the_routes, assert_references_resolve, assert_served, operations, parse, resolve,
};

/// The document as the binary embeds it.
const DOCUMENT: &str = include_str!("../../openapi/card-api.json");

fn document() -> Value {
    parse(DOCUMENT, "openapi/card-api.json")
}

#[test]
fn the_document_and_the_route_table_list_the_same_operations() {
    assert_lists_the_routes(
        &document(),
        &issuing_templates(),
        "card-api.json",
        "src/api/issuing/routes.rs",
    );
}

#[test]
fn every_reference_resolves() {
    assert_references_resolve(&document());
}

/// What is wrong with one operation's request body and answers, if anything.
fn operation_problems(document: &Value, at: &str, operation: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
    match resolve(document, schema) {
        Ok(schema) => {
            if operation["requestBody"]["required"] != Value::Bool(true) {
                problems.push(format!("{at}: the request body is not required"));
            }
            if schema["additionalProperties"] != Value::Bool(false) {
                problems
                    .push(format!("{at}: unknown fields are refused, but the schema allows them"));
            }
            let required = schema["required"].as_array().cloned().unwrap_or_default();
            if !required.contains(&Value::from("request_id")) {
                problems.push(format!("{at}: `request_id` is not required"));
            }
        }
        Err(error) => problems.push(format!("{at}: request body: {error}")),
    }
    for status in ["200", "400", "401", "413", "500", "503"] {
        if operation["responses"].get(status).is_none() {
            problems.push(format!("{at}: no {status} answer"));
        }
    }
    problems
}

#[test]
fn every_method_takes_a_closed_body_with_a_request_id() {
    let document = document();
    let mut problems = Vec::new();
    for (method, path, operation) in operations(&document) {
        problems.extend(operation_problems(&document, &format!("{method} {path}"), operation));
    }
    assert!(problems.is_empty(), "operations:\n  {}", problems.join("\n  "));
}

#[test]
fn the_signature_example_is_what_the_switch_signs() {
    let document = document();
    let example = &document["components"]["securitySchemes"]["jws"]["x-example"];
    let text = |name: &str| {
        example[name].as_str().unwrap_or_else(|| panic!("the signature example has no `{name}`"))
    };
    let signature = jws::sign(
        text("key").as_bytes(),
        text("uri"),
        text("auth_id"),
        "",
        text("body").as_bytes(),
    );
    assert_eq!(signature, text("signature"), "the documented X-JWS-Signature");
    let description =
        document["components"]["securitySchemes"]["jws"]["description"].as_str().unwrap_or("");
    assert!(description.contains(&signature), "the scheme's description shows the example");
}

#[tokio::test]
async fn the_switch_serves_the_document() {
    assert_served("card-api.json", &document()).await;
}
