//! Account statements (miniGL `AccountDetail`): an opening balance, the entries of a period with
//! a running balance, sums of raw amounts per side, and the closing balance. Pure.

use super::{Layer, Side, TransactionId};
use crate::clock::EpochMs;
use crate::money::Amount;

/// One entry as a statement shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    pub transaction_id: TransactionId,
    pub post_date_ms: EpochMs,
    pub timestamp_ms: EpochMs,
    pub detail: String,
    pub tags: String,
    pub side: Side,
    pub layer: Layer,
    pub amount: Amount,
    /// The entry's effect on the account's balance.
    pub impact: Amount,
    /// The balance after this entry.
    pub balance: Amount,
    pub reversal_count: u32,
    /// The transaction's outside record (a tranlog id), if any.
    pub reference: Option<u64>,
}

/// A statement over a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub initial_balance: Amount,
    pub final_balance: Amount,
    /// Σ raw amounts of credit entries shown (miniGL sums amounts, not impacts).
    pub credits: Amount,
    pub debits: Amount,
    pub lines: Vec<StatementLine>,
    /// True when the period held more entries than were shown; the closing balance is then
    /// the balance after the last line shown.
    pub truncated: bool,
}

/// Builds a statement from the opening balance and the period's lines in order (their
/// `balance` fields are filled in here). At most `lines_max` lines are kept.
pub fn build(
    initial_balance: Amount,
    lines: impl IntoIterator<Item = StatementLine>,
    lines_max: usize,
) -> Option<Statement> {
    let mut statement = Statement {
        initial_balance,
        final_balance: initial_balance,
        credits: Amount::ZERO,
        debits: Amount::ZERO,
        lines: Vec::new(),
        truncated: false,
    };
    for mut line in lines {
        if statement.lines.len() >= lines_max {
            statement.truncated = true;
            break;
        }
        statement.final_balance = statement.final_balance.checked_add(line.impact)?;
        line.balance = statement.final_balance;
        match line.side {
            Side::Credit => statement.credits = statement.credits.checked_add(line.amount)?,
            Side::Debit => statement.debits = statement.debits.checked_add(line.amount)?,
        }
        statement.lines.push(line);
    }
    Some(statement)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(side: Side, units: i64, impact: i64) -> StatementLine {
        StatementLine {
            transaction_id: 1,
            post_date_ms: 0,
            timestamp_ms: 0,
            detail: String::new(),
            tags: String::new(),
            side,
            layer: 840,
            amount: Amount::from_units(units),
            impact: Amount::from_units(impact),
            balance: Amount::ZERO,
            reversal_count: 0,
            reference: None,
        }
    }

    #[test]
    fn running_balance_and_sums() {
        let statement = build(
            Amount::from_units(100),
            vec![line(Side::Credit, 10, 10), line(Side::Debit, 4, -4)],
            10,
        )
        .unwrap();
        assert_eq!(statement.final_balance.units(), 106);
        assert_eq!(statement.lines[1].balance.units(), 106);
        assert_eq!(statement.credits.units(), 10);
        assert_eq!(statement.debits.units(), 4);
        assert!(!statement.truncated);
    }

    #[test]
    fn truncation_keeps_the_closing_balance_consistent() {
        let statement = build(Amount::ZERO, vec![line(Side::Credit, 1, 1); 5], 3).unwrap();
        assert!(statement.truncated);
        assert_eq!(statement.lines.len(), 3);
        assert_eq!(statement.final_balance.units(), 3);
    }
}
