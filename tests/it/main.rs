//! The single integration-test binary. Each module starts real switches on port 0 with
//! temporary data directories, or drives the core directly.

// A failed expectation in a test or its helpers should panic with a message: that is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Starting switches, signing requests, reading answers.
mod support;

/// Backups: round trip through the binary, damaged and cut files refused, secrets left out.
mod backup;
/// Balances kept out of the store: snapshots, replays at start, stores made before moved.
mod balance_snapshot;
/// The bank test: concurrent transfers, debits and credits conserve the total at every read.
mod bank;
/// The card-issuing API: signatures, single-use request ids, status, every method.
mod card_api;
/// The partner guide's Python signing example, run against a switch.
mod card_api_docs;
/// The cashback card API: passes, search, debit, tickets, bearer-token errors, limits.
mod cashback;
/// The cashback demo script, run against the built binary.
mod cashback_demo;
/// The command line: serve, consumer add, verify.
mod cli;
/// kill -9 under load: the served binary killed and restarted, nothing lost or posted twice.
mod crash;
/// The fuzz targets' seeds and past findings, replayed through their property checks.
mod fuzz_regressions;
/// The gift-card history API: history, paging, dates, failures, PIN lockout.
mod giftcard;
/// Mutated fuzz seeds through every route of every dialect: never a server error.
mod hostile_bodies;
/// jCard authentication: signatures, timestamps, replays, permissions.
mod jcard_auth;
/// Card products, velocity profiles, cards and the card authorization path.
mod jcard_cards;
/// Customers, agents, login and the wallet scope of login consumers, PINs.
mod jcard_customers;
/// `/gl`: the document's examples as written, and every refusal.
mod jcard_gl;
/// Transactions by RRN: detail, reversal, void.
mod jcard_rrn;
/// `/echo` and `/sysconfig`.
mod jcard_sysconfig;
/// Wallets: opening, credit, debit, transfer, fees, dry runs, declines, RRN idempotency,
/// statements, detail and tranlog.
mod jcard_wallets;
/// Random postings and restarts against a reference ledger.
mod ledger_model;
/// Hostile clients against every HTTP limit, each refused while others are served.
mod limits;
/// The load generator: populate, each request kind, open and closed loop, JSON results.
mod load;
/// The OpenAPI document agrees with the route table and is served.
mod openapi;
/// The card-issuing API's OpenAPI document agrees with its route table and is served.
mod openapi_card_api;
/// The cashback dialect's OpenAPI document against the route table.
mod openapi_cashback;
/// Helpers every OpenAPI document test shares.
mod openapi_common;
/// Regressions of schemathesis's findings: 405 with `Allow`, null members read as absent.
mod openapi_findings;
/// The gift-card history API's OpenAPI document agrees with its route table and is served.
mod openapi_giftcard;
/// Health, metrics, limits, unknown routes, graceful stop.
mod ops;
/// Races: concurrent copies of one RRN, request id or ticket post once; no overdraft.
mod races;
/// Card data and secrets in neither the logs nor the data directory (the binary at trace level).
mod rrn_index;
mod secrets;
/// Security checks the dialect tests leave out: a JWS for another method, a request id
/// replayed after a restart, bearer tokens of other algorithms, a foreign gift-card token.
mod security;
/// Failed applies and flushes, a full disk: errors in each dialect's shape, consistency,
/// recovery, retries that run once.
mod storage_faults;
/// Stored record shapes old and new read the same.
mod storage_format;
/// Architecture boundaries and hygiene, enforced.
mod tidy;
/// The card and wallet tranlog index: runs against memory, restarts, damage and rebuilds.
mod tranlog_index;
/// Random wallet movements, retries, reversals, voids and restarts against a reference model.
mod wallet_model;
