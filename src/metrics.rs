//! Prometheus metrics: requests by route and status, request latency, commit group sizes and
//! flush times. Recording is lock-free on the hot paths (atomic counters and histograms).

use std::sync::atomic::{AtomicBool, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// A route's label is its path template (or `unmatched`, `overloaded`), which lives for the
/// whole process: a request's count and timing allocate nothing.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: &'static str,
}

/// Every metric the switch exports.
pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<RequestLabels, Counter>,
    pub http_request_seconds: Family<RouteLabels, Histogram>,
    pub http_connections_open: Gauge,
    /// Connections over `http.connections_max`, answered 503 and closed.
    pub http_connections_refused: Counter,
    pub commit_group_commands: Histogram,
    pub commit_flush_seconds: Histogram,
    /// Time of one group's apply to the store (not yet durable): where an engine's write
    /// stall shows, as every request waits for the writer.
    pub commit_apply_seconds: Histogram,
    /// Commands decided and applied, waiting for the flush that makes them durable.
    pub commit_commands_unflushed: Gauge,
    pub commit_failures: Counter,
    /// Commands refused unapplied while the store was degraded (no flush succeeded since a
    /// failure).
    pub commands_refused: Counter,
    /// Commit groups that wrote something (one atomic batch each).
    pub commit_groups: Counter,
    /// Successful flushes of the store (by the syncer, or by the writer recovering).
    pub commit_flushes: Counter,
    /// Records (puts and deletes) applied to the store by the writer.
    pub store_records_written: Counter,
    /// Key and value bytes applied to the store by the writer (a delete counts its key).
    pub store_bytes_written: Counter,
    /// Set when an apply or flush failed and no later flush has succeeded yet.
    pub store_degraded: AtomicBool,
    /// Run files of the account-entry index, and its entries waiting in memory for a run.
    pub entry_index_runs: Gauge,
    pub entry_index_entries_in_memory: Gauge,
    /// The same of the card and wallet tranlog index.
    pub tranlog_index_runs: Gauge,
    pub tranlog_index_entries_in_memory: Gauge,
    /// The same of the RRN index.
    pub rrn_index_runs: Gauge,
    pub rrn_index_entries_in_memory: Gauge,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let metrics = Metrics {
            registry: Registry::with_prefix("cardswitch"),
            http_requests: Family::default(),
            http_request_seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.000_05, 2.0, 18))
            }),
            http_connections_open: Gauge::default(),
            http_connections_refused: Counter::default(),
            commit_group_commands: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            commit_flush_seconds: Histogram::new(exponential_buckets(0.000_01, 2.0, 20)),
            commit_apply_seconds: Histogram::new(exponential_buckets(0.000_01, 2.0, 20)),
            commit_commands_unflushed: Gauge::default(),
            commit_failures: Counter::default(),
            commands_refused: Counter::default(),
            commit_groups: Counter::default(),
            commit_flushes: Counter::default(),
            store_records_written: Counter::default(),
            store_bytes_written: Counter::default(),
            store_degraded: AtomicBool::new(false),
            entry_index_runs: Gauge::default(),
            entry_index_entries_in_memory: Gauge::default(),
            tranlog_index_runs: Gauge::default(),
            tranlog_index_entries_in_memory: Gauge::default(),
            rrn_index_runs: Gauge::default(),
            rrn_index_entries_in_memory: Gauge::default(),
        };
        metrics.registered()
    }

    /// The gauges, with their names and help texts.
    fn gauges(&self) -> [(&'static str, &'static str, Gauge); 8] {
        [
            (
                "http_connections_open",
                "Connections currently open",
                self.http_connections_open.clone(),
            ),
            (
                "commit_commands_unflushed",
                "Commands decided and applied, waiting for the flush that makes them durable",
                self.commit_commands_unflushed.clone(),
            ),
            (
                "entry_index_runs",
                "Run files of the account-entry index (entries/)",
                self.entry_index_runs.clone(),
            ),
            (
                "entry_index_entries_in_memory",
                "Account entries waiting in memory to be written as a run of the entry index",
                self.entry_index_entries_in_memory.clone(),
            ),
            (
                "tranlog_index_runs",
                "Run files of the card and wallet tranlog index (tranlog-index/)",
                self.tranlog_index_runs.clone(),
            ),
            (
                "tranlog_index_entries_in_memory",
                "Card and wallet tranlog records waiting in memory to be written as a run",
                self.tranlog_index_entries_in_memory.clone(),
            ),
            (
                "rrn_index_runs",
                "Run files of the RRN index (rrn-index/)",
                self.rrn_index_runs.clone(),
            ),
            (
                "rrn_index_entries_in_memory",
                "Tranlog records by RRN waiting in memory to be written as a run",
                self.rrn_index_entries_in_memory.clone(),
            ),
        ]
    }

    /// Shows the derived indexes' sizes, (runs, records in memory) of each.
    pub fn show_index_sizes(
        &self,
        entries: (usize, usize),
        tranlogs: (usize, usize),
        rrns: (usize, usize),
    ) {
        let set = |gauge: &Gauge, value: usize| {
            gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
        };
        set(&self.entry_index_runs, entries.0);
        set(&self.entry_index_entries_in_memory, entries.1);
        set(&self.tranlog_index_runs, tranlogs.0);
        set(&self.tranlog_index_entries_in_memory, tranlogs.1);
        set(&self.rrn_index_runs, rrns.0);
        set(&self.rrn_index_entries_in_memory, rrns.1);
    }

    /// The metrics with every one of them registered under its name and help text.
    fn registered(mut self) -> Metrics {
        for (name, help, gauge) in self.gauges() {
            self.registry.register(name, help, gauge);
        }
        let registry = &mut self.registry;
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            self.http_requests.clone(),
        );
        registry.register(
            "http_request_seconds",
            "Time to answer a request, by route",
            self.http_request_seconds.clone(),
        );
        registry.register(
            "commit_group_commands",
            "Commands per commit group",
            self.commit_group_commands.clone(),
        );
        registry.register(
            "commit_flush_seconds",
            "Time of one flush of the store (it makes every commit group applied before it durable)",
            self.commit_flush_seconds.clone(),
        );
        registry.register(
            "commit_apply_seconds",
            "Time of one commit group's apply to the store, before its flush",
            self.commit_apply_seconds.clone(),
        );
        register_counters(
            registry,
            [
                (
                    "http_connections_refused",
                    "Connections over the limit, answered 503 and closed",
                    &self.http_connections_refused,
                ),
                (
                    "commit_failures",
                    "Commit groups whose write or flush failed",
                    &self.commit_failures,
                ),
                (
                    "commands_refused",
                    "Commands refused unapplied while the store could not make changes durable",
                    &self.commands_refused,
                ),
            ],
        );
        register_store_counters(
            registry,
            [
                &self.commit_groups,
                &self.commit_flushes,
                &self.store_records_written,
                &self.store_bytes_written,
            ],
        );
        self
    }

    /// Counts one answered request.
    pub fn record_request(&self, route: &'static str, status: u16, seconds: f64) {
        self.http_requests.get_or_create(&RequestLabels { route, status }).inc();
        self.http_request_seconds.get_or_create(&RouteLabels { route }).observe(seconds);
    }

    pub fn is_degraded(&self) -> bool {
        self.store_degraded.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

/// Registers counters by name and help text.
fn register_counters<const N: usize>(
    registry: &mut Registry,
    counters: [(&str, &str, &Counter); N],
) {
    for (name, help, counter) in counters {
        registry.register(name, help, counter.clone());
    }
}

/// Registers the writer's store counters, in the order of `STORE_COUNTERS`.
fn register_store_counters(registry: &mut Registry, counters: [&Counter; 4]) {
    const STORE_COUNTERS: [(&str, &str); 4] = [
        ("commit_groups", "Commit groups applied to the store as one batch"),
        ("commit_flushes", "Successful flushes of the store"),
        ("store_records_written", "Records (puts and deletes) applied to the store by the writer"),
        ("store_bytes_written", "Key and value bytes applied to the store by the writer"),
    ];
    for ((name, help), counter) in STORE_COUNTERS.into_iter().zip(counters) {
        registry.register(name, help, counter.clone());
    }
}
