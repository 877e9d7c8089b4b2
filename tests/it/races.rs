//! Races that the other test files leave out. Concurrent copies of one request post once:
//! jCard RRNs on wallet transfers, card credits and card-to-card transfers (copies of wallet
//! and card debits are in `jcard_wallets.rs` and `jcard_cards.rs`), one RRN with different
//! bodies at once, reversals and voids of one RRN at once, 16 copies of one card-issuing
//! request id (two are in `card_api.rs`), cashback admin credits of one request id and copies
//! of several tickets at once (eight copies of one ticket are in `cashback.rs`). Concurrent
//! debits on one account never overdraw it: card-issuing cards and cashback passes here,
//! jCard cards and wallets in their own files.

use futures::future::join_all;
use serde_json::{json, Value};

use crate::card_api;
use crate::cashback;
use crate::jcard_cards::{
    active_card, card_balance, card_money, customer, product, PRODUCT_EXAMPLE,
};
use crate::support::{Reply, TestSwitch};

/// Copies of one request sent at once.
const COPIES: usize = 16;

/// Every copy approved with one approval number; exactly one was not a replay.
fn posted_once(replies: &[Reply], status: u16) {
    for reply in replies {
        assert_eq!(reply.status, status, "{}", reply.text);
        assert_eq!(
            reply.json["approvalNumber"], replies[0].json["approvalNumber"],
            "{}",
            reply.text
        );
    }
    let first_answers = replies.iter().filter(|reply| reply.json["replayed"] == false).count();
    assert_eq!(first_answers, 1, "exactly one copy posted");
}

/// The tranlog holds one record of `rrn`.
async fn logged_once(switch: &TestSwitch, rrn: &str) {
    let reply = switch.admin_call("GET", &format!("/jcard/api/transactions/{rrn}"), "").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["tranlogs"].as_array().map(Vec::len), Some(1), "{}", reply.text);
}

/// Wallet `a`, holding 100.00.
async fn funded_wallet(switch: &TestSwitch) {
    switch.open_wallet("a").await;
    assert_eq!(switch.move_money("a/credit", "100", "fund", "t").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copies_of_one_rrn_post_once_on_transfers_and_card_credits() {
    let switch = TestSwitch::start().await;
    funded_wallet(&switch).await;
    switch.open_wallet("b").await;
    let copies = (0..COPIES).map(|_| switch.move_money("a/transfer/b", "10", "wt1", "t"));
    posted_once(&join_all(copies).await, 200);
    assert_eq!(
        (switch.wallet_balance("a").await, switch.wallet_balance("b").await),
        ("90.00".to_owned(), "10.00".to_owned())
    );
    logged_once(&switch, "wt1").await;

    product(&switch, PRODUCT_EXAMPLE).await;
    customer(&switch, "1").await;
    customer(&switch, "2").await;
    let (sender, recipient) =
        (active_card(&switch, "4569", "1").await, active_card(&switch, "4569", "2").await);
    let copies = (0..COPIES).map(|_| card_money(&switch, &sender, "credit", "50", "cc1", "jcard"));
    posted_once(&join_all(copies).await, 201);
    logged_once(&switch, "cc1").await;
    let transfer = json!({"amount": 20, "currency": 840, "rrn": "ct1", "channel": "jcard",
        "sender": sender, "recipient": recipient})
    .to_string();
    let copies =
        (0..COPIES).map(|_| switch.admin_call("POST", "/jcard/api/cards/transfers", &transfer));
    posted_once(&join_all(copies).await, 201);
    logged_once(&switch, "ct1").await;
    assert_eq!(
        (card_balance(&switch, &sender).await, card_balance(&switch, &recipient).await),
        (json!(30), json!(20))
    );
    switch.assert_ledger_balances();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_rrn_with_different_bodies_at_once_posts_one_of_them() {
    let switch = TestSwitch::start().await;
    funded_wallet(&switch).await;
    let amounts: Vec<String> = (1..=12).map(|whole| whole.to_string()).collect();
    let debits = amounts.iter().map(|amount| switch.move_money("a/debit", amount, "same1", "t"));
    let replies = join_all(debits).await;
    let approved: Vec<&Reply> = replies.iter().filter(|reply| reply.status == 200).collect();
    assert_eq!(approved.len(), 1, "one body wins the RRN");
    for reply in replies.iter().filter(|reply| reply.status != 200) {
        assert_eq!(
            (reply.status, reply.json["resultCode"].clone()),
            (409, json!("1822")),
            "{}",
            reply.text
        );
    }
    let winner = approved[0].json["amount"].to_string().parse::<i64>().unwrap();
    assert_eq!(switch.wallet_balance("a").await, format!("{}.00", 100 - winner));
    logged_once(&switch, "same1").await;
    switch.assert_ledger_balances();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reversals_and_voids_of_one_rrn_at_once_undo_it_once() {
    let switch = TestSwitch::start().await;
    funded_wallet(&switch).await;
    assert_eq!(switch.move_money("a/credit", "40", "undo1", "t").await.status, 200);
    let undos = (0..COPIES).map(|copy| {
        if copy % 2 == 0 {
            switch.admin_call("POST", "/jcard/api/transactions/reverse/undo1", "")
        } else {
            switch.admin_call("PUT", "/jcard/api/transactions/void/undo1", "")
        }
    });
    let replies = join_all(undos).await;
    assert_eq!(replies.iter().filter(|reply| reply.status == 200).count(), 1, "one undo wins");
    for reply in replies.iter().filter(|reply| reply.status != 200) {
        let code = reply.json["resultCode"].as_str().unwrap_or_default();
        assert!(["1824", "1827"].contains(&code), "previously reversed or voided: {}", reply.text);
    }
    assert_eq!(switch.wallet_balance("a").await, "100.00");
    switch.assert_ledger_balances();
}

/// Status and body of a card-issuing answer, for the failures' messages.
fn issuing_error(reply: &Reply) -> (u16, Value) {
    (reply.status, card_api::error_code(reply))
}

/// A switch with a partner and one of its cards, funded with 100.
async fn funded_partner_card() -> (TestSwitch, String) {
    let switch = card_api::switch_with_partner().await;
    let token = card_api::issue(&switch).await;
    let fund = json!({"request_id": card_api::request_id(), "card_token": token,
        "amount": 100, "currency": 840});
    assert_eq!(card_api::post(&switch, "transactions/fund", fund).await.status, 200);
    (switch, token)
}

/// A card-issuing debit of `amount` with a new request id.
fn issuing_debit(token: &str, amount: u32) -> Value {
    json!({"request_id": card_api::request_id(), "card_token": token, "amount": amount,
        "currency": 840})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn card_issuing_copies_of_one_request_id_process_once() {
    let (switch, token) = funded_partner_card().await;
    let debit = issuing_debit(&token, 10);
    let copies = (0..COPIES).map(|_| card_api::post(&switch, "transactions/debit", debit.clone()));
    let replies = join_all(copies).await;
    assert_eq!(replies.iter().filter(|reply| reply.status == 200).count(), 1, "one copy processed");
    for reply in replies.iter().filter(|reply| reply.status != 200) {
        assert_eq!(issuing_error(reply), (409, json!("DUPLICATE_REQUEST")), "{}", reply.text);
    }
    assert_eq!(card_api::balance(&switch, &token).await, 90);
    switch.assert_ledger_balances();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn card_issuing_debits_at_once_never_overdraw_a_card() {
    let (switch, token) = funded_partner_card().await;
    let debits =
        (0..20).map(|_| card_api::post(&switch, "transactions/debit", issuing_debit(&token, 7)));
    let replies = join_all(debits).await;
    assert_eq!(
        replies.iter().filter(|reply| reply.status == 200).count(),
        14,
        "100 / 7 = 14 debits fit"
    );
    for reply in replies.iter().filter(|reply| reply.status != 200) {
        assert_eq!(
            (reply.status, reply.json["error"]["result_code"].clone()),
            (422, json!("1016")),
            "{}",
            reply.text
        );
    }
    assert_eq!(card_api::balance(&switch, &token).await, 2);
    switch.assert_ledger_balances();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cashback_tickets_and_credits_at_once_spend_once_and_never_overdraw() {
    let switch = TestSwitch::start().await;
    let programme = cashback::setup(&switch).await;
    let token = cashback::pos_token(&switch, &programme);
    let request = "6f1c1f4e-6a43-4d1a-9a53-1d1b7f7c0077";
    let credits = (0..8).map(|_| cashback::credit(&switch, &programme.pass_id, request, "4.00"));
    let replies = join_all(credits).await;
    for reply in &replies {
        assert_eq!((reply.status, &reply.json), (200, &replies[0].json), "{}", reply.text);
    }
    assert_eq!(cashback::balance(&switch, &token, &programme).await, "24.00");
    // Four tickets of 7.00, four copies of each, on a pass holding 24.00: three are paid.
    let tickets: Vec<String> =
        (0..4).map(|ticket| format!("7d0c2a4e-1b2c-4d5e-8f90-00000000000{ticket}")).collect();
    let bodies: Vec<Value> =
        tickets.iter().map(|ticket| cashback::debit_body(&programme, ticket, "7.00")).collect();
    let debits =
        bodies.iter().flat_map(|body| (0..4).map(|_| cashback::debit(&switch, &token, body)));
    let replies = join_all(debits).await;
    let mut paid = 0;
    for copies in replies.chunks(4) {
        for reply in copies {
            assert_eq!(
                (reply.status, &reply.json),
                (copies[0].status, &copies[0].json),
                "copies agree"
            );
        }
        match copies[0].status {
            200 => paid += 1,
            status => assert_eq!((status, copies[0].json["code"].clone()), (422, json!("CARD-12"))),
        }
    }
    assert_eq!(paid, 3, "24.00 pays three tickets of 7.00");
    assert_eq!(cashback::balance(&switch, &token, &programme).await, "3.00");
    switch.assert_ledger_balances();
}
