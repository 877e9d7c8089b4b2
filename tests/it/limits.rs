//! Hostile clients against the HTTP limits: oversized and deeply nested bodies, headers too
//! many or too large, slow headers, idle keep-alive connections, trickled bodies and too many
//! connections. Each is refused in the dialect's own error shape (or cut off), promptly, while
//! a well-behaved client keeps being served at the same time.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use cardswitch::clock::Clock;

use crate::support::{fresh_nonce, signed_headers, TestSwitch};

/// One POST route of each dialect (the limits apply before authentication), and how to read
/// the error code from that dialect's error shape.
const DIALECTS: [(&str, &str); 4] = [
    ("jcard", "/jcard/api/echo"),
    ("issuing", "/v5/card-api/request/status"),
    ("giftcard", "/rest/v3/order/o-1/cards"),
    ("cashback", "/cardapi/cards/cashback/debit"),
];

fn error_code(dialect: &str, body: &Value) -> Value {
    match dialect {
        "jcard" => body["error"].clone(),
        "issuing" => body["error"]["code"].clone(),
        _ => body["code"].clone(),
    }
}

/// Asserts `reply` is the refusal `expected` names for its dialect, in `DIALECTS` order.
fn assert_refused(dialect: &str, reply: &RawReply, expected: [(u16, &str); 4]) {
    let index = DIALECTS.iter().position(|(name, _)| *name == dialect).unwrap();
    let (status, code) = expected[index];
    assert_eq!(
        (reply.status, error_code(dialect, &reply.json)),
        (status, Value::from(code)),
        "{dialect}: {reply:?}"
    );
}

/// A status and JSON body read off a raw connection.
#[derive(Debug)]
struct RawReply {
    status: u16,
    json: Value,
}

/// Sends `request` as is on a new connection and reads the answer until the server closes
/// the connection (every request here says `Connection: close` or is refused with a close).
async fn exchange(address: SocketAddr, request: &[u8]) -> RawReply {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    read_reply(&mut stream).await
}

async fn read_reply(stream: &mut TcpStream) -> RawReply {
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut bytes)).await;
    assert!(read.is_ok(), "the server neither answered nor closed: {bytes:?}");
    parse_reply(&bytes)
}

fn parse_reply(bytes: &[u8]) -> RawReply {
    let text = String::from_utf8_lossy(bytes);
    let status = text.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    RawReply { status, json: serde_json::from_str(body).unwrap_or(Value::Null) }
}

fn post(path: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n{extra_headers}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// A well-behaved, signed jCard request on a connection of its own is answered normally (a
/// pooled connection could be one the server is just closing for idleness).
async fn assert_still_serving(switch: &TestSwitch) {
    let body = br#"{"still": "here"}"#;
    let headers: String =
        signed_headers(&switch.admin, switch.clock.now_ms(), &fresh_nonce(), body)
            .into_iter()
            .map(|(name, value)| format!("{name}: {value}\r\n"))
            .collect();
    let request = post("/jcard/api/echo", &headers, body);
    let reply =
        tokio::time::timeout(Duration::from_secs(2), exchange(switch.switch.address, &request))
            .await
            .expect("a well-behaved client waited");
    assert_eq!((reply.status, reply.json["still"].clone()), (201, Value::from("here")));
}

#[tokio::test]
async fn oversized_bodies_get_413_in_every_dialect_declared_or_streamed() {
    let switch = TestSwitch::start_with(|config| config.http.body_bytes_max = 2048).await;
    let big = vec![b' '; 4096];
    for (dialect, path) in DIALECTS {
        let declared = exchange(switch.switch.address, &post(path, "", &big)).await;
        let mut chunked = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        .into_bytes();
        for _ in 0..5 {
            chunked.extend_from_slice(b"400\r\n");
            chunked.extend_from_slice(&[b' '; 0x400]);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let streamed = exchange(switch.switch.address, &chunked).await;
        for reply in [declared, streamed] {
            let expected =
                [(413, "body.too.large"), (413, "BODY_TOO_LARGE"), (413, "5141"), (413, "CARD-3")];
            assert_refused(dialect, &reply, expected);
        }
        assert_still_serving(&switch).await;
    }
}

#[tokio::test]
async fn deeply_nested_json_gets_a_clean_400_in_every_dialect() {
    let switch = TestSwitch::start_with(|config| config.http.body_bytes_max = 256 * 1024).await;
    let deep = vec![b'['; 100_000];
    let deep_objects = r#"{"a":"#.repeat(20_000);
    for (dialect, path) in DIALECTS {
        for body in [&deep, deep_objects.as_bytes()] {
            let reply = exchange(switch.switch.address, &post(path, "", body)).await;
            let expected =
                [(400, "invalid.json"), (400, "BAD_REQUEST"), (400, "5141"), (422, "CARD-3")];
            assert_refused(dialect, &reply, expected);
        }
    }
    // The limit is exact: `json_depth_max` levels still reach the dialect (echoed back), one
    // more does not, also when the jCard parser has commas to mend.
    let depth_max = switch.config.http.json_depth_max;
    let nested = |depth: usize| format!("{}1 2{}", "[".repeat(depth), "]".repeat(depth));
    let within = switch.admin_call("POST", "/jcard/api/echo", &nested(depth_max)).await;
    assert_eq!(within.status, 201, "{}", within.text);
    let beyond = switch.admin_call("POST", "/jcard/api/echo", &nested(depth_max + 1)).await;
    assert_eq!((beyond.status, beyond.json["error"].clone()), (400, Value::from("invalid.json")));
    assert_still_serving(&switch).await;
}

#[tokio::test]
async fn too_many_or_too_large_headers_get_431_and_a_close() {
    let switch = TestSwitch::start_with(|config| {
        config.http.headers_max = 16;
        config.http.header_bytes_max = 8192;
    })
    .await;
    let many: String = (0..40).map(|n| format!("X-Filler-{n}: {n}\r\n")).collect();
    let reply = exchange(switch.switch.address, &post("/jcard/api/echo", &many, b"{}")).await;
    assert_eq!(reply.status, 431, "{reply:?}");
    let large = format!("X-Large: {}\r\n", "a".repeat(10_000));
    let reply = exchange(switch.switch.address, &post("/cardapi/cards", &large, b"")).await;
    assert_eq!(reply.status, 431, "{reply:?}");
    // Just under both limits is fine.
    let fine: String = (0..8).map(|n| format!("X-Filler-{n}: {}\r\n", "b".repeat(500))).collect();
    let reply = exchange(switch.switch.address, &post("/health", &fine, b"")).await;
    assert_eq!(reply.status, 405, "{reply:?}");
    assert_still_serving(&switch).await;
}

#[tokio::test]
async fn slow_headers_and_idle_keep_alive_connections_are_cut_off() {
    let switch = TestSwitch::start_with(|config| config.http.header_read_timeout_ms = 300).await;
    let mut slow = TcpStream::connect(switch.switch.address).await.unwrap();
    slow.write_all(b"POST /jcard/api/echo HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut idle = TcpStream::connect(switch.switch.address).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut first = [0_u8; 512];
    let answered = idle.read(&mut first).await.unwrap();
    assert_eq!(parse_reply(&first[..answered]).status, 200);
    assert_still_serving(&switch).await;
    let started = std::time::Instant::now();
    for stream in [&mut slow, &mut idle] {
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut rest));
        assert!(closed.await.is_ok(), "a connection was kept open past the header timeout");
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_still_serving(&switch).await;
}

#[tokio::test]
async fn a_trickled_body_gets_408_in_the_dialects_shape() {
    let switch = TestSwitch::start_with(|config| config.http.body_read_timeout_ms = 300).await;
    for (dialect, path) in DIALECTS {
        let mut stream = TcpStream::connect(switch.switch.address).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 100\r\n\r\n{{\"a\""
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // One byte now and then, never the whole body; others are served meanwhile.
        let trickle = async {
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if stream.write_all(b" ").await.is_err() {
                    break;
                }
            }
        };
        let ((), ()) = tokio::join!(trickle, assert_still_serving(&switch));
        let reply = read_reply(&mut stream).await;
        let expected =
            [(408, "request.timeout"), (408, "BAD_REQUEST"), (408, "5141"), (422, "CARD-3")];
        assert_refused(dialect, &reply, expected);
    }
}

#[tokio::test]
async fn connections_over_the_limit_get_503_at_once_and_the_rest_are_served() {
    let switch = TestSwitch::start_with(|config| {
        config.http.connections_max = 2;
        config.http.overload_connections_max = 8;
        config.http.header_read_timeout_ms = 2000;
    })
    .await;
    // Two clients hold every serving slot with unfinished headers.
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(switch.switch.address).await.unwrap();
        stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        holders.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    for (dialect, path) in DIALECTS {
        let reply = exchange(switch.switch.address, &post(path, "", b"{}")).await;
        let expected = [(503, "overloaded"), (503, "OVERLOADED"), (503, "6053"), (500, "CARD-11")];
        assert_refused(dialect, &reply, expected);
    }
    assert!(started.elapsed() < Duration::from_secs(1), "refusals were not prompt");
    // Once a slot frees up, clients are served again; the refusals were counted.
    drop(holders.pop());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_still_serving(&switch).await;
    let metrics = switch.core().metrics().render();
    assert!(metrics.contains("cardswitch_http_connections_refused_total 4"), "{metrics}");
}
