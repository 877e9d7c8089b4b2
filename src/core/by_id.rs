//! A persistent map from dense ids to values, as the state keeps its accounts: found by id.

use imbl::{OrdMap, Vector};

/// How far past the last slot an id may be and still get a slot of its own. Ids are assigned
/// densely from 1, so a new one is the next slot; an id further out (a hand-edited or foreign
/// store) goes to a map beside the vector rather than growing it by empty slots.
const SLOT_GAP_MAX: usize = 4096;

/// Where `id`'s slot is or would be in a vector of `slots_len` slots; `None` for an id too far
/// past the last slot (kept beside the vector instead). Shared with `Balances`.
pub(super) fn slot_index(id: u64, slots_len: usize) -> Option<usize> {
    let index = usize::try_from(id).ok()?;
    (index < slots_len.saturating_add(SLOT_GAP_MAX)).then_some(index)
}

/// Values by a dense integer id, cheap to snapshot (`Clone` shares everything).
///
/// Each value sits at its id in a persistent vector: finding one is a few index steps down
/// 64-wide nodes of pointers, with no key hashed or compared, where a hash trie walks nodes of
/// (key, value, hash) entries, larger and one more cache miss deep or so (`docs/performance.md`,
/// "Accounts by id"). Ids far past the vector's end sit in an ordered map beside it.
#[derive(Clone)]
pub struct ById<V: Clone> {
    slots: Vector<Option<V>>,
    /// Values whose id was too far past the last slot when they came. Such an id stays here
    /// even once the vector has grown past it (looked up in both).
    far: OrdMap<u64, V>,
    len: usize,
}

impl<V: Clone> Default for ById<V> {
    fn default() -> Self {
        ById { slots: Vector::new(), far: OrdMap::new(), len: 0 }
    }
}

impl<V: Clone> ById<V> {
    pub fn get(&self, id: &u64) -> Option<&V> {
        let in_slot = usize::try_from(*id).ok().and_then(|index| self.slots.get(index));
        match in_slot {
            Some(Some(value)) => Some(value),
            _ => self.far.get(id),
        }
    }

    /// Sets `id`'s value; the value it had, if any.
    pub fn insert(&mut self, id: u64, value: V) -> Option<V> {
        let in_slots = slot_index(id, self.slots.len());
        let Some(index) = in_slots.filter(|_| !self.far.contains_key(&id)) else {
            let previous = self.far.insert(id, value);
            return self.counted(previous);
        };
        if index >= self.slots.len() {
            let missing = index.saturating_add(1).saturating_sub(self.slots.len());
            self.slots.extend(std::iter::repeat_n(None, missing));
        }
        let previous = self.slots.get_mut(index).and_then(|slot| slot.replace(value));
        self.counted(previous)
    }

    fn counted(&mut self, previous: Option<V>) -> Option<V> {
        if previous.is_none() {
            self.len = self.len.saturating_add(1);
        }
        previous
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every (id, value), the slots' in id order first, then the far ones'.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &V)> + '_ {
        let slots = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(index, slot)| Some((u64::try_from(index).ok()?, slot.as_ref()?)));
        slots.chain(self.far.iter().map(|(id, value)| (*id, value)))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    fn assert_same(map: &ById<u32>, model: &BTreeMap<u64, u32>, ids: &[u64]) {
        for id in ids {
            assert_eq!(map.get(id), model.get(id), "id {id}");
        }
        assert_eq!(map.len(), model.len());
        let listed: BTreeMap<u64, u32> = map.iter().map(|(id, value)| (id, *value)).collect();
        assert_eq!(map.iter().count(), model.len(), "an id listed twice");
        assert_eq!(&listed, model);
    }

    /// Random inserts and overwrites against a `BTreeMap`: dense ids, ids far out (some of
    /// which the vector grows past later), snapshots kept and checked unchanged.
    #[test]
    fn reads_match_an_ordered_map_through_random_inserts_and_snapshots() {
        let mut rng = StdRng::seed_from_u64(20_261_123);
        let mut map = ById::default();
        let mut model = BTreeMap::new();
        let mut snapshots = Vec::new();
        let far = [9_000, 9_001, 20_000, u64::MAX];
        let mut ids: Vec<u64> = (0..6_000).collect();
        ids.extend(far);
        for step in 0..6_000_u32 {
            let id = match rng.gen_range(0..10) {
                0 => far[rng.gen_range(0..far.len())],
                // Mostly the next ids, as accounts are made, sometimes an earlier one again.
                1..=6 => u64::from(step),
                _ => rng.gen_range(0..=u64::from(step)),
            };
            assert_eq!(map.insert(id, step), model.insert(id, step), "step {step}");
            if step % 500 == 0 {
                snapshots.push((map.clone(), model.clone()));
            }
        }
        assert_same(&map, &model, &ids);
        for (snapshot, then) in &snapshots {
            assert_same(snapshot, then, &ids);
        }
        // Dense ids past 9,000 and 9,001, which came while the vector was short and sit in
        // `far`: both are still found, overwritten where they are, and listed once.
        assert!(map.far.contains_key(&9_000) && map.far.contains_key(&9_001));
        for id in 6_000..9_500 {
            if id != 9_001 {
                assert_eq!(map.insert(id, 7), model.insert(id, 7), "id {id}");
            }
        }
        assert!(map.slots.len() > 9_001);
        assert_same(&map, &model, &ids);
        assert_eq!(map.far.get(&9_000), Some(&7), "overwritten in far, not given a slot");
    }
}
