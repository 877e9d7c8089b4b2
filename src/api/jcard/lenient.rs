//! Reading request JSON the way the jCard document writes it: several of its examples leave out
//! the commas between members or keep a trailing one. A body that is not valid JSON is read
//! again with exactly those two slips mended; anything else stays an error. The signature is
//! always checked over the raw bytes, so mending changes nothing about authentication.

use serde_json::Value;

/// Parses `body`, mending missing commas between values and trailing commas if needed. The
/// error is the one of the body as sent.
pub fn parse(body: &[u8]) -> Result<Value, serde_json::Error> {
    match serde_json::from_slice(body) {
        Ok(value) => Ok(value),
        Err(error) => match mend(body) {
            Some(mended) => serde_json::from_slice(&mended).map_err(|_| error),
            None => Err(error),
        },
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Last {
    /// Start of input, `{`, `[`, `,` or `:`: a value may follow directly.
    Open,
    Comma,
    /// The end of a value or key: only `,`, `:`, `}` or `]` may follow.
    ValueEnd,
}

/// Returns the body with missing commas inserted and trailing commas removed, or `None` if
/// nothing needed mending.
fn mend(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len().saturating_add(16));
    let mut depth = 0_usize;
    let mut last = Last::Open;
    let mut last_comma_at = None;
    let mut changed = false;
    let mut index = 0;
    while let Some(&byte) = body.get(index) {
        match byte {
            b'"' | b'{' | b'[' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n'
                if last == Last::ValueEnd && depth > 0 =>
            {
                out.push(b',');
                changed = true;
                last = Last::Comma;
                continue;
            }
            b'"' => {
                let end = string_end(body, index)?;
                out.extend_from_slice(body.get(index..end)?);
                index = end;
                last = Last::ValueEnd;
                continue;
            }
            b'{' | b'[' => {
                depth = depth.saturating_add(1);
                last = Last::Open;
            }
            b'}' | b']' => {
                if last == Last::Comma {
                    if let Some(at) = last_comma_at.take() {
                        out.remove(at);
                        changed = true;
                    }
                }
                depth = depth.saturating_sub(1);
                last = Last::ValueEnd;
            }
            b',' => {
                last_comma_at = Some(out.len());
                last = Last::Comma;
            }
            b':' => last = Last::Open,
            byte if byte.is_ascii_whitespace() => {}
            _ => {
                let end = scalar_end(body, index);
                out.extend_from_slice(body.get(index..end)?);
                index = end;
                last = Last::ValueEnd;
                continue;
            }
        }
        out.push(byte);
        index = index.saturating_add(1);
    }
    changed.then_some(out)
}

/// Index just past the string literal starting at `start`.
fn string_end(body: &[u8], start: usize) -> Option<usize> {
    let mut index = start.saturating_add(1);
    while let Some(&byte) = body.get(index) {
        match byte {
            b'\\' => index = index.saturating_add(2),
            b'"' => return Some(index.saturating_add(1)),
            _ => index = index.saturating_add(1),
        }
    }
    None
}

/// Index just past a number or literal starting at `start`.
fn scalar_end(body: &[u8], start: usize) -> usize {
    let mut index = start;
    while let Some(&byte) = body.get(index) {
        if byte.is_ascii_whitespace()
            || matches!(byte, b',' | b':' | b'}' | b']' | b'{' | b'[' | b'"')
        {
            break;
        }
        index = index.saturating_add(1);
    }
    index.max(start.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mends_the_documents_missing_commas() {
        let body = br#"{
    "id" : "perm.restapi"
    "value" : "restapi"
    "readperm" : "login"
    "writeperm" : "admin"
}"#;
        assert_eq!(
            parse(body).unwrap(),
            json!({"id": "perm.restapi", "value": "restapi", "readperm": "login", "writeperm": "admin"})
        );
        let debit = br#"{ "realId" : "11111111", "birthDate" : "1990-04-31"
    "type" : "creditBankAccountW2A", "n": [1 2 {"a": true} null] }"#;
        assert_eq!(parse(debit).unwrap()["n"], json!([1, 2, {"a": true}, null]));
        assert_eq!(parse(br#"{"success" : true,}"#).unwrap(), json!({"success": true}));
    }

    #[test]
    fn keeps_valid_json_and_refuses_real_garbage() {
        assert_eq!(parse(br#"{"a":"x\"y"}"#).unwrap(), json!({"a": "x\"y"}));
        assert!(parse(b"{\"a\" 1}").is_err());
        assert!(parse(b"{\"a\": }").is_err());
        assert!(parse(b"{\"a\": \"unterminated").is_err());
        assert!(parse(b"").is_err());
        assert!(parse(b"{} {}").is_err());
    }

    #[test]
    fn numbers_keep_their_exact_text() {
        let value = parse(br#"{"amount": 4693.38 "x": 1}"#).unwrap();
        assert_eq!(value["amount"].to_string(), "4693.38");
    }
}
