//! The card and wallet tranlog index: card and wallet histories read the same from its runs as
//! from memory, across restarts, and a damaged or deleted index is found and rebuilt.

use serde_json::Value;

use crate::jcard_cards::{active_card, card_money, customer, product, PRODUCT_EXAMPLE};
use crate::support::{damage_first_run, gauge, verify_dir, TestSwitch};

/// Two cards and two wallets with 24 movements between them (one declined a round), the same
/// in every switch given: returns the cards' tokens in each.
async fn history(switches: &[&TestSwitch]) -> Vec<[String; 2]> {
    let mut cards = Vec::new();
    for switch in switches {
        product(switch, PRODUCT_EXAMPLE).await;
        customer(switch, "1").await;
        customer(switch, "2").await;
        cards
            .push([active_card(switch, "4569", "1").await, active_card(switch, "4569", "2").await]);
        switch.open_wallet("a").await;
        switch.open_wallet("b").await;
    }
    for round in 0..6 {
        for (switch, [first, second]) in switches.iter().zip(&cards) {
            let rrn = |step: &str| format!("{step}{round}");
            let credit = card_money(switch, first, "credit", "50", &rrn("c"), "jcard").await;
            assert_eq!(credit.status, 201, "{}", credit.text);
            let transfer = format!(
                r#"{{"amount": 7, "currency": 840, "rrn": "{}", "sender": "{first}", "recipient": "{second}"}}"#,
                rrn("t")
            );
            let moved = switch.admin_call("POST", "/jcard/api/cards/transfers", &transfer).await;
            assert_eq!(moved.status, 201, "{}", moved.text);
            // Declined (too much): still in the card's history.
            let declined = card_money(switch, second, "debit", "1000", &rrn("d"), "pos").await;
            assert_eq!(
                (declined.status, declined.json["resultCode"].as_str()),
                (422, Some("1016"))
            );
            let path = if round % 2 == 0 { "a/credit" } else { "b/credit" };
            assert_eq!(switch.move_money(path, "20", &rrn("w"), "t").await.status, 200);
            assert_eq!(
                switch.move_money("a/transfer/b", "3", &rrn("x"), "cashIn").await.status,
                200
            );
        }
    }
    cards
}

/// What each history query answers, reduced to what does not depend on the switch (ids, RRNs,
/// codes and amounts, not tokens or dates).
async fn histories(switch: &TestSwitch, cards: &[String; 2]) -> Vec<Vec<Value>> {
    let mut paths = Vec::new();
    for token in cards {
        for query in
            ["irc=0000,1016&order=asc&length=100", "length=4", "irc=0000,1016&offset=5&length=3"]
        {
            paths.push((format!("/jcard/api/cards/{token}/transactions?{query}"), "/transactions"));
        }
    }
    for wallet in ["a", "b"] {
        for query in ["length=100", "length=2&asc=true", "itc=wcredit&length=100"] {
            paths.push((
                format!("/jcard/api/wallets/{wallet}/transactions?{query}"),
                "/transactions/tranlogs",
            ));
        }
    }
    let mut answers = Vec::new();
    for (path, list) in paths {
        let reply = switch.admin_call("GET", &path, "").await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
        let records = reply.json.pointer(list).and_then(Value::as_array).cloned().unwrap();
        let fields = |record: &Value| -> Value {
            ["id", "rrn", "itc", "irc", "amount"].iter().map(|key| record[*key].clone()).collect()
        };
        answers.push(records.iter().map(fields).collect());
    }
    answers
}

/// The index in runs of four records, merged two at a time, against one that keeps
/// everything in memory: the same histories, before and after a restart, and a clean audit.
#[tokio::test]
async fn card_and_wallet_histories_read_the_same_from_the_indexs_runs_and_memory() {
    let small = TestSwitch::start_with(|config| {
        config.store.entry_run_entries = 4;
        config.store.entry_runs_per_merge = 2;
    })
    .await;
    let whole = TestSwitch::start().await;
    let cards = history(&[&small, &whole]).await;
    let expected = histories(&whole, &cards[1]).await;
    // The first card's credits and transfers, the second's transfers and declines, wallet
    // a's credits and transfers; then the shorter lists.
    let lengths: Vec<usize> = expected.iter().map(Vec::len).collect();
    assert_eq!(lengths, [12, 4, 3, 12, 4, 3, 9, 2, 3, 9, 2, 3]);
    assert_eq!(histories(&small, &cards[0]).await, expected);

    let small = small.restart().await;
    assert_eq!(histories(&small, &cards[0]).await, expected);
    // The gauges are set by the next commit.
    assert_eq!(small.move_money("a/credit", "1", "late", "t").await.status, 200);
    let metrics = small.raw("GET", "/metrics", &[], vec![]).await.text;
    assert!(gauge(&metrics, "cardswitch_tranlog_index_runs") >= 1, "{metrics}");
    assert!(gauge(&metrics, "cardswitch_tranlog_index_entries_in_memory") < 4 + 2, "{metrics}");
    let report = small.core().audit().unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    let dir = small.stop().await;
    let files = std::fs::read_dir(dir.path().join("tranlog-index")).unwrap().count();
    assert!(files >= 2, "a manifest and runs: {files} files");
}

/// A damaged block of a run is found by `verify`, which says how to rebuild the index; once
/// `tranlog-index/` is deleted, the next start rebuilds it from the tranlog records.
#[tokio::test]
async fn verify_names_a_damaged_tranlog_run_and_a_deleted_index_is_rebuilt() {
    let switch = TestSwitch::start_with(|config| config.store.entry_run_entries = 4).await;
    let cards = history(&[&switch]).await;
    // A restart writes what waits in memory as runs before it listens.
    let switch = switch.restart().await;
    let before = histories(&switch, &cards[0]).await;
    let admin = switch.admin.clone();
    let dir = switch.stop().await;
    let index = dir.path().join("tranlog-index");
    damage_first_run(&index, 16 + 2);
    let output = verify_dir(dir.path());
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(!output.status.success(), "{report}");
    assert!(report.contains("card and wallet tranlog index cannot be read"), "{report}");
    assert!(report.contains("delete its tranlog-index/ directory"), "{report}");

    std::fs::remove_dir_all(&index).unwrap();
    assert!(verify_dir(dir.path()).status.success());
    let switch = TestSwitch::open_dir(dir, admin).await;
    assert_eq!(histories(&switch, &cards[0]).await, before);
    let report = switch.core().audit().unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}
