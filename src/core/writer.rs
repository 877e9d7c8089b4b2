//! The single writer: the only thread that changes state. It takes every queued command (up to
//! the group limit), decides each against a working copy of the state, writes the whole group
//! as one batch, makes it durable with one flush, publishes the new state, and only then
//! answers (group commit). Nothing is acknowledged before it is durable.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, oneshot};

use super::command::{Command, Outcome};
use super::execute::{GroupContext, GroupWrites};
use super::keys::MasterKey;
use super::state::{NonceRecord, State};
use super::{CoreError, WalletSettings};
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::store::{schema, Batch, Store};

/// A unit of work for the writer.
pub enum Job {
    Execute {
        command: Box<Command>,
        nonce: Option<NonceRecord>,
        reply: oneshot::Sender<Result<Outcome, CoreError>>,
    },
    /// Finish what is queued before it, flush, and stop.
    Stop { reply: oneshot::Sender<Result<(), CoreError>> },
}

/// What the writer needs, moved onto its thread.
pub struct Writer {
    pub receiver: mpsc::Receiver<Job>,
    pub published: Arc<ArcSwap<State>>,
    pub store: Store,
    pub keys: MasterKey,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub group_commands_max: usize,
    pub wallet_settings: WalletSettings,
    /// Nonces older than this are dropped from the store as the writer goes.
    pub nonce_retention_ms: i64,
}

type Reply = oneshot::Sender<Result<Outcome, CoreError>>;

impl Writer {
    /// Runs until a `Stop` job arrives or every sender is gone.
    pub fn run(mut self) {
        let mut group = Vec::with_capacity(self.group_commands_max);
        while let Some(first) = self.receiver.blocking_recv() {
            group.push(first);
            while group.len() < self.group_commands_max {
                match self.receiver.try_recv() {
                    Ok(job) => group.push(job),
                    Err(_) => break,
                }
            }
            if let Some(stop) = self.commit_group(&mut group) {
                let _ = stop.send(self.store.flush().map_err(CoreError::from));
                return;
            }
        }
        if let Err(error) = self.store.flush() {
            tracing::error!(%error, "flush at writer exit failed");
        }
    }

    /// Commits one group; returns the reply channel of a `Stop` job found in it.
    fn commit_group(
        &mut self,
        group: &mut Vec<Job>,
    ) -> Option<oneshot::Sender<Result<(), CoreError>>> {
        let now_ms = self.clock.now_ms();
        let mut working: State = State::clone(&self.published.load());
        let mut batch = Batch::new();
        let mut written = GroupWrites::default();
        let mut replies: Vec<(Reply, Result<Outcome, CoreError>)> = Vec::with_capacity(group.len());
        let mut stop = None;
        let mut context = GroupContext {
            state: &mut working,
            batch: &mut batch,
            written: &mut written,
            store: &self.store,
            keys: &self.keys,
            settings: &self.wallet_settings,
            now_ms,
        };
        let mut nonces = Vec::new();
        for job in group.drain(..) {
            match job {
                Job::Execute { command, nonce, reply } => {
                    let result = context.execute(*command);
                    if let (Ok(_), Some(nonce)) = (&result, nonce) {
                        nonces.push(nonce);
                    }
                    replies.push((reply, result));
                }
                Job::Stop { reply } => stop = Some(reply),
            }
        }
        // Without its nonces the group could be replayed after a restart: then none of it is
        // written (the failure counts as not applied).
        let nonces_recorded = context
            .record_nonces(&nonces)
            .map_err(|error| DurabilityFailure { applied: false, error });
        self.prune_nonces(&mut batch, now_ms);
        batch.coalesce();
        let commands = replies.len();
        match nonces_recorded.and_then(|()| self.make_durable(&batch)) {
            Ok(()) => self.published.store(Arc::new(working)),
            Err(DurabilityFailure { applied, error }) => {
                // Applied but not flushed: the store's view includes the group, so the state
                // must too, or the next group would decide against a stale copy.
                if applied {
                    self.published.store(Arc::new(working));
                }
                tracing::error!(%error, commands, "commit group failed; its requests are answered with an error");
                for (_, result) in &mut replies {
                    *result = Err(CoreError::CommitFailed(error.to_string()));
                }
            }
        }
        self.metrics
            .commit_group_commands
            .observe(f64::from(u32::try_from(commands).unwrap_or(u32::MAX)));
        for (reply, result) in replies {
            // A caller that gave up (timeout, disconnect) no longer listens; that is fine.
            let _ = reply.send(result);
        }
        stop
    }

    fn make_durable(&self, batch: &Batch) -> Result<(), DurabilityFailure> {
        if batch.is_empty() {
            return Ok(());
        }
        self.store
            .apply(batch)
            .map_err(|error| DurabilityFailure { applied: false, error: error.into() })?;
        self.metrics.commit_groups.inc();
        self.metrics.store_records_written.inc_by(u64::try_from(batch.len()).unwrap_or(u64::MAX));
        self.metrics.store_bytes_written.inc_by(u64::try_from(batch.bytes()).unwrap_or(u64::MAX));
        let started = Instant::now();
        let flushed = self.store.flush();
        self.metrics.commit_flush_seconds.observe(started.elapsed().as_secs_f64());
        match flushed {
            Ok(()) => {
                self.metrics.commit_flushes.inc();
                self.metrics.store_degraded.store(false, Ordering::Relaxed);
                Ok(())
            }
            Err(error) => {
                self.metrics.commit_failures.inc();
                self.metrics.store_degraded.store(true, Ordering::Relaxed);
                Err(DurabilityFailure { applied: true, error: error.into() })
            }
        }
    }

    /// Deletes a bounded number of expired nonce records with the group's batch.
    fn prune_nonces(&self, batch: &mut Batch, now_ms: i64) {
        const NONCES_PRUNED_PER_GROUP_MAX: usize = 64;
        let (start, end) = schema::nonces_before(now_ms.saturating_sub(self.nonce_retention_ms));
        let expired = self
            .store
            .scan_range::<serde::de::IgnoredAny>(&start, &end, false)
            .take(NONCES_PRUNED_PER_GROUP_MAX);
        for (key, _) in expired.flatten() {
            batch.delete(key);
        }
    }
}

struct DurabilityFailure {
    applied: bool,
    error: CoreError,
}
