//! The `cardswitch` binary: first start initializes the data directory (private key and
//! credential files, credentials printed once; every command creates the directory 0700, and
//! `serve` warns about one open to others), SIGTERM stops it cleanly, `consumer add` and
//! `verify` work on a stopped directory, `verify` finds a broken ledger, and `token issue`
//! prints bearer tokens signed with the directory's key, `load populate` / `load run`
//! drive a served switch, and `load disk` times a directory's syncs.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use base64::Engine as _;
use cardswitch::store::balance_file::{self, StoredBalance};

use crate::support::{send_detached, Credentials};

pub(crate) const BINARY: &str = env!("CARGO_BIN_EXE_cardswitch");

/// A `cardswitch serve` child process and what it printed before listening.
pub(crate) struct Served {
    child: Child,
    pub(crate) address: SocketAddr,
    printed: String,
}

fn serve(data: &Path) -> Served {
    serve_logging(data, "warn", Stdio::piped())
}

/// `cardswitch serve` with `RUST_LOG=filter`, its log (stderr) going to `log`.
pub(crate) fn serve_logging(data: &Path, filter: &str, log: Stdio) -> Served {
    let mut child = Command::new(BINARY)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .env("RUST_LOG", filter)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("spawn cardswitch serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut printed = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read stdout");
        printed.push_str(&line);
        printed.push('\n');
        if let Some(address) = line.strip_prefix("cardswitch listening on http://") {
            return Served { child, address: address.parse().expect("address"), printed };
        }
    }
    let mut errors = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut stderr, &mut errors);
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("cardswitch serve exited before listening:\n{printed}\n{errors}");
}

pub(crate) fn terminate(mut served: Served) {
    let pid = served.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
    assert!(status.success());
    let exit = served.child.wait().expect("wait");
    assert!(exit.success(), "cardswitch serve exited with {exit}");
}

pub(crate) fn admin_credentials(data: &Path) -> Credentials {
    let text = std::fs::read_to_string(data.join("admin-credentials")).expect("admin-credentials");
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{name} = \"")))
            .and_then(|rest| rest.strip_suffix('"'))
            .unwrap_or_else(|| panic!("{name} in admin-credentials"))
            .to_owned()
    };
    let key =
        base64::engine::general_purpose::STANDARD.decode(field("secret")).expect("base64 secret");
    Credentials { id: field("consumer-id").parse().expect("uuid"), key }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[tokio::test]
async fn first_start_initializes_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path());
    let admin = admin_credentials(dir.path());
    let secret = base64::engine::general_purpose::STANDARD.encode(&admin.key);
    assert!(served.printed.contains(&admin.id.to_string()));
    assert!(served.printed.contains(&secret), "the secret is printed once at initialization");
    #[cfg(unix)]
    {
        assert_eq!(mode(&dir.path().join("admin-credentials")), 0o600);
        assert_eq!(mode(&dir.path().join("master.key")), 0o600);
    }
    let status = send_detached(served.address, admin.clone(), "GET", "/jcard/api/echo", "").await;
    assert_eq!(status, Some(200));
    let posting = r#"{"postDate":"2020-01-01","journalName":"jcard","entries":[
        {"amount":2.5,"accountCode":"31.001.00","type":"credit","layer":840},
        {"amount":2.5,"accountCode":"12.001.00","type":"debit","layer":840}]}"#;
    let status =
        send_detached(served.address, admin.clone(), "POST", "/jcard/api/gl/transactions", posting)
            .await;
    assert_eq!(status, Some(201));
    terminate(served);

    let again = serve(dir.path());
    assert!(!again.printed.contains(&secret), "credentials are printed only once");
    assert_eq!(send_detached(again.address, admin, "GET", "/jcard/api/echo", "").await, Some(200));
    terminate(again);

    let verified =
        Command::new(BINARY).args(["verify", "--data"]).arg(dir.path()).output().unwrap();
    let report = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success(), "{report}");
    assert!(report.contains("transactions: 1") && report.contains("verify: ok"), "{report}");
}

/// Every command that can create a data directory creates it 0700 with `master.key` 0600
/// (created with that mode, never widened first); `serve` adds `admin-credentials`, 0600.
#[cfg(unix)]
#[test]
fn every_command_creates_the_data_directory_and_its_key_files_private() {
    let root = tempfile::tempdir().unwrap();
    let commands: [&[&str]; 3] = [
        &["partner", "add", "--auth-id", "p1", "--key", "k"],
        &[
            "consumer",
            "add",
            "--id",
            "6e2b0a8e-1d8c-4a53-9d55-2c1f0b7e4a10",
            "--secret",
            "c2VjcmV0",
            "--permissions",
            "admin",
        ],
        &["token", "issue", "--scope", "giftcard", "--ttl-s", "60"],
    ];
    for (index, arguments) in commands.iter().enumerate() {
        let data = root.path().join(format!("parent{index}")).join("data");
        let output =
            Command::new(BINARY).args(*arguments).arg("--data").arg(&data).output().unwrap();
        assert!(
            output.status.success(),
            "{arguments:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(mode(&data), 0o700, "{arguments:?}");
        assert_eq!(mode(&data.join("master.key")), 0o600, "{arguments:?}");
    }
    let data = root.path().join("served");
    terminate(serve(&data));
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("master.key")), 0o600);
    assert_eq!(mode(&data.join("admin-credentials")), 0o600);
}

/// A data directory its group or others can read or enter is named in one warning at start,
/// with its mode; a private one is not.
#[cfg(unix)]
#[test]
fn a_data_directory_open_to_others_is_warned_about_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log_path = dir.path().join("serve.log");
    let warnings = |mode: u32| {
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(mode)).unwrap();
        let log = std::fs::File::create(&log_path).unwrap();
        terminate(serve_logging(&data, "warn", Stdio::from(log)));
        let logged = std::fs::read_to_string(&log_path).unwrap();
        logged
            .lines()
            .filter(|line| line.contains("open to its group or others"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    terminate(serve(&data));
    for mode in [0o755, 0o750, 0o707] {
        let lines = warnings(mode);
        assert_eq!(lines.len(), 1, "{mode:o}: {lines:?}");
        assert!(lines[0].contains(&data.display().to_string()), "{}", lines[0]);
        assert!(lines[0].contains(&format!("mode {mode:o}")), "{}", lines[0]);
    }
    assert_eq!(warnings(0o700), Vec::<String>::new());
}

#[tokio::test]
async fn consumer_add_registers_a_consumer_with_its_permissions() {
    let dir = tempfile::tempdir().unwrap();
    terminate(serve(dir.path()));
    let consumer = Credentials { id: uuid::Uuid::new_v4(), key: b"a consumer's key".to_vec() };
    let secret = base64::engine::general_purpose::STANDARD.encode(&consumer.key);
    let add = |id: String, secret: &str| {
        Command::new(BINARY)
            .args([
                "consumer",
                "add",
                "--id",
                &id,
                "--secret",
                secret,
                "--permissions",
                "gl.read,sysconfig.read",
                "--data",
            ])
            .arg(dir.path())
            .output()
            .unwrap()
    };
    assert!(add(consumer.id.to_string(), &secret).status.success());
    assert!(!add(consumer.id.to_string(), &secret).status.success(), "a duplicate id is refused");
    assert!(!add(uuid::Uuid::new_v4().to_string(), "not base64!").status.success());

    let served = serve(dir.path());
    let balance = "/jcard/api/gl/journals/jcard/accounts/12.001.00/balance";
    assert_eq!(
        send_detached(served.address, consumer.clone(), "GET", balance, "").await,
        Some(200)
    );
    let body = r#"{"id":"x","value":"v","readPerm":"","writePerm":""}"#;
    assert_eq!(
        send_detached(served.address, consumer, "POST", "/jcard/api/sysconfig", body).await,
        Some(403)
    );
    terminate(served);
}

#[test]
fn verify_finds_a_balance_that_its_entries_do_not_explain() {
    let dir = tempfile::tempdir().unwrap();
    let verify =
        || Command::new(BINARY).args(["verify", "--data"]).arg(dir.path()).output().unwrap();
    assert!(!verify().status.success(), "an empty directory holds no store");
    terminate(serve(dir.path()));
    assert!(verify().status.success());
    {
        // Tamper with the ledger behind the switch's back: a balance no entry explains, in the
        // balance snapshot the stop wrote (with its checksum made right).
        let mut snapshot = balance_file::read(dir.path()).unwrap().expect("a snapshot");
        snapshot.balances.retain(|balance| (balance.account_id, balance.layer) != (3, 840));
        snapshot.balances.push(StoredBalance { account_id: 3, layer: 840, units: 10_000 });
        let bytes = balance_file::encode(snapshot.transactions_below, snapshot.balances);
        balance_file::write(dir.path(), &bytes).unwrap();
    }
    let output = verify();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{report}");
    assert!(report.contains("VIOLATION: account 11.001.00 layer 840"), "{report}");
}

#[tokio::test]
async fn partner_add_registers_a_card_api_partner() {
    let dir = tempfile::tempdir().unwrap();
    let add = |auth_id: &str, key: &str| {
        Command::new(BINARY)
            .args(["partner", "add", "--auth-id", auth_id, "--key", key, "--data"])
            .arg(dir.path())
            .output()
            .unwrap()
    };
    assert!(add("123456", "secret").status.success());
    assert!(!add("123456", "other").status.success(), "a duplicate auth id is refused");
    // A key is any bytes: a URL-safe random one may start with a hyphen (it once failed CI).
    let hyphen = add("654321", "-6vQ_key");
    assert!(hyphen.status.success(), "{}", String::from_utf8_lossy(&hyphen.stderr));
    assert!(!add("", "secret").status.success());
    let served = serve(dir.path());
    let body = br#"{"request_id":"828cf71d-a447-4a67-a149-c1df8bc197ca"}"#;
    let signature = cardswitch::api::issuing::jws::sign(
        b"secret",
        "/v5/card-api/request/status",
        "123456",
        "",
        body,
    );
    let client: hyper_util::client::legacy::Client<_, http_body_util::Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let request =
        http::Request::post(format!("http://{}/v5/card-api/request/status", served.address))
            .header("x-jws-signature", signature)
            .body(http_body_util::Full::new(bytes::Bytes::from_static(body)))
            .unwrap();
    let status = client.request(request).await.unwrap().status().as_u16();
    assert_eq!(status, 404, "a known partner reaches request/status (the request is unknown)");
    terminate(served);
}

#[test]
fn token_issue_prints_a_token_the_switch_accepts_until_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let issue = |arguments: &[&str]| {
        Command::new(BINARY)
            .args(["token", "issue", "--data"])
            .arg(dir.path())
            .args(arguments)
            .output()
            .unwrap()
    };
    let output =
        issue(&["--scope", "cashback", "--group-id", "7", "--store-id", "3", "--ttl-s", "60"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let config = cardswitch::config::Config {
        data_dir: dir.path().to_owned(),
        ..cardswitch::config::Config::default()
    };
    let core = crate::support::open_core(&config);
    let claims = core.verify_bearer(Some(&format!("Bearer {token}"))).expect("token verifies");
    assert_eq!(claims.scope, cardswitch::bearer::BearerScope::Cashback);
    assert_eq!((claims.group_id, claims.store_ids.clone()), (Some(7), vec![3]));
    assert_eq!(claims.exp - claims.iat, 60);
    for refused in [
        &["--scope", "cashback", "--ttl-s", "0"][..],
        &["--scope", "cashback", "--ttl-s", "31708801"],
        &["--scope", "everything", "--ttl-s", "60"],
        &["--scope", "giftcard"],
    ] {
        assert!(!issue(refused).status.success(), "{refused:?} is refused");
    }
    let other = tempfile::tempdir().unwrap();
    let foreign = Command::new(BINARY)
        .args(["token", "issue", "--scope", "giftcard", "--ttl-s", "60", "--data"])
        .arg(other.path())
        .output()
        .unwrap();
    let foreign = String::from_utf8(foreign.stdout).unwrap().trim().to_owned();
    let refused = core.verify_bearer(Some(&format!("Bearer {foreign}")));
    assert_eq!(refused, Err(cardswitch::bearer::BearerFailure::BadSignature));
}

#[test]
fn load_populate_and_run_drive_a_served_switch_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let served = serve(&data);
    let url = format!("http://{}", served.address);
    let credentials = data.join("admin-credentials");
    let load = |arguments: &[&str]| {
        Command::new(BINARY)
            .arg("load")
            .args(arguments)
            .args(["--url", &url, "--credentials"])
            .arg(&credentials)
            .output()
            .unwrap()
    };
    let populated = load(&["populate", "--cards", "3", "--concurrency", "2"]);
    assert!(populated.status.success(), "{}", String::from_utf8_lossy(&populated.stderr));
    assert!(data.join("load-manifest.json").is_file());
    let json = dir.path().join("results.json");
    let json_path = json.to_str().unwrap();
    let ran = load(&[
        "run",
        "--mix",
        "debit=1,transfer=1",
        "--connections",
        "2",
        "--duration-s",
        "0.5",
        "--warmup-s",
        "0",
        "--json",
        json_path,
    ]);
    let printed = String::from_utf8_lossy(&ran.stdout);
    assert!(ran.status.success(), "{printed}{}", String::from_utf8_lossy(&ran.stderr));
    assert!(printed.contains("closed loop") && printed.contains("total"), "{printed}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(results["total"]["approvals"].as_u64().unwrap() > 0, "{results}");
    assert_eq!(results["total"]["errors"], serde_json::json!({}), "{results}");
    let refused = load(&["run", "--mix", "issuing_debit=1"]);
    assert!(!refused.status.success(), "a mix with issuing_debit needs a partner population");
    terminate(served);
    let verified = Command::new(BINARY).arg("verify").arg("--data").arg(&data).output().unwrap();
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stdout));
}

#[test]
fn load_disk_times_syncs_in_a_directory_and_refuses_bad_limits() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("disk.json");
    let probed = Command::new(BINARY)
        .args(["load", "disk", "--syncs", "20", "--bytes", "1000", "--interval-us", "0"])
        .arg("--dir")
        .arg(dir.path())
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&probed.stdout);
    assert!(probed.status.success(), "{printed}{}", String::from_utf8_lossy(&probed.stderr));
    assert!(printed.contains("disk: 20 syncs of 1000 bytes"), "{printed}");
    assert!(printed.contains("write + fdatasync ms: p50"), "{printed}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(results["syncs"], 20, "{results}");
    assert!(results["latency_ms"]["p99"].as_f64().unwrap() > 0.0, "{results}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "only the JSON is left: {left:?}");
    let refused = Command::new(BINARY)
        .args(["load", "disk", "--syncs", "0"])
        .arg("--dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--syncs must be 1 to"));
}
