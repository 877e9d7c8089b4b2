//! Wallets over signed HTTP: the document's example bodies, fees and `amountWithFees`, dry
//! runs that post nothing, every decline leaving balances untouched, RRN idempotency (also
//! under concurrent retries), mini statements, detail and the tranlog list.

use serde_json::json;

use crate::support::TestSwitch;

const CREDIT_EXAMPLE: &str = r#"{
  "amount": 200,
  "currency": "840",
  "description": "credit 10",
  "rrn": "548715406820",
  "type": "cashInA2W",
  "realId": "111111111",
  "geoLocation": {
    "latitude": -33,
    "longitude": 54.233023
  }
}"#;

/// The document's debit example, missing comma included, on layers 600 and 3600.
const DEBIT_EXAMPLE: &str = r#"{
    "amount" :10.00,
    "currency" : "600,3600",
    "description":  "debit 10",
    "rrn" : "561408221870",
    "financialEntityData" :  {
        "entityId" :  "12232111",
        "entityCustomerAccount" :  "12232323"
    },
    "realId" : "11111111",
    "birthDate" : "1990-04-31"
    "type" : "creditBankAccountW2A"
}"#;

const TRANSFER_EXAMPLE: &str = r#"{
    "amount" : 10.00,
    "currency" : "840",
    "description" : "A description",
    "rrn" : "1234abc",
    "realId" : "111111111"
    "geoLocation" : {
        "latitude" : 34.8836,
        "longitude" :  56.1819
    },
    "pin": "PIN",
    "type" : "P2PRemittances"
}"#;

#[tokio::test]
async fn the_documents_wallet_examples_move_money() {
    let switch = TestSwitch::start().await;
    let created =
        switch.admin_call("POST", "/jcard/api/wallets", r#"{"code": "1234567891"}"#).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json["pin"].as_str().unwrap().len(), 6);
    let pin = switch.open_wallet("1458743035773").await;

    let credit = switch
        .admin_call("POST", "/jcard/api/wallets/1458743035773/credit?dryRun=", CREDIT_EXAMPLE)
        .await;
    assert_eq!(credit.status, 200, "{}", credit.text);
    assert_eq!(
        (credit.json["success"].clone(), credit.json["amountWithFees"].clone()),
        (json!(true), json!(200))
    );
    assert_eq!(credit.json["fees"], json!([]));
    assert_eq!(switch.wallet_balance("1458743035773").await, "200.00");

    let transfer = TRANSFER_EXAMPLE.replace("PIN", &pin);
    let path = "/jcard/api/wallets/1458743035773/transfer?dryRun=/1234567891";
    let moved = switch.admin_call("POST", path, &transfer).await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    assert_eq!(switch.wallet_balance("1458743035773").await, "190.00");
    assert_eq!(switch.wallet_balance("1234567891").await, "10.00");

    // The debit example posts on layer 600 (PYG) and counts 600 and 3600: empty there.
    let debit =
        switch.admin_call("POST", "/jcard/api/wallets/1458743035773/debit", DEBIT_EXAMPLE).await;
    assert_eq!((debit.status, debit.json["error"].clone()), (422, json!("insufficient.funds")));
    assert_eq!(debit.json["resultCode"], "1016");
    let pyg = r#"{"amount": 50, "currency": "600", "rrn": "pyg1", "type": "cashInA2W"}"#;
    assert_eq!(
        switch.admin_call("POST", "/jcard/api/wallets/1458743035773/credit", pyg).await.status,
        200
    );
    // The same RRN would get the stored decline again: a new attempt takes a new RRN.
    let retry =
        switch.admin_call("POST", "/jcard/api/wallets/1458743035773/debit", DEBIT_EXAMPLE).await;
    assert_eq!(retry.json["error"], "insufficient.funds");
    let new_attempt = DEBIT_EXAMPLE.replace("561408221870", "561408221871");
    let debit =
        switch.admin_call("POST", "/jcard/api/wallets/1458743035773/debit", &new_attempt).await;
    assert_eq!(debit.status, 200, "{}", debit.text);
    let pyg_balance = "/jcard/api/wallets/1458743035773/balance?layers=600,3600";
    assert_eq!(switch.admin_call("GET", pyg_balance, "").await.json["balance"], "40.00");
    assert_eq!(switch.wallet_balance("1458743035773").await, "190.00");
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn fees_are_charged_to_the_payer_and_dry_runs_post_nothing() {
    let switch = TestSwitch::start().await;
    switch.set_sysconfig("fee.cashAdvance.flat.840", "10").await;
    switch.set_sysconfig("fee.creditBankAccountW2A.flat.840", "1.50").await;
    switch.set_sysconfig("fee.creditBankAccountW2A.pct.840", "2").await;
    switch.open_wallet("w1").await;
    let credit = switch.move_money("w1/credit", "200", "c1", "cashAdvance").await;
    assert_eq!(credit.json["amountWithFees"], 190);
    assert_eq!(
        credit.json["fees"],
        json!([{"amount": 10, "type": "cashAdvance.flat.840", "account": "31.001.00"}])
    );
    assert_eq!(switch.wallet_balance("w1").await, "190.00");

    let dry = switch.move_money("w1/debit?dryRun=true", "100", "d1", "creditBankAccountW2A").await;
    assert_eq!(dry.status, 200, "{}", dry.text);
    assert_eq!(
        (dry.json["amountWithFees"].to_string(), dry.json["dryRun"].clone()),
        ("103.5".to_owned(), json!(true))
    );
    assert_eq!(dry.json["approvalNumber"], json!(null));
    assert_eq!(switch.wallet_balance("w1").await, "190.00", "a dry run moves nothing");
    let too_much =
        switch.move_money("w1/debit?dryRun=yes", "185", "d2", "creditBankAccountW2A").await;
    assert_eq!(too_much.json["error"], "insufficient.funds", "a dry run decides everything");

    let cash_out = "/jcard/api/wallets/w1/cashOutBalance?layers=840&type=creditBankAccountW2A";
    let limit = switch.admin_call("GET", cash_out, "").await;
    assert_eq!((limit.status, limit.json["balance"].clone()), (201, json!("184.80")));
    let debit = switch.move_money("w1/debit", "184.80", "d3", "creditBankAccountW2A").await;
    assert_eq!(debit.status, 200, "{}", debit.text);
    assert_eq!(switch.wallet_balance("w1").await, "0.00");
    let fees = "/jcard/api/gl/journals/jcard/accounts/31.001.00/balance?layers=840";
    assert_eq!(
        switch.admin_call("GET", fees, "").await.json["response"]["balance"].to_string(),
        "15.2"
    );
    let bad_fee = r#"{"id":"fee.x.flat.840","value":"ten","readPerm":"","writePerm":""}"#;
    assert_eq!(
        switch.admin_call("POST", "/jcard/api/sysconfig", bad_fee).await.json["error"],
        "invalid.value"
    );
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn declines_move_nothing() {
    let switch = TestSwitch::start().await;
    switch.open_wallet("a").await;
    switch.open_wallet("b").await;
    assert_eq!(switch.move_money("a/credit", "50", "r1", "t").await.status, 200);
    let cases = [
        ("a/debit", "60", "r2", 422, "insufficient.funds", "1016"),
        ("a/transfer/b", "60", "r3", 422, "insufficient.funds", "1016"),
        ("nobody/credit", "1", "r4", 404, "wallet.not.found", "1014"),
        ("a/transfer/nobody", "1", "r5", 404, "wallet.not.found", "1014"),
        ("a/transfer/a", "1", "r6", 400, "invalid.destination", "1832"),
    ];
    for (path, amount, rrn, status, error, code) in cases {
        let reply = switch.move_money(path, amount, rrn, "t").await;
        assert_eq!(
            (reply.status, reply.json["error"].clone()),
            (status, json!(error)),
            "{path}: {}",
            reply.text
        );
        assert_eq!(reply.json["resultCode"], code, "{path}");
    }
    assert_eq!(switch.admin_call("PUT", "/jcard/api/wallets/a/block", "").await.status, 200);
    let blocked = switch.move_money("a/debit", "1", "r7", "t").await;
    assert_eq!((blocked.status, blocked.json["error"].clone()), (422, json!("wallet.blocked")));
    assert_eq!(
        switch.move_money("b/transfer/a", "1", "r8", "t").await.json["error"],
        "wallet.blocked"
    );
    assert_eq!(switch.admin_call("PUT", "/jcard/api/wallets/a/unblock", "").await.status, 200);
    let not_empty = switch.admin_call("DELETE", "/jcard/api/wallets/a/delete", "").await;
    assert_eq!(not_empty.json["error"], "wallet.not.empty");
    assert_eq!(switch.admin_call("DELETE", "/jcard/api/wallets/b/delete", "").await.status, 200);
    assert_eq!(switch.move_money("b/credit", "1", "r9", "t").await.json["error"], "wallet.deleted");
    assert_eq!(
        switch.move_money("a/transfer/b", "1", "r10", "t").await.json["error"],
        "wallet.deleted"
    );
    assert_eq!(
        switch.admin_call("PUT", "/jcard/api/wallets/b/unblock", "").await.json["error"],
        "wallet.deleted"
    );
    assert_eq!(switch.wallet_balance("a").await, "50.00");
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn bodies_that_break_the_schema_change_nothing() {
    let switch = TestSwitch::start().await;
    switch.open_wallet("a").await;
    let cases = [
        (r#"{"amount": 1, "currency": "840", "type": "t"}"#, "missing.fields"),
        (
            r#"{"amount": 1, "currency": "840", "rrn": "x", "type": "t", "colour": "red"}"#,
            "extra.fields",
        ),
        (r#"{"amount": "1", "currency": "840", "rrn": "x", "type": "t"}"#, "invalid.request"),
        (r#"{"amount": -1, "currency": "840", "rrn": "x", "type": "t"}"#, "invalid.amount"),
        (r#"{"amount": 1.00001, "currency": "840", "rrn": "x", "type": "t"}"#, "invalid.amount"),
        (r#"{"amount": 1, "currency": "usd", "rrn": "x", "type": "t"}"#, "invalid.currency"),
        (r#"{"amount": 1, "currency": "840", "rrn": "thirteen-char", "type": "t"}"#, "invalid.rrn"),
        (
            r#"{"amount": 1, "currency": "840", "rrn": "x", "type": "t", "geoLocation": {"latitude": 1}}"#,
            "missing.fields",
        ),
        (
            r#"{"amount": 1, "currency": "840", "rrn": "x", "type": "t", "pin": "1234"}"#,
            "extra.fields",
        ),
    ];
    for (body, error) in cases {
        let reply = switch.admin_call("POST", "/jcard/api/wallets/a/credit", body).await;
        assert_eq!(
            (reply.status, reply.json["error"].clone()),
            (400, json!(error)),
            "{body}: {}",
            reply.text
        );
    }
    let bad_code = switch.admin_call("POST", "/jcard/api/wallets", r#"{"code": "-no"}"#).await;
    assert_eq!(bad_code.json["error"], "invalid.walletCode");
    let flag = switch.move_money("a/credit?dryRun=perhaps", "1", "x", "t").await;
    assert_eq!(flag.status, 400);
    assert_eq!(switch.wallet_balance("a").await, "0.00");
    let report = switch.core().audit().unwrap();
    assert_eq!(report.transactions, 0);
}

#[tokio::test]
async fn a_retried_rrn_gets_the_same_answer_and_moves_money_once() {
    let switch = TestSwitch::start().await;
    switch.open_wallet("a").await;
    let first = switch.move_money("a/credit", "25", "retry1", "t").await;
    let again = switch.move_money("a/credit", "25", "retry1", "t").await;
    assert_eq!((first.status, again.status), (200, 200));
    assert_eq!(again.json["replayed"], true);
    assert_eq!(again.json["approvalNumber"], first.json["approvalNumber"]);
    let different = switch.move_money("a/credit", "26", "retry1", "t").await;
    assert_eq!((different.status, different.json["error"].clone()), (409, json!("duplicate.rrn")));
    assert_eq!(different.json["resultCode"], "1822");
    // A declined request is answered the same way on retry, even once funds arrived.
    let declined = switch.move_money("a/debit", "100", "retry2", "t").await;
    assert_eq!(declined.json["error"], "insufficient.funds");
    assert_eq!(switch.move_money("a/credit", "100", "retry3", "t").await.status, 200);
    assert_eq!(
        switch.move_money("a/debit", "100", "retry2", "t").await.json["error"],
        "insufficient.funds"
    );
    assert_eq!(switch.wallet_balance("a").await, "125.00");

    let retries: Vec<_> =
        (0..32).map(|_| switch.move_money("a/debit", "10", "concurrent1", "t")).collect();
    let answers = futures::future::join_all(retries).await;
    assert!(answers.iter().all(|answer| answer.status == 200), "every retry is answered");
    assert_eq!(answers.iter().filter(|answer| answer.json["replayed"] == false).count(), 1);
    assert_eq!(switch.wallet_balance("a").await, "115.00");
    let switch = switch.restart().await;
    assert_eq!(switch.move_money("a/debit", "10", "concurrent1", "t").await.json["replayed"], true);
    assert_eq!(switch.wallet_balance("a").await, "115.00");
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn concurrent_debits_never_overdraw() {
    let switch = TestSwitch::start().await;
    switch.open_wallet("a").await;
    assert_eq!(switch.move_money("a/credit", "100", "fund", "t").await.status, 200);
    let rrns: Vec<String> = (0..40).map(|n| format!("od{n}")).collect();
    let debits: Vec<_> =
        rrns.iter().map(|rrn| switch.move_money("a/debit", "7", rrn, "t")).collect();
    let answers = futures::future::join_all(debits).await;
    let approved = answers.iter().filter(|answer| answer.status == 200).count();
    assert_eq!(approved, 14, "100 / 7 = 14 debits fit");
    assert!(answers
        .iter()
        .filter(|answer| answer.status != 200)
        .all(|answer| answer.json["error"] == "insufficient.funds"));
    assert_eq!(switch.wallet_balance("a").await, "2.00");
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn statements_detail_and_tranlog_describe_the_history() {
    let switch = TestSwitch::start().await;
    switch.open_wallet("a").await;
    switch.open_wallet("b").await;
    let credit = CREDIT_EXAMPLE.replace("548715406820", "s1");
    assert_eq!(switch.admin_call("POST", "/jcard/api/wallets/a/credit", &credit).await.status, 200);
    assert_eq!(switch.move_money("a/debit", "10", "s2", "creditBankAccountW2A").await.status, 200);
    assert_eq!(switch.move_money("a/transfer/b", "10", "s3", "cashIn").await.status, 200);

    let mini = switch.admin_call("GET", "/jcard/api/wallets/a/statement?layers=840,1840", "").await;
    let statement = &mini.json["walletStatement"];
    assert_eq!(
        (statement["accountCode"].clone(), statement["description"].clone()),
        (json!("23.a"), json!("Wallet: a"))
    );
    assert_eq!(
        (
            statement["credits"].clone(),
            statement["debits"].clone(),
            statement["finalBalance"].clone()
        ),
        (json!(200), json!(20), json!(180))
    );
    let entries = statement["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(
        (entries[0]["rrn"].clone(), entries[0]["wallet2"].clone(), entries[0]["balance"].clone()),
        (json!("s3"), json!("b"), json!(180))
    );
    assert_eq!(
        (entries[2]["credit"].clone(), entries[2]["tags"].clone()),
        (json!(200), json!("cashInA2W"))
    );
    assert_eq!(entries[2]["geoLocation"], json!({"latitude": -33, "longitude": 54.233023}));
    let short =
        switch.admin_call("GET", "/jcard/api/wallets/a/statement?layers=840&length=1", "").await;
    assert_eq!(short.json["walletStatement"]["entries"].as_array().unwrap().len(), 1);
    assert_eq!(short.json["walletStatement"]["initialBalance"], 190);

    let detail =
        switch.admin_call("GET", "/jcard/api/wallets/a/detail?layers=840&order=desc", "").await;
    let detail = &detail.json["walletDetail"];
    assert_eq!(detail["start"], "Sun Feb 01 00:00:00 UTC 1970");
    assert_eq!(detail["entries"][0]["rrn"], "s3");
    let ascending = switch.admin_call("GET", "/jcard/api/wallets/a/detail?layers=840", "").await;
    assert_eq!(ascending.json["walletDetail"]["entries"][0]["rrn"], "s1");

    let list = switch.admin_call("GET", "/jcard/api/wallets/a/transactions?length=10", "").await;
    let tranlogs = list.json["transactions"]["tranlogs"].as_array().unwrap().clone();
    assert_eq!(
        tranlogs.iter().map(|record| record["rrn"].clone()).collect::<Vec<_>>(),
        vec![json!("s3"), json!("s2"), json!("s1")]
    );
    assert_eq!(
        (tranlogs[2]["itc"].clone(), tranlogs[2]["irc"].clone()),
        (json!("wcredit"), json!("0000"))
    );
    assert_eq!(tranlogs[2]["additionalData"]["jsonRequest"]["realId"], "111111111");
    assert_eq!(tranlogs[0]["wallet2"], "b");
    let filtered = switch
        .admin_call("GET", "/jcard/api/wallets/a/transactions?itc=wdebit,wcredit&asc=true", "")
        .await;
    let filtered = filtered.json["transactions"]["tranlogs"].as_array().unwrap().clone();
    assert_eq!(
        filtered.iter().map(|record| record["itc"].clone()).collect::<Vec<_>>(),
        vec![json!("wcredit"), json!("wdebit")]
    );
    let received = switch.admin_call("GET", "/jcard/api/wallets/b/transactions", "").await;
    assert_eq!(received.json["transactions"]["tranlogs"].as_array().unwrap().len(), 1);
    let missing = switch.admin_call("GET", "/jcard/api/wallets/a/statement", "").await;
    assert_eq!((missing.status, missing.json["error"].clone()), (400, json!("missing.fields")));
    switch.assert_ledger_balances();
}
