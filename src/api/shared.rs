//! Renderings every dialect writes the same way: exact amounts as JSON numbers, instants.

use serde_json::Value;

use crate::clock::EpochMs;
use crate::money::Amount;

/// A JSON number with the amount's exact decimal text (`157`, `4693.38`).
pub fn number(amount: Amount) -> Value {
    amount.to_decimal().to_string().parse::<serde_json::Number>().map_or(Value::Null, Value::Number)
}

/// `2014-06-01T12:00:00Z`.
pub fn instant(ms: EpochMs) -> String {
    use chrono::TimeZone;
    chrono::Utc
        .timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}
