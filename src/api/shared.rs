//! Renderings every dialect writes the same way: exact amounts as JSON numbers, instants.

use serde_json::Value;

use crate::clock::EpochMs;
use crate::money::Amount;

/// A JSON number with the amount's exact decimal text (`157`, `4693.38`).
pub fn number(amount: Amount) -> Value {
    amount.to_string().parse::<serde_json::Number>().map_or(Value::Null, Value::Number)
}

/// `text` as a JSON string, appended to `out`: the text itself between quotes when nothing in
/// it needs escaping (codes and names, nearly always), else as serde_json escapes it.
pub fn push_json_str(out: &mut String, text: &str) {
    if text.bytes().all(|byte| byte >= 0x20 && byte != b'"' && byte != b'\\') {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        out.push_str(&Value::from(text).to_string());
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let controls: String = (0_u8..0x20).map(char::from).collect();
        for text in
            ["", "12.001.00", "a\"b", "back\\slash", "tab\there", "\u{7f}", "café ✓", &controls]
        {
            let mut out = String::from("x");
            push_json_str(&mut out, text);
            assert_eq!(out, format!("x{}", serde_json::to_string(text).unwrap()), "{text:?}");
        }
    }
}
