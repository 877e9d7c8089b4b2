//! The transaction log: one record per money request that reached a decision (approved or
//! declined), as jCard's TranLog. It links a request (RRN, type, wallets, the JSON received)
//! to its GL transaction, counts reversals and voids, and keeps the answer so that a retry
//! with the same RRN gets it again.

use serde::{Deserialize, Serialize};

use super::command::Decline;
use crate::clock::EpochMs;
use crate::ledger::{Layer, TransactionId};
use crate::money::Amount;

/// Approved.
pub const IRC_APPROVED: &str = "0000";
/// ITC of a reversal record.
pub const ITC_REVERSAL: &str = "wreversal";
/// ITC of a void record (CMF 200.02).
pub const ITC_VOID: &str = "200.02";

/// One fee line of a movement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeLine {
    pub name: String,
    pub account: String,
    pub amount: Amount,
}

/// A tranlog record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tranlog {
    /// 0 for a dry run, which is never stored.
    pub id: u64,
    pub date_ms: EpochMs,
    pub itc: String,
    pub irc: String,
    pub rrn: String,
    pub approval_number: Option<String>,
    pub amount: Amount,
    pub amount_with_fees: Amount,
    pub fees: Vec<FeeLine>,
    /// ISO-4217 numeric, three digits.
    pub currency_code: String,
    pub layers: Vec<Layer>,
    pub wallet1: Option<String>,
    pub wallet2: Option<String>,
    pub customer: Option<String>,
    pub customer2: Option<String>,
    /// The request's `type`.
    pub ss_data: Option<String>,
    pub type_description: Option<String>,
    pub geo_location: Option<(String, String)>,
    pub json_request: String,
    pub fingerprint: String,
    pub transaction_id: Option<TransactionId>,
    /// Why it was declined; `None` when approved.
    pub decline: Option<Decline>,
    pub reversal_count: u32,
    pub reversal_id: Option<u64>,
    pub void_count: u32,
    pub void_id: Option<u64>,
    /// For a reversal or void record: the record it undoes.
    pub original_id: Option<u64>,
}

impl Tranlog {
    pub fn is_approved(&self) -> bool {
        self.decline.is_none()
    }

    /// Σ of the fee lines.
    pub fn fee_total(&self) -> Amount {
        self.fees.iter().fold(Amount::ZERO, |sum, fee| sum.checked_add(fee.amount).unwrap_or(sum))
    }

    /// A six-digit approval number for record `id`: unique among the last million records.
    pub fn approval_number_for(id: u64) -> String {
        format!("{:06}", id % 1_000_000)
    }
}
