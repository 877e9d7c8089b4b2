//! The open loop's pacer: one thread that releases every connection's requests at their due
//! times. Each connection used to wait for its own due time in its task (tokio's timer to
//! within its millisecond tick, then yielding until the time came): with 128 connections most
//! of them were always spinning, the generator's core was 83-86% busy at 8,000-12,000
//! requests/s (`clock_gettime` alone 14% of it), and a busy generator reads answers late,
//! which an open loop counts against the switch. A thread that sleeps to each due time costs
//! a wake-up per request instead, and is late only by the kernel's timer slack.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::LoadError;

/// Longest the pacer sleeps before it looks whether the run was dropped.
const NAP_MAX: Duration = Duration::from_millis(20);

/// An open-loop connection's due times: its share of one schedule at `rate` for the run.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Time between two of this connection's requests.
    period: Duration,
    /// This connection's first request is due `offset` after the start.
    offset: Duration,
}

impl Schedule {
    pub fn new(rate_per_s: f64, connection: usize, connections: usize) -> Schedule {
        let spacing = Duration::from_secs_f64(1.0 / rate_per_s);
        let (connection, connections) =
            (u32::try_from(connection).unwrap_or(0), u32::try_from(connections).unwrap_or(1));
        Schedule { period: spacing * connections, offset: spacing * connection }
    }

    /// When request `sequence` (from 0) of this connection is due.
    pub fn due(self, start: Instant, sequence: u32) -> Instant {
        start + self.offset + self.period * sequence
    }
}

/// An open-loop connection's due times, and the gate it waits on for each.
pub struct Paced {
    pub schedule: Schedule,
    pub gate: Arc<Semaphore>,
}

/// Releases request `sequence` of connection `c` (one permit of `gates[c]`) at
/// `schedules[c].due(start, sequence)`, for every due time before `end`, in due order.
pub struct Pacer {
    schedules: Vec<Schedule>,
    gates: Vec<Arc<Semaphore>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Pacer {
    /// Starts the pacer of `connections` connections sharing one schedule at `rate_per_s`.
    pub fn start(
        rate_per_s: f64,
        connections: usize,
        start: Instant,
        end: Instant,
    ) -> Result<Pacer, LoadError> {
        let schedules: Vec<_> = (0..connections)
            .map(|connection| Schedule::new(rate_per_s, connection, connections))
            .collect();
        let gates: Vec<_> = schedules.iter().map(|_| Arc::new(Semaphore::new(0))).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_schedules, thread_gates) = (schedules.clone(), gates.clone());
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("load-pacer".to_owned())
            .spawn(move || release(&thread_schedules, &thread_gates, start, end, &thread_stop))
            .map_err(|error| LoadError::new(format!("cannot start the pacer: {error}")))?;
        Ok(Pacer { schedules, gates, stop, thread: Some(thread) })
    }

    /// Connection `connection`'s schedule and gate.
    pub fn paced(&self, connection: usize) -> Option<Paced> {
        let schedule = *self.schedules.get(connection)?;
        Some(Paced { schedule, gate: Arc::clone(self.gates.get(connection)?) })
    }
}

impl Drop for Pacer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The pacer's loop: due times are in order of `sequence * connections + connection`.
fn release(
    schedules: &[Schedule],
    gates: &[Arc<Semaphore>],
    start: Instant,
    end: Instant,
    stop: &AtomicBool,
) {
    let connections = schedules.len().max(1);
    let mut next = 0_usize;
    while !stop.load(Ordering::Relaxed) {
        let connection = next % connections;
        let sequence = u32::try_from(next / connections).unwrap_or(u32::MAX);
        let (Some(schedule), Some(gate)) = (schedules.get(connection), gates.get(connection))
        else {
            return;
        };
        let due = schedule.due(start, sequence);
        if due >= end {
            return;
        }
        let now = Instant::now();
        if due > now {
            std::thread::sleep((due - now).min(NAP_MAX));
            continue;
        }
        gate.add_permits(1);
        next = next.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_loop_schedule_interleaves_the_connections() {
        let start = Instant::now();
        let due = |connection, sequence| {
            Schedule::new(100.0, connection, 4).due(start, sequence).duration_since(start)
        };
        // 100/s over 4 connections: one due every 10 ms, each connection every 40 ms.
        assert_eq!(due(0, 0), Duration::ZERO);
        assert_eq!(due(1, 0), Duration::from_millis(10));
        assert_eq!(due(3, 0), Duration::from_millis(30));
        assert_eq!(due(0, 1), Duration::from_millis(40));
        assert_eq!(due(2, 5), Duration::from_millis(220));
    }

    /// Every request is released, none before it is due, and nothing due at or after the end.
    #[tokio::test]
    async fn the_pacer_releases_each_due_request_once_and_not_before_it_is_due() {
        let connections = 3;
        let start = Instant::now() + Duration::from_millis(5);
        let end = start + Duration::from_millis(61);
        let pacer = Pacer::start(1_000.0, connections, start, end).unwrap();
        let waits = (0..connections).map(|connection| {
            let Paced { schedule, gate } = pacer.paced(connection).unwrap();
            tokio::spawn(async move {
                let mut sequence = 0;
                while schedule.due(start, sequence) < end {
                    gate.acquire().await.unwrap().forget();
                    assert!(Instant::now() >= schedule.due(start, sequence), "released early");
                    sequence += 1;
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
                (sequence, gate.available_permits())
            })
        });
        for (connection, wait) in waits.enumerate() {
            let (released, left) = wait.await.unwrap();
            // 61 ms at 1,000/s over 3 connections: the first has dues at 0, 3, ... 60 ms.
            assert_eq!(released, [21, 20, 20][connection]);
            assert_eq!(left, 0, "a request past the end was released");
        }
        drop(pacer);
    }
}
