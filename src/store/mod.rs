//! Persistence: the only module that knows a storage engine exists. Everything is kept in one
//! ordered key space split into keyspaces by a leading byte, so that one commit group is one
//! atomic batch on one tree followed by one flush.

pub mod backup;
mod codec;
mod error;
pub mod fault;
mod fjall_engine;
mod pack;
pub mod schema;
mod sled_engine;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use error::StoreError;
pub use fjall_engine::FjallEngine;
pub use schema::Keyspace;
pub use sled_engine::SledEngine;

/// The sled store's directory inside a data directory (stores made before fjall, or with
/// `store.engine = "sled"`).
pub const STORE_DIR_NAME: &str = "store";
/// The fjall store's directory inside a data directory.
pub const FJALL_STORE_DIR_NAME: &str = "store-fjall";

/// The storage engines a store can be kept in. A new store uses the configured one; an existing
/// store is always opened with the engine it was made with (its directory's name says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// An LSM tree: a commit group is one journal append and one fsync.
    #[default]
    Fjall,
    /// A B-link tree with a log: each record is a tree insert.
    Sled,
}

impl EngineKind {
    fn dir_name(self) -> &'static str {
        match self {
            EngineKind::Fjall => FJALL_STORE_DIR_NAME,
            EngineKind::Sled => STORE_DIR_NAME,
        }
    }

    /// The engine of the store in `data_dir`, if it has one; a directory with both is refused.
    pub fn of_data_dir(data_dir: &Path) -> Result<Option<EngineKind>, StoreError> {
        let present: Vec<EngineKind> = [EngineKind::Fjall, EngineKind::Sled]
            .into_iter()
            .filter(|kind| data_dir.join(kind.dir_name()).is_dir())
            .collect();
        match present.as_slice() {
            [] => Ok(None),
            [kind] => Ok(Some(*kind)),
            _ => Err(StoreError::Io(format!(
                "{} holds both a {STORE_DIR_NAME}/ and a {FJALL_STORE_DIR_NAME}/ store; \
                 keep the one the switch should use and move the other away",
                data_dir.display()
            ))),
        }
    }

    /// Opens (or creates) a store of this engine in `data_dir`. `cache_bytes_max` bounds
    /// sled's page cache (fjall sizes its own caches).
    pub fn open(
        self,
        data_dir: &Path,
        cache_bytes_max: u64,
    ) -> Result<Arc<dyn Engine>, StoreError> {
        let dir = data_dir.join(self.dir_name());
        Ok(match self {
            EngineKind::Fjall => Arc::new(FjallEngine::open(&dir)?),
            EngineKind::Sled => Arc::new(SledEngine::open_with_cache(&dir, cache_bytes_max)?),
        })
    }
}

/// One change in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    Put { key: Vec<u8>, value: Vec<u8> },
    Delete { key: Vec<u8> },
}

impl WriteOp {
    pub fn key(&self) -> &[u8] {
        match self {
            WriteOp::Put { key, .. } | WriteOp::Delete { key } => key,
        }
    }
}

/// A storage engine: ordered bytes to bytes, atomic batches, explicit durability.
/// Another engine (or a fault-injecting wrapper) implements this and nothing else changes.
pub trait Engine: Send + Sync + 'static {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Keys in `[start, end)` in key order (or reverse order).
    fn range(&self, start: &[u8], end: &[u8], reverse: bool) -> KeyValueIter<'_>;
    /// Applies every op or none.
    fn apply(&self, ops: &[WriteOp]) -> Result<(), StoreError>;
    /// Makes everything applied so far durable.
    fn flush(&self) -> Result<(), StoreError>;
    /// Approximate bytes on disk, for the metrics.
    fn size_on_disk_bytes(&self) -> Result<u64, StoreError>;
}

/// A stored key and its value bytes.
pub type KeyValue = (Vec<u8>, Vec<u8>);

pub type KeyValueIter<'a> = Box<dyn Iterator<Item = Result<KeyValue, StoreError>> + 'a>;

/// An engine's range of converted pairs, in key order or reversed.
fn ordered<'a, I>(pairs: I, reverse: bool) -> KeyValueIter<'a>
where
    I: DoubleEndedIterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>> + 'a,
{
    if reverse {
        Box::new(pairs.rev())
    } else {
        Box::new(pairs)
    }
}

/// The page cache of short-lived opens (`verify`, `backup`, `restore`, tests); sled stores only.
pub const SHORT_OPEN_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// How long an open waits for a lock its own process is releasing: an engine's threads can
/// hold the directory a moment after the last handle of a closed store is dropped, so a reopen
/// in the same process (a restart in tests, restore's audit) may find it still locked. A
/// directory held by another running switch stays locked and is refused after this.
const OWN_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
const OWN_LOCK_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(20);

/// Runs `open` again while it fails `Locked`, for at most `OWN_LOCK_WAIT`.
fn retry_while_locked<T>(mut open: impl FnMut() -> Result<T, StoreError>) -> Result<T, StoreError> {
    let started = std::time::Instant::now();
    loop {
        match open() {
            Err(StoreError::Locked(_)) if started.elapsed() < OWN_LOCK_WAIT => {
                std::thread::sleep(OWN_LOCK_RETRY_PAUSE);
            }
            opened => return opened,
        }
    }
}

/// Typed access to an engine: versioned, checksummed records under the schema's keys.
#[derive(Clone)]
pub struct Store {
    engine: Arc<dyn Engine>,
}

impl Store {
    /// Opens (or creates) the sled store under `dir`.
    pub fn open_sled(dir: &Path) -> Result<Store, StoreError> {
        Ok(Store::with_engine(Arc::new(SledEngine::open(dir)?)))
    }

    /// Opens the store of an existing data directory with its own engine; `None` if the
    /// directory holds no store.
    pub fn open_existing(data_dir: &Path) -> Result<Option<Store>, StoreError> {
        match EngineKind::of_data_dir(data_dir)? {
            None => Ok(None),
            Some(kind) => {
                Ok(Some(Store::with_engine(kind.open(data_dir, SHORT_OPEN_CACHE_BYTES)?)))
            }
        }
    }

    pub fn with_engine(engine: Arc<dyn Engine>) -> Store {
        Store { engine }
    }

    /// Reads and decodes one record.
    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        match self.engine.get(key)? {
            None => Ok(None),
            Some(bytes) => codec::decode(key, &bytes).map(Some),
        }
    }

    /// Every record of a keyspace whose key starts with `prefix` (keyspace byte included).
    pub fn scan_prefix<T: DeserializeOwned>(
        &self,
        prefix: &[u8],
        reverse: bool,
    ) -> impl Iterator<Item = Result<(Vec<u8>, T), StoreError>> + '_ {
        let end = schema::prefix_end(prefix);
        self.scan_range(prefix, &end, reverse)
    }

    /// Every record with a key in `[start, end)`.
    pub fn scan_range<T: DeserializeOwned>(
        &self,
        start: &[u8],
        end: &[u8],
        reverse: bool,
    ) -> impl Iterator<Item = Result<(Vec<u8>, T), StoreError>> + '_ {
        self.engine.range(start, end, reverse).map(|item| {
            let (key, bytes) = item?;
            let value = codec::decode(&key, &bytes)?;
            Ok((key, value))
        })
    }

    /// The keys of every record whose key starts with `prefix`, in key order (values are not
    /// decoded).
    pub fn scan_keys(
        &self,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<Vec<u8>, StoreError>> + '_ {
        let end = schema::prefix_end(prefix);
        self.engine.range(prefix, &end, false).map(|item| item.map(|(key, _)| key))
    }

    /// True when nothing has ever been written.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        let mut all = self.engine.range(&[], &[u8::MAX], false);
        Ok(all.next().transpose()?.is_none())
    }

    /// Applies a batch atomically (not yet durable).
    pub fn apply(&self, batch: &Batch) -> Result<(), StoreError> {
        self.engine.apply(&batch.ops)
    }

    /// Makes every applied batch durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.engine.flush()
    }

    pub fn size_on_disk_bytes(&self) -> Result<u64, StoreError> {
        self.engine.size_on_disk_bytes()
    }
}

/// The keyspaces whose new records a commit group packs (`pack.rs`): their keys are the
/// keyspace byte and an id (u64, big-endian) that only grows.
pub const PACKED: [Keyspace; 2] = [Keyspace::Tranlog, Keyspace::Transaction];

fn history_key(space: Keyspace, id: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(9);
    key.push(space.byte());
    key.extend_from_slice(&id.to_be_bytes());
    key
}

/// The id of a packed keyspace's key, if it is one.
fn history_id(key: &[u8]) -> Option<u64> {
    let id: [u8; 8] = key.get(1..)?.try_into().ok()?;
    Some(u64::from_be_bytes(id))
}

/// Reading the packed keyspaces (`PACKED`): a record is a plain one at its id's key or a
/// member of the pack at the nearest key below.
impl Store {
    /// The record `id` of a packed keyspace.
    pub fn get_history<T: DeserializeOwned>(
        &self,
        space: Keyspace,
        id: u64,
    ) -> Result<Option<T>, StoreError> {
        let Some((key, bytes)) = self.locate(space, id)? else { return Ok(None) };
        if !pack::is_pack(&bytes) {
            return codec::decode(&key, &bytes).map(Some);
        }
        let members = pack::members(&key, &bytes)?;
        match members.binary_search_by_key(&id, |(member, _)| *member) {
            Ok(index) => codec::decode(&history_key(space, id), members[index].1).map(Some),
            Err(_) => Ok(None),
        }
    }

    /// The stored value that may hold `id`: the one at its key, else a pack below it.
    fn locate(&self, space: Keyspace, id: u64) -> Result<Option<KeyValue>, StoreError> {
        let key = history_key(space, id);
        if let Some(bytes) = self.engine.get(&key)? {
            return Ok(Some((key, bytes)));
        }
        let below = self.engine.range(&space.prefix(), &key, true).next().transpose()?;
        Ok(below.filter(|(_, bytes)| pack::is_pack(bytes)))
    }

    /// Every record of a packed keyspace in id order, with its id.
    pub fn scan_history<T: DeserializeOwned + 'static>(
        &self,
        space: Keyspace,
    ) -> impl Iterator<Item = Result<(u64, T), StoreError>> + '_ {
        let prefix = space.prefix();
        let end = schema::prefix_end(&prefix);
        self.engine.range(&prefix, &end, false).flat_map(move |item| match item {
            Err(error) => vec![Err(error)],
            Ok((key, bytes)) => unpack(space, &key, &bytes),
        })
    }

    /// One more than the highest id of a packed keyspace (1 when it is empty).
    pub fn next_history_id(&self, space: Keyspace) -> Result<u64, StoreError> {
        let prefix = space.prefix();
        let end = schema::prefix_end(&prefix);
        let Some((key, bytes)) = self.engine.range(&prefix, &end, true).next().transpose()? else {
            return Ok(1);
        };
        let last = if pack::is_pack(&bytes) {
            pack::members(&key, &bytes)?.last().map(|(id, _)| *id)
        } else {
            history_id(&key)
        };
        let last = last.ok_or_else(|| StoreError::Corruption {
            key: schema::printable_key(&key),
            reason: "not an id key, or an empty pack".to_owned(),
        })?;
        Ok(last.saturating_add(1))
    }

    /// Packs a group's batch before it is applied: for each `(space, first_new_id)`, the puts
    /// of records with ids from `first_new_id` on (created by this group) become one pack (or
    /// stay one plain record if there is only one), and a rewrite of an older record that lives
    /// in a pack rewrites that pack. A keyspace whose ops are not all puts of id keys is left as
    /// it is (nothing deletes history; anything else is not ours to pack).
    pub fn pack_history(
        &self,
        batch: &mut Batch,
        first_new: &[(Keyspace, u64)],
    ) -> Result<(), StoreError> {
        for &(space, first_new_id) in first_new {
            debug_assert!(PACKED.contains(&space), "{space:?} is not a packed keyspace");
            let byte = space.byte();
            let in_space = |op: &WriteOp| op.key().first() == Some(&byte);
            let packable =
                |op: &WriteOp| matches!(op, WriteOp::Put { .. }) && history_id(op.key()).is_some();
            if !batch.ops.iter().any(in_space)
                || batch.ops.iter().any(|op| in_space(op) && !packable(op))
            {
                continue;
            }
            let (ours, rest): (Vec<WriteOp>, Vec<WriteOp>) =
                std::mem::take(&mut batch.ops).into_iter().partition(in_space);
            batch.ops = rest;
            let mut fresh = Vec::new();
            let mut older = Vec::new();
            for op in ours {
                if let WriteOp::Put { key, value } = op {
                    let Some(id) = history_id(&key) else { continue };
                    if id >= first_new_id {
                        fresh.push((id, key, value));
                    } else {
                        older.push((id, key, value));
                    }
                }
            }
            batch.ops.extend(pack_fresh(space, fresh)?);
            let rewrites = self.rewrite_packed(space, older)?;
            batch.ops.extend(rewrites);
        }
        Ok(())
    }

    /// The ops that rewrite older records: in place if plain, else their whole pack.
    fn rewrite_packed(
        &self,
        space: Keyspace,
        older: Vec<(u64, Vec<u8>, Vec<u8>)>,
    ) -> Result<Vec<WriteOp>, StoreError> {
        let mut ops = Vec::new();
        let mut packs: BTreeMap<Vec<u8>, Vec<(u64, Vec<u8>)>> = BTreeMap::new();
        for (id, key, value) in older {
            let holder = packs.iter_mut().find_map(|(_, members)| {
                members
                    .binary_search_by_key(&id, |(member, _)| *member)
                    .ok()
                    .map(|at| (members, at))
            });
            if let Some((members, at)) = holder {
                members[at].1 = value;
                continue;
            }
            match self.locate(space, id)? {
                Some((pack_key, bytes)) if pack::is_pack(&bytes) => {
                    let mut members: Vec<(u64, Vec<u8>)> = pack::members(&pack_key, &bytes)?
                        .into_iter()
                        .map(|(member, bytes)| (member, bytes.to_vec()))
                        .collect();
                    match members.binary_search_by_key(&id, |(member, _)| *member) {
                        Ok(at) => {
                            members[at].1 = value;
                            packs.insert(pack_key, members);
                        }
                        // Not in the pack below it: not stored, written as a plain record.
                        Err(_) => ops.push(WriteOp::Put { key, value }),
                    }
                }
                _ => ops.push(WriteOp::Put { key, value }),
            }
        }
        for (key, members) in packs {
            let borrowed: Vec<(u64, &[u8])> =
                members.iter().map(|(id, bytes)| (*id, bytes.as_slice())).collect();
            let value = pack::encode(&key, &borrowed)?;
            ops.push(WriteOp::Put { key, value });
        }
        Ok(ops)
    }
}

/// Checks one stored value as it is stored (a backup copies values so): a record's version,
/// checksum and encoding, or a pack's and each of its members'.
fn check_value(key: &[u8], value: &[u8]) -> Result<(), StoreError> {
    if !pack::is_pack(value) {
        return codec::decode::<serde::de::IgnoredAny>(key, value).map(drop);
    }
    for (id, member) in pack::members(key, value)? {
        let mut member_key = key.get(..1).unwrap_or_default().to_vec();
        member_key.extend_from_slice(&id.to_be_bytes());
        codec::decode::<serde::de::IgnoredAny>(&member_key, member)?;
    }
    Ok(())
}

/// A group's new records of one keyspace as one op: a pack under the first id, or the record
/// itself when it is alone (a pack of one would only add its header).
fn pack_fresh(
    space: Keyspace,
    mut fresh: Vec<(u64, Vec<u8>, Vec<u8>)>,
) -> Result<Option<WriteOp>, StoreError> {
    fresh.sort_unstable_by_key(|(id, _, _)| *id);
    let Some(first) = fresh.first().map(|(id, _, _)| *id) else { return Ok(None) };
    if fresh.len() == 1 {
        return Ok(fresh.pop().map(|(_, key, value)| WriteOp::Put { key, value }));
    }
    let key = history_key(space, first);
    let members: Vec<(u64, &[u8])> =
        fresh.iter().map(|(id, _, value)| (*id, value.as_slice())).collect();
    let value = pack::encode(&key, &members)?;
    Ok(Some(WriteOp::Put { key, value }))
}

/// The records of one stored value of a packed keyspace, with their ids.
fn unpack<T: DeserializeOwned>(
    space: Keyspace,
    key: &[u8],
    bytes: &[u8],
) -> Vec<Result<(u64, T), StoreError>> {
    if !pack::is_pack(bytes) {
        let Some(id) = history_id(key) else {
            return vec![Err(StoreError::Corruption {
                key: schema::printable_key(key),
                reason: "not an id key".to_owned(),
            })];
        };
        return vec![codec::decode(key, bytes).map(|value| (id, value))];
    }
    match pack::members(key, bytes) {
        Err(error) => vec![Err(error)],
        Ok(members) => members
            .into_iter()
            .map(|(id, member)| {
                codec::decode(&history_key(space, id), member).map(|value| (id, value))
            })
            .collect(),
    }
}

/// Changes collected for one commit group.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    ops: Vec<WriteOp>,
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Encodes `value` with the current format version and checksum under `key`.
    pub fn put<T: Serialize>(&mut self, key: Vec<u8>, value: &T) -> Result<(), StoreError> {
        let encoded = codec::encode(&key, value)?;
        self.ops.push(WriteOp::Put { key, value: encoded });
        Ok(())
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.ops.push(WriteOp::Delete { key });
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Key and value bytes the batch writes (a delete counts its key).
    pub fn bytes(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match op {
                WriteOp::Put { key, value } => key.len().saturating_add(value.len()),
                WriteOp::Delete { key } => key.len(),
            })
            .fold(0, usize::saturating_add)
    }

    /// Drops every op whose key the batch writes again later. A batch is applied atomically and
    /// in order, so only each key's last op has an effect: the result is the same, with fewer
    /// records for the engine (a group of card debits rewrites the same balances many times).
    pub fn coalesce(&mut self) {
        let mut seen = HashSet::with_capacity(self.ops.len());
        let mut keep: Vec<bool> = self.ops.iter().rev().map(|op| seen.insert(op.key())).collect();
        drop(seen);
        keep.reverse();
        let mut keep = keep.into_iter();
        self.ops.retain(|_| keep.next().unwrap_or(true));
    }

    /// Drops the ops added after the first `len` (a command that failed half-way).
    pub fn truncate(&mut self, len: usize) {
        self.ops.truncate(len);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Applies ops in order to a map, as the engine does.
    fn applied(ops: &[WriteOp]) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let mut map = BTreeMap::new();
        for op in ops {
            match op {
                WriteOp::Put { key, value } => map.insert(key.clone(), value.clone()),
                WriteOp::Delete { key } => map.remove(key),
            };
        }
        map
    }

    #[test]
    fn coalescing_keeps_each_keys_last_op_and_the_result() {
        let mut batch = Batch::new();
        batch.put(b"a".to_vec(), &1_u32).unwrap();
        batch.put(b"b".to_vec(), &2_u32).unwrap();
        batch.put(b"a".to_vec(), &3_u32).unwrap();
        batch.delete(b"b".to_vec());
        batch.put(b"c".to_vec(), &4_u32).unwrap();
        batch.delete(b"c".to_vec());
        batch.put(b"c".to_vec(), &5_u32).unwrap();
        batch.put(b"d".to_vec(), &6_u32).unwrap();
        let before = applied(&batch.ops);
        batch.coalesce();
        assert_eq!(applied(&batch.ops), before);
        let keys: Vec<&[u8]> = batch.ops.iter().map(WriteOp::key).collect();
        assert_eq!(keys, [b"a".as_slice(), b"b", b"c", b"d"]);
        assert!(matches!(&batch.ops[1], WriteOp::Delete { .. }));
        assert_eq!(
            codec::decode::<u32>(
                b"c",
                match &batch.ops[2] {
                    WriteOp::Put { value, .. } => value,
                    WriteOp::Delete { .. } => panic!("c ends with a put"),
                }
            )
            .unwrap(),
            5
        );
    }

    /// A batch putting `(space, id, text)` records, as a group's writes would.
    fn history_batch(records: &[(Keyspace, u64, &str)]) -> Batch {
        let mut batch = Batch::new();
        for (space, id, text) in records {
            batch.put(history_key(*space, *id), &text.to_string()).unwrap();
        }
        batch
    }

    /// Packs and applies `records` as one group whose new ids start at `first_new`.
    fn commit_group(store: &Store, records: &[(Keyspace, u64, &str)], first_new: [u64; 2]) {
        let mut batch = history_batch(records);
        batch.put(b"a-balance".to_vec(), &1_u32).unwrap();
        let first_new = [(Keyspace::Tranlog, first_new[0]), (Keyspace::Transaction, first_new[1])];
        store.pack_history(&mut batch, &first_new).unwrap();
        store.apply(&batch).unwrap();
    }

    fn history(store: &Store, space: Keyspace) -> Vec<(u64, String)> {
        store.scan_history::<String>(space).collect::<Result<_, _>>().unwrap()
    }

    const L: Keyspace = Keyspace::Tranlog;
    const T: Keyspace = Keyspace::Transaction;

    #[test]
    fn a_groups_new_history_is_one_pack_per_keyspace_and_reads_as_records() {
        for kind in [EngineKind::Fjall, EngineKind::Sled] {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::with_engine(kind.open(dir.path(), SHORT_OPEN_CACHE_BYTES).unwrap());
            // Plain records as an earlier build wrote them, then groups of this one.
            store.apply(&history_batch(&[(L, 1, "l1"), (L, 2, "l2"), (T, 1, "t1")])).unwrap();
            let mut batch =
                history_batch(&[(L, 3, "l3"), (T, 2, "t2"), (L, 5, "l5"), (L, 4, "l4")]);
            batch.put(b"a-balance".to_vec(), &1_u32).unwrap();
            store.pack_history(&mut batch, &[(L, 3), (T, 2)]).unwrap();
            // l3-l5 one pack, t2 alone stays a plain record, the balance untouched.
            assert_eq!(batch.len(), 3, "{kind:?}");
            store.apply(&batch).unwrap();
            commit_group(&store, &[(L, 6, "l6"), (L, 7, "l7"), (T, 3, "t3")], [6, 3]);

            let expected: Vec<(u64, String)> = (1..=7).map(|id| (id, format!("l{id}"))).collect();
            assert_eq!(history(&store, L), expected, "{kind:?}");
            assert_eq!(history(&store, T), [(1, "t1".into()), (2, "t2".into()), (3, "t3".into())]);
            for id in 1..=7 {
                let record: Option<String> = store.get_history(L, id).unwrap();
                assert_eq!(record, Some(format!("l{id}")), "{kind:?} tranlog {id}");
            }
            assert_eq!(store.get_history::<String>(L, 8).unwrap(), None);
            assert_eq!(store.get_history::<String>(L, 0).unwrap(), None);
            assert_eq!(store.get_history::<String>(T, 4).unwrap(), None);
            assert_eq!(store.next_history_id(L).unwrap(), 8);
            assert_eq!(store.next_history_id(T).unwrap(), 4);
        }
    }

    #[test]
    fn a_rewrite_of_a_packed_record_rewrites_its_pack_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sled(&dir.path().join("store")).unwrap();
        store.apply(&history_batch(&[(L, 1, "l1")])).unwrap();
        commit_group(&store, &[(L, 2, "l2"), (L, 3, "l3"), (L, 4, "l4")], [2, 1]);
        commit_group(&store, &[(L, 5, "l5"), (L, 6, "l6")], [5, 1]);
        // One group: a new record, two rewrites in one pack, one in another, one plain.
        commit_group(
            &store,
            &[(L, 7, "l7"), (L, 3, "l3'"), (L, 2, "l2'"), (L, 6, "l6'"), (L, 1, "l1'")],
            [7, 1],
        );
        let names: Vec<String> = history(&store, L).into_iter().map(|(_, name)| name).collect();
        assert_eq!(names, ["l1'", "l2'", "l3'", "l4", "l5", "l6'", "l7"]);
        assert_eq!(store.get_history::<String>(L, 4).unwrap().as_deref(), Some("l4"));
        assert_eq!(store.get_history::<String>(L, 6).unwrap().as_deref(), Some("l6'"));
        assert_eq!(store.next_history_id(L).unwrap(), 8);
        // The packs kept their keys: two packs, two plain records (1 and 7).
        let keys: Vec<Vec<u8>> = store.scan_keys(&L.prefix()).collect::<Result<_, _>>().unwrap();
        assert_eq!(keys, [1, 2, 5, 7].map(|id| history_key(L, id)));
    }

    #[test]
    fn a_keyspace_with_anything_but_id_puts_is_left_unpacked() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sled(&dir.path().join("store")).unwrap();
        let mut batch = history_batch(&[(L, 1, "l1"), (L, 2, "l2")]);
        batch.delete(history_key(L, 9));
        store.pack_history(&mut batch, &[(L, 1)]).unwrap();
        assert_eq!(batch.len(), 3);
        assert!(batch.ops.iter().all(|op| match op {
            WriteOp::Put { value, .. } => !pack::is_pack(value),
            WriteOp::Delete { .. } => true,
        }));
    }

    #[test]
    fn a_store_open_elsewhere_is_reported_as_locked_by_either_engine() {
        for kind in [EngineKind::Fjall, EngineKind::Sled] {
            let dir = tempfile::tempdir().unwrap();
            let _first = kind.open(dir.path(), SHORT_OPEN_CACHE_BYTES).unwrap();
            match kind.open(dir.path(), SHORT_OPEN_CACHE_BYTES) {
                Err(StoreError::Locked(_)) => {}
                Err(other) => panic!("{kind:?}: expected Locked, got {other}"),
                Ok(_) => panic!("{kind:?}: a second open of a locked store succeeded"),
            }
        }
    }
}
