//! Security checks that the dialect tests leave out: a detached JWS signed for another method,
//! a card-issuing request id replayed after a restart, bearer tokens naming another algorithm
//! (with a correct HMAC under the switch's own key, so only `alg` can refuse them) on both
//! bearer dialects, and a foreign bearer token on the gift-card API. The rest of the list of
//! docs/reliability.md ("Security checks") is tested beside its dialect; that section names
//! each test.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use cardswitch::api::issuing::jws;
use cardswitch::bearer::{BearerClaims, BearerKey, BearerScope};
use cardswitch::clock::Clock;
use cardswitch::core::keys::{hmac_sha256, MasterKey};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha512;

use crate::support::{Reply, TestSwitch};

const PARTNER: &str = "security-partner";
const KEY: &[u8] = b"security partner key";

/// A switch with a card-issuing partner and a product to issue cards from.
async fn switch_with_partner() -> TestSwitch {
    let switch = TestSwitch::start().await;
    switch.add_partner(PARTNER, KEY).await;
    let product = r#"{"name": "Prepaid", "code": "PP", "issuer": 1, "bin": "455566"}"#;
    assert_eq!(switch.admin_call("POST", "/jcard/api/cardproducts", product).await.status, 201);
    switch
}

/// A detached JWS whose header names `method`, signed correctly with the partner's key.
fn jws_for_method(method: &str, uri: &str, body: &[u8]) -> String {
    let header =
        json!({"uri": uri, "auth_id": PARTNER, "method": method, "params": "", "alg": "HS512"});
    let encoded = URL_SAFE_NO_PAD.encode(header.to_string());
    let mut mac = Hmac::<Sha512>::new_from_slice(KEY).unwrap();
    mac.update(format!("{encoded}.{}", URL_SAFE_NO_PAD.encode(body)).as_bytes());
    format!("{encoded}..{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

async fn card_api(switch: &TestSwitch, method: &str, signature: String, body: &Value) -> Reply {
    let headers = [("x-jws-signature".to_owned(), signature)];
    let path = format!("/v5/card-api/{method}");
    switch.raw("POST", &path, &headers, body.to_string().into_bytes()).await
}

async fn signed(switch: &TestSwitch, method: &str, body: &Value) -> Reply {
    let path = format!("/v5/card-api/{method}");
    let signature = jws::sign(KEY, &path, PARTNER, "", body.to_string().as_bytes());
    card_api(switch, method, signature, body).await
}

fn error_code(reply: &Reply) -> Value {
    reply.json["error"]["code"].clone()
}

#[tokio::test]
async fn a_jws_signed_for_another_method_is_refused_and_leaves_the_request_id_free() {
    let switch = switch_with_partner().await;
    let id = uuid::Uuid::new_v4().to_string();
    let body = json!({"request_id": id, "first_name": "Jane", "last_name": "Doe",
        "phone": "+598 99 123 456", "card_product": "Prepaid", "currency": 840});
    let raw = body.to_string();
    for method in ["GET", "PUT", "DELETE"] {
        let signature = jws_for_method(method, "/v5/card-api/cards/issue", raw.as_bytes());
        let reply = card_api(&switch, "cards/issue", signature, &body).await;
        assert_eq!(
            (reply.status, error_code(&reply)),
            (400, json!("SIGNATURE_MISMATCH")),
            "{method}: {}",
            reply.text
        );
    }
    // The same header with the request's own method is accepted: only the method was wrong,
    // and the refused attempts did not use up the request id.
    let signature = jws_for_method("POST", "/v5/card-api/cards/issue", raw.as_bytes());
    let reply = card_api(&switch, "cards/issue", signature, &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn a_card_api_request_id_replayed_after_a_restart_is_refused() {
    let switch = switch_with_partner().await;
    let issue = json!({"request_id": uuid::Uuid::new_v4().to_string(), "first_name": "Jane",
        "last_name": "Doe", "phone": "+598 99 123 456", "card_product": "Prepaid", "currency": 840});
    let issued = signed(&switch, "cards/issue", &issue).await;
    assert_eq!(issued.status, 200, "{}", issued.text);
    let token = issued.json["card_token"].as_str().unwrap().to_owned();
    let fund = json!({"request_id": uuid::Uuid::new_v4().to_string(), "card_token": token,
        "amount": 10, "currency": 840});
    // The very same signed request, captured and sent again after the switch restarted.
    let path = "/v5/card-api/transactions/fund";
    let signature = jws::sign(KEY, path, PARTNER, "", fund.to_string().as_bytes());
    assert_eq!(card_api(&switch, "transactions/fund", signature.clone(), &fund).await.status, 200);
    let switch = switch.restart().await;
    let replay = card_api(&switch, "transactions/fund", signature, &fund).await;
    assert_eq!((replay.status, error_code(&replay)), (409, json!("DUPLICATE_REQUEST")));
    let balance = signed(
        &switch,
        "cards/balance",
        &json!({"request_id": uuid::Uuid::new_v4().to_string(), "card_token": token}),
    )
    .await;
    assert_eq!(balance.json["balance"], 10, "funded once: {}", balance.text);
    switch.assert_ledger_balances();
}

/// A bearer token with `header`, the claims of a fresh admin token of this switch, and an
/// HS256 MAC under this switch's own bearer key: a correct signature, whatever `alg` says.
fn token_with_header(switch: &TestSwitch, header: &Value, scope: BearerScope) -> String {
    let now_s = switch.clock.now_ms().div_euclid(1000);
    let claims = BearerClaims {
        scope,
        group_id: None,
        store_ids: Vec::new(),
        iat: now_s,
        exp: now_s + 600,
        jti: uuid::Uuid::new_v4().to_string(),
    };
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap())
    );
    let master = MasterKey::load(switch.dir.path()).unwrap();
    let key = master.derive(cardswitch::bearer::KEY_LABEL);
    let mac = hmac_sha256(key.expose(), &[signing_input.as_bytes()]);
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac))
}

async fn with_bearer(
    switch: &TestSwitch,
    token: &str,
    method: &str,
    path: &str,
    body: &Value,
) -> Reply {
    let headers = [("authorization".to_owned(), format!("Bearer {token}"))];
    switch.raw(method, path, &headers, body.to_string().into_bytes()).await
}

#[tokio::test]
async fn bearer_tokens_naming_another_algorithm_are_refused_by_both_bearer_dialects() {
    let switch = TestSwitch::start().await;
    let group = json!({"name": "Bakeries", "currency": "978"});
    let history = json!({"cards": [{"cardNumber": "4555670000000017", "pin": "3217"}]});
    let history_path = "/rest/v3/order/5b1f3c1e-2d2a-4c55-9a43-0e7c2f1d9b6a/cards";
    // The construction is right: with the real header the same kind of token is accepted.
    let genuine = json!({"alg": "HS256", "typ": "JWT"});
    let admin = token_with_header(&switch, &genuine, BearerScope::Admin);
    let created = with_bearer(&switch, &admin, "POST", "/cardapi/admin/groups", &group).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let giftcard = token_with_header(&switch, &genuine, BearerScope::Giftcard);
    let answered = with_bearer(&switch, &giftcard, "POST", history_path, &history).await;
    assert_eq!((answered.status, answered.json["code"].clone()), (200, json!("5141")));

    let headers = [
        json!({"alg": "none"}),
        json!({"alg": "none", "typ": "JWT"}),
        json!({"alg": "None", "typ": "JWT"}),
        json!({"alg": "HS512", "typ": "JWT"}),
        json!({"alg": "HS384", "typ": "JWT"}),
        json!({"alg": "RS256", "typ": "JWT"}),
        json!({"alg": "ES256", "typ": "JWT"}),
        json!({"alg": "hs256", "typ": "JWT"}),
        json!({"typ": "JWT"}),
        json!({"alg": "HS256", "typ": "JWE"}),
    ];
    for header in headers {
        let admin = token_with_header(&switch, &header, BearerScope::Admin);
        let unsigned = format!("{}.", admin.rsplit_once('.').unwrap().0);
        for token in [admin.clone(), unsigned] {
            let reply = with_bearer(&switch, &token, "POST", "/cardapi/admin/groups", &group).await;
            assert_eq!(
                (reply.status, reply.json["code"].clone()),
                (400, json!("CARD-8")),
                "{header}"
            );
        }
        let giftcard = token_with_header(&switch, &header, BearerScope::Giftcard);
        let unsigned = format!("{}.", giftcard.rsplit_once('.').unwrap().0);
        for token in [giftcard, unsigned] {
            let reply = with_bearer(&switch, &token, "POST", history_path, &history).await;
            assert_eq!((reply.status, reply.json["code"].clone()), (401, json!("401")), "{header}");
        }
    }
    // Only the genuine group exists.
    assert_eq!(switch.core().snapshot().merchant_groups.len(), 1);
}

#[tokio::test]
async fn a_foreign_bearer_token_is_refused_by_the_gift_card_api() {
    let switch = TestSwitch::start().await;
    let now_s = switch.clock.now_ms().div_euclid(1000);
    let claims = BearerClaims {
        scope: BearerScope::Giftcard,
        group_id: None,
        store_ids: Vec::new(),
        iat: now_s,
        exp: now_s + 600,
        jti: "foreign".to_owned(),
    };
    let other_switch = MasterKey::from_bytes([9; 32]);
    let foreign = cardswitch::bearer::issue(&BearerKey::derive(&other_switch), &claims);
    let body = json!({"cards": [{"cardNumber": "4555670000000017", "pin": "3217"}]});
    let path = "/rest/v3/order/5b1f3c1e-2d2a-4c55-9a43-0e7c2f1d9b6a/cards";
    let reply = with_bearer(&switch, &foreign, "POST", path, &body).await;
    assert_eq!((reply.status, reply.json["code"].clone()), (401, json!("401")), "{}", reply.text);
    let own = switch.bearer_token(BearerScope::Giftcard, None, &[]);
    assert_eq!(with_bearer(&switch, &own, "POST", path, &body).await.status, 200);
}
