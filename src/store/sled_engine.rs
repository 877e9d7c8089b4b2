//! The sled 0.34 engine. One tree only: sled batches are atomic per tree, and multi-tree
//! transactions measured ~10k/s here against ~140k/s for one batch and one flush per group.

use std::path::Path;

use super::{
    ordered, retry_while_locked, Engine, KeyValueIter, StoreError, WriteOp, SHORT_OPEN_CACHE_BYTES,
};

pub struct SledEngine {
    db: sled::Db,
}

impl SledEngine {
    pub fn open(dir: &Path) -> Result<SledEngine, StoreError> {
        SledEngine::open_with_cache(dir, SHORT_OPEN_CACHE_BYTES)
    }

    /// Opens with at most `cache_bytes_max` of sled's page cache (`store.cache_bytes_max`).
    /// sled's I/O threads can hold the directory's lock a moment after a close, hence the wait.
    pub fn open_with_cache(dir: &Path, cache_bytes_max: u64) -> Result<SledEngine, StoreError> {
        retry_while_locked(|| Self::open_once(dir, cache_bytes_max))
    }

    fn open_once(dir: &Path, cache_bytes_max: u64) -> Result<SledEngine, StoreError> {
        // sled flushes on its own every 500 ms by default; the writer flushes explicitly
        // before acknowledging, so the background flush is only a backstop.
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            .cache_capacity(cache_bytes_max)
            .open()
            .map_err(io)?;
        Ok(SledEngine { db })
    }
}

/// sled's error as a storage error. sled reports a held directory lock as an `Other` I/O
/// error with this text (0.34, `Config::try_lock`); it is told apart so that `backup`,
/// `verify` and `consumer add` can say that a switch is running.
fn io(error: sled::Error) -> StoreError {
    match error {
        sled::Error::Io(error) if error.to_string().contains("could not acquire lock") => {
            StoreError::Locked(error.to_string())
        }
        sled::Error::Io(error) => StoreError::from_io(&error),
        other => StoreError::Io(other.to_string()),
    }
}

// `apply` is all or nothing on disk (sled seals the batch in its log), and when sled's log
// write or flush fails it keeps the error and refuses every later write until the process
// restarts, so a batch it failed to take can never be made durable by a later flush.
impl Engine for SledEngine {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get(key).map_err(io)?.map(|value| value.to_vec()))
    }

    fn range(&self, start: &[u8], end: &[u8], reverse: bool) -> KeyValueIter<'_> {
        let pairs = self
            .db
            .range(start.to_vec()..end.to_vec())
            .map(|item| item.map(|(key, value)| (key.to_vec(), value.to_vec())).map_err(io));
        ordered(pairs, reverse)
    }

    fn apply(&self, ops: &[WriteOp]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for op in ops {
            match op {
                WriteOp::Put { key, value } => batch.insert(key.as_slice(), value.as_slice()),
                WriteOp::Delete { key } => batch.remove(key.as_slice()),
            }
        }
        self.db.apply_batch(batch).map_err(io)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(io)
    }

    fn size_on_disk_bytes(&self) -> Result<u64, StoreError> {
        self.db.size_on_disk().map_err(io)
    }
}

impl Drop for SledEngine {
    fn drop(&mut self) {
        // Last chance to persist anything applied; errors have nowhere to go but the log.
        if let Err(error) = self.db.flush() {
            tracing::error!(%error, "final flush of the store failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_with_the_smallest_cache_keeps_what_it_was_given() {
        // Far more than 1 MiB of records through a 1 MiB cache: pages are evicted and read
        // back from the files.
        let dir = tempfile::tempdir().unwrap();
        let engine = SledEngine::open_with_cache(dir.path(), 1024 * 1024).unwrap();
        let value = vec![7_u8; 1000];
        for chunk in 0..40_u32 {
            let ops: Vec<WriteOp> = (0..100_u32)
                .map(|index| WriteOp::Put {
                    key: (chunk * 100 + index).to_be_bytes().to_vec(),
                    value: value.clone(),
                })
                .collect();
            engine.apply(&ops).unwrap();
        }
        engine.flush().unwrap();
        for key in (0..4000_u32).step_by(97) {
            assert_eq!(engine.get(&key.to_be_bytes()).unwrap().as_deref(), Some(&value[..]));
        }
        assert_eq!(engine.range(&[], &[0xff; 5], false).count(), 4000);
    }
}
