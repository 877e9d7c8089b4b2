//! Storage faults under a real switch: a fault-injecting engine (`store::fault`) under the core
//! fails applies and flushes with an I/O error or a full disk. A failed flush fails every
//! request of its group in each dialect's own shape (never acknowledged, logged once), a failed
//! apply changes nothing, a full disk refuses changes with a clear message and `/health` says
//! degraded; memory always equals the store, the ledger audits clean, retries run once, and
//! the switch recovers when the fault clears.

use std::io::Write;
use std::sync::Arc;

use cardswitch::api::issuing::jws;
use cardswitch::bearer::BearerScope;
use cardswitch::core::{Core, CoreSettings};
use cardswitch::metrics::Metrics;
use cardswitch::store::fault::{Failures, FaultEngine, FaultHandle, FaultKind, FaultOp};
use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::support::{send_json, Reply, TestSwitch};

const PARTNER: &str = "faults";
const PARTNER_KEY: &[u8] = b"faults partner key";
const BINARY: &str = env!("CARGO_BIN_EXE_cardswitch");

/// A switch whose store fails when `faults` says so.
async fn faulty_switch() -> (TestSwitch, FaultHandle) {
    let mut handle = None;
    let switch = TestSwitch::start_over(
        |_| {},
        |config, clock| {
            Core::open_with_engine(
                &config.data_dir,
                |engine| {
                    let (engine, faults) = FaultEngine::wrap(engine);
                    handle = Some(faults);
                    engine
                },
                clock,
                Arc::new(Metrics::new()),
                CoreSettings::from_config(config),
            )
            .expect("open core over the fault engine")
        },
    )
    .await;
    (switch, handle.expect("fault handle"))
}

/// What `setup` made in every dialect.
struct Setup {
    card_token: String,
    pass_id: String,
    pos_id: u64,
    pos_token: String,
    order_id: String,
    gift_number: String,
    gift_pin: String,
}

/// A funded wallet `w`, a partner card funded with 50, a cashback pass credited with 20.00
/// and a gift card of 25, all committed without faults.
async fn setup(switch: &TestSwitch) -> Setup {
    switch.open_wallet("w").await;
    assert_eq!(switch.move_money("w/credit", "100", "setup", "cashInA2W").await.status, 200);
    switch.add_partner(PARTNER, PARTNER_KEY).await;
    let product = r#"{"name": "Prepaid", "code": "PP", "issuer": 1, "bin": "455566"}"#;
    assert_eq!(switch.admin_call("POST", "/jcard/api/cardproducts", product).await.status, 201);
    let issued = card_api(
        switch,
        "cards/issue",
        &json!({"request_id": request_id(), "first_name": "Jane",
        "last_name": "Doe", "phone": "+598 99 123 456", "email": "jane@example.com",
        "card_product": "Prepaid", "currency": "840"}),
    )
    .await;
    assert_eq!(issued.status, 200, "{}", issued.text);
    let card_token = issued.json["card_token"].as_str().unwrap().to_owned();
    assert_eq!(fund(switch, &card_token, &request_id(), 50).await.status, 200);
    let (pass_id, pos_id, pos_token) = cashback_pass(switch).await;
    let order = card_api(
        switch,
        "gift-cards/issue",
        &json!({"request_id": request_id(),
        "card_product": "Prepaid", "amount": 25, "currency": "840", "quantity": 1}),
    )
    .await;
    assert_eq!(order.status, 200, "{}", order.text);
    let gift = &order.json["cards"][0];
    Setup {
        card_token,
        pass_id,
        pos_id,
        pos_token,
        order_id: order.json["order_id"].as_str().unwrap().to_owned(),
        gift_number: gift["card_number"].as_str().unwrap().to_owned(),
        gift_pin: gift["pin"].as_str().unwrap().to_owned(),
    }
}

/// A merchant group (978) with a store, a point of sale and a pass credited with 20.00; the
/// pass, the point of sale and a point-of-sale token.
async fn cashback_pass(switch: &TestSwitch) -> (String, u64, String) {
    let admin = switch.bearer_token(BearerScope::Admin, None, &[]);
    let create = |path: String, body: Value| {
        let admin = admin.clone();
        async move {
            let reply = bearer(switch, &admin, &format!("/cardapi/admin{path}"), &body).await;
            assert!(matches!(reply.status, 200 | 201), "{}", reply.text);
            reply.json
        }
    };
    let group = create("/groups".into(), json!({"name": "Bakeries", "currency": "978"})).await;
    let group_id = group["id"].as_u64().unwrap();
    let store =
        create("/stores".into(), json!({"group_id": group_id, "name": "Main street"})).await;
    let store_id = store["id"].as_u64().unwrap();
    let pos =
        create("/points-of-sale".into(), json!({"store_id": store_id, "name": "Till 1"})).await;
    let pass = create(
        "/passes".into(),
        json!({"group_id": group_id, "holder_name": "Ada",
        "nfc": "04A1B2C3D4E5F6", "barcode": "3701234567890", "manual_code": "CB-1001"}),
    )
    .await;
    let pass_id = pass["pass"]["id"].as_str().unwrap().to_owned();
    let credit = json!({"request_id": request_id(), "amount": "20.00", "currency": "978"});
    create(format!("/passes/{pass_id}/credit"), credit).await;
    let token = switch.bearer_token(BearerScope::Cashback, Some(group_id), &[store_id]);
    (pass_id, pos["id"].as_u64().unwrap(), token)
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn card_api(switch: &TestSwitch, method: &str, body: &Value) -> Reply {
    let path = format!("/v5/card-api/{method}");
    let raw = body.to_string();
    let signature = jws::sign(PARTNER_KEY, &path, PARTNER, "", raw.as_bytes());
    switch.raw("POST", &path, &[("x-jws-signature".to_owned(), signature)], raw.into_bytes()).await
}

async fn fund(switch: &TestSwitch, token: &str, id: &str, amount: u32) -> Reply {
    let body = json!({"request_id": id, "card_token": token, "amount": amount, "currency": 840});
    card_api(switch, "transactions/fund", &body).await
}

async fn card_balance(switch: &TestSwitch, token: &str) -> Value {
    let reply = card_api(
        switch,
        "cards/balance",
        &json!({"request_id": request_id(), "card_token": token}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json["balance"].clone()
}

async fn bearer(switch: &TestSwitch, token: &str, path: &str, body: &Value) -> Reply {
    let headers = [("authorization".to_owned(), format!("Bearer {token}"))];
    switch.raw("POST", path, &headers, body.to_string().into_bytes()).await
}

async fn cashback_debit(switch: &TestSwitch, setup: &Setup, ticket: &str) -> Reply {
    let body = json!({"ticket_id": ticket, "ticket_number": "T-1", "point_of_sale_id": setup.pos_id,
        "device_id": "till-1", "pass": {"id": setup.pass_id, "type": "CASHBACK"},
        "payment_row": {"amount": "5.00", "currency": "978"}});
    bearer(switch, &setup.pos_token, "/cardapi/cards/cashback/debit", &body).await
}

/// A gift-card history request with a wrong PIN: counted, so the writer writes it.
async fn history_with_wrong_pin(switch: &TestSwitch, setup: &Setup) -> Reply {
    let wrong = if setup.gift_pin == "0000" { "0001" } else { "0000" };
    let token = switch.bearer_token(BearerScope::Giftcard, None, &[7]);
    let body = json!({"cards": [{"cardNumber": setup.gift_number, "pin": wrong}]});
    bearer(switch, &token, &format!("/rest/v3/order/{}/cards", setup.order_id), &body).await
}

async fn health(switch: &TestSwitch) -> (u16, Value) {
    let reply = switch.raw("GET", "/health", &[], Vec::new()).await;
    (reply.status, reply.json["status"].clone())
}

/// The published state (what readers see) equals the state loaded afresh from the store, and
/// the ledger audits clean.
fn assert_memory_is_the_store(switch: &TestSwitch) {
    let memory = switch.core().snapshot();
    let stored = switch.core().stored_state().expect("load the stored state");
    assert_eq!(memory.balances, stored.balances, "balances in memory and in the store");
    assert_eq!(
        (memory.next_transaction_id, memory.next_tranlog_id),
        (stored.next_transaction_id, stored.next_tranlog_id)
    );
    assert_eq!(sorted_keys(&memory.wallets), sorted_keys(&stored.wallets));
    assert_eq!(sorted_keys(&memory.cards), sorted_keys(&stored.cards));
    assert_eq!(sorted_keys(&memory.gift_pin_guards), sorted_keys(&stored.gift_pin_guards));
    switch.assert_ledger_balances();
}

fn sorted_keys<V: Clone, S>(
    map: &imbl::GenericHashMap<String, V, S, imbl::shared_ptr::DefaultSharedPtr>,
) -> Vec<String> {
    let mut keys: Vec<String> = map.keys().cloned().collect();
    keys.sort();
    keys
}

/// Log lines written while the guard lives, on this thread and the writer's.
#[derive(Clone, Default)]
struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLog {
    type Writer = CapturedLog;

    fn make_writer(&'a self) -> CapturedLog {
        self.clone()
    }
}

/// Keeps the capture on while it lives.
struct LogGuard {
    _default: tracing::subscriber::DefaultGuard,
    _silent: tracing::Dispatch,
}

impl CapturedLog {
    /// Starts capturing warnings and errors of this thread (the test's runtime runs the
    /// server here) and of writer threads started while the guard lives.
    fn start() -> (CapturedLog, LogGuard) {
        let log = CapturedLog::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(log.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .finish();
        // tracing-core caches each call site's interest, and while only one dispatcher exists
        // it asks the current thread's: a call site first reached by a parallel test (with no
        // subscriber) would stay off here. A second, silent dispatcher makes it ask them all.
        let silent = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
        let default = tracing::subscriber::set_default(subscriber);
        tracing::callsite::rebuild_interest_cache();
        (log, LogGuard { _default: default, _silent: silent })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock()).into_owned()
    }

    fn lines_with(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock()).lines().filter(|line| line.contains(needle)).count()
    }
}

fn assert_error(reply: &Reply, status: u16, code: &Value, says: &str) {
    let code_found = [&reply.json["error"], &reply.json["error"]["code"], &reply.json["code"]]
        .into_iter()
        .find(|found| found.is_string())
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!((reply.status, &code_found), (status, code), "{}", reply.text);
    assert!(reply.text.contains(says), "the answer says {says:?}: {}", reply.text);
}

async fn wait_until(mut done: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    panic!("condition not reached in 10 s");
}

#[tokio::test]
async fn a_failed_flush_fails_the_request_in_every_dialect_and_a_retry_runs_once() {
    let (log, _guard) = CapturedLog::start();
    let (switch, faults) = faulty_switch().await;
    let setup = setup(&switch).await;
    assert_eq!(health(&switch).await, (200, json!("ok")));
    const UNKNOWN: &str = "outcome is unknown";

    // jCard: 500 commit.failed; reads keep the durable balance until a flush succeeds.
    faults.fail(FaultOp::Flush, Failures::Next(1), FaultKind::Io);
    let failed = switch.move_money("w/credit", "25", "f1", "cashInA2W").await;
    assert_error(&failed, 500, &json!("commit.failed"), UNKNOWN);
    assert_eq!(health(&switch).await, (503, json!("degraded")));
    assert_eq!(
        switch.wallet_balance("w").await,
        "100.00",
        "no read shows an unacknowledged change"
    );
    let retried = switch.move_money("w/credit", "25", "f1", "cashInA2W").await;
    assert_eq!(
        (retried.status, &retried.json["replayed"]),
        (200, &json!(true)),
        "{}",
        retried.text
    );
    assert_eq!(switch.wallet_balance("w").await, "125.00", "the retry found the first attempt");
    assert_eq!(health(&switch).await, (200, json!("ok")));
    assert_memory_is_the_store(&switch);

    // Card issuing: 500 COMMIT_FAILED; status unknown while degraded; the request id ran once.
    faults.fail(FaultOp::Flush, Failures::Next(1), FaultKind::Io);
    let id = request_id();
    let failed = fund(&switch, &setup.card_token, &id, 10).await;
    assert_error(&failed, 500, &json!("COMMIT_FAILED"), UNKNOWN);
    let status = card_api(&switch, "request/status", &json!({"request_id": id})).await;
    assert_error(&status, 503, &json!("STORAGE_UNAVAILABLE"), "status is not known");
    let retried = fund(&switch, &setup.card_token, &id, 10).await;
    assert_error(&retried, 409, &json!("DUPLICATE_REQUEST"), "");
    let status = card_api(&switch, "request/status", &json!({"request_id": id})).await;
    assert_eq!(status.json["result"], "approved", "{}", status.text);
    assert_eq!(card_balance(&switch, &setup.card_token).await, json!(60));

    // Cashback: 500 CARD-4; the same ticket again answers the debit made once.
    faults.fail(FaultOp::Flush, Failures::Next(1), FaultKind::Io);
    let ticket = "9ffa8d1d-0765-11f1-88b3-0cc47a065898";
    assert_error(&cashback_debit(&switch, &setup, ticket).await, 500, &json!("CARD-4"), UNKNOWN);
    let retried = cashback_debit(&switch, &setup, ticket).await;
    assert_eq!(retried.status, 200, "{}", retried.text);
    assert_eq!(retried.json["receipt_row"]["balance_after"], "15.00", "{}", retried.text);

    // Gift-card history (a wrong PIN is counted, so written): 503 6053 with the reason.
    faults.fail(FaultOp::Flush, Failures::Next(1), FaultKind::Io);
    let failed = history_with_wrong_pin(&switch, &setup).await;
    assert_error(&failed, 503, &json!("6053"), UNKNOWN);
    let again = history_with_wrong_pin(&switch, &setup).await;
    assert_eq!((again.status, &again.json["code"]), (200, &json!("5141")), "{}", again.text);

    // Each failed group is logged once by the writer, each failed answer once by its dialect.
    assert_eq!(faults.injected(FaultOp::Flush), 4);
    assert_eq!(log.lines_with("commit group failed"), 4);
    assert_eq!(log.lines_with("the store flushed again"), 4);
    assert_eq!(log.lines_with("jcard request failed"), 1);
    assert_eq!(log.lines_with("card-api request failed"), 2, "{}", log.text());
    assert_eq!(log.lines_with("cardapi request failed"), 1);
    assert_eq!(log.lines_with("gift-card history failed"), 1);
    assert_memory_is_the_store(&switch);

    let switch = switch.restart().await;
    assert_eq!(switch.wallet_balance("w").await, "125.00");
    assert_eq!(card_balance(&switch, &setup.card_token).await, json!(60));
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn a_failed_flush_fails_every_request_of_its_group_and_each_retry_posts_once() {
    let (switch, faults) = faulty_switch().await;
    switch.open_wallet("g").await;
    assert_eq!(switch.move_money("g/credit", "100", "g0", "cashInA2W").await.status, 200);
    let credit = |rrn: String| {
        let body =
            format!(r#"{{"amount": 1, "currency": "840", "rrn": "{rrn}", "type": "cashInA2W"}}"#);
        send_json(
            switch.switch.address,
            switch.admin.clone(),
            "POST".to_owned(),
            "/jcard/api/wallets/g/credit".to_owned(),
            body,
        )
    };
    // Hold the flush of a first group while eight more requests are decided and applied behind
    // it (the writer goes on while a flush waits), then fail the one flush that covers them.
    faults.hold_next(FaultOp::Flush);
    let first = tokio::spawn(credit("first".to_owned()));
    wait_until(|| faults.is_holding()).await;
    let rrns: Vec<String> = (1..=8).map(|index| format!("g{index}")).collect();
    let group: Vec<_> = rrns.iter().map(|rrn| tokio::spawn(credit(rrn.clone()))).collect();
    wait_until(|| switch.core().commands_awaiting_flush() == 9).await;
    assert_eq!(switch.wallet_balance("g").await, "100.00", "readers see only what is durable");
    faults.fail(FaultOp::Flush, Failures::Next(1), FaultKind::Io);
    faults.release();
    assert_eq!(first.await.unwrap().0, 200, "the held group's flush succeeded");
    for answer in futures::future::join_all(group).await {
        let (status, json) = answer.unwrap();
        assert_eq!((status, &json["error"]), (500, &json!("commit.failed")), "{json}");
    }
    assert_eq!(faults.injected(FaultOp::Flush), 1, "one flush failed, for all eight");
    assert_eq!(switch.wallet_balance("g").await, "101.00");
    for rrn in &rrns {
        let (status, json) = credit(rrn.clone()).await;
        assert_eq!((status, &json["replayed"]), (200, &json!(true)), "{json}");
    }
    assert_eq!(switch.wallet_balance("g").await, "109.00", "each of the eight posted once");
    assert_memory_is_the_store(&switch);
    let switch = switch.restart().await;
    assert_eq!(switch.wallet_balance("g").await, "109.00");
}

/// The RRN index learns a group's RRNs when the group is published; the writer decides the
/// next groups before that. Copies of a movement decided while its group waits for its flush
/// find it all the same: each replays it, and one with another amount is a duplicate.
#[tokio::test]
async fn retries_decided_while_the_originals_flush_waits_replay_it() {
    let (switch, faults) = faulty_switch().await;
    switch.open_wallet("h").await;
    let credit = |amount: u32| {
        let body = format!(
            r#"{{"amount": {amount}, "currency": "840", "rrn": "held", "type": "cashInA2W"}}"#
        );
        send_json(
            switch.switch.address,
            switch.admin.clone(),
            "POST".to_owned(),
            "/jcard/api/wallets/h/credit".to_owned(),
            body,
        )
    };
    faults.hold_next(FaultOp::Flush);
    let first = tokio::spawn(credit(5));
    wait_until(|| faults.is_holding()).await;
    // One copy per group: each decided after the one before was applied, none published.
    let mut copies = Vec::new();
    for (waiting, amount) in [(2, 5), (3, 5), (4, 6)] {
        copies.push(tokio::spawn(credit(amount)));
        wait_until(|| switch.core().commands_awaiting_flush() == waiting).await;
    }
    faults.release();
    let (status, json) = first.await.unwrap();
    assert_eq!((status, &json["replayed"]), (200, &json!(false)), "{json}");
    let answers: Vec<(u16, Value)> =
        futures::future::join_all(copies).await.into_iter().map(Result::unwrap).collect();
    for (status, json) in &answers[..2] {
        assert_eq!((*status, &json["replayed"]), (200, &json!(true)), "{json}");
    }
    assert_eq!((answers[2].0, &answers[2].1["error"]), (409, &json!("duplicate.rrn")));
    assert_eq!(switch.wallet_balance("h").await, "5.00", "credited once");
    assert_memory_is_the_store(&switch);
    let report = switch.core().audit().unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[tokio::test]
async fn a_failed_apply_changes_nothing_and_the_retry_applies_afresh() {
    let (switch, faults) = faulty_switch().await;
    let setup = setup(&switch).await;
    let applied = faults.passed(FaultOp::Apply);
    faults.fail(FaultOp::Apply, Failures::Next(1), FaultKind::Io);
    let failed = switch.move_money("w/credit", "25", "a1", "cashInA2W").await;
    assert_error(&failed, 503, &json!("storage.unavailable"), "nothing changed");
    assert!(failed.text.contains("input/output error"), "{}", failed.text);
    assert_eq!(faults.passed(FaultOp::Apply), applied, "no batch reached the engine");
    assert_memory_is_the_store(&switch);
    let unknown = switch.admin_call("GET", "/jcard/api/transactions/a1", "").await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    assert_eq!(health(&switch).await, (503, json!("degraded")));
    let retried = switch.move_money("w/credit", "25", "a1", "cashInA2W").await;
    assert_eq!(
        (retried.status, &retried.json["replayed"]),
        (200, &json!(false)),
        "{}",
        retried.text
    );
    assert_eq!(switch.wallet_balance("w").await, "125.00");
    assert_eq!(health(&switch).await, (200, json!("ok")));

    // A full disk on apply: the request id is not spent, so the same request runs afresh.
    faults.fail(FaultOp::Apply, Failures::Next(1), FaultKind::DiskFull);
    let id = request_id();
    let failed = fund(&switch, &setup.card_token, &id, 10).await;
    assert_error(&failed, 503, &json!("STORAGE_UNAVAILABLE"), "the disk is full");
    assert_eq!(card_balance(&switch, &setup.card_token).await, json!(50));
    assert_eq!(fund(&switch, &setup.card_token, &id, 10).await.status, 200);
    assert_eq!(card_balance(&switch, &setup.card_token).await, json!(60));
    assert_memory_is_the_store(&switch);
}

#[tokio::test]
async fn a_full_disk_refuses_every_change_until_a_flush_succeeds_and_never_corrupts() {
    let (switch, faults) = faulty_switch().await;
    let setup = setup(&switch).await;
    let applied = faults.passed(FaultOp::Apply);
    faults.fail(FaultOp::Flush, Failures::Always, FaultKind::DiskFull);
    let failed = switch.move_money("w/credit", "25", "d1", "cashInA2W").await;
    assert_error(&failed, 500, &json!("commit.failed"), "the disk is full");
    assert_eq!(health(&switch).await, (503, json!("degraded")));

    // Degraded: every change is refused unapplied, in each dialect's shape, saying why.
    const FULL: &str = "the disk is full";
    let refused = switch.move_money("w/credit", "5", "d2", "cashInA2W").await;
    assert_error(&refused, 503, &json!("storage.unavailable"), FULL);
    let refused = switch.move_money("w/debit", "5", "d3", "creditBankAccountW2A").await;
    assert_error(&refused, 503, &json!("storage.unavailable"), FULL);
    let refused = fund(&switch, &setup.card_token, &request_id(), 10).await;
    assert_error(&refused, 503, &json!("STORAGE_UNAVAILABLE"), FULL);
    let ticket = "6f1c1f4e-6a43-4d1a-9a53-1d1b7f7c0009";
    assert_error(&cashback_debit(&switch, &setup, ticket).await, 500, &json!("CARD-1"), FULL);
    assert_error(&history_with_wrong_pin(&switch, &setup).await, 503, &json!("6053"), FULL);
    assert_eq!(faults.passed(FaultOp::Apply), applied + 1, "only d1's batch was applied");
    let metrics = switch.raw("GET", "/metrics", &[], Vec::new()).await.text;
    assert!(metrics.contains("cardswitch_commands_refused_total 5"), "{metrics}");
    // Reads are served, from what is durable.
    assert_eq!(switch.wallet_balance("w").await, "100.00");

    faults.clear();
    let retried = switch.move_money("w/credit", "25", "d1", "cashInA2W").await;
    assert_eq!(
        (retried.status, &retried.json["replayed"]),
        (200, &json!(true)),
        "{}",
        retried.text
    );
    let fresh = switch.move_money("w/credit", "5", "d2", "cashInA2W").await;
    assert_eq!((fresh.status, &fresh.json["replayed"]), (200, &json!(false)), "{}", fresh.text);
    assert_eq!(switch.wallet_balance("w").await, "130.00");
    assert_eq!(health(&switch).await, (200, json!("ok")));
    assert_memory_is_the_store(&switch);

    let dir = switch.stop().await;
    let verify = std::process::Command::new(BINARY)
        .args(["verify", "--data"])
        .arg(dir.path())
        .output()
        .expect("run cardswitch verify");
    let printed = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success() && printed.contains("verify: ok"), "{printed}");
}
