//! Customers (with and without a wallet), their balances, wallets linked to them, agents, and
//! logins: PIN checks, the lock after wrong PINs, and a login consumer confined to its wallet.

use serde_json::json;

use crate::support::{Credentials, TestSwitch};

const CUSTOMER_EXAMPLE: &str = r#"{
  "realId": "1438713781889",
  "active": true,
  "startDate": "2014-12-25",
  "endDate": "2016-12-25",
  "firstName": "Jane",
  "lastName": "Doe",
  "lastName2": "Foo",
  "email": "jane@janedoe.com",
  "address1": "Jane St. 1234",
  "city": "Janeopolis",
  "zip": "11222",
  "state": "JN",
  "country": "Jane",
  "birthDate": "1992-12-11",
  "phone": "123456789",
  "institutionId": "0000000001"
}"#;

#[tokio::test]
async fn the_documents_customer_examples_work() {
    let switch = TestSwitch::start().await;
    let created =
        switch.admin_call("POST", "/jcard/api/customers?createWallet=y", CUSTOMER_EXAMPLE).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json["pin"].as_str().unwrap().len(), 6);
    let duplicate = switch.admin_call("POST", "/jcard/api/customers", CUSTOMER_EXAMPLE).await;
    assert_eq!((duplicate.status, duplicate.json["error"].clone()), (409, json!("already.exists")));
    let updated = switch
        .admin_call(
            "PUT",
            "/jcard/api/customers",
            r#"{"realId": "1438713781889", "firstName": "Modified Jane"}"#,
        )
        .await;
    assert_eq!(updated.status, 201, "{}", updated.text);
    let got = switch.admin_call("GET", "/jcard/api/customers/1438713781889", "").await;
    let customer = &got.json["customer"];
    assert_eq!(
        (
            customer["firstName"].clone(),
            customer["lastName2"].clone(),
            customer["middleName"].clone()
        ),
        (json!("Modified Jane"), json!("Foo"), json!(null))
    );
    assert_eq!(
        (customer["phone"].clone(), customer["active"].clone()),
        (json!("123456789"), json!(true))
    );

    // The wallet took the phone number as its code and belongs to the customer.
    let owner = switch.admin_call("GET", "/jcard/api/wallets/123456789/type", "").await;
    assert_eq!(owner.json["wallet"], json!({"type": "customer", "id": "1438713781889"}));
    assert_eq!(switch.move_money("123456789/credit", "12.5", "c1", "in").await.status, 200);
    let balances = switch.admin_call("GET", "/jcard/api/customers/1438713781889/balance", "").await;
    assert_eq!(balances.status, 201);
    let codes: Vec<_> = balances.json["balances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| (line["accountCode"].clone(), line["balance"].to_string()))
        .collect();
    assert_eq!(
        codes,
        vec![
            (json!("21.1438713781889.00"), "0".to_owned()),
            (json!("23.123456789"), "12.5".to_owned())
        ]
    );
    let wallet_customer =
        switch.admin_call("GET", "/jcard/api/wallets/123456789/customer", "").await;
    assert_eq!(wallet_customer.json["customer"]["realId"], "1438713781889");
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn customer_bodies_follow_the_schema() {
    let switch = TestSwitch::start().await;
    let cases = [
        (
            r#"{"realId": "1", "firstName": "A", "lastName": "B", "institutionId": "1"}"#,
            "missing.fields",
        ),
        (
            r#"{"realId": "1", "firstName": "A", "institutionId": "1", "phone": "1"}"#,
            "missing.fields",
        ),
        (
            r#"{"realId": "1", "firstName": "A", "lastName": "B", "institutionId": "1", "phone": "1", "nickname": "x"}"#,
            "extra.fields",
        ),
        (
            r#"{"realId": "1", "firstName": "A", "lastName": "B", "institutionId": "1", "phone": "1", "gender": "x"}"#,
            "invalid.request",
        ),
        (
            r#"{"realId": "1", "firstName": "A", "lastName": "B", "institutionId": "1", "walletCode": "-x"}"#,
            "invalid.walletCode",
        ),
        (
            r#"{"realId": "1", "firstName": "A", "lastName": "B", "institutionId": "1", "phone": "1", "currencyCodes": [1840]}"#,
            "invalid.request",
        ),
    ];
    for (body, error) in cases {
        let reply = switch.admin_call("POST", "/jcard/api/customers", body).await;
        assert_eq!(
            (reply.status, reply.json["error"].clone()),
            (400, json!(error)),
            "{body}: {}",
            reply.text
        );
    }
    let flag =
        switch.admin_call("POST", "/jcard/api/customers?createWallet=sure", CUSTOMER_EXAMPLE).await;
    assert_eq!(flag.status, 400);
    let with_code = r#"{"realId": "2", "firstName": "A", "lastName": "B", "institutionId": "1", "walletCode": "w-2", "currencyCodes": [840, 600]}"#;
    let created = switch.admin_call("POST", "/jcard/api/customers?wallet=true", with_code).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(
        switch.admin_call("GET", "/jcard/api/customers/2/balance", "").await.json["balances"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let update_extra = switch
        .admin_call("PUT", "/jcard/api/customers", r#"{"realId": "2", "walletCode": "x"}"#)
        .await;
    assert_eq!(update_extra.json["error"], "extra.fields");
    let unknown = switch
        .admin_call("PUT", "/jcard/api/customers", r#"{"realId": "404", "firstName": "x"}"#)
        .await;
    assert_eq!((unknown.status, unknown.json["error"].clone()), (404, json!("customer.not.found")));
    assert_eq!(switch.admin_call("GET", "/jcard/api/customers/404", "").await.status, 404);
    assert_eq!(switch.core().audit().unwrap().transactions, 0);
}

#[tokio::test]
async fn wallets_link_to_one_customer() {
    let switch = TestSwitch::start().await;
    let plain = r#"{"realId": "1111", "firstName": "A", "lastName": "B", "institutionId": "1", "phone": "5"}"#;
    assert_eq!(switch.admin_call("POST", "/jcard/api/customers", plain).await.status, 201);
    let other = plain.replace("1111", "2222");
    assert_eq!(switch.admin_call("POST", "/jcard/api/customers", &other).await.status, 201);
    switch.open_wallet("w").await;
    assert_eq!(
        switch.admin_call("GET", "/jcard/api/wallets/w/customer", "").await.json["error"],
        "wallet.not.linked"
    );
    let update = r#"{"realId": "1111", "firstName": "Modified"}"#;
    assert_eq!(
        switch.admin_call("PUT", "/jcard/api/wallets/w/customer", update).await.json["error"],
        "wallet.not.linked"
    );
    assert_eq!(
        switch.admin_call("GET", "/jcard/api/wallets/w/type", "").await.json["wallet"]["type"],
        "none"
    );
    assert_eq!(
        switch.admin_call("PUT", "/jcard/api/wallets/w/link", r#"{"realId": "1111"}"#).await.status,
        201
    );
    assert_eq!(
        switch.admin_call("PUT", "/jcard/api/wallets/w/link", r#"{"realId": "1111"}"#).await.status,
        201
    );
    let elsewhere =
        switch.admin_call("PUT", "/jcard/api/wallets/w/link", r#"{"realId": "2222"}"#).await;
    assert_eq!((elsewhere.status, elsewhere.json["error"].clone()), (409, json!("wallet.linked")));
    assert_eq!(
        switch.admin_call("PUT", "/jcard/api/wallets/w/link", r#"{"realId": "9"}"#).await.status,
        404
    );
    assert_eq!(switch.admin_call("PUT", "/jcard/api/wallets/w/customer", update).await.status, 201);
    let mismatch = r#"{"realId": "2222", "firstName": "X"}"#;
    assert_eq!(
        switch.admin_call("PUT", "/jcard/api/wallets/w/customer", mismatch).await.json["error"],
        "customer.mismatch"
    );
    assert_eq!(
        switch.admin_call("GET", "/jcard/api/customers/1111", "").await.json["customer"]
            ["firstName"],
        "Modified"
    );
}

#[tokio::test]
async fn agents_are_created_and_updated() {
    let switch = TestSwitch::start().await;
    let example =
        r#"{"name": "TestAgent", "phone": "2232323232", "type": "PDV", "account": "11.11111"}"#;
    let created = switch.admin_call("POST", "/jcard/api/agents?wallet=true", example).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let agent_id = created.json["agentId"].as_u64().unwrap();
    assert!(created.json["walletId"].as_u64().is_some());
    let owner = switch.admin_call("GET", "/jcard/api/wallets/2232323232/type", "").await;
    assert_eq!(owner.json["wallet"], json!({"type": "agent", "id": agent_id.to_string()}));
    let child = format!(r#"{{"name": "Child", "phone": "1", "parentId": {agent_id}}}"#);
    let child = switch.admin_call("POST", "/jcard/api/agents", &child).await;
    assert_eq!((child.status, child.json.get("walletId")), (201, None));
    let renamed = switch
        .admin_call("PUT", &format!("/jcard/api/agents/{agent_id}"), r#"{"name": "new name"}"#)
        .await;
    assert_eq!(renamed.status, 201);
    let cases = [
        ("POST", "/jcard/api/agents".to_owned(), r#"{"name": "x"}"#, 400),
        (
            "POST",
            "/jcard/api/agents".to_owned(),
            r#"{"name": "x", "phone": "2", "parentId": 999}"#,
            400,
        ),
        ("POST", "/jcard/api/agents?wallet=yes".to_owned(), example, 409),
        ("PUT", format!("/jcard/api/agents/{agent_id}"), r#"{"phone": "3"}"#, 400),
        ("PUT", "/jcard/api/agents/999".to_owned(), r#"{"name": "x"}"#, 404),
        ("PUT", "/jcard/api/agents/abc".to_owned(), r#"{"name": "x"}"#, 400),
    ];
    for (method, path, body, status) in cases {
        assert_eq!(
            switch.admin_call(method, &path, body).await.status,
            status,
            "{method} {path} {body}"
        );
    }
}

#[tokio::test]
async fn a_login_consumer_acts_on_its_own_wallet_only() {
    let switch = TestSwitch::start().await;
    let pin = switch.open_wallet("123456789").await;
    switch.open_wallet("other").await;
    assert_eq!(switch.move_money("123456789/credit", "50", "c1", "in").await.status, 200);
    assert_eq!(switch.move_money("other/credit", "50", "c2", "in").await.status, 200);
    let body = format!(
        r#"{{"wallet": "123456789", "pin": "{pin}", "geoLocation": {{"latitude": 33.1234, "longitude": 56.1111}}}}"#
    );
    let login = switch.admin_call("POST", "/jcard/api/login", &body).await;
    assert_eq!(login.status, 201, "{}", login.text);
    let secret = login.json["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 64);
    use base64::Engine as _;
    let session = Credentials {
        id: login.json["consumer"].as_str().unwrap().parse().unwrap(),
        key: base64::engine::general_purpose::STANDARD.decode(secret).unwrap(),
    };
    assert_eq!(
        switch
            .call(&session, "GET", "/jcard/api/wallets/123456789/balance?layers=840", "")
            .await
            .status,
        201
    );
    let transfer = r#"{"amount": 5, "currency": "840", "rrn": "p1", "type": "p2p"}"#;
    assert_eq!(
        switch
            .call(&session, "POST", "/jcard/api/wallets/123456789/transfer/other", transfer)
            .await
            .status,
        200
    );
    let refused = [
        ("GET", "/jcard/api/wallets/other/balance?layers=840", ""),
        (
            "POST",
            "/jcard/api/wallets/other/transfer/123456789",
            r#"{"amount": 5, "currency": "840", "rrn": "p2", "type": "p2p"}"#,
        ),
        (
            "POST",
            "/jcard/api/wallets/123456789/credit",
            r#"{"amount": 5, "currency": "840", "rrn": "p3", "type": "x"}"#,
        ),
        ("GET", "/jcard/api/gl/journals/jcard/accounts/23.other/balance", ""),
        ("GET", "/jcard/api/customers/1", ""),
    ];
    for (method, path, body) in refused {
        let reply = switch.call(&session, method, path, body).await;
        assert_eq!(
            (reply.status, reply.json["error"].clone()),
            (403, json!("invalid.permissions")),
            "{method} {path}"
        );
    }
    assert_eq!(switch.wallet_balance("other").await, "55.00");
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn wrong_pins_lock_logins_and_a_new_pin_works() {
    let switch = TestSwitch::start_with(|config| config.wallets.pin_attempts_max = 3).await;
    let pin = switch.open_wallet("w").await;
    let login = |pin: String| async move { format!(r#"{{"wallet": "w", "pin": "{pin}"}}"#) };
    for _ in 0..2 {
        let wrong =
            switch.admin_call("POST", "/jcard/api/login", &login("0000000".to_owned()).await).await;
        assert_eq!(
            (wrong.status, wrong.json["error"].clone(), wrong.json["resultCode"].clone()),
            (422, json!("invalid.pin"), json!("1017"))
        );
    }
    assert_eq!(
        switch.admin_call("POST", "/jcard/api/login", &login(pin.clone()).await).await.status,
        201,
        "two misses do not lock"
    );
    for _ in 0..3 {
        switch.admin_call("POST", "/jcard/api/login", &login("0000000".to_owned()).await).await;
    }
    let locked = switch.admin_call("POST", "/jcard/api/login", &login(pin.clone()).await).await;
    assert_eq!((locked.status, locked.json["error"].clone()), (423, json!("wallet.locked")));
    let switch = switch.restart().await;
    assert_eq!(
        switch.admin_call("POST", "/jcard/api/login", &login(pin).await).await.status,
        423,
        "the lock is durable"
    );
    assert_eq!(
        switch
            .admin_call("PUT", "/jcard/api/wallets/w/changepin", r#"{"pin": "143871378"}"#)
            .await
            .status,
        200
    );
    assert_eq!(
        switch
            .admin_call("POST", "/jcard/api/login", &login("143871378".to_owned()).await)
            .await
            .status,
        201
    );
    let short =
        switch.admin_call("PUT", "/jcard/api/wallets/w/changepin", r#"{"pin": "12"}"#).await;
    assert_eq!((short.status, short.json["error"].clone()), (400, json!("invalid.pin")));
    assert_eq!(
        switch
            .admin_call("POST", "/jcard/api/login", r#"{"wallet": "nope", "pin": "1234"}"#)
            .await
            .status,
        404
    );
    // A transfer that carries a wrong PIN is declined too.
    let wrong_pin = r#"{"amount": 1, "currency": "840", "rrn": "x1", "type": "p", "pin": "9999"}"#;
    switch.open_wallet("v").await;
    assert_eq!(
        switch.admin_call("POST", "/jcard/api/wallets/w/transfer/v", wrong_pin).await.json["error"],
        "invalid.pin"
    );
}

#[tokio::test]
async fn a_right_pin_in_a_transfer_clears_the_count_its_wrong_ones_left_and_moves_the_money() {
    // A movement writes its PIN count and its record together (no savepoint undoes one
    // without the other): wrong PINs are declined and logged, and counted; the right one
    // moves the money and clears the count, so two more wrong ones do not lock the wallet.
    let switch = TestSwitch::start_with(|config| config.wallets.pin_attempts_max = 3).await;
    let pin = switch.open_wallet("w").await;
    switch.open_wallet("v").await;
    assert_eq!(switch.move_money("w/credit", "20", "c1", "in").await.status, 200);
    let transfer = |rrn: &str, pin: &str| {
        format!(
            r#"{{"amount": 2, "currency": "840", "rrn": "{rrn}", "type": "p", "pin": "{pin}"}}"#
        )
    };
    let wrong = if pin == "0000" { "1111" } else { "0000" };
    for rrn in ["r1", "r2"] {
        let reply = switch
            .admin_call("POST", "/jcard/api/wallets/w/transfer/v", &transfer(rrn, wrong))
            .await;
        assert_eq!(reply.json["error"], "invalid.pin", "{}", reply.text);
    }
    // A retry of a declined movement is answered from its record: not counted again.
    let retried =
        switch.admin_call("POST", "/jcard/api/wallets/w/transfer/v", &transfer("r1", wrong)).await;
    assert_eq!(retried.json["error"], "invalid.pin", "{}", retried.text);
    let right =
        switch.admin_call("POST", "/jcard/api/wallets/w/transfer/v", &transfer("r3", &pin)).await;
    assert_eq!(right.status, 200, "{}", right.text);
    assert_eq!(switch.wallet_balance("v").await, "2.00");
    assert_eq!(switch.wallet_balance("w").await, "18.00");
    for rrn in ["r4", "r5"] {
        let reply = switch
            .admin_call("POST", "/jcard/api/wallets/w/transfer/v", &transfer(rrn, wrong))
            .await;
        assert_eq!(reply.json["error"], "invalid.pin", "{}", reply.text);
    }
    let login = switch
        .admin_call("POST", "/jcard/api/login", &format!(r#"{{"wallet": "w", "pin": "{pin}"}}"#))
        .await;
    assert_eq!(login.status, 201, "the right PIN's transfer cleared the count: {}", login.text);
}

#[tokio::test]
async fn pins_in_movements_count_towards_the_lock_and_are_never_kept() {
    let switch = TestSwitch::start_with(|config| config.wallets.pin_attempts_max = 3).await;
    let pin = switch.open_wallet("w").await;
    switch.open_wallet("v").await;
    assert_eq!(switch.move_money("w/credit", "20", "c1", "in").await.status, 200);
    // Guessing through dry-run transfers counts like guessing at the login.
    for attempt in 0..3 {
        let body = format!(
            r#"{{"amount": 1, "currency": "840", "rrn": "g{attempt}", "type": "p", "pin": "{attempt:04}"}}"#
        );
        let reply =
            switch.admin_call("POST", "/jcard/api/wallets/w/transfer/v?dryRun=true", &body).await;
        assert_eq!(reply.json["error"], "invalid.pin", "{}", reply.text);
    }
    let login = switch
        .admin_call("POST", "/jcard/api/login", &format!(r#"{{"wallet": "w", "pin": "{pin}"}}"#))
        .await;
    assert_eq!(login.status, 423, "{}", login.text);
    let right =
        format!(r#"{{"amount": 1, "currency": "840", "rrn": "ok1", "type": "p", "pin": "{pin}"}}"#);
    assert_eq!(
        switch.admin_call("POST", "/jcard/api/wallets/w/transfer/v", &right).await.json["error"],
        "wallet.locked"
    );

    // A PIN sent with a movement is checked, then forgotten: not in the tranlog, not on disk.
    let secret_pin = "97531864";
    assert_eq!(
        switch
            .admin_call(
                "PUT",
                "/jcard/api/wallets/v/changepin",
                &format!(r#"{{"pin": "{secret_pin}"}}"#)
            )
            .await
            .status,
        200
    );
    assert_eq!(switch.move_money("v/credit", "5", "c2", "in").await.status, 200);
    let body = format!(
        r#"{{"amount": 1, "currency": "840", "rrn": "p1", "type": "p", "pin": "{secret_pin}"}}"#
    );
    assert_eq!(
        switch.admin_call("POST", "/jcard/api/wallets/v/transfer/w", &body).await.status,
        200
    );
    let listed = switch.admin_call("GET", "/jcard/api/wallets/v/transactions", "").await;
    assert!(
        !listed.text.contains(secret_pin)
            && listed.json["transactions"]["tranlogs"][0]["additionalData"]["jsonRequest"]
                .get("pin")
                .is_none()
    );
    let by_rrn = switch.admin_call("GET", "/jcard/api/transactions/p1", "").await;
    assert!(!by_rrn.text.contains(secret_pin));
    let dir = switch.stop().await;
    let mut found = Vec::new();
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        if bytes.windows(secret_pin.len()).any(|window| window == secret_pin.as_bytes()) {
            found.push(entry);
        }
    }
    assert!(found.is_empty(), "the PIN is on disk in {found:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test]
async fn a_real_id_is_kept_trimmed() {
    let switch = TestSwitch::start().await;
    let body = r#"{"realId": " 77 ", "firstName": "A", "lastName": "B", "institutionId": "1", "phone": "5"}"#;
    assert_eq!(switch.admin_call("POST", "/jcard/api/customers", body).await.status, 201);
    assert_eq!(
        switch.admin_call("GET", "/jcard/api/customers/77", "").await.json["customer"]["realId"],
        "77"
    );
    let update = r#"{"realId": "77 ", "city": "Montevideo"}"#;
    assert_eq!(switch.admin_call("PUT", "/jcard/api/customers", update).await.status, 201);
}
