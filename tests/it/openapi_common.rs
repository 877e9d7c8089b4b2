//! What every OpenAPI document test needs: the document's paths and operations, a listing of
//! (method, path) pairs for failure messages, local `$ref` resolution, and the checks every
//! document gets (its routes, its references, served as written).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

const OPERATION_KEYS: [&str; 8] =
    ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// The document `text` (named `name` in failure messages) as JSON.
pub fn parse(text: &str, name: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{name} is not JSON: {error}"))
}

pub fn paths(document: &Value) -> &Map<String, Value> {
    document["paths"].as_object().unwrap_or_else(|| panic!("the document has no `paths` object"))
}

/// Every (METHOD, path, operation) the document describes.
pub fn operations(document: &Value) -> Vec<(String, String, &Value)> {
    let mut found = Vec::new();
    for (path, item) in paths(document) {
        let item =
            item.as_object().unwrap_or_else(|| panic!("the path item of {path} is not an object"));
        for (method, operation) in item {
            if OPERATION_KEYS.contains(&method.as_str()) {
                found.push((method.to_uppercase(), path.clone(), operation));
            }
        }
    }
    found
}

pub fn listing(operations: &BTreeSet<&(String, String)>) -> String {
    if operations.is_empty() {
        return "  (none)".to_owned();
    }
    operations
        .iter()
        .map(|(method, path)| format!("  {method} {path}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Follows a local `$ref` (`#/components/...`) to what it names.
pub fn resolve<'a>(document: &'a Value, node: &'a Value) -> Result<&'a Value, String> {
    let mut node = node;
    for _ in 0..16 {
        let Some(reference) = node.get("$ref") else {
            return Ok(node);
        };
        let reference =
            reference.as_str().ok_or_else(|| format!("$ref is not a string: {reference}"))?;
        let pointer = reference
            .strip_prefix('#')
            .ok_or_else(|| format!("$ref `{reference}` is not local"))?;
        node =
            document.pointer(pointer).ok_or_else(|| format!("$ref `{reference}` names nothing"))?;
    }
    Err("$ref chain too long".to_owned())
}

/// Every `$ref` anywhere in `node`.
pub fn references<'a>(node: &'a Value, found: &mut Vec<&'a Value>) {
    match node {
        Value::Object(members) => {
            if members.contains_key("$ref") {
                found.push(node);
            }
            members.values().for_each(|value| references(value, found));
        }
        Value::Array(items) => items.iter().for_each(|item| references(item, found)),
        _ => {}
    }
}

/// Every `$ref` of `document` resolves, and the document uses at least one.
pub fn assert_references_resolve(document: &Value) {
    let mut found = Vec::new();
    references(document, &mut found);
    assert!(!found.is_empty(), "the document uses components");
    let problems: Vec<String> =
        found.into_iter().filter_map(|node| resolve(document, node).err()).collect();
    assert!(problems.is_empty(), "unresolved references:\n  {}", problems.join("\n  "));
}

/// `document` (the file `openapi/<file>`) is OpenAPI 3.0.3 and lists exactly the (method,
/// path) pairs of `templates`, the route table at `table` (named in failure messages).
pub fn assert_lists_the_routes(
    document: &Value,
    templates: &[(&str, String)],
    file: &str,
    table: &str,
) {
    assert_eq!(document["openapi"], "3.0.3", "the document declares OpenAPI 3.0.3");
    let documented: BTreeSet<(String, String)> =
        operations(document).into_iter().map(|(method, path, _)| (method, path)).collect();
    let routed: BTreeSet<(String, String)> =
        templates.iter().map(|(method, path)| (method.to_uppercase(), path.clone())).collect();
    assert_eq!(routed.len(), templates.len(), "the route table lists a route twice");
    let undocumented: BTreeSet<_> = routed.difference(&documented).collect();
    let unrouted: BTreeSet<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "openapi/{file} and the route table ({table}) disagree.\nRouted but not documented:\n{}\n\
         Documented but not routed:\n{}",
        listing(&undocumented),
        listing(&unrouted),
    );
}

/// A switch serves `document` at `GET /openapi/<file>`.
pub async fn assert_served(file: &str, document: &Value) {
    let switch = crate::support::TestSwitch::start().await;
    let path = format!("/openapi/{file}");
    let reply = switch.raw("GET", &path, &[], Vec::new()).await;
    assert_eq!(reply.status, 200, "GET {path}: {}", reply.text);
    assert!(reply.json == *document, "the served document differs from openapi/{file}");
    switch.stop().await;
}
