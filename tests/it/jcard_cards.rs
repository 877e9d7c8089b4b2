//! Card products, velocity profiles and cards over signed HTTP: the document's examples, each
//! creation form (Luhn, masking, the PAN never shown again), every decline reason of the
//! authorization path in order, velocity by count, amount, card and account scope and daily
//! rollover, idempotent and concurrent retries, and a race on one card.

use serde_json::{json, Value};

use crate::support::{Reply, TestSwitch};

pub(crate) const PRODUCT_EXAMPLE: &str = r#"{
  "name": "TestCardProduct2",
  "code": "4569",
  "active": true,
  "cardNumberLength": 16,
  "allowEcommerce": false,
  "allowMoto": false,
  "allowPos": true,
  "allowTips": false,
  "smart": true,
  "startDate": "2019-01-01",
  "endDate": "2049-01-01",
  "issuedAccount": "11.001.00",
  "issuer": 67,
  "feeAccount": "31.001.00"
}"#;

const DAY_MS: i64 = 86_400_000;

pub(crate) async fn product(switch: &TestSwitch, body: &str) -> u64 {
    let reply = switch.admin_call("POST", "/jcard/api/cardproducts", body).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.json["cardproduct"]["id"].as_u64().unwrap()
}

pub(crate) async fn customer(switch: &TestSwitch, real_id: &str) {
    let body = format!(
        r#"{{"realId": "{real_id}", "firstName": "John", "lastName": "Doe", "institutionId": "1", "phone": "{real_id}"}}"#
    );
    assert_eq!(switch.admin_call("POST", "/jcard/api/customers", &body).await.status, 201);
}

/// Issues and activates a card of `product` for `holder` from BIN 455566; returns its token.
pub(crate) async fn active_card(switch: &TestSwitch, product: &str, holder: &str) -> String {
    let body = format!(
        r#"{{"cardHolder": "{holder}", "cardProduct": "{product}", "bin": "455566", "expiration": "203012", "serviceCode": "220"}}"#
    );
    let reply = switch.admin_call("POST", "/jcard/api/cards", &body).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let token = reply.json["token"].as_str().unwrap().to_owned();
    assert_eq!(
        switch.admin_call("PUT", &format!("/jcard/api/cards/{token}/activate"), "").await.status,
        200
    );
    token
}

pub(crate) async fn card_money(
    switch: &TestSwitch,
    token: &str,
    kind: &str,
    amount: &str,
    rrn: &str,
    channel: &str,
) -> Reply {
    let body = format!(
        r#"{{"amount": {amount}, "currency": 840, "rrn": "{rrn}", "channel": "{channel}", "description": "test"}}"#
    );
    switch.admin_call("POST", &format!("/jcard/api/cards/{token}/{kind}"), &body).await
}

pub(crate) async fn card_balance(switch: &TestSwitch, token: &str) -> Value {
    let reply = switch.admin_call("GET", &format!("/jcard/api/cards/{token}/balance"), "").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json["balance"].clone()
}

fn declined(reply: &Reply, code: &str) {
    assert_eq!(
        (reply.status, reply.json["resultCode"].clone()),
        (422, json!(code)),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn card_products_and_velocity_profiles_are_managed() {
    let switch = TestSwitch::start().await;
    let created = switch.admin_call("POST", "/jcard/api/cardproducts", PRODUCT_EXAMPLE).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let product = &created.json["cardproduct"];
    assert_eq!(
        (product["name"].clone(), product["issuer"].clone(), product["allowPos"].clone()),
        (json!("TestCardProduct2"), json!(67), json!(true))
    );
    let id = product["id"].as_u64().unwrap();
    let got = switch.admin_call("GET", &format!("/jcard/api/cardproducts/{id}"), "").await;
    assert_eq!(got.json["cardproduct"]["startDate"], "2019-01-01");
    let updated = switch
        .admin_call(
            "PUT",
            &format!("/jcard/api/cardproducts/{id}/"),
            r#"{"name": "Renamed", "allowAtm": true}"#,
        )
        .await;
    assert_eq!(
        (updated.status, updated.json["cardproduct"]["allowAtm"].clone()),
        (201, json!(true))
    );
    let cases = [
        (
            "POST",
            "/jcard/api/cardproducts".to_owned(),
            PRODUCT_EXAMPLE.replace("TestCardProduct2", "Other"),
            409,
        ),
        (
            "POST",
            "/jcard/api/cardproducts".to_owned(),
            r#"{"name": "x", "code": "y"}"#.to_owned(),
            400,
        ),
        (
            "POST",
            "/jcard/api/cardproducts".to_owned(),
            r#"{"name": "x", "code": "y", "issuer": 1, "institutionId": "2"}"#.to_owned(),
            400,
        ),
        (
            "POST",
            "/jcard/api/cardproducts".to_owned(),
            r#"{"name": "x", "code": "y", "issuer": 1, "bin": "4555661"}"#.to_owned(),
            400,
        ),
        (
            "PUT",
            format!("/jcard/api/cardproducts/{id}"),
            r#"{"issuer": 1, "institutionId": "2"}"#.to_owned(),
            400,
        ),
        ("GET", "/jcard/api/cardproducts/999".to_owned(), String::new(), 404),
    ];
    for (method, path, body, status) in cases {
        assert_eq!(
            switch.admin_call(method, &path, &body).await.status,
            status,
            "{method} {path} {body}"
        );
    }
}

#[tokio::test]
async fn velocity_profiles_are_managed() {
    let switch = TestSwitch::start().await;
    let id = product(&switch, PRODUCT_EXAMPLE).await;
    let profile = r#"{"name": "MaxTwoHundred", "active": true, "currencyCode": "840", "approvalsOnly": false, "usageLimit": 1,
        "amountLimit": 200, "validOnCredit": false, "validOnPurchase": true, "validOnTransfer": true, "validOnWithdrawal": true,
        "scopeEntity": "card", "scopeTime": "daily"}"#;
    let velocity = switch
        .admin_call("POST", &format!("/jcard/api/cardproducts/{id}/velocityprofiles"), profile)
        .await;
    assert_eq!(velocity.status, 200, "{}", velocity.text);
    let velocity_id = velocity.json["velocityprofile"]["id"].as_u64().unwrap();
    let path = format!("/jcard/api/cardproducts/{id}/velocityprofiles/{velocity_id}");
    let change = r#"{"name": "MaxTwoHundred_changed", "scopeEntity": "card", "scopeTime": "daily", "currencyCode": "840", "approvalsOnly": false, "usageLimit": 2, "amountLimit": 150}"#;
    assert_eq!(
        switch.admin_call("PUT", &path, change).await.json["velocityprofile"]["amountLimit"],
        150
    );
    assert_eq!(switch.admin_call("GET", &path, "").await.json["velocityprofile"]["usageLimit"], 2);
    let listed = switch
        .admin_call("GET", &format!("/jcard/api/cardproducts/{id}/velocityprofiles"), "")
        .await;
    assert_eq!(listed.json["velocityprofiles"].as_array().unwrap().len(), 1);
    let missing = switch
        .admin_call(
            "POST",
            &format!("/jcard/api/cardproducts/{id}/velocityprofiles"),
            r#"{"name": "x"}"#,
        )
        .await;
    assert_eq!(missing.json["error"], "missing.fields");
    assert_eq!(
        switch
            .admin_call(
                "GET",
                &format!("/jcard/api/cardproducts/999/velocityprofiles/{velocity_id}"),
                ""
            )
            .await
            .status,
        404
    );
    assert_eq!(switch.admin_call("DELETE", &path, "").await.json, json!({"success": true}));
    assert_eq!(switch.admin_call("GET", &path, "").await.status, 404);
    assert_eq!(switch.admin_call("DELETE", &path, "").await.status, 404);
}

#[tokio::test]
async fn cards_are_issued_in_each_form_and_their_numbers_never_shown_again() {
    let switch = TestSwitch::start().await;
    product(&switch, PRODUCT_EXAMPLE).await;
    customer(&switch, "0000001").await;
    let generated = r#"{"cardHolder": "0000001", "accountCode": "21.0000001.00", "cardProduct": "TestCardProduct2", "bin": "455566",
        "expiration": "203005", "serviceCode": "220", "embossingName": "John", "virtual": true}"#;
    let reply = switch.admin_call("POST", "/jcard/api/cards", generated).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let pan = reply.json["pan"].as_str().unwrap().to_owned();
    let token = reply.json["token"].as_str().unwrap().to_owned();
    assert_eq!(pan.len(), 16);
    assert!(pan.starts_with("455566") && cardswitch::card::pan::luhn_valid(&pan), "{pan}");
    assert_eq!(reply.json["lastFour"], pan[12..]);
    assert!(!token.contains(&pan[6..12]), "the token is not derived from the PAN");
    let detail = switch.admin_call("GET", &format!("/jcard/api/cards/{token}"), "").await;
    assert_eq!(detail.json["pan"], format!("455566XXXXXX{}", &pan[12..]));
    assert_eq!(
        (
            detail.json["status"].clone(),
            detail.json["expiryDate"].clone(),
            detail.json["virtual"].clone()
        ),
        (json!("CREATED"), json!("3005"), json!(true))
    );
    assert!(!detail.text.contains(&pan));
}

#[tokio::test]
async fn cards_from_a_given_pan_or_tracks_and_what_is_refused() {
    let switch = TestSwitch::start().await;
    product(&switch, PRODUCT_EXAMPLE).await;
    customer(&switch, "0000001").await;
    let given = r#"{"cardHolder": "0000001", "cardProduct": "4569", "pan": "4555660000000002", "expiration": "203001", "serviceCode": "101"}"#;
    let reply = switch.admin_call("POST", "/jcard/api/cards", given).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert!(reply.json.get("pan").is_none(), "a number the client gave is not echoed");
    assert_eq!(switch.admin_call("POST", "/jcard/api/cards", given).await.status, 409);
    let tracks = r#"{"cardHolder": "0000001", "cardProduct": "TestCardProduct2",
        "track1": "%B4555660000000010^DOE/JOHN^3012101000000000000", "track2": "4555660000000010=30121010000000000"}"#;
    let reply = switch.admin_call("POST", "/jcard/api/cards", tracks).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let from_tracks = reply.json["token"].as_str().unwrap().to_owned();
    let detail = switch.admin_call("GET", &format!("/jcard/api/cards/{from_tracks}"), "").await;
    assert_eq!(
        (detail.json["embossedName"].clone(), detail.json["expiryDate"].clone()),
        (json!("DOE JOHN"), json!("3012"))
    );
    let cases = [
        (
            r#"{"cardHolder": "0000001", "cardProduct": "4569", "pan": "4555660000000003", "expiration": "203001", "serviceCode": "101"}"#,
            400,
        ),
        (
            r#"{"cardHolder": "0000001", "cardProduct": "4569", "bin": "455566", "pan": "4555660000000002", "expiration": "203001", "serviceCode": "101"}"#,
            400,
        ),
        (
            r#"{"cardHolder": "0000001", "cardProduct": "4569", "bin": "455566", "expiration": "203013", "serviceCode": "101"}"#,
            400,
        ),
        (r#"{"cardHolder": "0000001", "cardProduct": "4569", "bin": "455566"}"#, 400),
        (
            r#"{"cardHolder": "0000001", "cardProduct": "nope", "bin": "455566", "expiration": "203001", "serviceCode": "101"}"#,
            404,
        ),
        (
            r#"{"cardHolder": "nobody", "cardProduct": "4569", "bin": "455566", "expiration": "203001", "serviceCode": "101"}"#,
            404,
        ),
        (
            r#"{"cardHolder": "0000001", "cardProduct": "4569", "bin": "455566", "expiration": "203001", "serviceCode": "101", "cvv": "123"}"#,
            400,
        ),
    ];
    for (body, status) in cases {
        assert_eq!(
            switch.admin_call("POST", "/jcard/api/cards", body).await.status,
            status,
            "{body}"
        );
    }
    let listed = switch.admin_call("GET", "/jcard/api/customers/0000001/cards", "").await;
    let cards = listed.json["info"]["cards"].as_array().unwrap().clone();
    assert_eq!(cards.len(), 2);
    assert_eq!(
        (cards[0]["bin"].clone(), cards[0]["expiration"].clone()),
        (json!("455566"), json!("2030-01-31"))
    );
    assert!(!listed.text.contains("4555660000000002"));
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn every_decline_reason_in_order_and_nothing_posted() {
    let switch = TestSwitch::start().await;
    let id = product(&switch, PRODUCT_EXAMPLE).await;
    customer(&switch, "7").await;
    let body = r#"{"cardHolder": "7", "cardProduct": "4569", "bin": "455566", "expiration": "203012", "serviceCode": "220"}"#;
    let token = switch.admin_call("POST", "/jcard/api/cards", body).await.json["token"]
        .as_str()
        .unwrap()
        .to_owned();
    declined(&card_money(&switch, &token, "debit", "1", "n1", "pos").await, "1806");
    assert_eq!(
        switch.admin_call("PUT", &format!("/jcard/api/cards/{token}/activate"), "").await.status,
        200
    );
    assert_eq!(
        switch.admin_call("PUT", &format!("/jcard/api/cards/{token}/activate"), "").await.status,
        200,
        "already active is fine"
    );
    declined(&card_money(&switch, &token, "debit", "1", "n2", "pos").await, "1016");
    let credit = card_money(&switch, &token, "credit", "100", "c1", "jcard").await;
    assert_eq!(
        (credit.status, credit.json["itc"].clone(), credit.json["resultCode"].clone()),
        (201, json!("R200.40.21"), json!("0000"))
    );
    let debit = card_money(&switch, &token, "debit", "10", "d1", "pos").await;
    assert_eq!((debit.status, debit.json["itc"].clone()), (201, json!("200.00")));
    assert_eq!(debit.json["approvalNumber"].as_str().unwrap().len(), 6);
    declined(&card_money(&switch, &token, "debit", "10", "n3", "atm").await, "1020");
    declined(&card_money(&switch, &token, "debit", "10", "n4", "ecommerce").await, "1020");
    let inactive = switch
        .admin_call("PUT", &format!("/jcard/api/cardproducts/{id}"), r#"{"active": false}"#)
        .await;
    assert_eq!(inactive.status, 201);
    declined(&card_money(&switch, &token, "debit", "10", "n5", "pos").await, "1808");
    assert_eq!(
        switch
            .admin_call("PUT", &format!("/jcard/api/cardproducts/{id}"), r#"{"active": true}"#)
            .await
            .status,
        201
    );
    let expired = r#"{"expiration": "202001"}"#;
    assert_eq!(
        switch.admin_call("PUT", &format!("/jcard/api/cards/{token}"), expired).await.status,
        200
    );
    declined(&card_money(&switch, &token, "debit", "10", "n6", "pos").await, "1001");
    assert_eq!(
        switch
            .admin_call(
                "PUT",
                &format!("/jcard/api/cards/{token}"),
                r#"{"expiration": "203012", "virtual": true}"#
            )
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn card_states_follow_the_transition_rules() {
    let switch = TestSwitch::start().await;
    product(&switch, PRODUCT_EXAMPLE).await;
    customer(&switch, "7").await;
    let token = active_card(&switch, "4569", "7").await;
    assert_eq!(card_money(&switch, &token, "credit", "90", "c1", "jcard").await.status, 201);
    for (state, code) in [("suspended", "1806"), ("lost", "1032")] {
        let reply = switch
            .admin_call(
                "PUT",
                &format!("/jcard/api/cards/{token}/status"),
                &format!(r#"{{"cardState": "{state}"}}"#),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        declined(
            &card_money(&switch, &token, "debit", "10", &format!("s{state}"), "pos").await,
            code,
        );
    }
    for state in ["active", "suspended", "created"] {
        let reply = switch
            .admin_call(
                "PUT",
                &format!("/jcard/api/cards/{token}/status"),
                &format!(r#"{{"cardState": "{state}"}}"#),
            )
            .await;
        assert_eq!(
            (reply.status, reply.json["error"].clone()),
            (409, json!("invalid.state")),
            "lost → {state}"
        );
    }
    assert_eq!(
        switch.admin_call("PUT", &format!("/jcard/api/cards/{token}/activate"), "").await.status,
        409
    );
    assert_eq!(
        switch
            .admin_call(
                "PUT",
                &format!("/jcard/api/cards/{token}/status"),
                r#"{"cardState": "bogus"}"#
            )
            .await
            .status,
        400
    );
    assert_eq!(card_balance(&switch, &token).await, 90);
    assert_eq!(card_money(&switch, "nosuchtoken", "debit", "1", "n9", "pos").await.status, 404);
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn velocity_limits_count_amount_usage_scope_and_roll_over_daily() {
    let switch = TestSwitch::start().await;
    let id = product(&switch, PRODUCT_EXAMPLE).await;
    customer(&switch, "1").await;
    let token = active_card(&switch, "4569", "1").await;
    let other = active_card(&switch, "4569", "1").await;
    assert_eq!(card_money(&switch, &token, "credit", "1000", "fund", "jcard").await.status, 201);
    let profiles = [
        r#"{"name": "TwoPerDay", "active": true, "currencyCode": "840", "approvalsOnly": true, "usageLimit": 2, "amountLimit": 1000, "scopeEntity": "card", "scopeTime": "daily", "validOnCredit": false}"#,
        r#"{"name": "AccountHundred", "active": true, "currencyCode": "840", "approvalsOnly": true, "amountLimit": 100, "scopeEntity": "account", "scopeTime": "monthly"}"#,
    ];
    for profile in profiles {
        let reply = switch
            .admin_call("POST", &format!("/jcard/api/cardproducts/{id}/velocityprofiles"), profile)
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    assert_eq!(card_money(&switch, &token, "debit", "10", "v1", "pos").await.status, 201);
    assert_eq!(card_money(&switch, &token, "debit", "10", "v2", "pos").await.status, 201);
    declined(&card_money(&switch, &token, "debit", "10", "v3", "pos").await, "1817");
    // The account-scoped profile counts both cards of the account (80 of 100 left after 20).
    declined(&card_money(&switch, &other, "debit", "81", "v4", "pos").await, "1817");
    assert_eq!(card_money(&switch, &other, "debit", "80", "v5", "pos").await.status, 201);
    declined(&card_money(&switch, &other, "debit", "1", "v6", "pos").await, "1817");
    // Credits do not count unless validOnCredit.
    assert_eq!(card_money(&switch, &token, "credit", "5", "v7", "jcard").await.status, 201);
    // A new day resets the daily profile, not the monthly one.
    switch.clock.advance_ms(DAY_MS);
    declined(&card_money(&switch, &token, "debit", "1", "v8", "pos").await, "1817");
    let switch = switch.restart().await;
    let path = format!("/jcard/api/cardproducts/{id}/velocityprofiles/2");
    assert_eq!(switch.admin_call("PUT", &path, r#"{"amountLimit": 1000}"#).await.status, 200);
    assert_eq!(
        card_money(&switch, &token, "debit", "10", "v9", "pos").await.status,
        201,
        "counters survive a restart"
    );
    assert_eq!(card_money(&switch, &token, "debit", "10", "v10", "pos").await.status, 201);
    declined(&card_money(&switch, &token, "debit", "10", "v11", "pos").await, "1817");
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn declined_attempts_count_unless_approvals_only() {
    let switch = TestSwitch::start().await;
    let id = product(&switch, PRODUCT_EXAMPLE).await;
    customer(&switch, "1").await;
    let token = active_card(&switch, "4569", "1").await;
    let profile = r#"{"name": "ThreeTries", "active": true, "currencyCode": "840", "approvalsOnly": false, "usageLimit": 3, "amountLimit": 10000, "scopeEntity": "card", "scopeTime": "daily"}"#;
    assert_eq!(
        switch
            .admin_call("POST", &format!("/jcard/api/cardproducts/{id}/velocityprofiles"), profile)
            .await
            .status,
        200
    );
    declined(&card_money(&switch, &token, "debit", "5", "a1", "pos").await, "1016");
    declined(&card_money(&switch, &token, "debit", "5", "a2", "pos").await, "1016");
    assert_eq!(card_money(&switch, &token, "credit", "50", "a3", "jcard").await.status, 201);
    assert_eq!(card_money(&switch, &token, "debit", "5", "a4", "pos").await.status, 201);
    declined(&card_money(&switch, &token, "debit", "5", "a5", "pos").await, "1817");
}

#[tokio::test]
async fn retries_are_idempotent_and_a_race_approves_exactly_what_is_affordable() {
    let switch = TestSwitch::start().await;
    product(&switch, PRODUCT_EXAMPLE).await;
    customer(&switch, "1").await;
    let token = active_card(&switch, "4569", "1").await;
    assert_eq!(card_money(&switch, &token, "credit", "100", "fund", "jcard").await.status, 201);
    let first = card_money(&switch, &token, "debit", "30", "r1", "pos").await;
    let again = card_money(&switch, &token, "debit", "30", "r1", "pos").await;
    assert_eq!(
        (again.status, again.json["replayed"].clone(), again.json["approvalNumber"].clone()),
        (201, json!(true), first.json["approvalNumber"].clone())
    );
    let different = card_money(&switch, &token, "debit", "31", "r1", "pos").await;
    assert_eq!((different.status, different.json["resultCode"].clone()), (409, json!("1822")));
    let retries: Vec<_> =
        (0..16).map(|_| card_money(&switch, &token, "debit", "5", "r2", "pos")).collect();
    let answers = futures::future::join_all(retries).await;
    assert!(answers.iter().all(|answer| answer.status == 201));
    assert_eq!(answers.iter().filter(|answer| answer.json["replayed"] == false).count(), 1);
    assert_eq!(card_balance(&switch, &token).await, 65);
    let rrns: Vec<String> = (0..30).map(|n| format!("race{n}")).collect();
    let race: Vec<_> =
        rrns.iter().map(|rrn| card_money(&switch, &token, "debit", "4", rrn, "pos")).collect();
    let answers = futures::future::join_all(race).await;
    assert_eq!(
        answers.iter().filter(|answer| answer.status == 201).count(),
        16,
        "65 / 4 = 16 debits fit"
    );
    assert!(answers
        .iter()
        .filter(|answer| answer.status != 201)
        .all(|answer| answer.json["resultCode"] == "1016"));
    assert_eq!(card_balance(&switch, &token).await, 1);
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn transfers_pins_links_and_history() {
    let switch = TestSwitch::start().await;
    product(&switch, PRODUCT_EXAMPLE).await;
    customer(&switch, "1").await;
    customer(&switch, "2").await;
    let sender = active_card(&switch, "4569", "1").await;
    let recipient = active_card(&switch, "4569", "2").await;
    assert_eq!(card_money(&switch, &sender, "credit", "100", "c1", "jcard").await.status, 201);
    let transfer = format!(
        r#"{{"channel": "jcard", "amount": 40, "currency": 840, "reason": "pagoServicios", "reference": "Arreglo", "id": "AA1234", "sender": "{sender}", "recipient": "{recipient}"}}"#
    );
    let moved = switch.admin_call("POST", "/jcard/api/cards/transfers", &transfer).await;
    assert_eq!((moved.status, moved.json["itc"].clone()), (201, json!("200.40")), "{}", moved.text);
    assert_eq!(
        (card_balance(&switch, &sender).await, card_balance(&switch, &recipient).await),
        (json!(60), json!(40))
    );
    let missing = switch
        .admin_call(
            "POST",
            "/jcard/api/cards/transfers",
            r#"{"amount": 1, "currency": 840, "rrn": "x"}"#,
        )
        .await;
    assert_eq!(missing.json["error"], "missing.fields");
}

#[tokio::test]
async fn pin_blocks_are_checked_and_changed() {
    let switch = TestSwitch::start().await;
    product(&switch, PRODUCT_EXAMPLE).await;
    customer(&switch, "1").await;
    let sender = active_card(&switch, "4569", "1").await;
    assert_eq!(card_money(&switch, &sender, "credit", "100", "c1", "jcard").await.status, 201);
    let pin = r#"{"newPIN": "0412AC89EF67AB12"}"#;
    assert_eq!(
        switch.admin_call("PUT", &format!("/jcard/api/cards/{sender}/pin"), pin).await.status,
        200
    );
    assert_eq!(
        switch.admin_call("GET", &format!("/jcard/api/cards/{sender}"), "").await.json
            ["pinEnabled"],
        true
    );
    let wrong = r#"{"currency": 840, "amount": 1, "rrn": "p1", "channel": "pos", "pinblk": "FFFFFFFFFFFFFFFF", "ksn": "ABDHABHDSBDHS"}"#;
    declined(
        &switch.admin_call("POST", &format!("/jcard/api/cards/{sender}/debit"), wrong).await,
        "1017",
    );
    let right = r#"{"currency": 840, "amount": 1, "rrn": "p2", "channel": "pos", "pinblk": "0412AC89EF67AB12", "ksn": "ABDHABHDSBDHS"}"#;
    assert_eq!(
        switch.admin_call("POST", &format!("/jcard/api/cards/{sender}/debit"), right).await.status,
        201
    );
    // A retry must prove the PIN again: a wrong block never reads back the approval.
    let wrong_retry = right.replace("0412AC89EF67AB12", "FFFFFFFFFFFFFFFF");
    let retried =
        switch.admin_call("POST", &format!("/jcard/api/cards/{sender}/debit"), &wrong_retry).await;
    assert_eq!((retried.status, retried.json["resultCode"].clone()), (422, json!("1017")));
    let retried =
        switch.admin_call("POST", &format!("/jcard/api/cards/{sender}/debit"), right).await;
    assert_eq!((retried.status, retried.json["replayed"].clone()), (201, json!(true)));
    let bad_old = r#"{"newPIN": "1111222233334444", "oldPIN": "9999888877776666"}"#;
    assert_eq!(
        switch.admin_call("PUT", &format!("/jcard/api/cards/{sender}/pin"), bad_old).await.json
            ["resultCode"],
        "1017"
    );
}

#[tokio::test]
async fn a_card_moves_to_another_account_and_cardholder() {
    let switch = TestSwitch::start().await;
    product(&switch, PRODUCT_EXAMPLE).await;
    customer(&switch, "1").await;
    customer(&switch, "2").await;
    let sender = active_card(&switch, "4569", "1").await;
    let recipient = active_card(&switch, "4569", "2").await;
    assert_eq!(card_money(&switch, &recipient, "credit", "40", "c2", "jcard").await.status, 201);
    let account = r#"{"accountCode": "21.2.00"}"#;
    assert_eq!(
        switch
            .admin_call("PUT", &format!("/jcard/api/cards/{sender}/account"), account)
            .await
            .status,
        200
    );
    assert_eq!(
        card_balance(&switch, &sender).await,
        40,
        "the card now draws on customer 2's account"
    );
    assert_eq!(
        switch
            .admin_call(
                "PUT",
                &format!("/jcard/api/cards/{sender}/account"),
                r#"{"accountCode": "21"}"#
            )
            .await
            .status,
        400
    );
    let holder = r#"{"cardholderRealId": "2"}"#;
    assert_eq!(
        switch
            .admin_call("PUT", &format!("/jcard/api/cards/{sender}/cardholder"), holder)
            .await
            .status,
        200
    );
    let listed = switch.admin_call("GET", "/jcard/api/customers/2/cards", "").await;
    assert_eq!(listed.json["info"]["cards"].as_array().unwrap().len(), 2);
    assert_eq!(
        switch.admin_call("GET", "/jcard/api/customers/1/cards", "").await.json["info"]["cards"],
        json!([])
    );
    // A card on its holder's own account moves to the new holder's own account with it.
    let back = r#"{"cardholderRealId": "1"}"#;
    assert_eq!(
        switch
            .admin_call("PUT", &format!("/jcard/api/cards/{recipient}/cardholder"), back)
            .await
            .status,
        200
    );
    assert_eq!(
        card_balance(&switch, &recipient).await,
        0,
        "customer 1's own account holds nothing"
    );
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn cards_draw_only_on_customer_or_wallet_accounts() {
    let switch = TestSwitch::start().await;
    product(&switch, PRODUCT_EXAMPLE).await;
    customer(&switch, "1").await;
    let sender = active_card(&switch, "4569", "1").await;
    // Cards draw on customers' or wallets' accounts only, never the switch's own.
    for code in ["12.001.00", "11.001.00", "31.001.00"] {
        let body = format!(r#"{{"accountCode": "{code}"}}"#);
        let reply =
            switch.admin_call("PUT", &format!("/jcard/api/cards/{sender}/account"), &body).await;
        assert_eq!(
            (reply.status, reply.json["error"].clone()),
            (400, json!("invalid.account")),
            "{code}"
        );
    }
    let issued = r#"{"cardHolder": "1", "cardProduct": "4569", "accountCode": "12.001.00", "bin": "455566", "expiration": "203001", "serviceCode": "101"}"#;
    assert_eq!(switch.admin_call("POST", "/jcard/api/cards", issued).await.status, 400);
    let wallet = r#"{"code": "w1"}"#;
    assert_eq!(switch.admin_call("POST", "/jcard/api/wallets", wallet).await.status, 201);
    let body = r#"{"accountCode": "23.w1"}"#;
    assert_eq!(
        switch.admin_call("PUT", &format!("/jcard/api/cards/{sender}/account"), body).await.status,
        200
    );
}

#[tokio::test]
async fn a_cards_history_filters_by_irc_currency_itc_order_and_offset() {
    let switch = TestSwitch::start().await;
    product(&switch, PRODUCT_EXAMPLE).await;
    customer(&switch, "1").await;
    customer(&switch, "2").await;
    let sender = active_card(&switch, "4569", "1").await;
    let recipient = active_card(&switch, "4569", "2").await;
    assert_eq!(card_money(&switch, &sender, "credit", "100", "c1", "jcard").await.status, 201);
    let transfer = format!(
        r#"{{"amount": 40, "currency": 840, "rrn": "t1", "sender": "{sender}", "recipient": "{recipient}"}}"#
    );
    assert_eq!(
        switch.admin_call("POST", "/jcard/api/cards/transfers", &transfer).await.status,
        201
    );
    declined(&card_money(&switch, &recipient, "debit", "1000", "big", "pos").await, "1016");
    let history = |query: &str| {
        let path = format!("/jcard/api/cards/{recipient}/transactions?{query}");
        let switch = &switch;
        async move { switch.admin_call("GET", &path, "").await }
    };
    let approved = history("length=10").await;
    assert_eq!(
        approved.json["transactions"].as_array().unwrap().len(),
        1,
        "irc defaults to 0000: {}",
        approved.text
    );
    let all = history("irc=0000,1016&order=asc&balance=true").await;
    let records = all.json["transactions"].as_array().unwrap().clone();
    assert_eq!(
        records.iter().map(|record| record["irc"].clone()).collect::<Vec<_>>(),
        vec![json!("0000"), json!("1016")]
    );
    assert_eq!(all.json["balance"]["balance"], 40);
    assert_eq!(history("irc=0000,1016&offset=1").await.json["transactions"][0]["irc"], "0000");
    assert_eq!(history("currency=858").await.json["transactions"], json!([]));
    assert_eq!(history("itc=200.40").await.json["transactions"].as_array().unwrap().len(), 1);
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn the_test_pan_and_pin_never_reach_the_data_directory() {
    let switch = TestSwitch::start().await;
    product(&switch, PRODUCT_EXAMPLE).await;
    customer(&switch, "1").await;
    let pan = "4555660000000002";
    let body = format!(
        r#"{{"cardHolder": "1", "cardProduct": "4569", "pan": "{pan}", "expiration": "203001", "serviceCode": "101"}}"#
    );
    let token = switch.admin_call("POST", "/jcard/api/cards", &body).await.json["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let pin_block = "9876ABCD5432EF01";
    assert_eq!(
        switch
            .admin_call(
                "PUT",
                &format!("/jcard/api/cards/{token}/pin"),
                &format!(r#"{{"newPIN": "{pin_block}"}}"#)
            )
            .await
            .status,
        200
    );
    assert_eq!(
        switch.admin_call("PUT", &format!("/jcard/api/cards/{token}/activate"), "").await.status,
        200
    );
    assert_eq!(card_money(&switch, &token, "credit", "10", "c1", "jcard").await.status, 201);
    let debit = format!(
        r#"{{"currency": 840, "amount": 1, "rrn": "d1", "channel": "pos", "pinblk": "{pin_block}", "ksn": "K"}}"#
    );
    assert_eq!(
        switch.admin_call("POST", &format!("/jcard/api/cards/{token}/debit"), &debit).await.status,
        201
    );
    let dir = switch.stop().await;
    for needle in [pan, pin_block] {
        let found: Vec<_> = files(dir.path())
            .into_iter()
            .filter(|file| {
                std::fs::read(file)
                    .unwrap()
                    .windows(needle.len())
                    .any(|window| window == needle.as_bytes())
            })
            .collect();
        assert!(found.is_empty(), "{needle} is on disk in {found:?}");
    }
}

fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[tokio::test]
async fn a_fraud_or_expired_state_declines_with_its_own_code() {
    let switch = TestSwitch::start().await;
    product(&switch, PRODUCT_EXAMPLE).await;
    customer(&switch, "1").await;
    for (state, code) in
        [("fraud", "1002"), ("expired", "1001"), ("stolen", "1032"), ("debt", "1806")]
    {
        let token = active_card(&switch, "4569", "1").await;
        assert_eq!(
            card_money(&switch, &token, "credit", "10", &format!("c{state}"), "jcard").await.status,
            201
        );
        let body = format!(r#"{{"cardState": "{state}"}}"#);
        assert_eq!(
            switch
                .admin_call("PUT", &format!("/jcard/api/cards/{token}/status"), &body)
                .await
                .status,
            200
        );
        declined(
            &card_money(&switch, &token, "debit", "1", &format!("d{state}"), "pos").await,
            code,
        );
    }
    switch.assert_ledger_balances();
}
