//! The compact encoding of a block of a run (`entry_run.rs`, format 3): each record as varints
//! of its differences from the record before it in the block, which in a sorted run are
//! mostly small (the same account, a later date, a near transaction id).
//!
//! A record: the account id's increase (LEB128); the post date, zigzagged, as a difference
//! from the previous record's when the account is the same, else whole; the transaction id's
//! difference, zigzagged (wrapping); the entry index shifted left by one with the side in bit
//! 0; the layer and the amount zigzagged. The first record of a block is encoded against a
//! record of zeros, so a block decodes on its own.

use super::entry_run::IndexedEntry;
use super::schema::EntryPosition;

/// Bytes of the longest LEB128 encoding of a u64.
const VARINT_BYTES_MAX: usize = 10;

const ZERO: IndexedEntry = IndexedEntry {
    position: EntryPosition { account_id: 0, post_date_ms: 0, transaction_id: 0, entry_index: 0 },
    layer: 0,
    credit: false,
    amount_units: 0,
};

fn put_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push(u8::try_from(value & 0x7f).unwrap_or(0) | 0x80);
        value >>= 7;
    }
    out.push(u8::try_from(value).unwrap_or(0));
}

fn zigzag(value: i64) -> u64 {
    u64::from_ne_bytes(((value << 1) ^ (value >> 63)).to_ne_bytes())
}

fn unzigzag(value: u64) -> i64 {
    let half = i64::from_ne_bytes((value >> 1).to_ne_bytes());
    half ^ -(i64::from_ne_bytes((value & 1).to_ne_bytes()))
}

/// Appends `entry`, encoded against `previous`, to `out`.
pub fn encode(previous: Option<&IndexedEntry>, entry: &IndexedEntry, out: &mut Vec<u8>) {
    let previous = previous.unwrap_or(&ZERO);
    let (now, before) = (&entry.position, &previous.position);
    put_varint(now.account_id.wrapping_sub(before.account_id), out);
    let date_base = if now.account_id == before.account_id { before.post_date_ms } else { 0 };
    put_varint(zigzag(now.post_date_ms.wrapping_sub(date_base)), out);
    let transaction_step = now.transaction_id.wrapping_sub(before.transaction_id);
    put_varint(zigzag(i64::from_ne_bytes(transaction_step.to_ne_bytes())), out);
    put_varint((u64::from(now.entry_index) << 1) | u64::from(entry.credit), out);
    put_varint(zigzag(i64::from(entry.layer)), out);
    put_varint(zigzag(entry.amount_units), out);
}

/// Reads varints from a block's bytes.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn varint(&mut self) -> Option<u64> {
        let mut value = 0_u64;
        for (index, byte) in self.bytes.iter().take(VARINT_BYTES_MAX).enumerate() {
            let shift = u32::try_from(index).ok()?.checked_mul(7)?;
            let bits = u64::from(byte & 0x7f);
            // The tenth byte may carry one bit only.
            if shift == 63 && bits > 1 {
                return None;
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                self.bytes = self.bytes.get(index + 1..)?;
                return Some(value);
            }
        }
        None
    }
}

/// Decodes `count` records from `bytes`, which must hold exactly them; `None` if they do not.
pub fn decode(bytes: &[u8], count: usize) -> Option<Vec<IndexedEntry>> {
    let mut reader = Reader { bytes };
    let mut entries: Vec<IndexedEntry> = Vec::with_capacity(count);
    for _ in 0..count {
        let previous = entries.last().unwrap_or(&ZERO);
        let before = previous.position;
        let account_id = before.account_id.checked_add(reader.varint()?)?;
        let date_base = if account_id == before.account_id { before.post_date_ms } else { 0 };
        let post_date_ms = date_base.wrapping_add(unzigzag(reader.varint()?));
        let step = u64::from_ne_bytes(unzigzag(reader.varint()?).to_ne_bytes());
        let transaction_id = before.transaction_id.wrapping_add(step);
        let index_and_side = reader.varint()?;
        let entry_index = u16::try_from(index_and_side >> 1).ok()?;
        let credit = index_and_side & 1 == 1;
        let layer = i16::try_from(unzigzag(reader.varint()?)).ok()?;
        let amount_units = unzigzag(reader.varint()?);
        let position = EntryPosition { account_id, post_date_ms, transaction_id, entry_index };
        entries.push(IndexedEntry { position, layer, credit, amount_units });
    }
    reader.bytes.is_empty().then_some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(account_id: u64, post_date_ms: i64, transaction_id: u64) -> IndexedEntry {
        IndexedEntry {
            position: EntryPosition { account_id, post_date_ms, transaction_id, entry_index: 3 },
            layer: -840,
            credit: transaction_id.is_multiple_of(3),
            amount_units: 1_250_i64.wrapping_sub_unsigned(transaction_id),
        }
    }

    #[test]
    fn zigzag_round_trips_the_extremes() {
        for value in [0, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(value)), value);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn a_block_round_trips_and_is_smaller_than_fixed_records() {
        let mut entries = vec![entry(1, -5, 9), entry(1, 3, 2), entry(1, 3, 40)];
        entries.push(entry(700, i64::MIN, u64::MAX));
        entries.push(IndexedEntry { amount_units: i64::MIN, ..entry(u64::MAX, i64::MAX, 0) });
        let mut bytes = Vec::new();
        for (at, entry) in entries.iter().enumerate() {
            encode(at.checked_sub(1).map(|previous| &entries[previous]), entry, &mut bytes);
        }
        assert_eq!(decode(&bytes, entries.len()), Some(entries.clone()));
        // Short, extra or cut bytes are refused.
        assert_eq!(decode(&bytes, entries.len() - 1), None);
        assert_eq!(decode(&bytes, entries.len() + 1), None);
        assert_eq!(decode(&bytes[..bytes.len() - 1], entries.len()), None);

        let account: Vec<IndexedEntry> =
            (0..128).map(|n| entry(42, 1_000 + n, 500 + 2 * n.unsigned_abs())).collect();
        let mut compact = Vec::new();
        for (at, entry) in account.iter().enumerate() {
            encode(at.checked_sub(1).map(|previous| &account[previous]), entry, &mut compact);
        }
        assert!(compact.len() < 128 * 37 / 4, "{} bytes", compact.len());
        assert_eq!(decode(&compact, 128), Some(account));
    }

    #[test]
    fn an_overlong_varint_is_refused() {
        let mut reader = Reader { bytes: &[0xff; 11] };
        assert_eq!(reader.varint(), None);
        let mut reader =
            Reader { bytes: &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02] };
        assert_eq!(reader.varint(), None);
        let mut reader =
            Reader { bytes: &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01] };
        assert_eq!(reader.varint(), Some(u64::MAX));
    }
}
