//! The authorization core: the single entry every dialect goes through. Mutations are
//! `Command`s executed by the single writer (`writer.rs`); reads are answered from the last
//! published state without waiting for the writer. The core never parses JSON and never
//! touches HTTP or the storage engine directly.

pub mod auth;
pub mod authorize;
pub mod backup;
pub mod balance_snapshot;
pub mod balances;
pub mod bootstrap;
pub mod by_id;
pub mod command;
pub mod entry_index;
mod execute;
mod execute_card;
mod execute_card_money;
pub mod execute_cashback;
pub mod execute_giftcard;
mod execute_money;
pub mod execute_partner;
mod execute_wallet;
pub mod history;
pub mod indexes;
pub mod keys;
mod nonce_keys;
pub mod reads;
pub mod reads_cashback;
pub mod reads_giftcard;
pub mod reads_wallet;
pub mod rrn_index;
pub mod state;
mod syncer;
pub mod tranlog;
pub mod tranlog_index;
pub mod verify;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use self::auth::{AuthFailure, JcardCredentials, NonceCache};
use self::balance_snapshot::Snapshotter;
use self::command::{Command, Consumer, NewConsumer, Outcome};
use self::indexes::Indexes;
use self::keys::{KeyError, MasterKey};
use self::nonce_keys::NonceKeys;
use self::state::{NonceRecord, State, StoredNonces};
use self::writer::{Job, Pipeline, Writer};
use crate::bearer::{self, BearerClaims, BearerFailure, BearerKey};
use crate::clock::{Clock, EpochMs};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::entries::{EntryIndex, EntryIndexSettings, OpenMode};
use crate::store::{schema, Engine, EngineKind, EngineSettings, Keyspace, Store, StoreError};

/// The core could not decide. Declines are not errors; see `command::Decline`.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("the store is inconsistent: {0}")]
    Corrupt(String),
    #[error("the commit failed; the request's outcome is unknown until checked: {0}")]
    CommitFailed(String),
    /// Storage failed and the request was not applied: nothing changed. The switch refuses
    /// changes until a flush succeeds again.
    #[error("the request was not applied (nothing changed); changes are refused until the store can make them durable: {0}")]
    NotStored(String),
    #[error("the switch is stopping")]
    ShuttingDown,
}

/// Settings the core takes from the configuration.
#[derive(Debug, Clone)]
pub struct CoreSettings {
    pub queue_commands_max: usize,
    pub group_commands_max: usize,
    /// What the store's engine is opened with (`store.cache_bytes_max`,
    /// `store.background_idle`, `store.background_nice`).
    pub store: EngineSettings,
    /// The engine of a new store (an existing one keeps its own).
    pub store_engine: EngineKind,
    /// Run sizes of the derived indexes (account entries; card and wallet tranlogs; RRNs).
    pub entry_index: EntryIndexSettings,
    pub timestamp_skew_ms_max: i64,
    pub nonce_cache_entries_max: usize,
    pub nonce_bytes_max: usize,
    pub statement_entries_max: usize,
    pub list_items_max: usize,
    pub transaction_entries_max: usize,
    /// Transactions between two balance snapshots (`balance_snapshot.rs`).
    pub balance_snapshot_transactions: u64,
    pub wallets: WalletSettings,
    pub cashback: crate::config::CashbackConfig,
}

impl CoreSettings {
    pub fn from_config(config: &Config) -> CoreSettings {
        CoreSettings {
            queue_commands_max: config.writer.queue_commands_max,
            group_commands_max: config.writer.group_commands_max,
            store: EngineSettings {
                cache_bytes_max: config.store.cache_bytes_max,
                background: config.store.background_priority(),
            },
            store_engine: config.store.engine,
            entry_index: EntryIndexSettings {
                run_entries: config.store.entry_run_entries,
                runs_per_merge: config.store.entry_runs_per_merge,
            },
            timestamp_skew_ms_max: config.auth.timestamp_skew_ms_max,
            nonce_cache_entries_max: config.auth.nonce_cache_entries_max,
            nonce_bytes_max: config.auth.nonce_bytes_max,
            statement_entries_max: config.lists.statement_entries_max,
            list_items_max: config.lists.list_items_max,
            transaction_entries_max: config.lists.transaction_entries_max,
            balance_snapshot_transactions: config.store.balance_snapshot_transactions,
            wallets: WalletSettings {
                pin_attempts_max: config.wallets.pin_attempts_max,
                pin_lock_ms: config.wallets.pin_lock_ms,
                login_session_ttl_ms: config.wallets.login_session_ttl_ms,
                default_currency: config.wallets.default_currency,
                giftcard: GiftcardSettings {
                    pin_attempts_max: config.giftcard.pin_attempts_max,
                    pin_lock_ms: config.giftcard.pin_lock_ms,
                    cards_per_request_max: config.giftcard.cards_per_request_max,
                    history_limit_default: config.giftcard.history_limit_default,
                    history_limit_max: config.giftcard.history_limit_max,
                },
            },
            cashback: config.cashback.clone(),
        }
    }
}

/// How the gift-card history API guards gift cards' PINs, and its list sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GiftcardSettings {
    /// Wrong PINs in a row before a gift card's history is locked.
    pub pin_attempts_max: u32,
    pub pin_lock_ms: i64,
    pub cards_per_request_max: usize,
    pub history_limit_default: u16,
    pub history_limit_max: u16,
}

/// How wallets and gift cards guard their PINs and how long a login lasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletSettings {
    /// Wrong PINs in a row before a wallet's logins are locked.
    pub pin_attempts_max: u32,
    pub pin_lock_ms: i64,
    pub login_session_ttl_ms: i64,
    /// Currency of a customer's balances when it names none.
    pub default_currency: u16,
    pub giftcard: GiftcardSettings,
}

/// A handle on the running core; cheap to clone.
#[derive(Clone)]
pub struct Core {
    inner: Arc<Inner>,
}

struct Inner {
    sender: mpsc::Sender<Job>,
    published: Arc<ArcSwap<State>>,
    store: Store,
    /// The indexes derived from history records, kept beside the store (`indexes.rs`).
    indexes: Arc<Indexes>,
    clock: Arc<dyn Clock>,
    nonces: NonceCache,
    settings: CoreSettings,
    metrics: Arc<Metrics>,
    keys: MasterKey,
    bearer: BearerKey,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Where the balance snapshot is (`balance_snapshot.rs`).
    data_dir: PathBuf,
}

/// An authenticated jCard caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub consumer: Arc<Consumer>,
    /// The request's nonce, stored with the request's writes so a replay stays refused across
    /// a restart.
    pub nonce: NonceRecord,
}

/// Loads the state of a serving switch, moves a store made before out of balance records
/// (`balance_snapshot::adopt`), and starts the thread that writes balance snapshots: at once if
/// the load replayed transactions, so the next start replays fewer.
fn load_serving(
    data_dir: &Path,
    store: &Store,
    keys: &MasterKey,
    now_ms: i64,
    settings: &CoreSettings,
) -> Result<(Arc<State>, Snapshotter), CoreError> {
    let (state, balances) = State::load_reporting(store, keys, now_ms, Some(data_dir))?;
    if let Some(why) = &balances.unusable {
        tracing::warn!(
            why,
            "the balance snapshot is not usable; the balances were rebuilt from every transaction"
        );
    }
    balance_snapshot::adopt(store, data_dir, &state)?;
    let state = Arc::new(state);
    let mut snapshots = Snapshotter::start(
        data_dir.to_path_buf(),
        settings.balance_snapshot_transactions,
        balances.snapshot_below,
        settings.store.background,
    )?;
    if balances.replayed > 0 {
        snapshots.offer(&state, true);
    }
    Ok((state, snapshots))
}

/// Starts a named thread of the core that logs where its starter logs (the global subscriber
/// in the binary, a test's own subscriber in a test).
fn spawn_logging_here(
    name: &str,
    run: impl FnOnce() + Send + 'static,
) -> Result<std::thread::JoinHandle<()>, CoreError> {
    let dispatch = tracing::dispatcher::get_default(tracing::Dispatch::clone);
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || tracing::dispatcher::with_default(&dispatch, run))
        .map_err(|error| CoreError::Store(StoreError::Io(error.to_string())))
}

impl Core {
    /// Loads the state from `store` and the derived indexes from `data_dir`, and starts the
    /// writer thread.
    pub fn start(
        data_dir: &Path,
        store: Store,
        keys: MasterKey,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        settings: CoreSettings,
    ) -> Result<Core, CoreError> {
        let (current, snapshots) =
            load_serving(data_dir, &store, &keys, clock.now_ms(), &settings)?;
        let (indexes, _) =
            Indexes::open(data_dir, &store, &current, settings.entry_index, OpenMode::Serve)?;
        indexes.start_workers(settings.store.background)?;
        let indexes = Arc::new(indexes);
        let window_ms = settings.timestamp_skew_ms_max;
        let nonces = NonceCache::new(settings.nonce_cache_entries_max, window_ms);
        // A nonce is kept in the store for twice the window: a request may be up to one window
        // early or late.
        let nonce_retention_ms = window_ms.saturating_mul(2);
        load_nonces(&store, &nonces, clock.now_ms(), nonce_retention_ms)?;
        let published = Arc::new(ArcSwap::new(Arc::clone(&current)));
        let (sender, receiver) = mpsc::channel(settings.queue_commands_max);
        let pipeline = Pipeline::start(
            store.clone(),
            Arc::clone(&indexes),
            Arc::clone(&published),
            Arc::clone(&metrics),
            snapshots,
        )?;
        let writer = Writer {
            receiver,
            published: Arc::clone(&published),
            store: store.clone(),
            indexes: Arc::clone(&indexes),
            keys: keys.clone(),
            clock: Arc::clone(&clock),
            metrics: Arc::clone(&metrics),
            group_commands_max: settings.group_commands_max,
            wallet_settings: settings.wallets.clone(),
            nonce_retention_ms,
            // A record holds the nonces of one commit group, so there are fewer records than
            // nonces: the nonce cache's limit serves for both.
            nonce_keys: NonceKeys::load(&store, settings.nonce_cache_entries_max)?,
            current,
            recent_rrns: rrn_index::RecentRrns::default(),
            degraded: false,
        };
        let thread = spawn_logging_here("cardswitch-writer", move || writer.run(pipeline))?;
        let inner = Inner {
            sender,
            published,
            store,
            indexes,
            clock,
            nonces,
            settings,
            metrics,
            bearer: BearerKey::derive(&keys),
            keys,
            writer_thread: Mutex::new(Some(thread)),
            data_dir: data_dir.to_path_buf(),
        };
        Ok(Core { inner: Arc::new(inner) })
    }

    /// Opens the data directory's store and key and starts the core.
    pub fn open(
        data_dir: &Path,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        settings: CoreSettings,
    ) -> Result<Core, CoreError> {
        Core::open_with_engine(data_dir, |engine| engine, clock, metrics, settings)
    }

    /// `open`, with the directory's engine passed through `wrap` first: the seam where tests
    /// put a fault-injecting engine (`store::fault`) under a real switch.
    pub fn open_with_engine(
        data_dir: &Path,
        wrap: impl FnOnce(Arc<dyn Engine>) -> Arc<dyn Engine>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        settings: CoreSettings,
    ) -> Result<Core, CoreError> {
        crate::files::create_private_dir(data_dir).map_err(|error| StoreError::from_io(&error))?;
        let keys = MasterKey::load_or_create(data_dir)?;
        let kind = match EngineKind::of_data_dir(data_dir)? {
            Some(existing) => {
                if existing != settings.store_engine {
                    tracing::info!(?existing, configured = ?settings.store_engine,
                        "the store keeps the engine it was made with");
                }
                existing
            }
            None => settings.store_engine,
        };
        let engine = kind.open(data_dir, settings.store)?;
        let store = Store::with_engine(wrap(engine));
        Core::start(data_dir, store, keys, clock, metrics, settings)
    }

    /// Executes one command durably. `nonce` is the authenticating request's nonce, if any.
    pub async fn execute(
        &self,
        command: Command,
        nonce: Option<NonceRecord>,
    ) -> Result<Outcome, CoreError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .sender
            .send(Job::Execute { command: Box::new(command), nonce, reply })
            .await
            .map_err(|_| CoreError::ShuttingDown)?;
        answer.await.map_err(|_| CoreError::ShuttingDown)?
    }

    /// Finishes every queued command, flushes, and stops the writer. Idempotent.
    pub async fn shutdown(&self) -> Result<(), CoreError> {
        let (reply, answer) = oneshot::channel();
        if self.inner.sender.send(Job::Stop { reply }).await.is_ok() {
            answer.await.map_err(|_| CoreError::ShuttingDown)??;
        }
        let thread = self.inner.writer_thread.lock().take();
        let stopped_here = thread.is_some();
        if let Some(thread) = thread {
            let joined = tokio::task::spawn_blocking(move || thread.join()).await;
            if !matches!(joined, Ok(Ok(()))) {
                return Err(CoreError::Corrupt("the writer thread died".to_owned()));
            }
        }
        // A run being written is finished first; what is left in memory is read back from the
        // records at the next start.
        let indexes = Arc::clone(&self.inner.indexes);
        let _ = tokio::task::spawn_blocking(move || indexes.stop()).await;
        if !stopped_here {
            return Ok(());
        }
        // The balances of the last published (durable) state, so that the next start replays
        // nothing (once: an earlier call stopped the writer and wrote it).
        let state = self.inner.published.load_full();
        let data_dir = self.inner.data_dir.clone();
        tokio::task::spawn_blocking(move || balance_snapshot::write(&data_dir, &state))
            .await
            .map_err(|_| CoreError::Corrupt("the balance snapshot task died".to_owned()))?
    }

    /// Commands decided and applied, waiting for the flush that makes them durable (and
    /// answers them).
    pub fn commands_awaiting_flush(&self) -> i64 {
        self.inner.metrics.commit_commands_unflushed.get()
    }

    /// True once the default chart exists.
    pub fn is_initialized(&self) -> bool {
        !self.snapshot().charts.is_empty()
    }

    /// Initializes an empty store with the default chart and journal and `admin`. Returns
    /// false (and changes nothing) if it already was.
    pub async fn initialize(&self, admin: NewConsumer) -> Result<bool, CoreError> {
        match self.execute(Command::Initialize { admin }, None).await? {
            Outcome::Initialized => Ok(true),
            _ => Ok(false),
        }
    }

    /// The last published state: everything acknowledged so far. Never waits.
    pub fn snapshot(&self) -> Arc<State> {
        self.inner.published.load_full()
    }

    /// Verifies the bearer token of an `Authorization` header value at the switch's clock.
    pub fn verify_bearer(
        &self,
        authorization: Option<&str>,
    ) -> Result<BearerClaims, BearerFailure> {
        let token = bearer::from_authorization(authorization)?;
        bearer::verify(&self.inner.bearer, token, self.now_ms())
    }

    pub fn now_ms(&self) -> EpochMs {
        self.inner.clock.now_ms()
    }

    pub fn settings(&self) -> &CoreSettings {
        &self.inner.settings
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// Runs the offline audit (`cardswitch verify`) against this core's store. Meant for tests
    /// and quiet moments: it reads everything and is not isolated from concurrent commits.
    pub fn audit(&self) -> Result<verify::AuditReport, CoreError> {
        verify::audit_store(
            &self.inner.data_dir,
            &self.inner.store,
            &self.inner.keys,
            &self.inner.indexes,
        )
    }

    /// The state as the store holds it, loaded afresh: what a restart would start from. Tests
    /// compare it with `snapshot` to prove that memory and the store agree.
    pub fn stored_state(&self) -> Result<State, CoreError> {
        State::load(&self.inner.store, &self.inner.keys, self.now_ms(), Some(&self.inner.data_dir))
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The account-entry index.
    pub(crate) fn entries(&self) -> &EntryIndex {
        &self.inner.indexes.entries
    }

    /// The card and wallet tranlog index.
    pub(crate) fn tranlog_index(&self) -> &EntryIndex {
        &self.inner.indexes.tranlogs
    }

    /// The RRN index.
    pub(crate) fn rrn_index(&self) -> &EntryIndex {
        &self.inner.indexes.rrns
    }

    /// Authenticates a jCard request (checks in jPOS-EE's order, then the nonce).
    pub fn authenticate_jcard(
        &self,
        credentials: &JcardCredentials<'_>,
        body: &[u8],
    ) -> Result<Principal, AuthFailure> {
        if credentials.version.map(str::trim) != Some(auth::JCARD_AUTH_VERSION) {
            return Err(AuthFailure::UnsupportedVersion);
        }
        let consumer_id = auth::parse_consumer_id(credentials.consumer_id.unwrap_or_default())?;
        let now_ms = self.now_ms();
        let consumer = self
            .snapshot()
            .consumers
            .get(&consumer_id)
            .filter(|consumer| {
                consumer.active && consumer.expires_ms.is_none_or(|expiry| now_ms < expiry)
            })
            .cloned()
            .ok_or(AuthFailure::InvalidConsumer)?;
        let hash = credentials.hash.ok_or(AuthFailure::MissingHash)?;
        let timestamp = credentials.timestamp.unwrap_or_default();
        let timestamp_ms =
            auth::check_timestamp(timestamp, now_ms, self.inner.settings.timestamp_skew_ms_max)?;
        let nonce = credentials.nonce.unwrap_or_default();
        if nonce.is_empty() || nonce.len() > self.inner.settings.nonce_bytes_max {
            return Err(AuthFailure::InvalidNonce);
        }
        if !auth::verify_jcard_hash(consumer.secret.expose(), timestamp, nonce, body, hash) {
            return Err(AuthFailure::InvalidHash);
        }
        self.inner.nonces.check_and_insert(consumer_id, nonce, timestamp_ms, now_ms)?;
        let nonce = NonceRecord { consumer: consumer_id, nonce: nonce.to_owned(), timestamp_ms };
        Ok(Principal { consumer, nonce })
    }
}

/// Fills the nonce cache with the stored nonces not yet past `retention_ms`.
fn load_nonces(
    store: &Store,
    nonces: &NonceCache,
    now_ms: EpochMs,
    retention_ms: i64,
) -> Result<(), CoreError> {
    let (_, recent_start) = schema::nonces_before(now_ms.saturating_sub(retention_ms));
    let end = schema::prefix_end(&Keyspace::Nonce.prefix());
    for item in store.scan_range::<StoredNonces>(&recent_start, &end, false) {
        let (_, stored) = item?;
        for record in stored.into_records() {
            // A full cache only means older nonces rely on the timestamp check alone.
            let _ = nonces.check_and_insert(
                record.consumer,
                &record.nonce,
                record.timestamp_ms,
                now_ms,
            );
        }
    }
    Ok(())
}
