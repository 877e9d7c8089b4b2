//! Versioned record encoding: `[format version][crc32 of payload, LE][payload]`.
//! Both directions check the record, so a torn or foreign value is an error, never a panic.
//!
//! Format 2 (written since): MessagePack with structs as arrays of their fields in declaration
//! order and enum variants by name (`rmp_serde`'s default). Format 1 (written before, still
//! read): JSON. A debit's records are less than half as many bytes in format 2 (a tranlog
//! record 281 bytes against 553, a GL transaction 126 against 403) and decode three times
//! faster, which is less for the store's journal, flushes and compactions to carry and a
//! shorter restart (`docs/performance.md`).
//!
//! Because format 2 names no fields, **a stored struct's fields are only ever appended, each new
//! one `#[serde(default)]`** (an older record, one element short, reads with the default);
//! never reordered, inserted or removed. Renaming a field is free. `tests/it/storage_format.rs`
//! pins the layout of every stored type, so a reordering fails a test instead of misreading data.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::schema::printable_key;
use super::StoreError;

/// The record format this build writes.
pub const FORMAT_VERSION: u8 = 2;
/// The JSON records of earlier builds, read but no longer written.
const FORMAT_VERSION_JSON: u8 = 1;

const HEADER_BYTES: usize = 5;

pub fn encode<T: Serialize>(key: &[u8], value: &T) -> Result<Vec<u8>, StoreError> {
    let mut bytes = Vec::with_capacity(64);
    bytes.push(FORMAT_VERSION);
    bytes.extend_from_slice(&[0; 4]);
    rmp_serde::encode::write(&mut bytes, value).map_err(|error| StoreError::Encode {
        key: printable_key(key),
        reason: error.to_string(),
    })?;
    let checksum = crc32fast::hash(&bytes[HEADER_BYTES..]);
    bytes[1..HEADER_BYTES].copy_from_slice(&checksum.to_le_bytes());
    Ok(bytes)
}

pub fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |reason: &str| StoreError::Corruption {
        key: printable_key(key),
        reason: reason.to_owned(),
    };
    let (&version, rest) = bytes.split_first().ok_or_else(|| corrupt("empty value"))?;
    if version != FORMAT_VERSION && version != FORMAT_VERSION_JSON {
        return Err(StoreError::UnsupportedVersion { key: printable_key(key), version });
    }
    if rest.len() < 4 {
        return Err(corrupt("value shorter than its header"));
    }
    let (checksum, payload) = rest.split_at(4);
    let expected = u32::from_le_bytes([checksum[0], checksum[1], checksum[2], checksum[3]]);
    if crc32fast::hash(payload) != expected {
        return Err(corrupt("checksum mismatch"));
    }
    if version == FORMAT_VERSION_JSON {
        return serde_json::from_slice(payload).map_err(|error| corrupt(&error.to_string()));
    }
    let mut reader = payload;
    let value =
        rmp_serde::decode::from_read(&mut reader).map_err(|error| corrupt(&error.to_string()))?;
    if !reader.is_empty() {
        return Err(corrupt("bytes after the value"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    /// A format-1 (JSON) record, as builds before format 2 wrote it.
    fn encode_json<T: Serialize>(value: &T) -> Vec<u8> {
        let payload = serde_json::to_vec(value).expect("test values encode");
        let mut bytes = vec![FORMAT_VERSION_JSON];
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);
        bytes
    }

    #[test]
    fn round_trips_and_detects_damage() {
        let bytes = encode(b"k", &("hello", 42_u32)).unwrap();
        let back: (String, u32) = decode(b"k", &bytes).unwrap();
        assert_eq!(back, ("hello".to_owned(), 42));

        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(
            decode::<(String, u32)>(b"k", &flipped),
            Err(StoreError::Corruption { .. })
        ));

        let mut future = bytes;
        future[0] = 9;
        assert!(matches!(
            decode::<(String, u32)>(b"k", &future),
            Err(StoreError::UnsupportedVersion { version: 9, .. })
        ));
        assert!(matches!(decode::<u32>(b"k", &[]), Err(StoreError::Corruption { .. })));
    }

    #[test]
    fn a_value_followed_by_more_bytes_is_corrupt() {
        let mut bytes = encode(b"k", &7_u32).unwrap();
        bytes.push(0);
        let checksum = crc32fast::hash(&bytes[HEADER_BYTES..]);
        bytes[1..HEADER_BYTES].copy_from_slice(&checksum.to_le_bytes());
        assert!(matches!(decode::<u32>(b"k", &bytes), Err(StoreError::Corruption { .. })));
    }

    #[test]
    fn json_records_of_earlier_builds_still_read() {
        let bytes = encode_json(&("hello", 42_u32));
        assert_eq!(bytes[0], FORMAT_VERSION_JSON);
        let back: (String, u32) = decode(b"k", &bytes).unwrap();
        assert_eq!(back, ("hello".to_owned(), 42));
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Before {
        id: u64,
        name: String,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct After {
        id: u64,
        name: String,
        #[serde(default)]
        note: Option<String>,
        #[serde(default)]
        count: u32,
    }

    #[test]
    fn a_field_appended_with_a_default_reads_records_written_without_it() {
        let old = encode(b"k", &Before { id: 7, name: "seven".to_owned() }).unwrap();
        let read: After = decode(b"k", &old).unwrap();
        assert_eq!(read, After { id: 7, name: "seven".to_owned(), note: None, count: 0 });
    }

    #[test]
    fn structs_are_stored_without_their_field_names() {
        let bytes = encode(b"k", &Before { id: 7, name: "seven".to_owned() }).unwrap();
        // fixarray of 2, positive fixint 7, fixstr of 5.
        assert_eq!(&bytes[HEADER_BYTES..], b"\x92\x07\xa5seven");
    }
}
