//! Gift-card PIN checks of the history API, run by the writer: each wrong PIN is counted per
//! card and written in the same commit, so a lock survives a restart. The decision
//! (`decide_pin`) is pure; `verify_gift_cards` loads, decides and writes.

use serde::{Deserialize, Serialize};

use super::command::{Decline, GiftCredential, Outcome};
use super::execute::GroupContext;
use super::{CoreError, GiftcardSettings};
use crate::card::pan::Pan;
use crate::clock::EpochMs;
use crate::store::schema;

/// The wrong-PIN record of one gift card.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GiftPinGuard {
    pub token: String,
    /// Wrong PINs in a row since the last right one or the last lock.
    pub failed_attempts: u32,
    /// The card's history is refused until then, whatever PIN is given.
    pub locked_until_ms: Option<EpochMs>,
}

/// What a PIN check decides: whether the PIN is accepted, and the card's guard afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinDecision {
    pub accepted: bool,
    pub guard: GiftPinGuard,
}

/// Decides one PIN check at `now_ms`: a locked card refuses every PIN (without counting); a
/// right PIN clears the count; a wrong one counts, and the `pin_attempts_max`-th wrong PIN in a
/// row locks the card for `pin_lock_ms`.
pub fn decide_pin(
    guard: &GiftPinGuard,
    pin_matches: bool,
    now_ms: EpochMs,
    settings: &GiftcardSettings,
) -> PinDecision {
    if guard.locked_until_ms.is_some_and(|until| now_ms < until) {
        return PinDecision { accepted: false, guard: guard.clone() };
    }
    let fresh = GiftPinGuard { token: guard.token.clone(), ..GiftPinGuard::default() };
    if pin_matches {
        return PinDecision { accepted: true, guard: fresh };
    }
    let failed_attempts =
        if guard.locked_until_ms.is_some() { 1 } else { guard.failed_attempts.saturating_add(1) };
    let guard = if failed_attempts >= settings.pin_attempts_max {
        GiftPinGuard { locked_until_ms: Some(now_ms.saturating_add(settings.pin_lock_ms)), ..fresh }
    } else {
        GiftPinGuard { failed_attempts, ..fresh }
    };
    PinDecision { accepted: false, guard }
}

impl GroupContext<'_> {
    /// Checks every card (so every wrong PIN counts), then answers for all of them at once.
    pub(super) fn verify_gift_cards(
        &mut self,
        order_id: &str,
        cards: &[GiftCredential],
    ) -> Result<Outcome, CoreError> {
        let holder = format!("gift-{order_id}");
        let mut tokens = Vec::with_capacity(cards.len());
        let mut refused = false;
        for credential in cards {
            match self.check_gift_card(&holder, credential)? {
                Some(token) => tokens.push(token),
                None => refused = true,
            }
        }
        if refused {
            return Ok(Outcome::Declined(Decline::InvalidPin));
        }
        Ok(Outcome::GiftCardsVerified { tokens })
    }

    /// The card's token if it is a gift card of order `holder`, not locked, and `credential`
    /// names its PIN. Only a card of the named order has its PIN checked (and a wrong one
    /// counted): without the order id nobody can guess PINs, nor lock someone else's card.
    fn check_gift_card(
        &mut self,
        holder: &str,
        credential: &GiftCredential,
    ) -> Result<Option<String>, CoreError> {
        let Ok(pan) = Pan::parse(credential.number.trim()) else { return Ok(None) };
        let token = self.state.cards_by_pan.get(&self.pan_hash(&pan)).cloned();
        let Some(card) = token.and_then(|token| self.state.cards.get(&token).cloned()) else {
            return Ok(None);
        };
        let in_order = card.partner.is_some() && card.cardholder.as_deref() == Some(holder);
        let Some(expected) = card.pin_hash.as_deref().filter(|_| in_order) else {
            return Ok(None);
        };
        let pin_matches = self.card_pin_hash(&card.token, &credential.pin) == expected;
        let guard = self.state.gift_pin_guards.get(&card.token).cloned().unwrap_or_else(|| {
            GiftPinGuard { token: card.token.clone(), ..GiftPinGuard::default() }
        });
        let decision = decide_pin(&guard, pin_matches, self.now_ms, &self.settings.giftcard);
        if decision.guard != guard {
            self.write_gift_pin_guard(decision.guard)?;
        }
        Ok(decision.accepted.then(|| card.token.clone()))
    }

    fn write_gift_pin_guard(&mut self, guard: GiftPinGuard) -> Result<(), CoreError> {
        let key = schema::gift_pin_guard_key(&guard.token);
        if guard.failed_attempts == 0 && guard.locked_until_ms.is_none() {
            self.batch.delete(key);
            self.state.gift_pin_guards.remove(&guard.token);
        } else {
            self.batch.put(key, &guard)?;
            self.state.gift_pin_guards.insert(guard.token.clone(), guard);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> GiftcardSettings {
        GiftcardSettings {
            pin_attempts_max: 3,
            pin_lock_ms: 1000,
            cards_per_request_max: 10,
            history_limit_default: 10,
            history_limit_max: 100,
        }
    }

    #[test]
    fn wrong_pins_lock_and_the_lock_ends() {
        let settings = settings();
        let mut guard = GiftPinGuard { token: "t".to_owned(), ..GiftPinGuard::default() };
        for expected in [1, 2] {
            let decision = decide_pin(&guard, false, 0, &settings);
            assert!(!decision.accepted);
            assert_eq!(decision.guard.failed_attempts, expected);
            guard = decision.guard;
        }
        let locked = decide_pin(&guard, false, 10, &settings);
        assert_eq!(locked.guard.locked_until_ms, Some(1010));
        // Locked: even the right PIN is refused, and nothing is counted.
        let refused = decide_pin(&locked.guard, true, 1009, &settings);
        assert!(!refused.accepted);
        assert_eq!(refused.guard, locked.guard);
        // After the lock, a right PIN clears everything; a wrong one starts counting again.
        let accepted = decide_pin(&locked.guard, true, 1010, &settings);
        assert!(accepted.accepted);
        assert_eq!(accepted.guard.locked_until_ms, None);
        let again = decide_pin(&locked.guard, false, 1010, &settings);
        assert_eq!((again.guard.failed_attempts, again.guard.locked_until_ms), (1, None));
    }

    #[test]
    fn a_right_pin_clears_the_count() {
        let guard =
            GiftPinGuard { token: "t".to_owned(), failed_attempts: 2, locked_until_ms: None };
        let decision = decide_pin(&guard, true, 0, &settings());
        assert!(decision.accepted);
        assert_eq!(decision.guard.failed_attempts, 0);
    }
}
