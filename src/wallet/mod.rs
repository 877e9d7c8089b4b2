//! Wallets, customers and agents: who holds money and how it may move. A wallet is a ledger
//! account (`23.<code>`) plus a state, a PIN hash and an owner; it holds no balance of its
//! own. Pure: no I/O, no clock.

pub mod fees;
pub mod plan;

use serde::{Deserialize, Serialize};

use crate::clock::EpochMs;
use crate::ledger::{AccountId, Layer};

/// Code of the composite account every wallet account hangs from.
pub const WALLETS_PARENT: &str = "23";
/// Code of the composite account customers' own accounts hang from.
pub const CUSTOMERS_PARENT: &str = "21";
/// Where wallet credits come from (issuer's received money).
pub const ISSUER_ACCOUNT: &str = "11.001.00";
/// Where wallet debits go (acquirer settlement).
pub const ACQUIRER_ACCOUNT: &str = "12.001.00";
/// Where fees go.
pub const FEE_ACCOUNT: &str = "31.001.00";

/// Every wallet account's code starts with this, and nothing else's does.
pub const WALLET_ACCOUNT_PREFIX: &str = "23.";
/// Every customer's own account (what cards draw on by default) starts with this.
pub const CUSTOMER_ACCOUNT_PREFIX: &str = "21.";

/// The ledger account code of wallet `code`.
pub fn wallet_account_code(code: &str) -> String {
    format!("{WALLETS_PARENT}.{code}")
}

/// A wallet's life: active wallets move money, blocked ones refuse to until unblocked,
/// deleted ones never again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WalletState {
    Active,
    Blocked,
    Deleted,
}

/// Who a wallet belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalletOwner {
    None,
    Customer(String),
    Agent(u64),
}

/// `WalletOwner` in JSON (records of store format 1): `{"type": "customer", "id": "..."}`.
/// Written from a borrowed id (`S = &str`), read into an owned one.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "type", content = "id")]
enum TaggedOwner<S> {
    None,
    Customer(S),
    Agent(u64),
}

/// `WalletOwner` in a binary format (store format 2), whose structs are positional: an
/// adjacently tagged enum's unit variant there is one element short and does not read back.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum CompactOwner<S> {
    None,
    Customer(S),
    Agent(u64),
}

impl Serialize for WalletOwner {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            match self {
                WalletOwner::None => TaggedOwner::<&str>::None,
                WalletOwner::Customer(id) => TaggedOwner::Customer(id.as_str()),
                WalletOwner::Agent(id) => TaggedOwner::Agent(*id),
            }
            .serialize(serializer)
        } else {
            match self {
                WalletOwner::None => CompactOwner::<&str>::None,
                WalletOwner::Customer(id) => CompactOwner::Customer(id.as_str()),
                WalletOwner::Agent(id) => CompactOwner::Agent(*id),
            }
            .serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for WalletOwner {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            Ok(match TaggedOwner::<String>::deserialize(deserializer)? {
                TaggedOwner::None => WalletOwner::None,
                TaggedOwner::Customer(id) => WalletOwner::Customer(id),
                TaggedOwner::Agent(id) => WalletOwner::Agent(id),
            })
        } else {
            Ok(match CompactOwner::<String>::deserialize(deserializer)? {
                CompactOwner::None => WalletOwner::None,
                CompactOwner::Customer(id) => WalletOwner::Customer(id),
                CompactOwner::Agent(id) => WalletOwner::Agent(id),
            })
        }
    }
}

/// A wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wallet {
    pub id: u64,
    pub code: String,
    pub account_id: AccountId,
    pub state: WalletState,
    pub owner: WalletOwner,
    pub card_product: Option<String>,
    /// Keyed hash of the PIN; the PIN itself is never kept.
    pub pin_hash: String,
    pub failed_pin_attempts: u32,
    /// Logins are refused until then after too many wrong PINs.
    pub locked_until_ms: Option<EpochMs>,
    pub created_ms: EpochMs,
}

/// A customer (jCard's cardholder). Optional fields are `None` when never given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub id: u64,
    pub real_id: String,
    pub active: bool,
    pub institution_id: String,
    pub first_name: String,
    pub last_name: String,
    pub details: CustomerDetails,
    /// Currencies (ISO-4217 numeric, below 1000) the customer's balances are reported in.
    pub currency_codes: Vec<u16>,
    /// The customer's own final account (`21.<realId>.00`).
    pub account_id: AccountId,
    pub created_ms: EpochMs,
}

impl Customer {
    /// "First Last", as a tranlog record names its customer. Built by hand: `format!` took over
    /// a quarter of building a card debit's tranlog record on the writer.
    pub fn full_name(&self) -> String {
        let length = self.first_name.len().saturating_add(self.last_name.len()).saturating_add(1);
        let mut name = String::with_capacity(length);
        name.push_str(&self.first_name);
        name.push(' ');
        name.push_str(&self.last_name);
        name
    }
}

/// The optional, free-form fields of a customer, as the document names them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerDetails {
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub honorific: Option<String>,
    pub gender: Option<String>,
    pub middle_name: Option<String>,
    pub last_name2: Option<String>,
    pub email: Option<String>,
    pub address1: Option<String>,
    pub address2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub country: Option<String>,
    pub birth_date: Option<String>,
    pub notes: Option<String>,
    pub phone: Option<String>,
    pub card_product: Option<String>,
}

/// An agent (a point of sale or cash-in/cash-out network member).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    pub id: u64,
    pub name: String,
    pub parent_id: Option<u64>,
    pub phone: Option<String>,
    pub agent_type: Option<String>,
    pub account: Option<String>,
    pub active: bool,
    pub mcc: Option<String>,
    pub wallet: Option<String>,
    pub created_ms: EpochMs,
}

/// The ISO-4217 numeric currency of a layer: layers are currency + a multiple of 1000.
pub fn currency_of_layer(layer: Layer) -> u16 {
    u16::try_from(layer.rem_euclid(1000)).unwrap_or_default()
}

/// A currency code as the document writes it: three digits (`840`, `032`).
pub fn currency_text(currency: u16) -> String {
    format!("{currency:03}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_name_their_currency() {
        assert_eq!(currency_of_layer(840), 840);
        assert_eq!(currency_of_layer(1840), 840);
        assert_eq!(currency_of_layer(3600), 600);
        assert_eq!(currency_text(32), "032");
        assert_eq!(wallet_account_code("1001"), "23.1001");
    }
}
