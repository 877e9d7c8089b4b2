//! kill -9 under load. The real `cardswitch serve` runs on a temporary data directory and takes
//! concurrent signed card debits, card credits and wallet transfers (each with its own RRN)
//! until it is killed with SIGKILL at a random moment; then it is started again, and so on for
//! every cycle. After each crash: `cardswitch verify` passes on the killed directory; every
//! acknowledged request (an approved 2xx answer) is present exactly once, by RRN, and sending
//! it again replays the stored answer instead of posting; every declined one is logged as
//! declined and moved nothing; every request in doubt (a 5xx or a cut connection) is either
//! wholly applied (its one GL transaction with both legs) or wholly absent, and a retry of an
//! absent one is decided afresh; the number of GL transactions and every balance equal the
//! client's own model. Every draw comes from one seed, printed, so a failure can be repeated.
//! The switch writes its account-entry and tranlog indexes in runs of 16 records and snapshots
//! its balances every 7 transactions, so that kills also land while runs are written and merged
//! and while snapshots are written, and each start replays the transactions since the last
//! snapshot; `verify` checks the runs against the records and the balances against every
//! transaction, every card account's statement (read from the entry index) must add up to the
//! model's balance, and every card's and wallet's history (read from the tranlog index; every tenth
//! cycle and after the last) must hold as many approved records as the model has applied
//! movements.
//!
//! `cargo test` runs 20 short cycles; `scripts/crash.sh --cycles N [--seed S]` runs the ignored
//! long form in release with `CRASH_CYCLES`, `CRASH_SEED` and `CRASH_LOAD_MS_MAX`.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cardswitch::http::client::{IncomingAnswer, OutgoingRequest};
use cardswitch::load::client::{Session, Signer};
use cardswitch::load::target::read_credentials;
use cardswitch::load::{populate, PopulateOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::support::amount_units as units;

const BINARY: &str = env!("CARGO_BIN_EXE_cardswitch");
const UNIT: i64 = cardswitch::money::UNITS_PER_WHOLE;
/// Customers populated: each has one card and one wallet.
const CUSTOMERS: usize = 6;
/// What each card and wallet starts with, in whole units: little, so overdrafts are tried.
const FUNDS_WHOLE: i64 = 100;
/// Largest amount of one request, in whole units.
const AMOUNT_WHOLE_MAX: i64 = 25;
/// Connections sending at once, one request in flight on each.
const CONNECTIONS: usize = 8;
/// Cycles between two reads of every whole history (and after the last): a record lost or
/// doubled stays so, so a check finds what any cycle before it did, and reading histories
/// that grow with every cycle after each one made the 100-cycle soak take twice as long.
const HISTORY_CHECK_CYCLES: usize = 10;
/// Records a history answer may hold (`lists.statement_entries_max` of the crash switch): more
/// than a card or wallet gets in a long soak, so that histories are read whole.
const HISTORY_MAX: usize = 200_000;
/// Requests of earlier cycles that were applied, looked up and replayed again after each crash.
const EARLIER_SAMPLE: usize = 8;
/// The long form prints its counts after this many cycles.
const PROGRESS_CYCLES: usize = 50;
/// Cycles `cargo test` runs.
const CI_CYCLES: usize = 20;
/// In `cargo test`, the kill comes at most this long after the load starts.
const CI_LOAD_MS_MAX: u64 = 150;
/// In the long form, unless `CRASH_LOAD_MS_MAX` says otherwise.
const LONG_LOAD_MS_MAX: u64 = 300;

/// What a run does: cycles, the seed of every draw, how long the load may last before the kill.
#[derive(Debug, Clone, Copy)]
struct Settings {
    cycles: usize,
    seed: u64,
    load_ms_max: u64,
}

impl Settings {
    /// `CRASH_SEED` (else a fresh random seed) and `CRASH_LOAD_MS_MAX` from the environment.
    fn from_environment(cycles: usize, load_ms_max_default: u64) -> Settings {
        let seed =
            environment_number("CRASH_SEED").unwrap_or_else(|| u64::from(rand::random::<u32>()));
        let load_ms_max = environment_number("CRASH_LOAD_MS_MAX").unwrap_or(load_ms_max_default);
        Settings { cycles, seed, load_ms_max }
    }
}

fn environment_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(text.trim().parse().unwrap_or_else(|_| panic!("{name} must be a whole number: {text}")))
}

/// `cardswitch serve` as a child process on a port of its choosing.
struct Served {
    child: Child,
    address: SocketAddr,
    /// Kept open so that nothing the switch prints later meets a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl Served {
    /// Starts the switch on `data`, its log appended to `log`; waits until it listens. The
    /// derived indexes write a run every 16 records and merge runs two at a time, and the
    /// balances are snapshotted every 7 transactions, so kills land in those writes too;
    /// histories may be read whole.
    fn start(data: &Path, log: &Path) -> Result<Served, String> {
        let log_file = File::options().create(true).append(true).open(log).map_err(text)?;
        let config = log.with_file_name("crash-config.toml");
        let settings = format!(
            "[store]\nentry_run_entries = 16\nentry_runs_per_merge = 2\n\
             balance_snapshot_transactions = 7\n\
             [lists]\nstatement_entries_max = {HISTORY_MAX}\n"
        );
        std::fs::write(&config, settings).map_err(text)?;
        let mut child = Command::new(BINARY)
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .arg("--data")
            .arg(data)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|error| format!("cannot start {BINARY}: {error}"))?;
        let mut stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut line = String::new();
        loop {
            line.clear();
            if stdout.read_line(&mut line).map_err(text)? == 0 {
                let status = child.wait().map_err(text)?;
                return Err(format!("serve exited ({status}) before listening; log {log:?}"));
            }
            if let Some(address) = line.trim_end().strip_prefix("cardswitch listening on http://") {
                let address = address.parse().map_err(text)?;
                return Ok(Served { child, address, _stdout: stdout });
            }
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reaps the process.
    fn kill(mut self) -> Result<(), String> {
        self.child.kill().map_err(text)?;
        self.child.wait().map_err(text)?;
        Ok(())
    }
}

impl Drop for Served {
    /// A failed check must not leave the switch running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}

/// `cardswitch verify --data DIR` on the stopped directory; answers its transaction count.
fn verify(data: &Path) -> Result<u64, String> {
    let output =
        Command::new(BINARY).args(["verify", "--data"]).arg(data).output().map_err(text)?;
    let report = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || !report.contains("verify: ok") {
        let errors = String::from_utf8_lossy(&output.stderr);
        return Err(format!("cardswitch verify failed ({}):\n{report}{errors}", output.status));
    }
    report
        .lines()
        .find_map(|line| line.strip_prefix("transactions: "))
        .and_then(|count| count.trim().parse().ok())
        .ok_or_else(|| format!("cardswitch verify printed no transaction count:\n{report}"))
}

/// One request of the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    CardDebit { card: usize },
    CardCredit { card: usize },
    Transfer { from: usize, to: usize },
}

/// What the sender learned from the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// An approved 2xx answer, with its approval number.
    Acknowledged(String),
    /// A 422 decline, with its result code.
    Declined(String),
    /// A 5xx or a transport failure: the switch may or may not have done it.
    InDoubt(String),
    /// Anything else: the harness or the switch is wrong.
    Unexpected(String),
}

/// One request sent and its answer.
#[derive(Debug, Clone)]
struct Sent {
    rrn: String,
    op: Op,
    amount_whole: i64,
    answer: Answer,
}

/// What the switch's tranlog holds for an RRN after the restart.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Found {
    Absent,
    Approved(String),
    Declined(String),
}

/// The cards and wallets `populate` made, and the ledger accounts the cards draw on.
#[derive(Debug)]
struct World {
    cards: Vec<String>,
    card_accounts: Vec<String>,
    wallets: Vec<String>,
}

impl World {
    fn random_op(&self, rng: &mut StdRng) -> Op {
        let card = rng.gen_range(0..self.cards.len());
        match rng.gen_range(0..10) {
            0..=2 => Op::CardDebit { card },
            3..=5 => Op::CardCredit { card },
            _ => {
                let from = rng.gen_range(0..self.wallets.len());
                let to = (from + rng.gen_range(1..self.wallets.len())) % self.wallets.len();
                Op::Transfer { from, to }
            }
        }
    }

    /// The signed request of `op`; the same op, amount and RRN always give the same body.
    fn request(&self, signer: &Signer, op: Op, amount_whole: i64, rrn: &str) -> OutgoingRequest {
        let card_body = |channel: &str| {
            format!(
                r#"{{"amount":{amount_whole},"currency":840,"rrn":"{rrn}","channel":"{channel}"}}"#
            )
        };
        let (path, body) = match op {
            Op::CardDebit { card } => {
                (format!("/jcard/api/cards/{}/debit", self.cards[card]), card_body("pos"))
            }
            Op::CardCredit { card } => {
                (format!("/jcard/api/cards/{}/credit", self.cards[card]), card_body("jcard"))
            }
            Op::Transfer { from, to } => (
                format!("/jcard/api/wallets/{}/transfer/{}", self.wallets[from], self.wallets[to]),
                format!(
                    r#"{{"amount":{amount_whole},"currency":"840","rrn":"{rrn}","type":"P2P"}}"#
                ),
            ),
        };
        signer.jcard("POST", path, body)
    }

    /// The accounts `op` debits and credits: card debits go to the acquirer `12.001.00`,
    /// card credits come from the issuer `11.001.00`.
    fn legs(&self, op: Op) -> (String, String) {
        match op {
            Op::CardDebit { card } => (self.card_accounts[card].clone(), "12.001.00".to_owned()),
            Op::CardCredit { card } => ("11.001.00".to_owned(), self.card_accounts[card].clone()),
            Op::Transfer { from, to } => {
                (format!("23.{}", self.wallets[from]), format!("23.{}", self.wallets[to]))
            }
        }
    }
}

/// The client's own ledger, in whole units.
#[derive(Debug, Clone)]
struct Model {
    cards: Vec<i64>,
    wallets: Vec<i64>,
    /// `11.001.00`, debited by every card credit (and by the population's credits).
    issuer: i64,
    /// `12.001.00`, credited by every card debit.
    acquirer: i64,
    /// GL transactions posted since the directory was created.
    transactions: u64,
    /// Approved records in each card's and each wallet's history.
    card_records: Vec<usize>,
    wallet_records: Vec<usize>,
}

impl Model {
    /// What `populate` leaves: every card and wallet credited from the issuer account.
    fn populated(customers: usize) -> Model {
        let count = i64::try_from(customers).unwrap();
        Model {
            cards: vec![FUNDS_WHOLE; customers],
            wallets: vec![FUNDS_WHOLE; customers],
            issuer: 2 * count * FUNDS_WHOLE,
            acquirer: 0,
            transactions: 2 * u64::try_from(customers).unwrap(),
            card_records: vec![0; customers],
            wallet_records: vec![0; customers],
        }
    }

    fn apply(&mut self, op: Op, amount_whole: i64) {
        match op {
            Op::CardDebit { card } => {
                self.cards[card] -= amount_whole;
                self.acquirer -= amount_whole;
                self.card_records[card] += 1;
            }
            Op::CardCredit { card } => {
                self.cards[card] += amount_whole;
                self.issuer += amount_whole;
                self.card_records[card] += 1;
            }
            Op::Transfer { from, to } => {
                self.wallets[from] -= amount_whole;
                self.wallets[to] += amount_whole;
                self.wallet_records[from] += 1;
                self.wallet_records[to] += 1;
            }
        }
        self.transactions += 1;
    }
}

/// What a run did, printed at its end.
#[derive(Debug, Default)]
struct Stats {
    cycles: usize,
    sent: u64,
    acknowledged: u64,
    declined: u64,
    in_doubt: u64,
    in_doubt_applied: u64,
    in_doubt_declined: u64,
    in_doubt_absent: u64,
    retries_applied: u64,
    earlier_rechecked: u64,
}

impl Stats {
    fn count(&mut self, sent: &Sent, found: &Found) {
        self.sent += 1;
        match (&sent.answer, found) {
            (Answer::Acknowledged(_), _) => self.acknowledged += 1,
            (Answer::Declined(_), _) => self.declined += 1,
            (_, Found::Approved(_)) => self.in_doubt_applied += 1,
            (_, Found::Declined(_)) => self.in_doubt_declined += 1,
            (_, Found::Absent) => self.in_doubt_absent += 1,
        }
        if matches!(sent.answer, Answer::InDoubt(_)) {
            self.in_doubt += 1;
        }
    }
}

/// 200/201 approve (a first answer must not be a replay); 422 declines; 5xx and transport
/// failures leave the outcome in doubt.
fn classify(reply: Result<IncomingAnswer, String>) -> Answer {
    let answer = match reply {
        Ok(answer) => answer,
        Err(error) => return Answer::InDoubt(error),
    };
    let json: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    let shown = format!("{} {}", answer.status, String::from_utf8_lossy(&answer.body));
    match (answer.status, json["approvalNumber"].as_str(), json["resultCode"].as_str()) {
        (200 | 201, Some(approval), _) if json["replayed"] == false => {
            Answer::Acknowledged(approval.to_owned())
        }
        (422, _, Some(code)) => Answer::Declined(code.to_owned()),
        (500..=599, _, _) => Answer::InDoubt(shown),
        _ => Answer::Unexpected(shown),
    }
}

/// Sends random requests on one connection until `stop`; answers what it sent.
async fn drive(
    address: SocketAddr,
    world: Arc<World>,
    signer: Arc<Signer>,
    rrns: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    mut rng: StdRng,
) -> Vec<Sent> {
    let mut session = Session::new(address);
    let mut sent = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let op = world.random_op(&mut rng);
        let amount_whole = rng.gen_range(1..=AMOUNT_WHOLE_MAX);
        let rrn = format!("k{:011}", rrns.fetch_add(1, Ordering::Relaxed));
        let request = world.request(&signer, op, amount_whole, &rrn);
        let answer = classify(session.send(&request).await);
        sent.push(Sent { rrn, op, amount_whole, answer });
    }
    sent
}

/// The signed client of the checks: one connection; a transport failure is a failure.
struct Checker {
    session: Session,
    signer: Arc<Signer>,
}

impl Checker {
    async fn send(&mut self, request: &OutgoingRequest) -> Result<(u16, Value), String> {
        let answer = self
            .session
            .send(request)
            .await
            .map_err(|error| format!("{} {}: {error}", request.method, request.path))?;
        Ok((answer.status, serde_json::from_slice(&answer.body).unwrap_or(Value::Null)))
    }

    /// A read that must answer 200 or 201.
    async fn read(&mut self, path: String) -> Result<Value, String> {
        let request = self.signer.jcard("GET", path, String::new());
        match self.send(&request).await? {
            (200 | 201, json) => Ok(json),
            (status, json) => Err(format!("GET {} answered {status}: {json}", request.path)),
        }
    }
}

/// Looks `sent` up by RRN: absent, or exactly one record whose amount is the request's and,
/// when approved, whose GL transaction is exactly the op's two legs.
async fn look_up(checker: &mut Checker, world: &World, sent: &Sent) -> Result<Found, String> {
    let request =
        checker.signer.jcard("GET", format!("/jcard/api/transactions/{}", sent.rrn), String::new());
    let (status, json) = checker.send(&request).await?;
    if status == 404 && json["error"] == "not.found" {
        return Ok(Found::Absent);
    }
    let records = json["tranlogs"].as_array().filter(|_| status == 200);
    let record = match records.map(Vec::as_slice) {
        Some([record]) => record,
        _ => return Err(format!("{}: not exactly one record ({status}): {json}", sent.rrn)),
    };
    if units(&record["amount"])? != sent.amount_whole * UNIT {
        return Err(format!("{}: the record's amount differs: {record}", sent.rrn));
    }
    let irc = record["irc"].as_str().unwrap_or_default().to_owned();
    if irc != "0000" {
        if !record["transaction"].is_null() {
            return Err(format!("{}: declined ({irc}) yet posted: {record}", sent.rrn));
        }
        return Ok(Found::Declined(irc));
    }
    check_legs(world, sent, &record["transaction"]["entries"])?;
    let approval = record["approvalNumber"].as_str().unwrap_or_default().to_owned();
    Ok(Found::Approved(approval))
}

/// The approved record's GL transaction is the op's debit and credit of its amount, nothing else.
fn check_legs(world: &World, sent: &Sent, entries: &Value) -> Result<(), String> {
    let (debited, credited) = world.legs(sent.op);
    let amount = sent.amount_whole * UNIT;
    let leg = |entry: &Value, side: &str, account: &str| {
        entry["account"] == account && units(&entry[side]).ok() == Some(amount)
    };
    match entries.as_array().map(Vec::as_slice) {
        Some([first, second])
            if (leg(first, "debit", &debited) && leg(second, "credit", &credited))
                || (leg(second, "debit", &debited) && leg(first, "credit", &credited)) =>
        {
            Ok(())
        }
        _ => Err(format!("{}: not wholly applied ({debited} → {credited}): {entries}", sent.rrn)),
    }
}

/// Whether the request moved money, given what was answered and what was found; a
/// contradiction is a failure.
fn resolve(sent: &Sent, found: &Found) -> Result<bool, String> {
    match (&sent.answer, found) {
        (Answer::Acknowledged(given), Found::Approved(stored)) if given == stored => Ok(true),
        (Answer::Declined(given), Found::Declined(stored)) if given == stored => Ok(false),
        (Answer::InDoubt(_), Found::Approved(_)) => Ok(true),
        (Answer::InDoubt(_), Found::Declined(_) | Found::Absent) => Ok(false),
        (answer, found) => Err(format!(
            "{} {:?} of {}: answered {answer:?}, after the restart {found:?}",
            sent.rrn, sent.op, sent.amount_whole
        )),
    }
}

/// Sends `sent` again with its RRN and body. What was stored must be replayed unchanged; a
/// request found absent is decided now (answers whether it moved money this time).
async fn send_again(
    checker: &mut Checker,
    world: &World,
    sent: &Sent,
    found: &Found,
) -> Result<bool, String> {
    let request = world.request(&checker.signer, sent.op, sent.amount_whole, &sent.rrn);
    let (status, json) = checker.send(&request).await?;
    let approval = json["approvalNumber"].as_str().map(str::to_owned);
    let code = json["resultCode"].as_str().map(str::to_owned);
    let replayed = json["replayed"] == true;
    match (found, status) {
        (Found::Approved(stored), 200 | 201) if replayed && approval.as_ref() == Some(stored) => {
            Ok(false)
        }
        (Found::Declined(stored), 422) if code.as_ref() == Some(stored) => Ok(false),
        (Found::Absent, 200 | 201) if !replayed && approval.is_some() => Ok(true),
        (Found::Absent, 422) if code.is_some() => Ok(false),
        _ => Err(format!("{} sent again after {found:?}: {status} {json}", sent.rrn)),
    }
}

/// Every card, wallet and counterpart account against the model; none overdrawn.
async fn check_balances(checker: &mut Checker, world: &World, model: &Model) -> Result<(), String> {
    let mut expected = Vec::new();
    for (card, whole) in world.cards.iter().zip(&model.cards) {
        expected.push((format!("/jcard/api/cards/{card}/balance"), "/balance", *whole, true));
    }
    for (wallet, whole) in world.wallets.iter().zip(&model.wallets) {
        let path = format!("/jcard/api/wallets/{wallet}/balance?layers=840,1840");
        expected.push((path, "/balance", *whole, true));
    }
    let gl =
        |code: &str| format!("/jcard/api/gl/journals/jcard/accounts/{code}/balance?layers=840");
    expected.push((gl("11.001.00"), "/response/balance", model.issuer, false));
    expected.push((gl("12.001.00"), "/response/balance", model.acquirer, false));
    expected.push((gl("21"), "/response/balance", model.cards.iter().sum(), true));
    expected.push((gl("23"), "/response/balance", model.wallets.iter().sum(), true));
    for (path, pointer, whole, never_negative) in expected {
        let json = checker.read(path.clone()).await?;
        let balance = units(json.pointer(pointer).unwrap_or(&Value::Null))?;
        if balance != whole * UNIT {
            return Err(format!("{path}: the switch says {balance}, the model {}", whole * UNIT));
        }
        if never_negative && balance < 0 {
            return Err(format!("{path}: overdrawn ({balance})"));
        }
    }
    check_statements(checker, world, model).await
}

/// Every card account's statement (read from the account-entry index) adds up to the model's
/// balance, while it is short enough to be answered whole.
async fn check_statements(
    checker: &mut Checker,
    world: &World,
    model: &Model,
) -> Result<(), String> {
    for (code, whole) in world.card_accounts.iter().zip(&model.cards) {
        let path = format!("/jcard/api/gl/journals/jcard/accounts/{code}/statement?layers=840");
        let json = checker.read(path.clone()).await?;
        let statement = &json["accountStatement"];
        if statement["truncated"] == Value::Bool(true) {
            continue;
        }
        let balance = units(&statement["finalBalance"])?;
        if balance != whole * UNIT {
            return Err(format!(
                "{path}: the statement ends at {balance}, the model {}",
                whole * UNIT
            ));
        }
    }
    Ok(())
}

/// Approved records in each card's history and each wallet's (read from the tranlog index).
async fn histories(
    checker: &mut Checker,
    world: &World,
) -> Result<(Vec<usize>, Vec<usize>), String> {
    let approved = |records: Option<&Value>| -> Result<usize, String> {
        let records = records.and_then(Value::as_array).ok_or("no history")?;
        if records.len() >= HISTORY_MAX {
            return Err(format!("a history reached {HISTORY_MAX} records: raise HISTORY_MAX"));
        }
        Ok(records.iter().filter(|record| record["irc"] == "0000").count())
    };
    let mut cards = Vec::new();
    for card in &world.cards {
        let path = format!("/jcard/api/cards/{card}/transactions?length={HISTORY_MAX}");
        cards.push(approved(checker.read(path).await?.get("transactions"))?);
    }
    let mut wallets = Vec::new();
    for wallet in &world.wallets {
        let path = format!("/jcard/api/wallets/{wallet}/transactions?length={HISTORY_MAX}");
        wallets.push(approved(checker.read(path).await?.pointer("/transactions/tranlogs"))?);
    }
    Ok((cards, wallets))
}

/// A run: the data directory, the switch serving it, the world, the model and the counts.
struct Run {
    settings: Settings,
    work: tempfile::TempDir,
    served: Option<Served>,
    signer: Arc<Signer>,
    world: Arc<World>,
    model: Model,
    rrns: Arc<AtomicU64>,
    rng: StdRng,
    /// Requests that moved money, for rechecks in later cycles.
    applied: Vec<(Sent, Found)>,
    stats: Stats,
}

impl Run {
    fn data(&self) -> PathBuf {
        self.work.path().join("data")
    }

    fn log(&self) -> PathBuf {
        self.work.path().join("serve.log")
    }

    /// A fresh directory, the switch started on it, and the population.
    async fn start(settings: Settings) -> Result<Run, String> {
        let work = tempfile::tempdir().map_err(text)?;
        let data = work.path().join("data");
        let served = Served::start(&data, &work.path().join("serve.log"))?;
        let credentials = data.join("admin-credentials");
        let options = PopulateOptions {
            url: format!("http://{}", served.address),
            credentials: credentials.clone(),
            cards: CUSTOMERS,
            concurrency: 2,
            seed: settings.seed,
            funds_whole: u64::try_from(FUNDS_WHOLE).map_err(text)?,
            manifest: Some(work.path().join("manifest.json")),
            partner_auth_id: None,
            partner_key: None,
        };
        let manifest = populate(&options).await.map_err(text)?;
        let signer = Arc::new(Signer::new(read_credentials(&credentials).map_err(text)?));
        let mut checker = Checker { session: Session::new(served.address), signer: signer.clone() };
        let mut card_accounts = Vec::new();
        for card in &manifest.cards {
            let json = checker.read(format!("/jcard/api/cards/{card}/balance")).await?;
            card_accounts.push(json["accountCode"].as_str().ok_or("no accountCode")?.to_owned());
        }
        let world = World { cards: manifest.cards, card_accounts, wallets: manifest.wallets };
        let mut model = Model::populated(CUSTOMERS);
        // What populate's own requests left in the histories.
        (model.card_records, model.wallet_records) = histories(&mut checker, &world).await?;
        Ok(Run {
            settings,
            work,
            served: Some(served),
            signer,
            world: Arc::new(world),
            model,
            rrns: Arc::new(AtomicU64::new(0)),
            rng: StdRng::seed_from_u64(settings.seed),
            applied: Vec::new(),
            stats: Stats::default(),
        })
    }

    /// Load on every connection, SIGKILL at a random moment; answers what was sent.
    async fn load_then_kill(&mut self) -> Result<Vec<Sent>, String> {
        let served = self.served.take().ok_or("no switch is running")?;
        let stop = Arc::new(AtomicBool::new(false));
        let drivers: Vec<_> = (0..CONNECTIONS)
            .map(|_| {
                let rng = StdRng::seed_from_u64(self.rng.gen());
                let (world, signer) = (self.world.clone(), self.signer.clone());
                let (rrns, stop) = (self.rrns.clone(), stop.clone());
                tokio::spawn(drive(served.address, world, signer, rrns, stop, rng))
            })
            .collect();
        let kill_after_ms = self.rng.gen_range(0..=self.settings.load_ms_max);
        tokio::time::sleep(Duration::from_millis(kill_after_ms)).await;
        stop.store(true, Ordering::SeqCst);
        served.kill()?;
        let mut sent = Vec::new();
        for driver in drivers {
            sent.extend(driver.await.map_err(text)?);
        }
        Ok(sent)
    }

    /// One cycle: load, kill, verify, restart, then every check.
    async fn cycle(&mut self) -> Result<(), String> {
        let sent = self.load_then_kill().await?;
        let transactions = verify(&self.data())?;
        let served = Served::start(&self.data(), &self.log())?;
        let mut checker =
            Checker { session: Session::new(served.address), signer: self.signer.clone() };
        self.served = Some(served);
        let mut found_all = Vec::with_capacity(sent.len());
        for request in &sent {
            if let Answer::Unexpected(answer) = &request.answer {
                return Err(format!(
                    "{} {:?}: unexpected answer {answer}",
                    request.rrn, request.op
                ));
            }
            let found = look_up(&mut checker, &self.world, request).await?;
            if resolve(request, &found)? {
                self.model.apply(request.op, request.amount_whole);
                self.applied.push((request.clone(), found.clone()));
            }
            self.stats.count(request, &found);
            found_all.push(found);
        }
        if transactions != self.model.transactions {
            let model = self.model.transactions;
            return Err(format!("verify counts {transactions} transactions, the model {model}"));
        }
        check_balances(&mut checker, &self.world, &self.model).await?;
        for (request, found) in sent.iter().zip(&found_all) {
            if send_again(&mut checker, &self.world, request, found).await? {
                self.model.apply(request.op, request.amount_whole);
                self.stats.retries_applied += 1;
            }
        }
        self.recheck_earlier(&mut checker).await?;
        check_balances(&mut checker, &self.world, &self.model).await?;
        let cycle = self.stats.cycles + 1;
        if cycle.is_multiple_of(HISTORY_CHECK_CYCLES) || cycle == self.settings.cycles {
            let found = histories(&mut checker, &self.world).await?;
            if found.0 != self.model.card_records || found.1 != self.model.wallet_records {
                let expected = (&self.model.card_records, &self.model.wallet_records);
                return Err(format!(
                    "approved records in card and wallet histories: {found:?}, the model \
                     {expected:?}"
                ));
            }
        }
        self.stats.cycles += 1;
        Ok(())
    }

    /// A sample of the requests applied in any earlier cycle: still there once, still replayed.
    async fn recheck_earlier(&mut self, checker: &mut Checker) -> Result<(), String> {
        for _ in 0..EARLIER_SAMPLE.min(self.applied.len()) {
            let (request, found) = &self.applied[self.rng.gen_range(0..self.applied.len())];
            let now = look_up(checker, &self.world, request).await?;
            if &now != found {
                return Err(format!("{}: was {found:?}, now {now:?}", request.rrn));
            }
            send_again(checker, &self.world, request, found).await?;
            self.stats.earlier_rechecked += 1;
        }
        Ok(())
    }
}

/// Runs every cycle; on a failure keeps the directory and panics with the seed and the cycle.
async fn run(settings: Settings) -> Stats {
    eprintln!(
        "crash: {} cycles, seed {} (repeat with CRASH_SEED={})",
        settings.cycles, settings.seed, settings.seed
    );
    let started = Instant::now();
    let mut run = Run::start(settings).await.unwrap_or_else(|error| panic!("set-up: {error}"));
    for cycle in 1..=settings.cycles {
        if let Err(error) = run.cycle().await {
            let kept = run.work.keep();
            panic!(
                "crash seed {}, cycle {cycle}: {error}\n(data and serve.log kept in {kept:?})",
                settings.seed
            );
        }
        if cycle % PROGRESS_CYCLES == 0 {
            let elapsed_s = started.elapsed().as_secs();
            eprintln!("crash: {elapsed_s} s, {:?}", run.stats);
        }
    }
    if let Some(served) = run.served.take() {
        served.kill().unwrap();
    }
    let stats = run.stats;
    eprintln!("crash: seed {}, {:.1} s: {stats:?}", settings.seed, started.elapsed().as_secs_f64());
    stats
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_nothing_and_posts_nothing_twice() {
    let stats = run(Settings::from_environment(CI_CYCLES, CI_LOAD_MS_MAX)).await;
    assert_eq!(stats.cycles, CI_CYCLES);
    assert!(stats.acknowledged > 0, "the load was acknowledged at all: {stats:?}");
}

/// The long form: `scripts/crash.sh --cycles N [--seed S]` (`CRASH_CYCLES`, default 1000).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long; run by scripts/crash.sh"]
async fn kill_9_under_load_long_run() {
    let cycles = environment_number("CRASH_CYCLES").unwrap_or(1000);
    let settings = Settings::from_environment(usize::try_from(cycles).unwrap(), LONG_LOAD_MS_MAX);
    let stats = run(settings).await;
    assert_eq!(stats.cycles, settings.cycles);
}
