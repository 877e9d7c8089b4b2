//! The RRN index: retries, reversals and lookups by RRN find their originals in its runs, in
//! memory and across restarts; a damaged or deleted index is found and rebuilt. (Retries that
//! arrive while the original's group waits for its flush are in `storage_faults.rs`.)

use serde_json::json;

use crate::jcard_cards::{active_card, card_money, customer, product, PRODUCT_EXAMPLE};
use crate::support::{damage_first_run, gauge, verify_dir, TestSwitch};

/// Movements that reach the index through runs of four merged two at a time: 24 wallet
/// credits and debits and 6 card credits. Returns the card's token.
async fn movements(switch: &TestSwitch) -> String {
    switch.open_wallet("a").await;
    product(switch, PRODUCT_EXAMPLE).await;
    customer(switch, "1").await;
    let card = active_card(switch, "4569", "1").await;
    for round in 0..12 {
        assert_eq!(
            switch.move_money("a/credit", "10", &format!("c{round}"), "t").await.status,
            200
        );
        assert_eq!(switch.move_money("a/debit", "3", &format!("d{round}"), "t").await.status, 200);
        if round % 2 == 0 {
            let credit =
                card_money(switch, &card, "credit", "5", &format!("k{round}"), "jcard").await;
            assert_eq!(credit.status, 201, "{}", credit.text);
        }
    }
    card
}

/// Every movement retried: each replays its stored answer and moves nothing; a retry with
/// another amount is a duplicate; each is listed by its RRN.
async fn retries_replay(switch: &TestSwitch, card: &str) {
    for round in 0..12 {
        let credit = switch.move_money("a/credit", "10", &format!("c{round}"), "t").await;
        assert_eq!(
            (credit.status, &credit.json["replayed"]),
            (200, &json!(true)),
            "{}",
            credit.text
        );
        let debit = switch.move_money("a/debit", "3", &format!("d{round}"), "t").await;
        assert_eq!((debit.status, &debit.json["replayed"]), (200, &json!(true)), "{}", debit.text);
        let other = switch.move_money("a/debit", "4", &format!("d{round}"), "t").await;
        assert_eq!((other.status, &other.json["error"]), (409, &json!("duplicate.rrn")));
        let listed =
            switch.admin_call("GET", &format!("/jcard/api/transactions/c{round}"), "").await;
        let records = listed.json["tranlogs"].as_array().cloned().unwrap_or_default();
        assert_eq!(records.len(), 1, "{}", listed.text);
        assert_eq!(records[0]["rrn"], json!(format!("c{round}")));
        if round % 2 == 0 {
            let rrn = format!("k{round}");
            let again = card_money(switch, card, "credit", "5", &rrn, "jcard").await;
            assert_eq!(
                (again.status, &again.json["replayed"]),
                (201, &json!(true)),
                "{}",
                again.text
            );
            let listed =
                switch.admin_call("GET", &format!("/jcard/api/transactions/{rrn}"), "").await;
            assert_eq!(
                listed.json["tranlogs"].as_array().map(Vec::len),
                Some(1),
                "{}",
                listed.text
            );
        }
    }
    assert_eq!(switch.wallet_balance("a").await, "84.00", "12 x (10 - 3), each once");
    let unknown = switch.admin_call("GET", "/jcard/api/transactions/c12", "").await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
}

#[tokio::test]
async fn retries_find_their_originals_in_the_rrn_indexs_runs_and_across_a_restart() {
    let switch = TestSwitch::start_with(|config| {
        config.store.entry_run_entries = 4;
        config.store.entry_runs_per_merge = 2;
    })
    .await;
    let card = movements(&switch).await;
    retries_replay(&switch, &card).await;
    let metrics = switch.raw("GET", "/metrics", &[], vec![]).await.text;
    assert!(gauge(&metrics, "cardswitch_rrn_index_runs") >= 2, "{metrics}");
    assert!(gauge(&metrics, "cardswitch_rrn_index_entries_in_memory") < 4 + 2, "{metrics}");

    let switch = switch.restart().await;
    retries_replay(&switch, &card).await;
    // An old movement is still found to be reversed, once.
    let reversed = switch.admin_call("POST", "/jcard/api/transactions/reverse/d0", "").await;
    assert_eq!((reversed.status, reversed.json.clone()), (200, json!({"success": true})));
    let again = switch.admin_call("POST", "/jcard/api/transactions/reverse/d0", "").await;
    assert_eq!((again.status, again.json["resultCode"].clone()), (409, json!("1824")));
    assert_eq!(switch.wallet_balance("a").await, "87.00");
    let report = switch.core().audit().unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    switch.assert_ledger_balances();
    let dir = switch.stop().await;
    let runs = std::fs::read_dir(dir.path().join("rrn-index")).unwrap().count();
    assert!(runs >= 2, "a manifest and runs: {runs} files");
    assert!(verify_dir(dir.path()).status.success());
}

/// A damaged block of an RRN run is found by `verify`, which says how to rebuild the index;
/// once `rrn-index/` is deleted, the next start rebuilds it and retries still replay.
#[tokio::test]
async fn verify_names_a_damaged_rrn_run_and_a_deleted_index_is_rebuilt() {
    let switch = TestSwitch::start_with(|config| config.store.entry_run_entries = 4).await;
    let card = movements(&switch).await;
    // A restart writes what waits in memory as runs before it listens.
    let switch = switch.restart().await;
    let admin = switch.admin.clone();
    let dir = switch.stop().await;
    let index = dir.path().join("rrn-index");
    damage_first_run(&index, 16 + 2);
    let output = verify_dir(dir.path());
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(!output.status.success(), "{report}");
    assert!(report.contains("RRN index cannot be read"), "{report}");
    assert!(report.contains("delete its rrn-index/ directory"), "{report}");

    std::fs::remove_dir_all(&index).unwrap();
    assert!(verify_dir(dir.path()).status.success());
    let switch = TestSwitch::open_dir(dir, admin).await;
    retries_replay(&switch, &card).await;
    let report = switch.core().audit().unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}
