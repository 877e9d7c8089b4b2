//! Operations: health, metrics, unknown routes, every configured limit, graceful stop.

use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::support::{open_core, send_detached, TestSwitch};

#[tokio::test]
async fn health_and_metrics_report() {
    let switch = TestSwitch::start().await;
    let health = switch.raw("GET", "/health", &[], vec![]).await;
    assert_eq!((health.status, health.json["status"].clone()), (200, json!("ok")));
    let body = r#"{"postDate":"2020-01-01","journalName":"jcard","entries":[
        {"amount":1,"accountCode":"31.001.00","type":"credit","layer":840},
        {"amount":1,"accountCode":"12.001.00","type":"debit","layer":840}]}"#;
    assert_eq!(switch.admin_call("POST", "/jcard/api/gl/transactions", body).await.status, 201);
    let metrics = switch.raw("GET", "/metrics", &[], vec![]).await;
    assert_eq!(metrics.status, 200);
    for needle in [
        "cardswitch_http_requests_total{route=\"/jcard/api/gl/transactions\",status=\"201\"} 1",
        "cardswitch_http_request_seconds_bucket",
        "cardswitch_commit_group_commands_count",
        "cardswitch_commit_flush_seconds_count",
        "cardswitch_http_connections_open",
    ] {
        assert!(metrics.text.contains(needle), "missing {needle} in\n{}", metrics.text);
    }
    // One more posting writes its transaction and the nonce, in one group with one flush (its
    // two entries reach the account-entry index, and its balance changes the balance snapshot,
    // from the transaction).
    assert_eq!(switch.admin_call("POST", "/jcard/api/gl/transactions", body).await.status, 201);
    let after = switch.raw("GET", "/metrics", &[], vec![]).await;
    let delta = |name: &str| counter(&after.text, name) - counter(&metrics.text, name);
    assert_eq!(
        (
            delta("cardswitch_commit_groups_total"),
            delta("cardswitch_commit_flushes_total"),
            delta("cardswitch_store_records_written_total")
        ),
        (1, 1, 2),
        "{}",
        after.text
    );
    assert!(delta("cardswitch_store_bytes_written_total") > 2 * 10, "{}", after.text);
    // Every group that wrote was timed, as each flush was.
    assert_eq!(
        counter(&after.text, "cardswitch_commit_apply_seconds_count"),
        counter(&after.text, "cardswitch_commit_groups_total"),
        "{}",
        after.text
    );
}

/// A counter's value in the Prometheus text (0 when absent).
fn counter(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn unknown_routes_answer_in_the_dialects_shape() {
    let switch = TestSwitch::start().await;
    let jcard = switch.admin_call("GET", "/jcard/api/nothing/here", "").await;
    assert_eq!(
        (jcard.status, jcard.json["success"].clone(), jcard.json["error"].clone()),
        (404, json!(false), json!("not.found"))
    );
    let method = switch.admin_call("PATCH", "/jcard/api/echo", "").await;
    assert_eq!((method.status, method.json["error"].clone()), (405, json!("method.not.allowed")));
    let plain = switch.raw("GET", "/elsewhere", &[], vec![]).await;
    assert_eq!((plain.status, plain.json["error"].clone()), (404, json!("not.found")));
}

#[tokio::test]
async fn oversized_bodies_are_refused_and_the_switch_keeps_serving() {
    let switch = TestSwitch::start_with(|config| config.http.body_bytes_max = 2048).await;
    let big = format!("{{\"payload\":\"{}\"}}", "x".repeat(4096));
    let reply = switch.admin_call("POST", "/jcard/api/echo", &big).await;
    assert_eq!((reply.status, reply.json["error"].clone()), (413, json!("body.too.large")));
    let nested = format!("{}1{}", "[".repeat(500), "]".repeat(500));
    let reply = switch.admin_call("POST", "/jcard/api/echo", &nested).await;
    assert_eq!((reply.status, reply.json["error"].clone()), (400, json!("invalid.json")));
    assert_eq!(switch.admin_call("GET", "/jcard/api/echo", "").await.status, 200);
}

#[tokio::test]
async fn idle_and_slow_connections_cannot_starve_the_switch() {
    let switch = TestSwitch::start_with(|config| {
        config.http.connections_max = 2;
        // No overload slots: past the limit clients wait in the backlog (see limits.rs for
        // the 503 answered with overload slots).
        config.http.overload_connections_max = 0;
        config.http.header_read_timeout_ms = 300;
    })
    .await;
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut stream = tokio::net::TcpStream::connect(switch.switch.address).await.unwrap();
        stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        slow.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let blocked =
        tokio::time::timeout(Duration::from_millis(150), switch.raw("GET", "/health", &[], vec![]))
            .await;
    assert!(blocked.is_err(), "a third connection was served beyond connections_max");
    // The slow clients are cut off after the header timeout, freeing their slots.
    let served =
        tokio::time::timeout(Duration::from_secs(5), switch.raw("GET", "/health", &[], vec![]))
            .await;
    assert_eq!(served.expect("served once slow clients were dropped").status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_keeps_exactly_the_acknowledged_postings() {
    const BODY: &str = r#"{"postDate":"2020-01-01","journalName":"jcard","entries":[
        {"amount":1,"accountCode":"31.001.00","type":"credit","layer":840},
        {"amount":1,"accountCode":"12.001.00","type":"debit","layer":840}]}"#;
    let switch = TestSwitch::start().await;
    let address = switch.switch.address;
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            tokio::spawn(send_detached(
                address,
                switch.admin.clone(),
                "POST",
                "/jcard/api/gl/transactions",
                BODY,
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let config = switch.config.clone();
    let dir = switch.stop().await;
    let mut acknowledged = 0_i64;
    for task in tasks {
        match task.await.unwrap() {
            Some(201) => acknowledged += 1,
            Some(status) => assert_eq!(status, 503, "only a stopping switch may refuse"),
            None => {}
        }
    }
    let core = open_core(&config);
    let balance = core.balance("jcard", "31.001.00", &[840], None).unwrap();
    assert_eq!(balance.balance.units(), acknowledged * 10_000, "acknowledged {acknowledged}");
    assert!(core.audit().unwrap().is_clean());
    core.shutdown().await.unwrap();
    drop(dir);
}
