//! Exact money: amounts as signed integers of 1/10000 of a unit, parsed from and rendered to
//! decimal text without ever passing through a float.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Decimal places the ledger keeps. Matches the decimal(22,4) of the gift-card document and
/// covers every ISO-4217 minor unit (0 to 4 places).
pub const AMOUNT_SCALE: u32 = 4;

/// Units of 1/10000 in one whole unit.
pub const UNITS_PER_WHOLE: i64 = 10_000;

/// An exact amount in 1/10000 units. Negative amounts exist: miniGL reversals post negated
/// copies of the original entries. Stored as its integer units.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Amount(i64);

/// Why a decimal text is not an amount the ledger can keep.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("not a decimal number")]
    Malformed,
    #[error("more than {AMOUNT_SCALE} decimal places")]
    TooPrecise,
    #[error("out of range")]
    OutOfRange,
}

impl Amount {
    pub const ZERO: Amount = Amount(0);

    /// An amount from raw 1/10000 units.
    pub const fn from_units(units: i64) -> Amount {
        Amount(units)
    }

    /// An amount of whole units.
    pub fn from_whole(whole: i64) -> Option<Amount> {
        whole.checked_mul(UNITS_PER_WHOLE).map(Amount)
    }

    pub const fn units(self) -> i64 {
        self.0
    }

    /// Parses decimal text such as `4693.38`, `-1`, `1.5e2` exactly. Refuses more decimal
    /// places than the ledger keeps (after dropping trailing zeros: `1.50000` is fine).
    pub fn parse(text: &str) -> Result<Amount, AmountError> {
        let text = text.trim();
        if text.is_empty() || text.len() > 64 {
            return Err(AmountError::Malformed);
        }
        let decimal = if text.contains(['e', 'E']) {
            let invalid = if is_decimal_syntax(text) {
                AmountError::OutOfRange
            } else {
                AmountError::Malformed
            };
            Decimal::from_scientific(text).map_err(|_| invalid)?
        } else {
            Decimal::from_str_exact(text).map_err(|error| match error {
                rust_decimal::Error::ExceedsMaximumPossibleValue
                | rust_decimal::Error::LessThanMinimumPossibleValue => AmountError::OutOfRange,
                _ => AmountError::Malformed,
            })?
        };
        Amount::from_decimal(decimal)
    }

    fn from_decimal(decimal: Decimal) -> Result<Amount, AmountError> {
        let normalized = decimal.normalize();
        if normalized.scale() > AMOUNT_SCALE {
            return Err(AmountError::TooPrecise);
        }
        let mut rescaled = normalized;
        rescaled.rescale(AMOUNT_SCALE);
        if rescaled.scale() != AMOUNT_SCALE {
            return Err(AmountError::OutOfRange);
        }
        let mantissa = rescaled.mantissa();
        i64::try_from(mantissa).map(Amount).map_err(|_| AmountError::OutOfRange)
    }

    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }

    pub fn checked_neg(self) -> Option<Amount> {
        self.0.checked_neg().map(Amount)
    }

    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// The amount as a decimal with trailing zeros dropped (`157`, `4693.38`).
    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, AMOUNT_SCALE).normalize()
    }

    /// The amount with exactly `places` decimals (`300.00`), rounding half away from zero
    /// when `places` is below the ledger's scale.
    pub fn to_fixed(self, places: u32) -> String {
        let mut decimal = Decimal::new(self.0, AMOUNT_SCALE);
        decimal = decimal
            .round_dp_with_strategy(places, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        decimal.rescale(places);
        decimal.to_string()
    }
}

/// True for `[-+]digits[.digits][(e|E)[-+]digits]`: the shape of a decimal number.
fn is_decimal_syntax(text: &str) -> bool {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => {
            (mantissa, Some(exponent.strip_prefix(['-', '+']).unwrap_or(exponent)))
        }
        None => (unsigned, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, fraction)) => digits(whole) && digits(fraction),
        None => digits(mantissa),
    };
    mantissa_ok && exponent.is_none_or(digits)
}

impl fmt::Display for Amount {
    /// The text of `to_decimal()` (`157`, `4693.38`, `-0.0005`), in integer arithmetic: no
    /// `Decimal` built, normalized and formatted on the balance enquiry's path.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let per_whole = UNITS_PER_WHOLE.unsigned_abs();
        let units = self.0.unsigned_abs();
        if self.0 < 0 {
            formatter.write_str("-")?;
        }
        write!(formatter, "{}", units / per_whole)?;
        let mut fraction = units % per_whole;
        if fraction == 0 {
            return Ok(());
        }
        let mut places = 0_usize;
        let mut unit = per_whole;
        while unit > 1 {
            unit /= 10;
            places += 1;
        }
        while fraction.is_multiple_of(10) {
            fraction /= 10;
            places -= 1;
        }
        write!(formatter, ".{fraction:0places$}")
    }
}

impl FromStr for Amount {
    type Err = AmountError;

    fn from_str(text: &str) -> Result<Amount, AmountError> {
        Amount::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exactly() {
        assert_eq!(Amount::parse("4693.38"), Ok(Amount(46_933_800)));
        assert_eq!(Amount::parse("-1"), Ok(Amount(-10_000)));
        assert_eq!(Amount::parse("0.0001"), Ok(Amount(1)));
        assert_eq!(Amount::parse("1.50000"), Ok(Amount(15_000)));
        assert_eq!(Amount::parse("1.5e2"), Ok(Amount(1_500_000)));
        assert_eq!(Amount::parse("1E-4"), Ok(Amount(1)));
    }

    #[test]
    fn refuses_what_it_cannot_keep() {
        assert_eq!(Amount::parse("0.00001"), Err(AmountError::TooPrecise));
        assert_eq!(Amount::parse("abc"), Err(AmountError::Malformed));
        assert_eq!(Amount::parse(""), Err(AmountError::Malformed));
        assert_eq!(Amount::parse("1e30"), Err(AmountError::OutOfRange));
        assert_eq!(Amount::parse("1e"), Err(AmountError::Malformed));
        assert_eq!(Amount::parse("e5"), Err(AmountError::Malformed));
        assert_eq!(Amount::parse("99999999999999999999"), Err(AmountError::OutOfRange));
    }

    #[test]
    fn renders_without_float_noise() {
        assert_eq!(Amount(46_933_800).to_string(), "4693.38");
        assert_eq!(Amount(1_570_000).to_string(), "157");
        assert_eq!(Amount(-5).to_string(), "-0.0005");
        assert_eq!(Amount(3_000_000).to_fixed(2), "300.00");
        assert_eq!(Amount(15).to_fixed(2), "0.00");
        assert_eq!(Amount(50).to_fixed(2), "0.01");
    }

    #[test]
    fn renders_as_its_decimal_does() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(20_261_123);
        let edges = [0, 1, -1, 9, 10, 9_999, 10_000, -10_000, 10_001, 123_450, i64::MAX, i64::MIN];
        let random = (0..20_000).map(|_| match rng.gen_range(0..3) {
            0 => rng.gen::<i64>(),
            1 => rng.gen_range(-100_000_000..100_000_000),
            _ => rng.gen_range(-1_000..1_000) * 10_i64.pow(rng.gen_range(0..6)),
        });
        for units in edges.into_iter().chain(random) {
            assert_eq!(
                Amount(units).to_string(),
                Amount(units).to_decimal().to_string(),
                "{units}"
            );
        }
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(Amount(i64::MAX).checked_add(Amount(1)), None);
        assert_eq!(Amount(i64::MIN).checked_neg(), None);
        assert_eq!(Amount(5).checked_sub(Amount(7)), Some(Amount(-2)));
    }
}
