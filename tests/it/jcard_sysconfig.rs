//! `/echo` and `/sysconfig` as the document describes them, its examples sent as written
//! (missing commas included).

use serde_json::json;

use crate::support::TestSwitch;

#[tokio::test]
async fn echo_answers_and_echoes() {
    let switch = TestSwitch::start().await;
    let reply = switch.admin_call("GET", "/jcard/api/echo", "").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json["success"], true);
    assert_eq!(reply.json["version"], env!("CARGO_PKG_VERSION"));
    assert!(reply.json["revision"].is_string());
    assert!(reply.json["timestamp"].as_i64().unwrap() > 1_700_000_000_000);

    let reply = switch.admin_call("POST", "/jcard/api/echo", "{\n  \"payload\": 100\n}").await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.json, json!({"success": true, "payload": 100}));
    let reply = switch.admin_call("POST", "/jcard/api/echo", "[1, 2]").await;
    assert_eq!(reply.json, json!({"success": true, "echo": [1, 2]}));
    let reply = switch.admin_call("POST", "/jcard/api/echo", "{not json").await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json["error"], "invalid.json");
}

const CREATE_EXAMPLE: &str = r#"{
    "id" : "perm.restapi"
    "value" : "restapi"
    "readperm" : "login"
    "writeperm" : "admin"
}"#;

const UPDATE_EXAMPLE: &str = r#"{
    "id" : "perm.restapi"
    "value" : "modified-restapi"
    "readperm" : "login"
    "writeperm" : "admin"
}"#;

#[tokio::test]
async fn the_documents_sysconfig_lifecycle() {
    let switch = TestSwitch::start().await;
    let created = switch.admin_call("POST", "/jcard/api/sysconfig", CREATE_EXAMPLE).await;
    assert_eq!((created.status, created.json.clone()), (201, json!({"success": true})));
    let duplicate = switch.admin_call("POST", "/jcard/api/sysconfig", CREATE_EXAMPLE).await;
    assert_eq!(duplicate.status, 409);
    assert_eq!(duplicate.json["error"], "already.exists");

    let got = switch.admin_call("GET", "/jcard/api/sysconfig/perm.restapi/", "").await;
    assert_eq!(got.status, 200);
    let expected = json!({"id": "perm.restapi", "value": "restapi", "readperm": "login", "writeperm": "admin"});
    assert_eq!(got.json, json!({"success": true, "sysConfig": expected}));
    let all = switch.admin_call("GET", "/jcard/api/sysconfig", "").await;
    assert_eq!(all.json["sysConfigs"], json!([expected]));

    let updated = switch.admin_call("PUT", "/jcard/api/sysconfig", UPDATE_EXAMPLE).await;
    assert_eq!(updated.status, 201, "{}", updated.text);
    let got = switch.admin_call("GET", "/jcard/api/sysconfig/perm.restapi", "").await;
    assert_eq!(got.json["sysConfig"]["value"], "modified-restapi");
    let partial = switch
        .admin_call("PUT", "/jcard/api/sysconfig", r#"{"id":"perm.restapi","value":"v3"}"#)
        .await;
    assert_eq!(partial.status, 201);
    let got = switch.admin_call("GET", "/jcard/api/sysconfig/perm.restapi", "").await;
    assert_eq!(got.json["sysConfig"]["readperm"], "login");

    let missing =
        switch.admin_call("PUT", "/jcard/api/sysconfig", r#"{"id":"nope","value":"v"}"#).await;
    assert_eq!((missing.status, missing.json["error"].clone()), (409, json!("not.exists")));

    let switch = switch.restart().await;
    let got = switch.admin_call("GET", "/jcard/api/sysconfig/perm.restapi/", "").await;
    assert_eq!(got.json["sysConfig"]["value"], "v3");
    let deleted = switch.admin_call("DELETE", "/jcard/api/sysconfig/perm.restapi/", "").await;
    assert_eq!((deleted.status, deleted.json.clone()), (200, json!({"success": true})));
    for method in ["GET", "DELETE"] {
        let gone = switch.admin_call(method, "/jcard/api/sysconfig/perm.restapi/", "").await;
        assert_eq!(gone.status, 409);
        assert_eq!(gone.json["errors"], "invalid.sysconfig");
    }
}

#[tokio::test]
async fn sysconfig_bodies_follow_the_schema() {
    let switch = TestSwitch::start().await;
    let cases = [
        (r#"{"id":"a","value":"v","readPerm":"r"}"#, "missing.fields"),
        (r#"{"id":"a","value":"v","readPerm":"r","writePerm":"w","extra":1}"#, "extra.fields"),
        (r#"{"id":"a","value":5,"readPerm":"r","writePerm":"w"}"#, "invalid.request"),
        (r#"{"id":"","value":"v","readPerm":"r","writePerm":"w"}"#, "invalid.field"),
        ("", "invalid.json"),
    ];
    for (body, error) in cases {
        let reply = switch.admin_call("POST", "/jcard/api/sysconfig", body).await;
        assert_eq!(reply.status, 400, "{body}");
        assert_eq!(reply.json["error"], error, "{body}: {}", reply.text);
    }
    let all = switch.admin_call("GET", "/jcard/api/sysconfig", "").await;
    assert_eq!(all.json["sysConfigs"], json!([]));
    let camel = r#"{"id":"b","value":"v","readPerm":"r","writePerm":"w"}"#;
    assert_eq!(switch.admin_call("POST", "/jcard/api/sysconfig", camel).await.status, 201);
    let update_without_id =
        switch.admin_call("PUT", "/jcard/api/sysconfig", r#"{"value":"v"}"#).await;
    assert_eq!(update_without_id.json["error"], "missing.fields");
}

#[tokio::test]
async fn an_entrys_own_permissions_guard_it() {
    let switch = TestSwitch::start().await;
    let body =
        r#"{"id":"secret.thing","value":"42","readPerm":"secret.read","writePerm":"secret.write"}"#;
    assert_eq!(switch.admin_call("POST", "/jcard/api/sysconfig", body).await.status, 201);
    let open = r#"{"id":"open.thing","value":"1","readPerm":"","writePerm":""}"#;
    assert_eq!(switch.admin_call("POST", "/jcard/api/sysconfig", open).await.status, 201);

    let reader = switch.add_consumer(&["sysconfig.read", "sysconfig.write"]).await;
    assert_eq!(
        switch.call(&reader, "GET", "/jcard/api/sysconfig/secret.thing", "").await.status,
        403
    );
    let listed = switch.call(&reader, "GET", "/jcard/api/sysconfig", "").await;
    assert_eq!(listed.json["sysConfigs"].as_array().unwrap().len(), 1);
    assert_eq!(
        switch.call(&reader, "DELETE", "/jcard/api/sysconfig/secret.thing", "").await.status,
        403
    );
    let change = r#"{"id":"secret.thing","value":"43"}"#;
    assert_eq!(switch.call(&reader, "PUT", "/jcard/api/sysconfig", change).await.status, 403);

    let trusted = switch.add_consumer(&["sysconfig.read", "secret.read"]).await;
    let got = switch.call(&trusted, "GET", "/jcard/api/sysconfig/secret.thing", "").await;
    assert_eq!(got.json["sysConfig"]["value"], "42");
}
