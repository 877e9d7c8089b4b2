//! The core's side of the card and wallet tranlog index (`store::entries::CARD_WALLET_TRANLOGS`):
//! which index records a tranlog record puts in it, and which records a card's or wallet's
//! history reads back.
//!
//! The index keeps the runs' fixed records (`IndexedEntry`): the "account" is the owner's key
//! (`owner_key`), the "transaction" the tranlog id; the post date, entry index, layer, side
//! and amount are zero. So a card's or wallet's records sort by tranlog id, as the LSM index
//! of `x`/`w` keys they replace did (stores made before keep those records, unread).

use sha2::{Digest, Sha256};

use super::tranlog::Tranlog;
use crate::store::entries::IndexedEntry;
use crate::store::schema::EntryPosition;

/// Set in a wallet's key, clear in a card's: the two never share a key.
const WALLET_KEY_BIT: u64 = 1 << 63;

/// Whose history: a card by token or a wallet by code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'a> {
    Card(&'a str),
    Wallet(&'a str),
}

/// The key an owner's records are kept under: 63 bits of the SHA-256 of its token or code (a
/// stable function of the name alone, so that neither the index nor its rebuild needs the
/// cards and wallets), the top bit telling wallets from cards. Two names may share a key (one
/// pair in ~10^19): readers keep only the records that name their owner (`names`).
pub fn owner_key(owner: Owner<'_>) -> u64 {
    let (name, kind_bit) = match owner {
        Owner::Card(token) => (token, 0),
        Owner::Wallet(code) => (code, WALLET_KEY_BIT),
    };
    let digest = Sha256::digest(name.as_bytes());
    let mut first = [0_u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) & !WALLET_KEY_BIT) | kind_bit
}

/// Whether `tranlog` belongs to `owner`'s history (as the card or the receiving card, or
/// either wallet).
pub fn names(tranlog: &Tranlog, owner: Owner<'_>) -> bool {
    let named = |first: &Option<String>, second: &Option<String>, name: &str| {
        first.as_deref() == Some(name) || second.as_deref() == Some(name)
    };
    match owner {
        Owner::Card(token) => named(&tranlog.card, &tranlog.card2, token),
        Owner::Wallet(code) => named(&tranlog.wallet1, &tranlog.wallet2, code),
    }
}

/// The index records of a new tranlog record: one per distinct owner key among its cards and
/// wallets (a transfer between a wallet's own cards names one key twice), appended to `into`.
/// Called by the writer for every new record, so nothing is allocated but `into`'s growth.
pub fn indexed_tranlog(tranlog: &Tranlog, into: &mut Vec<IndexedEntry>) {
    let owners = [
        tranlog.card.as_deref().map(Owner::Card),
        tranlog.card2.as_deref().map(Owner::Card),
        tranlog.wallet1.as_deref().map(Owner::Wallet),
        tranlog.wallet2.as_deref().map(Owner::Wallet),
    ];
    let keys = owners.map(|owner| owner.map(owner_key));
    for (at, key) in keys.iter().enumerate() {
        let Some(key) = *key else { continue };
        if !keys[..at].contains(&Some(key)) {
            into.push(record(key, tranlog.id));
        }
    }
}

/// The index record of tranlog `tranlog_id` in the history under `key`.
pub fn record(key: u64, tranlog_id: u64) -> IndexedEntry {
    IndexedEntry {
        position: EntryPosition {
            account_id: key,
            post_date_ms: 0,
            transaction_id: tranlog_id,
            entry_index: 0,
        },
        layer: 0,
        credit: false,
        amount_units: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tranlog(id: u64, cards: [Option<&str>; 2], wallets: [Option<&str>; 2]) -> Tranlog {
        let mut record = crate::core::tranlog::tests_support::blank(id);
        record.card = cards[0].map(str::to_owned);
        record.card2 = cards[1].map(str::to_owned);
        record.wallet1 = wallets[0].map(str::to_owned);
        record.wallet2 = wallets[1].map(str::to_owned);
        record
    }

    #[test]
    fn keys_are_stable_and_tell_cards_from_wallets() {
        // A stored index is read by later builds: the key of a name must never change.
        assert_eq!(owner_key(Owner::Card("tok")), owner_key(Owner::Card("tok")));
        assert_ne!(owner_key(Owner::Card("tok")), owner_key(Owner::Wallet("tok")));
        assert_eq!(owner_key(Owner::Card("tok")) & WALLET_KEY_BIT, 0);
        assert_ne!(owner_key(Owner::Wallet("tok")) & WALLET_KEY_BIT, 0);
        assert_ne!(owner_key(Owner::Card("tok")), owner_key(Owner::Card("tol")));
        // SHA-256("abc") starts ba7816bf8f01cfea: the key is its first 63 bits.
        assert_eq!(owner_key(Owner::Card("abc")), 0x3a78_16bf_8f01_cfea);
        assert_eq!(owner_key(Owner::Wallet("abc")), 0xba78_16bf_8f01_cfea);
    }

    #[test]
    fn a_record_is_indexed_once_under_each_of_its_owners() {
        let mut into = Vec::new();
        indexed_tranlog(&tranlog(7, [Some("c1"), Some("c2")], [Some("w1"), None]), &mut into);
        let mut keys: Vec<u64> = into.iter().map(|entry| entry.position.account_id).collect();
        let mut expected = vec![
            owner_key(Owner::Card("c1")),
            owner_key(Owner::Card("c2")),
            owner_key(Owner::Wallet("w1")),
        ];
        keys.sort_unstable();
        expected.sort_unstable();
        assert_eq!(keys, expected);
        assert!(into.iter().all(|entry| entry.position.transaction_id == 7));

        // A transfer between one owner's names indexes it once.
        let mut same = Vec::new();
        indexed_tranlog(&tranlog(8, [Some("c1"), Some("c1")], [Some("w"), Some("w")]), &mut same);
        assert_eq!(same.len(), 2);
        // A record of neither (a GL posting's) is not indexed.
        let mut none = Vec::new();
        indexed_tranlog(&tranlog(9, [None, None], [None, None]), &mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn a_history_keeps_only_the_records_naming_its_owner() {
        let record = tranlog(3, [Some("c1"), Some("c2")], [None, Some("w2")]);
        assert!(names(&record, Owner::Card("c1")));
        assert!(names(&record, Owner::Card("c2")));
        assert!(names(&record, Owner::Wallet("w2")));
        assert!(!names(&record, Owner::Card("w2")));
        assert!(!names(&record, Owner::Wallet("c1")));
    }
}
