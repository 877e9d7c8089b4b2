//! Runtime configuration: every limit of the switch, read from `config.toml` and validated at
//! start-up so that relations between limits hold before the first request.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot parse {path}: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("invalid setting: {0}")]
    Invalid(String),
}

/// The whole configuration. Field names say what the value is, units last.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Directory holding the store, keys and credentials.
    pub data_dir: PathBuf,
    /// tracing filter, e.g. `info` or `cardswitch=debug`.
    pub log_filter: String,
    pub http: HttpConfig,
    pub writer: WriterConfig,
    pub store: StoreConfig,
    pub auth: AuthConfig,
    pub lists: ListConfig,
    pub wallets: WalletConfig,
    pub giftcard: GiftcardConfig,
    pub cashback: CashbackConfig,
}

/// The gift-card history API (`/rest/v3`): PIN guessing limits and list sizes.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GiftcardConfig {
    /// Wrong PINs in a row before a gift card's history is locked.
    pub pin_attempts_max: u32,
    /// How long a gift card's history stays locked after too many wrong PINs.
    pub pin_lock_ms: i64,
    /// Cards in one history request.
    pub cards_per_request_max: usize,
    /// Transactions per card when the request names no limit.
    pub history_limit_default: u16,
    /// Largest limit a request may name (the document's 2-byte integer allows up to 32767).
    pub history_limit_max: u16,
}

impl Default for GiftcardConfig {
    fn default() -> GiftcardConfig {
        GiftcardConfig {
            pin_attempts_max: 5,
            pin_lock_ms: 30 * 60 * 1000,
            cards_per_request_max: 10,
            history_limit_default: 20,
            history_limit_max: 100,
        }
    }
}

/// Limits of the cashback card API (`/cardapi`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CashbackConfig {
    /// Longest search value `q` (an NFC number, barcode or manual code), in bytes.
    pub search_q_bytes_max: usize,
    /// Longest `device_id` of a debit, in bytes.
    pub device_id_bytes_max: usize,
    /// Longest `ticket_number` of a debit, in bytes.
    pub ticket_number_bytes_max: usize,
    /// Longest name of a group, store, point of sale or pass holder, in bytes.
    pub name_bytes_max: usize,
    /// Largest amount of one debit or credit, in whole currency units.
    pub amount_whole_max: i64,
}

impl Default for CashbackConfig {
    fn default() -> CashbackConfig {
        CashbackConfig {
            search_q_bytes_max: 64,
            device_id_bytes_max: 64,
            ticket_number_bytes_max: 64,
            name_bytes_max: 128,
            amount_whole_max: 100_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WalletConfig {
    /// Wrong PINs in a row before logins to a wallet are locked.
    pub pin_attempts_max: u32,
    /// How long a wallet's logins stay locked after too many wrong PINs.
    pub pin_lock_ms: i64,
    /// How long the consumer created by a login may be used.
    pub login_session_ttl_ms: i64,
    /// Currency (ISO-4217 numeric) of a customer's balances when it names none.
    pub default_currency: u16,
}

impl Default for WalletConfig {
    fn default() -> WalletConfig {
        WalletConfig {
            pin_attempts_max: 3,
            pin_lock_ms: 15 * 60 * 1000,
            login_session_ttl_ms: 24 * 60 * 60 * 1000,
            default_currency: 840,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest request body accepted; larger ones get 413 before any parsing.
    pub body_bytes_max: usize,
    /// Deepest nesting of JSON arrays and objects in a body; deeper ones get 400 before any
    /// parsing (serde_json's own limit, 128, is the ceiling).
    pub json_depth_max: usize,
    /// Open connections served at once.
    pub connections_max: usize,
    /// Connections beyond `connections_max` accepted only to be answered 503 (in the dialect's
    /// error shape) and closed; past both limits, clients wait in the kernel's backlog.
    pub overload_connections_max: usize,
    /// A client that has not sent its whole header block by then is disconnected (also the
    /// longest a kept-alive connection may sit idle).
    pub header_read_timeout_ms: u64,
    /// Headers one request may carry; more get 431 and the connection is closed.
    pub headers_max: usize,
    /// Largest request line plus header block, in bytes; larger get 431 and a close.
    pub header_bytes_max: usize,
    /// The whole body must arrive within this time once the headers are in, or 408.
    pub body_read_timeout_ms: u64,
    /// A request that is not answered by then gets 503.
    pub request_timeout_ms: u64,
    /// How long a graceful stop waits for in-flight requests.
    pub shutdown_grace_ms: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WriterConfig {
    /// Commands waiting for the single writer; a full queue makes callers wait.
    pub queue_commands_max: usize,
    /// Commands decided and committed together in one batch and one flush.
    pub group_commands_max: usize,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// The engine of a new store: `fjall` (default) or `sled`. An existing store keeps the
    /// engine it was made with, whatever this says.
    pub engine: crate::store::EngineKind,
    /// Memory sled may use to cache pages of the store, on top of the switch's own in-memory
    /// state. Reads of history (statements, tranlog lookups, RRN checks) hit this cache.
    pub cache_bytes_max: u64,
    /// Account entries (of GL transactions) the entry index keeps in memory before it writes
    /// them, sorted, as a run file in `entries/` (37 bytes an entry there, about 100 in memory).
    pub entry_run_entries: usize,
    /// Runs of one size the entry index merges into one run of the next size.
    pub entry_runs_per_merge: usize,
    /// GL transactions between two snapshots of the balances (`balances.snapshot`): a start
    /// replays at most about this many.
    pub balance_snapshot_transactions: u64,
    /// The nice value (0 to 19) of the switch's background threads: fjall's (memtable flushes,
    /// compactions), the index workers (run writes and merges) and the balance snapshots. They
    /// then take the core when the request path leaves it, rather than in slices that stall
    /// every request behind them.
    pub background_nice: i32,
    /// Runs the same background threads under Linux's `SCHED_IDLE` (only when no thread of the
    /// switch wants the core); `background_nice` then does not apply. Off by default: it
    /// lowers the tail below about half of the switch's capacity and raises it above, where
    /// the deferred flushes come back as write halts (`docs/performance.md`, "fjall's threads
    /// under SCHED_IDLE").
    pub background_idle: bool,
}

impl StoreConfig {
    /// At what priority the store's engine, the index workers and the snapshots run their
    /// background threads.
    pub fn background_priority(&self) -> crate::store::BackgroundPriority {
        use crate::store::BackgroundPriority;
        match (self.background_idle, self.background_nice) {
            (true, _) => BackgroundPriority::Idle,
            (false, 0) => BackgroundPriority::Same,
            (false, nice) => BackgroundPriority::Nice(nice),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Largest difference between a request's `timestamp` and the switch's clock.
    pub timestamp_skew_ms_max: i64,
    /// Nonces remembered for replay detection (about 40 bytes each). When full, the oldest
    /// are forgotten and requests older than them are refused as too old to check. Also the
    /// most keys of stored nonce records (one per commit group) the writer keeps in memory to
    /// delete expired ones by; past that it reads them from the store again once there is room.
    pub nonce_cache_entries_max: usize,
    /// Longest `nonce` header accepted.
    pub nonce_bytes_max: usize,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ListConfig {
    /// Entries in one statement answer; longer statements are cut and marked `truncated`.
    pub statement_entries_max: usize,
    /// Entries in one posted GL transaction.
    pub transaction_entries_max: usize,
    /// Items in one list answer (sysconfig and the like).
    pub list_items_max: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            data_dir: PathBuf::from("data"),
            log_filter: "info".to_owned(),
            http: HttpConfig::default(),
            writer: WriterConfig::default(),
            store: StoreConfig::default(),
            auth: AuthConfig::default(),
            lists: ListConfig::default(),
            wallets: WalletConfig::default(),
            giftcard: GiftcardConfig::default(),
            cashback: CashbackConfig::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            body_bytes_max: 64 * 1024,
            json_depth_max: 32,
            connections_max: 1024,
            overload_connections_max: 64,
            header_read_timeout_ms: 5_000,
            headers_max: 64,
            header_bytes_max: 16 * 1024,
            body_read_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            shutdown_grace_ms: 10_000,
        }
    }
}

impl Default for WriterConfig {
    fn default() -> WriterConfig {
        WriterConfig { queue_commands_max: 4096, group_commands_max: 256 }
    }
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            engine: crate::store::EngineKind::default(),
            cache_bytes_max: STORE_CACHE_BYTES_DEFAULT,
            entry_run_entries: 262_144,
            entry_runs_per_merge: 8,
            balance_snapshot_transactions: 1_000_000,
            background_nice: 10,
            background_idle: false,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> AuthConfig {
        AuthConfig {
            timestamp_skew_ms_max: 5 * 60 * 1000,
            nonce_cache_entries_max: 4_000_000,
            nonce_bytes_max: 128,
        }
    }
}

impl Default for ListConfig {
    fn default() -> ListConfig {
        ListConfig {
            statement_entries_max: 1000,
            transaction_entries_max: 64,
            list_items_max: 1000,
        }
    }
}

impl Config {
    /// Reads `path`; a missing file at the default path means the built-in defaults.
    pub fn load(path: &Path, must_exist: bool) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && !must_exist => {
                return Ok(Config::default());
            }
            Err(source) => return Err(ConfigError::Read { path: path.to_owned(), source }),
        };
        let config: Config = toml::from_str(&text)
            .map_err(|source| ConfigError::Parse { path: path.to_owned(), source })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every limit and the relations between them.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: &str| Err(ConfigError::Invalid(message.to_owned()));
        if self.http.body_bytes_max < 1024 {
            return invalid(
                "http.body_bytes_max must be at least 1024 (the largest valid request)",
            );
        }
        self.http.validate()?;
        if self.writer.group_commands_max == 0 || self.writer.queue_commands_max == 0 {
            return invalid("writer limits must be positive");
        }
        if self.writer.group_commands_max > self.writer.queue_commands_max {
            return invalid("writer.group_commands_max must not exceed writer.queue_commands_max");
        }
        if self.store.cache_bytes_max < STORE_CACHE_BYTES_MIN {
            return invalid("store.cache_bytes_max must be at least 1 MiB (1048576)");
        }
        if !(0..=19).contains(&self.store.background_nice) {
            return invalid("store.background_nice must be 0 to 19");
        }
        if self.store.entry_run_entries == 0 {
            return invalid("store.entry_run_entries must be positive");
        }
        if !(2..=64).contains(&self.store.entry_runs_per_merge) {
            return invalid("store.entry_runs_per_merge must be from 2 to 64");
        }
        if self.store.balance_snapshot_transactions == 0 {
            return invalid("store.balance_snapshot_transactions must be positive");
        }
        if self.auth.timestamp_skew_ms_max <= 0 {
            return invalid("auth.timestamp_skew_ms_max must be positive");
        }
        if self.auth.nonce_cache_entries_max == 0 || self.auth.nonce_bytes_max == 0 {
            return invalid("auth nonce limits must be positive");
        }
        if self.lists.statement_entries_max == 0
            || self.lists.list_items_max == 0
            || self.lists.transaction_entries_max < 2
        {
            return invalid("list limits must be positive (transaction_entries_max at least 2)");
        }
        let wallets = &self.wallets;
        if wallets.pin_attempts_max == 0
            || wallets.pin_lock_ms <= 0
            || wallets.login_session_ttl_ms <= 0
        {
            return invalid("wallet PIN and login limits must be positive");
        }
        let cashback = &self.cashback;
        if cashback.search_q_bytes_max == 0
            || cashback.device_id_bytes_max == 0
            || cashback.ticket_number_bytes_max == 0
            || cashback.name_bytes_max == 0
        {
            return invalid("cashback length limits must be positive");
        }
        if !(1..=1_000_000_000).contains(&cashback.amount_whole_max) {
            return invalid("cashback.amount_whole_max must be between 1 and 1000000000");
        }
        if wallets.default_currency >= 1000 {
            return invalid("wallets.default_currency must be an ISO-4217 numeric code below 1000");
        }
        self.giftcard.validate()
    }
}

impl HttpConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: &str| Err(ConfigError::Invalid(message.to_owned()));
        if !(JSON_DEPTH_MIN..=JSON_DEPTH_CEILING).contains(&self.json_depth_max) {
            return invalid("http.json_depth_max must be 4 to 128 (serde_json's own limit)");
        }
        if self.connections_max == 0 {
            return invalid("http.connections_max must be positive");
        }
        if self.header_read_timeout_ms == 0
            || self.request_timeout_ms == 0
            || self.body_read_timeout_ms == 0
        {
            return invalid("http timeouts must be positive");
        }
        if self.body_read_timeout_ms > self.request_timeout_ms {
            return invalid("http.body_read_timeout_ms must not exceed http.request_timeout_ms");
        }
        if self.headers_max < 16 {
            return invalid("http.headers_max must be at least 16");
        }
        if self.header_bytes_max < HEADER_BYTES_MIN {
            return invalid(
                "http.header_bytes_max must be at least 8192 (room for a bearer token)",
            );
        }
        Ok(())
    }
}

/// sled's page cache by default: sled's own default, 1 GiB. Every debit inserts into leaves
/// chosen by card (RRN, card and entry indexes, balances), so with many cards a smaller cache
/// reads leaves back from the files on the hot path; see `docs/performance.md`.
const STORE_CACHE_BYTES_DEFAULT: u64 = 1024 * 1024 * 1024;
/// A floor, so that a slip of units (MiB written as bytes) is refused instead of run.
const STORE_CACHE_BYTES_MIN: u64 = 1024 * 1024;
/// The shallowest `http.json_depth_max`: the dialects' own bodies nest up to three levels.
const JSON_DEPTH_MIN: usize = 4;
/// The deepest `http.json_depth_max`: serde_json refuses anything deeper anyway.
const JSON_DEPTH_CEILING: usize = 128;
/// The smallest `http.header_bytes_max`: a 4096-byte bearer token and the usual headers fit.
const HEADER_BYTES_MIN: usize = 8192;

impl GiftcardConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: &str| Err(ConfigError::Invalid(message.to_owned()));
        if self.pin_attempts_max == 0 || self.pin_lock_ms <= 0 {
            return invalid("giftcard PIN limits must be positive");
        }
        if self.cards_per_request_max == 0 || self.cards_per_request_max > 100 {
            return invalid("giftcard.cards_per_request_max must be 1 to 100");
        }
        if self.history_limit_default == 0
            || self.history_limit_default > self.history_limit_max
            || self.history_limit_max > 32767
        {
            return invalid(
                "giftcard history limits: 1 <= history_limit_default <= history_limit_max <= 32767",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_config_matches_the_defaults() {
        let text = include_str!("../config.toml");
        let shipped: Config = toml::from_str(text).expect("config.toml parses");
        shipped.validate().expect("config.toml is valid");
        assert_eq!(shipped, Config::default());
    }

    #[test]
    fn relations_between_limits_are_checked() {
        let mut config = Config::default();
        config.writer.group_commands_max = config.writer.queue_commands_max + 1;
        assert!(config.validate().is_err());
        let mut config = Config::default();
        config.cashback.search_q_bytes_max = 0;
        assert!(config.validate().is_err());
        let mut config = Config::default();
        config.cashback.amount_whole_max = 0;
        assert!(config.validate().is_err());
        let mut config = Config::default();
        config.store.balance_snapshot_transactions = 0;
        assert!(config.validate().is_err());
        let mut config = Config::default();
        config.store.cache_bytes_max = STORE_CACHE_BYTES_MIN - 1;
        assert!(config.validate().is_err());
        config.store.cache_bytes_max = STORE_CACHE_BYTES_MIN;
        assert!(config.validate().is_ok());
        for (nice, valid) in [(-1, false), (0, true), (19, true), (20, false)] {
            config.store.background_nice = nice;
            assert_eq!(config.validate().is_ok(), valid, "background_nice {nice}");
        }
    }

    #[test]
    fn the_background_priority_is_idle_else_the_nice_value() {
        use crate::store::BackgroundPriority;
        let mut store = StoreConfig::default();
        assert_eq!(store.background_priority(), BackgroundPriority::Nice(10));
        store.background_nice = 0;
        assert_eq!(store.background_priority(), BackgroundPriority::Same);
        store.background_idle = true;
        assert_eq!(store.background_priority(), BackgroundPriority::Idle);
    }

    #[test]
    fn http_limits_are_checked() {
        let broken: [fn(&mut HttpConfig); 5] = [
            |http| http.json_depth_max = 3,
            |http| http.json_depth_max = 129,
            |http| http.body_read_timeout_ms = http.request_timeout_ms + 1,
            |http| http.header_bytes_max = 8191,
            |http| http.headers_max = 15,
        ];
        for (index, breaking) in broken.into_iter().enumerate() {
            let mut config = Config::default();
            breaking(&mut config.http);
            assert!(config.validate().is_err(), "case {index} accepted");
        }
        let mut config = Config::default();
        config.http.overload_connections_max = 0;
        assert!(config.validate().is_ok(), "no overload slots is a valid choice");
    }

    #[test]
    fn giftcard_limits_are_checked() {
        let mut config = Config::default();
        config.giftcard.history_limit_default = config.giftcard.history_limit_max + 1;
        assert!(config.validate().is_err());
        let mut config = Config::default();
        config.giftcard.pin_attempts_max = 0;
        assert!(config.validate().is_err());
        let mut config = Config::default();
        config.giftcard.cards_per_request_max = 0;
        assert!(config.validate().is_err());
    }
}
