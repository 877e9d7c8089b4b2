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
/// ITCs of card movements, as the document shows them.
pub const ITC_CARD_PURCHASE: &str = "200.00";
pub const ITC_CARD_WITHDRAWAL: &str = "200.01";
pub const ITC_CARD_CREDIT: &str = "R200.40.21";
pub const ITC_CARD_TRANSFER: &str = "200.40";

/// ITCs of original money movements (what an RRN names, and what may be reversed or voided).
const MOVEMENT_ITCS: [&str; 7] = [
    "wcredit",
    "wdebit",
    "wtransfer",
    ITC_CARD_PURCHASE,
    ITC_CARD_WITHDRAWAL,
    ITC_CARD_CREDIT,
    ITC_CARD_TRANSFER,
];

/// Whether `itc` is an original movement (not a reversal or void).
pub fn is_movement_itc(itc: &str) -> bool {
    MOVEMENT_ITCS.contains(&itc)
}

/// One fee line of a movement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeLine {
    pub name: String,
    pub account: String,
    pub amount: Amount,
}

/// A tranlog record. JSON records of earlier builds left absent optional fields out; they read
/// back as `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tranlog {
    /// 0 for a dry run, which is never stored.
    pub id: u64,
    pub date_ms: EpochMs,
    pub itc: String,
    pub irc: String,
    pub rrn: String,
    #[serde(default)]
    pub approval_number: Option<String>,
    pub amount: Amount,
    pub amount_with_fees: Amount,
    pub fees: Vec<FeeLine>,
    /// ISO-4217 numeric, three digits.
    pub currency_code: String,
    pub layers: Vec<Layer>,
    #[serde(default)]
    pub wallet1: Option<String>,
    #[serde(default)]
    pub wallet2: Option<String>,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub customer2: Option<String>,
    /// The request's `type`.
    #[serde(default)]
    pub ss_data: Option<String>,
    #[serde(default)]
    pub type_description: Option<String>,
    #[serde(default)]
    pub geo_location: Option<(String, String)>,
    pub json_request: String,
    pub fingerprint: String,
    #[serde(default)]
    pub transaction_id: Option<TransactionId>,
    /// Why it was declined; `None` when approved.
    #[serde(default)]
    pub decline: Option<Decline>,
    pub reversal_count: u32,
    #[serde(default)]
    pub reversal_id: Option<u64>,
    pub void_count: u32,
    #[serde(default)]
    pub void_id: Option<u64>,
    /// For a reversal or void record: the record it undoes.
    #[serde(default)]
    pub original_id: Option<u64>,
    /// The card (sender of a transfer) and the receiving card, by token.
    #[serde(default)]
    pub card: Option<String>,
    #[serde(default)]
    pub card2: Option<String>,
    /// The channel the request named (`pos`, `atm`, `jcard`, ...).
    #[serde(default)]
    pub channel: Option<String>,
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

    /// Makes this the record of a declined movement: the decline's result code, the decline,
    /// no approval number.
    pub fn mark_declined(&mut self, decline: &Decline) {
        self.irc = decline.result_code().to_owned();
        self.decline = Some(decline.clone());
        self.approval_number = None;
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// An approved record of nothing in particular, for tests to fill in.
    pub fn blank(id: u64) -> Tranlog {
        Tranlog {
            id,
            date_ms: 0,
            itc: ITC_CARD_PURCHASE.to_owned(),
            irc: IRC_APPROVED.to_owned(),
            rrn: format!("R{id}"),
            approval_number: None,
            amount: Amount::ZERO,
            amount_with_fees: Amount::ZERO,
            fees: Vec::new(),
            currency_code: "840".to_owned(),
            layers: Vec::new(),
            wallet1: None,
            wallet2: None,
            customer: None,
            customer2: None,
            ss_data: None,
            type_description: None,
            geo_location: None,
            json_request: String::new(),
            fingerprint: String::new(),
            transaction_id: None,
            decline: None,
            reversal_count: 0,
            reversal_id: None,
            void_count: 0,
            void_id: None,
            original_id: None,
            card: None,
            card2: None,
            channel: None,
        }
    }
}
