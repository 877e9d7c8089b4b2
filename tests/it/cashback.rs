//! The cashback card API over HTTP with real bearer tokens: operators set up a group, store,
//! point of sale and pass and credit it; points of sale search and debit; every error code of
//! the document's table (and CARD-12), every configured limit, tickets spent once (also two at
//! once, and across a restart), with the ledger audited after each test.

use cardswitch::bearer::BearerScope;
use cardswitch::clock::Clock;
use serde_json::{json, Value};

use crate::support::{Reply, TestSwitch};

const TICKET: &str = "9ffa8d1d-0765-11f1-88b3-0cc47a065898";

/// What `setup` created.
pub(crate) struct Programme {
    group_id: u64,
    store_id: u64,
    pos_id: u64,
    pub(crate) pass_id: String,
    /// A second group with its own store, point of sale and pass.
    other_group_id: u64,
    other_pos_id: u64,
    other_store_id: u64,
    other_pass_id: String,
}

async fn call(
    switch: &TestSwitch,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: &Value,
) -> Reply {
    let headers: Vec<(String, String)> = token
        .map(|token| vec![("authorization".to_owned(), format!("Bearer {token}"))])
        .unwrap_or_default();
    let body = if body.is_null() { Vec::new() } else { body.to_string().into_bytes() };
    switch.raw(method, path, &headers, body).await
}

async fn admin(switch: &TestSwitch, path: &str, body: Value) -> Reply {
    let token = switch.bearer_token(BearerScope::Admin, None, &[]);
    call(switch, Some(&token), "POST", &format!("/cardapi/admin{path}"), &body).await
}

async fn created(switch: &TestSwitch, path: &str, body: Value) -> Value {
    let reply = admin(switch, path, body).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.json
}

pub(crate) async fn credit(
    switch: &TestSwitch,
    pass_id: &str,
    request_id: &str,
    amount: &str,
) -> Reply {
    let body = json!({"request_id": request_id, "amount": amount, "currency": "978"});
    admin(switch, &format!("/passes/{pass_id}/credit"), body).await
}

/// Two groups (currency 978), each with a store, a point of sale and a pass; the first pass
/// credited with 20.00.
pub(crate) async fn setup(switch: &TestSwitch) -> Programme {
    let mut ids = Vec::new();
    for (name, nfc, barcode, manual) in [
        ("Bakeries", "04A1B2C3D4E5F6", "3701234567890", "CB-1001"),
        ("Florists", "04FFEEDDCCBBAA", "3709999999999", "CB-2002"),
    ] {
        let group = created(switch, "/groups", json!({"name": name, "currency": "978"})).await;
        let group_id = group["id"].as_u64().unwrap();
        let store =
            created(switch, "/stores", json!({"group_id": group_id, "name": "Main street"})).await;
        let store_id = store["id"].as_u64().unwrap();
        let pos =
            created(switch, "/points-of-sale", json!({"store_id": store_id, "name": "Till 1"}))
                .await;
        let pass = created(
            switch,
            "/passes",
            json!({"group_id": group_id, "holder_name": "Ada Lovelace", "nfc": nfc,
                   "barcode": barcode, "manual_code": manual}),
        )
        .await;
        ids.push((
            group_id,
            store_id,
            pos["id"].as_u64().unwrap(),
            pass["pass"]["id"].as_str().unwrap().to_owned(),
        ));
    }
    let (group_id, store_id, pos_id, pass_id) = ids[0].clone();
    let (other_group_id, other_store_id, other_pos_id, other_pass_id) = ids[1].clone();
    let reply = credit(switch, &pass_id, "6f1c1f4e-6a43-4d1a-9a53-1d1b7f7c0001", "20.00").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["balance_after"], "20.00");
    Programme {
        group_id,
        store_id,
        pos_id,
        pass_id,
        other_group_id,
        other_pos_id,
        other_store_id,
        other_pass_id,
    }
}

pub(crate) fn pos_token(switch: &TestSwitch, programme: &Programme) -> String {
    switch.bearer_token(BearerScope::Cashback, Some(programme.group_id), &[programme.store_id])
}

async fn search(switch: &TestSwitch, token: &str, query: &str) -> Reply {
    call(switch, Some(token), "GET", &format!("/cardapi/cards?{query}"), &Value::Null).await
}

pub(crate) fn debit_body(programme: &Programme, ticket: &str, amount: &str) -> Value {
    json!({
        "ticket_id": ticket,
        "ticket_number": "T-0042",
        "point_of_sale_id": programme.pos_id,
        "device_id": "till-1",
        "pass": {"id": programme.pass_id, "type": "CASHBACK"},
        "payment_row": {"amount": amount, "currency": "978"},
    })
}

pub(crate) async fn debit(switch: &TestSwitch, token: &str, body: &Value) -> Reply {
    call(switch, Some(token), "POST", "/cardapi/cards/cashback/debit", body).await
}

pub(crate) async fn balance(switch: &TestSwitch, token: &str, programme: &Programme) -> String {
    let reply = search(
        switch,
        token,
        &format!("search_mode=MANUAL&q=CB-1001&group_id={}", programme.group_id),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json["pass"]["balance"]["amount"].as_str().unwrap().to_owned()
}

/// An account's balance on layer 978, as decimal text.
fn ledger_balance(switch: &TestSwitch, code: &str) -> String {
    let state = switch.core().snapshot();
    let id = *state.account_ids_by_code.get(code).unwrap_or_else(|| panic!("no account {code}"));
    state.balance(id, 978).to_decimal().normalize().to_string()
}

/// A well-formed cashback token signed with another switch's key.
fn foreign_token(switch: &TestSwitch) -> String {
    let now_s = switch.clock.now_ms() / 1000;
    let claims = cardswitch::bearer::BearerClaims {
        scope: BearerScope::Cashback,
        group_id: None,
        store_ids: Vec::new(),
        iat: now_s,
        exp: now_s + 600,
        jti: "foreign".to_owned(),
    };
    let master = cardswitch::core::keys::MasterKey::from_bytes([7; 32]);
    cardswitch::bearer::issue(&cardswitch::bearer::BearerKey::derive(&master), &claims)
}

fn assert_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(reply.json["code"], code, "{}", reply.text);
    assert!(
        reply.json["message"].as_str().is_some_and(|message| !message.is_empty()),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn search_by_every_mode_by_group_and_by_store_and_point_of_sale() {
    let switch = TestSwitch::start().await;
    let programme = setup(&switch).await;
    let token = pos_token(&switch, &programme);
    let by_group = format!("group_id={}", programme.group_id);
    let by_store = format!("store_id={}&point_of_sale_id={}", programme.store_id, programme.pos_id);
    for (mode, q) in
        [("NFC", "04A1B2C3D4E5F6"), ("BARCODE", "3701234567890"), ("MANUAL", "CB-1001")]
    {
        for scope in [&by_group, &by_store] {
            let reply = search(&switch, &token, &format!("search_mode={mode}&q={q}&{scope}")).await;
            assert_eq!(reply.status, 200, "{mode} {scope}: {}", reply.text);
            assert_eq!(reply.json["type"], "CASHBACK");
            let pass = &reply.json["pass"];
            assert_eq!(pass["id"], programme.pass_id.as_str());
            assert_eq!(pass["type"], "CASHBACK");
            assert_eq!(pass["holder_name"], "Ada Lovelace");
            assert_eq!(pass["group_id"], programme.group_id);
            assert_eq!(pass["nfc_masked"], "**********E5F6");
            assert_eq!(pass["barcode_masked"], "*********7890");
            assert_eq!(pass["manual_code_masked"], "***1001");
            assert_eq!(pass["balance"], json!({"amount": "20.00", "currency": "978"}));
        }
    }
    // NFC numbers and manual codes are found whatever their case; values are trimmed.
    for (query, status) in [
        ("search_mode=NFC&q=04a1b2c3d4e5f6", 200),
        ("search_mode=MANUAL&q=cb-1001", 200),
        ("search_mode=BARCODE&q=%203701234567890%20", 200),
    ] {
        let reply = search(&switch, &token, &format!("{query}&{by_group}")).await;
        assert_eq!(reply.status, status, "{query}: {}", reply.text);
    }
    // An identifier is looked up in its own mode only, and never appears in clear.
    let reply = search(&switch, &token, &format!("search_mode=NFC&q=CB-1001&{by_group}")).await;
    assert_error(&reply, 404, "CARD-14");
    let found =
        search(&switch, &token, &format!("search_mode=NFC&q=04A1B2C3D4E5F6&{by_group}")).await;
    assert!(!found.text.contains("04A1B2C3D4E5F6"));
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn a_pass_of_another_group_or_none_is_not_found() {
    let switch = TestSwitch::start().await;
    let programme = setup(&switch).await;
    let token = switch.bearer_token(BearerScope::Cashback, None, &[]);
    let other = format!("search_mode=NFC&q=04FFEEDDCCBBAA&group_id={}", programme.group_id);
    assert_error(&search(&switch, &token, &other).await, 404, "CARD-14");
    let none = format!("search_mode=BARCODE&q=0000&group_id={}", programme.group_id);
    assert_error(&search(&switch, &token, &none).await, 404, "CARD-14");
    let at_other_pos = format!(
        "search_mode=NFC&q=04A1B2C3D4E5F6&store_id={}&point_of_sale_id={}",
        programme.other_store_id, programme.other_pos_id
    );
    assert_error(&search(&switch, &token, &at_other_pos).await, 404, "CARD-14");
    // Debiting a pass of another group at this point of sale, or an unknown pass.
    let mut body = debit_body(&programme, TICKET, "1.00");
    body["pass"]["id"] = json!(programme.other_pass_id);
    assert_error(&debit(&switch, &token, &body).await, 404, "CARD-14");
    body["pass"]["id"] = json!("no-such-pass");
    assert_error(&debit(&switch, &token, &body).await, 404, "CARD-14");
    assert_eq!(balance(&switch, &token, &programme).await, "20.00");
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn a_debit_pays_with_cashback_and_answers_the_receipt() {
    let switch = TestSwitch::start().await;
    let programme = setup(&switch).await;
    let token = pos_token(&switch, &programme);
    let reply = debit(&switch, &token, &debit_body(&programme, TICKET, "5.50")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["ticket_id"], TICKET);
    assert_eq!(reply.json["payment_row"], json!({"amount": "5.50", "currency": "978"}));
    let receipt = &reply.json["receipt_row"];
    assert_eq!(receipt["pass_masked"], "**********E5F6");
    assert_eq!(receipt["amount"], "5.50");
    assert_eq!(receipt["balance_after"], "14.50");
    assert_eq!(receipt["ticket_number"], "T-0042");
    assert_eq!(receipt["point_of_sale_id"], programme.pos_id);
    assert_eq!(receipt["approval_code"].as_str().unwrap().len(), 6);
    assert!(receipt["date"].as_str().unwrap().ends_with('Z'));
    assert_eq!(balance(&switch, &token, &programme).await, "14.50");
    // Credit: expense 41.cb to the pass; debit: the pass to what is owed to the group.
    assert_eq!(ledger_balance(&switch, "41.cb"), "20");
    assert_eq!(ledger_balance(&switch, "21.cb"), "14.5");
    assert_eq!(ledger_balance(&switch, &format!("22.cb.{}", programme.group_id)), "5.5");
    assert_eq!(ledger_balance(&switch, &format!("22.cb.{}", programme.other_group_id)), "0");
    // A JSON number is accepted as the amount, and the whole balance can be spent.
    let ticket = "0b7e1c32-5d52-4c55-8f59-2b6a3a0f0002";
    let mut body = debit_body(&programme, ticket, "0");
    body["payment_row"]["amount"] = json!(14.5);
    let reply = debit(&switch, &token, &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["receipt_row"]["balance_after"], "0.00");
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn a_ticket_is_spent_once_even_across_a_restart() {
    let switch = TestSwitch::start().await;
    let programme = setup(&switch).await;
    let token = pos_token(&switch, &programme);
    let body = debit_body(&programme, TICKET, "3.00");
    let first = debit(&switch, &token, &body).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let again = debit(&switch, &token, &body).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json, first.json);
    // The same UUID in upper case is the same ticket.
    let mut upper = body.clone();
    upper["ticket_id"] = json!(TICKET.to_uppercase());
    assert_eq!(debit(&switch, &token, &upper).await.json, first.json);
    assert_eq!(balance(&switch, &token, &programme).await, "17.00");
    // The same ticket with other content is refused and changes nothing.
    for (field, value) in [
        ("/payment_row/amount", json!("4.00")),
        ("/device_id", json!("till-2")),
        ("/ticket_number", json!("T-0043")),
    ] {
        let mut changed = body.clone();
        *changed.pointer_mut(field).unwrap() = value;
        let reply = debit(&switch, &token, &changed).await;
        assert_error(&reply, 422, "CARD-3");
        assert!(reply.json["message"].as_str().unwrap().contains("ticket_id"), "{}", reply.text);
    }
    assert_eq!(balance(&switch, &token, &programme).await, "17.00");
    let switch = switch.restart().await;
    let token = pos_token(&switch, &programme);
    let after_restart = debit(&switch, &token, &body).await;
    assert_eq!(after_restart.json, first.json);
    assert_eq!(balance(&switch, &token, &programme).await, "17.00");
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn identical_debits_at_once_debit_once() {
    let switch = TestSwitch::start().await;
    let programme = setup(&switch).await;
    let token = pos_token(&switch, &programme);
    let body = debit_body(&programme, TICKET, "2.00");
    let replies = futures_join(&switch, &token, &body).await;
    for reply in &replies {
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.json, replies[0].json);
    }
    assert_eq!(replies[0].json["receipt_row"]["balance_after"], "18.00");
    assert_eq!(balance(&switch, &token, &programme).await, "18.00");
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn two_tickets_at_once_never_overdraw_a_pass() {
    let switch = TestSwitch::start().await;
    let programme = setup(&switch).await;
    let token = pos_token(&switch, &programme);
    let first = debit_body(&programme, TICKET, "15.00");
    let second = debit_body(&programme, "1c9a4f0e-2d3b-4c5d-8e6f-7a8b9c0d1e2f", "15.00");
    let (a, b) = tokio::join!(debit(&switch, &token, &first), debit(&switch, &token, &second));
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 422], "{} / {}", a.text, b.text);
    let refused = if a.status == 422 { &a } else { &b };
    assert_eq!(refused.json["code"], "CARD-12");
    assert_eq!(balance(&switch, &token, &programme).await, "5.00");
    switch.assert_ledger_balances();
}

/// Eight copies of one debit sent at the same time.
async fn futures_join(switch: &TestSwitch, token: &str, body: &Value) -> Vec<Reply> {
    let (a, b, c, d) = tokio::join!(
        debit(switch, token, body),
        debit(switch, token, body),
        debit(switch, token, body),
        debit(switch, token, body)
    );
    let (e, f, g, h) = tokio::join!(
        debit(switch, token, body),
        debit(switch, token, body),
        debit(switch, token, body),
        debit(switch, token, body)
    );
    vec![a, b, c, d, e, f, g, h]
}

#[tokio::test]
async fn insufficient_cashback_is_refused_and_posts_nothing() {
    let switch = TestSwitch::start().await;
    let programme = setup(&switch).await;
    let token = pos_token(&switch, &programme);
    let body = debit_body(&programme, TICKET, "20.01");
    assert_error(&debit(&switch, &token, &body).await, 422, "CARD-12");
    assert_eq!(balance(&switch, &token, &programme).await, "20.00");
    switch.assert_ledger_balances();
    // A refused ticket is not spent: once the pass holds enough, the same ticket pays.
    let reply =
        credit(&switch, &programme.pass_id, "6f1c1f4e-6a43-4d1a-9a53-1d1b7f7c0002", "0.01").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let reply = debit(&switch, &token, &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["receipt_row"]["balance_after"], "0.00");
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn token_errors_follow_the_document() {
    let switch = TestSwitch::start().await;
    let programme = setup(&switch).await;
    let query = format!("search_mode=NFC&q=04A1B2C3D4E5F6&group_id={}", programme.group_id);
    let path = format!("/cardapi/cards?{query}");
    let body = debit_body(&programme, TICKET, "1.00");
    for (method, path, body) in [
        ("GET", path.as_str(), Value::Null),
        ("POST", "/cardapi/cards/cashback/debit", body.clone()),
        ("POST", "/cardapi/admin/groups", json!({"name": "x", "currency": "978"})),
    ] {
        assert_error(&call(&switch, None, method, path, &body).await, 401, "CARD-5");
        let token = pos_token(&switch, &programme);
        let (head, signature) = token.rsplit_once('.').unwrap();
        let flipped = if signature.starts_with('A') { "B" } else { "A" };
        let forged = format!("{head}.{flipped}{}", &signature[1..]);
        assert_error(&call(&switch, Some(&forged), method, path, &body).await, 400, "CARD-6");
        assert_error(&call(&switch, Some("not-a-jwt"), method, path, &body).await, 400, "CARD-8");
        let headers = vec![("authorization".to_owned(), "Basic dXNlcjpwYXNz".to_owned())];
        let reply = switch.raw(method, path, &headers, Vec::new()).await;
        assert_error(&reply, 400, "CARD-8");
        // A well-formed token signed with another switch's key.
        let foreign = foreign_token(&switch);
        assert_error(&call(&switch, Some(&foreign), method, path, &body).await, 400, "CARD-6");
        let giftcard = switch.bearer_token(BearerScope::Giftcard, None, &[]);
        assert_error(&call(&switch, Some(&giftcard), method, path, &body).await, 403, "CARD-9");
    }
    // Each scope reaches its own routes only.
    let admin_token = switch.bearer_token(BearerScope::Admin, None, &[]);
    assert_error(&search(&switch, &admin_token, &query).await, 403, "CARD-9");
    let pos = pos_token(&switch, &programme);
    let reply = call(
        &switch,
        Some(&pos),
        "POST",
        "/cardapi/admin/groups",
        &json!({"name": "x", "currency": "978"}),
    )
    .await;
    assert_error(&reply, 403, "CARD-9");
    // Another group's or store's token.
    let other_group =
        switch.bearer_token(BearerScope::Cashback, Some(programme.other_group_id), &[]);
    assert_error(&search(&switch, &other_group, &query).await, 403, "CARD-9");
    assert_error(&debit(&switch, &other_group, &body).await, 403, "CARD-9");
    let other_store = switch.bearer_token(
        BearerScope::Cashback,
        Some(programme.group_id),
        &[programme.store_id + 100],
    );
    let by_store = format!(
        "search_mode=NFC&q=04A1B2C3D4E5F6&store_id={}&point_of_sale_id={}",
        programme.store_id, programme.pos_id
    );
    assert_error(&search(&switch, &other_store, &by_store).await, 403, "CARD-9");
    assert_error(&debit(&switch, &other_store, &body).await, 403, "CARD-9");
    // An admin token narrowed to a group cannot work on another group.
    let narrowed = switch.bearer_token(BearerScope::Admin, Some(programme.other_group_id), &[]);
    let path = format!("/cardapi/admin/passes/{}/credit", programme.pass_id);
    let credit_body = json!({"request_id": "6f1c1f4e-6a43-4d1a-9a53-1d1b7f7c0009", "amount": "1", "currency": "978"});
    assert_error(&call(&switch, Some(&narrowed), "POST", &path, &credit_body).await, 403, "CARD-9");
    // Expired: the switch's clock moves past the token's hour.
    let token = pos_token(&switch, &programme);
    switch.clock.advance_ms(3_600_001);
    assert_error(&search(&switch, &token, &query).await, 400, "CARD-7");
    assert_error(&debit(&switch, &token, &body).await, 400, "CARD-7");
    let fresh = pos_token(&switch, &programme);
    assert_eq!(balance(&switch, &fresh, &programme).await, "20.00");
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn unknown_paths_and_methods_are_card_2() {
    let switch = TestSwitch::start().await;
    let token = switch.bearer_token(BearerScope::Cashback, None, &[]);
    for (method, path) in [
        ("GET", "/cardapi/nowhere"),
        ("GET", "/cardapi"),
        ("POST", "/cardapi/cards/cashback/credit"),
        ("DELETE", "/cardapi/cards"),
        ("GET", "/cardapi/cards/cashback/debit"),
    ] {
        assert_error(&call(&switch, Some(&token), method, path, &Value::Null).await, 404, "CARD-2");
    }
}

#[tokio::test]
async fn bad_search_parameters_are_card_3() {
    let switch = TestSwitch::start_with(|config| config.cashback.search_q_bytes_max = 16).await;
    let programme = setup(&switch).await;
    let token = switch.bearer_token(BearerScope::Cashback, None, &[]);
    let group = programme.group_id;
    let (store, pos, other_pos) = (programme.store_id, programme.pos_id, programme.other_pos_id);
    for query in [
        format!("q=CB-1001&group_id={group}"),
        format!("search_mode=QR&q=CB-1001&group_id={group}"),
        format!("search_mode=nfc&q=CB-1001&group_id={group}"),
        format!("search_mode=MANUAL&group_id={group}"),
        format!("search_mode=MANUAL&q=&group_id={group}"),
        format!("search_mode=MANUAL&q=12345678901234567&group_id={group}"),
        "search_mode=MANUAL&q=CB-1001".to_owned(),
        format!("search_mode=MANUAL&q=CB-1001&group_id=g{group}"),
        "search_mode=MANUAL&q=CB-1001&group_id=-1".to_owned(),
        "search_mode=MANUAL&q=CB-1001&group_id=999".to_owned(),
        format!("search_mode=MANUAL&q=CB-1001&store_id={store}"),
        format!("search_mode=MANUAL&q=CB-1001&point_of_sale_id={pos}"),
        format!(
            "search_mode=MANUAL&q=CB-1001&group_id={group}&store_id={store}&point_of_sale_id={pos}"
        ),
        format!("search_mode=MANUAL&q=CB-1001&store_id={store}&point_of_sale_id={other_pos}"),
        format!("search_mode=MANUAL&q=CB-1001&store_id={store}&point_of_sale_id=999"),
    ] {
        let reply = search(&switch, &token, &query).await;
        assert_error(&reply, 422, "CARD-3");
    }
    // At the limit the search is accepted (and finds nothing).
    let reply =
        search(&switch, &token, &format!("search_mode=MANUAL&q=1234567890123456&group_id={group}"))
            .await;
    assert_error(&reply, 404, "CARD-14");
}

#[tokio::test]
async fn bad_debit_bodies_are_card_3_and_change_nothing() {
    let switch = TestSwitch::start_with(|config| {
        config.cashback.device_id_bytes_max = 8;
        config.cashback.ticket_number_bytes_max = 8;
        config.cashback.amount_whole_max = 20;
    })
    .await;
    let programme = setup(&switch).await;
    let token = pos_token(&switch, &programme);
    let good = debit_body(&programme, TICKET, "1.00");
    let mut cases: Vec<Value> = Vec::new();
    for pointer in ["/ticket_id", "/point_of_sale_id", "/device_id", "/pass", "/payment_row"] {
        let mut body = good.clone();
        let (parent, name) = pointer.rsplit_once('/').unwrap();
        let parent = if parent.is_empty() { &mut body } else { body.pointer_mut(parent).unwrap() };
        parent.as_object_mut().unwrap().remove(name);
        cases.push(body);
    }
    for (pointer, value) in [
        ("/ticket_id", json!("ticket-1")),
        ("/ticket_id", json!(42)),
        ("/point_of_sale_id", json!("65")),
        ("/point_of_sale_id", json!(-1)),
        ("/point_of_sale_id", json!(999)),
        ("/device_id", json!("")),
        ("/device_id", json!("123456789")),
        ("/ticket_number", json!("123456789")),
        ("/pass", json!({"type": "CASHBACK"})),
        ("/payment_row/amount", json!("1.001")),
        ("/payment_row/amount", json!("-1.00")),
        ("/payment_row/amount", json!("0")),
        ("/payment_row/amount", json!("ten")),
        ("/payment_row/amount", json!("20.01")),
        ("/payment_row/amount", json!(null)),
        ("/payment_row/currency", json!("EUR")),
        ("/payment_row/currency", json!("840")),
        ("/payment_row/currency", json!(null)),
    ] {
        let mut body = good.clone();
        *body.pointer_mut(pointer).unwrap() = value;
        cases.push(body);
    }
    cases.push(json!([1, 2]));
    for body in &cases {
        let reply = debit(&switch, &token, body).await;
        assert_error(&reply, 422, "CARD-3");
    }
    let reply = switch
        .raw(
            "POST",
            "/cardapi/cards/cashback/debit",
            &[("authorization".to_owned(), format!("Bearer {token}"))],
            b"{not json".to_vec(),
        )
        .await;
    assert_error(&reply, 422, "CARD-3");
    assert_eq!(balance(&switch, &token, &programme).await, "20.00");
    // None of them spent the ticket.
    assert_eq!(debit(&switch, &token, &good).await.status, 200);
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_in_the_dialect_shape() {
    let switch = TestSwitch::start_with(|config| config.http.body_bytes_max = 2048).await;
    let token = switch.bearer_token(BearerScope::Cashback, None, &[]);
    let body = json!({"ticket_id": TICKET, "device_id": "x".repeat(4096)});
    let reply = debit(&switch, &token, &body).await;
    assert_error(&reply, 413, "CARD-3");
}

#[tokio::test]
async fn admin_routes_create_and_credit_once_per_request_id() {
    let switch = TestSwitch::start().await;
    let programme = setup(&switch).await;
    let token = pos_token(&switch, &programme);
    // Ids are assigned in order.
    assert_eq!((programme.group_id, programme.other_group_id), (1, 2));
    // A credit repeated with its request id credits once and answers the same.
    let request = "6f1c1f4e-6a43-4d1a-9a53-1d1b7f7c0003";
    let first = credit(&switch, &programme.pass_id, request, "2.50").await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.json["balance_after"], "22.50");
    let again = credit(&switch, &programme.pass_id, request, "2.50").await;
    assert_eq!(again.json, first.json);
    assert_error(&credit(&switch, &programme.pass_id, request, "3.00").await, 422, "CARD-3");
    assert_eq!(balance(&switch, &token, &programme).await, "22.50");
    assert_error(
        &credit(&switch, "no-such-pass", "6f1c1f4e-6a43-4d1a-9a53-1d1b7f7c0004", "1").await,
        404,
        "CARD-14",
    );
    // Refusals of the admin routes.
    for (path, body) in [
        ("/groups", json!({"name": "x", "currency": "EUR"})),
        ("/groups", json!({"name": "", "currency": "978"})),
        ("/stores", json!({"group_id": 99, "name": "x"})),
        ("/stores", json!({"group_id": "1", "name": "x"})),
        ("/points-of-sale", json!({"store_id": 99, "name": "x"})),
        ("/passes", json!({"group_id": 99, "holder_name": "x", "nfc": "1234"})),
        ("/passes", json!({"group_id": programme.group_id, "holder_name": "x"})),
        (
            "/passes",
            json!({"group_id": programme.group_id, "holder_name": "x", "nfc": "04A1B2C3D4E5F6"}),
        ),
        ("/passes", json!({"group_id": programme.group_id, "holder_name": "x", "pin": "1"})),
    ] {
        assert_error(&admin(&switch, path, body).await, 422, "CARD-3");
    }
    // The same value may identify passes in different modes.
    let reply = admin(
        &switch,
        "/passes",
        json!({"group_id": programme.group_id, "holder_name": "Bob", "barcode": "04A1B2C3D4E5F6"}),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.json["pass"]["balance"]["amount"], "0.00");
    assert_eq!(reply.json["pass"]["nfc_masked"], Value::Null);
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn passes_are_not_reachable_on_the_card_paths() {
    let switch = TestSwitch::start().await;
    let programme = setup(&switch).await;
    let reply =
        switch.admin_call("GET", &format!("/jcard/api/cards/{}", programme.pass_id), "").await;
    assert_ne!(reply.status, 200, "{}", reply.text);
    assert!(!reply.text.contains("Ada"), "{}", reply.text);
}

#[tokio::test]
async fn a_request_not_answered_in_time_is_card_10() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let switch = TestSwitch::start_with(|config| config.http.request_timeout_ms = 200).await;
    let token = switch.bearer_token(BearerScope::Cashback, None, &[]);
    let mut stream = tokio::net::TcpStream::connect(switch.switch.address).await.unwrap();
    // The body is announced but never sent: the switch gives up waiting for it.
    let head = format!(
        "POST /cardapi/cards/cashback/debit HTTP/1.1\r\nHost: switch\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0_u8; 4096];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("answered before the test gave up")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..read]).into_owned();
    assert!(text.starts_with("HTTP/1.1 500"), "{text}");
    let body: Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap_or_default())
        .unwrap_or_else(|_| panic!("{text}"));
    assert_eq!(body["code"], "CARD-10", "{text}");
}

#[tokio::test]
async fn a_debit_while_the_core_stops_is_card_11_and_moves_nothing() {
    let switch = TestSwitch::start().await;
    let programme = setup(&switch).await;
    let token = pos_token(&switch, &programme);
    // The listener still answers, but the writer has stopped: nothing can be committed.
    switch.core().shutdown().await.expect("the core stops");
    let reply = debit(&switch, &token, &debit_body(&programme, TICKET, "1.00")).await;
    assert_error(&reply, 500, "CARD-11");
    assert_eq!(ledger_balance(&switch, "21.cb"), "20");
    switch.assert_ledger_balances();
}
