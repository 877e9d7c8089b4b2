//! Model test: random postings (balanced or not, on final, composite or unknown accounts),
//! reversals, new accounts and restarts run against the core and against a reference ledger
//! kept here in plain maps. After every step, every balance of every account on every layer
//! must equal the model's, and the full audit (`cardswitch verify`) must pass.

use std::collections::BTreeMap;

use cardswitch::config::Config;
use cardswitch::core::command::{Command, Decline, NewAccount, NewConsumer, Outcome};
use cardswitch::core::keys::SecretBytes;
use cardswitch::core::Core;
use cardswitch::ledger::post::{EntryRequest, Reject, TransactionRequest};
use cardswitch::ledger::{AccountType, Layer, Side};
use cardswitch::money::Amount;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::support::open_core;

const LAYERS: [Layer; 3] = [840, 1840, 858];
const STEPS: usize = 150;

#[derive(Debug, Clone)]
struct ModelAccount {
    account_type: AccountType,
    is_final: bool,
    parent: Option<String>,
}

#[derive(Debug, Clone)]
struct ModelTransaction {
    entries: Vec<EntryRequest>,
    reversed: bool,
    is_reversal: bool,
}

#[derive(Default)]
struct Model {
    accounts: BTreeMap<String, ModelAccount>,
    /// Final balances in 1/10000 units.
    balances: BTreeMap<(String, Layer), i128>,
    transactions: BTreeMap<u64, ModelTransaction>,
}

impl Model {
    fn with_default_chart() -> Model {
        let mut model = Model::default();
        for (code, account_type, is_final, parent) in [
            ("11", AccountType::Debit, false, None),
            ("11.001", AccountType::Debit, false, Some("11")),
            ("11.001.00", AccountType::Debit, true, Some("11.001")),
            ("12", AccountType::Debit, false, None),
            ("12.001", AccountType::Debit, false, Some("12")),
            ("12.001.00", AccountType::Debit, true, Some("12.001")),
            ("21", AccountType::Credit, false, None),
            ("22", AccountType::Credit, false, None),
            ("23", AccountType::Credit, false, None),
            ("31", AccountType::Credit, false, None),
            ("31.001", AccountType::Credit, false, Some("31")),
            ("31.001.00", AccountType::Credit, true, Some("31.001")),
        ] {
            let account =
                ModelAccount { account_type, is_final, parent: parent.map(str::to_owned) };
            model.accounts.insert(code.to_owned(), account);
        }
        model
    }

    /// What the core must answer to a posting.
    fn expect_posting(&self, entries: &[EntryRequest]) -> Result<(), Reject> {
        for entry in entries {
            match self.accounts.get(&entry.account_code) {
                None => return Err(Reject::AccountNotFound { code: entry.account_code.clone() }),
                Some(account) if !account.is_final => {
                    return Err(Reject::AccountNotFinal { code: entry.account_code.clone() });
                }
                Some(_) => {}
            }
        }
        let mut per_layer: BTreeMap<Layer, (i64, i64)> = BTreeMap::new();
        for entry in entries {
            let totals = per_layer.entry(entry.layer).or_default();
            match entry.side {
                Side::Debit => totals.0 += entry.amount.units(),
                Side::Credit => totals.1 += entry.amount.units(),
            }
        }
        match per_layer.into_iter().find(|(_, (debits, credits))| debits != credits) {
            Some((layer, (debits, credits))) => Err(Reject::Unbalanced {
                layer,
                debits: Amount::from_units(debits),
                credits: Amount::from_units(credits),
            }),
            None => Ok(()),
        }
    }

    fn apply(&mut self, entries: &[EntryRequest]) {
        for entry in entries {
            let account = &self.accounts[&entry.account_code];
            let amount = i128::from(entry.amount.units());
            let impact = match (account.account_type, entry.side) {
                (AccountType::Debit, Side::Debit) | (AccountType::Credit, Side::Credit) => amount,
                _ => -amount,
            };
            *self.balances.entry((entry.account_code.clone(), entry.layer)).or_default() += impact;
        }
    }

    /// A balance as miniGL defines it: finals from their entries, composites as the signed
    /// sum of their children.
    fn balance(&self, code: &str, layer: Layer) -> i128 {
        let account = &self.accounts[code];
        if account.is_final {
            return self.balances.get(&(code.to_owned(), layer)).copied().unwrap_or_default();
        }
        self.accounts
            .iter()
            .filter(|(_, child)| child.parent.as_deref() == Some(code))
            .map(|(child_code, child)| {
                let balance = self.balance(child_code, layer);
                if child.account_type == account.account_type {
                    balance
                } else {
                    -balance
                }
            })
            .sum()
    }
}

fn random_entries(rng: &mut StdRng, model: &Model) -> Vec<EntryRequest> {
    let codes: Vec<&String> = model.accounts.keys().collect();
    let finals: Vec<&String> = model
        .accounts
        .iter()
        .filter(|(_, account)| account.is_final)
        .map(|(code, _)| code)
        .collect();
    let pick = |rng: &mut StdRng| -> String {
        match rng.gen_range(0..20) {
            0 => "99.404".to_owned(),
            1 => codes[rng.gen_range(0..codes.len())].clone(),
            _ => finals[rng.gen_range(0..finals.len())].clone(),
        }
    };
    let mut entries = Vec::new();
    for _ in 0..rng.gen_range(1..=2) {
        let layer = LAYERS[rng.gen_range(0..LAYERS.len())];
        let amount = Amount::from_units(rng.gen_range(-50_000..500_000));
        for side in [Side::Debit, Side::Credit] {
            let account_code = pick(rng);
            entries.push(EntryRequest {
                account_code,
                side,
                layer,
                amount,
                detail: String::new(),
                tags: String::new(),
            });
        }
    }
    if rng.gen_range(0..10) == 0 {
        let last = entries.len() - 1;
        entries[last].amount = Amount::from_units(entries[last].amount.units() + 1);
    }
    let swap = rng.gen_range(0..entries.len());
    entries.swap(0, swap);
    entries
}

async fn step_post(rng: &mut StdRng, core: &Core, model: &mut Model) {
    let entries = random_entries(rng, model);
    let request = TransactionRequest {
        journal: "jcard".to_owned(),
        post_date_ms: rng.gen_range(0..4) * 86_400_000,
        detail: "model".to_owned(),
        tags: String::new(),
        entries: entries.clone(),
    };
    let outcome = core.execute(Command::PostTransaction(request), None).await.unwrap();
    match (model.expect_posting(&entries), outcome) {
        (Ok(()), Outcome::Posted { transaction_id }) => {
            model.apply(&entries);
            let transaction = ModelTransaction { entries, reversed: false, is_reversal: false };
            model.transactions.insert(transaction_id, transaction);
        }
        (Err(expected), Outcome::Declined(Decline::Ledger(reject))) => assert_eq!(reject, expected),
        (expected, outcome) => panic!("expected {expected:?}, core answered {outcome:?}"),
    }
}

async fn step_reverse(rng: &mut StdRng, core: &Core, model: &mut Model) {
    let transaction_id = rng.gen_range(1..=u64::try_from(model.transactions.len()).unwrap() + 2);
    let outcome = core.execute(Command::ReverseTransaction { transaction_id }, None).await.unwrap();
    let Some(original) = model.transactions.get(&transaction_id).cloned() else {
        assert_eq!(outcome, Outcome::Declined(Decline::TransactionNotFound));
        return;
    };
    if original.reversed || original.is_reversal {
        assert_eq!(outcome, Outcome::Declined(Decline::AlreadyReversed));
        return;
    }
    let Outcome::Reversed { reversal_id, .. } = outcome else {
        panic!("expected a reversal, got {outcome:?}")
    };
    let negated: Vec<EntryRequest> = original
        .entries
        .iter()
        .map(|entry| EntryRequest {
            amount: Amount::from_units(-entry.amount.units()),
            ..entry.clone()
        })
        .collect();
    model.apply(&negated);
    model.transactions.get_mut(&transaction_id).unwrap().reversed = true;
    model.transactions.insert(
        reversal_id,
        ModelTransaction { entries: negated, reversed: false, is_reversal: true },
    );
}

async fn step_create_account(rng: &mut StdRng, core: &Core, model: &mut Model) {
    let composites: Vec<String> = model
        .accounts
        .iter()
        .filter(|(_, account)| !account.is_final)
        .map(|(code, _)| code.clone())
        .collect();
    let parent = if rng.gen_range(0..8) == 0 {
        model.accounts.keys().nth(rng.gen_range(0..model.accounts.len())).unwrap().clone()
    } else {
        composites[rng.gen_range(0..composites.len())].clone()
    };
    let code = if rng.gen_range(0..10) == 0 {
        parent.clone()
    } else {
        format!("{parent}.{}", rng.gen_range(100..999))
    };
    let account_type = if rng.gen_bool(0.5) { AccountType::Debit } else { AccountType::Credit };
    let is_final = rng.gen_bool(0.7);
    let request = NewAccount {
        chart: "jcard".to_owned(),
        code: code.clone(),
        description: String::new(),
        account_type,
        parent_code: parent.clone(),
        is_final,
        currency_code: None,
        tags: String::new(),
        expiration_ms: None,
    };
    let outcome = core.execute(Command::CreateAccount(request), None).await.unwrap();
    if model.accounts.contains_key(&code) {
        assert_eq!(outcome, Outcome::Declined(Decline::AccountExists { code }));
    } else if model.accounts[&parent].is_final {
        assert_eq!(outcome, Outcome::Declined(Decline::ParentNotComposite { code: parent }));
    } else {
        assert!(matches!(outcome, Outcome::AccountCreated { .. }), "{outcome:?}");
        model.accounts.insert(code, ModelAccount { account_type, is_final, parent: Some(parent) });
    }
}

fn check(core: &Core, model: &Model, step: usize) {
    for code in model.accounts.keys() {
        for layer in LAYERS {
            let balance = core.balance("jcard", code, &[layer], None).unwrap().balance;
            assert_eq!(
                i128::from(balance.units()),
                model.balance(code, layer),
                "step {step}: {code} on {layer}"
            );
        }
    }
    let report = core.audit().unwrap();
    assert!(report.is_clean(), "step {step}: {:?}", report.problems);
    assert_eq!(
        report.transactions,
        u64::try_from(model.transactions.len()).unwrap(),
        "step {step}"
    );
    assert_eq!(report.accounts, model.accounts.len(), "step {step}");
}

async fn run(seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config { data_dir: dir.path().to_owned(), ..Config::default() };
    let mut core = open_core(&config);
    let admin = NewConsumer::unscoped(uuid::Uuid::new_v4(), SecretBytes::new(vec![1; 16]), vec![]);
    assert!(core.initialize(admin).await.unwrap());
    let mut model = Model::with_default_chart();
    let mut rng = StdRng::seed_from_u64(seed);
    for step in 0..STEPS {
        match rng.gen_range(0..20) {
            0..=11 => step_post(&mut rng, &core, &mut model).await,
            12..=14 => step_reverse(&mut rng, &core, &mut model).await,
            15..=17 => step_create_account(&mut rng, &core, &mut model).await,
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
async fn random_ledger_operations_match_the_model() {
    for seed in [1, 2, 3] {
        run(seed).await;
    }
}
