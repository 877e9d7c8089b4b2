//! cardswitch: a card switch in one binary. It authorizes card and wallet transactions over a
//! double-entry ledger kept in an embedded store, and serves several HTTP API dialects over one
//! authorization core.
//!
//! # Layout
//!
//! - `cli`: the command line (`serve`, `consumer add`, `verify`).
//! - `server`: accept loop, connection limit, graceful stop.
//! - `http`: transport only: routing, body limits, responses, metrics per route.
//! - `api`: one module per dialect, translating wire JSON to core commands and back.
//! - `core`: the single entry for every dialect: commands, the single writer, reads, auth.
//! - `ledger`: pure double-entry accounting (miniGL semantics).
//! - `card`: cards, card products, velocity profiles, PANs (pure).
//! - `wallet`: wallets, customers, agents, fees and movement plans (pure).
//! - `money`: exact amounts.
//! - `store`: persistence; the only module that knows the storage engine.
//! - `config`, `clock`, `metrics`: settings, time, observability.

pub mod api;
pub mod bearer;
pub mod card;
pub mod cli;
pub mod clock;
pub mod config;
pub mod core;
pub mod files;
pub mod http;
pub mod ledger;
pub mod load;
pub mod metrics;
pub mod money;
pub mod server;
pub mod store;
pub mod wallet;
