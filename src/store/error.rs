//! Errors of the storage layer.

/// A storage failure. Every variant means "the switch could not decide", never a decline.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("storage I/O failed: {0}")]
    Io(String),
    /// The file system has no room left (ENOSPC): named apart so operators read it at once.
    #[error("storage failed: the disk is full ({0})")]
    DiskFull(String),
    /// Another process (a running switch, `verify`, a backup) holds the store's lock.
    #[error("the store is in use by another process (is the switch running?): {0}")]
    Locked(String),
    #[error("corrupt record under key {key}: {reason}")]
    Corruption { key: String, reason: String },
    #[error("record under key {key} has format version {version}, which this build does not read")]
    UnsupportedVersion { key: String, version: u8 },
    #[error("cannot encode record under key {key}: {reason}")]
    Encode { key: String, reason: String },
}

impl StoreError {
    /// The storage error for an operating-system error: a full disk is told apart.
    pub fn from_io(error: &std::io::Error) -> StoreError {
        if error.kind() == std::io::ErrorKind::StorageFull {
            StoreError::DiskFull(error.to_string())
        } else {
            StoreError::Io(error.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_says_so() {
        let full = StoreError::from_io(&std::io::Error::from_raw_os_error(28));
        assert!(matches!(full, StoreError::DiskFull(_)));
        assert!(full.to_string().contains("the disk is full"), "{full}");
        let other = StoreError::from_io(&std::io::Error::from_raw_os_error(5));
        assert!(matches!(other, StoreError::Io(_)), "{other}");
    }
}
