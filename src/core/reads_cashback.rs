//! Cashback reads from the last published state: a pass by one of its identifiers or by
//! token with its available cashback, and the merchant structure (groups, stores, points of
//! sale) a dialect checks a token's scope against.

use std::sync::Arc;

use super::execute_cashback::{pass_identifier_hash, MerchantGroup, MerchantStore, PointOfSale};
use super::state::State;
use super::Core;
use crate::card::{Card, CardKind, PassDetails, SearchMode};
use crate::money::Amount;

/// A pass as a point of sale sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassView {
    pub card: Arc<Card>,
    pub details: PassDetails,
    /// Available cashback on the pass's currency layer.
    pub balance: Amount,
}

impl Core {
    /// The pass whose identifier of `mode` is `value`, if any.
    pub fn find_pass(&self, mode: SearchMode, value: &str) -> Option<PassView> {
        let hash = pass_identifier_hash(&self.inner.keys, mode, value);
        let state = self.snapshot();
        let token = state.pass_identifiers.get(&hash)?;
        pass_view(&state, token)
    }

    /// The pass with card token `token`, if it is one.
    pub fn pass_by_token(&self, token: &str) -> Option<PassView> {
        pass_view(&self.snapshot(), token)
    }

    pub fn merchant_group(&self, id: u64) -> Option<Arc<MerchantGroup>> {
        self.snapshot().merchant_groups.get(&id).cloned()
    }

    pub fn merchant_store(&self, id: u64) -> Option<Arc<MerchantStore>> {
        self.snapshot().merchant_stores.get(&id).cloned()
    }

    /// A point of sale with its store.
    pub fn point_of_sale(&self, id: u64) -> Option<(Arc<PointOfSale>, Arc<MerchantStore>)> {
        let state = self.snapshot();
        let point = state.points_of_sale.get(&id)?.clone();
        let store = state.merchant_stores.get(&point.store_id)?.clone();
        Some((point, store))
    }
}

fn pass_view(state: &State, token: &str) -> Option<PassView> {
    let card = state.cards.get(token)?.clone();
    if card.kind != CardKind::Cashback {
        return None;
    }
    let details = PassDetails::clone(card.pass.as_deref()?);
    let layer = i16::try_from(details.currency).ok()?;
    let balance = state.balance(card.account_id, layer);
    Some(PassView { card, details, balance })
}
