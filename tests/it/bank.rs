//! The bank test (after Jepsen's): concurrent transfers among wallets and between cards, card
//! debits and card credits, with concurrent reads. The bank is closed: wallets (`23.*`), card
//! accounts (`21.*`) and the acquirer `12.001.00`, which card debits pay into and card credits
//! draw from (the card product's `issuedAccount`), so
//! `balance(21) + balance(23) - balance(12.001.00)` never changes. A sum of balances read one
//! by one is not a snapshot, so the total is checked on reads that see one published state:
//! the GL balance of the composite `23` over HTTP (only transfers touch wallets, so it is
//! constant by itself) and the core's snapshot (every account of the bank in one state). No
//! wallet or card account is ever negative, on any read; at the end every balance equals the
//! client's own sum of the acknowledged movements and the ledger audit passes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use cardswitch::core::state::State;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::support::{amount_units, Reply, TestSwitch};

const WALLETS: usize = 8;
const CARDS: usize = 6;
/// What every wallet and card starts with, in whole units.
const FUNDS_WHOLE: i64 = 100;
const WRITERS: usize = 8;
const WRITES_PER_WRITER: usize = 40;
const AMOUNT_WHOLE_MAX: i64 = 40;
const UNIT: i64 = cardswitch::money::UNITS_PER_WHOLE;
const LAYER: i16 = 840;

/// The accounts of the bank.
struct Bank {
    wallets: Vec<String>,
    cards: Vec<String>,
    card_accounts: Vec<String>,
}

/// One movement of the bank.
#[derive(Debug, Clone, Copy)]
enum Move {
    WalletTransfer { from: usize, to: usize },
    CardTransfer { from: usize, to: usize },
    CardDebit { card: usize },
    CardCredit { card: usize },
}

impl Move {
    fn random(rng: &mut StdRng) -> Move {
        let pair = |rng: &mut StdRng, count: usize| {
            let from = rng.gen_range(0..count);
            (from, (from + rng.gen_range(1..count)) % count)
        };
        match rng.gen_range(0..10) {
            0..=3 => {
                let (from, to) = pair(rng, WALLETS);
                Move::WalletTransfer { from, to }
            }
            4..=5 => {
                let (from, to) = pair(rng, CARDS);
                Move::CardTransfer { from, to }
            }
            6..=7 => Move::CardDebit { card: rng.gen_range(0..CARDS) },
            _ => Move::CardCredit { card: rng.gen_range(0..CARDS) },
        }
    }

    /// Adds the movement of `amount` (whole units) to the client's balances.
    fn apply(self, amount: i64, wallets: &mut [i64], cards: &mut [i64]) {
        match self {
            Move::WalletTransfer { from, to } => {
                wallets[from] -= amount;
                wallets[to] += amount;
            }
            Move::CardTransfer { from, to } => {
                cards[from] -= amount;
                cards[to] += amount;
            }
            Move::CardDebit { card } => cards[card] -= amount,
            Move::CardCredit { card } => cards[card] += amount,
        }
    }
}

async fn set_up(switch: &TestSwitch) -> Bank {
    let product = json!({"name": "Bank", "code": "bank", "issuer": 1, "allowPos": true,
        "cardNumberLength": 16, "startDate": "2019-01-01", "endDate": "2049-01-01",
        "issuedAccount": "12.001.00"});
    let reply = switch.admin_call("POST", "/jcard/api/cardproducts", &product.to_string()).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let mut bank = Bank { wallets: Vec::new(), cards: Vec::new(), card_accounts: Vec::new() };
    for index in 0..WALLETS {
        let code = format!("bank{index}");
        switch.open_wallet(&code).await;
        let funded = switch
            .move_money(
                &format!("{code}/credit"),
                &FUNDS_WHOLE.to_string(),
                &format!("fw{index}"),
                "t",
            )
            .await;
        assert_eq!(funded.status, 200, "{}", funded.text);
        bank.wallets.push(code);
    }
    for index in 0..CARDS {
        let token = funded_card(switch, index).await;
        let balance =
            switch.admin_call("GET", &format!("/jcard/api/cards/{token}/balance"), "").await;
        bank.card_accounts.push(balance.json["accountCode"].as_str().unwrap().to_owned());
        bank.cards.push(token);
    }
    bank
}

/// A customer's active card, credited with the funds (from the acquirer, the product's
/// `issuedAccount`).
async fn funded_card(switch: &TestSwitch, index: usize) -> String {
    let customer = json!({"realId": format!("holder{index}"), "firstName": "Bank",
        "lastName": "Holder", "institutionId": "1", "phone": format!("55501{index}")});
    let reply = switch.admin_call("POST", "/jcard/api/customers", &customer.to_string()).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let card = json!({"cardHolder": format!("holder{index}"), "cardProduct": "bank",
        "bin": "455566", "expiration": "204012", "serviceCode": "220"});
    let reply = switch.admin_call("POST", "/jcard/api/cards", &card.to_string()).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let token = reply.json["token"].as_str().unwrap().to_owned();
    let activated =
        switch.admin_call("PUT", &format!("/jcard/api/cards/{token}/activate"), "").await;
    assert_eq!(activated.status, 200, "{}", activated.text);
    let credit = json!({"amount": FUNDS_WHOLE, "currency": 840, "rrn": format!("fc{index}"),
        "channel": "jcard"});
    let path = format!("/jcard/api/cards/{token}/credit");
    let credited = switch.admin_call("POST", &path, &credit.to_string()).await;
    assert_eq!(credited.status, 201, "{}", credited.text);
    token
}

async fn send(switch: &TestSwitch, bank: &Bank, step: Move, amount: i64, rrn: &str) -> Reply {
    let card_body = |channel: &str| {
        json!({"amount": amount, "currency": 840, "rrn": rrn, "channel": channel}).to_string()
    };
    let (path, body) = match step {
        Move::WalletTransfer { from, to } => (
            format!("/jcard/api/wallets/{}/transfer/{}", bank.wallets[from], bank.wallets[to]),
            json!({"amount": amount, "currency": "840", "rrn": rrn, "type": "P2P"}).to_string(),
        ),
        Move::CardTransfer { from, to } => (
            "/jcard/api/cards/transfers".to_owned(),
            json!({"amount": amount, "currency": 840, "rrn": rrn, "channel": "jcard",
                "sender": bank.cards[from], "recipient": bank.cards[to]})
            .to_string(),
        ),
        Move::CardDebit { card } => {
            (format!("/jcard/api/cards/{}/debit", bank.cards[card]), card_body("pos"))
        }
        Move::CardCredit { card } => {
            (format!("/jcard/api/cards/{}/credit", bank.cards[card]), card_body("jcard"))
        }
    };
    switch.admin_call("POST", &path, &body).await
}

/// One writer: random movements; answers the acknowledged ones with their amounts.
async fn writer(switch: &TestSwitch, bank: &Bank, seed: u64, writer: usize) -> Vec<(Move, i64)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut acknowledged = Vec::new();
    for step in 0..WRITES_PER_WRITER {
        let movement = Move::random(&mut rng);
        let amount = rng.gen_range(1..=AMOUNT_WHOLE_MAX);
        let reply = send(switch, bank, movement, amount, &format!("b{writer}x{step}")).await;
        match reply.status {
            200 | 201 => acknowledged.push((movement, amount)),
            422 => assert_eq!(reply.json["resultCode"], "1016", "{movement:?}: {}", reply.text),
            _ => panic!("{movement:?} of {amount}: {} {}", reply.status, reply.text),
        }
    }
    acknowledged
}

/// The bank's total and its accounts' balances in one published state, in 1/10000 units.
fn snapshot_total(state: &State, bank: &Bank) -> (i64, Vec<i64>) {
    let balance = |code: &str| state.balance(state.account_ids_by_code[code], LAYER).units();
    let total = balance("21") + balance("23") - balance("12.001.00");
    let wallets = bank.wallets.iter().map(|code| balance(&format!("23.{code}")));
    let cards = bank.card_accounts.iter().map(|code| balance(code));
    (total, wallets.chain(cards).collect())
}

/// Reads until `stop`: the composite `23` over HTTP, the whole bank in a core snapshot, and
/// single balances over HTTP. Every read is checked; answers how many were made.
async fn reader(switch: &TestSwitch, bank: &Bank, stop: &AtomicBool, seed: u64) -> u64 {
    let reads = AtomicU64::new(0);
    let mut rng = StdRng::seed_from_u64(seed);
    let wallets_total = i64::try_from(WALLETS).unwrap() * FUNDS_WHOLE * UNIT;
    while !stop.load(Ordering::SeqCst) {
        let path = "/jcard/api/gl/journals/jcard/accounts/23/balance?layers=840";
        let reply = switch.admin_call("GET", path, "").await;
        assert_eq!(units(&reply.json["response"]["balance"]), wallets_total, "{}", reply.text);
        let (total, balances) = snapshot_total(&switch.core().snapshot(), bank);
        assert_eq!(total, wallets_total, "the bank's total in one snapshot");
        assert!(balances.iter().all(|balance| *balance >= 0), "overdrawn: {balances:?}");
        let index = rng.gen_range(0..WALLETS);
        let balance = units(&switch.wallet_balance(&bank.wallets[index]).await.into());
        assert!(balance >= 0, "wallet {index} overdrawn: {balance}");
        let token = &bank.cards[rng.gen_range(0..CARDS)];
        let reply =
            switch.admin_call("GET", &format!("/jcard/api/cards/{token}/balance"), "").await;
        assert!(units(&reply.json["balance"]) >= 0, "card overdrawn: {}", reply.text);
        reads.fetch_add(1, Ordering::Relaxed);
    }
    reads.load(Ordering::Relaxed)
}

fn units(value: &Value) -> i64 {
    amount_units(value).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transfers_debits_and_credits_conserve_the_total_at_every_read() {
    let switch = TestSwitch::start().await;
    let bank = set_up(&switch).await;
    let stop = AtomicBool::new(false);
    let writers = async {
        let writers = (0..WRITERS)
            .map(|index| writer(&switch, &bank, 7 + u64::try_from(index).unwrap(), index));
        let done = futures::future::join_all(writers).await;
        stop.store(true, Ordering::SeqCst);
        done
    };
    let readers = futures::future::join_all((0..2).map(|seed| reader(&switch, &bank, &stop, seed)));
    let (acknowledged, reads) = tokio::join!(writers, readers);
    assert!(reads.iter().all(|count| *count > 0), "every reader read during the writes: {reads:?}");
    let approved: usize = acknowledged.iter().map(Vec::len).sum();
    eprintln!(
        "bank: {approved} of {} movements approved, reads {reads:?}",
        WRITERS * WRITES_PER_WRITER
    );

    let mut wallets = [FUNDS_WHOLE; WALLETS];
    let mut cards = [FUNDS_WHOLE; CARDS];
    for (movement, amount) in acknowledged.iter().flatten() {
        movement.apply(*amount, &mut wallets, &mut cards);
    }
    let (total, balances) = snapshot_total(&switch.core().snapshot(), &bank);
    assert_eq!(total, i64::try_from(WALLETS).unwrap() * FUNDS_WHOLE * UNIT);
    let expected: Vec<i64> = wallets.iter().chain(&cards).map(|whole| whole * UNIT).collect();
    assert_eq!(balances, expected, "every balance is the sum of the acknowledged movements");
    switch.assert_ledger_balances();
}
