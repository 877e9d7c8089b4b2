//! The syncer: the second half of the pipelined group commit. The writer decides a group and
//! applies its batch, then hands it here and goes on with the next group; the syncer makes
//! every group handed to it since its last flush durable with one flush, then publishes the
//! newest state and answers. So the writer decides while the disk flushes, and nothing is
//! answered before the flush that covers it has succeeded.
//!
//! A failed flush answers every group it covered with an error (they were applied: the engine
//! may persist them yet, and a retry finds them) and raises `failed`, which the writer reads
//! before its next group: it then refuses changes until a flush of its own succeeds.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use tokio::sync::oneshot;

use super::balance_snapshot::Snapshotter;
use super::command::Outcome;
use super::indexes::{Indexes, Postings};
use super::state::State;
use super::CoreError;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// Where one command's answer goes, and the answer decided for it.
pub type Reply = oneshot::Sender<Result<Outcome, CoreError>>;
pub type Answer = (Reply, Result<Outcome, CoreError>);

/// A commit group the writer decided and applied to the store, not yet durable.
pub struct AppliedGroup {
    /// The state with this group (and every group before it) in it.
    pub state: Arc<State>,
    pub answers: Vec<Answer>,
    /// False when the group wrote nothing: it still waits for the flush of the groups before
    /// it, whose state it was decided against.
    pub wrote: bool,
    /// What the transactions and tranlog records it created put in the derived indexes.
    pub postings: Postings,
}

/// What the writer hands the syncer.
pub enum Settle {
    Group(AppliedGroup),
    /// Signalled once every group handed over before it is flushed (or failed) and answered.
    Barrier(SyncSender<()>),
}

/// The syncer's thread state.
pub struct Syncer {
    pub receiver: Receiver<Settle>,
    pub store: Store,
    pub indexes: Arc<Indexes>,
    pub published: Arc<ArcSwap<State>>,
    pub metrics: Arc<Metrics>,
    /// Raised when a flush failed; the writer lowers it when it takes note.
    pub failed: Arc<AtomicBool>,
    /// Takes a published state when a balance snapshot is due (dropped with the syncer: lets
    /// its thread finish the snapshot it writes).
    pub snapshots: Snapshotter,
}

impl Syncer {
    /// Runs until the writer drops its end of the channel.
    pub fn run(mut self) {
        while let Ok(first) = self.receiver.recv() {
            let mut groups = Vec::new();
            let mut barrier = None;
            let mut next = Some(first);
            // Everything handed over so far shares one flush; a barrier ends the take, as the
            // writer waits on it before handing over more.
            while let Some(message) = next.take() {
                match message {
                    Settle::Group(group) => groups.push(group),
                    Settle::Barrier(done) => {
                        barrier = Some(done);
                        break;
                    }
                }
                next = self.receiver.try_recv().ok();
            }
            self.settle(groups);
            if let Some(done) = barrier {
                let _ = done.send(());
            }
        }
    }

    /// Flushes once for `groups`, publishes the newest state if that succeeded, and answers.
    fn settle(&mut self, mut groups: Vec<AppliedGroup>) {
        let Some(state) = groups.last().map(|last| Arc::clone(&last.state)) else {
            return;
        };
        let flushed = if groups.iter().any(|group| group.wrote) { self.flush() } else { Ok(()) };
        // The indexes get a group's postings when its state is published: readers filter what
        // they read from them by the state they hold.
        let postings = groups.iter().map(|group| &group.postings);
        match flushed {
            Ok(()) => {
                self.indexes.add(postings, &self.metrics);
                self.snapshots.offer(&state, false);
                self.published.store(state);
            }
            Err(error) => {
                self.indexes.hold(postings);
                self.fail(&error, &mut groups);
            }
        }
        let mut commands = 0_i64;
        for group in groups {
            for (reply, result) in group.answers {
                commands = commands.saturating_add(1);
                // A caller that gave up (timeout, disconnect) no longer listens; that is fine.
                let _ = reply.send(result);
            }
        }
        self.metrics.commit_commands_unflushed.dec_by(commands);
    }

    fn flush(&self) -> Result<(), StoreError> {
        timed_flush(&self.store, &self.metrics)
    }

    /// Turns every answer of `groups` into the failed flush's error and degrades the switch,
    /// before anyone is answered: a caller that retries at once must find the switch degraded.
    /// Logged here once per flush (each dialect logs its own answers).
    fn fail(&self, error: &StoreError, groups: &mut [AppliedGroup]) {
        self.failed.store(true, Ordering::Release);
        self.metrics.store_degraded.store(true, Ordering::Relaxed);
        let count = u64::try_from(groups.len()).unwrap_or(u64::MAX);
        self.metrics.commit_failures.inc_by(count);
        let commands: usize = groups.iter().map(|group| group.answers.len()).sum();
        tracing::error!(%error, groups = groups.len(), commands,
            "commit group failed: its flush failed; its requests are answered with an error and changes are refused until a flush succeeds");
        let message = error.to_string();
        for (_, result) in groups.iter_mut().flat_map(|group| group.answers.iter_mut()) {
            *result = Err(CoreError::CommitFailed(message.clone()));
        }
    }
}

/// Flushes the store, timed in `commit_flush_seconds` and counted in `commit_flushes` when it
/// succeeds: every flush of the commit path goes through here (the syncer's, and the writer's
/// while it recovers and at exit).
pub(super) fn timed_flush(store: &Store, metrics: &Metrics) -> Result<(), StoreError> {
    let started = Instant::now();
    let flushed = store.flush();
    metrics.commit_flush_seconds.observe(started.elapsed().as_secs_f64());
    flushed?;
    metrics.commit_flushes.inc();
    Ok(())
}
