//! The load generator against a real switch: `populate` creates what its manifest says, every
//! request kind runs closed loop and the whole mix open loop with no transport error, the
//! money it moved adds up, the ledger balances, and the JSON results have the documented
//! fields. A smoke run of seconds: nothing about speed is asserted.

use std::path::Path;

use base64::Engine as _;
use cardswitch::cli::{Cli, CliCommand, LoadCommand};
use cardswitch::load::manifest::Manifest;
use cardswitch::load::mix::{Distribution, Kind};
use cardswitch::load::report::Results;
use cardswitch::load::{populate, run, PopulateOptions, RunOptions};
use clap::Parser;
use serde_json::Value;

use crate::support::TestSwitch;

const CARDS: usize = 20;
const FUNDS_WHOLE: u64 = 1000;
const PARTNER: &str = "loadpartner";
const PARTNER_KEY: &str = "load partner key";

/// Writes the admin's credentials as `admin-credentials` does.
fn credentials_file(switch: &TestSwitch, dir: &Path) -> std::path::PathBuf {
    let path = dir.join("admin-credentials");
    let secret = base64::engine::general_purpose::STANDARD.encode(&switch.admin.key);
    let text = format!(
        "consumer-id = \"{}\"\nsecret = \"{secret}\"\npermissions = \"admin\"\n",
        switch.admin.id
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn run_options(switch: &TestSwitch, credentials: &Path, mix: &str) -> RunOptions {
    let Cli { command: CliCommand::Load { command: LoadCommand::Run(options) } } =
        Cli::try_parse_from([
            "cardswitch",
            "load",
            "run",
            "--url",
            &switch.url(""),
            "--credentials",
            credentials.to_str().unwrap(),
            "--mix",
            mix,
            "--connections",
            "4",
            "--duration-s",
            "1",
            "--warmup-s",
            "0",
        ])
        .unwrap()
    else {
        panic!("`load run` parses as a run");
    };
    options
}

async fn card_balances(switch: &TestSwitch, tokens: &[String]) -> f64 {
    let mut sum = 0.0;
    for token in tokens {
        let reply =
            switch.admin_call("GET", &format!("/jcard/api/cards/{token}/balance"), "").await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        sum += reply.json["balance"].as_f64().unwrap();
    }
    sum
}

async fn wallet_balances(switch: &TestSwitch, manifest: &Manifest) -> f64 {
    let mut sum = 0.0;
    for code in manifest.wallets.iter().chain([&manifest.merchant_wallet]) {
        sum += switch.wallet_balance(code).await.parse::<f64>().unwrap();
    }
    sum
}

fn approvals(results: &Results, kind: Kind) -> f64 {
    results
        .kinds
        .get(kind.name())
        .map_or(0.0, |figures| f64::from(u32::try_from(figures.approvals).unwrap()))
}

/// Every request was answered, approved, and of the one kind asked for.
fn all_approved(results: &Results, kind: Kind) {
    let total = &results.total;
    assert!(total.requests > 0, "{}", results.text());
    assert!(total.errors.is_empty() && total.declines.is_empty(), "{}", results.text());
    assert_eq!(total.approvals, total.requests);
    assert_eq!(results.kinds.keys().collect::<Vec<_>>(), vec![kind.name()]);
    assert!(results.send_late_ms.is_none(), "a closed loop sends at once: {}", results.text());
    assert!(results.timeline.is_none(), "kept only when asked for");
}

/// The JSON results of the open-loop run have the documented fields.
fn check_json(path: &Path) {
    let written: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(written["mode"], "open");
    assert_eq!(written["rate_per_s"].as_f64(), Some(50.0));
    assert!(written["elapsed_s"].as_f64().unwrap() >= written["measured_s"].as_f64().unwrap());
    for field in ["requests", "throughput_per_s", "approvals", "declines", "errors"] {
        assert!(!written["total"][field].is_null(), "total.{field} in {written}");
    }
    for field in ["p50", "p99", "p999", "max"] {
        assert!(written["total"]["latency_ms"][field].as_f64().is_some(), "{field} in {written}");
    }
    assert!(written["kinds"]["debit"]["requests"].as_u64().unwrap() > 0, "{written}");
    let late = &written["send_late_ms"];
    for field in ["p50", "p99", "p999", "max"] {
        assert!(late[field].as_f64().is_some(), "send_late_ms.{field} in {written}");
    }
    // The generator's own lateness is part of each latency, so it is never the larger.
    assert!(late["max"].as_f64() <= written["total"]["latency_ms"]["max"].as_f64(), "{written}");
    // The measured second in ten windows of 100 ms: every measured request in one of them,
    // and the slowest of the windows is the run's slowest request.
    let timeline = &written["timeline"];
    assert_eq!(timeline["window_ms"].as_f64(), Some(100.0), "{written}");
    let requests: Vec<u64> =
        timeline["requests"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()).collect();
    assert_eq!(requests.len(), 10, "{written}");
    assert_eq!(requests.iter().sum::<u64>(), written["total"]["requests"].as_u64().unwrap());
    let slowest = timeline["slowest_ms"].as_array().unwrap().iter().map(|ms| ms.as_f64().unwrap());
    let max = written["total"]["latency_ms"]["max"].as_f64().unwrap();
    // The histogram keeps three significant digits; the timeline, microseconds.
    assert!((slowest.fold(0.0, f64::max) - max).abs() <= max / 100.0, "{written}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn populate_then_each_kind_closed_loop_and_the_mix_open_loop() {
    let switch = TestSwitch::start().await;
    switch.add_partner(PARTNER, PARTNER_KEY.as_bytes()).await;
    let dir = tempfile::tempdir().unwrap();
    let credentials = credentials_file(&switch, dir.path());
    let options = PopulateOptions {
        url: switch.url(""),
        credentials: credentials.clone(),
        cards: CARDS,
        concurrency: 4,
        seed: 5,
        funds_whole: FUNDS_WHOLE,
        manifest: None,
        partner_auth_id: Some(PARTNER.to_owned()),
        partner_key: Some(PARTNER_KEY.to_owned()),
    };
    let manifest = populate(&options).await.unwrap();
    assert_eq!(Manifest::read(&dir.path().join("load-manifest.json")).unwrap(), manifest);
    let sizes = (manifest.cards.len(), manifest.wallets.len(), manifest.partner_cards.len());
    assert_eq!(sizes, (CARDS, CARDS, CARDS));
    let funded = f64::from(u32::try_from(CARDS).unwrap()) * 1000.0;
    assert_eq!(card_balances(&switch, &manifest.cards).await, funded);
    assert_eq!(card_balances(&switch, &manifest.partner_cards).await, funded);
    assert_eq!(wallet_balances(&switch, &manifest).await, funded);

    let (mut debits, mut credits, mut issuing_debits) = (0.0, 0.0, 0.0);
    for kind in Kind::ALL {
        let mut options = run_options(&switch, &credentials, &format!("{}=1", kind.name()));
        // Closed loop, every transfer to the hot merchant.
        options.hot_merchant_share = 1.0;
        options.partner_key = Some(PARTNER_KEY.to_owned());
        let results = run(&options).await.unwrap();
        all_approved(&results, kind);
        assert_eq!(results.mode, "closed");
        debits += approvals(&results, Kind::Debit);
        credits += approvals(&results, Kind::Credit);
        issuing_debits += approvals(&results, Kind::IssuingDebit);
        if kind == Kind::Transfer {
            let merchant = switch.wallet_balance(&manifest.merchant_wallet).await;
            assert_eq!(merchant.parse::<f64>().unwrap(), approvals(&results, Kind::Transfer));
        }
    }

    let json = dir.path().join("open.json");
    let mix = "debit=4,credit=2,balance=2,transfer=2,issuing_debit=1";
    let mut open = run_options(&switch, &credentials, mix);
    open.partner_key = Some(PARTNER_KEY.to_owned());
    open.rate = Some(50.0);
    open.distribution = Distribution::Zipf { exponent: 1.1 };
    open.hot_merchant_share = 0.5;
    open.json = Some(json.clone());
    open.timeline_ms = Some(100);
    let results = run(&open).await.unwrap();
    assert!(results.total.errors.is_empty(), "{}", results.text());
    // The schedule has one request due every 20 ms of the measured second.
    assert!((45..=55).contains(&results.total.requests), "{}", results.text());
    debits += approvals(&results, Kind::Debit);
    credits += approvals(&results, Kind::Credit);
    issuing_debits += approvals(&results, Kind::IssuingDebit);

    assert_eq!(card_balances(&switch, &manifest.cards).await, funded - debits + credits);
    let partner_cards = card_balances(&switch, &manifest.partner_cards).await;
    assert_eq!(partner_cards, funded - issuing_debits);
    assert_eq!(wallet_balances(&switch, &manifest).await, funded, "transfers only move money");
    check_json(&json);
    switch.assert_ledger_balances();
}

#[tokio::test]
async fn runs_refuse_bad_options_and_a_missing_manifest() {
    let switch = TestSwitch::start().await;
    let dir = tempfile::tempdir().unwrap();
    let credentials = credentials_file(&switch, dir.path());
    let error = run(&run_options(&switch, &credentials, "debit=1")).await.unwrap_err();
    assert!(error.to_string().contains("load-manifest.json"), "{error}");
    let options = PopulateOptions {
        url: switch.url(""),
        credentials: credentials.clone(),
        cards: 2,
        concurrency: 1,
        seed: 9,
        funds_whole: 1,
        manifest: None,
        partner_auth_id: None,
        partner_key: None,
    };
    populate(&options).await.unwrap();
    let error = run(&run_options(&switch, &credentials, "issuing_debit=1")).await.unwrap_err();
    assert!(error.to_string().contains("--partner-auth-id"), "{error}");
    let mut options = run_options(&switch, &credentials, "debit=1");
    options.hot_merchant_share = 1.5;
    assert!(run(&options).await.unwrap_err().to_string().contains("hot-merchant-share"));
    let mut options = run_options(&switch, &credentials, "debit=1");
    options.timeline_ms = Some(0);
    assert!(run(&options).await.unwrap_err().to_string().contains("--timeline-ms"));
    for mix in ["debit=0", "refund=1", "debit=x"] {
        let parsed = Cli::try_parse_from(["cardswitch", "load", "run", "--mix", mix]);
        assert!(parsed.is_err(), "{mix}");
    }
    let few = PopulateOptions {
        url: switch.url(""),
        credentials,
        cards: 1,
        concurrency: 1,
        seed: 1,
        funds_whole: 1,
        manifest: None,
        partner_auth_id: None,
        partner_key: None,
    };
    assert!(populate(&few).await.is_err());
}
