//! History packs: the tranlog and GL transaction records one commit group creates, kept as one
//! value under the key of the first of them instead of one record each. Each record the store
//! holds costs the LSM a journal entry, a memtable insert, a flush and its share of compactions,
//! whatever its size: a card debit wrote ~7 records, two of them history, and a group of a dozen
//! debits now writes those two dozen as two (`docs/performance.md`, "History packs").
//!
//! Layout: `[PACK_FORMAT][crc32 of payload, LE][payload]`, the payload a member count (u32 LE)
//! and, per member in ascending id order, its id (u64 LE), its length (u32 LE) and its bytes,
//! which are the member's own record encoding (`codec.rs`: version, checksum, value). The
//! version byte is what tells a pack from a plain record at the same kind of key; a build that
//! knows only record formats 1 and 2 refuses it as an unknown format rather than misreading it.
//!
//! Invariants: the members of a keyspace's packs and its plain records never share an id (a
//! rewrite of a packed record rewrites its pack); a pack's key is its first member's id, so the
//! record holding an id is the one at that id's key or else the nearest key below it.

use super::schema::printable_key;
use super::StoreError;

/// The version byte of a pack (record formats are 1 and 2, `codec.rs`).
pub const PACK_FORMAT: u8 = 3;

const HEADER_BYTES: usize = 5;
/// A member's id and length.
const MEMBER_HEADER_BYTES: usize = 12;

/// Whether a stored value is a pack rather than a plain record.
pub fn is_pack(bytes: &[u8]) -> bool {
    bytes.first() == Some(&PACK_FORMAT)
}

/// Encodes members given in ascending id order, each its record bytes.
pub fn encode(key: &[u8], members: &[(u64, &[u8])]) -> Result<Vec<u8>, StoreError> {
    debug_assert!(members.windows(2).all(|pair| pair[0].0 < pair[1].0), "pack ids ascend");
    let too_large = || StoreError::Encode {
        key: printable_key(key),
        reason: "a history pack's count or member length exceeds 32 bits".to_owned(),
    };
    let payload_bytes: usize =
        members.iter().map(|(_, bytes)| bytes.len().saturating_add(MEMBER_HEADER_BYTES)).sum();
    let mut bytes = Vec::with_capacity(payload_bytes.saturating_add(HEADER_BYTES + 4));
    bytes.push(PACK_FORMAT);
    bytes.extend_from_slice(&[0; 4]);
    let count = u32::try_from(members.len()).map_err(|_| too_large())?;
    bytes.extend_from_slice(&count.to_le_bytes());
    for (id, member) in members {
        bytes.extend_from_slice(&id.to_le_bytes());
        let length = u32::try_from(member.len()).map_err(|_| too_large())?;
        bytes.extend_from_slice(&length.to_le_bytes());
        bytes.extend_from_slice(member);
    }
    let checksum = crc32fast::hash(&bytes[HEADER_BYTES..]);
    bytes[1..HEADER_BYTES].copy_from_slice(&checksum.to_le_bytes());
    Ok(bytes)
}

/// Splits `N` bytes off the front of `rest`, if it has them.
fn take<const N: usize>(rest: &mut &[u8]) -> Option<[u8; N]> {
    let (head, tail) = rest.split_first_chunk::<N>()?;
    *rest = tail;
    Some(*head)
}

/// The members of a pack, checked: ids ascending, each with its record bytes.
pub fn members<'a>(key: &[u8], bytes: &'a [u8]) -> Result<Vec<(u64, &'a [u8])>, StoreError> {
    let corrupt = |reason: &str| StoreError::Corruption {
        key: printable_key(key),
        reason: format!("history pack: {reason}"),
    };
    let mut rest = match bytes.split_first() {
        Some((&PACK_FORMAT, rest)) => rest,
        _ => return Err(corrupt("not a pack")),
    };
    let expected = take::<4>(&mut rest).ok_or_else(|| corrupt("shorter than its header"))?;
    if crc32fast::hash(rest) != u32::from_le_bytes(expected) {
        return Err(corrupt("checksum mismatch"));
    }
    let count = take::<4>(&mut rest).ok_or_else(|| corrupt("shorter than its header"))?;
    let count = u32::from_le_bytes(count);
    let mut members: Vec<(u64, &[u8])> = Vec::new();
    for _ in 0..count {
        let short = || corrupt("a member is cut short");
        let id = u64::from_le_bytes(take::<8>(&mut rest).ok_or_else(short)?);
        let length = u32::from_le_bytes(take::<4>(&mut rest).ok_or_else(short)?);
        let length = usize::try_from(length).map_err(|_| short())?;
        let (member, after) = rest.split_at_checked(length).ok_or_else(short)?;
        if members.last().is_some_and(|(last, _)| *last >= id) {
            return Err(corrupt("member ids do not ascend"));
        }
        members.push((id, member));
        rest = after;
    }
    if !rest.is_empty() {
        return Err(corrupt("bytes after the last member"));
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_round_trip_in_order() {
        let bytes = encode(b"k", &[(7, b"seven"), (8, b""), (12, b"twelve")]).unwrap();
        assert!(is_pack(&bytes));
        let members = members(b"k", &bytes).unwrap();
        assert_eq!(members, vec![(7, &b"seven"[..]), (8, &b""[..]), (12, &b"twelve"[..])]);
    }

    #[test]
    fn the_layout_is_pinned() {
        let bytes = encode(b"k", &[(1, b"ab")]).unwrap();
        let payload = b"\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00ab";
        assert_eq!(bytes[0], PACK_FORMAT);
        assert_eq!(&bytes[HEADER_BYTES..], payload);
        assert_eq!(&bytes[1..HEADER_BYTES], crc32fast::hash(payload).to_le_bytes());
    }

    #[test]
    fn damage_is_reported_never_misread() {
        let bytes = encode(b"k", &[(1, b"one"), (2, b"two")]).unwrap();
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(members(b"k", &flipped), Err(StoreError::Corruption { .. })));
        assert!(matches!(members(b"k", &bytes[..3]), Err(StoreError::Corruption { .. })));
        assert!(matches!(members(b"k", b"\x02abcd"), Err(StoreError::Corruption { .. })));
        // A count larger than what follows, with a valid checksum.
        let mut short = encode(b"k", &[(1, b"one")]).unwrap();
        short[HEADER_BYTES] = 2;
        let checksum = crc32fast::hash(&short[HEADER_BYTES..]);
        short[1..HEADER_BYTES].copy_from_slice(&checksum.to_le_bytes());
        assert!(matches!(members(b"k", &short), Err(StoreError::Corruption { .. })));
    }
}
