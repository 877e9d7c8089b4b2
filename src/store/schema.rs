//! The key layout: one leading byte per keyspace, then big-endian fields so that key order is
//! numeric (and time) order. This file and `codec.rs` are the on-disk format.

/// Keyspaces, one per kind of record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyspace {
    /// Counters and markers: `m` + name (`balances`: the store's balances are kept out of it).
    Meta,
    /// Charts of accounts: `c` + name.
    Chart,
    /// Journals: `j` + name.
    Journal,
    /// Accounts: `a` + account id.
    Account,
    /// Posted balance of a final account on a layer: `b` + account id + layer. Only in stores
    /// made before balances were kept out of the store (`core::balance_snapshot`), until their
    /// first start moves them to the snapshot; never written since.
    Balance,
    /// GL transactions: `t` + transaction id. Appended once, like `Tranlog`.
    Transaction,
    /// The latest state of a GL transaction changed after it was posted (reversed): `R` +
    /// transaction id, the whole transaction.
    TransactionRevision,
    /// Entries by account and post date: `e` + account id + post date + transaction id + index.
    /// Written by stores made before the account-entry index (`entries.rs`), which replaced
    /// it; such records are kept (and backed up) but no longer read.
    Entry,
    /// System configuration: `s` + id.
    Sysconfig,
    /// API consumers: `k` + consumer UUID.
    Consumer,
    /// Nonces of mutating jCard requests, one record per commit group: `n` + the group's newest
    /// timestamp + that request's consumer UUID + nonce.
    Nonce,
    /// Wallets: `W` + code.
    Wallet,
    /// Customers: `C` + realId.
    Customer,
    /// Agents: `G` + agent id.
    Agent,
    /// Transaction log records: `l` + tranlog id. Appended once (`TranlogRevision` holds a
    /// record's later state), so the keys of its partition only grow.
    Tranlog,
    /// The latest state of a tranlog record changed after it was written (reversed, voided):
    /// `L` + tranlog id, the whole record. Stores made before it rewrote `Tranlog` in place.
    TranlogRevision,
    /// Tranlog ids by RRN: `r` + RRN + 0 + tranlog id. Written by stores made before the RRN
    /// index (`core::rrn_index`), which replaced it; kept, not read.
    TranlogByRrn,
    /// Tranlog ids by wallet: `w` + wallet code + 0 + tranlog id. Written by stores made before
    /// the card and wallet tranlog index (`entries.rs`), which replaced it; kept, not read.
    TranlogByWallet,
    /// Card products: `P` + product id.
    CardProduct,
    /// Velocity profiles: `V` + profile id.
    VelocityProfile,
    /// Velocity counters: `u` + window start + profile id + scope.
    VelocityCounter,
    /// Cards: `D` + token.
    Card,
    /// Tranlog ids by card: `x` + token + 0 + tranlog id. Written by stores made before the
    /// card and wallet tranlog index (`entries.rs`), which replaced it; kept, not read.
    TranlogByCard,
    /// Card-issuing API partners: `q` + auth id.
    Partner,
    /// Card-issuing API requests by partner: `Q` + auth id + 0 + request id.
    PartnerRequest,
    /// Wrong-PIN counts and locks of gift cards on the history API: `H` + card token.
    GiftPinGuard,
    /// Cashback merchant groups: `M` + group id.
    MerchantGroup,
    /// Stores of merchant groups: `S` + store id.
    MerchantStore,
    /// Points of sale of stores: `O` + point-of-sale id.
    PointOfSale,
    /// Cashback tickets and credit requests: `T` + kind byte + id.
    CashbackTicket,
}

impl Keyspace {
    pub fn byte(self) -> u8 {
        match self {
            Keyspace::Meta => b'm',
            Keyspace::Chart => b'c',
            Keyspace::Journal => b'j',
            Keyspace::Account => b'a',
            Keyspace::Balance => b'b',
            Keyspace::Transaction => b't',
            Keyspace::TransactionRevision => b'R',
            Keyspace::Entry => b'e',
            Keyspace::Sysconfig => b's',
            Keyspace::Consumer => b'k',
            Keyspace::Nonce => b'n',
            Keyspace::Wallet => b'W',
            Keyspace::Customer => b'C',
            Keyspace::Agent => b'G',
            Keyspace::Tranlog => b'l',
            Keyspace::TranlogRevision => b'L',
            Keyspace::TranlogByRrn => b'r',
            Keyspace::TranlogByWallet => b'w',
            Keyspace::CardProduct => b'P',
            Keyspace::VelocityProfile => b'V',
            Keyspace::VelocityCounter => b'u',
            Keyspace::Card => b'D',
            Keyspace::TranlogByCard => b'x',
            Keyspace::Partner => b'q',
            Keyspace::PartnerRequest => b'Q',
            Keyspace::GiftPinGuard => b'H',
            Keyspace::MerchantGroup => b'M',
            Keyspace::MerchantStore => b'S',
            Keyspace::PointOfSale => b'O',
            Keyspace::CashbackTicket => b'T',
        }
    }

    /// The prefix every key of this keyspace starts with.
    pub fn prefix(self) -> Vec<u8> {
        vec![self.byte()]
    }
}

/// The keyspaces that grow with every movement: the history (the tranlog and the GL
/// transactions, whose keys only grow) and its indexes (written all over their ranges), each
/// with the name an engine gives the tree it keeps it in. In one tree with the rest, compacting
/// them rewrote one another (see `fjall_engine.rs`).
pub const HISTORY: [(Keyspace, &str); 6] = [
    (Keyspace::Tranlog, "tranlog"),
    (Keyspace::Transaction, "transactions"),
    (Keyspace::Entry, "entries"),
    (Keyspace::TranlogByRrn, "tranlog-by-rrn"),
    (Keyspace::TranlogByCard, "tranlog-by-card"),
    (Keyspace::TranlogByWallet, "tranlog-by-wallet"),
];

/// Builds a key from a keyspace and its fields.
fn key(space: Keyspace, fields: &[&[u8]]) -> Vec<u8> {
    let length = fields.iter().map(|field| field.len()).sum::<usize>().saturating_add(1);
    let mut key = Vec::with_capacity(length);
    key.push(space.byte());
    for field in fields {
        key.extend_from_slice(field);
    }
    key
}

/// Order-preserving encoding of a signed 64-bit number.
pub fn ordered_i64(value: i64) -> [u8; 8] {
    (u64::from_be_bytes(value.to_be_bytes()) ^ (1 << 63)).to_be_bytes()
}

/// Inverse of [`ordered_i64`].
pub fn i64_from_ordered(bytes: [u8; 8]) -> i64 {
    i64::from_be_bytes((u64::from_be_bytes(bytes) ^ (1 << 63)).to_be_bytes())
}

/// Order-preserving encoding of a signed 16-bit layer.
pub fn ordered_i16(value: i16) -> [u8; 2] {
    (u16::from_be_bytes(value.to_be_bytes()) ^ (1 << 15)).to_be_bytes()
}

pub fn i16_from_ordered(bytes: [u8; 2]) -> i16 {
    i16::from_be_bytes((u16::from_be_bytes(bytes) ^ (1 << 15)).to_be_bytes())
}

pub fn meta_key(name: &str) -> Vec<u8> {
    key(Keyspace::Meta, &[name.as_bytes()])
}

pub fn chart_key(name: &str) -> Vec<u8> {
    key(Keyspace::Chart, &[name.as_bytes()])
}

pub fn journal_key(name: &str) -> Vec<u8> {
    key(Keyspace::Journal, &[name.as_bytes()])
}

pub fn account_key(account_id: u64) -> Vec<u8> {
    key(Keyspace::Account, &[&account_id.to_be_bytes()])
}

pub fn balance_key(account_id: u64, layer: i16) -> Vec<u8> {
    key(Keyspace::Balance, &[&account_id.to_be_bytes(), &ordered_i16(layer)])
}

/// Splits a balance key into account id and layer.
pub fn parse_balance_key(key: &[u8]) -> Option<(u64, i16)> {
    let rest = key.strip_prefix(&[Keyspace::Balance.byte()])?;
    let id: [u8; 8] = rest.get(..8)?.try_into().ok()?;
    let layer: [u8; 2] = rest.get(8..10)?.try_into().ok()?;
    Some((u64::from_be_bytes(id), i16_from_ordered(layer)))
}

pub fn transaction_key(transaction_id: u64) -> Vec<u8> {
    key(Keyspace::Transaction, &[&transaction_id.to_be_bytes()])
}

pub fn transaction_revision_key(transaction_id: u64) -> Vec<u8> {
    key(Keyspace::TransactionRevision, &[&transaction_id.to_be_bytes()])
}

/// The position of one entry in an account's history; positions order as their keys do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryPosition {
    pub account_id: u64,
    pub post_date_ms: i64,
    pub transaction_id: u64,
    pub entry_index: u16,
}

pub fn sysconfig_key(id: &str) -> Vec<u8> {
    key(Keyspace::Sysconfig, &[id.as_bytes()])
}

pub fn consumer_key(consumer_id: &uuid::Uuid) -> Vec<u8> {
    key(Keyspace::Consumer, &[consumer_id.as_bytes()])
}

pub fn nonce_key(timestamp_ms: i64, consumer_id: &uuid::Uuid, nonce: &str) -> Vec<u8> {
    key(Keyspace::Nonce, &[&ordered_i64(timestamp_ms), consumer_id.as_bytes(), nonce.as_bytes()])
}

/// Nonce keys recorded before `timestamp_ms`.
pub fn nonces_before(timestamp_ms: i64) -> (Vec<u8>, Vec<u8>) {
    (Keyspace::Nonce.prefix(), key(Keyspace::Nonce, &[&ordered_i64(timestamp_ms)]))
}

pub fn wallet_key(code: &str) -> Vec<u8> {
    key(Keyspace::Wallet, &[code.as_bytes()])
}

pub fn customer_key(real_id: &str) -> Vec<u8> {
    key(Keyspace::Customer, &[real_id.as_bytes()])
}

pub fn agent_key(agent_id: u64) -> Vec<u8> {
    key(Keyspace::Agent, &[&agent_id.to_be_bytes()])
}

pub fn tranlog_key(tranlog_id: u64) -> Vec<u8> {
    key(Keyspace::Tranlog, &[&tranlog_id.to_be_bytes()])
}

pub fn tranlog_revision_key(tranlog_id: u64) -> Vec<u8> {
    key(Keyspace::TranlogRevision, &[&tranlog_id.to_be_bytes()])
}

pub fn card_product_key(id: u64) -> Vec<u8> {
    key(Keyspace::CardProduct, &[&id.to_be_bytes()])
}

pub fn velocity_profile_key(id: u64) -> Vec<u8> {
    key(Keyspace::VelocityProfile, &[&id.to_be_bytes()])
}

/// Counters sort by their window, so the ones still in force are one key range.
pub fn velocity_counter_key(window_start_ms: i64, profile_id: u64, scope: &str) -> Vec<u8> {
    key(
        Keyspace::VelocityCounter,
        &[&ordered_i64(window_start_ms), &profile_id.to_be_bytes(), scope.as_bytes()],
    )
}

/// Counter keys of windows starting at or after `window_start_ms`.
pub fn velocity_counters_from(window_start_ms: i64) -> (Vec<u8>, Vec<u8>) {
    (
        key(Keyspace::VelocityCounter, &[&ordered_i64(window_start_ms)]),
        prefix_end(&Keyspace::VelocityCounter.prefix()),
    )
}

pub fn card_key(token: &str) -> Vec<u8> {
    key(Keyspace::Card, &[token.as_bytes()])
}

pub fn gift_pin_guard_key(token: &str) -> Vec<u8> {
    key(Keyspace::GiftPinGuard, &[token.as_bytes()])
}

pub fn partner_key(auth_id: &str) -> Vec<u8> {
    key(Keyspace::Partner, &[auth_id.as_bytes()])
}

pub fn partner_request_key(auth_id: &str, request_id: &str) -> Vec<u8> {
    key(Keyspace::PartnerRequest, &[auth_id.as_bytes(), &[0], request_id.as_bytes()])
}

pub fn merchant_group_key(id: u64) -> Vec<u8> {
    key(Keyspace::MerchantGroup, &[&id.to_be_bytes()])
}

pub fn merchant_store_key(id: u64) -> Vec<u8> {
    key(Keyspace::MerchantStore, &[&id.to_be_bytes()])
}

pub fn point_of_sale_key(id: u64) -> Vec<u8> {
    key(Keyspace::PointOfSale, &[&id.to_be_bytes()])
}

/// A POS ticket (`d` + ticket UUID) or an admin credit request (`c` + request id).
pub fn cashback_ticket_key(kind: u8, id: &str) -> Vec<u8> {
    key(Keyspace::CashbackTicket, &[&[kind], id.as_bytes()])
}

/// The smallest key greater than every key starting with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last.saturating_add(1));
            return end;
        }
    }
    vec![u8::MAX; 64]
}

/// A key for error messages: printable bytes as text, the rest as hex.
pub fn printable_key(key: &[u8]) -> String {
    key.iter()
        .map(|&byte| {
            if byte.is_ascii_graphic() {
                char::from(byte).to_string()
            } else {
                format!("\\x{byte:02x}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_encodings_sort_like_numbers() {
        let values = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX];
        let encoded: Vec<_> = values.iter().map(|&value| ordered_i64(value)).collect();
        assert!(encoded.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(values.iter().all(|&value| i64_from_ordered(ordered_i64(value)) == value));
        let layers = [i16::MIN, -1, 0, 840, 1840, i16::MAX];
        let encoded: Vec<_> = layers.iter().map(|&layer| ordered_i16(layer)).collect();
        assert!(encoded.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn balance_keys_round_trip() {
        assert_eq!(parse_balance_key(&balance_key(5, 1840)), Some((5, 1840)));
    }

    #[test]
    fn prefix_end_is_past_every_key_with_the_prefix() {
        assert_eq!(prefix_end(b"a"), b"b".to_vec());
        assert_eq!(prefix_end(&[b'a', 0xff]), b"b".to_vec());
    }
}
