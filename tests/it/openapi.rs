//! The OpenAPI document of the jCard dialect (`openapi/jcard.json`) agrees with the route
//! table, declares every path parameter, resolves every reference, and is what the switch
//! serves at `GET /openapi/jcard.json`.

use std::collections::BTreeSet;

use cardswitch::http::router::jcard_templates;
use serde_json::{Map, Value};

use crate::openapi_common::{assert_references_resolve, assert_served, listing, resolve};

/// The document as the binary embeds it.
const DOCUMENT: &str = include_str!("../../openapi/jcard.json");

/// The keys of an OpenAPI path item that are operations.
const OPERATION_KEYS: [&str; 8] =
    ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn document() -> Value {
    serde_json::from_str(DOCUMENT)
        .unwrap_or_else(|error| panic!("openapi/jcard.json is not JSON: {error}"))
}

fn paths(document: &Value) -> &Map<String, Value> {
    document["paths"]
        .as_object()
        .unwrap_or_else(|| panic!("openapi/jcard.json has no `paths` object"))
}

/// The operations of a path item: (lower-case method, operation).
fn operations<'a>(path: &str, item: &'a Value) -> impl Iterator<Item = (&'a String, &'a Value)> {
    let item =
        item.as_object().unwrap_or_else(|| panic!("the path item of {path} is not an object"));
    item.iter().filter(|(key, _)| OPERATION_KEYS.contains(&key.as_str()))
}

/// Every (METHOD, path) the document describes.
fn documented_operations(document: &Value) -> BTreeSet<(String, String)> {
    paths(document)
        .iter()
        .flat_map(|(path, item)| {
            operations(path, item).map(move |(method, _)| (method.to_uppercase(), path.clone()))
        })
        .collect()
}

/// Every (METHOD, path) the switch routes to the jCard dialect.
fn routed_operations() -> BTreeSet<(String, String)> {
    jcard_templates().into_iter().map(|(method, path)| (method.to_uppercase(), path)).collect()
}

/// The names of the `in: path` parameters in a `parameters` list (references resolved).
fn path_parameters(
    document: &Value,
    parameters: Option<&Value>,
    problems: &mut Vec<String>,
    at: &str,
) -> Vec<String> {
    let Some(parameters) = parameters else {
        return Vec::new();
    };
    let Some(parameters) = parameters.as_array() else {
        problems.push(format!("{at}: `parameters` is not an array"));
        return Vec::new();
    };
    let mut names = Vec::new();
    for parameter in parameters {
        match resolve(document, parameter) {
            Ok(parameter) if parameter["in"] == "path" => {
                let name = parameter["name"].as_str().unwrap_or_default().to_owned();
                if parameter["required"] != Value::Bool(true) {
                    problems.push(format!("{at}: path parameter `{name}` is not marked required"));
                }
                names.push(name);
            }
            Ok(_) => {}
            Err(error) => problems.push(format!("{at}: {error}")),
        }
    }
    names
}

/// The `{name}` placeholders of a path template.
fn placeholders(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|rest| rest.strip_suffix('}')))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_document_and_the_route_table_list_the_same_operations() {
    let document = document();
    assert_eq!(document["openapi"], "3.0.3", "the document declares OpenAPI 3.0.3");
    let documented = documented_operations(&document);
    let routed = routed_operations();
    assert_eq!(routed.len(), jcard_templates().len(), "the route table lists an operation twice");
    let undocumented: BTreeSet<_> = routed.difference(&documented).collect();
    let unrouted: BTreeSet<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "openapi/jcard.json and the jCard route table (src/api/jcard/routes.rs) disagree.\n\
         Routed but not documented:\n{}\nDocumented but not routed:\n{}",
        listing(&undocumented),
        listing(&unrouted),
    );
}

#[test]
fn every_path_parameter_is_declared() {
    let document = document();
    let mut problems = Vec::new();
    for (path, item) in paths(&document) {
        let expected = placeholders(path);
        let shared = path_parameters(&document, item.get("parameters"), &mut problems, path);
        for (method, operation) in operations(path, item) {
            let at = format!("{} {path}", method.to_uppercase());
            let mut declared = shared.clone();
            declared.extend(path_parameters(
                &document,
                operation.get("parameters"),
                &mut problems,
                &at,
            ));
            for name in &expected {
                if !declared.contains(name) {
                    problems
                        .push(format!("{at}: `{{{name}}}` is not declared as a path parameter"));
                }
            }
            for name in &declared {
                if !expected.contains(name) {
                    problems.push(format!("{at}: path parameter `{name}` is not in the path"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "path parameters:\n  {}", problems.join("\n  "));
}

#[test]
fn every_reference_resolves() {
    assert_references_resolve(&document());
}

#[tokio::test]
async fn the_switch_serves_the_document() {
    assert_served("jcard.json", &document()).await;
}
