//! The single integration-test binary. Each module starts real switches on port 0 with
//! temporary data directories, or drives the core directly.

// A failed expectation in a test or its helpers should panic with a message: that is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Starting switches, signing requests, reading answers.
mod support;

/// The command line: serve, consumer add, verify.
mod cli;
/// jCard authentication: signatures, timestamps, replays, permissions.
mod jcard_auth;
/// `/gl`: the document's examples as written, and every refusal.
mod jcard_gl;
/// `/echo` and `/sysconfig`.
mod jcard_sysconfig;
/// Random postings and restarts against a reference ledger.
mod ledger_model;
/// The OpenAPI document agrees with the route table and is served.
mod openapi;
/// Health, metrics, limits, unknown routes, graceful stop.
mod ops;
/// Architecture boundaries and hygiene, enforced.
mod tidy;
