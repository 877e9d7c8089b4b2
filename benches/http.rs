//! End-to-end HTTP throughput of the jCard API: starts a switch in this process (its own tokio
//! runtime with one worker thread, plus the writer's thread) over a temporary data directory,
//! then drives it from a second one-worker runtime with C keep-alive HTTP/1.1 connections of
//! signed requests, and prints requests/s and latency percentiles per workload, and the records
//! and bytes the writer stored per request (`cardswitch_store_{records,bytes}_written_total`).
//!
//! Run with `cargo bench --bench http`. Settings (environment variables):
//! - `BENCH_CONNECTIONS`: concurrent connections, default 32;
//! - `BENCH_SECONDS`: measured seconds per workload, default 5 (after `BENCH_WARMUP_SECONDS`,
//!   default 1);
//! - `BENCH_WORKLOADS`: comma-separated subset of `echo,balance,post,transfer,card`, default all;
//! - `BENCH_DIR`: where the temporary data directory goes, default the system's temp dir;
//! - `BENCH_NONCE_CACHE_ENTRIES`: the replay cache's size, default the shipped configuration's.

// A benchmark is a harness: a failed set-up should stop it loudly, not be handled.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cardswitch::card::Channel;
use cardswitch::core::command::{
    CardMovement, CardMovementKind, CardNumber, CardProductFields, Command, MoneyMovement, NewCard,
    NewCustomer, Outcome,
};
use cardswitch::money::Amount;
use cardswitch::wallet::plan::Movement;
use cardswitch::wallet::WalletOwner;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cardswitch::api::jcard::dates;
use cardswitch::clock::{Clock, SystemClock};
use cardswitch::config::Config;
use cardswitch::core::auth::sign_jcard;
use cardswitch::core::command::NewConsumer;
use cardswitch::core::keys::SecretBytes;
use cardswitch::core::{Core, CoreSettings};
use cardswitch::ledger::Chartbook;
use cardswitch::metrics::Metrics;
use cardswitch::server::{self, RunningSwitch};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use uuid::Uuid;

const BALANCE_PATH: &str = "/jcard/api/gl/journals/jcard/accounts/12.001.00/balance?layers=840";

/// One kind of request the load consists of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    Echo,
    Balance,
    Post,
    /// Wallet to wallet, 1.00, a fresh RRN each time, alternating direction.
    Transfer,
    /// A card debit of 1.00 at a point of sale, a fresh RRN each time.
    CardDebit,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Echo => "GET echo",
            Workload::Balance => "GET balance",
            Workload::Post => "POST gl/transactions",
            Workload::Transfer => "POST wallet transfer",
            Workload::CardDebit => "POST card debit",
        }
    }

    fn expected_status(self) -> u16 {
        match self {
            Workload::Echo | Workload::Balance | Workload::Transfer => 200,
            Workload::Post | Workload::CardDebit => 201,
        }
    }
}

/// Settings of one run.
#[derive(Debug, Clone)]
struct Settings {
    connections: usize,
    warm_up: Duration,
    measured: Duration,
    workloads: Vec<Workload>,
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, got `{text}`")),
        Err(_) => default,
    }
}

impl Settings {
    fn from_env() -> Settings {
        let workloads = std::env::var("BENCH_WORKLOADS")
            .unwrap_or_else(|_| "echo,balance,post,transfer,card".to_owned());
        let workloads = workloads
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| match name {
                "echo" => Workload::Echo,
                "balance" => Workload::Balance,
                "post" => Workload::Post,
                "transfer" => Workload::Transfer,
                "card" => Workload::CardDebit,
                other => panic!("unknown workload `{other}` (echo, balance, post, transfer, card)"),
            })
            .collect();
        Settings {
            connections: usize::try_from(env_number("BENCH_CONNECTIONS", 32).max(1)).unwrap(),
            warm_up: Duration::from_secs(env_number("BENCH_WARMUP_SECONDS", 1)),
            measured: Duration::from_secs(env_number("BENCH_SECONDS", 5).max(1)),
            workloads,
        }
    }
}

/// The signing consumer.
#[derive(Clone)]
struct Credentials {
    id: Uuid,
    key: Vec<u8>,
}

/// What one connection saw while measuring.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: u64,
    /// Answers with the expected status, warm-up included (for the ledger check).
    successes_total: u64,
    last_finish: Option<Instant>,
    first_error: Option<String>,
}

/// One workload's result.
struct Row {
    workload: Workload,
    requests: usize,
    errors: u64,
    per_second: f64,
    p50: Duration,
    p99: Duration,
    successes_total: u64,
    /// Records and bytes the writer applied per successful request (warm-up included).
    write_cost: Option<(f64, f64)>,
    group_mean: Option<f64>,
    flush_mean_ms: Option<f64>,
}

fn request(
    workload: Workload,
    credentials: &Credentials,
    address: SocketAddr,
    nonce: &str,
) -> hyper::Request<Full<Bytes>> {
    let now_ms = SystemClock.now_ms();
    let (method, path, body): (&str, String, String) = match workload {
        Workload::Echo => ("GET", "/jcard/api/echo".to_owned(), String::new()),
        Workload::Balance => ("GET", BALANCE_PATH.to_owned(), String::new()),
        Workload::Post => ("POST", "/jcard/api/gl/transactions".to_owned(), post_body(now_ms)),
        Workload::Transfer => {
            let sequence = TRANSFERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = if sequence.is_multiple_of(2) { TRANSFER_A_TO_B } else { TRANSFER_B_TO_A };
            let body = format!(
                r#"{{"amount":1.00,"currency":"840","rrn":"b{sequence:011}","type":"bench"}}"#
            );
            ("POST", path.to_owned(), body)
        }
        Workload::CardDebit => {
            let sequence = TRANSFERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let body = format!(
                r#"{{"amount":1.00,"currency":840,"rrn":"k{sequence:011}","channel":"pos"}}"#
            );
            ("POST", CARD_DEBIT_PATH.get().expect("the bench card exists").clone(), body)
        }
    };
    let mut builder =
        hyper::Request::builder().method(method).uri(path).header("host", address.to_string());
    for (name, value) in
        sign_jcard(&credentials.id, &credentials.key, now_ms, nonce, body.as_bytes())
    {
        builder = builder.header(name, value);
    }
    if !body.is_empty() {
        builder = builder.header("content-type", "application/json");
    }
    builder.body(Full::new(Bytes::from(body))).unwrap()
}

/// Wallets the transfer workload moves money between, funded at start.
const WALLET_A: &str = "benchA";
const WALLET_B: &str = "benchB";
const TRANSFER_A_TO_B: &str = "/jcard/api/wallets/benchA/transfer/benchB";
const TRANSFER_B_TO_A: &str = "/jcard/api/wallets/benchB/transfer/benchA";
/// The bench card's debit path, set at start-up once the card exists.
static CARD_DEBIT_PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Whole units each bench wallet starts with.
const WALLET_FUNDS: i64 = 100_000_000;
/// Transfers sent so far: each gets its own RRN.
static TRANSFERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A balanced transfer of 1.00 from 11.001.00 (credit) to 12.001.00 (debit), posted today.
fn post_body(now_ms: i64) -> String {
    format!(
        r#"{{"detail":"bench","entries":[{{"amount":1.00,"accountCode":"11.001.00","type":"credit","layer":840}},{{"amount":1.00,"accountCode":"12.001.00","type":"debit","layer":840}}],"postDate":"{}","journalName":"jcard"}}"#,
        dates::format_day(now_ms)
    )
}

async fn connect(address: SocketAddr) -> Result<http1::SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(address).await.map_err(|error| error.to_string())?;
    stream.set_nodelay(true).map_err(|error| error.to_string())?;
    let (sender, connection) =
        http1::handshake(TokioIo::new(stream)).await.map_err(|error| error.to_string())?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Sends one request and reads the whole answer: status and body.
async fn send_one(
    connection: &mut http1::SendRequest<Full<Bytes>>,
    request: hyper::Request<Full<Bytes>>,
) -> Result<(u16, Bytes), String> {
    connection.ready().await.map_err(|error| format!("connection: {error}"))?;
    let response =
        connection.send_request(request).await.map_err(|error| format!("request: {error}"))?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.map_err(|error| format!("body: {error}"))?;
    Ok((status, body.to_bytes()))
}

impl Tally {
    fn error(&mut self, measured: bool, error: String) {
        if measured {
            self.errors += 1;
        }
        self.first_error.get_or_insert(error);
    }

    /// Counts one answer; true if the connection is still usable.
    fn record(
        &mut self,
        workload: Workload,
        outcome: Result<(u16, Bytes), String>,
        started: Instant,
        measured: bool,
    ) -> bool {
        let finished = Instant::now();
        if measured {
            self.last_finish = Some(finished);
        }
        match outcome {
            Ok((status, _)) if status == workload.expected_status() => {
                self.successes_total += 1;
                if measured {
                    self.latencies.push(finished.duration_since(started));
                }
                true
            }
            Ok((status, body)) => {
                self.error(
                    measured,
                    format!("status {status}: {}", String::from_utf8_lossy(&body)),
                );
                true
            }
            Err(error) => {
                self.error(measured, error);
                false
            }
        }
    }
}

/// The time frame of one workload: warm-up until `measure_from`, measured until `end`.
#[derive(Clone, Copy)]
struct Window {
    measure_from: Instant,
    end: Instant,
}

/// Sends requests back to back on one keep-alive connection until the window ends; records the
/// latency of those started after the warm-up. A broken connection is opened again.
async fn drive_connection(
    workload: Workload,
    address: SocketAddr,
    credentials: Credentials,
    prefix: String,
    window: Window,
) -> Tally {
    let mut tally = Tally::default();
    let mut sequence = 0_u64;
    let mut sender = None;
    while Instant::now() < window.end {
        let connection = match &mut sender {
            Some(connection) => connection,
            None => match connect(address).await {
                Ok(connected) => sender.insert(connected),
                Err(error) => {
                    tally.error(Instant::now() >= window.measure_from, format!("connect: {error}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        sequence += 1;
        let nonce = format!("{prefix}-{sequence}");
        let started = Instant::now();
        let outcome = send_one(connection, request(workload, &credentials, address, &nonce)).await;
        if !tally.record(workload, outcome, started, started >= window.measure_from) {
            sender = None;
        }
    }
    tally
}

/// Sum and count of a histogram in the Prometheus text.
fn histogram(text: &str, name: &str) -> (f64, f64) {
    let value = |suffix: &str| {
        let metric = format!("{name}_{suffix} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&metric))
            .and_then(|number| number.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (value("sum"), value("count"))
}

/// A counter's value in the Prometheus text.
fn counter(text: &str, name: &str) -> f64 {
    let metric = format!("{name}_total ");
    text.lines()
        .find_map(|line| line.strip_prefix(&metric))
        .and_then(|number| number.trim().parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// Records and bytes written per successful request between two renderings.
fn write_cost(before: &str, after: &str, successes: u64) -> Option<(f64, f64)> {
    let delta = |name: &str| counter(after, name) - counter(before, name);
    // A request count, far below 2^53: exact.
    #[allow(clippy::as_conversions, clippy::cast_precision_loss)]
    let successes = successes as f64;
    (successes > 0.0).then(|| {
        (
            delta("cardswitch_store_records_written") / successes,
            delta("cardswitch_store_bytes_written") / successes,
        )
    })
}

/// The mean of a histogram's observations between two renderings.
fn histogram_mean(before: &str, after: &str, name: &str) -> Option<f64> {
    let (sum_before, count_before) = histogram(before, name);
    let (sum_after, count_after) = histogram(after, name);
    let count = count_after - count_before;
    (count > 0.0).then(|| (sum_after - sum_before) / count)
}

/// The value at `fraction` (0 to 1) of sorted `latencies`.
fn percentile(latencies: &[Duration], fraction: f64) -> Duration {
    let Some(last) = latencies.len().checked_sub(1) else {
        return Duration::ZERO;
    };
    // A rank rounded from a fraction of `last`: non-negative and at most `last`.
    #[allow(
        clippy::as_conversions,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = (fraction * last as f64).round() as usize;
    latencies[rank.min(last)]
}

/// Merges the connections' tallies into one row.
fn summarize(workload: Workload, tallies: Vec<Tally>, measure_from: Instant) -> Row {
    let mut merged = Tally::default();
    for tally in tallies {
        merged.latencies.extend(tally.latencies);
        merged.errors += tally.errors;
        merged.successes_total += tally.successes_total;
        merged.last_finish = merged.last_finish.max(tally.last_finish);
        if merged.first_error.is_none() {
            merged.first_error = tally.first_error;
        }
    }
    if let Some(error) = &merged.first_error {
        eprintln!("{}: first error: {error}", workload.name());
    }
    merged.latencies.sort_unstable();
    let elapsed =
        merged.last_finish.map_or(Duration::ZERO, |last| last.duration_since(measure_from));
    // A request count as a rate: far below 2^53, so exact.
    #[allow(clippy::as_conversions, clippy::cast_precision_loss)]
    let per_second =
        merged.latencies.len() as f64 / elapsed.max(Duration::from_millis(1)).as_secs_f64();
    Row {
        workload,
        requests: merged.latencies.len(),
        errors: merged.errors,
        per_second,
        p50: percentile(&merged.latencies, 0.50),
        p99: percentile(&merged.latencies, 0.99),
        successes_total: merged.successes_total,
        write_cost: None,
        group_mean: None,
        flush_mean_ms: None,
    }
}

async fn run_workload(
    workload: Workload,
    settings: &Settings,
    address: SocketAddr,
    credentials: &Credentials,
    metrics: &Metrics,
) -> Row {
    let run_id = Uuid::new_v4().simple().to_string();
    let measure_from = Instant::now() + settings.warm_up;
    let window = Window { measure_from, end: measure_from + settings.measured };
    let before = metrics.render();
    let tasks: Vec<_> = (0..settings.connections)
        .map(|connection| {
            let prefix = format!("{}-{connection}", &run_id[..12]);
            tokio::spawn(drive_connection(workload, address, credentials.clone(), prefix, window))
        })
        .collect();
    let mut tallies = Vec::with_capacity(tasks.len());
    for task in tasks {
        tallies.push(task.await.unwrap());
    }
    let after = metrics.render();
    let mut row = summarize(workload, tallies, measure_from);
    row.write_cost = write_cost(&before, &after, row.successes_total);
    row.group_mean = histogram_mean(&before, &after, "cardswitch_commit_group_commands");
    row.flush_mean_ms = histogram_mean(&before, &after, "cardswitch_commit_flush_seconds")
        .map(|seconds| seconds * 1000.0);
    row
}

fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn table(rows: &[Row], settings: &Settings) -> String {
    let echo = rows.iter().find(|row| row.workload == Workload::Echo).map(|row| row.per_second);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "connections {}, {} s measured after {} s warm-up per workload",
        settings.connections,
        settings.measured.as_secs(),
        settings.warm_up.as_secs()
    );
    let _ = writeln!(
        text,
        "{:<22} {:>9} {:>7} {:>10} {:>8} {:>8} {:>8}",
        "workload", "requests", "errors", "req/s", "p50 ms", "p99 ms", "vs echo"
    );
    for row in rows {
        let ratio = echo
            .filter(|echo| *echo > 0.0)
            .map_or_else(|| "-".to_owned(), |echo| format!("{:.2}", row.per_second / echo));
        let _ = writeln!(
            text,
            "{:<22} {:>9} {:>7} {:>10.0} {:>8.3} {:>8.3} {:>8}",
            row.workload.name(),
            row.requests,
            row.errors,
            row.per_second,
            milliseconds(row.p50),
            milliseconds(row.p99),
            ratio
        );
    }
    for row in rows {
        if let Some((records, bytes)) = row.write_cost {
            let _ = writeln!(
                text,
                "{}: {records:.2} records, {bytes:.0} bytes written per request",
                row.workload.name()
            );
        }
    }
    for row in rows {
        if let (Some(group), Some(flush)) = (row.group_mean, row.flush_mean_ms) {
            let _ = writeln!(
                text,
                "{}: mean commit group {group:.1} commands, mean flush {flush:.3} ms",
                row.workload.name()
            );
        }
    }
    text
}

fn runtime(name: &str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(name)
        .enable_all()
        .build()
        .unwrap()
}

/// Opens a core over `config.data_dir`, initializes it with `credentials` as the admin and
/// serves it on the server runtime.
fn start_switch(
    runtime: &tokio::runtime::Runtime,
    config: &Config,
    credentials: &Credentials,
    metrics: &Arc<Metrics>,
) -> RunningSwitch {
    runtime.block_on(async {
        let settings = CoreSettings::from_config(config);
        let core =
            Core::open(&config.data_dir, Arc::new(SystemClock), Arc::clone(metrics), settings)
                .unwrap();
        let admin = NewConsumer::unscoped(
            credentials.id,
            SecretBytes::new(credentials.key.clone()),
            vec!["admin".to_owned()],
        );
        assert!(core.initialize(admin).await.unwrap(), "a fresh store initializes");
        fund_wallets(&core).await;
        issue_card(&core).await;
        server::start(core, config).await.unwrap()
    })
}

/// Opens the two transfer wallets and credits each with `WALLET_FUNDS`.
async fn fund_wallets(core: &Core) {
    for code in [WALLET_A, WALLET_B] {
        let open = Command::CreateWallet {
            code: code.to_owned(),
            card_product: None,
            owner: WalletOwner::None,
        };
        assert!(matches!(core.execute(open, None).await.unwrap(), Outcome::WalletCreated { .. }));
        let credit = MoneyMovement {
            movement: Movement::Credit,
            wallet: code.to_owned(),
            destination: None,
            amount: Amount::from_whole(WALLET_FUNDS).unwrap(),
            layers: vec![840],
            kind: "fund".to_owned(),
            rrn: format!("fund{code}"),
            fingerprint: code.to_owned(),
            description: String::new(),
            json_request: "{}".to_owned(),
            geo_location: None,
            dry_run: false,
            pin: None,
        };
        let outcome = core.execute(Command::MoveMoney(Box::new(credit)), None).await.unwrap();
        assert!(matches!(outcome, Outcome::MoneyMoved { .. }), "{outcome:?}");
    }
}

/// A card product open to points of sale, a cardholder, and an active card funded with
/// `WALLET_FUNDS`; its debit path goes to `CARD_DEBIT_PATH`.
async fn issue_card(core: &Core) {
    let fields = CardProductFields {
        name: Some("bench".to_owned()),
        code: Some("bench".to_owned()),
        issuer: Some("1".to_owned()),
        allow_pos: Some(true),
        ..CardProductFields::default()
    };
    let product = core.execute(Command::CreateCardProduct(Box::new(fields)), None).await.unwrap();
    assert!(matches!(product, Outcome::CardProductSaved(_)), "{product:?}");
    let holder = NewCustomer {
        real_id: "bench".to_owned(),
        active: true,
        institution_id: "1".to_owned(),
        first_name: "Bench".to_owned(),
        last_name: "Mark".to_owned(),
        details: Default::default(),
        currency_codes: vec![840],
        wallet: None,
    };
    assert!(matches!(
        core.execute(Command::CreateCustomer(holder), None).await.unwrap(),
        Outcome::CustomerCreated { .. }
    ));
    let card = NewCard {
        product: "bench".to_owned(),
        cardholder: "bench".to_owned(),
        account_code: None,
        number: CardNumber::Generate { bin: "455566".to_owned() },
        expiration: "209912".to_owned(),
        service_code: "101".to_owned(),
        embossing_name: None,
        is_virtual: true,
    };
    let Outcome::CardIssued { card, .. } =
        core.execute(Command::IssueCard(Box::new(card)), None).await.unwrap()
    else {
        panic!("the bench card was not issued");
    };
    let token = card.token.clone();
    assert_eq!(
        core.execute(Command::ActivateCard { token: token.clone() }, None).await.unwrap(),
        Outcome::CardUpdated
    );
    let credit = CardMovement {
        kind: CardMovementKind::Credit,
        token: token.clone(),
        recipient: None,
        amount: Amount::from_whole(WALLET_FUNDS).unwrap(),
        currency: 840,
        channel: Channel::Internal,
        channel_name: None,
        rrn: "fundcard".to_owned(),
        fingerprint: "fundcard".to_owned(),
        description: String::new(),
        json_request: "{}".to_owned(),
        pin_block: None,
    };
    let funded = core.execute(Command::MoveCardMoney(Box::new(credit)), None).await.unwrap();
    assert!(matches!(funded, Outcome::CardMoved { .. }), "{funded:?}");
    CARD_DEBIT_PATH.set(format!("/jcard/api/cards/{token}/debit")).unwrap();
}

/// Transfers only move money between the two bench wallets: their sum must be unchanged.
fn check_wallets(core: &Core) -> (String, bool) {
    let total: i64 = [WALLET_A, WALLET_B]
        .iter()
        .map(|code| {
            core.balance("jcard", &format!("23.{code}"), &[840], None).unwrap().balance.units()
        })
        .sum();
    let expected = Amount::from_whole(2 * WALLET_FUNDS).unwrap().units();
    let holds = total == expected;
    let verdict = if holds { "ok" } else { "MISMATCH" };
    (
        format!("wallet check: transfers kept the two wallets' total at {total} units: {verdict}"),
        holds,
    )
}

/// Every acknowledged posting moved 12.001.00 by 1.00: the published balance must say so.
/// Returns the report line and whether it holds.
fn check_ledger(core: &Core, rows: &[Row]) -> (String, bool) {
    let acknowledged = |workload: Workload| -> i64 {
        let total: u64 =
            rows.iter().filter(|row| row.workload == workload).map(|row| row.successes_total).sum();
        i64::try_from(total).unwrap()
    };
    // A GL posting debits 12.001.00 by 1.00 (it grows); a card debit credits it by 1.00.
    let (posted, card_debits) = (acknowledged(Workload::Post), acknowledged(Workload::CardDebit));
    let snapshot = core.snapshot();
    let account = snapshot.account_by_code("12.001.00").expect("12.001.00 exists").id;
    let balance = snapshot.balance(account, 840).units();
    let holds = (posted - card_debits).checked_mul(10_000) == Some(balance);
    let verdict = if holds { "ok" } else { "MISMATCH" };
    let line = format!(
        "ledger check: {posted} postings and {card_debits} card debits acknowledged, 12.001.00 balance {balance} units: {verdict}"
    );
    (line, holds)
}

fn bench_config(dir: &std::path::Path) -> Config {
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_owned(),
        ..Config::default()
    };
    // Every request (reads too) leaves a nonce in the replay cache for 2 × the timestamp
    // window; the default million entries fill up within a run at these rates (then requests
    // fail with `nonce.store.full`).
    if let Ok(entries) = std::env::var("BENCH_NONCE_CACHE_ENTRIES") {
        config.auth.nonce_cache_entries_max = entries.parse().unwrap();
    }
    config.validate().unwrap();
    config
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing of the sort and
    // only wants to know the target builds and starts.
    if !std::env::args().any(|argument| argument == "--bench") {
        println!("http bench: run with `cargo bench --bench http`");
        return;
    }
    let settings = Settings::from_env();
    let dir = match std::env::var_os("BENCH_DIR") {
        Some(base) => tempfile::tempdir_in(base),
        None => tempfile::tempdir(),
    }
    .unwrap();
    let config = bench_config(dir.path());
    let credentials =
        Credentials { id: Uuid::new_v4(), key: b"bench admin key, 32 bytes long!!".to_vec() };
    let metrics = Arc::new(Metrics::new());
    let server_runtime = runtime("bench-server");
    let switch = start_switch(&server_runtime, &config, &credentials, &metrics);
    let address = switch.address;
    eprintln!("switch listening on {address}, data in {}", dir.path().display());

    let client_runtime = runtime("bench-client");
    let rows: Vec<Row> = settings
        .workloads
        .iter()
        .map(|&workload| {
            eprintln!("running {} ...", workload.name());
            client_runtime.block_on(run_workload(
                workload,
                &settings,
                address,
                &credentials,
                &metrics,
            ))
        })
        .collect();
    drop(client_runtime);

    let (ledger, ledger_holds) = check_ledger(&switch.core, &rows);
    let (wallets, wallets_hold) = check_wallets(&switch.core);
    server_runtime.block_on(switch.stop()).unwrap();
    print!("{}", table(&rows, &settings));
    println!("{ledger}");
    println!("{wallets}");
    println!(
        "store size after the run: {:.1} MiB",
        bytes_to_mib(walk_size(&dir.path().join("store")))
    );
    assert!(ledger_holds, "acknowledged postings and the balance disagree");
    assert!(wallets_hold, "transfers changed the wallets' total");
}

fn bytes_to_mib(bytes: u64) -> f64 {
    // Sizes in a report: precision beyond 2^53 bytes does not matter.
    #[allow(clippy::as_conversions, clippy::cast_precision_loss)]
    let bytes = bytes as f64;
    bytes / (1024.0 * 1024.0)
}

/// Total size of the files under `path`.
fn walk_size(path: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return std::fs::metadata(path).map(|metadata| metadata.len()).unwrap_or(0);
    };
    entries.flatten().map(|entry| walk_size(&entry.path())).sum()
}
