//! `load run`: connections that each send one request at a time, either back to back (closed
//! loop) or on a fixed schedule (open loop: request k of the run is due at start + k / rate,
//! spread over the connections, and its latency counts from that intended time, so a slow
//! answer delays and charges the requests behind it: no coordinated omission).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use super::client::{PartnerSigner, Session, Signer};
use super::manifest::Manifest;
use super::mix::{parse_distribution, parse_mix, Distribution, Kind, Mix, SeededRng};
use super::pacer::{Paced, Pacer};
use super::populate::manifest_path;
use super::report::{new_histogram, summarize, Percentiles, Progress, Results, Tally};
use super::requests::Plan;
use super::target::{parse_url, read_credentials};
use super::timeline::Timeline;
use super::LoadError;

/// Most connections one run opens.
pub const CONNECTIONS_MAX: usize = 4096;

/// Options of `cardswitch load run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunOptions {
    /// The switch, `http://host:port`.
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    pub url: String,
    /// A credentials file like the data directory's `admin-credentials`.
    #[arg(long, default_value = "data/admin-credentials")]
    pub credentials: PathBuf,
    /// The manifest `populate` wrote; default `load-manifest.json` next to the credentials.
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// Weights of the request kinds: echo, debit, credit, balance, transfer, issuing_debit.
    #[arg(long, default_value = "debit=70,credit=10,balance=15,transfer=5", value_parser = parse_mix)]
    pub mix: Mix,
    /// How cards and wallets are drawn: `uniform` or `zipf:S` (the first cards hottest).
    #[arg(long, default_value = "uniform", value_parser = parse_distribution)]
    pub distribution: Distribution,
    /// Share (0 to 1) of transfers that go to the one merchant wallet.
    #[arg(long, default_value_t = 0.0)]
    pub hot_merchant_share: f64,
    /// Keep-alive connections, each with one request in flight.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Seconds measured, after the warm-up.
    #[arg(long, default_value_t = 10.0)]
    pub duration_s: f64,
    /// Seconds sent but not measured, first.
    #[arg(long, default_value_t = 1.0)]
    pub warmup_s: f64,
    /// Open loop at this many requests per second in total; closed loop without it.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seeds the choices of kinds, cards and wallets.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also cut the measured time into windows of this many milliseconds (by when each request
    /// was due) and report each window's slowest latency and request count: when the tail
    /// happened. In the JSON as `timeline`; the five slowest windows are printed.
    #[arg(long)]
    pub timeline_ms: Option<u64>,
    /// The HS512 key of the manifest's partner; needed when the mix has `issuing_debit` (it may
    /// begin with `-`).
    #[arg(long, allow_hyphen_values = true)]
    pub partner_key: Option<String>,
}

impl RunOptions {
    fn check(&self) -> Result<(), LoadError> {
        if !(1..=CONNECTIONS_MAX).contains(&self.connections) {
            return Err(LoadError::new(format!("--connections must be 1 to {CONNECTIONS_MAX}")));
        }
        if !(0.0..=1.0).contains(&self.hot_merchant_share) {
            return Err(LoadError::new("--hot-merchant-share must be 0 to 1"));
        }
        let seconds_ok =
            |seconds: f64, least: f64| seconds.is_finite() && (least..=86_400.0).contains(&seconds);
        if !seconds_ok(self.duration_s, 0.1) || !seconds_ok(self.warmup_s, 0.0) {
            return Err(LoadError::new("--duration-s must be 0.1 to 86400, --warmup-s 0 to 86400"));
        }
        if self.rate.is_some_and(|rate| !(rate.is_finite() && (0.1..=10_000_000.0).contains(&rate)))
        {
            return Err(LoadError::new("--rate must be 0.1 to 10000000 requests per second"));
        }
        if let Some(window_ms) = self.timeline_ms {
            Timeline::shape(window_ms, self.duration_s)?;
        }
        Ok(())
    }

    /// An empty timeline for one connection, if the run keeps one.
    fn timeline(&self) -> Result<Option<Timeline>, LoadError> {
        self.timeline_ms.map(|window_ms| Timeline::new(window_ms, self.duration_s)).transpose()
    }
}

/// The time frame of a run: sent from `start`, measured from `measure_from` until `end`.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    measure_from: Instant,
    end: Instant,
}

/// Runs the load, prints the results (and writes the JSON); answers them.
pub async fn run(options: &RunOptions) -> Result<Results, LoadError> {
    options.check()?;
    let address = parse_url(&options.url)?;
    let manifest =
        Manifest::read(&manifest_path(options.manifest.as_deref(), &options.credentials))?;
    let signer = Signer::new(read_credentials(&options.credentials)?);
    let partner = partner(&manifest, options)?;
    let plan = Arc::new(Plan::new(signer, partner, manifest, options));
    let start = Instant::now() + Duration::from_millis(50);
    let measure_from = start + Duration::from_secs_f64(options.warmup_s);
    let window = Window {
        start,
        measure_from,
        end: measure_from + Duration::from_secs_f64(options.duration_s),
    };
    let pacer = options
        .rate
        .map(|rate| Pacer::start(rate, options.connections, window.start, window.end))
        .transpose()?;
    let progress = Progress::start("requests", None);
    let mut timeline = options.timeline()?;
    let tasks: Vec<_> = (0..options.connections)
        .map(|connection| {
            let (plan, done) = (Arc::clone(&plan), progress.counter());
            let seed = options.seed
                ^ u64::try_from(connection).unwrap_or(0).wrapping_mul(0x2545_F491_4F6C_DD1D);
            let paced = pacer.as_ref().and_then(|pacer| pacer.paced(connection));
            let kept = Kept { timeline: timeline.clone(), done };
            tokio::spawn(drive(address, plan, window, SeededRng::new(seed), paced, kept))
        })
        .collect();
    let mut tallies: BTreeMap<Kind, Tally> = BTreeMap::new();
    let mut last_answer = window.end;
    let mut send_late_us = new_histogram();
    for task in tasks {
        let driven = task.await.map_err(|error| LoadError::new(error.to_string()))?;
        last_answer = last_answer.max(driven.last_answer);
        merge_connection(&mut tallies, driven.tallies);
        if let Some(late) = &driven.send_late_us {
            let _ = send_late_us.add(late);
        }
        if let (Some(run), Some(connection)) = (&mut timeline, &driven.timeline) {
            run.merge(connection);
        }
    }
    progress.finish();
    drop(pacer);
    // Requests are counted over the measured window stretched to the last answer: when the
    // switch falls behind an open loop's schedule, the rate shown is the rate it kept up.
    let elapsed = last_answer.duration_since(window.measure_from);
    let mut shape = shape(options);
    shape.elapsed_s = elapsed.as_secs_f64();
    let mut results = summarize(&tallies, elapsed, shape);
    results.send_late_ms = (!send_late_us.is_empty()).then(|| Percentiles::of(&send_late_us));
    results.timeline = timeline.as_ref().map(Timeline::report);
    print!("{}", results.text());
    if let Some(path) = &options.json {
        write_json(path, &results)?;
    }
    Ok(results)
}

/// The partner that signs `issuing_debit`: required when the mix has that kind.
fn partner(manifest: &Manifest, options: &RunOptions) -> Result<Option<PartnerSigner>, LoadError> {
    if options.mix.weight(Kind::IssuingDebit) == 0 {
        return Ok(None);
    }
    match (&manifest.partner_auth_id, &options.partner_key) {
        (Some(auth_id), Some(key)) if !manifest.partner_cards.is_empty() => {
            Ok(Some(PartnerSigner { auth_id: auth_id.clone(), key: key.as_bytes().to_vec() }))
        }
        (Some(_), None) => Err(LoadError::new("issuing_debit needs --partner-key")),
        _ => Err(LoadError::new(
            "issuing_debit needs a population made with --partner-auth-id and --partner-key",
        )),
    }
}

fn shape(options: &RunOptions) -> Results {
    let distribution = match options.distribution {
        Distribution::Uniform => "uniform".to_owned(),
        Distribution::Zipf { exponent } => format!("zipf:{exponent}"),
    };
    Results {
        mode: if options.rate.is_some() { "open" } else { "closed" }.to_owned(),
        rate_per_s: options.rate,
        connections: options.connections,
        measured_s: options.duration_s,
        elapsed_s: options.duration_s,
        warmup_s: options.warmup_s,
        distribution,
        hot_merchant_share: options.hot_merchant_share,
        total: super::report::Figures::of(&Tally::default(), Duration::from_secs(1)),
        kinds: BTreeMap::new(),
        send_late_ms: None,
        timeline: None,
    }
}

fn write_json(path: &std::path::Path, results: &Results) -> Result<(), LoadError> {
    let text = serde_json::to_string_pretty(results)
        .map_err(|error| LoadError::new(format!("cannot encode the results: {error}")))?;
    std::fs::write(path, text)
        .map_err(|error| LoadError::new(format!("cannot write {}: {error}", path.display())))
}

/// Adds one connection's tallies to the run's. A kind the connection never drew has an empty
/// tally (each is made before the run): nothing to report.
fn merge_connection(tallies: &mut BTreeMap<Kind, Tally>, connection: BTreeMap<Kind, Tally>) {
    for (kind, tally) in connection.into_iter().filter(|(_, tally)| tally.requests() > 0) {
        tallies.entry(kind).or_default().merge(&tally);
    }
}

/// What one connection saw.
struct Driven {
    tallies: BTreeMap<Kind, Tally>,
    /// When its last answer came.
    last_answer: Instant,
    /// Open loop only: per measured request, microseconds from when it was due and the
    /// connection was free to when it was sent.
    send_late_us: Option<Histogram<u64>>,
    timeline: Option<Timeline>,
}

/// What a connection keeps besides its tallies: its share of the progress counter and, if the
/// run keeps one, its timeline (made before the run, as the tallies are).
struct Kept {
    timeline: Option<Timeline>,
    done: Arc<AtomicU64>,
}

/// One connection's loop.
async fn drive(
    address: SocketAddr,
    plan: Arc<Plan>,
    window: Window,
    mut rng: SeededRng,
    paced: Option<Paced>,
    kept: Kept,
) -> Driven {
    let Kept { timeline, done } = kept;
    let mut session = Session::new(address);
    // Made before the run, not at the first measured answer: a histogram is some 190 KiB to
    // allocate and zero, and 128 connections making theirs at once stalled the client for up
    // to 50 ms at the start of the measured window, which an open loop counts as latency.
    let tallies = plan.kinds().map(|kind| (kind, Tally::default())).collect();
    let send_late_us = paced.as_ref().map(|_| new_histogram());
    let mut driven = Driven { tallies, last_answer: window.start, send_late_us, timeline };
    tokio::time::sleep_until(window.start).await;
    let mut sequence: u32 = 0;
    loop {
        let intended = match &paced {
            Some(paced) => paced.schedule.due(window.start, sequence),
            None => Instant::now(),
        };
        if intended >= window.end {
            return driven;
        }
        if let Some(paced) = &paced {
            // Released by the pacer at `intended`; closed only if the run is gone.
            let Ok(permit) = paced.gate.acquire().await else {
                return driven;
            };
            permit.forget();
        }
        let (kind, request) = plan.next_request(&mut rng);
        let sent = Instant::now();
        let verdict = Plan::verdict(session.send(&request).await);
        done.fetch_add(1, Ordering::Relaxed);
        let free = driven.last_answer.max(intended);
        driven.last_answer = Instant::now();
        if intended >= window.measure_from {
            let latency = intended.elapsed();
            driven.tallies.entry(kind).or_default().record(verdict, latency);
            if let Some(timeline) = &mut driven.timeline {
                timeline.record(intended.duration_since(window.measure_from), latency);
            }
            if let Some(late) = &mut driven.send_late_us {
                let micros = u64::try_from(sent.saturating_duration_since(free).as_micros());
                late.saturating_record(micros.unwrap_or(u64::MAX).max(1));
            }
        }
        sequence = sequence.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_a_connection_never_drew_are_left_out_of_the_results() {
        let answered = |count| {
            let mut tally = Tally::default();
            for _ in 0..count {
                tally.record(crate::load::report::Verdict::Approved, Duration::from_micros(300));
            }
            tally
        };
        let mut tallies = BTreeMap::new();
        merge_connection(
            &mut tallies,
            BTreeMap::from([(Kind::Debit, answered(3)), (Kind::Credit, answered(0))]),
        );
        merge_connection(
            &mut tallies,
            BTreeMap::from([(Kind::Debit, answered(2)), (Kind::Credit, answered(0))]),
        );
        assert_eq!(tallies.keys().copied().collect::<Vec<_>>(), vec![Kind::Debit]);
        assert_eq!(tallies[&Kind::Debit].requests(), 5);
        assert_eq!(tallies[&Kind::Debit].approvals, 5);
    }
}
