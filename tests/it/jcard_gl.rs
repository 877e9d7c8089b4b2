//! `/gl` over HTTP: the document's examples as written against a fresh data directory, every
//! refusal (each leaving the ledger untouched), statements, roll-ups and durability.

use serde_json::{json, Value};

use crate::support::{damage_first_run, gauge, verify_dir, TestSwitch};

/// The document's `POST /gl/transactions` example, as written.
const POST_EXAMPLE: &str = include_str!("../fixtures/jcard/gl_transaction_example.json");

const ACCOUNT_EXAMPLE: &str = r#"{
  "code": "22.001.00",
  "description": "a description",
  "accountType": "credit",
  "parentCode": "11.001",
  "final": true
}"#;

fn balance_path(account: &str, query: &str) -> String {
    format!("/jcard/api/gl/journals/jcard/accounts/{account}/balance?{query}")
}

async fn balance(switch: &TestSwitch, account: &str, query: &str) -> Value {
    let reply = switch.admin_call("GET", &balance_path(account, query), "").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json["response"]["balance"].clone()
}

fn posting(entries: &[(&str, &str, &str, i64)], post_date: &str) -> String {
    let entries: Vec<Value> = entries
        .iter()
        .map(|(amount, account, side, layer)| {
            json!({"amount": amount.parse::<serde_json::Number>().unwrap(), "accountCode": account, "type": side, "layer": layer})
        })
        .collect();
    json!({"postDate": post_date, "journalName": "jcard", "detail": "test", "entries": entries})
        .to_string()
}

#[tokio::test]
async fn the_documents_gl_examples_work_as_written() {
    let switch = TestSwitch::start().await;
    let posted = switch.admin_call("POST", "/jcard/api/gl/transactions", POST_EXAMPLE).await;
    assert_eq!(posted.status, 201, "{}", posted.text);
    assert_eq!(posted.json["success"], true);

    // The document's own URIs, trailing space in the account code included.
    let reply = switch
        .admin_call(
            "GET",
            "/jcard/api/gl/journals/jcard/accounts/12.001.00%20/balance?layers=&date=",
            "",
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let response = &reply.json["response"];
    assert_eq!(response["balance"].to_string(), "4693.38");
    assert_eq!(
        (response["accountCode"].clone(), response["journalCode"].clone()),
        (json!("12.001.00"), json!("jcard"))
    );
    assert_eq!(response["layers"], "840");

    check_example_statement(&switch).await;

    let created =
        switch.admin_call("POST", "/jcard/api/gl/charts/jcard/accounts", ACCOUNT_EXAMPLE).await;
    assert_eq!((created.status, created.json.clone()), (201, json!({"success": true})));
}

/// The document's statement URI as written, after its example posting.
async fn check_example_statement(switch: &TestSwitch) {
    let reply = switch
        .admin_call(
            "GET",
            "/jcard/api/gl/journals/jcard/accounts/12.001.00%20/statement?layers=&start=&end=",
            "",
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let statement = &reply.json["accountStatement"];
    assert_eq!(statement["start"], "Sun Feb 01 00:00:00 UTC 1970");
    assert_eq!(statement["end"], "Sun Jan 31 23:59:59 UTC 2100");
    assert_eq!(statement["layers"], json!([840]));
    assert_eq!(
        (statement["initialBalance"].to_string(), statement["finalBalance"].to_string()),
        ("0".to_owned(), "4693.38".to_owned())
    );
    assert_eq!(
        (statement["debits"].to_string(), statement["credits"].to_string()),
        ("4693.38".to_owned(), "0".to_owned())
    );
    let entry = &statement["entries"][0];
    assert_eq!(entry["postDate"], "2015-06-22T00:00:00Z");
    assert_eq!(
        (entry["detail"].clone(), entry["tags"].clone()),
        (json!("EntryDetail"), json!("tag2"))
    );
    assert_eq!(
        (entry["debit"].to_string(), entry["layer"].clone(), entry["reversalCount"].clone()),
        ("4693.38".to_owned(), json!(840), json!(0))
    );
}

#[tokio::test]
async fn composites_roll_up_with_the_childs_sign() {
    let switch = TestSwitch::start().await;
    assert_eq!(
        switch
            .admin_call("POST", "/jcard/api/gl/charts/jcard/accounts", ACCOUNT_EXAMPLE)
            .await
            .status,
        201
    );
    let body = posting(
        &[("10", "22.001.00", "credit", 840), ("10", "12.001.00", "debit", 840)],
        "2020-01-01",
    );
    assert_eq!(
        switch.admin_call("POST", "/jcard/api/gl/transactions", body.as_str()).await.status,
        201
    );
    let body = posting(
        &[("3", "11.001.00", "debit", 840), ("3", "31.001.00", "credit", 840)],
        "2020-01-01",
    );
    assert_eq!(
        switch.admin_call("POST", "/jcard/api/gl/transactions", body.as_str()).await.status,
        201
    );
    assert_eq!(balance(&switch, "22.001.00", "layers=840").await, 10);
    assert_eq!(balance(&switch, "11.001.00", "layers=840").await, 3);
    // 11.001 (debit) holds 11.001.00 (debit, +3) and 22.001.00 (credit, counted -10).
    assert_eq!(balance(&switch, "11.001", "layers=840").await, -7);
    assert_eq!(balance(&switch, "11", "layers=840").await, -7);
    assert_eq!(balance(&switch, "31", "").await, 3);
    assert_eq!(balance(&switch, "11.001", "layers=840&date=2019-12-31").await, 0);
}

#[tokio::test]
async fn refused_postings_change_nothing() {
    let switch = TestSwitch::start().await;
    let cases: Vec<(String, u16, &str)> = vec![
        (posting(&[("5", "11.001.00", "credit", 840), ("4", "12.001.00", "debit", 840)], "2015-06-22"), 400, "unbalanced.transaction"),
        (posting(&[("5", "11.001.00", "credit", 840), ("5", "12.001.00", "debit", 1840)], "2015-06-22"), 400, "unbalanced.transaction"),
        (posting(&[("5", "11.001", "credit", 840), ("5", "12.001.00", "debit", 840)], "2015-06-22"), 400, "account.not.final"),
        (posting(&[("5", "99.999", "credit", 840), ("5", "12.001.00", "debit", 840)], "2015-06-22"), 400, "invalid.account"),
        (posting(&[("5.00001", "11.001.00", "credit", 840), ("5.00001", "12.001.00", "debit", 840)], "2015-06-22"), 400, "invalid.amount"),
        (posting(&[("1e30", "11.001.00", "credit", 840), ("1e30", "12.001.00", "debit", 840)], "2015-06-22"), 400, "invalid.amount"),
        (posting(&[("5", "11.001.00", "credit", 40000), ("5", "12.001.00", "debit", 40000)], "2015-06-22"), 400, "invalid.layer"),
        (posting(&[("5", "11.001.00", "credit", 840)], "2015-06-22"), 400, "invalid.entries"),
        (posting(&[("5", "11.001.00", "credit", 840), ("5", "12.001.00", "debit", 840)], "22/06/2015"), 400, "invalid.postDate"),
        (posting(&[("5", "11.001.00", "credit", 840), ("5", "12.001.00", "debit", 840)], "2015-06-22").replace("\"jcard\"", "\"other\""), 400, "invalid.journal"),
        (r#"{"postDate":"2015-06-22","journalName":"jcard","entries":[{"amount":"5","accountCode":"11.001.00","type":"credit"},{"amount":5,"accountCode":"12.001.00","type":"debit"}]}"#.to_owned(), 400, "invalid.request"),
        (r#"{"postDate":"2015-06-22","journalName":"jcard","entries":[{"amount":5,"accountCode":"11.001.00","type":"sideways"},{"amount":5,"accountCode":"12.001.00","type":"debit"}]}"#.to_owned(), 400, "invalid.request"),
        (r#"{"postDate":"2015-06-22","entries":[]}"#.to_owned(), 400, "missing.fields"),
        (r#"{"postDate":"2015-06-22","journalName":"jcard","entries":[],"bogus":true}"#.to_owned(), 400, "extra.fields"),
        (r#"{"postDate":"2015-06-22","journalName":"jcard","entries":[{"amount":5,"accountCode":"11.001.00","type":"credit","colour":"red"},{"amount":5,"accountCode":"12.001.00","type":"debit"}]}"#.to_owned(), 400, "extra.fields"),
    ];
    for (body, status, error) in &cases {
        let reply = switch.admin_call("POST", "/jcard/api/gl/transactions", body).await;
        assert_eq!(reply.status, *status, "{body}: {}", reply.text);
        assert_eq!(reply.json["error"], *error, "{body}: {}", reply.text);
        assert!(reply.json["message"].as_str().is_some_and(|message| !message.is_empty()));
    }
    for account in ["11.001.00", "12.001.00", "11", "12"] {
        assert_eq!(balance(&switch, account, "").await, 0, "{account}");
    }
    let report = switch.core().audit().unwrap();
    assert_eq!(report.transactions, 0);
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[tokio::test]
async fn statements_select_by_date_and_layer() {
    let switch = TestSwitch::start().await;
    let postings = [
        (posting(
            &[("100", "31.001.00", "credit", 840), ("100", "12.001.00", "debit", 840)],
            "2020-01-01",
        )),
        (posting(
            &[("7.5", "31.001.00", "credit", 1840), ("7.5", "12.001.00", "debit", 1840)],
            "2020-01-02",
        )),
        (posting(
            &[("20", "31.001.00", "debit", 840), ("20", "12.001.00", "credit", 840)],
            "2020-01-03",
        )),
    ];
    for body in &postings {
        assert_eq!(switch.admin_call("POST", "/jcard/api/gl/transactions", body).await.status, 201);
    }
    let path = "/jcard/api/gl/journals/jcard/accounts/31.001.00/statement";
    let all = switch.admin_call("GET", &format!("{path}?layers=840,1840"), "").await.json
        ["accountStatement"]
        .clone();
    assert_eq!(all["entries"].as_array().unwrap().len(), 3);
    assert_eq!(all["finalBalance"].to_string(), "87.5");
    assert_eq!(all["entries"][1]["balance"].to_string(), "107.5");

    let later = switch
        .admin_call("GET", &format!("{path}?layers=840,1840&start=2020-01-02&end=2020-01-02"), "")
        .await;
    let later = &later.json["accountStatement"];
    assert_eq!(later["initialBalance"], 100);
    assert_eq!(later["entries"].as_array().unwrap().len(), 1);
    assert_eq!(later["finalBalance"].to_string(), "107.5");
    assert_eq!(later["start"], "Thu Jan 02 00:00:00 UTC 2020");
    assert_eq!(later["end"], "Thu Jan 02 23:59:59 UTC 2020");

    let pending = switch.admin_call("GET", &format!("{path}?layers=1840"), "").await.json
        ["accountStatement"]
        .clone();
    assert_eq!(pending["entries"].as_array().unwrap().len(), 1);
    assert_eq!(pending["credits"].to_string(), "7.5");
}

#[tokio::test]
async fn bad_balance_and_statement_queries_are_refused() {
    let switch = TestSwitch::start().await;
    let path = "/jcard/api/gl/journals/jcard/accounts/31.001.00/statement";
    for (query, error) in [
        ("start=2020-13-01", "invalid.date"),
        ("layers=abc", "invalid.layers"),
        ("start=2020-02-01&end=2020-01-01", "invalid.date"),
    ] {
        let reply = switch.admin_call("GET", &format!("{path}?{query}"), "").await;
        assert_eq!((reply.status, reply.json["error"].clone()), (400, json!(error)), "{query}");
    }
    let composite =
        switch.admin_call("GET", "/jcard/api/gl/journals/jcard/accounts/31/statement", "").await;
    assert_eq!(composite.json["error"], "account.not.final");
    let unknown =
        switch.admin_call("GET", "/jcard/api/gl/journals/jcard/accounts/77/balance", "").await;
    assert_eq!((unknown.status, unknown.json["error"].clone()), (404, json!("invalid.account")));
    let journal =
        switch.admin_call("GET", "/jcard/api/gl/journals/nope/accounts/31/balance", "").await;
    assert_eq!((journal.status, journal.json["error"].clone()), (404, json!("invalid.journal")));
}

#[tokio::test]
async fn long_statements_are_cut_at_the_configured_limit() {
    let switch = TestSwitch::start_with(|config| config.lists.statement_entries_max = 3).await;
    for _ in 0..5 {
        let body = posting(
            &[("1", "31.001.00", "credit", 840), ("1", "12.001.00", "debit", 840)],
            "2020-01-01",
        );
        assert_eq!(
            switch.admin_call("POST", "/jcard/api/gl/transactions", body.as_str()).await.status,
            201
        );
    }
    let reply = switch
        .admin_call("GET", "/jcard/api/gl/journals/jcard/accounts/31.001.00/statement", "")
        .await;
    let statement = &reply.json["accountStatement"];
    assert_eq!(statement["entries"].as_array().unwrap().len(), 3);
    assert_eq!(statement["truncated"], true);
    assert_eq!(statement["finalBalance"], 3);
}

#[tokio::test]
async fn chart_accounts_are_checked() {
    let switch = TestSwitch::start().await;
    let path = "/jcard/api/gl/charts/jcard/accounts";
    let account = |code: &str, parent: &str, is_final: bool| {
        json!({"code": code, "accountType": "debit", "parentCode": parent, "final": is_final})
            .to_string()
    };
    assert_eq!(switch.admin_call("POST", path, &account("13", "jcard", false)).await.status, 201);
    assert_eq!(switch.admin_call("POST", path, &account("13.001", "13", true)).await.status, 201);
    let cases = [
        (path, account("13", "jcard", false), 409, "already.exists"),
        (path, account("11.001.00", "11.001", true), 409, "already.exists"),
        (path, account("13.002", "99", true), 400, "invalid.parent"),
        (path, account("13.001.01", "13.001", true), 400, "invalid.parent"),
        ("/jcard/api/gl/charts/other/accounts", account("14", "other", true), 404, "invalid.chart"),
        (
            path,
            r#"{"code":"15","accountType":"debit","parentCode":"jcard"}"#.to_owned(),
            400,
            "missing.fields",
        ),
        (
            path,
            r#"{"code":"15","accountType":"asset","parentCode":"jcard","final":true}"#.to_owned(),
            400,
            "invalid.request",
        ),
    ];
    for (path, body, status, error) in cases {
        let reply = switch.admin_call("POST", path, &body).await;
        assert_eq!((reply.status, reply.json["error"].clone()), (status, json!(error)), "{body}");
    }
}

#[tokio::test]
async fn an_expired_account_refuses_later_entries() {
    let switch = TestSwitch::start().await;
    let path = "/jcard/api/gl/charts/jcard/accounts";
    let parent = r#"{"code":"13","accountType":"debit","parentCode":"jcard","final":false}"#;
    assert_eq!(switch.admin_call("POST", path, parent).await.status, 201);
    let expiring = r#"{"code":"13.009","accountType":"debit","parentCode":"13","final":true,"expiration":"2015-01-01"}"#;
    assert_eq!(switch.admin_call("POST", path, expiring).await.status, 201);
    let late =
        posting(&[("1", "13.009", "debit", 840), ("1", "31.001.00", "credit", 840)], "2015-06-22");
    let reply = switch.admin_call("POST", "/jcard/api/gl/transactions", late.as_str()).await;
    assert_eq!(reply.json["error"], "account.expired");
    let in_time =
        posting(&[("1", "13.009", "debit", 840), ("1", "31.001.00", "credit", 840)], "2015-01-01");
    assert_eq!(
        switch.admin_call("POST", "/jcard/api/gl/transactions", in_time.as_str()).await.status,
        201
    );
}

#[tokio::test]
async fn concurrent_postings_all_land_and_survive_a_restart() {
    let switch = TestSwitch::start().await;
    let body = posting(
        &[("0.25", "31.001.00", "credit", 840), ("0.25", "12.001.00", "debit", 840)],
        "2021-03-04",
    );
    let calls =
        (0..64).map(|_| switch.admin_call("POST", "/jcard/api/gl/transactions", body.as_str()));
    let replies = futures::future::join_all(calls).await;
    assert!(replies.iter().all(|reply| reply.status == 201));
    assert_eq!(balance(&switch, "31.001.00", "layers=840").await, 16);
    let switch = switch.restart().await;
    assert_eq!(balance(&switch, "31.001.00", "layers=840").await, 16);
    assert_eq!(balance(&switch, "12", "layers=840").await, 16);
    let report = switch.core().audit().unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.transactions, 64);
}

/// A statement without what depends on when it was posted (each line's `postDate` is the
/// posting's time).
fn without_times(mut statement: Value) -> Value {
    for entry in statement["entries"].as_array_mut().into_iter().flatten() {
        entry.as_object_mut().unwrap().remove("postDate");
    }
    statement
}

async fn statements(switch: &TestSwitch) -> Vec<Value> {
    let mut answers = Vec::new();
    for account in ["31.001.00", "12.001.00", "11.001.00"] {
        for query in [
            "layers=840,1840&start=2019-12-01&end=2020-02-01",
            "layers=840&start=2020-01-03&end=2020-01-07",
            "layers=1840&start=2020-01-01&end=2020-01-11",
        ] {
            let path = format!("/jcard/api/gl/journals/jcard/accounts/{account}/statement?{query}");
            let reply = switch.admin_call("GET", &path, "").await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            answers.push(without_times(reply.json["accountStatement"].clone()));
        }
    }
    answers
}

/// The account-entry index in runs of four entries, merged two at a time, against one that
/// keeps everything in memory: the same statements, before and after a restart (which reads
/// the runs and the transactions not in them yet), and a clean audit.
#[tokio::test]
async fn statements_read_the_same_from_the_entry_indexs_runs_and_memory() {
    let small = TestSwitch::start_with(|config| {
        config.store.entry_run_entries = 4;
        config.store.entry_runs_per_merge = 2;
    })
    .await;
    let whole = TestSwitch::start().await;
    let pairs =
        [("31.001.00", "12.001.00"), ("11.001.00", "31.001.00"), ("12.001.00", "11.001.00")];
    for n in 0..30_usize {
        let (credited, debited) = pairs[n % 3];
        let layer = if n % 4 == 3 { 1840 } else { 840 };
        let entries = json!([
            {"amount": n + 1, "accountCode": credited, "type": "credit", "layer": layer},
            {"amount": n + 1, "accountCode": debited, "type": "debit", "layer": layer},
        ]);
        let post_date = format!("2020-01-{:02}", 1 + (n * 7) % 11);
        let body = json!({"postDate": post_date, "journalName": "jcard", "detail": format!("t{n}"), "entries": entries})
            .to_string();
        for switch in [&small, &whole] {
            let reply = switch.admin_call("POST", "/jcard/api/gl/transactions", &body).await;
            assert_eq!(reply.status, 201, "{}", reply.text);
        }
    }
    let expected = statements(&whole).await;
    assert_eq!(expected[0]["entries"].as_array().unwrap().len(), 20);
    assert_eq!(statements(&small).await, expected);

    let small = small.restart().await;
    assert_eq!(statements(&small).await, expected);
    // The gauges are set by the next commit.
    let body = posting(
        &[("1", "31.001.00", "credit", 840), ("1", "12.001.00", "debit", 840)],
        "2020-01-05",
    );
    assert_eq!(small.admin_call("POST", "/jcard/api/gl/transactions", &body).await.status, 201);
    let metrics = small.raw("GET", "/metrics", &[], vec![]).await.text;
    assert!(gauge(&metrics, "cardswitch_entry_index_runs") >= 1, "{metrics}");
    assert!(gauge(&metrics, "cardswitch_entry_index_entries_in_memory") < 4 + 2, "{metrics}");
    let report = small.core().audit().unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    let dir = small.stop().await;
    let runs = std::fs::read_dir(dir.path().join("entries")).unwrap().count();
    assert!(runs >= 2, "a manifest and runs: {runs} files");
}

/// A damaged block of a run is found by `verify`, which says how to rebuild the index; once
/// `entries/` is deleted, the next start rebuilds it from the transactions.
#[tokio::test]
async fn verify_names_a_damaged_entry_run_and_a_deleted_index_is_rebuilt() {
    let switch = TestSwitch::start_with(|config| config.store.entry_run_entries = 4).await;
    for day in 1..=12 {
        let body = posting(
            &[("1", "31.001.00", "credit", 840), ("1", "12.001.00", "debit", 840)],
            &format!("2020-01-{day:02}"),
        );
        assert_eq!(
            switch.admin_call("POST", "/jcard/api/gl/transactions", &body).await.status,
            201
        );
    }
    // A restart writes what waits in memory as runs before it listens.
    let switch = switch.restart().await;
    let path = "/jcard/api/gl/journals/jcard/accounts/31.001.00/statement?layers=840";
    let before = switch.admin_call("GET", path, "").await.json["accountStatement"].clone();
    assert_eq!(before["entries"].as_array().unwrap().len(), 12);
    let admin = switch.admin.clone();
    let dir = switch.stop().await;
    let entries = dir.path().join("entries");
    damage_first_run(&entries, 16 + 2);
    let output = verify_dir(dir.path());
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(!output.status.success(), "{report}");
    assert!(report.contains("account-entry index cannot be read"), "{report}");
    assert!(report.contains("delete its entries/ directory"), "{report}");

    std::fs::remove_dir_all(&entries).unwrap();
    assert!(verify_dir(dir.path()).status.success());
    let switch = TestSwitch::open_dir(dir, admin).await;
    let after = switch.admin_call("GET", path, "").await.json["accountStatement"].clone();
    assert_eq!(without_times(after), without_times(before));
}
