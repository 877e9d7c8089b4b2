//! The ledger entries of a wallet movement: a credit (cash in: issuer → wallet), a debit
//! (cash out: wallet → acquirer) or a transfer (wallet → wallet), with fees charged to the
//! wallet that pays and posted to the fee account. Pure.

use super::fees::{total, Fee};
use super::{ACQUIRER_ACCOUNT, FEE_ACCOUNT, ISSUER_ACCOUNT};
use crate::ledger::post::EntryRequest;
use crate::ledger::{Layer, Side};
use crate::money::Amount;

/// Which way money moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Movement {
    Credit,
    Debit,
    Transfer,
}

impl Movement {
    /// The internal transaction code jCard logs for it.
    pub fn itc(self) -> &'static str {
        match self {
            Movement::Credit => "wcredit",
            Movement::Debit => "wdebit",
            Movement::Transfer => "wtransfer",
        }
    }
}

/// The decided shape of a movement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovementPlan {
    pub entries: Vec<EntryRequest>,
    /// What the paying wallet's balance drops by (negative for a credit: it grows).
    pub payer_outflow: Amount,
    /// The document's `amountWithFees`: amount plus fees for debits and transfers, amount less
    /// fees (what the wallet nets) for credits.
    pub amount_with_fees: Amount,
}

/// Builds the entries of a movement of `amount` on `layer` between wallet accounts (codes).
/// `destination` is the receiving wallet of a transfer.
pub fn plan(
    movement: Movement,
    wallet_account: &str,
    destination_account: Option<&str>,
    layer: Layer,
    amount: Amount,
    fees: &[Fee],
    tags: &str,
) -> Option<MovementPlan> {
    let fee_total = total(fees)?;
    let entry = |account: &str, side: Side, amount: Amount| EntryRequest {
        account_code: account.to_owned(),
        side,
        layer,
        amount,
        detail: match side {
            Side::Debit => "Debit".to_owned(),
            Side::Credit => "Credit".to_owned(),
        },
        tags: tags.to_owned(),
    };
    let mut entries = match movement {
        Movement::Credit => {
            vec![
                entry(ISSUER_ACCOUNT, Side::Debit, amount),
                entry(wallet_account, Side::Credit, amount),
            ]
        }
        Movement::Debit => {
            vec![
                entry(wallet_account, Side::Debit, amount),
                entry(ACQUIRER_ACCOUNT, Side::Credit, amount),
            ]
        }
        Movement::Transfer => vec![
            entry(wallet_account, Side::Debit, amount),
            entry(destination_account?, Side::Credit, amount),
        ],
    };
    for fee in fees.iter().filter(|fee| fee.amount != Amount::ZERO) {
        entries.push(entry(wallet_account, Side::Debit, fee.amount));
        entries.push(entry(FEE_ACCOUNT, Side::Credit, fee.amount));
    }
    let (payer_outflow, amount_with_fees) = match movement {
        Movement::Credit => (fee_total.checked_sub(amount)?, amount.checked_sub(fee_total)?),
        Movement::Debit | Movement::Transfer => {
            let outflow = amount.checked_add(fee_total)?;
            (outflow, outflow)
        }
    };
    Some(MovementPlan { entries, payer_outflow, amount_with_fees })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::post::check_balanced;
    use crate::ledger::{Entry, Side};

    fn fee(units: i64) -> Fee {
        Fee { name: "t.flat.840".to_owned(), amount: Amount::from_units(units) }
    }

    fn balanced(plan: &MovementPlan) -> bool {
        let entries: Vec<Entry> = plan
            .entries
            .iter()
            .map(|entry| Entry {
                account_id: 0,
                side: entry.side,
                layer: entry.layer,
                amount: entry.amount,
                detail: String::new(),
                tags: String::new(),
            })
            .collect();
        check_balanced(&entries).is_ok()
    }

    #[test]
    fn every_movement_balances_and_charges_the_payer() {
        let amount = Amount::from_units(2_000_000);
        let credit =
            plan(Movement::Credit, "23.a", None, 840, amount, &[fee(100_000)], "t").unwrap();
        assert!(balanced(&credit));
        assert_eq!(credit.payer_outflow, Amount::from_units(-1_900_000));
        assert_eq!(credit.amount_with_fees, Amount::from_units(1_900_000));
        let debit = plan(Movement::Debit, "23.a", None, 840, amount, &[fee(100_000)], "t").unwrap();
        assert!(balanced(&debit));
        assert_eq!(debit.amount_with_fees, Amount::from_units(2_100_000));
        let transfer =
            plan(Movement::Transfer, "23.a", Some("23.b"), 840, amount, &[], "t").unwrap();
        assert!(balanced(&transfer));
        assert_eq!(transfer.entries.len(), 2);
        assert_eq!(transfer.entries[1].account_code, "23.b");
        assert!(plan(Movement::Transfer, "23.a", None, 840, amount, &[], "t").is_none());
        assert!(transfer
            .entries
            .iter()
            .all(|entry| entry.side == Side::Debit || entry.side == Side::Credit));
    }
}
