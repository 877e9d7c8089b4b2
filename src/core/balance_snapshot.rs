//! Balances kept out of the store. A GL transaction's record holds every entry it posts, so the
//! balances are derived data: a commit writes the transaction only (not the balance records of
//! the accounts it moves, which every debit rewrote all over the store's range), and at open
//! the balances are the last snapshot (`store::balance_file`) plus the transactions stored
//! since, replayed. A snapshot is written by its own thread from a published (durable) state
//! every `store.balance_snapshot_transactions` transactions, after a start that replayed any,
//! and at a graceful stop; it only bounds the replay: without one, every transaction is
//! replayed, and the result is the same.
//!
//! A store made before keeps a balance record per final account and layer. The first start of
//! a serving switch on it writes a snapshot of those balances, then marks the store (the meta
//! record `balances`) and deletes the records in one flushed batch; until that batch is
//! durable the records are what a start reads.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use super::state::State;
use super::CoreError;
use crate::ledger::post;
use crate::ledger::Transaction;
use crate::money::Amount;
use crate::store::balance_file::{self, BalanceSnapshot, StoredBalance};
use crate::store::schema::{self, Keyspace};
use crate::store::{BackgroundPriority, Batch, Store, StoreError};

/// The meta record that marks a store whose balances are kept out of it.
const MARK_NAME: &str = "balances";
const MARK_VALUE: &str = "snapshot and transactions";
/// Transactions replayed at open from which the work is logged.
const REPLAY_LOGGED_MIN: u64 = 100_000;

/// How a state's balances were loaded.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BalanceLoad {
    /// Every transaction below this id was in the snapshot (or in the balance records).
    pub snapshot_below: u64,
    /// Transactions replayed on top of it.
    pub replayed: u64,
    /// Why a snapshot in the data directory was not used (the balances were then replayed
    /// from the first transaction).
    pub unusable: Option<String>,
}

/// True once the store's balances are kept out of it (`adopt`).
fn kept_out(store: &Store) -> Result<bool, StoreError> {
    Ok(store.get::<String>(&schema::meta_key(MARK_NAME))?.is_some())
}

/// Fills `state`'s balances, its accounts and `next_transaction_id` loaded: from the balance
/// records of a store made before, else from the snapshot in `data_dir` (none read without
/// one) and the transactions stored since.
pub fn load(
    state: &mut State,
    store: &Store,
    data_dir: Option<&Path>,
) -> Result<BalanceLoad, CoreError> {
    if !kept_out(store)? {
        state.load_balance_records(store)?;
        return Ok(BalanceLoad {
            snapshot_below: state.next_transaction_id,
            ..BalanceLoad::default()
        });
    }
    let read = data_dir.map_or(Ok(None), balance_file::read);
    let (snapshot, unusable) = match read.and_then(|snapshot| usable(state, snapshot)) {
        Ok(snapshot) => (snapshot, None),
        Err(why) => (None, Some(why)),
    };
    let snapshot_below = snapshot.as_ref().map_or(1, |snapshot| snapshot.transactions_below);
    for balance in snapshot.into_iter().flat_map(|snapshot| snapshot.balances) {
        state.balances.insert(balance.account_id, balance.layer, Amount::from_units(balance.units));
    }
    let replayed = replay(state, store, snapshot_below)?;
    Ok(BalanceLoad { snapshot_below, replayed, unusable })
}

/// `snapshot`, if it fits `state`: it covers no transaction the store does not hold and names
/// only accounts the store holds.
fn usable(
    state: &State,
    snapshot: Option<BalanceSnapshot>,
) -> Result<Option<BalanceSnapshot>, String> {
    let Some(snapshot) = snapshot else { return Ok(None) };
    if snapshot.transactions_below > state.next_transaction_id {
        return Err(format!(
            "it covers transactions up to {} and the store holds them up to {}",
            snapshot.transactions_below, state.next_transaction_id
        ));
    }
    if let Some(unknown) =
        snapshot.balances.iter().find(|balance| state.accounts.get(&balance.account_id).is_none())
    {
        return Err(format!(
            "it names account {}, which the store does not hold",
            unknown.account_id
        ));
    }
    Ok(Some(snapshot))
}

/// Applies the balance changes of every stored transaction from id `from` on.
fn replay(state: &mut State, store: &Store, from: u64) -> Result<u64, CoreError> {
    let missing = state.next_transaction_id.saturating_sub(from);
    let logged = missing >= REPLAY_LOGGED_MIN;
    let started = Instant::now();
    if logged {
        tracing::info!(
            transactions = missing,
            "replaying the transactions since the balance snapshot"
        );
    }
    let end = schema::prefix_end(&Keyspace::Transaction.prefix());
    let mut replayed = 0_u64;
    for item in store.scan_range::<Transaction>(&schema::transaction_key(from), &end, false) {
        let (_, transaction) = item?;
        let deltas = post::balance_deltas(&*state, &transaction).map_err(|reject| {
            CoreError::Corrupt(format!(
                "transaction {} does not replay: {reject:?}",
                transaction.id
            ))
        })?;
        state.apply_deltas(&deltas).ok_or_else(|| {
            CoreError::Corrupt(format!("transaction {} overflows a balance", transaction.id))
        })?;
        replayed = replayed.saturating_add(1);
    }
    if logged {
        tracing::info!(
            transactions = replayed,
            seconds = started.elapsed().as_secs_f64(),
            "the balances are up to date"
        );
    }
    Ok(replayed)
}

/// Writes a snapshot of `state`'s balances to `data_dir` (`state` must be durable: every
/// transaction it holds is in the store).
pub fn write(data_dir: &Path, state: &State) -> Result<(), CoreError> {
    let balances = state.balances.iter().map(|((account_id, layer), amount)| StoredBalance {
        account_id,
        layer,
        units: amount.units(),
    });
    let bytes = balance_file::encode(state.next_transaction_id, balances);
    balance_file::write(data_dir, &bytes).map_err(|error| {
        CoreError::Store(StoreError::Io(format!("writing the balance snapshot: {error}")))
    })
}

/// At the start of a serving switch: a store whose balances are still records gets a snapshot
/// of them, then the mark, with the records deleted, in one flushed batch. `state` is the
/// store's, just loaded.
pub fn adopt(store: &Store, data_dir: &Path, state: &State) -> Result<(), CoreError> {
    if kept_out(store)? {
        return Ok(());
    }
    write(data_dir, state)?;
    let mut batch = Batch::new();
    batch.put(schema::meta_key(MARK_NAME), &MARK_VALUE.to_owned())?;
    for key in store.scan_keys(&Keyspace::Balance.prefix()) {
        batch.delete(key?);
    }
    let records = batch.len().saturating_sub(1);
    store.apply(&batch)?;
    store.flush()?;
    if records > 0 {
        tracing::info!(records, "the balances are kept out of the store from now on (a snapshot file and the transactions)");
    }
    Ok(())
}

/// The thread that writes snapshots of published states, and when the next one is due.
pub struct Snapshotter {
    sender: Option<SyncSender<Arc<State>>>,
    thread: Option<JoinHandle<()>>,
    /// The `next_transaction_id` of the last snapshot written or asked for.
    below: u64,
    every: u64,
}

impl Snapshotter {
    /// Starts the thread for `data_dir`, at the store's background priority (a snapshot of a
    /// million cards is a few tenths of a second of CPU); the last snapshot covers transactions
    /// below `below`.
    pub fn start(
        data_dir: PathBuf,
        every: u64,
        below: u64,
        priority: BackgroundPriority,
    ) -> Result<Snapshotter, CoreError> {
        // One waiting state at most: a snapshot asked for while one is written waits for the
        // next due point instead of queueing states (each holds the whole state alive).
        let (sender, receiver) = sync_channel::<Arc<State>>(1);
        let thread = super::spawn_logging_here("cardswitch-balances", move || {
            priority.apply_to_own_thread();
            while let Ok(state) = receiver.recv() {
                let started = Instant::now();
                match write(&data_dir, &state) {
                    Ok(()) => tracing::debug!(
                        below = state.next_transaction_id,
                        seconds = started.elapsed().as_secs_f64(),
                        "balance snapshot written"
                    ),
                    Err(error) => tracing::error!(%error,
                        "the balance snapshot was not written; the next start replays more transactions"),
                }
            }
        })?;
        Ok(Snapshotter { sender: Some(sender), thread: Some(thread), below, every })
    }

    /// Hands `state` (published: durable) to the thread if a snapshot is due, or if `now`.
    pub fn offer(&mut self, state: &Arc<State>, now: bool) {
        let next = state.next_transaction_id;
        let due = now || next.saturating_sub(self.below) >= self.every;
        if !due || next == self.below {
            return;
        }
        if let Some(sender) = &self.sender {
            match sender.try_send(Arc::clone(state)) {
                Ok(()) => self.below = next,
                // Busy with the last one: asked again at the next group.
                Err(TrySendError::Full(_)) => {}
                Err(TrySendError::Disconnected(_)) => self.sender = None,
            }
        }
    }
}

/// Lets the thread write what it holds and joins it.
impl Drop for Snapshotter {
    fn drop(&mut self) {
        self.sender = None;
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the balance snapshot thread panicked");
            }
        }
    }
}
