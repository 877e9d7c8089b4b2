//! Regressions of what schemathesis (`scripts/schemathesis.sh`) found: a 405 names the
//! path's methods in `Allow` (RFC 9110), and a JSON `null` member of a movement body reads as
//! an absent one, so it neither fails a type check nor makes a retry look like another request.

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use serde_json::json;

use crate::support::TestSwitch;

/// The status and `Allow` header of an unsigned `method` request to `path`.
async fn status_and_allow(switch: &TestSwitch, method: &str, path: &str) -> (u16, Option<String>) {
    let client: Client<_, Full<Bytes>> =
        Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let request = http::Request::builder()
        .method(method)
        .uri(switch.url(path))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let allow = response.headers().get("allow").map(|value| value.to_str().unwrap().to_owned());
    (response.status().as_u16(), allow)
}

#[tokio::test]
async fn a_method_the_path_does_not_have_is_405_with_the_methods_it_has() {
    let switch = TestSwitch::start().await;
    let cases = [
        ("PATCH", "/jcard/api/echo", "GET, POST"),
        ("TRACE", "/jcard/api/sysconfig/some.id", "DELETE, GET"),
        ("GET", "/v5/card-api/cards/issue", "POST"),
        ("PUT", "/rest/v3/order/abc/cards", "POST"),
        ("DELETE", "/openapi/jcard.json", "GET"),
    ];
    for (method, path, allowed) in cases {
        assert_eq!(
            status_and_allow(&switch, method, path).await,
            (405, Some(allowed.to_owned())),
            "{method} {path}"
        );
    }
    // The cashback document answers every unroutable request 404 CARD-2: no 405, no Allow.
    assert_eq!(status_and_allow(&switch, "PUT", "/cardapi/admin/groups").await, (404, None));
    assert_eq!(status_and_allow(&switch, "GET", "/jcard/api/nowhere").await.1, None);
}

#[tokio::test]
async fn a_null_member_of_a_movement_is_an_absent_one() {
    let switch = TestSwitch::start().await;
    switch.open_wallet("w1").await;
    let with_nulls = json!({"amount": 5, "currency": "840", "rrn": "n1", "type": "cash",
        "description": null, "geoLocation": null, "interface": null, "phone": null, "realId": null});
    let path = "/jcard/api/wallets/w1/credit";
    let first = switch.admin_call("POST", path, &with_nulls.to_string()).await;
    assert_eq!(first.status, 200, "{}", first.text);
    // The same request without the null members is a retry of it, not another request.
    let without = json!({"amount": 5, "currency": "840", "rrn": "n1", "type": "cash"});
    let retry = switch.admin_call("POST", path, &without.to_string()).await;
    assert_eq!(
        (retry.status, retry.json["replayed"].clone()),
        (200, json!(true)),
        "{}",
        retry.text
    );
    assert_eq!(switch.wallet_balance("w1").await, "5.00");
    // A required member given as null is missing.
    let null_rrn = json!({"amount": 5, "currency": "840", "rrn": null, "type": "cash"});
    let refused = switch.admin_call("POST", path, &null_rrn.to_string()).await;
    assert_eq!((refused.status, refused.json["error"].clone()), (400, json!("missing.fields")));

    let product = r#"{"name": "P", "code": "P", "issuer": 1, "bin": "455566"}"#;
    assert_eq!(switch.admin_call("POST", "/jcard/api/cardproducts", product).await.status, 201);
    let customer =
        r#"{"realId": "1", "firstName": "A", "lastName": "B", "institutionId": "1", "phone": "1"}"#;
    assert_eq!(switch.admin_call("POST", "/jcard/api/customers", customer).await.status, 201);
    let card = r#"{"cardHolder": "1", "cardProduct": "P", "bin": "455566", "expiration": "203001", "serviceCode": "101"}"#;
    let issued = switch.admin_call("POST", "/jcard/api/cards", card).await;
    assert_eq!(issued.status, 201, "{}", issued.text);
    let token = issued.json["token"].as_str().unwrap();
    let activated =
        switch.admin_call("PUT", &format!("/jcard/api/cards/{token}/activate"), "").await;
    assert_eq!(activated.status, 200, "{}", activated.text);
    let credit = json!({"amount": 3, "currency": 840, "rrn": "c1", "reason": null, "description": null, "invoice": null});
    let credited = switch
        .admin_call("POST", &format!("/jcard/api/cards/{token}/credit"), &credit.to_string())
        .await;
    assert_eq!(credited.status, 201, "{}", credited.text);
    switch.assert_ledger_balances();
}
