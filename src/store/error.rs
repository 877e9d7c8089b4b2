//! Errors of the storage layer.

/// A storage failure. Every variant means "the switch could not decide", never a decline.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage I/O failed: {0}")]
    Io(String),
    #[error("corrupt record under key {key}: {reason}")]
    Corruption { key: String, reason: String },
    #[error("record under key {key} has format version {version}, which this build does not read")]
    UnsupportedVersion { key: String, version: u8 },
    #[error("cannot encode record under key {key}: {reason}")]
    Encode { key: String, reason: String },
}
