//! Card data and secrets never reach the disk or the logs: a switch run from the binary at
//! trace level handles a PAN, a PIN block and a wallet PIN, and every kind of secret (a
//! consumer's HMAC secret, a partner's JWS key, a bearer token, a login session's secret, the
//! admin secret, the master key); the log and every file of the data directory are searched
//! for each, in clear and in Base64. The master key may be in `master.key` and the admin
//! secret in `admin-credentials` (both 0600, both meant for the operator) and nowhere else.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;

use crate::cli::{admin_credentials, serve_logging, terminate, BINARY};
use crate::support::{send_json, Credentials};

const PAN: &str = "4555660000000002";
const PIN_BLOCK: &str = "9876ABCD5432EF01";
const WALLET_PIN: &str = "739104826351";
const CONSUMER_KEY: &[u8] = b"consumer hmac secret 3f9a27c1";
const PARTNER: &str = "p1";
const PARTNER_KEY: &str = "partner-jws-key-5b2e81d4";

/// A secret, and the one file allowed to hold it in clear, if any.
struct Needle {
    name: &'static str,
    bytes: Vec<u8>,
    allowed_in: Option<&'static str>,
}

impl Needle {
    fn new(name: &'static str, bytes: impl Into<Vec<u8>>) -> Needle {
        Needle { name, bytes: bytes.into(), allowed_in: None }
    }

    /// The secret in clear and in standard Base64 (how key files and answers write it).
    fn with_base64(
        name: &'static str,
        bytes: &[u8],
        allowed_in: Option<&'static str>,
    ) -> [Needle; 2] {
        let encoded = STANDARD.encode(bytes).into_bytes();
        [
            Needle { name, bytes: bytes.to_vec(), allowed_in },
            Needle { name, bytes: encoded, allowed_in },
        ]
    }

    fn found_in(&self, haystack: &[u8]) -> bool {
        haystack.windows(self.bytes.len()).any(|window| window == self.bytes.as_slice())
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut stack = vec![dir.to_owned()];
    let mut files = Vec::new();
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|entry| entry.unwrap().path()));
        } else {
            files.push(path);
        }
    }
    files
}

/// Runs a `cardswitch` command on `data`; its stdout.
fn run(data: &Path, arguments: &[&str]) -> String {
    let output = Command::new(BINARY).args(arguments).arg("--data").arg(data).output().unwrap();
    assert!(output.status.success(), "{arguments:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// Issues a card from a given PAN, sets its PIN block, and credits and debits it with that
/// PIN block.
async fn card_with_pan_and_pin(address: std::net::SocketAddr, consumer: &Credentials) {
    let call = |method: &str, path: String, body: String| {
        send_json(address, consumer.clone(), method.to_owned(), format!("/jcard/api/{path}"), body)
    };
    let product = r#"{"name": "P", "code": "P", "issuer": 1, "allowPos": true}"#;
    assert_eq!(call("POST", "cardproducts".to_owned(), product.to_owned()).await.0, 201);
    let customer =
        r#"{"realId": "1", "firstName": "A", "lastName": "B", "institutionId": "1", "phone": "1"}"#;
    assert_eq!(call("POST", "customers".to_owned(), customer.to_owned()).await.0, 201);
    let card = format!(
        r#"{{"cardHolder": "1", "cardProduct": "P", "pan": "{PAN}", "expiration": "203001", "serviceCode": "101"}}"#
    );
    let (status, issued) = call("POST", "cards".to_owned(), card).await;
    assert_eq!(status, 201, "{issued}");
    let token = issued["token"].as_str().unwrap().to_owned();
    let debit = format!(
        r#"{{"amount": 1, "currency": 840, "rrn": "d1", "channel": "pos", "pinblk": "{PIN_BLOCK}", "ksn": "K"}}"#
    );
    let steps = [
        ("PUT", "activate", String::new()),
        ("PUT", "pin", format!(r#"{{"newPIN": "{PIN_BLOCK}"}}"#)),
        ("POST", "credit", r#"{"amount": 10, "currency": 840, "rrn": "c1"}"#.to_owned()),
        ("POST", "debit", debit),
    ];
    for (method, action, body) in steps {
        let (status, answer) = call(method, format!("cards/{token}/{action}"), body).await;
        assert!(matches!(status, 200 | 201), "{action}: {answer}");
    }
}

/// Opens a wallet, gives it a PIN, debits it with the PIN and logs in with it; the login
/// session's secret (after using it once).
async fn wallet_pin_and_login(address: std::net::SocketAddr, consumer: &Credentials) -> Vec<u8> {
    let call = |credentials: &Credentials, method: &str, path: &str, body: String| {
        send_json(
            address,
            credentials.clone(),
            method.to_owned(),
            format!("/jcard/api/{path}"),
            body,
        )
    };
    let debit = format!(
        r#"{{"amount": 1, "currency": "840", "rrn": "w1d", "type": "cash", "pin": "{WALLET_PIN}"}}"#
    );
    let steps = [
        ("POST", "wallets", r#"{"code": "w1"}"#.to_owned()),
        ("PUT", "wallets/w1/changepin", format!(r#"{{"pin": "{WALLET_PIN}"}}"#)),
        (
            "POST",
            "wallets/w1/credit",
            r#"{"amount": 5, "currency": "840", "rrn": "w1c", "type": "cash"}"#.to_owned(),
        ),
        ("POST", "wallets/w1/debit", debit),
    ];
    for (method, path, body) in steps {
        let (status, answer) = call(consumer, method, path, body).await;
        assert!(matches!(status, 200 | 201), "{path}: {answer}");
    }
    let login = format!(r#"{{"wallet": "w1", "pin": "{WALLET_PIN}"}}"#);
    let (status, session) = call(consumer, "POST", "login", login).await;
    assert_eq!(status, 201, "{session}");
    let secret = STANDARD.decode(session["secret"].as_str().unwrap()).unwrap();
    let session = Credentials {
        id: session["consumer"].as_str().unwrap().parse().unwrap(),
        key: secret.clone(),
    };
    let (status, _) = call(&session, "GET", "wallets/w1/balance?layers=840", String::new()).await;
    assert_eq!(status, 201, "the login session works");
    secret
}

/// A signed card-issuing request and a gift-card history request with the bearer token.
async fn partner_and_bearer(address: std::net::SocketAddr, bearer: &str) {
    let client: Client<_, Full<Bytes>> =
        Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let body = br#"{"request_id":"828cf71d-a447-4a67-a149-c1df8bc197ca"}"#;
    let uri = "/v5/card-api/request/status";
    let signature =
        cardswitch::api::issuing::jws::sign(PARTNER_KEY.as_bytes(), uri, PARTNER, "", body);
    let request = http::Request::post(format!("http://{address}{uri}"))
        .header("x-jws-signature", signature)
        .body(Full::new(Bytes::from_static(body)))
        .unwrap();
    let status = client.request(request).await.unwrap().status().as_u16();
    assert_eq!(status, 404, "the partner is known, the request is not");
    let history = br#"{"cards": [{"cardNumber": "4555670000000017", "pin": "3217"}]}"#;
    let request = http::Request::post(format!("http://{address}/rest/v3/order/o1/cards"))
        .header("authorization", format!("Bearer {bearer}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(history)))
        .unwrap();
    assert_eq!(client.request(request).await.unwrap().status().as_u16(), 200, "the token is good");
}

/// Every secret the run handled, with where each may be.
fn needles(data: &Path, bearer: &str, session_secret: &[u8]) -> Vec<Needle> {
    let admin = admin_credentials(data);
    let master = std::fs::read_to_string(data.join("master.key")).unwrap();
    let master = STANDARD.decode(master.trim()).unwrap();
    let (_, bearer_signature) = bearer.rsplit_once('.').unwrap();
    let mut needles = vec![
        Needle::new("the PAN", PAN),
        Needle::new("the PIN block", PIN_BLOCK),
        Needle::new("the wallet PIN", WALLET_PIN),
        Needle::new("the partner key", PARTNER_KEY),
        Needle::new("the bearer token", bearer),
        Needle::new("the bearer token's signature", bearer_signature),
    ];
    needles.extend(Needle::with_base64("the consumer secret", CONSUMER_KEY, None));
    needles.extend(Needle::with_base64("the login session's secret", session_secret, None));
    needles.extend(Needle::with_base64("the admin secret", &admin.key, Some("admin-credentials")));
    needles.extend(Needle::with_base64("the master key", &master, Some("master.key")));
    needles
}

#[tokio::test]
async fn no_card_data_or_secret_reaches_the_logs_or_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let consumer = Credentials { id: uuid::Uuid::new_v4(), key: CONSUMER_KEY.to_vec() };
    let (id, secret) = (consumer.id.to_string(), STANDARD.encode(CONSUMER_KEY));
    run(&data, &["consumer", "add", "--id", &id, "--secret", &secret, "--permissions", "admin"]);
    run(&data, &["partner", "add", "--auth-id", PARTNER, "--key", PARTNER_KEY]);
    let log_path = dir.path().join("serve.log");
    let log = Stdio::from(std::fs::File::create(&log_path).unwrap());
    let served = serve_logging(&data, "trace", log);
    let bearer = run(&data, &["token", "issue", "--scope", "giftcard", "--ttl-s", "600"]);
    let bearer = bearer.trim();
    card_with_pan_and_pin(served.address, &consumer).await;
    let session_secret = wallet_pin_and_login(served.address, &consumer).await;
    partner_and_bearer(served.address, bearer).await;
    terminate(served);

    let logged = std::fs::read(&log_path).unwrap();
    let trace_lines = logged
        .split(|&byte| byte == b'\n')
        .filter(|line| line.windows(5).any(|word| word == b"TRACE"))
        .count();
    assert!(trace_lines > 100, "trace logging was on: {trace_lines} TRACE lines");
    let files = files_under(&data);
    assert!(files.len() > 3, "the store is there: {files:?}");
    for needle in needles(&data, bearer, &session_secret) {
        assert!(!needle.found_in(&logged), "{} is in the log", needle.name);
        for file in
            files.iter().filter(|file| !needle.allowed_in.is_some_and(|name| file.ends_with(name)))
        {
            let bytes = std::fs::read(file).unwrap();
            assert!(!needle.found_in(&bytes), "{} is in {}", needle.name, file.display());
        }
    }
}
