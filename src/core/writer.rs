//! The single writer: the only thread that changes state. It takes every queued command (up to
//! the group limit), decides each against a working copy of the state and applies the whole
//! group to the store as one batch; the syncer (`syncer.rs`) then makes it durable with one
//! flush, publishes the new state, and only then answers (pipelined group commit: the writer
//! decides the next group while the last one flushes). Nothing is acknowledged before it is
//! durable.
//!
//! When storage fails the writer keeps two things true. What it decides against equals what
//! the store holds: a group that was applied but not flushed stays in its state, because the
//! engine may still persist it, and a retry must find it (an RRN, a request id, a ticket runs
//! at most once). Readers see only what is durable: that state is published once a flush
//! succeeds. After any failed apply or flush the switch is degraded: each next group first
//! tries a flush, and until one succeeds every command is refused unapplied (`NotStored`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, oneshot};

use super::balance_snapshot::Snapshotter;
use super::command::Command;
use super::execute::{GroupContext, GroupWrites};
use super::indexes::{Indexes, Postings};
use super::keys::MasterKey;
use super::nonce_keys::NonceKeys;
use super::rrn_index::{RecentRrns, RrnLookup};
use super::state::{NonceRecord, State};
use super::syncer::{timed_flush, Answer, AppliedGroup, Reply, Settle, Syncer};
use super::{CoreError, WalletSettings};
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::store::{Batch, Store, StoreError};

/// Applied groups that may wait for the syncer before the writer waits too: enough to keep
/// deciding through a slow flush, few enough to bound the states held.
const GROUPS_UNFLUSHED_MAX: usize = 64;

/// A unit of work for the writer.
pub enum Job {
    Execute {
        command: Box<Command>,
        nonce: Option<NonceRecord>,
        reply: Reply,
    },
    /// Finish what is queued before it, flush, and stop.
    Stop {
        reply: oneshot::Sender<Result<(), CoreError>>,
    },
}

/// What the writer needs, moved onto its thread.
pub struct Writer {
    pub receiver: mpsc::Receiver<Job>,
    pub published: Arc<ArcSwap<State>>,
    pub store: Store,
    /// Where published groups' postings go (after a failed flush, once one succeeds).
    pub indexes: Arc<Indexes>,
    pub keys: MasterKey,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub group_commands_max: usize,
    pub wallet_settings: WalletSettings,
    /// Nonces older than this are dropped from the store as the writer goes.
    pub nonce_retention_ms: i64,
    /// The keys of the stored nonce records, so expired ones are deleted without a search: an
    /// LSM store keeps a deleted key as a tombstone until a compaction drops it, and a search
    /// from the keyspace's start stepped over every nonce ever pruned (a million-card populate
    /// slowed to a few requests a second).
    pub nonce_keys: NonceKeys,
    /// What the store holds, applied groups included: the state each group is decided
    /// against. Ahead of `published` while applied groups wait for their flush.
    pub current: Arc<State>,
    /// The RRNs of applied groups the RRN index does not hold yet (`rrn_index.rs`): with the
    /// index, what an RRN is looked up in.
    pub recent_rrns: RecentRrns,
    /// An apply or flush failed and no flush has succeeded since: refuse, do not decide.
    pub degraded: bool,
}

impl Writer {
    /// Runs until a `Stop` job arrives or every sender is gone; then lets the syncer finish
    /// and joins it.
    pub fn run(mut self, pipeline: Pipeline) {
        let stop = self.commit_until_stopped(&pipeline);
        pipeline.wait_until_settled();
        let flushed = timed_flush(&self.store, &self.metrics).map_err(CoreError::from);
        if let Err(error) = &flushed {
            tracing::error!(%error, "flush at writer exit failed");
        }
        if let Some(stop) = stop {
            let _ = stop.send(flushed);
        }
        pipeline.close();
    }

    /// Commits groups until a `Stop` job (returned) or the end of the queue.
    fn commit_until_stopped(
        &mut self,
        pipeline: &Pipeline,
    ) -> Option<oneshot::Sender<Result<(), CoreError>>> {
        let mut group = Vec::with_capacity(self.group_commands_max);
        while let Some(first) = self.receiver.blocking_recv() {
            group.push(first);
            while group.len() < self.group_commands_max {
                match self.receiver.try_recv() {
                    Ok(job) => group.push(job),
                    Err(_) => break,
                }
            }
            if let Some(stop) = self.commit_group(&mut group, pipeline) {
                return Some(stop);
            }
        }
        None
    }

    /// Decides and applies one group and hands it to the syncer; returns the reply channel of
    /// a `Stop` job found in it.
    fn commit_group(
        &mut self,
        group: &mut Vec<Job>,
        pipeline: &Pipeline,
    ) -> Option<oneshot::Sender<Result<(), CoreError>>> {
        if pipeline.failed.swap(false, Ordering::AcqRel) {
            self.degraded = true;
        }
        if let Err(error) = self.recover(pipeline) {
            return self.refuse(group, &error);
        }
        self.recent_rrns.forget_indexed(self.indexes.rrns.added_below());
        let now_ms = self.clock.now_ms();
        let first_new = FirstNew {
            transaction: self.current.next_transaction_id,
            tranlog: self.current.next_tranlog_id,
        };
        let mut working: State = State::clone(&self.current);
        let mut batch = Batch::new();
        let mut written = GroupWrites::default();
        let mut answers: Vec<Answer> = Vec::with_capacity(group.len());
        let mut stop = None;
        let mut context = GroupContext {
            state: &mut working,
            batch: &mut batch,
            written: &mut written,
            store: &self.store,
            rrns: RrnLookup { index: &self.indexes.rrns, recent: &self.recent_rrns },
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
                    answers.push((reply, result));
                }
                Job::Stop { reply } => stop = Some(reply),
            }
        }
        // Without its nonces the group could be replayed after a restart: then none of it is
        // written (the failure counts as not applied).
        let nonces_recorded = context.record_nonces(nonces);
        let nonces_pruned = self.prune_nonces(&mut batch, now_ms);
        batch.coalesce();
        self.metrics
            .commit_group_commands
            .observe(f64::from(u32::try_from(answers.len()).unwrap_or(u32::MAX)));
        match nonces_recorded.and_then(|key| self.apply(&batch).map(|()| key)) {
            Ok(nonce_key) => {
                self.current = Arc::new(working);
                self.nonce_keys.forget_oldest(nonces_pruned);
                if let Some(key) = nonce_key {
                    self.nonce_keys.insert(key);
                }
                let state = Arc::clone(&self.current);
                let postings = new_postings(&written, first_new);
                self.recent_rrns.remember(&postings.rrns);
                pipeline.hand_over(AppliedGroup {
                    state,
                    answers,
                    wrote: !batch.is_empty(),
                    postings,
                });
            }
            Err(error) => self.fail_apply(&error, answers),
        }
        stop
    }

    /// Applies a group's batch to the store (not yet durable: the syncer flushes it).
    fn apply(&self, batch: &Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        self.store.apply(batch)?;
        self.metrics.commit_apply_seconds.observe(started.elapsed().as_secs_f64());
        self.metrics.commit_groups.inc();
        self.metrics.store_records_written.inc_by(u64::try_from(batch.len()).unwrap_or(u64::MAX));
        self.metrics.store_bytes_written.inc_by(u64::try_from(batch.bytes()).unwrap_or(u64::MAX));
        Ok(())
    }

    /// Answers every request of a group the store refused with an error (nothing of it was
    /// written: the state stays as it was) and degrades the switch. Logged here once per group
    /// (each dialect logs its own answers).
    fn fail_apply(&mut self, error: &StoreError, answers: Vec<Answer>) {
        self.degraded = true;
        self.metrics.commit_failures.inc();
        self.metrics.store_degraded.store(true, Ordering::Relaxed);
        tracing::error!(%error, commands = answers.len(),
            "commit group failed: not applied; its requests are answered with an error and changes are refused until a flush succeeds");
        let message = error.to_string();
        for (reply, _) in answers {
            let _ = reply.send(Err(CoreError::NotStored(message.clone())));
        }
    }

    /// While degraded, waits for the syncer to settle what it holds and tries a flush: once one
    /// succeeds every applied group is durable, the writer's state is published and changes
    /// are taken again.
    fn recover(&mut self, pipeline: &Pipeline) -> Result<(), StoreError> {
        if !self.degraded {
            return Ok(());
        }
        // The syncer publishes what it flushes; it must be done before this publishes a newer
        // state, or it could publish an older one after it.
        pipeline.wait_until_settled();
        timed_flush(&self.store, &self.metrics)?;
        // Every group the syncer failed on is durable now, with this flush.
        pipeline.failed.store(false, Ordering::Release);
        self.degraded = false;
        // Deletions of a failed group may not have reached the disk: read the keys again.
        self.nonce_keys.invalidate();
        self.metrics.store_degraded.store(false, Ordering::Relaxed);
        self.indexes.release_held();
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

    /// Deletes a bounded number of expired nonce records with the group's batch; returns how
    /// many, to forget once the batch is applied.
    fn prune_nonces(&mut self, batch: &mut Batch, now_ms: i64) -> usize {
        const NONCES_PRUNED_PER_GROUP_MAX: usize = 64;
        if self.nonce_keys.needs_reload() {
            match NonceKeys::load(&self.store, self.nonce_keys.keys_max()) {
                Ok(keys) => self.nonce_keys = keys,
                // Nothing is lost: the records stay until a later group reads the keys.
                Err(error) => tracing::warn!(%error, "reading the stored nonce keys failed"),
            }
        }
        let expired = self
            .nonce_keys
            .expired(now_ms.saturating_sub(self.nonce_retention_ms), NONCES_PRUNED_PER_GROUP_MAX);
        let count = expired.len();
        for key in expired {
            batch.delete(key);
        }
        count
    }
}

/// The first ids a group's new records get: records below them are rewritten ones (a reversed
/// original, a voided tranlog), indexed already.
#[derive(Debug, Clone, Copy)]
struct FirstNew {
    transaction: u64,
    tranlog: u64,
}

/// The index postings of the transactions and tranlog records a group created, in id order.
fn new_postings(written: &GroupWrites, first_new: FirstNew) -> Postings {
    let mut transactions: Vec<&Arc<crate::ledger::Transaction>> = written
        .transactions
        .values()
        .filter(|transaction| transaction.id >= first_new.transaction)
        .collect();
    transactions.sort_unstable_by_key(|transaction| transaction.id);
    let mut tranlogs: Vec<&Arc<super::tranlog::Tranlog>> =
        written.tranlogs.values().filter(|tranlog| tranlog.id >= first_new.tranlog).collect();
    tranlogs.sort_unstable_by_key(|tranlog| tranlog.id);
    let mut postings = Postings {
        entries: transactions
            .into_iter()
            .flat_map(|transaction| super::entry_index::indexed_entries(transaction))
            .collect(),
        tranlogs: Vec::with_capacity(tranlogs.len()),
        rrns: written
            .rrns
            .iter()
            .flat_map(|(key, ids)| ids.iter().map(|id| super::tranlog_index::record(*key, *id)))
            .collect(),
    };
    postings.rrns.sort_unstable_by_key(|posting| posting.position.transaction_id);
    for tranlog in tranlogs {
        super::tranlog_index::indexed_tranlog(tranlog, &mut postings.tranlogs);
    }
    postings
}

/// The writer's end of the syncer.
pub struct Pipeline {
    to_syncer: SyncSender<Settle>,
    /// Raised by the syncer when a flush failed.
    failed: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
    syncer_thread: JoinHandle<()>,
}

impl Pipeline {
    /// Starts the syncer thread, which flushes `store`, publishes into `published` and offers
    /// what it publishes to `snapshots`.
    pub fn start(
        store: Store,
        indexes: Arc<Indexes>,
        published: Arc<ArcSwap<State>>,
        metrics: Arc<Metrics>,
        snapshots: Snapshotter,
    ) -> Result<Pipeline, CoreError> {
        let (to_syncer, receiver) = sync_channel(GROUPS_UNFLUSHED_MAX);
        let failed = Arc::new(AtomicBool::new(false));
        let syncer = Syncer {
            receiver,
            store,
            indexes,
            published,
            metrics: Arc::clone(&metrics),
            failed: Arc::clone(&failed),
            snapshots,
        };
        let syncer_thread = super::spawn_logging_here("cardswitch-sync", move || syncer.run())?;
        Ok(Pipeline { to_syncer, failed, metrics, syncer_thread })
    }

    /// Lets the syncer finish what it holds and joins it.
    fn close(self) {
        drop(self.to_syncer);
        if self.syncer_thread.join().is_err() {
            tracing::error!("the syncer thread panicked");
        }
    }

    /// Hands an applied group to the syncer, which answers it once it is durable.
    fn hand_over(&self, group: AppliedGroup) {
        let commands = i64::try_from(group.answers.len()).unwrap_or(i64::MAX);
        self.metrics.commit_commands_unflushed.inc_by(commands);
        if let Err(returned) = self.to_syncer.send(Settle::Group(group)) {
            // Only if the syncer thread died: nothing can be made durable any more.
            self.metrics.commit_commands_unflushed.dec_by(commands);
            if let Settle::Group(group) = returned.0 {
                tracing::error!("the syncer is gone; a commit group is answered with an error");
                for (reply, _) in group.answers {
                    let _ =
                        reply.send(Err(CoreError::CommitFailed("the syncer stopped".to_owned())));
                }
            }
        }
    }

    /// Returns once every group handed over so far is flushed (or failed) and answered.
    fn wait_until_settled(&self) {
        let (done, settled) = sync_channel(1);
        if self.to_syncer.send(Settle::Barrier(done)).is_ok() {
            let _ = settled.recv();
        }
    }
}
