//! A storage engine that fails on demand: it wraps another engine and makes its next applies
//! or flushes (or all of them while set) fail with an ordinary I/O error or a full disk, so
//! tests can prove what the writer does when storage fails. It can also hold the next call
//! until released, so that a test can queue requests behind it and fail one whole commit
//! group. Reads always pass through.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use super::{Engine, KeyValueIter, StoreError, WriteOp};

/// The engine operation a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultOp {
    /// `apply`: the batch is refused and nothing of it is written.
    Apply,
    /// `flush`: the batch (already applied) is not confirmed durable.
    Flush,
}

/// The error an injected fault returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// An ordinary I/O error (EIO-like).
    Io,
    /// No space left on device (ENOSPC).
    DiskFull,
}

impl FaultKind {
    fn error(self) -> StoreError {
        let error = match self {
            FaultKind::Io => std::io::Error::other("input/output error (injected fault)"),
            FaultKind::DiskFull => std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "no space left on device (injected fault)",
            ),
        };
        StoreError::from_io(&error)
    }
}

/// How many calls of an operation fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failures {
    /// The next `n` calls, then the fault clears itself.
    Next(u64),
    /// Every call until `FaultHandle::clear`.
    Always,
}

#[derive(Debug, Default)]
struct Plan {
    failures: Option<(Failures, FaultKind)>,
}

impl Plan {
    /// The error for this call, if it is to fail; counts a `Next` plan down.
    fn take(&mut self) -> Option<StoreError> {
        let (failures, kind) = self.failures?;
        self.failures = match failures {
            Failures::Always => Some((failures, kind)),
            Failures::Next(left) if left > 1 => Some((Failures::Next(left - 1), kind)),
            Failures::Next(_) => None,
        };
        match failures {
            Failures::Next(0) => None,
            _ => Some(kind.error()),
        }
    }
}

/// Counts of one operation.
#[derive(Debug, Default)]
struct OpCounters {
    /// Calls that reached the wrapped engine.
    passed: AtomicU64,
    /// Calls refused with an injected error.
    injected: AtomicU64,
}

/// A call held until the test releases it.
#[derive(Debug, Default)]
struct Stall {
    /// The operation whose next call (after its fault check) waits.
    armed: Option<FaultOp>,
    /// A call is waiting now.
    holding: bool,
}

#[derive(Debug, Default)]
struct Shared {
    apply: Mutex<Plan>,
    flush: Mutex<Plan>,
    apply_counts: OpCounters,
    flush_counts: OpCounters,
    stall: Mutex<Stall>,
    released: Condvar,
}

impl Shared {
    fn slot(&self, op: FaultOp) -> (&Mutex<Plan>, &OpCounters) {
        match op {
            FaultOp::Apply => (&self.apply, &self.apply_counts),
            FaultOp::Flush => (&self.flush, &self.flush_counts),
        }
    }
}

/// The test's side of a `FaultEngine`: sets and clears faults, counts calls. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct FaultHandle {
    shared: Arc<Shared>,
}

impl FaultHandle {
    /// Makes `failures` calls of `op` fail with `kind` (replacing what was set for `op`).
    pub fn fail(&self, op: FaultOp, failures: Failures, kind: FaultKind) {
        self.shared.slot(op).0.lock().failures = Some((failures, kind));
    }

    /// Clears every fault: later calls pass through.
    pub fn clear(&self) {
        for op in [FaultOp::Apply, FaultOp::Flush] {
            self.shared.slot(op).0.lock().failures = None;
        }
    }

    /// Holds the next call of `op` that passes its fault check until `release`: it has been
    /// decided (it will reach the wrapped engine) but waits, and the writer with it.
    pub fn hold_next(&self, op: FaultOp) {
        self.shared.stall.lock().armed = Some(op);
    }

    /// True while a call is held.
    pub fn is_holding(&self) -> bool {
        self.shared.stall.lock().holding
    }

    /// Lets a held call (or the next one, if none is held yet) go on.
    pub fn release(&self) {
        self.shared.stall.lock().armed = None;
        self.shared.released.notify_all();
    }

    /// Waits here while the test holds `op`.
    fn wait_if_held(&self, op: FaultOp) {
        let mut stall = self.shared.stall.lock();
        if stall.armed != Some(op) {
            return;
        }
        stall.holding = true;
        while stall.armed == Some(op) {
            self.shared.released.wait(&mut stall);
        }
        stall.holding = false;
    }

    /// Calls of `op` that reached the wrapped engine.
    pub fn passed(&self, op: FaultOp) -> u64 {
        self.shared.slot(op).1.passed.load(Ordering::SeqCst)
    }

    /// Calls of `op` refused with an injected error.
    pub fn injected(&self, op: FaultOp) -> u64 {
        self.shared.slot(op).1.injected.load(Ordering::SeqCst)
    }

    /// Fails this call of `op` with the injected error if a fault is set; counts it either way.
    fn check(&self, op: FaultOp) -> Result<(), StoreError> {
        let (plan, counters) = self.shared.slot(op);
        // Not matched on directly: the plan's lock must be let go before a held call waits.
        let injected = plan.lock().take();
        match injected {
            Some(error) => {
                counters.injected.fetch_add(1, Ordering::SeqCst);
                Err(error)
            }
            None => {
                counters.passed.fetch_add(1, Ordering::SeqCst);
                self.wait_if_held(op);
                Ok(())
            }
        }
    }
}

/// An engine that fails what its `FaultHandle` says and otherwise is the wrapped engine.
pub struct FaultEngine {
    inner: Arc<dyn Engine>,
    handle: FaultHandle,
}

impl FaultEngine {
    /// Wraps `inner`; faults are set through the returned handle.
    pub fn wrap(inner: Arc<dyn Engine>) -> (Arc<FaultEngine>, FaultHandle) {
        let handle = FaultHandle::default();
        (Arc::new(FaultEngine { inner, handle: handle.clone() }), handle)
    }
}

impl Engine for FaultEngine {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }

    fn range(&self, start: &[u8], end: &[u8], reverse: bool) -> KeyValueIter<'_> {
        self.inner.range(start, end, reverse)
    }

    /// A failed apply writes nothing: the fault is decided before the wrapped engine is called.
    fn apply(&self, ops: &[WriteOp]) -> Result<(), StoreError> {
        self.handle.check(FaultOp::Apply)?;
        self.inner.apply(ops)
    }

    /// A failed flush leaves what was applied in the wrapped engine, as a real failed flush
    /// may: the engine can still persist it later (sled flushes on its own in the background).
    fn flush(&self) -> Result<(), StoreError> {
        self.handle.check(FaultOp::Flush)?;
        self.inner.flush()
    }

    fn size_on_disk_bytes(&self) -> Result<u64, StoreError> {
        self.inner.size_on_disk_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SledEngine;

    fn engine() -> (tempfile::TempDir, Arc<FaultEngine>, FaultHandle) {
        let dir = tempfile::tempdir().unwrap();
        let sled: Arc<dyn Engine> = Arc::new(SledEngine::open(dir.path()).unwrap());
        let (engine, handle) = FaultEngine::wrap(sled);
        (dir, engine, handle)
    }

    fn put(key: &[u8]) -> Vec<WriteOp> {
        vec![WriteOp::Put { key: key.to_vec(), value: b"v".to_vec() }]
    }

    #[test]
    fn next_n_fail_then_calls_pass_again() {
        let (_dir, engine, handle) = engine();
        handle.fail(FaultOp::Flush, Failures::Next(2), FaultKind::Io);
        assert!(matches!(engine.flush(), Err(StoreError::Io(_))));
        assert!(matches!(engine.flush(), Err(StoreError::Io(_))));
        engine.flush().unwrap();
        assert_eq!((handle.injected(FaultOp::Flush), handle.passed(FaultOp::Flush)), (2, 1));
    }

    #[test]
    fn a_failed_apply_writes_nothing_and_always_lasts_until_cleared() {
        let (_dir, engine, handle) = engine();
        handle.fail(FaultOp::Apply, Failures::Always, FaultKind::DiskFull);
        for _ in 0..3 {
            let error = engine.apply(&put(b"k")).unwrap_err();
            assert!(error.to_string().contains("the disk is full"), "{error}");
        }
        assert_eq!(engine.get(b"k").unwrap(), None);
        handle.clear();
        engine.apply(&put(b"k")).unwrap();
        assert_eq!(engine.get(b"k").unwrap(), Some(b"v".to_vec()));
        assert_eq!((handle.injected(FaultOp::Apply), handle.passed(FaultOp::Apply)), (3, 1));
    }

    #[test]
    fn a_held_call_waits_for_release_and_then_passes() {
        let (_dir, engine, handle) = engine();
        handle.hold_next(FaultOp::Flush);
        let flusher = std::thread::spawn({
            let engine = Arc::clone(&engine);
            move || engine.flush()
        });
        while !handle.is_holding() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(!flusher.is_finished());
        handle.release();
        flusher.join().unwrap().unwrap();
        assert!(!handle.is_holding());
        engine.flush().unwrap();
    }

    #[test]
    fn a_failed_flush_keeps_what_was_applied() {
        let (_dir, engine, handle) = engine();
        engine.apply(&put(b"k")).unwrap();
        handle.fail(FaultOp::Flush, Failures::Next(1), FaultKind::DiskFull);
        assert!(matches!(engine.flush(), Err(StoreError::DiskFull(_))));
        assert_eq!(engine.get(b"k").unwrap(), Some(b"v".to_vec()));
    }
}
