//! The single writer: the only thread that changes state. It takes every queued command (up to
//! the group limit), decides each against a working copy of the state, writes the whole group
//! as one batch, makes it durable with one flush, publishes the new state, and only then
//! answers (group commit). Nothing is acknowledged before it is durable.
//!
//! When storage fails the writer keeps two things true. What it decides against equals what
//! the store holds: a group that was applied but not flushed stays in its state, because the
//! engine may still persist it, and a retry must find it (an RRN, a request id, a ticket runs
//! at most once). Readers see only what is durable: that state is published once a flush
//! succeeds. After any failed apply or flush the switch is degraded: each next group first
//! tries a flush, and until one succeeds every command is refused unapplied (`NotStored`).

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
use crate::store::{schema, Batch, Store, StoreError};

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
    /// Where the next search for expired nonces starts: just past the last one deleted. Every
    /// key before it is deleted, and an LSM store keeps a deleted key as a tombstone until a
    /// compaction drops it, so a search from the keyspace's start would step over every nonce
    /// ever pruned (it did: a million-card populate slowed to a few requests a second).
    pub nonce_prune_from: Vec<u8>,
    /// What the store holds, applied groups included: the state each group is decided
    /// against. Ahead of `published` only while an applied group waits for a good flush.
    pub current: Arc<State>,
    /// An apply or flush failed and no flush has succeeded since: refuse, do not decide.
    pub degraded: bool,
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
        if let Err(error) = self.recover() {
            return self.refuse(group, &error);
        }
        let now_ms = self.clock.now_ms();
        let mut working: State = State::clone(&self.current);
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
        let nonces_recorded = context.record_nonces(nonces).map_err(DurabilityFailure::NotApplied);
        let nonce_prune_from = self.prune_nonces(&mut batch, now_ms);
        batch.coalesce();
        let commands = replies.len();
        match nonces_recorded.and_then(|()| self.make_durable(&batch)) {
            Ok(()) => {
                self.current = Arc::new(working);
                self.published.store(Arc::clone(&self.current));
                if let Some(from) = nonce_prune_from {
                    self.nonce_prune_from = from;
                }
            }
            Err(failure) => self.fail_group(failure, working, &mut replies),
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

    /// Answers every request of a group whose batch did not become durable with an error,
    /// keeps the group's state as the decision base if the store took the batch, and
    /// degrades the switch. Logged here once per group (each dialect logs its own answers).
    fn fail_group(
        &mut self,
        failure: DurabilityFailure,
        working: State,
        replies: &mut [(Reply, Result<Outcome, CoreError>)],
    ) {
        let (error, applied) = match failure {
            DurabilityFailure::NotApplied(error) => (error, false),
            DurabilityFailure::NotFlushed(error) => (error, true),
        };
        if applied {
            // The engine holds the batch and may persist it yet: decide the next groups
            // against it, so a retry finds what its first attempt wrote and runs once.
            // Readers keep the last durable state until a flush succeeds.
            self.current = Arc::new(working);
        }
        self.degraded = true;
        self.metrics.commit_failures.inc();
        self.metrics.store_degraded.store(true, Ordering::Relaxed);
        tracing::error!(%error, commands = replies.len(), applied,
            "commit group failed; its requests are answered with an error and changes are refused until a flush succeeds");
        let message = error.to_string();
        for (_, result) in replies.iter_mut() {
            *result = Err(if applied {
                CoreError::CommitFailed(message.clone())
            } else {
                CoreError::NotStored(message.clone())
            });
        }
    }

    /// While degraded, tries a flush: once one succeeds every applied group is durable, the
    /// writer's state is published and changes are taken again.
    fn recover(&mut self) -> Result<(), StoreError> {
        if !self.degraded {
            return Ok(());
        }
        self.store.flush()?;
        self.degraded = false;
        self.metrics.commit_flushes.inc();
        self.metrics.store_degraded.store(false, Ordering::Relaxed);
        self.published.store(Arc::clone(&self.current));
        tracing::warn!("the store flushed again; the switch takes changes again");
        Ok(())
    }

    /// Refuses every command of a group unapplied because the store cannot make anything
    /// durable; returns the reply channel of a `Stop` job found in it.
    fn refuse(
        &self,
        group: &mut Vec<Job>,
        error: &StoreError,
    ) -> Option<oneshot::Sender<Result<(), CoreError>>> {
        let message = error.to_string();
        let mut stop = None;
        for job in group.drain(..) {
            match job {
                Job::Execute { reply, .. } => {
                    self.metrics.commands_refused.inc();
                    let _ = reply.send(Err(CoreError::NotStored(message.clone())));
                }
                Job::Stop { reply } => stop = Some(reply),
            }
        }
        tracing::debug!(%error, "store still failing; commands refused");
        stop
    }

    fn make_durable(&self, batch: &Batch) -> Result<(), DurabilityFailure> {
        if batch.is_empty() {
            return Ok(());
        }
        self.store.apply(batch).map_err(DurabilityFailure::NotApplied)?;
        self.metrics.commit_groups.inc();
        self.metrics.store_records_written.inc_by(u64::try_from(batch.len()).unwrap_or(u64::MAX));
        self.metrics.store_bytes_written.inc_by(u64::try_from(batch.bytes()).unwrap_or(u64::MAX));
        let started = Instant::now();
        let flushed = self.store.flush();
        self.metrics.commit_flush_seconds.observe(started.elapsed().as_secs_f64());
        flushed.map_err(DurabilityFailure::NotFlushed)?;
        self.metrics.commit_flushes.inc();
        Ok(())
    }

    /// Deletes a bounded number of expired nonce records with the group's batch; returns where
    /// the next search starts once this batch is durable (`None`: nothing deleted).
    fn prune_nonces(&self, batch: &mut Batch, now_ms: i64) -> Option<Vec<u8>> {
        const NONCES_PRUNED_PER_GROUP_MAX: usize = 64;
        let (start, end) = schema::nonces_before(now_ms.saturating_sub(self.nonce_retention_ms));
        let from = if self.nonce_prune_from > start { &self.nonce_prune_from } else { &start };
        let expired = self
            .store
            .scan_range::<serde::de::IgnoredAny>(from, &end, false)
            .take(NONCES_PRUNED_PER_GROUP_MAX);
        let keys: Vec<Vec<u8>> = expired.flatten().map(|(key, _)| key).collect();
        // The smallest key after the last one deleted.
        let next = keys.last().map(|last| [last.as_slice(), &[0]].concat());
        for key in keys {
            batch.delete(key);
        }
        next
    }
}

/// Why a group's batch is not durable.
enum DurabilityFailure {
    /// The engine refused the batch: none of it was written.
    NotApplied(StoreError),
    /// The batch was applied but the flush failed: the engine may persist it or lose it.
    NotFlushed(StoreError),
}
