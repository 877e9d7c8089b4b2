//! Primary account numbers: Luhn-checked, masked whenever printed, generated from a BIN, read
//! from magnetic-stripe tracks. A PAN is never stored: the switch keeps a keyed hash (to find
//! a card by its number), the BIN and the last four digits.

use std::fmt;

/// Shortest and longest PAN (ISO/IEC 7812).
pub const PAN_DIGITS_MIN: usize = 12;
pub const PAN_DIGITS_MAX: usize = 19;
/// Digits of a BIN as the switch keeps it.
pub const BIN_DIGITS: usize = 6;

/// A card number that passed the Luhn check. Debug and Display mask it.
#[derive(Clone, PartialEq, Eq)]
pub struct Pan(String);

/// Why text is not a PAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PanError {
    #[error("a PAN is 12 to 19 digits")]
    Shape,
    #[error("the PAN fails the Luhn check")]
    Luhn,
}

impl Pan {
    pub fn parse(text: &str) -> Result<Pan, PanError> {
        let digits = text.trim();
        if !(PAN_DIGITS_MIN..=PAN_DIGITS_MAX).contains(&digits.len())
            || !digits.bytes().all(|byte| byte.is_ascii_digit())
        {
            return Err(PanError::Shape);
        }
        if !luhn_valid(digits) {
            return Err(PanError::Luhn);
        }
        Ok(Pan(digits.to_owned()))
    }

    /// A PAN of `length` digits starting with `prefix`, the digits between from `fill`
    /// (one digit each, 0-9, used in order), and a Luhn check digit last.
    pub fn generate(
        prefix: &str,
        length: usize,
        fill: impl IntoIterator<Item = u8>,
    ) -> Option<Pan> {
        if !(PAN_DIGITS_MIN..=PAN_DIGITS_MAX).contains(&length)
            || prefix.len() >= length
            || !prefix.bytes().all(|byte| byte.is_ascii_digit())
        {
            return None;
        }
        let mut digits: String = prefix.to_owned();
        let mut fill = fill.into_iter();
        while digits.len() < length.saturating_sub(1) {
            digits.push(char::from(b'0'.saturating_add(fill.next()? % 10)));
        }
        digits.push(luhn_check_digit(&digits));
        Some(Pan(digits))
    }

    /// The full number: only for the issuance answer and hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn bin(&self) -> &str {
        self.0.get(..BIN_DIGITS).unwrap_or_default()
    }

    pub fn last_four(&self) -> &str {
        self.0.get(self.0.len().saturating_sub(4)..).unwrap_or_default()
    }

    /// `484613XXXXXX6787`: BIN, an X per hidden digit, last four.
    pub fn masked(&self) -> String {
        mask(self.bin(), self.last_four(), self.0.len())
    }
}

/// The masked form of a PAN known only by its BIN, last four and length.
pub fn mask(bin: &str, last_four: &str, length: usize) -> String {
    let hidden = length.saturating_sub(bin.len()).saturating_sub(last_four.len());
    format!("{bin}{}{last_four}", "X".repeat(hidden))
}

impl fmt::Debug for Pan {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Pan({})", self.masked())
    }
}

impl fmt::Display for Pan {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.masked())
    }
}

fn luhn_sum(digits: &str, double_first: bool) -> u32 {
    digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(index, byte)| {
            let digit = u32::from(byte.saturating_sub(b'0'));
            let doubled = (index % 2 == 0) == double_first;
            if doubled {
                let twice = digit * 2;
                if twice > 9 {
                    twice - 9
                } else {
                    twice
                }
            } else {
                digit
            }
        })
        .sum()
}

/// True when the last digit is the Luhn check digit of the others.
pub fn luhn_valid(digits: &str) -> bool {
    luhn_sum(digits, false).is_multiple_of(10)
}

/// The digit that makes `digits` + it pass the Luhn check.
fn luhn_check_digit(digits: &str) -> char {
    let sum = luhn_sum(digits, true);
    let check = (10 - sum % 10) % 10;
    char::from_digit(check, 10).unwrap_or('0')
}

/// What a card's tracks say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracks {
    pub pan: Pan,
    /// `yyyyMM`.
    pub expiration: String,
    pub service_code: String,
    pub name: Option<String>,
}

/// Reads track 2 (`PAN=YYMMSSS...`) and track 1 (`%B PAN ^NAME^ YYMM SSS ...`); they must name
/// the same card.
pub fn parse_tracks(track1: &str, track2: &str) -> Result<Tracks, String> {
    let (pan2, rest2) = track2.trim().split_once(['=', 'D']).ok_or("track2 has no separator")?;
    let pan = Pan::parse(pan2).map_err(|error| format!("track2: {error}"))?;
    let (expiration, service_code) =
        expiry_and_service(rest2).ok_or("track2 lacks expiry and service code")?;
    let body = track1.trim().trim_start_matches('%');
    let body = body.trim_start_matches(|character: char| character.is_ascii_uppercase());
    let mut parts = body.splitn(3, '^');
    let pan1 = parts.next().unwrap_or_default();
    let name = parts.next().ok_or("track1 has no name field")?;
    let rest1 = parts.next().ok_or("track1 has no expiry field")?;
    if pan1.trim() != pan.expose() {
        return Err("track1 and track2 name different cards".to_owned());
    }
    let (expiration1, _) =
        expiry_and_service(rest1).ok_or("track1 lacks expiry and service code")?;
    if expiration1 != expiration {
        return Err("track1 and track2 disagree on the expiry".to_owned());
    }
    let name = name.trim().trim_matches('/').trim();
    Ok(Tracks {
        pan,
        expiration,
        service_code,
        name: (!name.is_empty()).then(|| name.replace('/', " ")),
    })
}

/// `YYMMSSS...` → (`20YYMM`, `SSS`).
fn expiry_and_service(text: &str) -> Option<(String, String)> {
    let digits = text.get(..7)?;
    if !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let month: u32 = digits.get(2..4)?.parse().ok()?;
    if !(1..=12).contains(&month) {
        return None;
    }
    Some((format!("20{}{}", digits.get(..2)?, digits.get(2..4)?), digits.get(4..7)?.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_and_masking() {
        let pan = Pan::parse("4555660000000002").unwrap();
        assert_eq!(pan.masked(), "455566XXXXXX0002");
        assert_eq!(format!("{pan:?}"), "Pan(455566XXXXXX0002)");
        assert!(!format!("{pan}").contains("4555660000000002"));
        assert_eq!(Pan::parse("4555660000000003"), Err(PanError::Luhn));
        assert_eq!(Pan::parse("45566600000"), Err(PanError::Shape));
        assert_eq!(Pan::parse("4556-6600-0000-0006"), Err(PanError::Shape));
        assert_eq!(mask("484613", "6787", 16), "484613XXXXXX6787");
    }

    #[test]
    fn generated_pans_have_the_bin_the_length_and_a_check_digit() {
        for length in [13, 16, 19] {
            let pan =
                Pan::generate("455566", length, [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9]).unwrap();
            assert_eq!(pan.expose().len(), length);
            assert!(pan.expose().starts_with("455566"));
            assert!(luhn_valid(pan.expose()));
        }
        assert!(Pan::generate("455566", 11, [1; 10]).is_none());
        assert!(Pan::generate("455566", 16, [1; 3]).is_none(), "not enough digits to fill");
    }

    #[test]
    fn tracks_name_the_card() {
        let tracks = parse_tracks(
            "%B4555660000000002^DOE/JOHN^2512101000000000000",
            "4555660000000002=25121010000000000",
        )
        .unwrap();
        assert_eq!(tracks.pan.last_four(), "0002");
        assert_eq!((tracks.expiration.as_str(), tracks.service_code.as_str()), ("202512", "101"));
        assert_eq!(tracks.name.as_deref(), Some("DOE JOHN"));
        assert!(parse_tracks("%B4555660000000002^DOE^2512101", "4111111111111111=2512101").is_err());
        assert!(parse_tracks("%B4555660000000002^DOE^2612101", "4555660000000002=2512101").is_err());
        assert!(parse_tracks("junk", "4555660000000002=2513101").is_err());
    }
}
