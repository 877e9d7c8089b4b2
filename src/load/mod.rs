//! The load generator (`cardswitch load populate|run`): populates a data set through the
//! jCard API, then drives a running switch with signed requests in a configured mix, closed
//! loop (as fast as answers come) or open loop (a fixed rate, latency from the intended send
//! time), and reports throughput, latency percentiles and declines by reason. `load disk`
//! times the disk's own durable writes, the floor under a debit's latency.
//!
//! Where money goes: a card debit always credits `12.001.00` (the switch's acquirer
//! account; jCard card debits cannot name a merchant), so every debit already meets on one
//! hot account. The `--hot-merchant-share` models one busy merchant on top of that: that
//! share of wallet transfers goes to one merchant wallet created by `populate`, the rest to
//! a wallet drawn like the sources.

pub mod client;
pub mod disk;
pub mod driver;
pub mod manifest;
pub mod mix;
pub mod pacer;
pub mod populate;
pub mod report;
pub mod requests;
pub mod target;
pub mod timeline;

pub use disk::DiskOptions;
pub use driver::{run, RunOptions};
pub use populate::{populate, PopulateOptions};

/// Why the load generator could not do its work.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(pub String);

impl LoadError {
    pub fn new(message: impl Into<String>) -> LoadError {
        LoadError(message.into())
    }
}
