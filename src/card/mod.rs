//! Cards and card products: the card's life (states and the transitions between them), the
//! product's channel and date rules, velocity profiles and their counters, and the pure
//! authorization checks in order of precedence. No I/O, no clock: time is an argument.

pub mod pan;

use serde::{Deserialize, Serialize};

use crate::clock::EpochMs;
use crate::ledger::AccountId;
use crate::money::Amount;

/// A card's state, as jCard names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CardState {
    Created,
    Issued,
    Nonactivated,
    Active,
    Suspended,
    Compliance,
    Debt,
    Lost,
    Stolen,
    Fraud,
    Expired,
    Cancelled,
    Deleted,
}

impl CardState {
    pub const ALL: [CardState; 13] = [
        CardState::Nonactivated,
        CardState::Active,
        CardState::Suspended,
        CardState::Lost,
        CardState::Stolen,
        CardState::Fraud,
        CardState::Compliance,
        CardState::Debt,
        CardState::Created,
        CardState::Issued,
        CardState::Deleted,
        CardState::Expired,
        CardState::Cancelled,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CardState::Created => "created",
            CardState::Issued => "issued",
            CardState::Nonactivated => "nonactivated",
            CardState::Active => "active",
            CardState::Suspended => "suspended",
            CardState::Compliance => "compliance",
            CardState::Debt => "debt",
            CardState::Lost => "lost",
            CardState::Stolen => "stolen",
            CardState::Fraud => "fraud",
            CardState::Expired => "expired",
            CardState::Cancelled => "cancelled",
            CardState::Deleted => "deleted",
        }
    }

    pub fn parse(text: &str) -> Option<CardState> {
        CardState::ALL.into_iter().find(|state| state.name().eq_ignore_ascii_case(text.trim()))
    }

    /// Never left again: the card is gone.
    fn is_final(self) -> bool {
        matches!(self, CardState::Expired | CardState::Cancelled | CardState::Deleted)
    }

    /// Lost, stolen or fraud: only closing it remains.
    fn is_compromised(self) -> bool {
        matches!(self, CardState::Lost | CardState::Stolen | CardState::Fraud)
    }

    /// Not yet in use.
    fn is_pending(self) -> bool {
        matches!(self, CardState::Created | CardState::Issued | CardState::Nonactivated)
    }

    /// Whether a card may go from `self` to `to`. Staying put is allowed (idempotent); a final
    /// state is never left; a compromised card can only be closed; nothing goes back to
    /// `created`, and only a card not yet in use can be `issued` or `nonactivated`.
    pub fn may_become(self, to: CardState) -> bool {
        if self == to {
            return true;
        }
        if self.is_final() {
            return false;
        }
        if self.is_compromised() {
            return to.is_final();
        }
        match to {
            CardState::Created => false,
            CardState::Issued | CardState::Nonactivated => self.is_pending(),
            _ => true,
        }
    }

    /// What `PUT /activate` accepts: a card not yet in use, or a suspended one.
    pub fn may_activate(self) -> bool {
        self == CardState::Active || self.is_pending() || self == CardState::Suspended
    }
}

/// Where a card transaction comes from, gated by the product's `allow*` flags. Anything else
/// (`jcard`, a back office, no channel) is the issuer's own channel and always allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Atm,
    Pos,
    Ecommerce,
    Moto,
    Tips,
    Internal,
}

impl Channel {
    pub fn parse(text: Option<&str>) -> Channel {
        match text.map(|text| text.trim().to_ascii_lowercase()).as_deref() {
            Some("atm") => Channel::Atm,
            Some("pos") => Channel::Pos,
            Some("ecommerce" | "ecom" | "web" | "internet") => Channel::Ecommerce,
            Some("moto" | "phone" | "mail") => Channel::Moto,
            Some("tips" | "tip") => Channel::Tips,
            _ => Channel::Internal,
        }
    }
}

/// A card product: the rules its cards share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardProduct {
    pub id: u64,
    pub name: String,
    pub code: String,
    pub issuer: Option<String>,
    pub institution_id: Option<String>,
    pub issued_account: Option<String>,
    pub fee_account: Option<String>,
    pub losses_account: Option<String>,
    pub external_account: Option<String>,
    pub active: bool,
    pub anonymous: bool,
    pub bin: Option<String>,
    pub card_number_length: Option<u32>,
    pub random_card_number: bool,
    pub allow_atm: bool,
    pub allow_ecommerce: bool,
    pub allow_moto: bool,
    pub allow_pos: bool,
    pub allow_tips: bool,
    pub smart: bool,
    /// `yyyy-MM-dd`; the product takes transactions from the start of `start_date` to the end
    /// of `end_date`.
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub start_ms: Option<EpochMs>,
    pub end_ms: Option<EpochMs>,
    /// Cards issued with a sequential number so far (when not `random_card_number`).
    pub issued_count: u64,
}

impl CardProduct {
    /// A product with only its identity: active, random card numbers, no channel allowed, no
    /// accounts, dates or BIN. What a create request starts from before its fields apply.
    pub fn blank(id: u64, name: String, code: String) -> CardProduct {
        CardProduct {
            id,
            name,
            code,
            issuer: None,
            institution_id: None,
            issued_account: None,
            fee_account: None,
            losses_account: None,
            external_account: None,
            active: true,
            anonymous: false,
            bin: None,
            card_number_length: None,
            random_card_number: true,
            allow_atm: false,
            allow_ecommerce: false,
            allow_moto: false,
            allow_pos: false,
            allow_tips: false,
            smart: false,
            start_date: None,
            end_date: None,
            start_ms: None,
            end_ms: None,
            issued_count: 0,
        }
    }

    pub fn allows(&self, channel: Channel) -> bool {
        match channel {
            Channel::Atm => self.allow_atm,
            Channel::Pos => self.allow_pos,
            Channel::Ecommerce => self.allow_ecommerce,
            Channel::Moto => self.allow_moto,
            Channel::Tips => self.allow_tips,
            Channel::Internal => true,
        }
    }

    /// Active and within its dates at `now_ms`.
    pub fn in_force(&self, now_ms: EpochMs) -> bool {
        self.active
            && self.start_ms.is_none_or(|start| now_ms >= start)
            && self.end_ms.is_none_or(|end| now_ms < end)
    }
}

/// A card. Its number is known only by hash, BIN and last four.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    pub id: u64,
    /// Random, never derived from the PAN; every route names the card by it.
    pub token: String,
    pub pan_hash: String,
    pub bin: String,
    pub last_four: String,
    pub pan_length: usize,
    /// `yyyyMM`; the card works through the end of that month.
    pub expiration: String,
    pub service_code: String,
    pub embossing_name: Option<String>,
    pub is_virtual: bool,
    pub product_id: u64,
    pub cardholder: Option<String>,
    pub account_id: AccountId,
    pub state: CardState,
    /// Keyed hash of the PIN block; never the PIN.
    pub pin_hash: Option<String>,
    pub created_ms: EpochMs,
    /// The card-issuing API partner that issued it; only that partner reaches it there.
    #[serde(default)]
    pub partner: Option<String>,
    /// A payment card (every card before cashback passes existed) or a cashback pass.
    #[serde(default)]
    pub kind: CardKind,
    /// A cashback pass's group, holder and identifiers; `None` for payment cards. Boxed: the
    /// details are 184 bytes, and a million payment cards each carried them inline, empty.
    #[serde(default)]
    pub pass: Option<Box<PassDetails>>,
}

/// What a card is for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CardKind {
    /// A card with a PAN, used on the card paths.
    #[default]
    Payment,
    /// A cashback pass (`CASHBACK`): no PAN, found by its NFC number, barcode or manual code.
    Cashback,
}

/// What makes a card a cashback pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassDetails {
    pub group_id: u64,
    pub holder_name: String,
    /// ISO-4217 numeric: the layer its cashback is kept on.
    pub currency: u16,
    pub nfc: Option<PassIdentifier>,
    pub barcode: Option<PassIdentifier>,
    pub manual: Option<PassIdentifier>,
}

/// One of a pass's identifiers, known only by keyed hash and masked form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassIdentifier {
    pub hash: String,
    pub masked: String,
}

/// How a pass is looked for: which of its identifiers the searched value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchMode {
    Nfc,
    Barcode,
    Manual,
}

impl SearchMode {
    /// An identifier as it is compared: trimmed; NFC numbers (hex) and manually keyed codes
    /// without regard to case, barcodes exactly.
    pub fn normalize(self, value: &str) -> String {
        match self {
            SearchMode::Nfc | SearchMode::Manual => value.trim().to_ascii_uppercase(),
            SearchMode::Barcode => value.trim().to_owned(),
        }
    }

    /// The label hashed with an identifier, so that equal values of two modes differ.
    pub fn label(self) -> &'static str {
        match self {
            SearchMode::Nfc => "nfc",
            SearchMode::Barcode => "barcode",
            SearchMode::Manual => "manual",
        }
    }
}

/// An identifier masked for display: all but its last four characters replaced by `*` (all of
/// it when it has four or fewer).
pub fn mask_identifier(value: &str) -> String {
    let count = value.chars().count();
    let shown = if count > 4 { 4 } else { 0 };
    value
        .chars()
        .enumerate()
        .map(|(index, character)| if index + shown < count { '*' } else { character })
        .collect()
}

impl Card {
    pub fn masked_pan(&self) -> String {
        pan::mask(&self.bin, &self.last_four, self.pan_length)
    }

    /// Expired once the month after `expiration` has begun (`month_index` is yyyy·12 + m − 1).
    pub fn expired_at(&self, month_index: i64) -> bool {
        expiration_month_index(&self.expiration).is_none_or(|expiry| month_index > expiry)
    }
}

/// `yyyyMM` as a month count, for comparing dates.
pub fn expiration_month_index(expiration: &str) -> Option<i64> {
    let year: i64 = expiration.get(..4)?.parse().ok()?;
    let month: i64 = expiration.get(4..6)?.parse().ok()?;
    (1..=12).contains(&month).then(|| year * 12 + month - 1)
}

/// What a card transaction does, for velocity's `validOn*` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionClass {
    Purchase,
    Withdrawal,
    Transfer,
    Credit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VelocityScope {
    Card,
    Account,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VelocityPeriod {
    Daily,
    Monthly,
}

/// A limit on how much and how often cards of a product may be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VelocityProfile {
    pub id: u64,
    pub product_id: u64,
    pub name: String,
    pub active: bool,
    pub approvals_only: bool,
    pub scope: VelocityScope,
    pub period: VelocityPeriod,
    /// ISO-4217 numeric, as given (`"840"`).
    pub currency_code: String,
    pub usage_limit: Option<u64>,
    pub amount_limit: Amount,
    pub valid_on_purchase: bool,
    pub valid_on_withdrawal: bool,
    pub valid_on_transfer: bool,
    pub valid_on_credit: bool,
}

impl VelocityProfile {
    /// Whether this profile counts a transaction of `class` in `currency`.
    pub fn applies(&self, class: TransactionClass, currency: u16) -> bool {
        let valid = match class {
            TransactionClass::Purchase => self.valid_on_purchase,
            TransactionClass::Withdrawal => self.valid_on_withdrawal,
            TransactionClass::Transfer => self.valid_on_transfer,
            TransactionClass::Credit => self.valid_on_credit,
        };
        self.active && valid && self.currency_code.trim().parse::<u16>().ok() == Some(currency)
    }

    /// The first millisecond of the period `now_ms` falls in (UTC days and months).
    pub fn window_start(&self, now_ms: EpochMs) -> EpochMs {
        let day_ms = 86_400_000;
        let day_start = now_ms.div_euclid(day_ms) * day_ms;
        match self.period {
            VelocityPeriod::Daily => day_start,
            VelocityPeriod::Monthly => month_start(now_ms).unwrap_or(day_start),
        }
    }

    /// Whether one more transaction of `amount` stays within the limits, given the period's
    /// counter so far.
    pub fn allows(&self, counter: VelocityCounter, amount: Amount) -> bool {
        let within_usage =
            self.usage_limit.is_none_or(|limit| counter.count.saturating_add(1) <= limit);
        let within_amount =
            counter.amount.checked_add(amount).is_some_and(|total| total <= self.amount_limit);
        within_usage && within_amount
    }
}

/// What a velocity profile has counted in one period for one card or account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VelocityCounter {
    pub count: u64,
    pub amount: Amount,
}

impl VelocityCounter {
    pub fn plus(self, amount: Amount) -> Option<VelocityCounter> {
        Some(VelocityCounter {
            count: self.count.checked_add(1)?,
            amount: self.amount.checked_add(amount)?,
        })
    }
}

fn month_start(now_ms: EpochMs) -> Option<EpochMs> {
    use chrono::{Datelike, TimeZone};
    let now = chrono::Utc.timestamp_millis_opt(now_ms).single()?;
    chrono::Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .map(|start| start.timestamp_millis())
}

/// The month index (yyyy·12 + m − 1) of `now_ms`, for card expiry.
pub fn month_index(now_ms: EpochMs) -> i64 {
    use chrono::{Datelike, TimeZone};
    chrono::Utc
        .timestamp_millis_opt(now_ms)
        .single()
        .map_or(0, |now| i64::from(now.year()) * 12 + i64::from(now.month0()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payment_card_carries_no_pass_details_inline_and_a_pass_is_stored_as_before() {
        // A million cards are in memory: the pass details (184 bytes) stay out of line, and a
        // card is some 300 bytes (472 with them inline).
        assert!(std::mem::size_of::<Card>() < 400, "{}", std::mem::size_of::<Card>());
        // The box changes nothing stored: the details are the card's `pass` object.
        let details = PassDetails {
            group_id: 7,
            holder_name: "Ana".to_owned(),
            currency: 840,
            nfc: None,
            barcode: Some(PassIdentifier { hash: "h".to_owned(), masked: "**12".to_owned() }),
            manual: None,
        };
        let stored = serde_json::to_value(Some(Box::new(details.clone()))).ok();
        assert_eq!(stored, serde_json::to_value(&details).ok());
        let read: Option<Box<PassDetails>> =
            stored.and_then(|value| serde_json::from_value(value).ok());
        assert_eq!(read.as_deref(), Some(&details));
    }

    #[test]
    fn nfc_and_manual_codes_ignore_case_barcodes_do_not() {
        assert_eq!(SearchMode::Nfc.normalize(" 04a1b2 "), "04A1B2");
        assert_eq!(SearchMode::Manual.normalize("cb-1001"), "CB-1001");
        assert_eq!(SearchMode::Barcode.normalize("ab12"), "ab12");
    }

    #[test]
    fn identifiers_are_masked_but_their_last_four() {
        assert_eq!(mask_identifier("0412345678"), "******5678");
        assert_eq!(mask_identifier("1234"), "****");
        assert_eq!(mask_identifier("ab"), "**");
    }

    #[test]
    fn transitions_that_make_no_sense_are_refused() {
        use CardState::*;
        assert!(Created.may_become(Active));
        assert!(Active.may_become(Suspended) && Suspended.may_become(Active));
        assert!(Active.may_become(Lost) && Lost.may_become(Cancelled));
        assert!(
            !Lost.may_become(Active) && !Stolen.may_become(Suspended) && !Fraud.may_become(Active)
        );
        assert!(
            !Deleted.may_become(Active)
                && !Expired.may_become(Active)
                && !Cancelled.may_become(Suspended)
        );
        assert!(Deleted.may_become(Deleted), "staying put is idempotent");
        assert!(!Active.may_become(Created) && !Active.may_become(Issued));
        assert!(Created.may_become(Issued) && Issued.may_become(Nonactivated));
        assert!(Nonactivated.may_activate() && Suspended.may_activate() && !Lost.may_activate());
        assert_eq!(CardState::parse("ACTIVE"), Some(Active));
        assert!(CardState::ALL.iter().all(|state| CardState::parse(state.name()) == Some(*state)));
    }

    #[test]
    fn velocity_windows_and_limits() {
        let profile = VelocityProfile {
            id: 1,
            product_id: 1,
            name: "p".to_owned(),
            active: true,
            approvals_only: true,
            scope: VelocityScope::Card,
            period: VelocityPeriod::Daily,
            currency_code: "840".to_owned(),
            usage_limit: Some(2),
            amount_limit: Amount::from_units(2_000_000),
            valid_on_purchase: true,
            valid_on_withdrawal: false,
            valid_on_transfer: true,
            valid_on_credit: false,
        };
        assert!(profile.applies(TransactionClass::Purchase, 840));
        assert!(!profile.applies(TransactionClass::Withdrawal, 840));
        assert!(!profile.applies(TransactionClass::Purchase, 858));
        let day = 86_400_000;
        assert_eq!(profile.window_start(3 * day + 5), 3 * day);
        let monthly = VelocityProfile { period: VelocityPeriod::Monthly, ..profile.clone() };
        assert_eq!(monthly.window_start(40 * day), 31 * day, "February 1970 starts on day 31");
        let used = VelocityCounter { count: 1, amount: Amount::from_units(1_500_000) };
        assert!(profile.allows(used, Amount::from_units(500_000)));
        assert!(!profile.allows(used, Amount::from_units(500_001)));
        assert!(!profile
            .allows(VelocityCounter { count: 2, amount: Amount::ZERO }, Amount::from_units(1)));
    }

    #[test]
    fn expiry_runs_through_the_month() {
        assert_eq!(expiration_month_index("202512"), Some(2025 * 12 + 11));
        assert_eq!(expiration_month_index("202513"), None);
        assert_eq!(month_index(0), 1970 * 12);
        assert_eq!(Channel::parse(Some("ATM")), Channel::Atm);
        assert_eq!(Channel::parse(Some("jcard")), Channel::Internal);
    }
}
