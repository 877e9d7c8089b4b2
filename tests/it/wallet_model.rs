//! Model test of wallet money: random credits, debits and transfers (with a fee), retries of
//! earlier RRNs with the same or different content, reversals, voids, blocks and restarts,
//! run against the core and against a reference model in plain maps. After every step each
//! wallet's balance, and that of every account money comes from or goes to (cash in
//! `11.001.00`, cash out `12.001.00`, fees `31.001.00`), must equal the model's, and the full
//! ledger audit must pass.

use std::collections::BTreeMap;

use cardswitch::config::Config;
use cardswitch::core::command::{
    Command, Decline, MoneyMovement, NewConsumer, Outcome, WalletStateChange,
};
use cardswitch::core::keys::SecretBytes;
use cardswitch::core::Core;
use cardswitch::money::Amount;
use cardswitch::wallet::plan::Movement;
use cardswitch::wallet::WalletOwner;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::support::open_core;

const WALLETS: [&str; 4] = ["w0", "w1", "w2", "w3"];
/// Flat fee of type `t` in USD, in 1/10000 units (0.50).
const FEE: i64 = 5_000;
const STEPS: usize = 200;

#[derive(Debug, Clone, PartialEq)]
struct Request {
    movement: Movement,
    from: usize,
    to: usize,
    units: i64,
}

#[derive(Debug, Clone)]
struct Logged {
    request: Request,
    approved: bool,
    reversed: bool,
    voided: bool,
}

#[derive(Default)]
struct Model {
    balances: [i64; 4],
    /// `11.001.00` (a debit account): debited by every credit's amount.
    cash_in: i64,
    /// `12.001.00` (a debit account): credited by every debit's amount.
    cash_out: i64,
    /// `31.001.00`: every movement's fee.
    fees: i64,
    blocked: [bool; 4],
    by_rrn: BTreeMap<String, Logged>,
}

impl Model {
    /// The balance changes of a request: (wallet, delta) pairs.
    fn deltas(request: &Request) -> Vec<(usize, i64)> {
        match request.movement {
            Movement::Credit => vec![(request.from, request.units - FEE)],
            Movement::Debit => vec![(request.from, -(request.units + FEE))],
            Movement::Transfer => {
                vec![(request.from, -(request.units + FEE)), (request.to, request.units)]
            }
        }
    }

    fn decide(&self, request: &Request) -> Result<(), Decline> {
        let wallets = if request.movement == Movement::Transfer {
            vec![request.from, request.to]
        } else {
            vec![request.from]
        };
        if wallets.iter().any(|wallet| self.blocked[*wallet]) {
            return Err(Decline::WalletBlocked);
        }
        let outflow = match request.movement {
            Movement::Credit => FEE - request.units,
            Movement::Debit | Movement::Transfer => request.units + FEE,
        };
        if outflow > 0 && self.balances[request.from] < outflow {
            return Err(Decline::InsufficientFunds);
        }
        Ok(())
    }

    fn apply(&mut self, request: &Request, sign: i64) {
        for (wallet, delta) in Model::deltas(request) {
            self.balances[wallet] += sign * delta;
        }
        match request.movement {
            Movement::Credit => self.cash_in += sign * request.units,
            Movement::Debit => self.cash_out -= sign * request.units,
            Movement::Transfer => {}
        }
        self.fees += sign * FEE;
    }

    /// Whether undoing `request` would leave a wallet below zero.
    fn undo_overdraws(&self, request: &Request) -> bool {
        Model::deltas(request).iter().any(|(wallet, delta)| self.balances[*wallet] - delta < 0)
    }
}

fn command(request: &Request, rrn: &str) -> Command {
    let kind = "t".to_owned();
    Command::MoveMoney(Box::new(MoneyMovement {
        movement: request.movement,
        wallet: WALLETS[request.from].to_owned(),
        destination: (request.movement == Movement::Transfer)
            .then(|| WALLETS[request.to].to_owned()),
        amount: Amount::from_units(request.units),
        layers: vec![840, 1840],
        kind,
        rrn: rrn.to_owned(),
        fingerprint: format!("{request:?}"),
        description: String::new(),
        json_request: "{}".to_owned(),
        geo_location: None,
        dry_run: false,
        pin: None,
    }))
}

fn random_request(rng: &mut StdRng) -> Request {
    let movement = [Movement::Credit, Movement::Debit, Movement::Transfer][rng.gen_range(0..3)];
    let from = rng.gen_range(0..4);
    let to = (from + rng.gen_range(1..4)) % 4;
    Request { movement, from, to, units: rng.gen_range(1..400) * 2_500 }
}

async fn step_move(rng: &mut StdRng, core: &Core, model: &mut Model, step: usize) {
    let reuse = !model.by_rrn.is_empty() && rng.gen_range(0..5) == 0;
    let (rrn, request) = if reuse {
        let (rrn, logged) = model.by_rrn.iter().nth(rng.gen_range(0..model.by_rrn.len())).unwrap();
        let request = if rng.gen_bool(0.5) { logged.request.clone() } else { random_request(rng) };
        (rrn.clone(), request)
    } else {
        (format!("m{step}"), random_request(rng))
    };
    let outcome = core.execute(command(&request, &rrn), None).await.unwrap();
    if let Some(logged) = model.by_rrn.get(&rrn) {
        match (&outcome, logged.request == request, logged.approved) {
            (Outcome::MoneyMoved { replayed: true, .. }, true, true) => {}
            (Outcome::Declined(_), true, false) => {}
            (Outcome::Declined(Decline::DuplicateRrn), false, _) => {}
            other => panic!("step {step}: retry of {rrn} answered {other:?}"),
        }
        return;
    }
    let expected = model.decide(&request);
    match (&outcome, &expected) {
        (Outcome::MoneyMoved { replayed: false, .. }, Ok(())) => model.apply(&request, 1),
        (Outcome::Declined(decline), Err(expected)) => assert_eq!(decline, expected, "step {step}"),
        other => panic!("step {step}: {request:?} answered {other:?}"),
    }
    let logged = Logged { request, approved: expected.is_ok(), reversed: false, voided: false };
    model.by_rrn.insert(rrn, logged);
}

async fn step_undo(rng: &mut StdRng, core: &Core, model: &mut Model, step: usize) {
    let Some(rrn) = model.by_rrn.keys().nth(rng.gen_range(0..model.by_rrn.len().max(1))).cloned()
    else {
        return;
    };
    let void = rng.gen_bool(0.5);
    let command = if void {
        Command::VoidByRrn { rrn: rrn.clone() }
    } else {
        Command::ReverseByRrn { rrn: rrn.clone() }
    };
    let outcome = core.execute(command, None).await.unwrap();
    let logged = model.by_rrn[&rrn].clone();
    let expected = if !logged.approved {
        Err(Decline::OriginalNotFound)
    } else if logged.voided {
        Err(Decline::OriginalVoided)
    } else if logged.reversed {
        Err(Decline::PreviouslyReversed)
    } else if model.undo_overdraws(&logged.request) {
        Err(if void {
            Decline::FurtherActivityPreventsVoid
        } else {
            Decline::FurtherActivityPreventsReversal
        })
    } else {
        Ok(())
    };
    match (outcome, expected) {
        (Outcome::Voided { .. } | Outcome::ReversedByRrn { .. }, Ok(())) => {
            model.apply(&logged.request, -1);
            let entry = model.by_rrn.get_mut(&rrn).unwrap();
            if void {
                entry.voided = true;
            } else {
                entry.reversed = true;
            }
        }
        (Outcome::Declined(decline), Err(expected)) => assert_eq!(decline, expected, "step {step}"),
        other => panic!("step {step}: undo of {rrn} ({logged:?}) gave {other:?}"),
    }
}

async fn step_block(rng: &mut StdRng, core: &Core, model: &mut Model) {
    let wallet = rng.gen_range(0..4);
    let change =
        if model.blocked[wallet] { WalletStateChange::Unblock } else { WalletStateChange::Block };
    let command = Command::ChangeWalletState { code: WALLETS[wallet].to_owned(), change };
    assert_eq!(core.execute(command, None).await.unwrap(), Outcome::WalletUpdated);
    model.blocked[wallet] = !model.blocked[wallet];
}

fn check(core: &Core, model: &Model, step: usize) {
    for (index, code) in WALLETS.iter().enumerate() {
        let balance =
            core.balance("jcard", &format!("23.{code}"), &[840, 1840], None).unwrap().balance;
        assert_eq!(balance.units(), model.balances[index], "step {step}: wallet {code}");
        assert!(balance.units() >= 0, "step {step}: wallet {code} overdrawn");
    }
    for (code, expected) in
        [("11.001.00", model.cash_in), ("12.001.00", model.cash_out), ("31.001.00", model.fees)]
    {
        let balance = core.balance("jcard", code, &[840, 1840], None).unwrap().balance;
        assert_eq!(balance.units(), expected, "step {step}: {code}");
    }
    let report = core.audit().unwrap();
    assert!(report.is_clean(), "step {step}: {:?}", report.problems);
}

async fn start(config: &Config) -> Core {
    let core = open_core(config);
    let admin = NewConsumer::unscoped(uuid::Uuid::new_v4(), SecretBytes::new(vec![1; 16]), vec![]);
    assert!(core.initialize(admin).await.unwrap());
    let fee = cardswitch::core::command::SysConfig {
        id: "fee.t.flat.840".to_owned(),
        value: "0.50".to_owned(),
        read_perm: String::new(),
        write_perm: String::new(),
    };
    assert_eq!(
        core.execute(Command::CreateSysconfig(fee), None).await.unwrap(),
        Outcome::SysconfigCreated
    );
    for code in WALLETS {
        let command = Command::CreateWallet {
            code: code.to_owned(),
            card_product: None,
            owner: WalletOwner::None,
        };
        assert!(matches!(
            core.execute(command, None).await.unwrap(),
            Outcome::WalletCreated { .. }
        ));
    }
    core
}

async fn run(seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config { data_dir: dir.path().to_owned(), ..Config::default() };
    let mut core = start(&config).await;
    let mut model = Model::default();
    let mut rng = StdRng::seed_from_u64(seed);
    for step in 0..STEPS {
        match rng.gen_range(0..20) {
            0..=12 => step_move(&mut rng, &core, &mut model, step).await,
            13..=16 => step_undo(&mut rng, &core, &mut model, step).await,
            17..=18 => step_block(&mut rng, &core, &mut model).await,
            _ => {
                core.shutdown().await.unwrap();
                drop(core);
                core = open_core(&config);
            }
        }
        check(&core, &model, step);
    }
    core.shutdown().await.unwrap();
}

#[tokio::test]
async fn random_wallet_operations_match_the_model() {
    for seed in [11, 12, 13] {
        run(seed).await;
    }
}
