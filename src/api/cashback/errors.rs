//! The cashback card API's error shape `{"code": "CARD-n", "message": "..."}` and its
//! statuses, exactly as the document's table, plus `CARD-12` (insufficient cashback, 422) that
//! the document lacks. Every core answer and transport refusal is mapped here.

use http::StatusCode;
use serde_json::json;

use crate::api::{ApiResponse, TransportError};
use crate::bearer::BearerFailure;
use crate::core::command::Decline;
use crate::core::CoreError;

#[derive(Debug)]
pub enum CashbackError {
    Token(BearerFailure),
    /// The token's scope, group or stores do not reach what was asked (CARD-9).
    Forbidden(String),
    /// A parameter is missing or invalid (CARD-3).
    Invalid(String),
    /// No pass, or none the caller may see (CARD-14).
    PassNotFound,
    Declined(Decline),
    Core(CoreError),
    Transport(TransportError),
}

impl From<CoreError> for CashbackError {
    fn from(error: CoreError) -> CashbackError {
        CashbackError::Core(error)
    }
}

impl CashbackError {
    pub fn into_response(self) -> ApiResponse {
        let overload = matches!(self, CashbackError::Transport(TransportError::Overloaded));
        let (status, code, message) = self.classify();
        // Overload refusals are counted by the server, not logged one by one.
        if status.is_server_error() && !overload {
            tracing::error!(status = status.as_u16(), code, %message, "cardapi request failed");
        }
        ApiResponse::json(status, &json!({"code": code, "message": message}))
    }

    fn classify(self) -> (StatusCode, &'static str, String) {
        match self {
            CashbackError::Token(failure) => token_status(failure),
            CashbackError::Forbidden(message) => (StatusCode::FORBIDDEN, "CARD-9", message),
            CashbackError::Invalid(message) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "CARD-3", message)
            }
            CashbackError::PassNotFound => {
                (StatusCode::NOT_FOUND, "CARD-14", "pass not found".to_owned())
            }
            CashbackError::Declined(decline) => decline_status(decline),
            CashbackError::Core(error) => core_status(error),
            CashbackError::Transport(error) => transport_status(error),
        }
    }
}

fn token_status(failure: BearerFailure) -> (StatusCode, &'static str, String) {
    let (status, code) = match failure {
        BearerFailure::Missing => (StatusCode::UNAUTHORIZED, "CARD-5"),
        BearerFailure::BadSignature => (StatusCode::BAD_REQUEST, "CARD-6"),
        BearerFailure::Expired => (StatusCode::BAD_REQUEST, "CARD-7"),
        BearerFailure::Malformed => (StatusCode::BAD_REQUEST, "CARD-8"),
    };
    (status, code, failure.to_string())
}

/// Internal errors, all 500 as the document says: CARD-1 the store or a key failed (also a
/// change refused unapplied while the store cannot make changes durable), CARD-4 the commit
/// failed (outcome unknown: repeat the same ticket), CARD-11 the switch is stopping. CARD-10
/// is the request timeout (see `transport_status`).
fn core_status(error: CoreError) -> (StatusCode, &'static str, String) {
    let code = match error {
        CoreError::Store(_)
        | CoreError::Key(_)
        | CoreError::Corrupt(_)
        | CoreError::NotStored(_) => "CARD-1",
        CoreError::CommitFailed(_) => "CARD-4",
        CoreError::ShuttingDown => "CARD-11",
    };
    (StatusCode::INTERNAL_SERVER_ERROR, code, error.to_string())
}

pub fn transport_status(error: TransportError) -> (StatusCode, &'static str, String) {
    match error {
        TransportError::NotFound | TransportError::MethodNotAllowed => {
            (StatusCode::NOT_FOUND, "CARD-2", "invalid path".to_owned())
        }
        TransportError::BodyTooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "CARD-3",
            "the body exceeds the configured limit".to_owned(),
        ),
        TransportError::BodyUnreadable => {
            (StatusCode::UNPROCESSABLE_ENTITY, "CARD-3", "the body could not be read".to_owned())
        }
        TransportError::BodyTimeout => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "CARD-3",
            "the body did not arrive in time".to_owned(),
        ),
        TransportError::BodyTooDeep => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "CARD-3",
            "the body nests deeper than the configured limit".to_owned(),
        ),
        // The document allows internal codes only with 500; CARD-11 is "not taking requests".
        TransportError::Overloaded => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "CARD-11",
            "too many connections; nothing was done, retry later".to_owned(),
        ),
        TransportError::Timeout => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "CARD-10",
            "not answered in time; the outcome is unknown, repeat the same ticket".to_owned(),
        ),
    }
}

/// Every decline the cashback commands give, with its code and status; any other (none can
/// reach this dialect) is a refused parameter.
fn decline_status(decline: Decline) -> (StatusCode, &'static str, String) {
    let invalid = |message: &str| (StatusCode::UNPROCESSABLE_ENTITY, "CARD-3", message.to_owned());
    match decline {
        Decline::PassNotFound | Decline::CardNotFound => {
            (StatusCode::NOT_FOUND, "CARD-14", "pass not found".to_owned())
        }
        Decline::InsufficientFunds => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "CARD-12",
            "insufficient cashback on the pass".to_owned(),
        ),
        Decline::TicketReused => {
            invalid("ticket_id was already used for a different request; use a new ticket_id")
        }
        Decline::CurrencyMismatch => invalid("payment_row.currency is not the pass's currency"),
        Decline::PointOfSaleNotFound => invalid("unknown point_of_sale_id"),
        Decline::MerchantStoreNotFound => invalid("unknown store_id"),
        Decline::MerchantGroupNotFound => invalid("unknown group_id"),
        Decline::PassIdentifierTaken => {
            invalid("another pass already has this nfc, barcode or manual code")
        }
        Decline::Ledger(reject) => invalid(&format!("the ledger refused the posting: {reject:?}")),
        other => invalid(&format!("refused: {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::keys::KeyError;

    fn code_of(error: CashbackError) -> (u16, &'static str) {
        let (status, code, message) = error.classify();
        assert!(!message.is_empty());
        (status.as_u16(), code)
    }

    #[test]
    fn internal_errors_are_the_documents_500_codes() {
        // Dialects never name the store (tidy), so a key failure stands for the CARD-1 family.
        assert_eq!(
            code_of(CashbackError::Core(CoreError::Key(KeyError::Tampered))),
            (500, "CARD-1")
        );
        let corrupt = CoreError::Corrupt("bad record".to_owned());
        assert_eq!(code_of(CashbackError::Core(corrupt)), (500, "CARD-1"));
        let commit = CoreError::CommitFailed("flush failed".to_owned());
        assert_eq!(code_of(CashbackError::Core(commit)), (500, "CARD-4"));
        let refused = CoreError::NotStored("disk full".to_owned());
        assert_eq!(code_of(CashbackError::Core(refused)), (500, "CARD-1"));
        assert_eq!(code_of(CashbackError::Core(CoreError::ShuttingDown)), (500, "CARD-11"));
        let timeout = CashbackError::Transport(TransportError::Timeout);
        assert_eq!(code_of(timeout), (500, "CARD-10"));
    }
}
