//! The run cut into fixed windows of intended send time: each window's slowest latency and
//! request count, to find when a run's tail happened (one stall or many) rather than only
//! how long it was.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::LoadError;

/// Windows a run may be cut into: 100,000 of 8 bytes and 4 per connection, made before the
/// run (as the histograms are, so that no connection allocates while it is measured).
pub const WINDOWS_MAX: u64 = 100_000;

/// One connection's windows, or the run's once merged.
#[derive(Debug, Clone)]
pub struct Timeline {
    window_us: u64,
    slowest_us: Vec<u64>,
    requests: Vec<u32>,
}

impl Timeline {
    /// Windows of `window_ms` over `measured_s` seconds; an error if that is more than
    /// `WINDOWS_MAX` windows or a window under a millisecond.
    pub fn new(window_ms: u64, measured_s: f64) -> Result<Timeline, LoadError> {
        let (window_us, windows) = Timeline::shape(window_ms, measured_s)?;
        Ok(Timeline { window_us, slowest_us: vec![0; windows], requests: vec![0; windows] })
    }

    /// A window's width in microseconds and the count of windows, as `new` would make them
    /// (nothing allocated: an option check).
    pub fn shape(window_ms: u64, measured_s: f64) -> Result<(u64, usize), LoadError> {
        let too_fine = || {
            LoadError::new(format!(
                "--timeline-ms must be at least 1 and cut the measured time into at most \
                 {WINDOWS_MAX} windows"
            ))
        };
        let window_us =
            window_ms.checked_mul(1000).filter(|width| *width > 0).ok_or_else(too_fine)?;
        let measured_us = Duration::try_from_secs_f64(measured_s)
            .ok()
            .and_then(|measured| u64::try_from(measured.as_micros()).ok())
            .ok_or_else(too_fine)?;
        let windows = measured_us.div_ceil(window_us).max(1);
        if windows > WINDOWS_MAX {
            return Err(too_fine());
        }
        let windows = usize::try_from(windows).map_err(|_| too_fine())?;
        Ok((window_us, windows))
    }

    /// A request due `offset` after the measured window began, answered `latency` after it was
    /// due. One due after the last window (the run's end rounds down) counts in the last.
    pub fn record(&mut self, offset: Duration, latency: Duration) {
        let offset_us = u64::try_from(offset.as_micros()).unwrap_or(u64::MAX);
        let last = self.slowest_us.len().saturating_sub(1);
        let index = usize::try_from(offset_us / self.window_us).unwrap_or(last).min(last);
        let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        if let (Some(slowest), Some(requests)) =
            (self.slowest_us.get_mut(index), self.requests.get_mut(index))
        {
            *slowest = (*slowest).max(latency_us);
            *requests = requests.saturating_add(1);
        }
    }

    /// Adds another connection's windows (the same shape) to these.
    pub fn merge(&mut self, other: &Timeline) {
        for (slowest, theirs) in self.slowest_us.iter_mut().zip(&other.slowest_us) {
            *slowest = (*slowest).max(*theirs);
        }
        for (requests, theirs) in self.requests.iter_mut().zip(&other.requests) {
            *requests = requests.saturating_add(*theirs);
        }
    }

    pub fn report(&self) -> TimelineReport {
        TimelineReport {
            window_ms: Duration::from_micros(self.window_us).as_secs_f64() * 1000.0,
            slowest_ms: self
                .slowest_us
                .iter()
                .map(|micros| Duration::from_micros(*micros).as_secs_f64() * 1000.0)
                .collect(),
            requests: self.requests.clone(),
        }
    }
}

/// The timeline as the results carry it.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineReport {
    pub window_ms: f64,
    /// Per window, in order from the start of the measured time: the slowest latency of the
    /// requests due in it (0 for a window without requests).
    pub slowest_ms: Vec<f64>,
    /// Per window: the requests due in it.
    pub requests: Vec<u32>,
}

impl TimelineReport {
    /// A line naming the `count` windows with the slowest requests, slowest first.
    pub fn slowest_windows(&self, count: usize) -> String {
        let mut windows: Vec<(usize, f64)> = self.slowest_ms.iter().copied().enumerate().collect();
        windows.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut line = format!("slowest {} ms windows (from s: slowest ms):", self.window_ms);
        for (index, slowest) in windows.into_iter().take(count) {
            let from_s =
                f64::from(u32::try_from(index).unwrap_or(u32::MAX)) * self.window_ms / 1000.0;
            let _ = write!(line, " {from_s:.2}: {slowest:.1},");
        }
        line.pop();
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn each_window_keeps_its_slowest_request_and_count_across_connections() {
        let mut one = Timeline::new(10, 0.05).unwrap();
        let mut two = Timeline::new(10, 0.05).unwrap();
        one.record(MS * 3, MS * 2);
        one.record(MS * 9, MS * 40);
        two.record(MS * 5, MS * 7);
        two.record(MS * 10, MS);
        // Due at or after the end (the schedule's last request): the last window.
        two.record(MS * 50, MS * 5);
        two.record(Duration::MAX, MS * 6);
        one.merge(&two);
        let report = one.report();
        assert_eq!(report.window_ms, 10.0);
        assert_eq!(report.requests, vec![3, 1, 0, 0, 2]);
        assert_eq!(report.slowest_ms, vec![40.0, 1.0, 0.0, 0.0, 6.0]);
        assert_eq!(
            report.slowest_windows(2),
            "slowest 10 ms windows (from s: slowest ms): 0.00: 40.0, 0.04: 6.0"
        );
    }

    #[test]
    fn a_timeline_too_fine_for_the_run_is_refused() {
        assert!(Timeline::new(0, 10.0).is_err());
        assert!(Timeline::new(1, 100.0).is_ok(), "100,000 windows");
        assert!(Timeline::new(1, 100.002).is_err());
        assert!(Timeline::new(u64::MAX, 10.0).is_err());
        assert_eq!(Timeline::new(1000, 0.1).unwrap().report().requests.len(), 1);
    }
}
