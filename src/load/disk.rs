//! `cardswitch load disk`: what the disk under a data directory gives a durable write on its
//! own, with no switch running: small writes at the tail of a journal-like file, each followed
//! by `fdatasync`, at a steady pace, and the percentiles of how long each took. Every
//! acknowledged debit waits for one such sync (its commit group's), so the disk's own tail is a
//! floor under the switch's latency that no change to the switch can lower.
//!
//! The file is made as the store engine makes its journal: preallocated sparse (`set_len`) to
//! `JOURNAL_FILE_BYTES`, then written from its start, so each sync also commits the blocks the
//! write allocated; when the next write would pass its end, the probe starts a new file (the
//! journal's rotation), outside the timed part.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use hdrhistogram::Histogram;
use serde::Serialize;

use super::report::{new_histogram, Percentiles};
use super::LoadError;

/// The store engine's journal file size (fjall preallocates 32 MiB a journal).
pub const JOURNAL_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// Most syncs one probe makes (about three hours at the default pace).
pub const SYNCS_MAX: u64 = 10_000_000;

/// Largest write before each sync: far above a commit group's few kilobytes.
pub const WRITE_BYTES_MAX: usize = 1024 * 1024;

/// Longest pause between two syncs' starts: one minute.
pub const INTERVAL_US_MAX: u64 = 60_000_000;

#[derive(Debug, Clone, Args)]
pub struct DiskOptions {
    /// The directory to probe (the switch's data directory, which must exist); the probe's
    /// file is made in it and removed at the end.
    #[arg(long, default_value = "data")]
    pub dir: PathBuf,
    /// How many write + fdatasync pairs to time.
    #[arg(long, default_value_t = 5000)]
    pub syncs: u64,
    /// Bytes written before each sync (a commit group of a few debits writes a few kilobytes).
    #[arg(long, default_value_t = 4096)]
    pub bytes: usize,
    /// Microseconds from one sync's start to the next's (0: back to back). A sync that takes
    /// longer delays the next, as a busy switch's flushes follow each other.
    #[arg(long, default_value_t = 1000)]
    pub interval_us: u64,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// What a probe measured.
#[derive(Debug, Clone, Serialize)]
pub struct DiskResults {
    pub dir: PathBuf,
    pub syncs: u64,
    pub bytes: usize,
    pub interval_us: u64,
    /// Journal-like files the probe filled and replaced.
    pub files: u64,
    /// Each write + `fdatasync`, in milliseconds.
    pub latency_ms: Percentiles,
    /// Syncs that took longer than 1 ms, 5 ms and 10 ms.
    pub over_1_ms: u64,
    pub over_5_ms: u64,
    pub over_10_ms: u64,
}

impl DiskResults {
    /// The summary as `load disk` prints it.
    pub fn text(&self) -> String {
        let latency = &self.latency_ms;
        format!(
            "disk: {} syncs of {} bytes, one every {} us, in {} ({} journal-like file(s) of {} \
             MiB)\nwrite + fdatasync ms: p50 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}\nover \
             1 ms: {}  over 5 ms: {}  over 10 ms: {}\n",
            self.syncs,
            self.bytes,
            self.interval_us,
            self.dir.display(),
            self.files,
            JOURNAL_FILE_BYTES / (1024 * 1024),
            latency.p50,
            latency.p99,
            latency.p999,
            latency.max,
            self.over_1_ms,
            self.over_5_ms,
            self.over_10_ms,
        )
    }
}

/// Checks the options' limits before anything is written.
pub fn check(options: &DiskOptions) -> Result<(), LoadError> {
    if options.syncs == 0 || options.syncs > SYNCS_MAX {
        return Err(LoadError::new(format!("--syncs must be 1 to {SYNCS_MAX}")));
    }
    if options.bytes == 0 || options.bytes > WRITE_BYTES_MAX {
        return Err(LoadError::new(format!("--bytes must be 1 to {WRITE_BYTES_MAX}")));
    }
    if options.interval_us > INTERVAL_US_MAX {
        return Err(LoadError::new(format!("--interval-us must be at most {INTERVAL_US_MAX}")));
    }
    if !options.dir.is_dir() {
        return Err(LoadError::new(format!("{} is not a directory", options.dir.display())));
    }
    Ok(())
}

/// The journal-like file being written, removed when dropped.
struct ProbeFile {
    path: PathBuf,
    file: File,
    written_bytes: u64,
}

impl ProbeFile {
    fn create(dir: &Path, serial: u64) -> Result<ProbeFile, LoadError> {
        let path = dir.join(format!(".cardswitch-disk-probe-{}-{serial}", std::process::id()));
        let failed = |error: std::io::Error| {
            LoadError::new(format!("cannot prepare {}: {error}", path.display()))
        };
        let file =
            std::fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(failed)?;
        let probe = ProbeFile { path: path.clone(), file, written_bytes: 0 };
        probe.file.set_len(JOURNAL_FILE_BYTES).map_err(failed)?;
        probe.file.sync_all().map_err(failed)?;
        Ok(probe)
    }

    fn has_room(&self, bytes: usize) -> bool {
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        self.written_bytes.saturating_add(bytes) <= JOURNAL_FILE_BYTES
    }

    /// One timed write + `fdatasync`.
    fn write_and_sync(&mut self, buffer: &[u8]) -> Result<Duration, LoadError> {
        let started = Instant::now();
        self.file
            .write_all(buffer)
            .and_then(|()| self.file.sync_data())
            .map_err(|error| LoadError::new(format!("{}: {error}", self.path.display())))?;
        let took = started.elapsed();
        self.written_bytes =
            self.written_bytes.saturating_add(u64::try_from(buffer.len()).unwrap_or(u64::MAX));
        Ok(took)
    }
}

impl Drop for ProbeFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Checks the options, then runs the probe (blocking: it sleeps between syncs).
pub fn probe(options: &DiskOptions) -> Result<DiskResults, LoadError> {
    check(options)?;
    let buffer = vec![0x5a_u8; options.bytes];
    let interval = Duration::from_micros(options.interval_us);
    let mut histogram = new_histogram();
    let mut files = 1;
    let mut file = ProbeFile::create(&options.dir, files)?;
    let mut next_due = Instant::now();
    for _ in 0..options.syncs {
        if !file.has_room(options.bytes) {
            files += 1;
            file = ProbeFile::create(&options.dir, files)?;
            next_due = Instant::now();
        }
        if let Some(wait) = next_due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        // The next sync is due one interval after this one starts, or after it was due if
        // it starts on time: a slow sync delays the next rather than bunching those after it.
        let now = Instant::now();
        next_due = next_due.max(now).checked_add(interval).unwrap_or(now);
        let took = file.write_and_sync(&buffer)?;
        record(&mut histogram, took);
    }
    drop(file);
    Ok(results(options, files, &histogram))
}

fn record(histogram: &mut Histogram<u64>, took: Duration) {
    let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
    histogram.saturating_record(micros);
}

fn results(options: &DiskOptions, files: u64, histogram: &Histogram<u64>) -> DiskResults {
    let over = |ms: u64| histogram.count_between(ms * 1000 + 1, u64::MAX);
    DiskResults {
        dir: options.dir.clone(),
        syncs: histogram.len(),
        bytes: options.bytes,
        interval_us: options.interval_us,
        files,
        latency_ms: Percentiles::of(histogram),
        over_1_ms: over(1),
        over_5_ms: over(5),
        over_10_ms: over(10),
    }
}

/// `cardswitch load disk`: probes, prints the summary and writes the JSON if asked.
pub fn run(options: &DiskOptions) -> Result<DiskResults, LoadError> {
    let results = probe(options)?;
    print!("{}", results.text());
    if let Some(path) = &options.json {
        let text = serde_json::to_string_pretty(&results)
            .map_err(|error| LoadError::new(format!("cannot encode the results: {error}")))?;
        std::fs::write(path, text)
            .map_err(|error| LoadError::new(format!("cannot write {}: {error}", path.display())))?;
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(dir: &Path, syncs: u64, bytes: usize) -> DiskOptions {
        DiskOptions { dir: dir.to_path_buf(), syncs, bytes, interval_us: 0, json: None }
    }

    #[test]
    fn times_every_sync_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let results = probe(&options(dir.path(), 25, 512)).unwrap();
        assert_eq!(results.syncs, 25);
        assert_eq!(results.files, 1);
        assert!(results.latency_ms.p50 > 0.0 && results.latency_ms.max >= results.latency_ms.p99);
        assert!(results.over_10_ms <= results.over_5_ms && results.over_5_ms <= results.over_1_ms);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the probe's files are gone");
    }

    #[test]
    fn starts_a_new_file_when_one_is_full() {
        let dir = tempfile::tempdir().unwrap();
        // Writes of the largest size: one more than a file holds needs a second file.
        let per_file = JOURNAL_FILE_BYTES / u64::try_from(WRITE_BYTES_MAX).unwrap();
        let results = probe(&options(dir.path(), per_file + 1, WRITE_BYTES_MAX)).unwrap();
        assert_eq!((results.syncs, results.files), (per_file + 1, 2));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn refuses_options_out_of_bounds_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        for bad in [
            options(dir.path(), 0, 10),
            options(dir.path(), SYNCS_MAX + 1, 10),
            options(dir.path(), 1, 0),
            options(dir.path(), 1, WRITE_BYTES_MAX + 1),
            DiskOptions { interval_us: INTERVAL_US_MAX + 1, ..options(dir.path(), 1, 10) },
            options(&dir.path().join("missing"), 1, 10),
        ] {
            assert!(probe(&bad).is_err(), "{bad:?}");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
