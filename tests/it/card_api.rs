//! The card-issuing API over HTTP with real detached-JWS signatures: the document's example,
//! every refusal of a signature, single-use request ids (also two at once), request status,
//! and each method's success and decline paths, with the ledger balanced after each test.

use cardswitch::api::issuing::jws;
use serde_json::{json, Value};

use crate::support::{Reply, TestSwitch};

/// Request headers as the test client sends them.
type Headers = Vec<(String, String)>;

const PARTNER: &str = "123456";
const KEY: &[u8] = b"secret";

/// A switch with partner 123456 (key `secret`) and a prepaid product with a BIN.
pub(crate) async fn switch_with_partner() -> TestSwitch {
    let switch = TestSwitch::start().await;
    for (auth_id, key) in [(PARTNER, KEY), ("other", b"other key".as_slice())] {
        switch.add_partner(auth_id, key).await;
    }
    let product = r#"{"name": "Prepaid", "code": "PP", "issuer": 1, "bin": "455566"}"#;
    assert_eq!(switch.admin_call("POST", "/jcard/api/cardproducts", product).await.status, 201);
    switch
}

async fn post_as(
    switch: &TestSwitch,
    auth_id: &str,
    key: &[u8],
    method: &str,
    body: &Value,
) -> Reply {
    let path = format!("/v5/card-api/{method}");
    let raw = body.to_string();
    let signature = jws::sign(key, &path, auth_id, "", raw.as_bytes());
    switch.raw("POST", &path, &[("x-jws-signature".to_owned(), signature)], raw.into_bytes()).await
}

pub(crate) async fn post(switch: &TestSwitch, method: &str, body: Value) -> Reply {
    post_as(switch, PARTNER, KEY, method, &body).await
}

pub(crate) fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub(crate) fn error_code(reply: &Reply) -> Value {
    reply.json["error"]["code"].clone()
}

pub(crate) async fn issue(switch: &TestSwitch) -> String {
    let body = json!({"request_id": request_id(), "first_name": "Jane", "last_name": "Doe", "phone": "+598 99 123 456",
        "email": "jane@example.com", "card_product": "Prepaid", "currency": "840"});
    let reply = post(switch, "cards/issue", body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json["card_token"].as_str().unwrap().to_owned()
}

pub(crate) async fn balance(switch: &TestSwitch, token: &str) -> Value {
    let reply =
        post(switch, "cards/balance", json!({"request_id": request_id(), "card_token": token}))
            .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json["balance"].clone()
}

#[tokio::test]
async fn the_documents_example_signature_is_accepted() {
    let switch = switch_with_partner().await;
    let signature = "eyJ1cmkiOiIvdjUvY2FyZC1hcGkvcmVxdWVzdC9zdGF0dXMiLCJhdXRoX2lkIjoiMTIzNDU2IiwibWV0aG9kIjoiUE9TVCIsInBhcmFtcyI6IiIsImFsZyI6IkhTNTEyIn0..f1sQoeIpX_ZjOaykQzSeylvvKaVrEQV4gNM2ACFbEMkFDUV9Zk5WO1yQGEWez-vnQMVHodLBDVEyh5Xm2-3MjQ";
    let body = br#"{"request_id":"828cf71d-a447-4a67-a149-c1df8bc197ca"}"#.to_vec();
    let headers = [("x-jws-signature".to_owned(), signature.to_owned())];
    let reply = switch.raw("POST", "/v5/card-api/request/status", &headers, body.clone()).await;
    assert_eq!(
        (reply.status, error_code(&reply)),
        (404, json!("REQUEST_NOT_FOUND")),
        "{}",
        reply.text
    );
    // Status asks about another request: asking twice is fine.
    assert_eq!(switch.raw("POST", "/v5/card-api/request/status", &headers, body).await.status, 404);
}

/// Each bad `X-JWS-Signature` for a request of `body` to `path`, with its status and code.
fn signature_cases(path: &str, body: &str) -> Vec<(Headers, u16, &'static str)> {
    let encode = |header: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(header)
    };
    vec![
        (vec![], 401, "SIGNATURE_MISSING"),
        (vec![("x-jws-signature".to_owned(), "not-a-jws".to_owned())], 400, "SIGNATURE_MALFORMED"),
        (
            vec![(
                "x-jws-signature".to_owned(),
                format!(
                    "{}..",
                    encode(
                        r#"{"uri":"/v5/card-api/cards/info","auth_id":"123456","method":"POST","params":"","alg":"none"}"#
                    )
                ),
            )],
            400,
            "ALGORITHM_NOT_ALLOWED",
        ),
        (
            vec![(
                "x-jws-signature".to_owned(),
                jws::sign(KEY, "/v5/card-api/cards/balance", PARTNER, "", body.as_bytes()),
            )],
            400,
            "SIGNATURE_MISMATCH",
        ),
        (
            vec![(
                "x-jws-signature".to_owned(),
                jws::sign(KEY, path, PARTNER, "a=1", body.as_bytes()),
            )],
            400,
            "SIGNATURE_MISMATCH",
        ),
        (
            vec![(
                "x-jws-signature".to_owned(),
                jws::sign(KEY, path, "nobody", "", body.as_bytes()),
            )],
            401,
            "UNKNOWN_PARTNER",
        ),
        (
            vec![(
                "x-jws-signature".to_owned(),
                jws::sign(b"guess", path, PARTNER, "", body.as_bytes()),
            )],
            400,
            "SIGNATURE_INVALID",
        ),
        (
            vec![("x-jws-signature".to_owned(), jws::sign(KEY, path, PARTNER, "", b"{}"))],
            400,
            "SIGNATURE_INVALID",
        ),
    ]
}

#[tokio::test]
async fn every_bad_signature_is_refused_with_its_code() {
    let switch = switch_with_partner().await;
    let path = "/v5/card-api/cards/info";
    let body = json!({"request_id": request_id(), "card_token": "x"}).to_string();
    let cases = signature_cases(path, &body);
    let encode = |header: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(header)
    };
    for (headers, status, code) in cases {
        let reply = switch.raw("POST", path, &headers, body.clone().into_bytes()).await;
        assert_eq!((reply.status, error_code(&reply)), (status, json!(code)), "{}", reply.text);
    }
    let hs256 = encode(
        r#"{"uri":"/v5/card-api/cards/info","auth_id":"123456","method":"POST","params":"","alg":"HS256"}"#,
    );
    let reply = switch
        .raw(
            "POST",
            path,
            &[("x-jws-signature".to_owned(), format!("{hs256}..c2ln"))],
            body.into_bytes(),
        )
        .await;
    assert_eq!(error_code(&reply), "ALGORITHM_NOT_ALLOWED");
    let unknown = post(&switch, "cards/nothing", json!({})).await;
    assert_eq!((unknown.status, error_code(&unknown)), (404, json!("UNKNOWN_METHOD")));
}

#[tokio::test]
async fn a_request_id_is_used_once_even_by_two_at_once() {
    let switch = switch_with_partner().await;
    let token = issue(&switch).await;
    let id = request_id();
    let fund = json!({"request_id": id, "card_token": token, "amount": 10, "currency": 840});
    assert_eq!(post(&switch, "transactions/fund", fund.clone()).await.status, 200);
    let again = post(&switch, "transactions/fund", fund).await;
    assert_eq!((again.status, error_code(&again)), (409, json!("DUPLICATE_REQUEST")));
    let twin =
        json!({"request_id": request_id(), "card_token": token, "amount": 5, "currency": 840});
    let (first, second) = tokio::join!(
        post(&switch, "transactions/fund", twin.clone()),
        post(&switch, "transactions/fund", twin)
    );
    let mut statuses = [first.status, second.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "exactly one of two identical requests is processed");
    assert_eq!(balance(&switch, &token).await, 15);
    // Another partner may use the same request id.
    let other = post_as(
        &switch,
        "other",
        b"other key",
        "cards/info",
        &json!({"request_id": id, "card_token": token}),
    )
    .await;
    assert_eq!(
        (other.status, error_code(&other)),
        (404, json!("CARD_NOT_FOUND")),
        "and never reaches this partner's cards"
    );
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn status_tells_processed_declined_and_unknown_requests() {
    let switch = switch_with_partner().await;
    let token = issue(&switch).await;
    let (fund, debit) = (request_id(), request_id());
    assert_eq!(
        post(
            &switch,
            "transactions/fund",
            json!({"request_id": fund, "card_token": token, "amount": 10, "currency": 840})
        )
        .await
        .status,
        200
    );
    let declined = post(
        &switch,
        "transactions/debit",
        json!({"request_id": debit, "card_token": token, "amount": 11, "currency": 840}),
    )
    .await;
    assert_eq!(
        (declined.status, error_code(&declined), declined.json["error"]["result_code"].clone()),
        (422, json!("INSUFFICIENT_FUNDS"), json!("1016"))
    );
    let approved = post(&switch, "request/status", json!({"request_id": fund})).await;
    assert_eq!(
        (
            approved.json["result"].clone(),
            approved.json["method"].clone(),
            approved.json["result_code"].clone()
        ),
        (json!("approved"), json!("transactions.fund"), json!("0000"))
    );
    let failed = post(&switch, "request/status", json!({"request_id": debit})).await;
    assert_eq!(
        (failed.json["result"].clone(), failed.json["result_code"].clone()),
        (json!("declined"), json!("1016"))
    );
    let unknown = post(&switch, "request/status", json!({"request_id": request_id()})).await;
    assert_eq!(unknown.status, 404);
    let malformed = post(&switch, "request/status", json!({"request_id": "not-a-uuid"})).await;
    assert_eq!((malformed.status, error_code(&malformed)), (400, json!("BAD_REQUEST")));
    let switch = switch.restart().await;
    assert_eq!(
        post(&switch, "request/status", json!({"request_id": debit})).await.json["result"],
        "declined"
    );
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn payment_cards_are_issued_read_verified_blocked_and_unblocked() {
    let switch = switch_with_partner().await;
    let body = json!({"request_id": request_id(), "first_name": "Jane", "last_name": "Doe", "phone": "+598 99 123 456", "card_product": "Prepaid", "currency": 840});
    let issued = post(&switch, "cards/issue", body).await;
    assert_eq!(issued.status, 200, "{}", issued.text);
    let pan = issued.json["pan"].as_str().unwrap().to_owned();
    assert!(pan.starts_with("455566") && cardswitch::card::pan::luhn_valid(&pan));
    assert_eq!(issued.json["masked_pan"], format!("455566XXXXXX{}", &pan[12..]));
    let token = issued.json["card_token"].as_str().unwrap().to_owned();
    let info =
        post(&switch, "cards/info", json!({"request_id": request_id(), "card_token": token})).await;
    assert_eq!(
        (info.json["status"].clone(), info.json["holder"]["first_name"].clone()),
        (json!("ACTIVE"), json!("Jane"))
    );
    assert!(!info.text.contains(&pan), "the full number is shown once");
    let jcard = switch.admin_call("GET", &format!("/jcard/api/cards/{token}"), "").await;
    assert_eq!(jcard.json["pan"], issued.json["masked_pan"], "the same card through jCard");

    let verify = |first: &str, last: &str, phone: &str| json!({"request_id": request_id(), "card_token": token, "first_name": first, "last_name": last, "phone": phone});
    let matched =
        post(&switch, "cards/verify-holder", verify("  JANE ", "doe", "099 123 456")).await;
    assert_eq!(
        (matched.json["match"].clone(), matched.json["mismatched_fields"].clone()),
        (json!(true), json!([]))
    );
    let differs = post(&switch, "cards/verify-holder", verify("Joan", "Doe", "099123457")).await;
    assert_eq!(
        (differs.json["match"].clone(), differs.json["mismatched_fields"].clone()),
        (json!(false), json!(["first_name", "phone"]))
    );

    switch.assert_ledger_balances();
}

#[tokio::test]
async fn a_blocked_card_is_refused_until_unblocked() {
    let switch = switch_with_partner().await;
    let token = issue(&switch).await;
    assert_eq!(
        post(
            &switch,
            "transactions/fund",
            json!({"request_id": request_id(), "card_token": token, "amount": 20, "currency": 840})
        )
        .await
        .status,
        200
    );
    let blocked = post(
        &switch,
        "cards/block",
        json!({"request_id": request_id(), "card_token": token, "reason": "lost phone"}),
    )
    .await;
    assert_eq!(blocked.json["status"], "SUSPENDED");
    let refused = post(
        &switch,
        "transactions/debit",
        json!({"request_id": request_id(), "card_token": token, "amount": 1, "currency": 840}),
    )
    .await;
    assert_eq!((refused.status, error_code(&refused)), (422, json!("CARD_NOT_ACTIVE")));
    assert_eq!(
        post(
            &switch,
            "cards/unblock",
            json!({"request_id": request_id(), "card_token": token, "reason": "found"})
        )
        .await
        .json["status"],
        "ACTIVE"
    );
    let debit = post(&switch, "transactions/debit", json!({"request_id": request_id(), "card_token": token, "amount": 1.5, "currency": 840, "description": "coffee"})).await;
    assert_eq!(
        (debit.status, debit.json["approved"].clone(), debit.json["result_code"].clone()),
        (200, json!(true), json!("0000"))
    );
    assert_eq!(balance(&switch, &token).await.to_string(), "18.5");
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn bad_bodies_are_refused_and_change_nothing() {
    let switch = switch_with_partner().await;
    let token = issue(&switch).await;
    let cases = [
        (
            "cards/issue",
            json!({"request_id": request_id(), "first_name": "A", "last_name": "B", "phone": "1", "card_product": "Nope", "currency": 840}),
            404,
        ),
        (
            "cards/issue",
            json!({"request_id": request_id(), "first_name": "", "last_name": "B", "phone": "1", "card_product": "Prepaid", "currency": 840}),
            400,
        ),
        (
            "cards/issue",
            json!({"request_id": request_id(), "first_name": "A", "last_name": "B", "phone": "1", "card_product": "Prepaid", "currency": 840, "cvv": "1"}),
            400,
        ),
        (
            "cards/block",
            json!({"request_id": request_id(), "card_token": token, "reason": ""}),
            400,
        ),
        ("cards/info", json!({"request_id": request_id(), "card_token": "nope"}), 404),
        (
            "transactions/debit",
            json!({"request_id": request_id(), "card_token": token, "amount": -1, "currency": 840}),
            400,
        ),
        (
            "transactions/debit",
            json!({"request_id": request_id(), "card_token": token, "amount": 1, "currency": 1840}),
            400,
        ),
    ];
    for (method, body, status) in cases {
        let reply = post(&switch, method, body).await;
        assert_eq!(reply.status, status, "{method}: {}", reply.text);
    }
    assert_eq!(balance(&switch, &token).await, 0);
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn gift_cards_come_loaded_and_reversals_undo_funding() {
    let switch = switch_with_partner().await;
    let order = post(&switch, "gift-cards/issue", json!({"request_id": request_id(), "card_product": "Prepaid", "amount": 25, "currency": "840", "quantity": 3})).await;
    assert_eq!(order.status, 200, "{}", order.text);
    let cards = order.json["cards"].as_array().unwrap().clone();
    assert_eq!(cards.len(), 3);
    for card in &cards {
        assert_eq!(card["pin"].as_str().unwrap().len(), 4);
        assert!(cardswitch::card::pan::luhn_valid(card["card_number"].as_str().unwrap()));
        assert_eq!(
            balance(&switch, card["card_token"].as_str().unwrap()).await,
            25,
            "activation credited the card"
        );
    }
    for quantity in [0, 101] {
        let reply = post(&switch, "gift-cards/issue", json!({"request_id": request_id(), "card_product": "Prepaid", "amount": 25, "currency": 840, "quantity": quantity})).await;
        assert_eq!(reply.status, 400);
    }
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn a_reversal_undoes_a_fund_or_a_debit_once() {
    let switch = switch_with_partner().await;
    let token = issue(&switch).await;
    let first =
        json!({"request_id": request_id(), "card_token": token, "amount": 25, "currency": 840});
    assert_eq!(post(&switch, "transactions/fund", first).await.status, 200);
    let fund = request_id();
    assert_eq!(
        post(
            &switch,
            "transactions/fund",
            json!({"request_id": fund, "card_token": token, "amount": 10, "currency": 840})
        )
        .await
        .status,
        200
    );
    assert_eq!(balance(&switch, &token).await, 35);
    let reversed = post(
        &switch,
        "transactions/reverse",
        json!({"request_id": request_id(), "original_request_id": fund}),
    )
    .await;
    assert_eq!(
        (reversed.status, reversed.json["reversed"].clone()),
        (200, json!(true)),
        "{}",
        reversed.text
    );
    assert_eq!(balance(&switch, &token).await, 25);
    let twice = post(
        &switch,
        "transactions/reverse",
        json!({"request_id": request_id(), "original_request_id": fund}),
    )
    .await;
    assert_eq!((twice.status, error_code(&twice)), (422, json!("ALREADY_REVERSED")));
    let unknown = post(
        &switch,
        "transactions/reverse",
        json!({"request_id": request_id(), "original_request_id": request_id()}),
    )
    .await;
    assert_eq!((unknown.status, error_code(&unknown)), (404, json!("NOT_FOUND")));
    let spend = request_id();
    assert_eq!(
        post(
            &switch,
            "transactions/debit",
            json!({"request_id": spend, "card_token": token, "amount": 25, "currency": 840})
        )
        .await
        .status,
        200
    );
    assert_eq!(
        post(
            &switch,
            "transactions/reverse",
            json!({"request_id": request_id(), "original_request_id": spend})
        )
        .await
        .status,
        200
    );
    assert_eq!(balance(&switch, &token).await, 25);
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn a_declined_issuance_leaves_nothing_behind() {
    let switch = switch_with_partner().await;
    let expired =
        r#"{"name": "Old", "code": "OLD", "issuer": 1, "bin": "455566", "endDate": "2020-01-01"}"#;
    assert_eq!(switch.admin_call("POST", "/jcard/api/cardproducts", expired).await.status, 201);
    // A limit that every gift card's activation credit passes: the order fails at its first card.
    let velocity = r#"{"name": "Tiny", "active": true, "currencyCode": "840", "approvalsOnly": true, "amountLimit": 1,
        "scopeEntity": "card", "scopeTime": "daily", "validOnCredit": true}"#;
    assert_eq!(
        switch
            .admin_call("POST", "/jcard/api/cardproducts/1/velocityprofiles", velocity)
            .await
            .status,
        200
    );
    let (cards, customers, accounts) = {
        let state = switch.core().snapshot();
        (state.cards.len(), state.customers.len(), state.accounts.len())
    };
    let gift = post(&switch, "gift-cards/issue", json!({"request_id": request_id(), "card_product": "Prepaid", "amount": 25, "currency": 840, "quantity": 3})).await;
    assert_eq!((gift.status, error_code(&gift)), (422, json!("LIMIT_EXCEEDED")), "{}", gift.text);
    let old = post(&switch, "cards/issue", json!({"request_id": request_id(), "first_name": "A", "last_name": "B", "phone": "1", "card_product": "Old", "currency": 840})).await;
    assert_eq!((old.status, error_code(&old)), (422, json!("PRODUCT_NOT_ACTIVE")));
    let unknown = post(&switch, "cards/issue", json!({"request_id": request_id(), "first_name": "A", "last_name": "B", "phone": "1", "card_product": "Nope", "currency": 840})).await;
    assert_eq!(unknown.status, 404);
    let state = switch.core().snapshot();
    assert_eq!(
        (state.cards.len(), state.customers.len(), state.accounts.len()),
        (cards, customers, accounts)
    );
    drop(state);
    let switch = switch.restart().await;
    let state = switch.core().snapshot();
    assert_eq!(
        (state.cards.len(), state.customers.len(), state.accounts.len()),
        (cards, customers, accounts),
        "nothing was written either"
    );
    drop(state);
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn money_moves_in_the_cards_currency_and_unblock_lifts_only_its_own_block() {
    let switch = switch_with_partner().await;
    let token = issue(&switch).await;
    let euro = post(
        &switch,
        "transactions/fund",
        json!({"request_id": request_id(), "card_token": token, "amount": 5, "currency": 978}),
    )
    .await;
    assert_eq!((euro.status, error_code(&euro)), (400, json!("BAD_REQUEST")));
    let held = switch
        .admin_call(
            "PUT",
            &format!("/jcard/api/cards/{token}/status"),
            r#"{"cardState": "compliance"}"#,
        )
        .await;
    assert_eq!(held.status, 200);
    let unblock = post(
        &switch,
        "cards/unblock",
        json!({"request_id": request_id(), "card_token": token, "reason": "please"}),
    )
    .await;
    assert_eq!((unblock.status, error_code(&unblock)), (422, json!("INVALID_CARD_STATE")));
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn outlet_name_and_invoice_number_are_optional_and_at_most_50_characters() {
    let switch = switch_with_partner().await;
    let token = issue(&switch).await;
    for (field, value) in [
        ("outlet_name", "x".repeat(51)),
        ("invoice_number", "x".repeat(51)),
        ("outlet_name", " ".to_owned()),
    ] {
        let mut body =
            json!({"request_id": request_id(), "card_token": token, "amount": 5, "currency": 840});
        body[field] = json!(value);
        let reply = post(&switch, "transactions/fund", body).await;
        assert_eq!((reply.status, error_code(&reply)), (400, json!("BAD_REQUEST")), "{field}");
    }
    let named = json!({"request_id": request_id(), "card_token": token, "amount": 5, "currency": 840,
        "outlet_name": "x".repeat(50), "invoice_number": "INV-1"});
    assert_eq!(post(&switch, "transactions/fund", named).await.status, 200);
    assert_eq!(balance(&switch, &token).await, 5);
    switch.assert_ledger_balances();
}
