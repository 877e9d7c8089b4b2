//! Versioned record encoding: `[format version][crc32 of payload, LE][JSON payload]`.
//! Both directions check the record, so a torn or foreign value is an error, never a panic.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::schema::printable_key;
use super::StoreError;

/// The record format this build writes and reads.
pub const FORMAT_VERSION: u8 = 1;

const HEADER_BYTES: usize = 5;

pub fn encode<T: Serialize>(key: &[u8], value: &T) -> Result<Vec<u8>, StoreError> {
    let payload = serde_json::to_vec(value).map_err(|error| StoreError::Encode {
        key: printable_key(key),
        reason: error.to_string(),
    })?;
    let mut bytes = Vec::with_capacity(HEADER_BYTES.saturating_add(payload.len()));
    bytes.push(FORMAT_VERSION);
    bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    bytes.extend_from_slice(&payload);
    Ok(bytes)
}

pub fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |reason: &str| StoreError::Corruption {
        key: printable_key(key),
        reason: reason.to_owned(),
    };
    let (&version, rest) = bytes.split_first().ok_or_else(|| corrupt("empty value"))?;
    if version != FORMAT_VERSION {
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
    serde_json::from_slice(payload).map_err(|error| corrupt(&error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
