//! What can be asked of the core (`Command`), what it answers (`Outcome`), and why it declines
//! (`Decline`). Every mutating request of every dialect becomes one `Command`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::execute_cashback::{CashbackReceipt, MerchantGroup, MerchantStore, PointOfSale};
use super::keys::SecretBytes;
use super::tranlog::Tranlog;
use crate::card::pan::Pan;
use crate::card::{
    Card, CardProduct, CardState, Channel, VelocityPeriod, VelocityProfile, VelocityScope,
};
use crate::clock::EpochMs;
use crate::ledger::post::{Reject, TransactionRequest};
use crate::ledger::{AccountId, AccountType, Layer, TransactionId};
use crate::money::Amount;
use crate::wallet::plan::Movement;
use crate::wallet::{CustomerDetails, WalletOwner};

/// A gift card's number and PIN as a history request names them.
#[derive(Clone, PartialEq, Eq)]
pub struct GiftCredential {
    pub number: String,
    pub pin: String,
}

impl std::fmt::Debug for GiftCredential {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("GiftCredential(<hidden>)")
    }
}

/// A change to the switch's state. Executed by the single writer, durably, in order.
#[derive(Debug, Clone)]
pub enum Command {
    /// Post a GL transaction whose entries balance per layer.
    PostTransaction(TransactionRequest),
    /// Post the negated copy of a transaction and count the reversal on it.
    ReverseTransaction {
        transaction_id: TransactionId,
    },
    /// Add an account to a chart.
    CreateAccount(NewAccount),
    CreateSysconfig(SysConfig),
    UpdateSysconfig(SysconfigUpdate),
    DeleteSysconfig {
        id: String,
    },
    /// Register an API consumer with its HMAC key.
    AddConsumer(NewConsumer),
    /// Create the default chart, journal and the admin consumer in an empty store.
    Initialize {
        admin: NewConsumer,
    },
    CreateCustomer(NewCustomer),
    UpdateCustomer(CustomerPatch),
    CreateWallet {
        code: String,
        card_product: Option<String>,
        owner: WalletOwner,
    },
    /// Credit, debit or transfer, idempotent by RRN.
    MoveMoney(Box<MoneyMovement>),
    LinkWallet {
        code: String,
        real_id: String,
    },
    UpdateWalletCustomer {
        code: String,
        patch: CustomerPatch,
    },
    ChangeWalletState {
        code: String,
        change: WalletStateChange,
    },
    ChangePin {
        code: String,
        pin: String,
    },
    /// Check a wallet's PIN and register a consumer limited to that wallet; `secret_text` is
    /// the secret as the client gets it (its Base64 decoding is the consumer's key).
    Login {
        wallet: String,
        pin: String,
        consumer: NewConsumer,
        secret_text: String,
    },
    CreateAgent {
        agent: AgentFields,
        create_wallet: bool,
    },
    UpdateAgent {
        id: u64,
        agent: AgentFields,
    },
    /// Undo the approved movement with this RRN (technical reversal).
    ReverseByRrn {
        rrn: String,
    },
    /// Cancel the approved movement with this RRN (business void, under its own RRN).
    VoidByRrn {
        rrn: String,
    },
    CreateCardProduct(Box<CardProductFields>),
    UpdateCardProduct {
        id: u64,
        fields: Box<CardProductFields>,
    },
    CreateVelocityProfile {
        product_id: u64,
        fields: Box<VelocityFields>,
    },
    UpdateVelocityProfile {
        product_id: u64,
        id: u64,
        fields: Box<VelocityFields>,
    },
    DeleteVelocityProfile {
        product_id: u64,
        id: u64,
    },
    IssueCard(Box<NewCard>),
    UpdateCard {
        token: String,
        product_id: Option<u64>,
        expiration: Option<String>,
        is_virtual: Option<bool>,
    },
    ChangeCardState {
        token: String,
        state: CardState,
    },
    ActivateCard {
        token: String,
    },
    /// Set a card's PIN (block); `old` must match the current one when given.
    SetCardPin {
        token: String,
        new: String,
        old: Option<String>,
    },
    SetCardAccount {
        token: String,
        account_code: String,
    },
    SetCardholder {
        token: String,
        real_id: String,
    },
    /// A card debit, credit or card-to-card transfer, idempotent by RRN.
    MoveCardMoney(Box<CardMovement>),
    /// Register a card-issuing API partner and its HMAC-SHA512 key.
    AddPartner {
        auth_id: String,
        key: SecretBytes,
    },
    /// A card-issuing API request: refused if the partner used `request_id` before, else
    /// `inner` (if any) runs and the request and its result are recorded in the same commit.
    PartnerRequest {
        auth_id: String,
        request_id: String,
        method: String,
        inner: Option<Box<Command>>,
    },
    /// Open a customer and issue it an active card of `product` from the product's BIN.
    IssuePartnerCard {
        auth_id: String,
        customer: NewCustomer,
        product: String,
        is_virtual: bool,
        expiration: String,
    },
    /// Issue `count` active gift cards of `amount` each, each with its own account and PIN.
    IssueGiftCards(Box<GiftOrder>),
    /// Check the PINs of gift cards of order `order_id` for the history API, counting wrong
    /// PINs per card of the order (locking it for a while after too many). Any card that is
    /// unknown, not in the order, locked or given a wrong PIN declines the whole command with
    /// `InvalidPin`, without saying which.
    VerifyGiftCards {
        order_id: String,
        cards: Vec<GiftCredential>,
    },
    /// Create a cashback merchant group (its id is the next free one).
    CreateMerchantGroup {
        name: String,
        currency: u16,
    },
    CreateMerchantStore {
        group_id: u64,
        name: String,
    },
    CreatePointOfSale {
        store_id: u64,
        name: String,
    },
    /// Issue a cashback pass with its own account.
    CreatePass(Box<NewPass>),
    /// Credit cashback onto a pass, once per request id.
    CreditCashback(Box<CashbackCredit>),
    /// Debit cashback from a pass at a point of sale, once per ticket id.
    DebitCashback(Box<CashbackDebit>),
}

/// A cashback pass to issue; its identifiers are kept only as keyed hashes and masked forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPass {
    pub group_id: u64,
    pub holder_name: String,
    pub nfc: Option<String>,
    pub barcode: Option<String>,
    pub manual: Option<String>,
}

/// Cashback to credit onto a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CashbackCredit {
    pub request_id: String,
    pub token: String,
    pub amount: Amount,
    pub currency: u16,
}

/// A point of sale paying with a pass's cashback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CashbackDebit {
    pub ticket_id: String,
    pub ticket_number: Option<String>,
    pub point_of_sale_id: u64,
    pub device_id: String,
    pub token: String,
    pub amount: Amount,
    pub currency: u16,
}

/// A gift-card order of the card-issuing API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GiftOrder {
    pub auth_id: String,
    pub order_id: String,
    pub product: String,
    pub count: u32,
    pub amount: Amount,
    pub currency: u16,
    /// `yyyyMM`.
    pub expiration: String,
}

/// One gift card as issued: its number and PIN are answered this once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedGiftCard {
    pub card: Card,
    pub pan: String,
    pub pin: String,
}

/// A card product's fields; on update `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CardProductFields {
    pub name: Option<String>,
    pub code: Option<String>,
    pub issuer: Option<String>,
    pub institution_id: Option<String>,
    pub issued_account: Option<String>,
    pub fee_account: Option<String>,
    pub losses_account: Option<String>,
    pub external_account: Option<String>,
    pub active: Option<bool>,
    pub anonymous: Option<bool>,
    pub bin: Option<String>,
    pub card_number_length: Option<u32>,
    pub random_card_number: Option<bool>,
    pub allow_atm: Option<bool>,
    pub allow_ecommerce: Option<bool>,
    pub allow_moto: Option<bool>,
    pub allow_pos: Option<bool>,
    pub allow_tips: Option<bool>,
    pub smart: Option<bool>,
    /// `yyyy-MM-dd` with the instant it starts.
    pub start_date: Option<(String, EpochMs)>,
    /// `yyyy-MM-dd` with the instant after it ends.
    pub end_date: Option<(String, EpochMs)>,
}

/// A velocity profile's fields; on update `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VelocityFields {
    pub name: Option<String>,
    pub active: Option<bool>,
    pub approvals_only: Option<bool>,
    pub scope: Option<VelocityScope>,
    pub period: Option<VelocityPeriod>,
    pub currency_code: Option<String>,
    pub usage_limit: Option<u64>,
    pub amount_limit: Option<Amount>,
    pub valid_on_purchase: Option<bool>,
    pub valid_on_withdrawal: Option<bool>,
    pub valid_on_transfer: Option<bool>,
    pub valid_on_credit: Option<bool>,
}

/// Where a new card's number comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardNumber {
    /// Generate one from this BIN (the product's length, Luhn check digit).
    Generate { bin: String },
    /// The card already has this number (given, or read from its tracks).
    Given(Pan),
}

/// A card to issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCard {
    /// The product's name, code or id.
    pub product: String,
    /// The cardholder's realId.
    pub cardholder: String,
    /// The account the card draws on; the cardholder's own account when absent.
    pub account_code: Option<String>,
    pub number: CardNumber,
    /// `yyyyMM`.
    pub expiration: String,
    pub service_code: String,
    pub embossing_name: Option<String>,
    pub is_virtual: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardMovementKind {
    Debit,
    Credit,
    Transfer,
}

/// A card debit, credit or transfer as asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardMovement {
    pub kind: CardMovementKind,
    /// The card (the sender of a transfer), by token.
    pub token: String,
    /// The receiving card of a transfer, by token.
    pub recipient: Option<String>,
    pub amount: Amount,
    /// ISO-4217 numeric: the layer posted to; funds count it and its pending layer.
    pub currency: u16,
    pub channel: Channel,
    pub channel_name: Option<String>,
    pub rrn: String,
    pub fingerprint: String,
    pub description: String,
    pub json_request: String,
    /// A PIN block sent with the request, checked against the card's.
    pub pin_block: Option<String>,
}

/// A customer to create, with the wallet to open for it (by code) if asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer {
    pub real_id: String,
    pub active: bool,
    pub institution_id: String,
    pub first_name: String,
    pub last_name: String,
    pub details: CustomerDetails,
    pub currency_codes: Vec<u16>,
    pub wallet: Option<String>,
}

/// Fields of a customer to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerPatch {
    pub real_id: Option<String>,
    pub active: Option<bool>,
    pub institution_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub details: CustomerDetails,
}

/// An agent's fields; on update `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentFields {
    pub name: Option<String>,
    pub parent_id: Option<u64>,
    pub phone: Option<String>,
    pub agent_type: Option<String>,
    pub account: Option<String>,
    pub active: Option<bool>,
    pub mcc: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalletStateChange {
    Block,
    Unblock,
    Delete,
}

/// A credit, debit or transfer as asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoneyMovement {
    pub movement: Movement,
    pub wallet: String,
    /// The receiving wallet of a transfer.
    pub destination: Option<String>,
    pub amount: Amount,
    /// Layers the funds are counted over; the first is the one posted to.
    pub layers: Vec<Layer>,
    /// The request's `type` (fees, tags, `ssData`).
    pub kind: String,
    pub rrn: String,
    /// Identifies the request's content: a retry with the same RRN must carry the same.
    pub fingerprint: String,
    pub description: String,
    /// The request body as received (canonical JSON), kept in the tranlog.
    pub json_request: String,
    /// Latitude and longitude as decimal text.
    pub geo_location: Option<(String, String)>,
    /// Decide everything, write nothing.
    pub dry_run: bool,
    /// The wallet's PIN, when the request carries one: checked before anything moves.
    pub pin: Option<String>,
}

/// An account to create. `parent_code` equal to the chart's name hangs it from the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub chart: String,
    pub code: String,
    pub description: String,
    pub account_type: AccountType,
    pub parent_code: String,
    pub is_final: bool,
    pub currency_code: Option<String>,
    pub tags: String,
    pub expiration_ms: Option<EpochMs>,
}

/// A system configuration entry. Fees, limits and permissions of later features live here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysConfig {
    pub id: String,
    pub value: String,
    /// Permission needed to read this entry (empty: none beyond `sysconfig.read`).
    pub read_perm: String,
    /// Permission needed to change or delete it (empty: none beyond `sysconfig.write`).
    pub write_perm: String,
}

/// Fields of a sysconfig entry to change; absent fields stay as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysconfigUpdate {
    pub id: String,
    pub value: Option<String>,
    pub read_perm: Option<String>,
    pub write_perm: Option<String>,
}

/// A consumer to register.
#[derive(Debug, Clone)]
pub struct NewConsumer {
    pub id: Uuid,
    pub secret: SecretBytes,
    pub permissions: Vec<String>,
    /// A login consumer may act on this wallet only.
    pub wallet_scope: Option<String>,
    pub expires_ms: Option<EpochMs>,
}

impl NewConsumer {
    /// A consumer with `permissions` on everything, never expiring.
    pub fn unscoped(id: Uuid, secret: SecretBytes, permissions: Vec<String>) -> NewConsumer {
        NewConsumer { id, secret, permissions, wallet_scope: None, expires_ms: None }
    }
}

/// The permission that grants every other.
pub const ADMIN_PERMISSION: &str = "admin";

/// A registered API consumer, its key unwrapped in memory only.
#[derive(Debug, Clone)]
pub struct Consumer {
    pub id: Uuid,
    pub secret: SecretBytes,
    pub permissions: Vec<String>,
    pub active: bool,
    pub wallet_scope: Option<String>,
    pub expires_ms: Option<EpochMs>,
}

impl Consumer {
    /// True when the consumer holds `permission` or `admin`. The empty permission is held by
    /// everyone.
    pub fn allows(&self, permission: &str) -> bool {
        permission.is_empty()
            || self.permissions.iter().any(|held| held == ADMIN_PERMISSION || held == permission)
    }
}

/// What the core did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Posted {
        transaction_id: TransactionId,
    },
    Reversed {
        transaction_id: TransactionId,
        reversal_id: TransactionId,
    },
    AccountCreated {
        account_id: AccountId,
    },
    SysconfigCreated,
    SysconfigUpdated,
    SysconfigDeleted,
    ConsumerAdded,
    Initialized,
    CustomerCreated {
        pin: Option<String>,
    },
    CustomerUpdated,
    WalletCreated {
        id: u64,
        pin: String,
    },
    /// A movement was approved (or, for a dry run, would be). `replayed` when the answer is
    /// the stored one of an earlier request with the same RRN.
    MoneyMoved {
        tranlog: Box<Tranlog>,
        replayed: bool,
    },
    WalletUpdated,
    LoggedIn {
        consumer: Uuid,
        secret: String,
    },
    AgentCreated {
        agent_id: u64,
        wallet_id: Option<u64>,
    },
    AgentUpdated,
    ReversedByRrn {
        tranlog_id: u64,
    },
    Voided {
        void: Box<Tranlog>,
        original: Box<Tranlog>,
    },
    CardProductSaved(Box<CardProduct>),
    VelocityProfileSaved(Box<VelocityProfile>),
    VelocityProfileDeleted,
    /// `pan` is the full number when the switch generated it: shown this once.
    CardIssued {
        card: Box<Card>,
        pan: Option<String>,
    },
    CardUpdated,
    /// The tranlog record as the group keeps it (shared, not copied).
    CardMoved {
        tranlog: Arc<Tranlog>,
        replayed: bool,
    },
    PartnerAdded,
    /// A partner's read-only request was recorded.
    RequestRecorded,
    GiftCardsIssued {
        order_id: String,
        cards: Vec<IssuedGiftCard>,
    },
    /// Every gift card of a history request is in the order and its PIN is right: their
    /// tokens, in the request's order.
    GiftCardsVerified {
        tokens: Vec<String>,
    },
    MerchantGroupCreated(Box<MerchantGroup>),
    MerchantStoreCreated(Box<MerchantStore>),
    PointOfSaleCreated(Box<PointOfSale>),
    PassCreated(Box<Card>),
    /// Cashback was credited or debited; `replayed` when the answer is the stored one of an
    /// earlier identical request with the same ticket (or request) id.
    Cashback {
        receipt: Box<CashbackReceipt>,
        replayed: bool,
    },
    Declined(Decline),
}

/// Why a command was refused. No money moved (a declined movement is still logged in the
/// tranlog, so that a retry gets the same answer). Within a command the first reason that
/// applies is reported; ledger rejects carry their own precedence (`ledger::post::Reject`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decline {
    Ledger(Reject),
    ChartNotFound {
        chart: String,
    },
    AccountExists {
        code: String,
    },
    ParentNotFound {
        code: String,
    },
    ParentNotComposite {
        code: String,
    },
    SysconfigExists,
    SysconfigNotFound,
    ConsumerExists,
    TransactionNotFound,
    AlreadyReversed,
    AlreadyInitialized,
    CustomerExists,
    CustomerNotFound,
    WalletExists,
    WalletNotFound,
    WalletBlocked,
    WalletDeleted,
    WalletLinkedElsewhere,
    WalletNotLinked,
    WalletNotEmpty,
    CustomerMismatch,
    SameWallet,
    InsufficientFunds,
    DuplicateRrn,
    InvalidPin,
    WalletLocked,
    AgentNotFound,
    ParentAgentNotFound,
    OriginalNotFound,
    PreviouslyReversed,
    FurtherActivityPreventsReversal,
    FurtherActivityPreventsVoid,
    OriginalVoided,
    /// A `fee.*` sysconfig value that is not a non-negative decimal.
    InvalidFeeValue,
    CardProductExists,
    CardProductNotFound,
    VelocityProfileNotFound,
    CardNotFound,
    /// A card with this number exists.
    CardExists,
    /// The BIN is not the product's, or the product's length cannot hold it.
    InvalidBin,
    /// The card account named does not exist or takes no entries.
    InvalidCardAccount,
    InvalidTransition,
    CardNotActive,
    CardLostOrStolen,
    CardFraud,
    CardExpired,
    ProductNotInForce,
    ChannelNotAllowed,
    VelocityExceeded,
    PartnerExists,
    /// The partner used this request id before.
    DuplicateRequest,
    MerchantGroupNotFound,
    MerchantStoreNotFound,
    PointOfSaleNotFound,
    /// No cashback pass with this id, or not one of the point of sale's group.
    PassNotFound,
    /// Another pass has this NFC number, barcode or manual code.
    PassIdentifierTaken,
    /// A ticket (or credit request) id used before for a different request.
    TicketReused,
    /// The amount's currency is not the pass's.
    CurrencyMismatch,
}

impl Decline {
    /// The jPOS CMF result code (IRC) logged for this decline.
    pub fn result_code(&self) -> &'static str {
        match self {
            Decline::InsufficientFunds => "1016",
            Decline::CardNotActive => "1806",
            Decline::CardLostOrStolen => "1032",
            Decline::CardFraud => "1002",
            Decline::CardExpired => "1001",
            Decline::ProductNotInForce => "1808",
            Decline::ChannelNotAllowed => "1020",
            Decline::VelocityExceeded => "1817",
            Decline::CardNotFound => "1018",
            Decline::WalletBlocked => "1004",
            Decline::WalletDeleted => "1035",
            Decline::WalletNotFound | Decline::CustomerNotFound => "1014",
            Decline::InvalidPin => "1017",
            Decline::WalletLocked => "1006",
            Decline::DuplicateRrn => "1822",
            Decline::OriginalNotFound | Decline::TransactionNotFound => "1816",
            Decline::PreviouslyReversed | Decline::AlreadyReversed => "1824",
            Decline::FurtherActivityPreventsReversal => "1825",
            Decline::FurtherActivityPreventsVoid => "1826",
            Decline::OriginalVoided => "1827",
            Decline::Ledger(_) => "1812",
            Decline::ChartNotFound { .. }
            | Decline::AccountExists { .. }
            | Decline::ParentNotFound { .. }
            | Decline::ParentNotComposite { .. }
            | Decline::SysconfigExists
            | Decline::SysconfigNotFound
            | Decline::ConsumerExists
            | Decline::AlreadyInitialized
            | Decline::CustomerExists
            | Decline::WalletExists
            | Decline::WalletLinkedElsewhere
            | Decline::WalletNotLinked
            | Decline::WalletNotEmpty
            | Decline::CustomerMismatch
            | Decline::SameWallet
            | Decline::AgentNotFound
            | Decline::ParentAgentNotFound
            | Decline::InvalidFeeValue
            | Decline::CardProductExists
            | Decline::CardProductNotFound
            | Decline::VelocityProfileNotFound
            | Decline::CardExists
            | Decline::InvalidBin
            | Decline::InvalidCardAccount
            | Decline::InvalidTransition
            | Decline::PartnerExists
            | Decline::MerchantGroupNotFound
            | Decline::MerchantStoreNotFound
            | Decline::PointOfSaleNotFound
            | Decline::PassIdentifierTaken
            | Decline::CurrencyMismatch => "1832",
            Decline::PassNotFound => "1018",
            Decline::DuplicateRequest | Decline::TicketReused => "1822",
        }
    }
}

impl From<Reject> for Decline {
    fn from(reject: Reject) -> Decline {
        Decline::Ledger(reject)
    }
}
