//! The history request as the document describes it, checked field by field (types, the
//! document's lengths, 2-byte `limit`/`offset`, ISO-8601 dates), with one message per problem;
//! and the small renderings of its answer (currency alpha codes, dates).

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value};

use super::errors::GiftcardError;
use crate::clock::EpochMs;
use crate::core::command::GiftCredential;

/// The document's lengths.
pub const CARD_NUMBER_CHARS_MAX: usize = 50;
pub const PIN_CHARS_MAX: usize = 25;
/// An order id is a UUID; anything far longer is not one.
pub const ORDER_ID_CHARS_MAX: usize = 64;

/// A checked history request. `limit`/`offset` are the body's; the query's are read apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRequest {
    pub from_ms: Option<EpochMs>,
    pub to_ms: Option<EpochMs>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub cards: Vec<GiftCredential>,
}

/// Parses and checks the body, collecting every problem. An empty PIN is not a problem here:
/// the caller answers it with its own code once the rest is well-formed.
pub fn parse(body: &[u8]) -> Result<HistoryRequest, GiftcardError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| GiftcardError::Invalid(vec![format!("invalid JSON: {error}")]))?;
    let Value::Object(object) = value else {
        return Err(GiftcardError::Invalid(vec!["the body must be a JSON object".to_owned()]));
    };
    let mut problems = Vec::new();
    let request = HistoryRequest {
        from_ms: date(&object, "startDate", &mut problems),
        to_ms: date(&object, "endDate", &mut problems),
        limit: short(object.get("limit"), "limit", &mut problems),
        offset: short(object.get("offset"), "offset", &mut problems),
        cards: cards(object.get("cards"), &mut problems),
    };
    if let (Some(from), Some(to)) = (request.from_ms, request.to_ms) {
        if from > to {
            problems.push("startDate is after endDate".to_owned());
        }
    }
    if problems.is_empty() {
        Ok(request)
    } else {
        Err(GiftcardError::Invalid(problems))
    }
}

/// A 2-byte integer (JSON number or, from the query, its text), absent when null.
pub fn short(value: Option<&Value>, name: &str, problems: &mut Vec<String>) -> Option<i64> {
    let number = match value {
        None | Some(Value::Null) => return None,
        Some(Value::Number(number)) => number.as_i64(),
        Some(Value::String(text)) => text.trim().parse::<i64>().ok(),
        Some(_) => None,
    };
    match number {
        Some(number) if i16::try_from(number).is_ok() => Some(number),
        _ => {
            problems.push(format!("{name} must be a 2-byte integer (-32768 to 32767)"));
            None
        }
    }
}

fn date(object: &Map<String, Value>, name: &str, problems: &mut Vec<String>) -> Option<EpochMs> {
    match object.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.trim().is_empty() => None,
        Some(Value::String(text)) => {
            let parsed = parse_instant(text.trim());
            if parsed.is_none() {
                problems.push(format!("{name} must be an ISO-8601 date-time"));
            }
            parsed
        }
        Some(_) => {
            problems.push(format!("{name} must be an ISO-8601 date-time string"));
            None
        }
    }
}

/// `2019-01-24T15:59:59Z`, with an offset (`+05:30`) or fractions; without a zone, UTC.
pub fn parse_instant(text: &str) -> Option<EpochMs> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Some(instant.timestamp_millis());
    }
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    Some(Utc.from_utc_datetime(&naive).timestamp_millis())
}

fn cards(value: Option<&Value>, problems: &mut Vec<String>) -> Vec<GiftCredential> {
    let Some(Value::Array(items)) = value else {
        problems.push("cards is required: a list of {cardNumber, pin}".to_owned());
        return Vec::new();
    };
    if items.is_empty() {
        problems.push("cards must name at least one card".to_owned());
    }
    items.iter().enumerate().filter_map(|(index, item)| card(index, item, problems)).collect()
}

fn card(index: usize, item: &Value, problems: &mut Vec<String>) -> Option<GiftCredential> {
    let Value::Object(fields) = item else {
        problems.push(format!("cards[{index}] must be an object"));
        return None;
    };
    let number = text(fields, "cardNumber", index, CARD_NUMBER_CHARS_MAX, problems);
    let pin = text(fields, "pin", index, PIN_CHARS_MAX, problems);
    match number {
        Some(number) if number.trim().is_empty() => {
            problems.push(format!("cards[{index}].cardNumber is required"));
            None
        }
        Some(number) => Some(GiftCredential { number, pin: pin.unwrap_or_default() }),
        None => None,
    }
}

/// A string field of at most `chars_max` characters; a missing or null one is empty.
fn text(
    fields: &Map<String, Value>,
    name: &str,
    index: usize,
    chars_max: usize,
    problems: &mut Vec<String>,
) -> Option<String> {
    match fields.get(name) {
        None | Some(Value::Null) => Some(String::new()),
        Some(Value::String(text)) if text.chars().count() > chars_max => {
            problems.push(format!("cards[{index}].{name} is longer than {chars_max} characters"));
            None
        }
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => {
            problems.push(format!("cards[{index}].{name} must be a string"));
            None
        }
    }
}

/// The ISO-4217 alpha code of the currencies the switch's operators use; `None` otherwise.
pub fn currency_alpha(numeric: u16) -> Option<&'static str> {
    const CODES: [(u16, &str); 14] = [
        (32, "ARS"),
        (36, "AUD"),
        (124, "CAD"),
        (152, "CLP"),
        (356, "INR"),
        (392, "JPY"),
        (484, "MXN"),
        (756, "CHF"),
        (826, "GBP"),
        (840, "USD"),
        (858, "UYU"),
        (978, "EUR"),
        (986, "BRL"),
        (710, "ZAR"),
    ];
    CODES.iter().find(|(code, _)| *code == numeric).map(|(_, alpha)| *alpha)
}

/// A card's `yyyyMM` expiration as the last second of that month, ISO-8601.
pub fn expiry_instant(expiration: &str) -> Option<String> {
    let year: i32 = expiration.get(..4)?.parse().ok()?;
    let month: u32 = expiration.get(4..6)?.parse().ok()?;
    let (next_year, next_month) =
        if month == 12 { (year.checked_add(1)?, 1) } else { (year, month.checked_add(1)?) };
    let next = Utc.with_ymd_and_hms(next_year, next_month, 1, 0, 0, 0).single()?;
    let last = next.checked_sub_signed(chrono::Duration::seconds(1))?;
    Some(last.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_with_zones_offsets_and_without() {
        assert_eq!(parse_instant("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_instant("1970-01-01T05:30:01+05:30"), Some(1000));
        assert_eq!(parse_instant("1970-01-01T00:00:01"), Some(1000));
        assert_eq!(parse_instant("yesterday"), None);
        assert_eq!(parse_instant("1970-01-01"), None);
    }

    #[test]
    fn expiry_is_the_last_second_of_the_month() {
        assert_eq!(expiry_instant("202902").as_deref(), Some("2029-02-28T23:59:59Z"));
        assert_eq!(expiry_instant("202912").as_deref(), Some("2029-12-31T23:59:59Z"));
        assert_eq!(expiry_instant("2029"), None);
    }

    #[test]
    fn every_problem_is_named() {
        let body = br#"{"limit": 40000, "offset": "x", "startDate": 5,
            "cards": [{"cardNumber": 1, "pin": "1"}, {"pin": "1234"}, {"cardNumber": "1", "pin": "12345678901234567890123456"}]}"#;
        let Err(GiftcardError::Invalid(problems)) = parse(body) else { panic!("accepted") };
        assert_eq!(problems.len(), 6, "{problems:?}");
    }
}
