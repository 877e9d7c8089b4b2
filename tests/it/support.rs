//! Test support: a switch on port 0 over a temporary data directory, an admin consumer with a
//! known key, and a client that signs requests the way jCard clients do.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use cardswitch::bearer::{self, BearerClaims, BearerKey, BearerScope};
use cardswitch::clock::{Clock, EpochMs, SystemClock};
use cardswitch::config::Config;
use cardswitch::core::auth::sign_jcard;
use cardswitch::core::command::{Command, NewConsumer, Outcome};
use cardswitch::core::keys::{MasterKey, SecretBytes};
use cardswitch::core::{Core, CoreSettings};
use cardswitch::metrics::Metrics;
use cardswitch::server::{self, RunningSwitch};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tempfile::TempDir;
use uuid::Uuid;

/// A consumer's id and HMAC key.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub id: Uuid,
    pub key: Vec<u8>,
}

/// An answer: status and body (JSON when it parses, `Null` otherwise), plus the raw text.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub json: Value,
    pub text: String,
}

/// The machine's time shifted by an offset the test moves (days later, for velocity periods).
#[derive(Debug, Default)]
pub struct ShiftedClock {
    offset_ms: AtomicI64,
}

impl ShiftedClock {
    pub fn advance_ms(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ShiftedClock {
    fn now_ms(&self) -> EpochMs {
        SystemClock.now_ms() + self.offset_ms.load(Ordering::SeqCst)
    }
}

/// A running switch for one test.
pub struct TestSwitch {
    pub switch: RunningSwitch,
    pub dir: Arc<TempDir>,
    pub config: Config,
    pub admin: Credentials,
    /// The switch's clock; requests are signed with its time.
    pub clock: Arc<ShiftedClock>,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

static NONCE: AtomicU64 = AtomicU64::new(1);

/// A nonce never used before in this test process.
pub fn fresh_nonce() -> String {
    format!("n{}-{}", std::process::id(), NONCE.fetch_add(1, Ordering::Relaxed))
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn test_config() -> Config {
    Config { listen: "127.0.0.1:0".parse().expect("address"), ..Config::default() }
}

impl TestSwitch {
    /// A fresh, initialized switch with default limits.
    pub async fn start() -> TestSwitch {
        TestSwitch::start_with(|_| {}).await
    }

    /// A fresh, initialized switch with `adjust` applied to the configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestSwitch {
        TestSwitch::start_over(adjust, open_core_with).await
    }

    /// A fresh, initialized switch whose core `open` opens over the configuration (with its
    /// data directory set) and the switch's clock: e.g. over a fault-injecting engine.
    pub async fn start_over(
        adjust: impl FnOnce(&mut Config),
        open: impl FnOnce(&Config, Arc<dyn Clock>) -> Core,
    ) -> TestSwitch {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let mut config = test_config();
        adjust(&mut config);
        config.data_dir = dir.path().to_owned();
        let admin = Credentials { id: Uuid::new_v4(), key: b"test admin key bytes".to_vec() };
        let clock = Arc::new(ShiftedClock::default());
        let core = open(&config, clock.clone());
        let initialized = core
            .initialize(NewConsumer::unscoped(
                admin.id,
                SecretBytes::new(admin.key.clone()),
                vec!["admin".to_owned()],
            ))
            .await
            .expect("initialize");
        assert!(initialized);
        TestSwitch::serve(core, dir, config, admin, clock).await
    }

    async fn serve(
        core: Core,
        dir: Arc<TempDir>,
        config: Config,
        admin: Credentials,
        clock: Arc<ShiftedClock>,
    ) -> TestSwitch {
        let switch = server::start(core, &config).await.expect("start switch");
        let client = Client::builder(TokioExecutor::new()).build_http();
        TestSwitch { switch, dir, config, admin, clock, client }
    }

    /// A switch over `dir`, a data directory initialized elsewhere (a restored backup) whose
    /// admin consumer is `admin`.
    pub async fn open_dir(dir: Arc<TempDir>, admin: Credentials) -> TestSwitch {
        let config = Config { data_dir: dir.path().to_owned(), ..test_config() };
        let clock = Arc::new(ShiftedClock::default());
        let core = open_core_with(&config, clock.clone());
        TestSwitch::serve(core, dir, config, admin, clock).await
    }

    /// Stops the switch gracefully and starts it again on the same data directory.
    pub async fn restart(self) -> TestSwitch {
        let TestSwitch { switch, dir, config, admin, clock, .. } = self;
        switch.stop().await.expect("graceful stop");
        let core = open_core_with(&config, clock.clone());
        TestSwitch::serve(core, dir, config, admin, clock).await
    }

    /// A bearer token for the point-of-sale dialects, signed with this switch's key, valid
    /// for an hour from the switch's clock.
    pub fn bearer_token(
        &self,
        scope: BearerScope,
        group_id: Option<u64>,
        store_ids: &[u64],
    ) -> String {
        let master = MasterKey::load(self.dir.path()).expect("master key");
        let now_s = self.clock.now_ms().div_euclid(1000);
        let claims = BearerClaims {
            scope,
            group_id,
            store_ids: store_ids.to_vec(),
            iat: now_s,
            exp: now_s + 3600,
            jti: Uuid::new_v4().to_string(),
        };
        bearer::issue(&BearerKey::derive(&master), &claims)
    }

    pub fn core(&self) -> &Core {
        &self.switch.core
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.switch.address, path)
    }

    /// Registers a consumer with `permissions` and returns its credentials.
    pub async fn add_consumer(&self, permissions: &[&str]) -> Credentials {
        let credentials =
            Credentials { id: Uuid::new_v4(), key: Uuid::new_v4().as_bytes().to_vec() };
        let command = Command::AddConsumer(NewConsumer::unscoped(
            credentials.id,
            SecretBytes::new(credentials.key.clone()),
            permissions.iter().map(|permission| (*permission).to_owned()).collect(),
        ));
        assert_eq!(
            self.core().execute(command, None).await.expect("add consumer"),
            Outcome::ConsumerAdded
        );
        credentials
    }

    /// Registers a card-issuing partner with its HS512 key.
    pub async fn add_partner(&self, auth_id: &str, key: &[u8]) {
        let command = Command::AddPartner {
            auth_id: auth_id.to_owned(),
            key: SecretBytes::new(key.to_vec()),
        };
        assert_eq!(
            self.core().execute(command, None).await.expect("add partner"),
            Outcome::PartnerAdded
        );
    }

    /// A request signed by `credentials` with a fresh nonce and the current time.
    pub async fn call(
        &self,
        credentials: &Credentials,
        method: &str,
        path: &str,
        body: &str,
    ) -> Reply {
        let headers =
            signed_headers(credentials, self.clock.now_ms(), &fresh_nonce(), body.as_bytes());
        self.raw(method, path, &headers, body.as_bytes().to_vec()).await
    }

    /// A request signed by the admin.
    pub async fn admin_call(&self, method: &str, path: &str, body: &str) -> Reply {
        let admin = self.admin.clone();
        self.call(&admin, method, path, body).await
    }

    /// A request with exactly these headers and body.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Reply {
        let mut request = http::Request::builder().method(method).uri(self.url(path));
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if !body.is_empty() {
            request = request.header("content-type", "application/json");
        }
        let request = request.body(Full::new(Bytes::from(body))).expect("request");
        let response = self.client.request(request).await.expect("response");
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, json, text }
    }

    /// Stops the switch and returns its data directory (kept alive for inspection).
    pub async fn stop(self) -> Arc<TempDir> {
        self.switch.stop().await.expect("graceful stop");
        self.dir
    }
}

/// Opens a core over `config.data_dir`.
pub fn open_core(config: &Config) -> Core {
    open_core_with(config, Arc::new(SystemClock))
}

/// Opens a core over `config.data_dir` with `clock`.
pub fn open_core_with(config: &Config, clock: Arc<dyn Clock>) -> Core {
    Core::open(&config.data_dir, clock, Arc::new(Metrics::new()), CoreSettings::from_config(config))
        .expect("open core")
}

/// The five jCard headers for `body`.
pub fn signed_headers(
    credentials: &Credentials,
    timestamp_ms: i64,
    nonce: &str,
    body: &[u8],
) -> Vec<(String, String)> {
    sign_jcard(&credentials.id, &credentials.key, timestamp_ms, nonce, body)
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

/// A signed request from a client of its own, for tasks that outlive a borrow of the switch.
/// `None` when the connection failed (e.g. the switch stopped accepting).
pub async fn send_detached(
    address: std::net::SocketAddr,
    credentials: Credentials,
    method: &'static str,
    path: &'static str,
    body: &'static str,
) -> Option<u16> {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut request =
        http::Request::builder().method(method).uri(format!("http://{address}{path}"));
    for (name, value) in signed_headers(&credentials, now_ms(), &fresh_nonce(), body.as_bytes()) {
        request = request.header(name, value);
    }
    let request = request.body(Full::new(Bytes::from_static(body.as_bytes()))).ok()?;
    let response = client.request(request).await.ok()?;
    let status = response.status().as_u16();
    response.into_body().collect().await.ok()?;
    Some(status)
}

impl TestSwitch {
    /// The full audit: every transaction balances, every balance equals its entries.
    pub fn assert_ledger_balances(&self) {
        let report = self.core().audit().expect("audit");
        assert!(report.is_clean(), "ledger audit: {:?}", report.problems);
    }

    /// Creates a sysconfig entry (fees and the like) as the admin.
    pub async fn set_sysconfig(&self, id: &str, value: &str) {
        let body = serde_json::json!({"id": id, "value": value, "readPerm": "", "writePerm": ""})
            .to_string();
        let reply = self.admin_call("POST", "/jcard/api/sysconfig", &body).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
    }

    /// Opens wallet `code` and returns its PIN.
    pub async fn open_wallet(&self, code: &str) -> String {
        let reply = self
            .admin_call("POST", "/jcard/api/wallets", &format!(r#"{{"code": "{code}"}}"#))
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        reply.json["pin"].as_str().expect("pin").to_owned()
    }

    /// A credit, debit or transfer (`path` below `/jcard/api/wallets/`) with a minimal body.
    pub async fn move_money(&self, path: &str, amount: &str, rrn: &str, kind: &str) -> Reply {
        let body = format!(
            r#"{{"amount": {amount}, "currency": "840", "rrn": "{rrn}", "type": "{kind}"}}"#
        );
        self.admin_call("POST", &format!("/jcard/api/wallets/{path}"), &body).await
    }

    /// A wallet's balance over layers 840 and 1840, as the switch writes it.
    pub async fn wallet_balance(&self, code: &str) -> String {
        let reply = self
            .admin_call("GET", &format!("/jcard/api/wallets/{code}/balance?layers=840,1840"), "")
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        reply.json["balance"].as_str().expect("balance").to_owned()
    }
}

/// A signed request from a client of its own, answering the status and the JSON body.
pub async fn send_json(
    address: std::net::SocketAddr,
    credentials: Credentials,
    method: String,
    path: String,
    body: String,
) -> (u16, Value) {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut request =
        http::Request::builder().method(method.as_str()).uri(format!("http://{address}{path}"));
    for (name, value) in signed_headers(&credentials, now_ms(), &fresh_nonce(), body.as_bytes()) {
        request = request.header(name, value);
    }
    let request = request.body(Full::new(Bytes::from(body))).expect("request");
    let response = client.request(request).await.expect("response");
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// A JSON amount as the switch writes it (a number, or decimal text) in 1/10000 units.
pub fn amount_units(value: &Value) -> Result<i64, String> {
    let text = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
    cardswitch::money::Amount::parse(&text)
        .map(cardswitch::money::Amount::units)
        .map_err(|error| format!("amount {value}: {error:?}"))
}

/// A gauge's value in the Prometheus text of `/metrics`.
pub fn gauge(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no gauge {name} in {metrics}"))
}

/// Flips one bit of the first run file of a derived index's directory, `at` bytes in.
pub fn damage_first_run(index_dir: &std::path::Path, at: usize) {
    let run = std::fs::read_dir(index_dir)
        .unwrap()
        .map(|item| item.unwrap().path())
        .find(|path| path.file_name().unwrap().to_string_lossy().starts_with("run-"))
        .expect("a run was written");
    let mut bytes = std::fs::read(&run).unwrap();
    bytes[at] ^= 0x01;
    std::fs::write(&run, &bytes).unwrap();
}

/// `cardswitch verify` of a stopped switch's data directory.
pub fn verify_dir(dir: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_cardswitch"))
        .args(["verify", "--data"])
        .arg(dir)
        .output()
        .unwrap()
}
