//! What a load run measured: per request kind an HDR histogram of latencies (microseconds),
//! approvals, declines by result code and errors by cause; the summary printed and written
//! as JSON; and a once-a-second progress line on stderr.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use super::mix::Kind;
use super::timeline::TimelineReport;

/// Longest latency the histograms hold: one hour, in microseconds.
const LATENCY_US_MAX: u64 = 3_600_000_000;

/// An empty latency histogram: 1 µs to an hour, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, 3)
        .unwrap_or_else(|_| unreachable!("the bounds are valid"))
}

/// How one answer counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Approved,
    /// A business decline, by jPOS result code.
    Declined(String),
    /// Any other answer (by status and error), or a transport failure.
    Error(String),
}

/// What one kind of request saw.
#[derive(Debug, Clone)]
pub struct Tally {
    pub latency_us: Histogram<u64>,
    pub approvals: u64,
    pub declines: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            latency_us: new_histogram(),
            approvals: 0,
            declines: BTreeMap::new(),
            errors: BTreeMap::new(),
        }
    }
}

impl Tally {
    pub fn record(&mut self, verdict: Verdict, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_us.saturating_record(micros.clamp(1, LATENCY_US_MAX));
        match verdict {
            Verdict::Approved => self.approvals += 1,
            Verdict::Declined(code) => *self.declines.entry(code).or_default() += 1,
            Verdict::Error(cause) => *self.errors.entry(cause).or_default() += 1,
        }
    }

    /// Answers recorded (approved, declined or failed).
    pub fn requests(&self) -> u64 {
        self.latency_us.len()
    }

    pub fn merge(&mut self, other: &Tally) {
        let _ = self.latency_us.add(&other.latency_us);
        self.approvals += other.approvals;
        for (code, count) in &other.declines {
            *self.declines.entry(code.clone()).or_default() += count;
        }
        for (cause, count) in &other.errors {
            *self.errors.entry(cause.clone()).or_default() += count;
        }
    }
}

/// The figures of one kind (or of the total), as printed and written.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub requests: u64,
    pub throughput_per_s: f64,
    pub approvals: u64,
    pub declines: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
    pub latency_ms: Percentiles,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(histogram: &Histogram<u64>) -> Percentiles {
        Percentiles {
            p50: milliseconds(histogram.value_at_quantile(0.50)),
            p99: milliseconds(histogram.value_at_quantile(0.99)),
            p999: milliseconds(histogram.value_at_quantile(0.999)),
            max: milliseconds(histogram.max()),
        }
    }
}

/// The whole result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// `closed` or `open`.
    pub mode: String,
    /// The open loop's target rate; absent for the closed loop.
    pub rate_per_s: Option<f64>,
    pub connections: usize,
    pub measured_s: f64,
    /// From the end of the warm-up to the last answer: `measured_s` plus the tail (and, in an
    /// open loop the switch could not keep up with, the backlog). Rates are over this.
    pub elapsed_s: f64,
    pub warmup_s: f64,
    pub distribution: String,
    pub hot_merchant_share: f64,
    pub total: Figures,
    pub kinds: BTreeMap<String, Figures>,
    /// Open loop only: how long after a measured request was due, and its connection free,
    /// the generator sent it (its own lateness, which the latencies include).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_late_ms: Option<Percentiles>,
    /// With `--timeline-ms`: the measured time in windows, each one's slowest latency and
    /// request count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<TimelineReport>,
}

fn milliseconds(micros: u64) -> f64 {
    Duration::from_micros(micros).as_secs_f64() * 1000.0
}

/// A count as a rate over `measured`.
fn per_second(count: u64, measured: Duration) -> f64 {
    let count = u32::try_from(count).map_or(f64::from(u32::MAX), f64::from);
    count / measured.as_secs_f64().max(0.001)
}

impl Figures {
    pub fn of(tally: &Tally, measured: Duration) -> Figures {
        let histogram = &tally.latency_us;
        Figures {
            requests: histogram.len(),
            throughput_per_s: per_second(histogram.len(), measured),
            approvals: tally.approvals,
            declines: tally.declines.clone(),
            errors: tally.errors.clone(),
            latency_ms: Percentiles::of(histogram),
        }
    }

    fn line(&self, name: &str) -> String {
        let counts = |map: &BTreeMap<String, u64>| {
            map.iter().map(|(key, count)| format!("{key}:{count}")).collect::<Vec<_>>().join(" ")
        };
        format!(
            "{name:<9} {:>9} {:>10.0} {:>8.3} {:>8.3} {:>8.3} {:>9.3} {:>9}  declines [{}] errors [{}]",
            self.requests,
            self.throughput_per_s,
            self.latency_ms.p50,
            self.latency_ms.p99,
            self.latency_ms.p999,
            self.latency_ms.max,
            self.approvals,
            counts(&self.declines),
            counts(&self.errors)
        )
    }
}

/// Builds the results from the merged tallies of every kind.
pub fn summarize(tallies: &BTreeMap<Kind, Tally>, measured: Duration, shape: Results) -> Results {
    let mut total = Tally::default();
    let mut kinds = BTreeMap::new();
    for (kind, tally) in tallies {
        total.merge(tally);
        kinds.insert(kind.name().to_owned(), Figures::of(tally, measured));
    }
    Results { total: Figures::of(&total, measured), kinds, ..shape }
}

impl Results {
    /// The human-readable table.
    pub fn text(&self) -> String {
        let mut text = String::new();
        let rate = self.rate_per_s.map_or_else(String::new, |rate| format!(" at {rate:.0}/s"));
        let _ = writeln!(
            text,
            "{} loop{rate}, {} connections, {:.1} s measured (last answer after {:.2} s) after {:.1} s warm-up, {}, hot merchant share {}",
            self.mode, self.connections, self.measured_s, self.elapsed_s, self.warmup_s, self.distribution,
            self.hot_merchant_share
        );
        let _ = writeln!(
            text,
            "{:<9} {:>9} {:>10} {:>8} {:>8} {:>8} {:>9} {:>9}",
            "kind", "requests", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "approved"
        );
        for (name, figures) in &self.kinds {
            let _ = writeln!(text, "{}", figures.line(name));
        }
        let _ = writeln!(text, "{}", self.total.line("total"));
        if let Some(late) = &self.send_late_ms {
            let _ = writeln!(
                text,
                "sent late by the generator (from due and connection free to sent; in the latencies above): p50 {:.3} ms, p99 {:.3}, p99.9 {:.3}, max {:.3}",
                late.p50, late.p99, late.p999, late.max
            );
        }
        if let Some(timeline) = &self.timeline {
            let _ = writeln!(text, "{}", timeline.slowest_windows(5));
        }
        text
    }
}

/// A counter shown once a second on stderr while work goes on.
pub struct Progress {
    done: Arc<AtomicU64>,
    ticker: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// Starts the ticker; `total` adds "of N" to the line.
    pub fn start(label: &'static str, total: Option<usize>) -> Progress {
        let done = Arc::new(AtomicU64::new(0));
        let seen = Arc::clone(&done);
        let ticker = tokio::spawn(async move {
            let started = Instant::now();
            let mut interval = tokio::time::interval(Duration::from_secs(1));
            interval.tick().await;
            loop {
                interval.tick().await;
                let count = seen.load(Ordering::Relaxed);
                let of = total.map_or_else(String::new, |total| format!(" of {total}"));
                eprintln!("{label}: {count}{of} after {} s", started.elapsed().as_secs());
            }
        });
        Progress { done, ticker }
    }

    pub fn counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.done)
    }

    pub fn finish(self) {
        self.ticker.abort();
    }
}
