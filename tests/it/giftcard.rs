//! The gift-card history API (`POST /rest/v3/order/{id}/cards`) over HTTP with real bearer
//! tokens and gift cards issued, funded, debited and reversed through the card-issuing API:
//! the history's types, balances and cancellations, paging and dates, every failure code and
//! limit, wrong PINs that look like unknown cards, the lock and its survival of a restart.

use cardswitch::api::issuing::jws;
use cardswitch::bearer::BearerScope;
use cardswitch::clock::Clock;
use serde_json::{json, Value};

use crate::support::{Reply, TestSwitch};

const PARTNER: &str = "giftshop";
const KEY: &[u8] = b"gift secret";
const STORE: u64 = 7;

async fn switch_with(adjust: impl FnOnce(&mut cardswitch::config::Config)) -> TestSwitch {
    let switch = TestSwitch::start_with(adjust).await;
    switch.add_partner(PARTNER, KEY).await;
    let product = r#"{"name": "Gift", "code": "GF", "issuer": 1, "bin": "455567"}"#;
    assert_eq!(switch.admin_call("POST", "/jcard/api/cardproducts", product).await.status, 201);
    switch
}

async fn card_api(switch: &TestSwitch, method: &str, body: &Value) -> Reply {
    let path = format!("/v5/card-api/{method}");
    let raw = body.to_string();
    let signature = jws::sign(KEY, &path, PARTNER, "", raw.as_bytes());
    switch.raw("POST", &path, &[("x-jws-signature".to_owned(), signature)], raw.into_bytes()).await
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A gift card of an order: token, number, PIN.
#[derive(Debug, Clone)]
struct Gift {
    token: String,
    number: String,
    pin: String,
}

/// Orders `quantity` gift cards of 25 USD; the order id and the cards.
async fn order(switch: &TestSwitch, quantity: u32) -> (String, Vec<Gift>) {
    let body = json!({"request_id": request_id(), "card_product": "Gift", "amount": 25, "currency": "840", "quantity": quantity});
    let reply = card_api(switch, "gift-cards/issue", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let cards = reply.json["cards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|card| Gift {
            token: card["card_token"].as_str().unwrap().to_owned(),
            number: card["card_number"].as_str().unwrap().to_owned(),
            pin: card["pin"].as_str().unwrap().to_owned(),
        })
        .collect();
    (reply.json["order_id"].as_str().unwrap().to_owned(), cards)
}

/// Funds or debits `amount` on a card through the card-issuing API; the request id.
async fn move_money(switch: &TestSwitch, method: &str, gift: &Gift, amount: u32) -> String {
    let id = request_id();
    let body = json!({"request_id": id, "card_token": gift.token, "amount": amount, "currency": 840, "description": format!("{method} {amount}")});
    let reply = card_api(switch, method, &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    id
}

async fn reverse(switch: &TestSwitch, original: &str) {
    let body = json!({"request_id": request_id(), "original_request_id": original});
    let reply = card_api(switch, "transactions/reverse", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

fn token(switch: &TestSwitch) -> String {
    switch.bearer_token(BearerScope::Giftcard, None, &[STORE])
}

/// A history request with `headers` (the bearer token) and a raw body.
async fn history_raw(
    switch: &TestSwitch,
    bearer: Option<&str>,
    path: &str,
    body: Vec<u8>,
) -> Reply {
    let headers: Vec<(String, String)> = bearer
        .map(|token| ("authorization".to_owned(), format!("Bearer {token}")))
        .into_iter()
        .collect();
    switch.raw("POST", path, &headers, body).await
}

async fn history(switch: &TestSwitch, order_id: &str, query: &str, body: &Value) -> Reply {
    let path = format!("/rest/v3/order/{order_id}/cards{query}");
    history_raw(switch, Some(&token(switch)), &path, body.to_string().into_bytes()).await
}

fn cards_body(gifts: &[&Gift]) -> Value {
    let cards: Vec<Value> =
        gifts.iter().map(|gift| json!({"cardNumber": gift.number, "pin": gift.pin})).collect();
    json!({"cards": cards})
}

/// (type, amount, balance, status) of each transaction of the answer's card `index`.
fn lines(reply: &Reply, index: usize) -> Vec<(String, Value, Value, String)> {
    reply.json["cards"][index]["Transactions"]
        .as_array()
        .unwrap_or_else(|| panic!("no Transactions: {}", reply.text))
        .iter()
        .map(|line| {
            (
                line["type"].as_str().unwrap().to_owned(),
                line["amount"].clone(),
                line["balance"].clone(),
                line["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn line(kind: &str, amount: i64, balance: i64, status: &str) -> (String, Value, Value, String) {
    (kind.to_owned(), json!(amount), json!(balance), status.to_owned())
}

fn failure(reply: &Reply) -> (u16, Value) {
    assert!(reply.json["messages"].is_array(), "messages is a JSON array: {}", reply.text);
    assert!(reply.json["message"].is_string(), "{}", reply.text);
    (reply.status, reply.json["code"].clone())
}

#[tokio::test]
async fn history_shows_activation_reload_redeem_and_cancellations_with_balances() {
    let switch = switch_with(|_| {}).await;
    let (order_id, gifts) = order(&switch, 2).await;
    let gift = &gifts[0];
    let fund = move_money(&switch, "transactions/fund", gift, 10).await;
    move_money(&switch, "transactions/debit", gift, 7).await;
    reverse(&switch, &fund).await;
    let debit = move_money(&switch, "transactions/debit", gift, 3).await;
    let reply = history(&switch, &order_id, "", &cards_body(&[gift])).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        (&reply.json["code"], &reply.json["messages"], &reply.json["store"]),
        (&json!("0"), &json!([]), &json!(STORE))
    );
    assert_eq!(reply.json["provider"]["code"], "0");
    assert!(!reply.json["refno"].as_str().unwrap().is_empty());
    let card = &reply.json["cards"][0];
    assert_eq!(card["currencyNumericCode"], "840");
    assert_eq!(card["status"], "Activated");
    assert_eq!(card["balance"], json!(15));
    assert!(card["expiry"].as_str().unwrap().ends_with("T23:59:59Z"), "{card}");
    assert_eq!(card["cardNumber"].as_str().unwrap().len(), gift.number.len());
    assert!(!card["cardNumber"].as_str().unwrap().contains(&gift.number[6..12]), "masked");
    assert_eq!(
        lines(&reply, 0),
        vec![
            line("GIFT CARD REDEEM", 3, 15, "SUCCESS"),
            line("GIFT CARD CANCEL RELOAD", 10, 18, "SUCCESS"),
            line("GIFT CARD REDEEM", 7, 28, "SUCCESS"),
            line("GIFT CARD RELOAD", 10, 35, "CANCELLED"),
            line("GIFT CARD ACTIVATE", 25, 25, "SUCCESS"),
        ]
    );
    // The card's balance agrees with the card-issuing API's.
    let balance = card_api(
        &switch,
        "cards/balance",
        &json!({"request_id": request_id(), "card_token": gift.token}),
    )
    .await;
    assert_eq!(balance.json["balance"], json!(15));
    let newest = &card["Transactions"][0];
    assert_eq!(newest["invoiceNumber"], json!(debit));
    assert_eq!(newest["outletName"], PARTNER);
    assert_eq!(newest["notes"], "transactions/debit 3");
    assert_eq!(newest["currencyNumericCode"], "840");
    assert!(newest["date"].as_str().unwrap().ends_with('Z'));
    let fields = &newest["additionalTxnFields"];
    assert_eq!((&fields["CurrencyCode"], &fields["ResponseCode"]), (&json!("USD"), &json!(0)));
    assert!(fields["TransactionId"].is_u64() && fields["ApprovalCode"].is_string(), "{fields}");
    // The other card of the order only has its activation.
    let other = history(&switch, &order_id, "", &cards_body(&[&gifts[1]])).await;
    assert_eq!(lines(&other, 0), vec![line("GIFT CARD ACTIVATE", 25, 25, "SUCCESS")]);
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn an_activation_is_cancelled_by_reversing_its_rrn_through_jcard() {
    let switch = switch_with(|_| {}).await;
    let (order_id, gifts) = order(&switch, 1).await;
    let before = history(&switch, &order_id, "", &cards_body(&[&gifts[0]])).await;
    let rrn =
        before.json["cards"][0]["Transactions"][0]["invoiceNumber"].as_str().unwrap().to_owned();
    let reversed =
        switch.admin_call("POST", &format!("/jcard/api/transactions/reverse/{rrn}"), "").await;
    assert!(reversed.status < 300, "{}", reversed.text);
    let reply = history(&switch, &order_id, "", &cards_body(&[&gifts[0]])).await;
    assert_eq!(
        lines(&reply, 0),
        vec![
            line("GIFT CARD CANCEL ACTIVATE", 25, 0, "SUCCESS"),
            line("GIFT CARD ACTIVATE", 25, 25, "CANCELLED"),
        ]
    );
    assert_eq!(reply.json["cards"][0]["status"], "Created");
    assert_eq!(reply.json["cards"][0]["balance"], json!(0));
    // Once money was spent from a card, its activation can no longer be cancelled.
    let (spent_order, spent) = order(&switch, 1).await;
    move_money(&switch, "transactions/debit", &spent[0], 5).await;
    let before = history(&switch, &spent_order, "", &cards_body(&[&spent[0]])).await;
    let rrn =
        before.json["cards"][0]["Transactions"][1]["invoiceNumber"].as_str().unwrap().to_owned();
    let refused =
        switch.admin_call("POST", &format!("/jcard/api/transactions/reverse/{rrn}"), "").await;
    assert!(refused.status >= 400, "{}", refused.text);
    let after = history(&switch, &spent_order, "", &cards_body(&[&spent[0]])).await;
    assert_eq!(
        lines(&after, 0),
        vec![
            line("GIFT CARD REDEEM", 5, 20, "SUCCESS"),
            line("GIFT CARD ACTIVATE", 25, 25, "SUCCESS")
        ]
    );
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn paging_by_query_or_body_and_date_filters() {
    let switch = switch_with(|_| {}).await;
    let (order_id, gifts) = order(&switch, 1).await;
    let gift = &gifts[0];
    let day = 24 * 60 * 60 * 1000;
    let first_day = cardswitch::api::shared::instant(switch.clock.now_ms() + day / 2);
    switch.clock.advance_ms(day);
    move_money(&switch, "transactions/fund", gift, 10).await;
    let second_day = cardswitch::api::shared::instant(switch.clock.now_ms() + day / 2);
    switch.clock.advance_ms(day);
    move_money(&switch, "transactions/debit", gift, 4).await;
    let all = vec![
        line("GIFT CARD REDEEM", 4, 31, "SUCCESS"),
        line("GIFT CARD RELOAD", 10, 35, "SUCCESS"),
        line("GIFT CARD ACTIVATE", 25, 25, "SUCCESS"),
    ];
    let mut body = cards_body(&[gift]);
    assert_eq!(lines(&history(&switch, &order_id, "", &body).await, 0), all);
    body["limit"] = json!(1);
    body["offset"] = json!(1);
    assert_eq!(lines(&history(&switch, &order_id, "", &body).await, 0), all[1..2].to_vec());
    // The query's limit and offset win over the body's.
    let reply = history(&switch, &order_id, "?offset=0&limit=2", &body).await;
    assert_eq!(lines(&reply, 0), all[..2].to_vec());
    let reply = history(&switch, &order_id, "?offset=2", &body).await;
    assert_eq!(lines(&reply, 0), all[2..].to_vec());
    let reply = history(&switch, &order_id, "?offset=5", &body).await;
    assert_eq!(lines(&reply, 0), vec![]);
    let mut dated = cards_body(&[gift]);
    dated["startDate"] = json!(first_day);
    dated["endDate"] = json!(second_day);
    assert_eq!(lines(&history(&switch, &order_id, "", &dated).await, 0), all[1..2].to_vec());
    dated["endDate"] = Value::Null;
    assert_eq!(lines(&history(&switch, &order_id, "", &dated).await, 0), all[..2].to_vec());
}

#[tokio::test]
async fn a_wrong_pin_answers_exactly_like_an_unknown_card_or_another_order() {
    let switch = switch_with(|_| {}).await;
    let (order_id, gifts) = order(&switch, 2).await;
    let (other_order, other_gifts) = order(&switch, 1).await;
    let wrong_pin = if gifts[0].pin == "0000" { "1111" } else { "0000" };
    let wrong = Gift { pin: wrong_pin.to_owned(), ..gifts[0].clone() };
    let unknown = Gift { number: "4555670000000000".to_owned(), ..gifts[0].clone() };
    let mut answers = Vec::new();
    for (order_id, gift) in [
        (order_id.as_str(), &wrong),
        (order_id.as_str(), &unknown),
        (order_id.as_str(), &other_gifts[0]),
        (other_order.as_str(), &gifts[1]),
    ] {
        let reply = history(&switch, order_id, "", &cards_body(&[gift])).await;
        assert_eq!(failure(&reply), (200, json!("5141")), "{}", reply.text);
        answers.push(reply.json);
    }
    assert!(answers.windows(2).all(|pair| pair[0] == pair[1]), "{answers:?}");
    assert_eq!(
        answers[0],
        json!({"code": "5141", "message": "Transaction history failed", "messages": []})
    );
    // One bad card among good ones fails the whole request, without naming it.
    let mixed = history(&switch, &order_id, "", &cards_body(&[&gifts[1], &wrong])).await;
    assert_eq!(mixed.json, answers[0]);
    // Both cards right: both answered, in the request's order.
    let both = history(&switch, &order_id, "", &cards_body(&[&gifts[1], &gifts[0]])).await;
    assert_eq!(both.json["cards"].as_array().unwrap().len(), 2, "{}", both.text);
    assert_eq!(both.json["cards"][0]["cardNumber"].as_str().unwrap()[12..], gifts[1].number[12..]);
}

#[tokio::test]
async fn repeated_wrong_pins_lock_the_card_even_across_a_restart() {
    let switch = switch_with(|config| {
        config.giftcard.pin_attempts_max = 3;
        config.giftcard.pin_lock_ms = 60_000;
    })
    .await;
    let (order_id, gifts) = order(&switch, 2).await;
    let (other_order, _) = order(&switch, 1).await;
    let right = cards_body(&[&gifts[0]]);
    let wrong_pin = if gifts[0].pin == "0000" { "1111" } else { "0000" };
    let wrong = cards_body(&[&Gift { pin: wrong_pin.to_owned(), ..gifts[0].clone() }]);
    // Guesses under another order's id are not PIN checks: they neither count nor lock.
    for _ in 0..5 {
        let reply = history(&switch, &other_order, "", &wrong).await;
        assert_eq!(failure(&reply), (200, json!("5141")));
    }
    assert_eq!(history(&switch, &order_id, "", &right).await.json["code"], "0");
    for _ in 0..2 {
        assert_eq!(failure(&history(&switch, &order_id, "", &wrong).await), (200, json!("5141")));
    }
    // A right PIN before the limit clears the count.
    assert_eq!(history(&switch, &order_id, "", &right).await.json["code"], "0");
    for _ in 0..3 {
        assert_eq!(failure(&history(&switch, &order_id, "", &wrong).await), (200, json!("5141")));
    }
    let locked = history(&switch, &order_id, "", &right).await;
    assert_eq!(failure(&locked), (200, json!("5141")), "locked: even the right PIN fails");
    // The other card of the order is not locked.
    assert_eq!(history(&switch, &order_id, "", &cards_body(&[&gifts[1]])).await.json["code"], "0");
    let switch = switch.restart().await;
    let still = history(&switch, &order_id, "", &right).await;
    assert_eq!(failure(&still), (200, json!("5141")), "the lock survives a restart");
    switch.clock.advance_ms(60_000);
    assert_eq!(history(&switch, &order_id, "", &right).await.json["code"], "0");
}

#[tokio::test]
async fn an_empty_pin_is_5140() {
    let switch = switch_with(|_| {}).await;
    let (order_id, gifts) = order(&switch, 1).await;
    for pin in [json!(""), json!("   "), Value::Null] {
        let body = json!({"cards": [{"cardNumber": gifts[0].number, "pin": pin}]});
        let reply = history(&switch, &order_id, "", &body).await;
        assert_eq!(failure(&reply), (200, json!("5140")), "{}", reply.text);
        assert_eq!(reply.json["message"], "Card pin should not be empty");
    }
    let body = json!({"cards": [{"cardNumber": gifts[0].number}]});
    assert_eq!(failure(&history(&switch, &order_id, "", &body).await), (200, json!("5140")));
}

#[tokio::test]
async fn lengths_types_and_limits_are_checked() {
    let switch = switch_with(|config| config.giftcard.cards_per_request_max = 2).await;
    let (order_id, gifts) = order(&switch, 1).await;
    let gift = &gifts[0];
    let card = json!({"cardNumber": gift.number, "pin": gift.pin});
    let cases = vec![
        ("", json!({"cards": [{"cardNumber": "1".repeat(51), "pin": "1234"}]})),
        ("", json!({"cards": [{"cardNumber": gift.number, "pin": "1".repeat(26)}]})),
        ("", json!({"cards": [{"cardNumber": 4555, "pin": "1234"}]})),
        ("", json!({"cards": [{"cardNumber": "", "pin": "1234"}]})),
        ("", json!({"cards": []})),
        ("", json!({})),
        ("", json!({"cards": "x"})),
        ("", json!({"cards": [card, card, card]})),
        ("", json!({"cards": [card], "limit": 32768})),
        ("", json!({"cards": [card], "limit": 0})),
        ("", json!({"cards": [card], "limit": 101})),
        ("", json!({"cards": [card], "limit": 1.5})),
        ("", json!({"cards": [card], "offset": -1})),
        ("", json!({"cards": [card], "offset": "many"})),
        ("?limit=abc", json!({"cards": [card]})),
        ("?offset=-3", json!({"cards": [card]})),
        // The query's values win, but a bad one in the body is still refused.
        ("?offset=0", json!({"cards": [card], "offset": -1})),
        ("?limit=5", json!({"cards": [card], "limit": 0})),
        ("?limit=70000", json!({"cards": [card]})),
        ("", json!({"cards": [card], "startDate": "yesterday"})),
        ("", json!({"cards": [card], "endDate": 20200101})),
        (
            "",
            json!({"cards": [card], "startDate": "2020-02-01T00:00:00Z", "endDate": "2020-01-01T00:00:00Z"}),
        ),
        ("", json!([card])),
    ];
    for (query, body) in cases {
        let reply = history(&switch, &order_id, query, &body).await;
        assert_eq!(failure(&reply), (400, json!("5141")), "{query} {body}: {}", reply.text);
        assert!(!reply.json["messages"].as_array().unwrap().is_empty(), "{}", reply.text);
    }
    let not_json = history_raw(
        &switch,
        Some(&token(&switch)),
        &format!("/rest/v3/order/{order_id}/cards"),
        b"{".to_vec(),
    )
    .await;
    assert_eq!(failure(&not_json), (400, json!("5141")));
    let long_order = history(&switch, &"x".repeat(65), "", &json!({"cards": [card]})).await;
    assert_eq!(failure(&long_order), (400, json!("5141")));
    // Exactly at the limits is fine.
    let body = json!({"cards": [card, card], "limit": 100, "offset": 32767, "startDate": "2020-01-01T05:30:00+05:30"});
    let reply = history(&switch, &order_id, "", &body).await;
    assert_eq!(reply.json["code"], "0", "{}", reply.text);
}

#[tokio::test]
async fn a_giftcard_bearer_token_is_required() {
    let switch = switch_with(|_| {}).await;
    let (order_id, gifts) = order(&switch, 1).await;
    let path = format!("/rest/v3/order/{order_id}/cards");
    let body = cards_body(&[&gifts[0]]).to_string().into_bytes();
    let missing = history_raw(&switch, None, &path, body.clone()).await;
    assert_eq!(failure(&missing), (401, json!("401")));
    let garbage = history_raw(&switch, Some("not.a.token"), &path, body.clone()).await;
    assert_eq!(failure(&garbage), (401, json!("401")));
    let cashback = switch.bearer_token(BearerScope::Cashback, None, &[]);
    let wrong_scope = history_raw(&switch, Some(&cashback), &path, body.clone()).await;
    assert_eq!(failure(&wrong_scope), (403, json!("403")));
    let any_store = switch.bearer_token(BearerScope::Giftcard, None, &[]);
    let reply = history_raw(&switch, Some(&any_store), &path, body.clone()).await;
    assert_eq!((reply.json["code"].clone(), reply.json["store"].clone()), (json!("0"), json!(0)));
    switch.clock.advance_ms(2 * 60 * 60 * 1000);
    let expired = history_raw(&switch, Some(&any_store), &path, body).await;
    assert_eq!(failure(&expired), (401, json!("401")));
    assert_eq!(expired.json["messages"], json!(["token expired"]));
}

#[tokio::test]
async fn unknown_paths_methods_and_large_bodies_get_this_dialects_shape() {
    let switch = switch_with(|_| {}).await;
    let bearer = token(&switch);
    let unknown = history_raw(&switch, Some(&bearer), "/rest/v3/nowhere", b"{}".to_vec()).await;
    assert_eq!(failure(&unknown), (404, json!("404")));
    let get = switch.raw("GET", "/rest/v3/order/x/cards", &[], Vec::new()).await;
    assert_eq!(failure(&get), (405, json!("405")));
    let large = vec![b' '; switch.config.http.body_bytes_max + 1];
    let too_large = history_raw(&switch, Some(&bearer), "/rest/v3/order/x/cards", large).await;
    assert_eq!(failure(&too_large), (413, json!("5141")));
}

#[tokio::test]
async fn a_request_not_answered_in_time_is_6053() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let switch = switch_with(|config| config.http.request_timeout_ms = 200).await;
    let mut stream = tokio::net::TcpStream::connect(switch.switch.address).await.unwrap();
    // The body is announced but never sent: the switch gives up waiting for it.
    let head = format!(
        "POST /rest/v3/order/x/cards HTTP/1.1\r\nHost: switch\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n",
        token(&switch)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("answered before the test gave up")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..read]).into_owned();
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    let json: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{text}"));
    assert_eq!(
        json,
        json!({"code": "6053", "message": "Could not process your request. Please try again later", "messages": []})
    );
}

#[tokio::test]
async fn the_outlet_and_invoice_a_partner_names_are_answered() {
    let switch = switch_with(|_| {}).await;
    let (order_id, gifts) = order(&switch, 1).await;
    let body = json!({"request_id": request_id(), "card_token": gifts[0].token, "amount": 5, "currency": 840,
        "outlet_name": "GB-CORP-OUTLET-01", "invoice_number": "abcd12345"});
    assert_eq!(card_api(&switch, "transactions/debit", &body).await.status, 200);
    let reply = history(&switch, &order_id, "", &cards_body(&[&gifts[0]])).await;
    let debit = &reply.json["cards"][0]["Transactions"][0];
    assert_eq!(debit["type"], "GIFT CARD REDEEM", "{}", reply.text);
    assert_eq!(
        (&debit["outletName"], &debit["invoiceNumber"]),
        (&json!("GB-CORP-OUTLET-01"), &json!("abcd12345"))
    );
    assert_eq!(debit["balance"], json!(20));
}
