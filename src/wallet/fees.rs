//! Fees: configured per transaction type and currency as a flat amount and/or a percentage,
//! rounded to cents, and the largest amount that can be cashed out once fees are included.

use crate::money::Amount;

/// Units of 1/10000 in one cent: fees are rounded to cents.
const UNITS_PER_CENT: i128 = 100;

/// How a fee is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeeKind {
    Flat(Amount),
    /// A percentage, kept as an amount (`2.5` means 2.5 %).
    Percent(Amount),
}

/// One configured fee of a transaction type in a currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeRule {
    /// What the answer calls it: `<type>.flat.<currency>` or `<type>.pct.<currency>`.
    pub name: String,
    pub kind: FeeKind,
}

/// A fee charged on one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fee {
    pub name: String,
    pub amount: Amount,
}

/// The fees `rules` charge on `amount`; `None` if an amount overflows.
pub fn charge(rules: &[FeeRule], amount: Amount) -> Option<Vec<Fee>> {
    rules
        .iter()
        .map(|rule| {
            let fee = match rule.kind {
                FeeKind::Flat(flat) => flat,
                FeeKind::Percent(percent) => percent_of(amount, percent)?,
            };
            Some(Fee { name: rule.name.clone(), amount: fee })
        })
        .collect()
}

/// Σ of `fees`.
pub fn total(fees: &[Fee]) -> Option<Amount> {
    fees.iter().try_fold(Amount::ZERO, |sum, fee| sum.checked_add(fee.amount))
}

/// `percent` % of `amount`, rounded half away from zero to cents.
fn percent_of(amount: Amount, percent: Amount) -> Option<Amount> {
    // amount·percent is in 1e-8 units of a currency unit times a percent; dividing by 100 %
    // and by 100 more gives cents.
    let product = i128::from(amount.units()).checked_mul(i128::from(percent.units()))?;
    let divisor: i128 = 100 * 10_000 * UNITS_PER_CENT;
    let cents = round_half_away(product, divisor)?;
    i64::try_from(cents.checked_mul(UNITS_PER_CENT)?).ok().map(Amount::from_units)
}

fn round_half_away(numerator: i128, divisor: i128) -> Option<i128> {
    let quotient = numerator.checked_div(divisor)?;
    let remainder = numerator.checked_rem(divisor)?;
    if remainder.checked_mul(2)?.abs() >= divisor {
        quotient.checked_add(numerator.signum())
    } else {
        Some(quotient)
    }
}

/// The largest amount in whole cents that can be taken from `available` once the fees of
/// `rules` on it are added. Zero when not even the fees are covered.
pub fn cash_out_limit(rules: &[FeeRule], available: Amount) -> Option<Amount> {
    if available.units() <= 0 {
        return Some(Amount::ZERO);
    }
    let flat = rules
        .iter()
        .filter_map(|rule| match rule.kind {
            FeeKind::Flat(flat) => Some(flat),
            FeeKind::Percent(_) => None,
        })
        .try_fold(Amount::ZERO, Amount::checked_add)?;
    let percent = rules
        .iter()
        .filter_map(|rule| match rule.kind {
            FeeKind::Percent(percent) => Some(percent),
            FeeKind::Flat(_) => None,
        })
        .try_fold(Amount::ZERO, Amount::checked_add)?;
    // x + flat + x·p/100 ≤ available  ⇒  x ≤ (available − flat) / (1 + p/100); the rounding of
    // the percentage to cents can move the answer a cent or two either way, so step from the
    // estimate up while the next cent fits, then down while it does not.
    let room = i128::from(available.checked_sub(flat)?.units());
    if room <= 0 {
        return Some(Amount::ZERO);
    }
    let scale = 100 * 10_000;
    let estimate =
        room.checked_mul(scale)?.checked_div(scale.checked_add(i128::from(percent.units()))?)?;
    let fits = |cents: i128| -> Option<bool> {
        let candidate = Amount::from_units(i64::try_from(cents.checked_mul(UNITS_PER_CENT)?).ok()?);
        Some(candidate.checked_add(total(&charge(rules, candidate)?)?)? <= available)
    };
    let mut cents = estimate.checked_div(UNITS_PER_CENT)?;
    while fits(cents.checked_add(1)?)? {
        cents = cents.checked_add(1)?;
    }
    while cents > 0 && !fits(cents)? {
        cents = cents.checked_sub(1)?;
    }
    i64::try_from(cents.checked_mul(UNITS_PER_CENT)?).ok().map(Amount::from_units)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(text: &str) -> Amount {
        Amount::parse(text).unwrap()
    }

    fn rules(flat: &str, percent: &str) -> Vec<FeeRule> {
        vec![
            FeeRule { name: "t.flat.840".to_owned(), kind: FeeKind::Flat(amount(flat)) },
            FeeRule { name: "t.pct.840".to_owned(), kind: FeeKind::Percent(amount(percent)) },
        ]
    }

    #[test]
    fn fees_are_flat_plus_a_rounded_percentage() {
        let fees = charge(&rules("3.50", "3.25"), amount("100")).unwrap();
        assert_eq!(fees[0].amount, amount("3.50"));
        assert_eq!(fees[1].amount, amount("3.25"));
        assert_eq!(total(&fees), Some(amount("6.75")));
        let rounded = charge(&rules("0", "2.5"), amount("0.30")).unwrap();
        assert_eq!(rounded[1].amount, amount("0.01"));
        let tiny = charge(&rules("0", "1"), amount("0.49")).unwrap();
        assert_eq!(tiny[1].amount, amount("0"));
        assert_eq!(charge(&[], amount("5")), Some(vec![]));
    }

    #[test]
    fn cash_out_takes_the_most_that_fees_allow() {
        let rules = rules("3.50", "3.25");
        let limit = cash_out_limit(&rules, amount("300")).unwrap();
        let with_fees = limit.checked_add(total(&charge(&rules, limit).unwrap()).unwrap()).unwrap();
        assert!(with_fees <= amount("300"));
        let one_more = limit.checked_add(amount("0.01")).unwrap();
        let over =
            one_more.checked_add(total(&charge(&rules, one_more).unwrap()).unwrap()).unwrap();
        assert!(over > amount("300"), "{limit}");
        assert_eq!(cash_out_limit(&rules, amount("3")), Some(Amount::ZERO));
        assert_eq!(cash_out_limit(&[], amount("12.345")), Some(amount("12.34")));
        assert_eq!(cash_out_limit(&[], amount("-5")), Some(Amount::ZERO));
    }
}
