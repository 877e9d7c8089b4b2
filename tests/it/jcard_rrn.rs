//! Transactions by RRN: the detail of every record with an RRN and its GL transaction, the
//! reversal (once, and not when money already moved on), and the void with its own RRN.

use cardswitch::core::history;
use cardswitch::core::tranlog::Tranlog;
use cardswitch::ledger::Transaction;
use cardswitch::store::{schema, Store};
use serde_json::json;

use crate::support::TestSwitch;

#[tokio::test]
async fn a_transaction_shows_its_records_and_gl_entries() {
    let switch = TestSwitch::start().await;
    switch.open_wallet("0901032057").await;
    let body = r#"{"amount": 100000, "currency": "3600", "description": "A description", "rrn": "108820NAN",
        "type": "internalCredit", "realId": "111111", "geoLocation": {"latitude": 34.8836, "longitude": 56.1819},
        "financialEntityData": {"entityId": "008", "entityCustomerAccount": "2101932324"}, "posAtm": "PESA"}"#;
    assert_eq!(
        switch.admin_call("POST", "/jcard/api/wallets/0901032057/credit", body).await.status,
        200
    );
    let reply = switch.admin_call("GET", "/jcard/api/transactions/108820NAN", "").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let record = &reply.json["tranlogs"][0];
    assert_eq!(
        (record["itc"].clone(), record["ssData"].clone(), record["currencyCode"].clone()),
        (json!("wcredit"), json!("internalCredit"), json!("600"))
    );
    assert_eq!(
        (record["wallet"].clone(), record["amount"].clone(), record["reversalCount"].clone()),
        (json!("0901032057"), json!(100000), json!(0))
    );
    assert_eq!(record["additionalData"]["posAtm"], "PESA");
    assert_eq!(record["additionalData"]["financialEntityData"]["entityId"], "008");
    let entries = record["transaction"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        (entries[0]["account"].clone(), entries[0]["debit"].clone(), entries[0]["layer"].clone()),
        (json!("11.001.00"), json!(100000), json!(3600))
    );
    assert_eq!(
        (entries[1]["account"].clone(), entries[1]["credit"].clone()),
        (json!("23.0901032057"), json!(100000))
    );
    assert_eq!(record["transaction"]["detail"], "A description");
    let unknown = switch.admin_call("GET", "/jcard/api/transactions/nothing", "").await;
    assert_eq!((unknown.status, unknown.json["resultCode"].clone()), (404, json!("1816")));
}

#[tokio::test]
async fn a_reversal_undoes_once_and_respects_later_activity() {
    let switch = TestSwitch::start().await;
    switch.set_sysconfig("fee.out.flat.840", "1").await;
    switch.open_wallet("a").await;
    switch.open_wallet("b").await;
    assert_eq!(switch.move_money("a/credit", "100", "c1", "in").await.status, 200);
    assert_eq!(switch.move_money("a/debit", "30", "d1", "out").await.status, 200);
    assert_eq!(switch.wallet_balance("a").await, "69.00");
    let reversed = switch.admin_call("POST", "/jcard/api/transactions/reverse/d1", "").await;
    assert_eq!((reversed.status, reversed.json.clone()), (200, json!({"success": true})));
    assert_eq!(switch.wallet_balance("a").await, "100.00", "the debit and its fee are undone");
    let again = switch.admin_call("POST", "/jcard/api/transactions/reverse/d1", "").await;
    assert_eq!((again.status, again.json["resultCode"].clone()), (409, json!("1824")));
    let records = switch.admin_call("GET", "/jcard/api/transactions/d1", "").await;
    let records = records.json["tranlogs"].as_array().unwrap().clone();
    assert_eq!(records.len(), 2);
    assert_eq!(
        (records[0]["reversalCount"].clone(), records[1]["itc"].clone()),
        (json!(1), json!("wreversal"))
    );

    // Spend most of the credit: reversing it would overdraw the wallet.
    assert_eq!(switch.move_money("a/transfer/b", "90", "t1", "p2p").await.status, 200);
    let blocked = switch.admin_call("POST", "/jcard/api/transactions/reverse/c1", "").await;
    assert_eq!((blocked.status, blocked.json["resultCode"].clone()), (409, json!("1825")));
    let unknown = switch.admin_call("POST", "/jcard/api/transactions/reverse/nope", "").await;
    assert_eq!((unknown.status, unknown.json["resultCode"].clone()), (404, json!("1816")));
    // A declined movement is not reversible.
    assert_eq!(
        switch.move_money("a/debit", "999", "d2", "out").await.json["error"],
        "insufficient.funds"
    );
    assert_eq!(
        switch.admin_call("POST", "/jcard/api/transactions/reverse/d2", "").await.json
            ["resultCode"],
        "1816"
    );
    assert_eq!(switch.wallet_balance("a").await, "10.00");
    switch.assert_ledger_balances();
}

/// A reversal marks its original as a revision beside the history: the records under their
/// own keys stay as first written (the history partitions are only ever appended to), and
/// every read, after a restart too, sees the revision.
#[tokio::test]
async fn a_reversal_is_a_revision_and_the_history_stays_as_written() {
    let switch = TestSwitch::start().await;
    switch.open_wallet("a").await;
    assert_eq!(switch.move_money("a/credit", "100", "c1", "in").await.status, 200);
    assert_eq!(switch.move_money("a/debit", "30", "d1", "out").await.status, 200);
    let reversed = switch.admin_call("POST", "/jcard/api/transactions/reverse/d1", "").await;
    assert_eq!(reversed.status, 200, "{}", reversed.text);
    let switch = switch.restart().await;
    let records = switch.admin_call("GET", "/jcard/api/transactions/d1", "").await;
    let original = &records.json["tranlogs"][0];
    assert_eq!(original["reversalCount"], 1, "{}", records.text);
    let again = switch.admin_call("POST", "/jcard/api/transactions/reverse/d1", "").await;
    assert_eq!(again.json["resultCode"], "1824", "read back as reversed after the restart");
    let original_id = original["id"].as_u64().unwrap();
    let dir = switch.stop().await;

    let store = Store::open_existing(dir.path()).unwrap().expect("a store");
    let written: Tranlog = store.get(&schema::tranlog_key(original_id)).unwrap().unwrap();
    let revised: Tranlog = store.get(&schema::tranlog_revision_key(original_id)).unwrap().unwrap();
    assert_eq!((written.reversal_count, revised.reversal_count), (0, 1));
    let transaction_id = written.transaction_id.expect("a posted movement");
    assert_eq!(history::tranlog(&store, original_id).unwrap().unwrap().reversal_count, 1);
    let posted: Transaction = store.get(&schema::transaction_key(transaction_id)).unwrap().unwrap();
    assert_eq!(posted.reversal_count, 0);
    assert_eq!(history::transaction(&store, transaction_id).unwrap().unwrap().reversal_count, 1);
}

#[tokio::test]
async fn a_void_cancels_under_its_own_rrn() {
    let switch = TestSwitch::start().await;
    switch.open_wallet("a").await;
    switch.open_wallet("b").await;
    assert_eq!(switch.move_money("a/credit", "120", "c1", "in").await.status, 200);
    assert_eq!(switch.move_money("a/transfer/b", "120", "t1", "p2p").await.status, 200);
    let voided = switch.admin_call("PUT", "/jcard/api/transactions/void/t1", "").await;
    assert_eq!(voided.status, 200, "{}", voided.text);
    assert_eq!(
        (
            voided.json["itc"].clone(),
            voided.json["resultCode"].clone(),
            voided.json["amount"].clone()
        ),
        (json!("wtransfer"), json!("0000"), json!(120))
    );
    assert_eq!(voided.json["approvalNumber"].as_str().unwrap().len(), 6);
    let void_rrn = voided.json["voidRrn"].as_str().unwrap().to_owned();
    assert!(void_rrn.starts_with('V') && void_rrn.len() <= 12, "{void_rrn}");
    assert_eq!(
        (switch.wallet_balance("a").await, switch.wallet_balance("b").await),
        ("120.00".to_owned(), "0.00".to_owned())
    );
    let void_record =
        switch.admin_call("GET", &format!("/jcard/api/transactions/{void_rrn}"), "").await;
    assert_eq!(void_record.json["tranlogs"][0]["itc"], "200.02");
    let twice = switch.admin_call("PUT", "/jcard/api/transactions/void/t1", "").await;
    assert_eq!(twice.json["resultCode"], "1827");
    assert_eq!(
        switch.admin_call("POST", "/jcard/api/transactions/reverse/t1", "").await.json
            ["resultCode"],
        "1827"
    );

    // Money already spent prevents a void; a reversed one cannot be voided.
    assert_eq!(switch.move_money("a/transfer/b", "50", "t2", "p2p").await.status, 200);
    assert_eq!(switch.move_money("b/debit", "50", "d1", "out").await.status, 200);
    assert_eq!(
        switch.admin_call("PUT", "/jcard/api/transactions/void/t2", "").await.json["resultCode"],
        "1826"
    );
    assert_eq!(
        switch.admin_call("POST", "/jcard/api/transactions/reverse/d1", "").await.status,
        200
    );
    assert_eq!(
        switch.admin_call("PUT", "/jcard/api/transactions/void/d1", "").await.json["resultCode"],
        "1824"
    );
    let switch = switch.restart().await;
    assert_eq!(
        switch.admin_call("PUT", "/jcard/api/transactions/void/t1", "").await.json["resultCode"],
        "1827"
    );
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn nothing_is_put_back_into_a_deleted_wallet() {
    let switch = TestSwitch::start().await;
    switch.open_wallet("a").await;
    assert_eq!(switch.move_money("a/credit", "10", "c1", "in").await.status, 200);
    assert_eq!(switch.move_money("a/debit", "10", "d1", "out").await.status, 200);
    assert_eq!(switch.admin_call("DELETE", "/jcard/api/wallets/a/delete", "").await.status, 200);
    for (method, path) in
        [("POST", "/jcard/api/transactions/reverse/d1"), ("PUT", "/jcard/api/transactions/void/d1")]
    {
        let reply = switch.admin_call(method, path, "").await;
        assert_eq!(
            (reply.status, reply.json["error"].clone()),
            (422, json!("wallet.deleted")),
            "{path}"
        );
    }
    // Declined records carry no approval number.
    switch.open_wallet("b").await;
    assert_eq!(
        switch.move_money("b/debit", "1", "d2", "out").await.json["error"],
        "insufficient.funds"
    );
    let record = switch.admin_call("GET", "/jcard/api/transactions/d2", "").await;
    assert_eq!(
        (
            record.json["tranlogs"][0]["irc"].clone(),
            record.json["tranlogs"][0]["approvalNumber"].clone()
        ),
        (json!("1016"), json!(null))
    );
    switch.assert_ledger_balances();
}
