//! A gift card's history for the history API: its approved tranlog records (declined
//! attempts are not history), each with the card's balance right after it, what kind of
//! movement it was (activation, reload, redeem, or the cancellation of one), and whether it
//! was cancelled later. Computed from the whole log oldest first, then filtered and paged.

use std::collections::HashMap;
use std::sync::Arc;

use super::reads::ReadError;
use super::reads_wallet::TranlogFilter;
use super::tranlog::{self, Tranlog};
use super::Core;
use crate::card::Card;
use crate::clock::EpochMs;
use crate::money::Amount;

/// The channel name of the credit that activates a gift card.
pub const ACTIVATION_CHANNEL: &str = "gift-card-activation";

/// What a history line was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiftTxnKind {
    Activate,
    Reload,
    Redeem,
    CancelActivate,
    CancelReload,
    CancelRedeem,
}

impl GiftTxnKind {
    fn cancelled(self) -> GiftTxnKind {
        match self {
            GiftTxnKind::Activate | GiftTxnKind::CancelActivate => GiftTxnKind::CancelActivate,
            GiftTxnKind::Reload | GiftTxnKind::CancelReload => GiftTxnKind::CancelReload,
            GiftTxnKind::Redeem | GiftTxnKind::CancelRedeem => GiftTxnKind::CancelRedeem,
        }
    }
}

/// One movement of a gift card.
#[derive(Debug, Clone)]
pub struct GiftHistoryLine {
    pub tranlog: Tranlog,
    pub kind: GiftTxnKind,
    /// The card's balance right after this movement.
    pub balance_after: Amount,
    /// Reversed or voided later.
    pub cancelled: bool,
    /// The description the movement was posted with.
    pub notes: String,
}

/// Which lines to answer: dated in `[from_ms, to_ms]`, newest first, `offset` skipped.
#[derive(Debug, Clone, Copy)]
pub struct GiftHistoryQuery {
    pub from_ms: EpochMs,
    pub to_ms: EpochMs,
    pub offset: usize,
    pub limit: usize,
}

/// A gift card with the lines of its history a query asked for.
#[derive(Debug, Clone)]
pub struct GiftCardHistory {
    pub card: Arc<Card>,
    /// The card's balance now, from the ledger (available: posted and pending).
    pub balance: Amount,
    /// When the activation credit was logged.
    pub activation_ms: Option<EpochMs>,
    /// The activation was reversed or voided.
    pub activation_cancelled: bool,
    pub lines: Vec<GiftHistoryLine>,
}

impl Core {
    /// The history of gift card `token` (which the caller has already verified).
    pub fn gift_card_history(
        &self,
        token: &str,
        query: &GiftHistoryQuery,
    ) -> Result<GiftCardHistory, ReadError> {
        let card = self.snapshot().cards.get(token).cloned().ok_or(ReadError::AccountNotFound)?;
        let lines = self.all_gift_lines(token)?;
        let activation = lines.iter().find(|line| line.kind == GiftTxnKind::Activate);
        let activation_ms = activation.map(|line| line.tranlog.date_ms);
        let activation_cancelled = activation.is_some_and(|line| line.cancelled);
        let lines = lines
            .into_iter()
            .rev()
            .filter(|line| {
                line.tranlog.date_ms >= query.from_ms && line.tranlog.date_ms <= query.to_ms
            })
            .skip(query.offset)
            .take(query.limit)
            .collect();
        let balance = self.card_available(&card)?;
        Ok(GiftCardHistory { card, balance, activation_ms, activation_cancelled, lines })
    }

    /// Every approved movement of the card, oldest first, with the balance after each.
    fn all_gift_lines(&self, token: &str) -> Result<Vec<GiftHistoryLine>, ReadError> {
        let filter = TranlogFilter {
            from_ms: EpochMs::MIN,
            to_ms: EpochMs::MAX,
            itcs: Vec::new(),
            length: usize::MAX,
            offset: 0,
            ascending: true,
            ircs: Vec::new(),
            currencies: Vec::new(),
        };
        let records = self.card_tranlogs(token, &filter)?;
        let mut effects: HashMap<u64, (GiftTxnKind, Amount)> = HashMap::new();
        let mut balance = Amount::ZERO;
        let mut lines = Vec::new();
        for record in records.into_iter().filter(Tranlog::is_approved) {
            let Some((kind, delta)) = effect(&record, token, &effects) else { continue };
            effects.insert(record.id, (kind, delta));
            balance = balance.checked_add(delta).ok_or(ReadError::Overflow)?;
            let notes = match record.transaction_id {
                Some(id) => self.transaction(id)?.map(|transaction| transaction.detail),
                None => None,
            };
            let cancelled = record.reversal_count > 0 || record.void_count > 0;
            lines.push(GiftHistoryLine {
                tranlog: record,
                kind,
                balance_after: balance,
                cancelled,
                notes: notes.unwrap_or_default(),
            });
        }
        Ok(lines)
    }

    /// The card's available balance: its account on its currency's posted and pending layers.
    fn card_available(&self, card: &Card) -> Result<Amount, ReadError> {
        let state = self.snapshot();
        let account = state.accounts.get(&card.account_id).ok_or(ReadError::AccountNotFound)?;
        let currency = self.gift_card_currency(card);
        let layer = i16::try_from(currency).map_err(|_| ReadError::Overflow)?;
        let layers = [layer, layer.saturating_add(crate::ledger::PENDING_LAYER_OFFSET)];
        let answer = self.balance(super::bootstrap::DEFAULT_CHART, &account.code, &layers, None)?;
        Ok(answer.balance)
    }

    /// The card's currency (ISO-4217 numeric): its holder's first.
    pub fn gift_card_currency(&self, card: &Card) -> u16 {
        let state = self.snapshot();
        let holder = card.cardholder.as_ref().and_then(|real_id| state.customers.get(real_id));
        holder
            .and_then(|customer| customer.currency_codes.first().copied())
            .unwrap_or(self.settings().wallets.default_currency)
    }
}

/// What `record` was for card `token` and how it changed the card's balance, given the
/// effects of the card's earlier records (a cancellation undoes its original's).
fn effect(
    record: &Tranlog,
    token: &str,
    earlier: &HashMap<u64, (GiftTxnKind, Amount)>,
) -> Option<(GiftTxnKind, Amount)> {
    if let Some(original) = record.original_id {
        let (kind, delta) = earlier.get(&original)?;
        return Some((kind.cancelled(), delta.checked_neg()?));
    }
    let amount = record.amount;
    let is_sender = record.card.as_deref() == Some(token);
    match record.itc.as_str() {
        tranlog::ITC_CARD_CREDIT if record.channel.as_deref() == Some(ACTIVATION_CHANNEL) => {
            Some((GiftTxnKind::Activate, amount))
        }
        tranlog::ITC_CARD_CREDIT => Some((GiftTxnKind::Reload, amount)),
        tranlog::ITC_CARD_TRANSFER if !is_sender => Some((GiftTxnKind::Reload, amount)),
        tranlog::ITC_CARD_PURCHASE | tranlog::ITC_CARD_WITHDRAWAL | tranlog::ITC_CARD_TRANSFER => {
            Some((GiftTxnKind::Redeem, amount.checked_neg()?))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: u64, itc: &str, channel: Option<&str>, original: Option<u64>) -> Tranlog {
        Tranlog {
            itc: itc.to_owned(),
            amount: Amount::from_whole(5).unwrap_or(Amount::ZERO),
            original_id: original,
            card: Some("t".to_owned()),
            channel: channel.map(str::to_owned),
            ..tranlog::tests_support::blank(id)
        }
    }

    #[test]
    fn kinds_and_signs() {
        let five = Amount::from_whole(5).unwrap();
        let mut earlier = HashMap::new();
        let activation = record(1, tranlog::ITC_CARD_CREDIT, Some(ACTIVATION_CHANNEL), None);
        assert_eq!(effect(&activation, "t", &earlier), Some((GiftTxnKind::Activate, five)));
        earlier.insert(1, (GiftTxnKind::Activate, five));
        let fund = record(2, tranlog::ITC_CARD_CREDIT, Some("card-api:p"), None);
        assert_eq!(effect(&fund, "t", &earlier), Some((GiftTxnKind::Reload, five)));
        let debit = record(3, tranlog::ITC_CARD_PURCHASE, None, None);
        let minus_five = five.checked_neg().unwrap();
        assert_eq!(effect(&debit, "t", &earlier), Some((GiftTxnKind::Redeem, minus_five)));
        let cancel = record(4, tranlog::ITC_REVERSAL, None, Some(1));
        assert_eq!(effect(&cancel, "t", &earlier), Some((GiftTxnKind::CancelActivate, minus_five)));
        let unknown_original = record(5, tranlog::ITC_REVERSAL, None, Some(9));
        assert_eq!(effect(&unknown_original, "t", &earlier), None);
    }
}
