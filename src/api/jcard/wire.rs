//! jCard request bodies as the document's schemas define them (`additionalProperties: false`
//! becomes `deny_unknown_fields`), and their first check. Nothing here is seen by the core.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::errors::JcardError;
use super::lenient;
use crate::money::{Amount, AmountError};

/// Longest id, code or name accepted in a path or body.
pub const IDENTIFIER_CHARS_MAX: usize = 128;

/// `POST /sysconfig`: every field required. The document's example writes `readperm` and its
/// schema `readPerm`; both are accepted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SysconfigCreate {
    pub id: String,
    pub value: String,
    #[serde(rename = "readPerm", alias = "readperm")]
    pub read_perm: String,
    #[serde(rename = "writePerm", alias = "writeperm")]
    pub write_perm: String,
}

/// `PUT /sysconfig`: only `id` required.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SysconfigUpdate {
    pub id: String,
    pub value: Option<String>,
    #[serde(rename = "readPerm", alias = "readperm")]
    pub read_perm: Option<String>,
    #[serde(rename = "writePerm", alias = "writeperm")]
    pub write_perm: Option<String>,
}

/// `POST /gl/transactions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GlTransaction {
    pub detail: Option<String>,
    pub post_date: String,
    pub journal_name: String,
    pub tags: Option<String>,
    pub entries: Vec<GlEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GlEntry {
    pub amount: serde_json::Number,
    pub account_code: String,
    pub tags: Option<String>,
    pub detail: Option<String>,
    #[serde(rename = "type")]
    pub side: EntrySide,
    pub layer: Option<i64>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntrySide {
    Debit,
    Credit,
}

/// `POST /gl/charts/{chart}/accounts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GlAccount {
    pub code: String,
    pub description: Option<String>,
    pub account_type: EntrySide,
    pub tags: Option<String>,
    pub currency_code: Option<String>,
    pub parent_code: String,
    #[serde(rename = "final")]
    pub is_final: bool,
    pub expiration: Option<String>,
}

/// Reads a JSON body into a wire struct; schema violations become jCard's `missing.fields`,
/// `extra.fields` or `invalid.request` errors.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, JcardError> {
    from_value(parse_json(body)?)
}

/// A parsed JSON value into a wire struct, with the errors of [`parse_body`].
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, JcardError> {
    serde_json::from_value(value).map_err(|error| {
        let message = error.to_string();
        let code = if message.starts_with("missing field") {
            "missing.fields"
        } else if message.starts_with("unknown field") {
            "extra.fields"
        } else {
            "invalid.request"
        };
        JcardError::bad_request(code, message)
    })
}

/// Reads any JSON body (mending the document's comma slips).
pub fn parse_json(body: &[u8]) -> Result<Value, JcardError> {
    lenient::parse(body).map_err(|error| {
        JcardError::bad_request("invalid.json", format!("the body is not JSON: {error}"))
    })
}

/// Appends `"name":value` to a JSON object being printed into `out` (which starts with its
/// `{`), with a comma after an earlier member, as `serde_json` prints a tree's members.
pub fn put_member(
    out: &mut Vec<u8>,
    name: &str,
    value: &(impl serde::Serialize + ?Sized),
) -> Option<()> {
    if out.len() > 1 {
        out.push(b',');
    }
    serde_json::to_writer(&mut *out, name).ok()?;
    out.push(b':');
    serde_json::to_writer(out, value).ok()
}

/// Removes members whose value is `null`: like jCard's own JSON binding, the switch reads a
/// null as an absent member, in every body (a required one is then missing).
pub fn drop_nulls(members: &mut serde_json::Map<String, Value>) {
    members.retain(|_, value| !value.is_null());
}

/// An exact amount from a JSON number.
pub fn amount(number: &serde_json::Number, field: &str) -> Result<Amount, JcardError> {
    Amount::parse(&number.to_string()).map_err(|error| {
        let reason = match error {
            AmountError::TooPrecise => "has more decimal places than the ledger keeps (4)",
            AmountError::OutOfRange => "is out of range",
            AmountError::Malformed => "is not a decimal number",
        };
        JcardError::bad_request("invalid.amount", format!("{field} {reason}"))
    })
}

/// A non-empty identifier of bounded length without control characters.
pub fn identifier<'a>(text: &'a str, field: &str) -> Result<&'a str, JcardError> {
    let text = text.trim();
    if text.is_empty()
        || text.chars().count() > IDENTIFIER_CHARS_MAX
        || text.chars().any(char::is_control)
    {
        return Err(JcardError::bad_request(
            "invalid.field",
            format!("{field} must be 1 to {IDENTIFIER_CHARS_MAX} printable characters"),
        ));
    }
    Ok(text)
}

/// Random JSON bodies for comparing a body's plain (borrowed) reading with its tree reading.
#[cfg(test)]
pub mod random_bodies {
    use rand::{Rng, SeedableRng};

    /// What the bodies are made of: `names[..required]` come first in most bodies, then the
    /// rest of `names[..typical]`, sometimes any name; a value is mostly `valid(name)`,
    /// sometimes any of `values`.
    pub struct Recipe<'a> {
        pub names: &'a [&'a str],
        pub required: usize,
        pub typical: usize,
        pub values: &'a [&'a str],
        pub valid: fn(&str) -> &'static str,
    }

    impl Recipe<'_> {
        /// A random body: a missing comma now and then, a trailing one, spaces.
        fn body(&self, random: &mut impl Rng) -> String {
            let mut body = String::from("{");
            for index in 0..random.gen_range(0..self.typical) {
                if index > 0 && random.gen_ratio(39, 40) {
                    body.push(',');
                }
                let name = match index {
                    index if index < self.required && random.gen_ratio(7, 8) => {
                        self.names.get(index)
                    }
                    _ if random.gen_ratio(7, 8) => {
                        self.names.get(random.gen_range(self.required..self.typical))
                    }
                    _ => self.names.get(random.gen_range(0..self.names.len())),
                }
                .copied()
                .unwrap_or("other");
                let value = if random.gen_ratio(3, 4) {
                    (self.valid)(name)
                } else {
                    self.values[random.gen_range(0..self.values.len())]
                };
                let space = if random.gen_ratio(1, 3) { " " } else { "" };
                body.push_str(&format!("{space}\"{name}\"{space}:{space}{value}"));
            }
            if random.gen_ratio(1, 40) {
                body.push(',');
            }
            body.push('}');
            body
        }

        /// Reads 20,000 seeded random bodies both ways with each of `variants` and asserts
        /// the same answer (by its `Debug` text) wherever the plain reading answers; both
        /// kinds of answer must come out of it often enough to compare.
        pub fn compare<V: Copy, B: std::fmt::Debug, E: std::fmt::Debug>(
            &self,
            variants: &[V],
            plain: impl Fn(V, &[u8]) -> Option<Result<B, E>>,
            general: impl Fn(V, &[u8]) -> Result<B, E>,
        ) {
            let mut random = rand::rngs::StdRng::seed_from_u64(20261123);
            let (mut accepted, mut refused) = (0, 0);
            for _ in 0..20_000 {
                let body = self.body(&mut random);
                for variant in variants {
                    let Some(read) = plain(*variant, body.as_bytes()) else { continue };
                    if read.is_ok() {
                        accepted += 1;
                    } else {
                        refused += 1;
                    }
                    let expected = general(*variant, body.as_bytes());
                    assert_eq!(format!("{read:?}"), format!("{expected:?}"), "{body}");
                }
            }
            assert!(accepted > 1_000 && refused > 300, "{accepted} accepted, {refused} refused");
        }
    }
}
