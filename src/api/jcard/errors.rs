//! jCard's error shape `{"success": false, "error": "..."}` and the mapping of every core
//! answer and failure to a status and error code. The HTTP status is chosen here, nowhere
//! else; server-side failures are logged here, once.

use http::StatusCode;
use serde_json::json;

use crate::api::{ApiResponse, TransportError};
use crate::core::auth::AuthFailure;
use crate::core::command::Decline;
use crate::core::reads::ReadError;
use crate::core::CoreError;
use crate::ledger::post::Reject;

/// Everything a jCard request can fail with.
#[derive(Debug)]
pub enum JcardError {
    Auth(AuthFailure),
    Forbidden,
    /// The request itself is wrong (schema, values).
    BadRequest {
        code: &'static str,
        message: String,
    },
    NotFound {
        code: &'static str,
        message: String,
    },
    Conflict {
        code: &'static str,
        message: String,
    },
    Declined(Decline),
    Read(ReadError),
    Core(CoreError),
    Transport(TransportError),
}

impl JcardError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> JcardError {
        JcardError::BadRequest { code, message: message.into() }
    }

    /// The response for this error; logs it if it is the switch's fault.
    pub fn into_response(self) -> ApiResponse {
        let result_code = match &self {
            JcardError::Declined(decline) => Some(decline.result_code()),
            _ => None,
        };
        let overload = matches!(self, JcardError::Transport(TransportError::Overloaded));
        let (status, code, message) = self.classify();
        // Overload refusals are counted by the server, not logged one by one.
        if status.is_server_error() && !overload {
            tracing::error!(status = status.as_u16(), code, %message, "jcard request failed");
        }
        // The document spells the key both `error` and `errors`; both are sent.
        let mut body = json!({"success": false, "error": code, "errors": code, "message": message});
        if let Some(result_code) = result_code {
            body["resultCode"] = json!(result_code);
        }
        ApiResponse::json(status, &body)
    }

    fn classify(self) -> (StatusCode, &'static str, String) {
        match self {
            JcardError::Auth(failure) => auth_status(failure),
            JcardError::Forbidden => (
                StatusCode::FORBIDDEN,
                "invalid.permissions",
                "the consumer lacks the permission for this request".to_owned(),
            ),
            JcardError::BadRequest { code, message } => (StatusCode::BAD_REQUEST, code, message),
            JcardError::NotFound { code, message } => (StatusCode::NOT_FOUND, code, message),
            JcardError::Conflict { code, message } => (StatusCode::CONFLICT, code, message),
            JcardError::Declined(decline) => decline_status(decline),
            JcardError::Read(error) => read_status(error),
            JcardError::Core(error) => core_status(error),
            JcardError::Transport(error) => transport_status(error),
        }
    }
}

impl From<CoreError> for JcardError {
    fn from(error: CoreError) -> JcardError {
        JcardError::Core(error)
    }
}

impl From<ReadError> for JcardError {
    fn from(error: ReadError) -> JcardError {
        JcardError::Read(error)
    }
}

fn auth_status(failure: AuthFailure) -> (StatusCode, &'static str, String) {
    let message = match failure {
        AuthFailure::UnsupportedVersion => "the version header must be 1.0",
        AuthFailure::InvalidConsumer => "unknown or inactive consumer-id",
        AuthFailure::MissingHash => "the hash header is missing",
        AuthFailure::InvalidTimestamp => {
            "the timestamp is missing, malformed or outside the allowed window"
        }
        AuthFailure::InvalidNonce => "the nonce header is missing or too long",
        AuthFailure::InvalidHash => "the hash does not match the request",
        AuthFailure::ReplayedNonce => "this nonce was already used",
        AuthFailure::BelowReplayFloor => {
            "the timestamp is too old to be checked for replay under the current load; resend with the current time"
        }
    };
    (StatusCode::UNAUTHORIZED, auth_code(failure), message.to_owned())
}

fn auth_code(failure: AuthFailure) -> &'static str {
    match failure {
        AuthFailure::UnsupportedVersion => "unsupported.version",
        AuthFailure::InvalidConsumer => "invalid.consumer",
        AuthFailure::MissingHash => "invalid.null.hash",
        AuthFailure::InvalidTimestamp => "invalid.timestamp",
        AuthFailure::InvalidNonce => "invalid.nonce",
        AuthFailure::InvalidHash => "invalid.hash",
        AuthFailure::ReplayedNonce => "replayed.nonce",
        AuthFailure::BelowReplayFloor => "invalid.timestamp",
    }
}

fn decline_status(decline: Decline) -> (StatusCode, &'static str, String) {
    let bad = |code, message: String| (StatusCode::BAD_REQUEST, code, message);
    let conflict = |code, message: String| (StatusCode::CONFLICT, code, message);
    match decline {
        Decline::Ledger(reject) => reject_status(reject),
        Decline::ChartNotFound { chart } => {
            (StatusCode::NOT_FOUND, "invalid.chart", format!("no chart `{chart}`"))
        }
        Decline::AccountExists { code } => {
            conflict("already.exists", format!("account `{code}` already exists"))
        }
        Decline::ParentNotFound { code } => {
            bad("invalid.parent", format!("no composite account `{code}` in this chart"))
        }
        Decline::ParentNotComposite { code } => {
            bad("invalid.parent", format!("`{code}` is a final account and cannot have children"))
        }
        Decline::SysconfigExists => {
            conflict("already.exists", "a sysconfig entry with this id exists".to_owned())
        }
        Decline::SysconfigNotFound => {
            conflict("not.exists", "no sysconfig entry with this id".to_owned())
        }
        Decline::ConsumerExists => {
            conflict("already.exists", "a consumer with this id exists".to_owned())
        }
        Decline::TransactionNotFound => {
            (StatusCode::NOT_FOUND, "not.found", "no such transaction".to_owned())
        }
        Decline::AlreadyReversed => {
            conflict("already.reversed", "the transaction was already reversed".to_owned())
        }
        Decline::AlreadyInitialized => {
            conflict("already.exists", "the switch is already initialized".to_owned())
        }
        other => category_status(other),
    }
}

/// Declines of the wallet, customer, movement and card categories, by category.
fn category_status(decline: Decline) -> (StatusCode, &'static str, String) {
    match decline {
        Decline::CustomerExists
        | Decline::CustomerNotFound
        | Decline::WalletExists
        | Decline::WalletNotFound
        | Decline::WalletBlocked
        | Decline::WalletDeleted
        | Decline::WalletLinkedElsewhere
        | Decline::WalletNotLinked
        | Decline::WalletNotEmpty
        | Decline::CustomerMismatch
        | Decline::AgentNotFound
        | Decline::ParentAgentNotFound
        | Decline::InvalidFeeValue => holder_decline_status(decline),
        Decline::SameWallet
        | Decline::InsufficientFunds
        | Decline::DuplicateRrn
        | Decline::InvalidPin
        | Decline::WalletLocked
        | Decline::OriginalNotFound
        | Decline::PreviouslyReversed
        | Decline::FurtherActivityPreventsReversal
        | Decline::FurtherActivityPreventsVoid
        | Decline::OriginalVoided => movement_decline_status(decline),
        Decline::CardProductExists
        | Decline::CardProductNotFound
        | Decline::VelocityProfileNotFound
        | Decline::CardNotFound
        | Decline::CardExists
        | Decline::InvalidBin
        | Decline::InvalidCardAccount
        | Decline::InvalidTransition
        | Decline::CardNotActive
        | Decline::CardLostOrStolen
        | Decline::CardFraud
        | Decline::CardExpired
        | Decline::ProductNotInForce
        | Decline::ChannelNotAllowed
        | Decline::VelocityExceeded
        | Decline::PartnerExists
        | Decline::DuplicateRequest => card_decline_status(decline),
        other => misrouted(&other),
    }
}

/// Declines about customers, wallets and agents.
fn holder_decline_status(decline: Decline) -> (StatusCode, &'static str, String) {
    let text = |status, code, message: &str| (status, code, message.to_owned());
    let conflict = StatusCode::CONFLICT;
    let declined = StatusCode::UNPROCESSABLE_ENTITY;
    match decline {
        Decline::CustomerExists => {
            text(conflict, "already.exists", "a customer with this realId exists")
        }
        Decline::CustomerNotFound => {
            text(StatusCode::NOT_FOUND, "customer.not.found", "no customer with this realId")
        }
        Decline::WalletExists => text(conflict, "already.exists", "a wallet with this code exists"),
        Decline::WalletNotFound => {
            text(StatusCode::NOT_FOUND, "wallet.not.found", "no wallet with this code")
        }
        Decline::WalletBlocked => text(declined, "wallet.blocked", "the wallet is blocked"),
        Decline::WalletDeleted => text(declined, "wallet.deleted", "the wallet is deleted"),
        Decline::WalletLinkedElsewhere => {
            text(conflict, "wallet.linked", "the wallet belongs to another holder")
        }
        Decline::WalletNotLinked => {
            text(conflict, "wallet.not.linked", "the wallet is not linked to a customer")
        }
        Decline::WalletNotEmpty => {
            text(conflict, "wallet.not.empty", "a wallet holding money cannot be deleted")
        }
        Decline::CustomerMismatch => {
            text(conflict, "customer.mismatch", "the wallet belongs to another customer")
        }
        Decline::AgentNotFound => {
            text(StatusCode::NOT_FOUND, "agent.not.found", "no agent with this id")
        }
        Decline::ParentAgentNotFound => {
            text(StatusCode::BAD_REQUEST, "invalid.parent", "no such parent agent")
        }
        Decline::InvalidFeeValue => text(
            StatusCode::BAD_REQUEST,
            "invalid.value",
            "a fee value must be a non-negative decimal",
        ),
        other => misrouted(&other),
    }
}

/// Declines of money movements, reversals and voids. Business declines (understood but
/// refused) are 422 and, like every decline, carry their result code.
fn movement_decline_status(decline: Decline) -> (StatusCode, &'static str, String) {
    let text = |status, code, message: &str| (status, code, message.to_owned());
    let conflict = StatusCode::CONFLICT;
    let declined = StatusCode::UNPROCESSABLE_ENTITY;
    match decline {
        Decline::SameWallet => text(
            StatusCode::BAD_REQUEST,
            "invalid.destination",
            "a wallet cannot transfer to itself",
        ),
        Decline::InsufficientFunds => text(declined, "insufficient.funds", "not sufficient funds"),
        Decline::DuplicateRrn => {
            text(conflict, "duplicate.rrn", "this RRN was used for a different request")
        }
        Decline::InvalidPin => text(declined, "invalid.pin", "incorrect PIN"),
        Decline::WalletLocked => {
            text(StatusCode::LOCKED, "wallet.locked", "too many wrong PINs; try again later")
        }
        Decline::OriginalNotFound => text(
            StatusCode::NOT_FOUND,
            "original.not.found",
            "no approved transaction with this RRN",
        ),
        Decline::PreviouslyReversed => {
            text(conflict, "previously.reversed", "the transaction was already reversed")
        }
        Decline::FurtherActivityPreventsReversal => {
            text(conflict, "further.activity", "later activity on the wallet prevents the reversal")
        }
        Decline::FurtherActivityPreventsVoid => {
            text(conflict, "further.activity", "later activity on the wallet prevents the void")
        }
        Decline::OriginalVoided => text(conflict, "original.voided", "the transaction was voided"),
        other => misrouted(&other),
    }
}

/// Declines of card products, velocity profiles, cards and card authorization.
fn card_decline_status(decline: Decline) -> (StatusCode, &'static str, String) {
    let text = |status, code, message: &str| (status, code, message.to_owned());
    let declined = StatusCode::UNPROCESSABLE_ENTITY;
    match decline {
        Decline::CardProductExists => text(
            StatusCode::CONFLICT,
            "already.exists",
            "a card product with this name or code exists",
        ),
        Decline::CardProductNotFound => {
            text(StatusCode::NOT_FOUND, "not.found", "no such card product")
        }
        Decline::VelocityProfileNotFound => text(
            StatusCode::NOT_FOUND,
            "not.found",
            "no such velocity profile in this card product",
        ),
        Decline::CardNotFound => {
            text(StatusCode::NOT_FOUND, "not.found", "no card with this token")
        }
        Decline::CardExists => {
            text(StatusCode::CONFLICT, "already.exists", "a card with this number exists")
        }
        Decline::InvalidBin => text(
            StatusCode::BAD_REQUEST,
            "invalid.bin",
            "the BIN is not the card product's or does not fit its card number length",
        ),
        Decline::InvalidCardAccount => {
            text(StatusCode::BAD_REQUEST, "invalid.account", "no final account with this code")
        }
        Decline::InvalidTransition => text(
            StatusCode::CONFLICT,
            "invalid.state",
            "the card cannot go from its state to that one",
        ),
        Decline::CardNotActive => text(declined, "card.not.active", "the card is not active"),
        Decline::CardLostOrStolen => {
            text(declined, "card.lost.or.stolen", "the card is reported lost or stolen")
        }
        Decline::CardFraud => text(declined, "card.fraud", "the card is blocked for fraud"),
        Decline::CardExpired => text(declined, "card.expired", "the card is expired"),
        Decline::ProductNotInForce => {
            text(declined, "product.not.active", "the card product is not active")
        }
        Decline::ChannelNotAllowed => {
            text(declined, "channel.not.allowed", "the card product does not allow this channel")
        }
        Decline::VelocityExceeded => {
            text(declined, "limit.exceeded", "a usage limit of the card product would be exceeded")
        }
        Decline::PartnerExists => {
            text(StatusCode::CONFLICT, "already.exists", "a partner with this auth id exists")
        }
        Decline::DuplicateRequest => {
            text(StatusCode::CONFLICT, "duplicate.request", "this request id was used before")
        }
        other => misrouted(&other),
    }
}

/// A decline sent to the wrong category above: a bug, answered as a server error.
fn misrouted(decline: &Decline) -> (StatusCode, &'static str, String) {
    (StatusCode::INTERNAL_SERVER_ERROR, "system.error", format!("unmapped decline {decline:?}"))
}

fn reject_status(reject: Reject) -> (StatusCode, &'static str, String) {
    let (code, message) = match reject {
        Reject::JournalNotFound { journal } => {
            ("invalid.journal", format!("no journal `{journal}`"))
        }
        Reject::JournalClosed { journal } => {
            ("journal.closed", format!("journal `{journal}` is closed"))
        }
        Reject::PostDateOutsideJournal { journal } => {
            ("invalid.postDate", format!("journal `{journal}` does not take this post date"))
        }
        Reject::TooFewEntries => {
            ("invalid.entries", "a transaction needs at least two entries".to_owned())
        }
        Reject::AccountNotFound { code } => ("invalid.account", format!("no account `{code}`")),
        Reject::AccountNotFinal { code } => (
            "account.not.final",
            format!("`{code}` is a composite account; entries go to final accounts"),
        ),
        Reject::AccountOutsideJournalChart { code } => {
            ("invalid.account", format!("`{code}` is not in this journal's chart"))
        }
        Reject::AccountExpired { code } => {
            ("account.expired", format!("`{code}` expired before the post date"))
        }
        Reject::Unbalanced { layer, debits, credits } => (
            "unbalanced.transaction",
            format!("layer {layer} does not balance: debits {debits}, credits {credits}"),
        ),
        Reject::AmountOverflow => ("invalid.amount", "amounts too large for the ledger".to_owned()),
    };
    (StatusCode::BAD_REQUEST, code, message)
}

fn read_status(error: ReadError) -> (StatusCode, &'static str, String) {
    match error {
        ReadError::JournalNotFound => (StatusCode::NOT_FOUND, "invalid.journal", error.to_string()),
        ReadError::AccountNotFound => (StatusCode::NOT_FOUND, "invalid.account", error.to_string()),
        ReadError::AccountNotFinal => {
            (StatusCode::BAD_REQUEST, "account.not.final", error.to_string())
        }
        ReadError::Overflow => {
            (StatusCode::INTERNAL_SERVER_ERROR, "system.error", error.to_string())
        }
        ReadError::Core(error) => core_status(error),
    }
}

fn core_status(error: CoreError) -> (StatusCode, &'static str, String) {
    match error {
        CoreError::ShuttingDown => {
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable", error.to_string())
        }
        CoreError::CommitFailed(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "commit.failed", error.to_string())
        }
        CoreError::NotStored(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, "storage.unavailable", error.to_string())
        }
        CoreError::Store(_) | CoreError::Key(_) | CoreError::Corrupt(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "system.error", error.to_string())
        }
    }
}

/// Transport-level refusals in jCard's shape.
pub fn transport_status(error: TransportError) -> (StatusCode, &'static str, String) {
    match error {
        TransportError::NotFound => {
            (StatusCode::NOT_FOUND, "not.found", "no such resource".to_owned())
        }
        TransportError::MethodNotAllowed => (
            StatusCode::METHOD_NOT_ALLOWED,
            "method.not.allowed",
            "method not allowed here".to_owned(),
        ),
        TransportError::BodyTooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "body.too.large",
            "the request body exceeds the configured limit".to_owned(),
        ),
        TransportError::BodyUnreadable => (
            StatusCode::BAD_REQUEST,
            "invalid.request",
            "the request body could not be read".to_owned(),
        ),
        TransportError::BodyTimeout => (
            StatusCode::REQUEST_TIMEOUT,
            "request.timeout",
            "the request body did not arrive in time".to_owned(),
        ),
        TransportError::BodyTooDeep => (
            StatusCode::BAD_REQUEST,
            "invalid.json",
            "the body nests deeper than the configured limit".to_owned(),
        ),
        TransportError::Timeout => (
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the request was not answered in time; check its outcome before retrying".to_owned(),
        ),
        TransportError::Overloaded => (
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many connections; nothing was done, retry later".to_owned(),
        ),
    }
}
