//! The in-memory state the writer decides against and readers read: immutable persistent
//! maps, so that publishing a new version after a commit is one pointer swap and a reader
//! never waits for the writer.

use std::path::Path;
use std::sync::Arc;

use imbl::{HashMap, OrdMap, Vector};
use rustc_hash::FxBuildHasher;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::balance_snapshot::{self, BalanceLoad};
use super::balances::Balances;
use super::by_id::ById;
use super::command::{Consumer, SysConfig};
use super::execute_cashback::{MerchantGroup, MerchantStore, PointOfSale};
use super::execute_giftcard::GiftPinGuard;
use super::execute_partner::{Partner, PartnerRecord};
use super::keys::{MasterKey, WrappedSecret};
use super::CoreError;
use crate::card::{Card, CardProduct, VelocityCounter, VelocityProfile};
use crate::clock::EpochMs;
use crate::ledger::post::{propagate, BalanceDelta};
use crate::ledger::{Account, AccountId, Chart, Chartbook, Journal, Layer, TransactionId};
use crate::money::Amount;
use crate::store::schema::{self, Keyspace};
use crate::store::Store;
use crate::wallet::fees::{FeeKind, FeeRule};
use crate::wallet::{Agent, Customer, Wallet, WalletOwner};

/// A map whose keys the switch itself assigns (account ids, random card tokens, keyed hashes):
/// hashed with FxHash rather than std's SipHash. SipHash is keyed so that nobody can choose
/// keys that collide and turn lookups into list walks; no client chooses these keys, and on
/// the lookups of every debit and balance enquiry FxHash's HAMT took one half to two thirds of
/// SipHash's time (`docs/performance.md`, "Maps the switch keys itself"). A map keyed by what
/// a client chooses (wallet codes, realIds, consumer ids) keeps SipHash.
pub type AssignedKeyMap<K, V> =
    imbl::GenericHashMap<K, V, FxBuildHasher, imbl::shared_ptr::DefaultSharedPtr>;

/// One consistent version of everything the switch keeps in memory.
#[derive(Clone, Default)]
pub struct State {
    pub charts: OrdMap<String, Arc<Chart>>,
    pub journals: OrdMap<String, Arc<Journal>>,
    pub accounts: ById<Arc<Account>>,
    pub account_ids_by_code: HashMap<String, AccountId>,
    pub children: HashMap<AccountId, Vector<AccountId>>,
    /// Balances of every account (composites rolled up) per layer.
    pub balances: Balances,
    pub sysconfig: OrdMap<String, Arc<SysConfig>>,
    pub consumers: HashMap<Uuid, Arc<Consumer>>,
    pub wallets: HashMap<String, Arc<Wallet>>,
    pub customers: HashMap<String, Arc<Customer>>,
    /// Codes of the wallets each customer (by realId) owns.
    pub customer_wallets: HashMap<String, Vector<String>>,
    pub agents: OrdMap<u64, Arc<Agent>>,
    pub card_products: OrdMap<u64, Arc<CardProduct>>,
    pub velocity_profiles: OrdMap<u64, Arc<VelocityProfile>>,
    /// What each velocity profile counted per card or account in the periods still in force.
    pub velocity_counters: AssignedKeyMap<VelocityKey, VelocityCounter>,
    pub cards: AssignedKeyMap<String, Arc<Card>>,
    /// Card tokens by keyed PAN hash.
    pub cards_by_pan: AssignedKeyMap<String, String>,
    /// Card tokens of each cardholder (by realId).
    pub customer_cards: HashMap<String, Vector<String>>,
    /// Card tokens of cashback passes by keyed identifier hash.
    pub pass_identifiers: HashMap<String, String>,
    pub merchant_groups: OrdMap<u64, Arc<MerchantGroup>>,
    pub merchant_stores: OrdMap<u64, Arc<MerchantStore>>,
    pub points_of_sale: OrdMap<u64, Arc<PointOfSale>>,
    /// Card-issuing API partners by auth id.
    pub partners: HashMap<String, Arc<Partner>>,
    /// Wrong-PIN counts and locks of gift cards on the history API, by card token.
    pub gift_pin_guards: HashMap<String, GiftPinGuard>,
    pub next_card_id: u64,
    pub next_card_product_id: u64,
    pub next_velocity_profile_id: u64,
    pub next_account_id: AccountId,
    /// Transactions with ids below this one are committed in this version.
    pub next_transaction_id: TransactionId,
    /// Tranlog records with ids below this one are committed in this version.
    pub next_tranlog_id: u64,
    pub next_wallet_id: u64,
    pub next_customer_id: u64,
    pub next_agent_id: u64,
}

/// A consumer as stored: its key wrapped by the master key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsumerRecord {
    pub id: Uuid,
    pub secret: WrappedSecret,
    pub permissions: Vec<String>,
    pub active: bool,
    pub created_ms: EpochMs,
    #[serde(default)]
    pub wallet_scope: Option<String>,
    #[serde(default)]
    pub expires_ms: Option<EpochMs>,
}

/// A remembered nonce of a mutating request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NonceRecord {
    pub consumer: Uuid,
    pub nonce: String,
    pub timestamp_ms: EpochMs,
}

/// A nonce record as stored: the nonces of one commit group (written since the writer groups
/// them), or one nonce (how earlier versions wrote them; still read).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StoredNonces {
    Group(Vec<NonceRecord>),
    One(NonceRecord),
}

impl StoredNonces {
    pub fn into_records(self) -> Vec<NonceRecord> {
        match self {
            Self::Group(records) => records,
            Self::One(record) => vec![record],
        }
    }
}

/// How far back velocity counters are kept in memory: longer than any period.
const VELOCITY_MEMORY_MS: i64 = 62 * 86_400_000;

/// Which counter a velocity profile keeps: per period, per card or account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VelocityKey {
    pub profile_id: u64,
    /// `card:<token>` or `account:<account id>`.
    pub scope: String,
    pub window_start_ms: EpochMs,
}

/// One past the highest id stored in a keyspace keyed by big-endian ids (1 when empty).
fn next_id(store: &Store, space: Keyspace) -> Result<u64, CoreError> {
    match store.scan_prefix::<serde::de::IgnoredAny>(&space.prefix(), true).next() {
        None => Ok(1),
        Some(item) => {
            let (key, _) = item?;
            let id = key.get(1..9).and_then(|bytes| bytes.try_into().ok()).map(u64::from_be_bytes);
            Ok(id.map_or(1, |id| id.saturating_add(1)))
        }
    }
}

impl Chartbook for State {
    fn journal(&self, name: &str) -> Option<&Journal> {
        self.journals.get(name).map(AsRef::as_ref)
    }

    fn account_by_code(&self, code: &str) -> Option<&Account> {
        self.account_ids_by_code.get(code).and_then(|id| self.account(*id))
    }

    fn account(&self, id: AccountId) -> Option<&Account> {
        self.accounts.get(&id).map(AsRef::as_ref)
    }
}

impl State {
    /// Reads the whole state from the store, the balances with the snapshot in `data_dir`
    /// (`balance_snapshot.rs`; without a directory every transaction is replayed).
    pub fn load(
        store: &Store,
        keys: &MasterKey,
        now_ms: EpochMs,
        data_dir: Option<&Path>,
    ) -> Result<State, CoreError> {
        State::load_reporting(store, keys, now_ms, data_dir).map(|(state, _)| state)
    }

    /// `load`, and how the balances were loaded.
    pub fn load_reporting(
        store: &Store,
        keys: &MasterKey,
        now_ms: EpochMs,
        data_dir: Option<&Path>,
    ) -> Result<(State, BalanceLoad), CoreError> {
        let mut state = State {
            next_account_id: 1,
            next_transaction_id: 1,
            next_tranlog_id: 1,
            next_wallet_id: 1,
            next_customer_id: 1,
            next_agent_id: 1,
            next_card_id: 1,
            next_card_product_id: 1,
            next_velocity_profile_id: 1,
            ..State::default()
        };
        for item in store.scan_prefix::<Chart>(&Keyspace::Chart.prefix(), false) {
            let (_, chart) = item?;
            state.insert_chart(chart);
        }
        for item in store.scan_prefix::<Journal>(&Keyspace::Journal.prefix(), false) {
            let (_, journal) = item?;
            state.insert_journal(journal);
        }
        for item in store.scan_prefix::<Account>(&Keyspace::Account.prefix(), false) {
            let (_, account) = item?;
            state.insert_account(account);
        }
        state.next_transaction_id = next_id(store, Keyspace::Transaction)?;
        let balances = balance_snapshot::load(&mut state, store, data_dir)?;
        state.next_tranlog_id = next_id(store, Keyspace::Tranlog)?;
        state.load_holders(store)?;
        state.load_cards(store, keys, now_ms)?;
        state.load_merchants(store)?;
        for item in store.scan_prefix::<SysConfig>(&Keyspace::Sysconfig.prefix(), false) {
            let (_, entry) = item?;
            state.sysconfig.insert(entry.id.clone(), Arc::new(entry));
        }
        for item in store.scan_prefix::<ConsumerRecord>(&Keyspace::Consumer.prefix(), false) {
            let (_, record) = item?;
            let secret = keys.unwrap(record.id.as_bytes(), &record.secret)?;
            let consumer = Consumer {
                id: record.id,
                secret,
                permissions: record.permissions,
                active: record.active,
                wallet_scope: record.wallet_scope,
                expires_ms: record.expires_ms,
            };
            state.consumers.insert(consumer.id, Arc::new(consumer));
        }
        for item in store.scan_prefix::<GiftPinGuard>(&Keyspace::GiftPinGuard.prefix(), false) {
            let (_, guard) = item?;
            state.gift_pin_guards.insert(guard.token.clone(), guard);
        }
        Ok((state, balances))
    }

    /// Wallets, customers and agents.
    fn load_holders(&mut self, store: &Store) -> Result<(), CoreError> {
        for item in store.scan_prefix::<Wallet>(&Keyspace::Wallet.prefix(), false) {
            let (_, wallet) = item?;
            self.next_wallet_id = self.next_wallet_id.max(wallet.id.saturating_add(1));
            self.insert_wallet(wallet);
        }
        for item in store.scan_prefix::<Customer>(&Keyspace::Customer.prefix(), false) {
            let (_, customer) = item?;
            self.next_customer_id = self.next_customer_id.max(customer.id.saturating_add(1));
            self.customers.insert(customer.real_id.clone(), Arc::new(customer));
        }
        for item in store.scan_prefix::<Agent>(&Keyspace::Agent.prefix(), false) {
            let (_, agent) = item?;
            self.next_agent_id = self.next_agent_id.max(agent.id.saturating_add(1));
            self.agents.insert(agent.id, Arc::new(agent));
        }
        Ok(())
    }

    /// Card products, velocity profiles and the counters of the last two months, cards.
    fn load_cards(
        &mut self,
        store: &Store,
        keys: &MasterKey,
        now_ms: EpochMs,
    ) -> Result<(), CoreError> {
        for item in store.scan_prefix::<CardProduct>(&Keyspace::CardProduct.prefix(), false) {
            let (_, product) = item?;
            self.next_card_product_id = self.next_card_product_id.max(product.id.saturating_add(1));
            self.card_products.insert(product.id, Arc::new(product));
        }
        for item in store.scan_prefix::<VelocityProfile>(&Keyspace::VelocityProfile.prefix(), false)
        {
            let (_, profile) = item?;
            self.next_velocity_profile_id =
                self.next_velocity_profile_id.max(profile.id.saturating_add(1));
            self.velocity_profiles.insert(profile.id, Arc::new(profile));
        }
        // No period is longer than a month: older counters can never matter again.
        let (start, end) =
            schema::velocity_counters_from(now_ms.saturating_sub(VELOCITY_MEMORY_MS));
        for item in store.scan_range::<(VelocityKey, VelocityCounter)>(&start, &end, false) {
            let (_, (key, counter)) = item?;
            self.velocity_counters.insert(key, counter);
        }
        for item in store.scan_prefix::<PartnerRecord>(&Keyspace::Partner.prefix(), false) {
            let (_, record) = item?;
            let key = keys.unwrap(record.auth_id.as_bytes(), &record.key)?;
            self.partners
                .insert(record.auth_id.clone(), Arc::new(Partner { auth_id: record.auth_id, key }));
        }
        for item in store.scan_prefix::<Card>(&Keyspace::Card.prefix(), false) {
            let (_, card) = item?;
            self.next_card_id = self.next_card_id.max(card.id.saturating_add(1));
            self.insert_card(card);
        }
        Ok(())
    }

    /// Cashback merchant groups, their stores and points of sale.
    fn load_merchants(&mut self, store: &Store) -> Result<(), CoreError> {
        for item in store.scan_prefix::<MerchantGroup>(&Keyspace::MerchantGroup.prefix(), false) {
            let (_, group) = item?;
            self.merchant_groups.insert(group.id, Arc::new(group));
        }
        for item in store.scan_prefix::<MerchantStore>(&Keyspace::MerchantStore.prefix(), false) {
            let (_, merchant_store) = item?;
            self.merchant_stores.insert(merchant_store.id, Arc::new(merchant_store));
        }
        for item in store.scan_prefix::<PointOfSale>(&Keyspace::PointOfSale.prefix(), false) {
            let (_, point) = item?;
            self.points_of_sale.insert(point.id, Arc::new(point));
        }
        Ok(())
    }

    /// Adds or replaces a card in every index (a cashback pass by its identifiers, not a PAN).
    pub fn insert_card(&mut self, card: Card) {
        match &card.pass {
            Some(pass) => {
                for identifier in [&pass.nfc, &pass.barcode, &pass.manual].into_iter().flatten() {
                    self.pass_identifiers.insert(identifier.hash.clone(), card.token.clone());
                }
            }
            None => {
                self.cards_by_pan.insert(card.pan_hash.clone(), card.token.clone());
            }
        }
        if let Some(real_id) = &card.cardholder {
            let owned = self.customer_cards.entry(real_id.clone()).or_default();
            if !owned.contains(&card.token) {
                owned.push_back(card.token.clone());
            }
        }
        self.cards.insert(card.token.clone(), Arc::new(card));
    }

    /// The balance records of a store made before balances were kept out of it: one per final
    /// account and layer, the ancestors' rolled up here.
    pub(super) fn load_balance_records(&mut self, store: &Store) -> Result<(), CoreError> {
        let mut deltas: Vec<BalanceDelta> = Vec::new();
        for item in store.scan_prefix::<Amount>(&Keyspace::Balance.prefix(), false) {
            let (key, balance) = item?;
            let (account_id, layer) = schema::parse_balance_key(&key).ok_or_else(|| {
                CoreError::Corrupt(format!("balance key {}", schema::printable_key(&key)))
            })?;
            let account = self.account(account_id).ok_or_else(|| {
                CoreError::Corrupt(format!("balance of unknown account {account_id}"))
            })?;
            deltas.clear();
            propagate(self, account, layer, balance, &mut deltas).map_err(|reject| {
                CoreError::Corrupt(format!("balances do not add up: {reject:?}"))
            })?;
            self.apply_deltas(&deltas)
                .ok_or_else(|| CoreError::Corrupt("balances overflow".to_owned()))?;
        }
        Ok(())
    }

    /// Adds or replaces a wallet in every index.
    pub fn insert_wallet(&mut self, wallet: Wallet) {
        if let WalletOwner::Customer(real_id) = &wallet.owner {
            let owned = self.customer_wallets.entry(real_id.clone()).or_default();
            if !owned.contains(&wallet.code) {
                owned.push_back(wallet.code.clone());
            }
        }
        self.wallets.insert(wallet.code.clone(), Arc::new(wallet));
    }

    /// Adds a chart; its journals and accounts take their chart name from it.
    pub fn insert_chart(&mut self, chart: Chart) {
        self.charts.insert(chart.name.to_string(), Arc::new(chart));
    }

    /// A chart's name as the chart holds it, shared by its journals and accounts.
    pub fn chart_name(&self, name: &str) -> Option<Arc<str>> {
        self.charts.get(name).map(|chart| Arc::clone(&chart.name))
    }

    /// `chart` as its chart holds it, if the state has that chart (a journal or an account
    /// read from the store brings a copy of its own).
    fn shared_chart_name(&self, chart: &Arc<str>) -> Arc<str> {
        self.chart_name(chart).unwrap_or_else(|| Arc::clone(chart))
    }

    /// Adds a journal, its chart's name shared with the chart's.
    pub fn insert_journal(&mut self, mut journal: Journal) {
        journal.chart = self.shared_chart_name(&journal.chart);
        self.journals.insert(journal.name.clone(), Arc::new(journal));
    }

    /// Adds an account to every index, its chart's name shared with the chart's.
    pub fn insert_account(&mut self, mut account: Account) {
        account.chart = self.shared_chart_name(&account.chart);
        self.next_account_id = self.next_account_id.max(account.id.saturating_add(1));
        self.account_ids_by_code.insert(account.code.clone(), account.id);
        if let Some(parent) = account.parent_id {
            self.children.entry(parent).or_default().push_back(account.id);
        }
        self.accounts.insert(account.id, Arc::new(account));
    }

    pub fn balance(&self, account_id: AccountId, layer: Layer) -> Amount {
        self.balances.get(account_id, layer).unwrap_or_default()
    }

    /// The balances after `deltas`, or `None` if one would overflow (nothing changed then).
    pub fn balances_after(
        &self,
        deltas: &[BalanceDelta],
    ) -> Option<Vec<((AccountId, Layer), Amount)>> {
        deltas
            .iter()
            .map(|delta| {
                let key = (delta.account_id, delta.layer);
                self.balance(delta.account_id, delta.layer)
                    .checked_add(delta.delta)
                    .map(|balance| (key, balance))
            })
            .collect()
    }

    /// Applies `deltas`; `None` (and nothing changed) if one would overflow.
    pub fn apply_deltas(&mut self, deltas: &[BalanceDelta]) -> Option<()> {
        for ((account_id, layer), balance) in self.balances_after(deltas)? {
            self.balances.insert(account_id, layer, balance);
        }
        Some(())
    }

    /// The layers on which an account has a balance record.
    pub fn layers_of(&self, account_id: AccountId) -> Vec<Layer> {
        self.balances.layers_of(account_id)
    }

    /// The fees configured for transaction type `kind` in `currency` (three digits): sysconfig
    /// `fee.<kind>.flat.<currency>` and `fee.<kind>.pct.<currency>`, whose values are checked
    /// when stored.
    pub fn fee_rules(&self, kind: &str, currency: &str) -> Vec<FeeRule> {
        let mut rules = Vec::new();
        for (suffix, percent) in [("flat", false), ("pct", true)] {
            let name = format!("{kind}.{suffix}.{currency}");
            let Some(entry) = self.sysconfig.get(&format!("fee.{name}")) else { continue };
            let Ok(value) = Amount::parse(&entry.value) else { continue };
            let kind = if percent { FeeKind::Percent(value) } else { FeeKind::Flat(value) };
            rules.push(FeeRule { name, kind });
        }
        rules
    }

    /// The final accounts at or below `account_id`.
    pub fn final_descendants(&self, account_id: AccountId) -> Vec<AccountId> {
        let mut finals = Vec::new();
        let mut pending = vec![account_id];
        while let Some(id) = pending.pop() {
            match self.account(id) {
                Some(account) if account.is_final => finals.push(id),
                Some(_) => pending.extend(self.children.get(&id).into_iter().flatten().copied()),
                None => {}
            }
        }
        finals
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::AccountType;

    #[test]
    fn journals_and_accounts_share_their_charts_name() {
        let mut state = State::default();
        state.insert_chart(Chart {
            name: "jcard".into(),
            description: String::new(),
            created_ms: 0,
        });
        // As read from the store: every record brings a copy of its own.
        state.insert_journal(Journal::open("jcard", "jcard".into()));
        let account = |id, chart: &str| Account {
            id,
            code: format!("21.{id}"),
            chart: chart.into(),
            description: String::new(),
            account_type: AccountType::Debit,
            is_final: true,
            parent_id: None,
            currency_code: None,
            tags: String::new(),
            expiration_ms: None,
            created_ms: 0,
        };
        state.insert_account(account(1, "jcard"));
        state.insert_account(account(2, "other"));
        let chart = state.chart_name("jcard").unwrap_or_else(|| "missing".into());
        let journal = state.journals.get("jcard").map(|journal| Arc::clone(&journal.chart));
        assert!(journal.is_some_and(|shared| Arc::ptr_eq(&shared, &chart)));
        let of = |id| state.accounts.get(&id).map(|account| Arc::clone(&account.chart));
        assert!(of(1).is_some_and(|shared| Arc::ptr_eq(&shared, &chart)));
        // An account of a chart the state does not have keeps its own name.
        assert_eq!(of(2).as_deref(), Some("other"));
    }
}
