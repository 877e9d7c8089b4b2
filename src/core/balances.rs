//! Every account's balance per layer, as the state keeps it: found by account id.

use std::collections::BTreeMap;
use std::fmt;

use imbl::{OrdMap, Vector};

use crate::ledger::{AccountId, Layer};
use crate::money::Amount;

/// Layers kept in an account's own slot; an account's further layers go to `Balances::more`.
const SLOT_LAYERS: usize = 2;

/// The balances of every account (composites rolled up) per layer.
///
/// Account ids are dense, so an account's balances sit at its id in a persistent vector:
/// looking one up is a few index steps down 64-wide nodes, with no key compared, where an
/// ordered map of (account, layer) keys descends 16-wide nodes comparing keys, once per
/// layer (a balance enquiry reads two layers; `docs/performance.md`, "Balances by account
/// id"). Nearly every account has balances on one currency and its pending layer; those two
/// are inline in the account's slot (a slot is `Copy`: copying a node copies bytes, clones
/// no pointers), and an account's further layers are in an ordered map beside it.
#[derive(Clone, Default)]
pub struct Balances {
    slots: Vector<Slot>,
    more: OrdMap<(AccountId, Layer), Amount>,
    len: usize,
}

/// One account's first layers with a balance, in the order they got one.
#[derive(Clone, Copy, Default)]
struct Slot {
    used: u8,
    layers: [Layer; SLOT_LAYERS],
    amounts: [Amount; SLOT_LAYERS],
}

impl Slot {
    fn position(&self, layer: Layer) -> Option<usize> {
        self.layers.iter().take(usize::from(self.used)).position(|held| *held == layer)
    }

    fn entries(&self) -> impl Iterator<Item = (Layer, Amount)> + '_ {
        self.layers.iter().copied().zip(self.amounts.iter().copied()).take(usize::from(self.used))
    }
}

/// The same records, wherever each sits (slot or `more` depends on the order layers came).
impl PartialEq for Balances {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len
            && self
                .iter()
                .all(|((account, layer), amount)| other.get(account, layer) == Some(amount))
    }
}

impl Eq for Balances {}

impl fmt::Debug for Balances {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let records: BTreeMap<(AccountId, Layer), Amount> = self.iter().collect();
        formatter.debug_map().entries(records).finish()
    }
}

impl Balances {
    /// `account`'s balance on `layer`, if it has a balance record there.
    pub fn get(&self, account: AccountId, layer: Layer) -> Option<Amount> {
        self.held(self.slot(account), account, layer)
    }

    /// `account`'s balance on `layer`, given its slot (found once by the caller).
    fn held(&self, slot: Option<&Slot>, account: AccountId, layer: Layer) -> Option<Amount> {
        if let Some(slot) = slot {
            if let Some(position) = slot.position(layer) {
                return slot.amounts.get(position).copied();
            }
        }
        // Nearly always empty, and then this is one branch.
        self.more.get(&(account, layer)).copied()
    }

    /// The sum of `account`'s balances on `layers` (nothing where it has no record), finding
    /// its slot once for all of them (a balance enquiry asks for two layers); `None` if the sum
    /// overflows.
    pub fn sum(&self, account: AccountId, layers: &[Layer]) -> Option<Amount> {
        let slot = self.slot(account);
        layers.iter().try_fold(Amount::ZERO, |sum, &layer| {
            sum.checked_add(self.held(slot, account, layer).unwrap_or_default())
        })
    }

    /// Sets `account`'s balance on `layer`.
    pub fn insert(&mut self, account: AccountId, layer: Layer, amount: Amount) {
        let Some(index) = self.slot_index(account) else {
            self.insert_more(account, layer, amount);
            return;
        };
        if index >= self.slots.len() {
            let missing = index.saturating_add(1).saturating_sub(self.slots.len());
            self.slots.extend(std::iter::repeat_n(Slot::default(), missing));
        }
        // A layer already in `more` stays there (an account whose id was once too far out for
        // a slot, or whose slot was full when the layer came).
        let in_more = self.more.contains_key(&(account, layer));
        let Some(slot) = (!in_more).then(|| self.slots.get_mut(index)).flatten() else {
            self.insert_more(account, layer, amount);
            return;
        };
        if let Some(position) = slot.position(layer) {
            if let Some(held) = slot.amounts.get_mut(position) {
                *held = amount;
            }
            return;
        }
        let used = usize::from(slot.used);
        if let (Some(held_layer), Some(held)) =
            (slot.layers.get_mut(used), slot.amounts.get_mut(used))
        {
            *held_layer = layer;
            *held = amount;
            slot.used = slot.used.saturating_add(1);
            self.len = self.len.saturating_add(1);
            return;
        }
        self.insert_more(account, layer, amount);
    }

    /// Balance records held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The layers on which `account` has a balance record, in ascending order.
    pub fn layers_of(&self, account: AccountId) -> Vec<Layer> {
        let mut layers: Vec<Layer> = self
            .slot(account)
            .into_iter()
            .flat_map(|slot| slot.entries().map(|(l, _)| l))
            .collect();
        layers.extend(
            self.more.range((account, Layer::MIN)..=(account, Layer::MAX)).map(|((_, l), _)| *l),
        );
        layers.sort_unstable();
        layers
    }

    /// Every balance record, by account and layer (in no particular order).
    pub fn iter(&self) -> impl Iterator<Item = ((AccountId, Layer), Amount)> + '_ {
        let slotted = self.slots.iter().enumerate().flat_map(|(index, slot)| {
            let account = AccountId::try_from(index).unwrap_or(AccountId::MAX);
            slot.entries().map(move |(layer, amount)| ((account, layer), amount))
        });
        slotted.chain(self.more.iter().map(|(key, amount)| (*key, *amount)))
    }

    fn slot(&self, account: AccountId) -> Option<&Slot> {
        self.slots.get(usize::try_from(account).ok()?)
    }

    /// Where `account`'s slot is or would be; `None` for an id too far past the last slot.
    fn slot_index(&self, account: AccountId) -> Option<usize> {
        super::by_id::slot_index(account, self.slots.len())
    }

    fn insert_more(&mut self, account: AccountId, layer: Layer, amount: Amount) {
        if self.more.insert((account, layer), amount).is_none() {
            self.len = self.len.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    type Model = BTreeMap<(AccountId, Layer), Amount>;

    fn assert_same(balances: &Balances, model: &Model, accounts: &[AccountId], layers: &[Layer]) {
        for &account in accounts {
            for &layer in layers {
                assert_eq!(balances.get(account, layer), model.get(&(account, layer)).copied());
            }
            let expected: Vec<Layer> = model
                .range((account, Layer::MIN)..=(account, Layer::MAX))
                .map(|(k, _)| k.1)
                .collect();
            assert_eq!(balances.layers_of(account), expected, "layers of {account}");
            // Every layer at once, and each of them with the one after it (a slot's and
            // `more`'s together).
            let sum = |layers: &[Layer]| {
                layers
                    .iter()
                    .map(|&l| model.get(&(account, l)).map_or(0, |a| a.units()))
                    .sum::<i64>()
            };
            assert_eq!(balances.sum(account, layers).map(Amount::units), Some(sum(layers)));
            for pair in layers.windows(2) {
                assert_eq!(balances.sum(account, pair).map(Amount::units), Some(sum(pair)));
            }
        }
        assert_eq!(balances.len(), model.len());
        let all: Model = balances.iter().collect();
        assert_eq!(balances.iter().count(), model.len(), "a record listed twice");
        assert_eq!(&all, model);
        // Built again in key order, some records sit elsewhere (slot or `more`): still equal.
        let mut rebuilt = Balances::default();
        for (&(account, layer), &amount) in model {
            rebuilt.insert(account, layer, amount);
        }
        assert_eq!(balances, &rebuilt);
    }

    #[test]
    fn balances_read_back_what_was_set_in_slots_and_beyond_them() {
        // Dense ids, ids far past the last slot (which later slots grow to cover), accounts
        // with more layers than a slot holds, and versions kept while later ones change.
        let accounts: Vec<AccountId> =
            (0..40).chain([3_000, 5_000, 9_000, 9_001, 20_000]).collect();
        let layers: [Layer; 5] = [840, 1840, 978, 1978, Layer::MIN];
        let mut rng = StdRng::seed_from_u64(20_261_122);
        let mut balances = Balances::default();
        let mut model = Model::new();
        let mut versions = Vec::new();
        for step in 0..4_000 {
            let account = accounts[rng.gen_range(0..accounts.len())];
            let choices = if rng.gen_bool(0.8) { 2 } else { layers.len() };
            let layer = layers[rng.gen_range(0..choices)];
            let amount = Amount::from_units(rng.gen_range(-1_000_000..1_000_000));
            balances.insert(account, layer, amount);
            model.insert((account, layer), amount);
            if step % 500 == 0 {
                versions.push((balances.clone(), model.clone()));
            }
        }
        assert!(balances.slots.len() > 9_001, "a far id's slot came once the slots reached it");
        assert!(!balances.more.is_empty(), "some layers went past their slot");
        assert_same(&balances, &model, &accounts, &layers);
        for (version, model) in &versions {
            assert_same(version, model, &accounts, &layers);
        }
    }

    #[test]
    fn an_account_without_a_record_has_no_balance() {
        let mut balances = Balances::default();
        assert_eq!(balances.get(3, 840), None);
        balances.insert(3, 840, Amount::ZERO);
        assert_eq!(balances.get(3, 840), Some(Amount::ZERO), "a zero balance is a record");
        assert_eq!(balances.get(2, 840), None, "an empty slot before it holds nothing");
        assert_eq!(balances.get(3, 1840), None);
        assert_eq!(balances.get(u64::MAX, 840), None);
        assert_eq!((balances.len(), balances.layers_of(2)), (1, Vec::new()));
        balances.insert(3, 1840, Amount::from_units(i64::MAX));
        balances.insert(3, 840, Amount::from_units(1));
        assert_eq!(balances.sum(3, &[840, 1840]), None, "an overflowing sum");
        assert_eq!(balances.sum(2, &[840, 1840]), Some(Amount::ZERO));
    }
}
