//! Balances kept out of the store (`core::balance_snapshot`): a start reads the last snapshot
//! and replays the transactions stored since, whatever snapshot it finds (an older one, a
//! damaged one, none); a store made before, with a balance record per account and layer, is
//! moved to the snapshot at its first start.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cardswitch::core::keys::MasterKey;
use cardswitch::core::state::State;
use cardswitch::store::balance_file::{self, BALANCES_FILE};
use cardswitch::store::schema::{self, Keyspace};
use cardswitch::store::{Batch, Store};

use tempfile::TempDir;

use crate::support::{verify_dir, Credentials, TestSwitch};

const BALANCE: &str = "/jcard/api/gl/journals/jcard/accounts/12.001.00/balance";

/// Posts a GL transaction moving `amount` from 31.001.00 to 12.001.00 on layer 840.
async fn post(switch: &TestSwitch, amount: u32) {
    let body = format!(
        r#"{{"postDate":"2020-01-01","journalName":"jcard","entries":[
        {{"amount":{amount},"accountCode":"31.001.00","type":"credit","layer":840}},
        {{"amount":{amount},"accountCode":"12.001.00","type":"debit","layer":840}}]}}"#
    );
    let posted = switch.admin_call("POST", "/jcard/api/gl/transactions", &body).await;
    assert_eq!(posted.status, 201, "{}", posted.text);
}

async fn balance(switch: &TestSwitch) -> String {
    let answer = switch.admin_call("GET", BALANCE, "").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let balance = &answer.json["response"]["balance"];
    assert!(balance.is_number(), "{}", answer.text);
    balance.to_string()
}

/// The transactions the data directory's snapshot covers (below this id).
fn snapshot_below(dir: &Path) -> u64 {
    balance_file::read(dir).expect("a usable snapshot").expect("a snapshot").transactions_below
}

/// Waits until the snapshot covers transactions below at least `below`.
fn wait_for_snapshot(dir: &Path, below: u64) {
    let started = Instant::now();
    while balance_file::read(dir).ok().flatten().is_none_or(|s| s.transactions_below < below) {
        assert!(started.elapsed() < Duration::from_secs(10), "no snapshot below {below}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The stopped directory's state, loaded with its snapshot, and how; and loaded by replaying
/// every transaction.
fn load_both(dir: &Path) -> ((State, cardswitch::core::balance_snapshot::BalanceLoad), State) {
    let store = Store::open_existing(dir).unwrap().expect("a store");
    let keys = MasterKey::load(dir).unwrap();
    let with_snapshot = State::load_reporting(&store, &keys, 0, Some(dir)).unwrap();
    let replayed = State::load(&store, &keys, 0, None).unwrap();
    (with_snapshot, replayed)
}

/// A switch that posted three transactions, stopped gracefully: its directory, its admin and
/// the balance it answered.
async fn three_postings_stopped() -> (Arc<TempDir>, Credentials, String) {
    let switch = TestSwitch::start().await;
    for amount in 1..=3 {
        post(&switch, amount).await;
    }
    let expected = balance(&switch).await;
    let admin = switch.admin.clone();
    (switch.stop().await, admin, expected)
}

#[tokio::test]
async fn a_start_replays_the_transactions_since_the_snapshot_it_finds() {
    let switch =
        TestSwitch::start_with(|config| config.store.balance_snapshot_transactions = 4).await;
    let first = snapshot_below(switch.dir.path());
    for amount in 1..=5 {
        post(&switch, amount).await;
    }
    // Five transactions after the first snapshot: one is due, written from a published state.
    wait_for_snapshot(switch.dir.path(), first + 4);
    let early = std::fs::read(switch.dir.path().join(BALANCES_FILE)).unwrap();
    let early_below = balance_file::decode(&early).unwrap().transactions_below;
    for amount in 6..=9 {
        post(&switch, amount).await;
    }
    let expected = balance(&switch).await;
    let admin = switch.admin.clone();
    let dir = switch.stop().await;
    // A graceful stop snapshots everything: a start replays nothing.
    let ((state, load), replayed) = load_both(dir.path());
    assert_eq!(
        (load.snapshot_below, load.replayed, load.unusable),
        (state.next_transaction_id, 0, None)
    );
    assert!(state.balances == replayed.balances);
    // As after a crash: the earlier snapshot, and the transactions stored since replayed.
    std::fs::write(dir.path().join(BALANCES_FILE), &early).unwrap();
    let ((state, load), replayed) = load_both(dir.path());
    assert_eq!(load.snapshot_below, early_below);
    assert_eq!(load.replayed, state.next_transaction_id - early_below);
    assert!(load.replayed >= 4, "{load:?}");
    assert!(state.balances == replayed.balances);
    let switch = TestSwitch::open_dir(dir, admin).await;
    assert_eq!(balance(&switch).await, expected);
    // The start replayed transactions, so it wrote a snapshot at once.
    wait_for_snapshot(switch.dir.path(), state.next_transaction_id);
    let dir = switch.stop().await;
    assert!(verify_dir(dir.path()).status.success());
}

#[tokio::test]
async fn a_damaged_or_missing_snapshot_is_rebuilt_from_every_transaction() {
    let (dir, admin, expected) = three_postings_stopped().await;
    let path = dir.path().join(BALANCES_FILE);
    let mut damaged = std::fs::read(&path).unwrap();
    let last = damaged.len() - 6;
    damaged[last] ^= 1;
    std::fs::write(&path, &damaged).unwrap();
    let ((state, load), replayed) = load_both(dir.path());
    assert_eq!(load.snapshot_below, 1);
    assert_eq!(load.replayed, state.next_transaction_id - 1);
    assert!(load.unusable.as_deref().is_some_and(|why| why.contains("checksum")), "{load:?}");
    assert!(state.balances == replayed.balances);
    let verified = verify_dir(dir.path());
    assert!(!verified.status.success());
    let report = String::from_utf8_lossy(&verified.stdout);
    assert!(report.contains("the balance snapshot is not usable"), "{report}");
    let switch = TestSwitch::open_dir(dir, admin.clone()).await;
    assert_eq!(balance(&switch).await, expected);
    wait_for_snapshot(switch.dir.path(), state.next_transaction_id);
    let dir = switch.stop().await;
    std::fs::remove_file(&path).unwrap();
    let ((_, load), _) = load_both(dir.path());
    assert_eq!((load.snapshot_below, load.unusable), (1, None));
    assert!(verify_dir(dir.path()).status.success(), "no snapshot is not a problem");
    let switch = TestSwitch::open_dir(dir, admin).await;
    assert_eq!(balance(&switch).await, expected);
    switch.stop().await;
}

#[tokio::test]
async fn a_store_of_balance_records_is_moved_to_the_snapshot_at_its_first_start() {
    let (dir, admin, expected) = three_postings_stopped().await;
    // The layout of a store made before: a balance record per final account and layer, no
    // mark, no snapshot.
    let ((state, _), _) = load_both(dir.path());
    {
        let store = Store::open_existing(dir.path()).unwrap().unwrap();
        let mut batch = Batch::new();
        for ((account_id, layer), amount) in state.balances.iter() {
            if state.accounts.get(&account_id).is_some_and(|account| account.is_final) {
                batch.put(schema::balance_key(account_id, layer), &amount).unwrap();
            }
        }
        assert!(!batch.is_empty());
        batch.delete(schema::meta_key("balances"));
        store.apply(&batch).unwrap();
        store.flush().unwrap();
    }
    std::fs::remove_file(dir.path().join(BALANCES_FILE)).unwrap();
    let ((legacy, load), _) = load_both(dir.path());
    assert_eq!((load.replayed, load.snapshot_below), (0, state.next_transaction_id));
    assert!(legacy.balances == state.balances, "the records are read, rolled up");
    let switch = TestSwitch::open_dir(dir, admin).await;
    assert_eq!(balance(&switch).await, expected);
    post(&switch, 4).await;
    let after = balance(&switch).await;
    let dir = switch.stop().await;
    let store = Store::open_existing(dir.path()).unwrap().unwrap();
    assert_eq!(store.scan_keys(&Keyspace::Balance.prefix()).count(), 0, "the records are gone");
    assert!(store.get::<String>(&schema::meta_key("balances")).unwrap().is_some());
    drop(store);
    let ((moved, load), replayed) = load_both(dir.path());
    assert_eq!(load.replayed, 0);
    assert!(moved.balances == replayed.balances);
    assert_ne!(after, expected);
    assert!(verify_dir(dir.path()).status.success());
}
