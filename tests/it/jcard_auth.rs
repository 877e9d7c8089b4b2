//! jCard authentication over HTTP: every check of the HMAC scheme, replays (also across a
//! restart), and permissions. A refused request changes nothing.

use cardswitch::store::{Keyspace, Store};

use crate::support::{fresh_nonce, now_ms, signed_headers, Credentials, TestSwitch};

const ECHO: &str = "/jcard/api/echo";

fn without(headers: &[(String, String)], name: &str) -> Vec<(String, String)> {
    headers.iter().filter(|(key, _)| key != name).cloned().collect()
}

fn replace(headers: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
    let mut headers = without(headers, name);
    headers.push((name.to_owned(), value.to_owned()));
    headers
}

async fn refused(
    switch: &TestSwitch,
    headers: &[(String, String)],
    body: &str,
    status: u16,
    error: &str,
) {
    let method = if body.is_empty() { "GET" } else { "POST" };
    let reply = switch.raw(method, ECHO, headers, body.as_bytes().to_vec()).await;
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(reply.json["success"], false);
    assert_eq!(reply.json["error"], error, "{}", reply.text);
}

#[tokio::test]
async fn every_credential_check_refuses_with_its_own_code() {
    let switch = TestSwitch::start().await;
    let good = signed_headers(&switch.admin, now_ms(), &fresh_nonce(), b"");
    assert_eq!(switch.raw("GET", ECHO, &good, vec![]).await.status, 200);

    refused(&switch, &[], "", 401, "unsupported.version").await;
    let fresh = || signed_headers(&switch.admin, now_ms(), &fresh_nonce(), b"");
    let stranger = uuid::Uuid::new_v4().to_string();
    let cases = [
        (replace(&fresh(), "version", "2.0"), "unsupported.version"),
        (replace(&fresh(), "consumer-id", "not-a-uuid"), "invalid.consumer"),
        (replace(&fresh(), "consumer-id", &stranger), "invalid.consumer"),
        (without(&fresh(), "hash"), "invalid.null.hash"),
        (without(&fresh(), "timestamp"), "invalid.timestamp"),
        (without(&fresh(), "nonce"), "invalid.nonce"),
        (replace(&fresh(), "hash", "AAAA"), "invalid.hash"),
        (replace(&fresh(), "hash", "%%%not base64"), "invalid.hash"),
    ];
    for (headers, error) in cases {
        refused(&switch, &headers, "", 401, error).await;
    }
    let long_nonce = "x".repeat(switch.config.auth.nonce_bytes_max + 1);
    let long = signed_headers(&switch.admin, now_ms(), &long_nonce, b"");
    refused(&switch, &long, "", 401, "invalid.nonce").await;
}

#[tokio::test]
async fn stale_and_future_timestamps_are_refused() {
    let switch = TestSwitch::start().await;
    let skew = switch.config.auth.timestamp_skew_ms_max;
    let stale = signed_headers(&switch.admin, now_ms() - skew - 60_000, &fresh_nonce(), b"");
    refused(&switch, &stale, "", 401, "invalid.timestamp").await;
    let future = signed_headers(&switch.admin, now_ms() + skew + 60_000, &fresh_nonce(), b"");
    refused(&switch, &future, "", 401, "invalid.timestamp").await;
    let slightly_behind = signed_headers(&switch.admin, now_ms() - 60_000, &fresh_nonce(), b"");
    assert_eq!(switch.raw("GET", ECHO, &slightly_behind, vec![]).await.status, 200);
}

#[tokio::test]
async fn a_signature_covers_the_body_and_the_key() {
    let switch = TestSwitch::start().await;
    let body = r#"{"payload":100}"#;
    let signed_for_other_body =
        signed_headers(&switch.admin, now_ms(), &fresh_nonce(), br#"{"payload":101}"#);
    refused(&switch, &signed_for_other_body, body, 401, "invalid.hash").await;
    let impostor = Credentials { id: switch.admin.id, key: b"guessed key".to_vec() };
    let forged = signed_headers(&impostor, now_ms(), &fresh_nonce(), body.as_bytes());
    refused(&switch, &forged, body, 401, "invalid.hash").await;
    let good = signed_headers(&switch.admin, now_ms(), &fresh_nonce(), body.as_bytes());
    let reply = switch.raw("POST", ECHO, &good, body.as_bytes().to_vec()).await;
    assert_eq!(reply.status, 201);
}

#[tokio::test]
async fn a_replayed_request_is_refused_even_after_a_restart() {
    let switch = TestSwitch::start().await;
    let read = signed_headers(&switch.admin, now_ms(), &fresh_nonce(), b"");
    assert_eq!(switch.raw("GET", ECHO, &read, vec![]).await.status, 200);
    refused(&switch, &read, "", 401, "replayed.nonce").await;

    let body = r#"{"id":"replay.me","value":"v","readPerm":"","writePerm":""}"#;
    let write = signed_headers(&switch.admin, now_ms(), &fresh_nonce(), body.as_bytes());
    let first = switch.raw("POST", "/jcard/api/sysconfig", &write, body.as_bytes().to_vec()).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let switch = switch.restart().await;
    let again = switch.raw("POST", "/jcard/api/sysconfig", &write, body.as_bytes().to_vec()).await;
    assert_eq!(again.status, 401, "{}", again.text);
    assert_eq!(again.json["error"], "replayed.nonce");
}

/// The writer stores the nonces of a commit group as one record: every request of a group of
/// concurrent writes must stay refused after a restart, not only the record's key nonce.
#[tokio::test]
async fn every_nonce_of_a_concurrent_group_is_refused_after_a_restart() {
    const WRITES: usize = 24;
    let switch = TestSwitch::start().await;
    let writes: Vec<(String, Vec<(String, String)>)> = (0..WRITES)
        .map(|index| {
            let body =
                format!(r#"{{"id":"group.{index}","value":"v","readPerm":"","writePerm":""}}"#);
            let headers = signed_headers(&switch.admin, now_ms(), &fresh_nonce(), body.as_bytes());
            (body, headers)
        })
        .collect();
    let sends = writes.iter().map(|(body, headers)| {
        switch.raw("POST", "/jcard/api/sysconfig", headers, body.as_bytes().to_vec())
    });
    for reply in futures::future::join_all(sends).await {
        assert_eq!(reply.status, 201, "{}", reply.text);
    }
    let switch = switch.restart().await;
    for (body, headers) in &writes {
        let again =
            switch.raw("POST", "/jcard/api/sysconfig", headers, body.as_bytes().to_vec()).await;
        assert_eq!(again.status, 401, "{}", again.text);
        assert_eq!(again.json["error"], "replayed.nonce");
    }
}

/// Nonce records left in the store after a stop.
fn nonce_records_stored(dir: &std::path::Path) -> usize {
    let store = Store::open_existing(dir).unwrap().expect("a store");
    store.scan_prefix::<serde::de::IgnoredAny>(&Keyspace::Nonce.prefix(), false).count()
}

/// Writes `early` sysconfig entries (each its own commit group, so one nonce record each),
/// waits until their records expire (kept twice the window: 800 ms with the 400 ms the tests
/// configure), writes `later` more, stops the switch and counts the nonce records left.
async fn nonce_records_left_after(switch: TestSwitch, early: usize, later: usize) -> usize {
    for index in 0..early {
        set_sysconfig_in_a_millisecond_of_its_own(&switch, &format!("early.{index}")).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
    for index in 0..later {
        set_sysconfig_in_a_millisecond_of_its_own(&switch, &format!("late.{index}")).await;
    }
    nonce_records_stored(switch.stop().await.path())
}

/// A sysconfig write stamped in a later millisecond than the one before. With a nonce cache
/// of a few entries a shard holds one nonce, and a request landing in a shard that evicted a
/// nonce of the same millisecond is refused as below the replay floor (rightly: it could be
/// that nonce replayed); two writes within a millisecond on a fast disk made the tests flaky.
async fn set_sysconfig_in_a_millisecond_of_its_own(switch: &TestSwitch, id: &str) {
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    switch.set_sysconfig(id, "v").await;
}

/// Expired nonce records are deleted as the writer goes, at most 64 a group, found by the keys
/// the writer remembers rather than by a search of the store.
#[tokio::test]
async fn expired_nonce_records_are_pruned_over_several_groups_and_none_is_skipped() {
    let switch = TestSwitch::start_with(|config| config.auth.timestamp_skew_ms_max = 400).await;
    // 150 expired records take three groups of 64 at most.
    let left = nonce_records_left_after(switch, 150, 4).await;
    assert_eq!(left, 4, "only the later writes' records are left");
}

/// Records stored before a restart are found by the keys read at the start.
#[tokio::test]
async fn nonce_records_that_expire_across_a_restart_are_pruned_after_it() {
    const EARLY: usize = 20;
    let switch = TestSwitch::start_with(|config| config.auth.timestamp_skew_ms_max = 400).await;
    for index in 0..EARLY {
        switch.set_sysconfig(&format!("early.{index}"), "v").await;
    }
    let switch = switch.restart().await;
    tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
    switch.set_sysconfig("late", "v").await;
    let dir = switch.stop().await;
    assert_eq!(nonce_records_stored(dir.path()), 1, "only the later write's record is left");
}

/// The writer remembers at most as many record keys as the nonce cache holds nonces; records
/// past that limit are found by reading the keys again once there is room, so none is kept
/// forever.
#[tokio::test]
async fn nonce_records_past_the_key_limit_are_still_pruned() {
    let switch = TestSwitch::start_with(|config| {
        config.auth.timestamp_skew_ms_max = 400;
        config.auth.nonce_cache_entries_max = 8;
    })
    .await;
    // Of 20 expired records, eight known keys go with the first later group; the next reads
    // the keys again (eight of the twelve left, the limit again), the one after that the last
    // four.
    let left = nonce_records_left_after(switch, 20, 4).await;
    assert_eq!(left, 4, "only the later writes' records are left");
}

#[tokio::test]
async fn permissions_are_enforced_per_route() {
    let switch = TestSwitch::start().await;
    let nobody = switch.add_consumer(&["login"]).await;
    assert_eq!(switch.call(&nobody, "GET", ECHO, "").await.status, 200);
    let denied = switch.call(&nobody, "GET", "/jcard/api/sysconfig", "").await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.json["error"], "invalid.permissions");

    let reader = switch.add_consumer(&["sysconfig.read", "gl.read"]).await;
    assert_eq!(switch.call(&reader, "GET", "/jcard/api/sysconfig", "").await.status, 200);
    let body = r#"{"id":"x","value":"v","readPerm":"","writePerm":""}"#;
    assert_eq!(switch.call(&reader, "POST", "/jcard/api/sysconfig", body).await.status, 403);
    let balance = "/jcard/api/gl/journals/jcard/accounts/12.001.00/balance?layers=840";
    assert_eq!(switch.call(&reader, "GET", balance, "").await.status, 200);
    let posting = r#"{"postDate":"2015-06-22","journalName":"jcard","entries":[
        {"amount":1,"accountCode":"11.001.00","type":"credit","layer":840},
        {"amount":1,"accountCode":"12.001.00","type":"debit","layer":840}]}"#;
    let refused = switch.call(&reader, "POST", "/jcard/api/gl/transactions", posting).await;
    assert_eq!(refused.status, 403);
    assert_eq!(switch.call(&reader, "GET", balance, "").await.json["response"]["balance"], 0);

    let writer = switch.add_consumer(&["gl.write"]).await;
    assert_eq!(
        switch.call(&writer, "POST", "/jcard/api/gl/transactions", posting).await.status,
        201
    );
    assert_eq!(switch.call(&reader, "GET", balance, "").await.json["response"]["balance"], 1);
}

#[tokio::test]
async fn a_full_replay_cache_never_locks_clients_out_nor_lets_a_replay_in() {
    let switch = TestSwitch::start_with(|config| config.auth.nonce_cache_entries_max = 256).await;
    let first = signed_headers(&switch.admin, now_ms() - 1000, &fresh_nonce(), b"");
    assert_eq!(switch.raw("GET", ECHO, &first, vec![]).await.status, 200);
    for _ in 0..600 {
        assert_eq!(switch.admin_call("GET", ECHO, "").await.status, 200);
    }
    let replay = switch.raw("GET", ECHO, &first, vec![]).await;
    assert_eq!(replay.status, 401, "{}", replay.text);
    assert!(
        ["replayed.nonce", "invalid.timestamp"].contains(&replay.json["error"].as_str().unwrap())
    );
}
