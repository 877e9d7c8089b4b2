//! The card-issuing API's error shape `{"error": {"code": "...", "message": "..."}}` with stable
//! machine-readable codes; the HTTP status is chosen here by kind: 400 bad request or
//! signature, 401 unknown or missing credentials, 404 not found, 409 duplicate request id, 422
//! business decline (with `result_code`), 5xx the switch's own failures.

use http::StatusCode;
use serde_json::json;

use super::jws::JwsFailure;
use crate::api::{ApiResponse, TransportError};
use crate::core::command::Decline;
use crate::core::reads::ReadError;
use crate::core::CoreError;

#[derive(Debug)]
pub enum IssuingError {
    Signature(JwsFailure),
    BadRequest(String),
    NotFound(&'static str, String),
    Declined(Decline),
    Read(ReadError),
    Core(CoreError),
    Transport(TransportError),
}

impl From<CoreError> for IssuingError {
    fn from(error: CoreError) -> IssuingError {
        IssuingError::Core(error)
    }
}

impl From<ReadError> for IssuingError {
    fn from(error: ReadError) -> IssuingError {
        IssuingError::Read(error)
    }
}

impl IssuingError {
    pub fn into_response(self) -> ApiResponse {
        let result_code = match &self {
            IssuingError::Declined(decline) => Some(decline.result_code()),
            _ => None,
        };
        let overload = matches!(self, IssuingError::Transport(TransportError::Overloaded));
        let (status, code, message) = self.classify();
        // Overload refusals are counted by the server, not logged one by one.
        if status.is_server_error() && !overload {
            tracing::error!(status = status.as_u16(), code, %message, "card-api request failed");
        }
        let mut error = json!({"code": code, "message": message});
        if let Some(result_code) = result_code {
            error["result_code"] = json!(result_code);
        }
        ApiResponse::json(status, &json!({"error": error}))
    }

    fn classify(self) -> (StatusCode, &'static str, String) {
        match self {
            IssuingError::Signature(failure) => signature_status(failure),
            IssuingError::BadRequest(message) => (StatusCode::BAD_REQUEST, "BAD_REQUEST", message),
            IssuingError::NotFound(code, message) => (StatusCode::NOT_FOUND, code, message),
            IssuingError::Declined(decline) => decline_status(decline),
            IssuingError::Read(error) => match error {
                ReadError::AccountNotFound
                | ReadError::JournalNotFound
                | ReadError::AccountNotFinal => {
                    (StatusCode::NOT_FOUND, "NOT_FOUND", error.to_string())
                }
                ReadError::Overflow => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", error.to_string())
                }
                ReadError::Core(error) => core_status(error),
            },
            IssuingError::Core(error) => core_status(error),
            IssuingError::Transport(error) => transport_status(error),
        }
    }
}

fn signature_status(failure: JwsFailure) -> (StatusCode, &'static str, String) {
    let (status, code) = match failure {
        JwsFailure::Missing => (StatusCode::UNAUTHORIZED, "SIGNATURE_MISSING"),
        JwsFailure::UnknownPartner => (StatusCode::UNAUTHORIZED, "UNKNOWN_PARTNER"),
        JwsFailure::Malformed => (StatusCode::BAD_REQUEST, "SIGNATURE_MALFORMED"),
        JwsFailure::Algorithm => (StatusCode::BAD_REQUEST, "ALGORITHM_NOT_ALLOWED"),
        JwsFailure::WrongRequest => (StatusCode::BAD_REQUEST, "SIGNATURE_MISMATCH"),
        JwsFailure::BadSignature => (StatusCode::BAD_REQUEST, "SIGNATURE_INVALID"),
    };
    (status, code, failure.to_string())
}

fn core_status(error: CoreError) -> (StatusCode, &'static str, String) {
    match error {
        CoreError::ShuttingDown => {
            (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", error.to_string())
        }
        CoreError::CommitFailed(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "COMMIT_FAILED", error.to_string())
        }
        CoreError::NotStored(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, "STORAGE_UNAVAILABLE", error.to_string())
        }
        CoreError::Store(_) | CoreError::Key(_) | CoreError::Corrupt(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", error.to_string())
        }
    }
}

pub fn transport_status(error: TransportError) -> (StatusCode, &'static str, String) {
    match error {
        TransportError::NotFound => {
            (StatusCode::NOT_FOUND, "UNKNOWN_METHOD", "no such method".to_owned())
        }
        TransportError::MethodNotAllowed => (
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "every method is POST".to_owned(),
        ),
        TransportError::BodyTooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "BODY_TOO_LARGE",
            "the body exceeds the configured limit".to_owned(),
        ),
        TransportError::BodyUnreadable => {
            (StatusCode::BAD_REQUEST, "BAD_REQUEST", "the body could not be read".to_owned())
        }
        TransportError::BodyTimeout => (
            StatusCode::REQUEST_TIMEOUT,
            "BAD_REQUEST",
            "the body did not arrive in time".to_owned(),
        ),
        TransportError::BodyTooDeep => (
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "the body nests deeper than the configured limit".to_owned(),
        ),
        TransportError::Timeout => (
            StatusCode::SERVICE_UNAVAILABLE,
            "TIMEOUT",
            "not answered in time; ask request/status before retrying".to_owned(),
        ),
        TransportError::Overloaded => (
            StatusCode::SERVICE_UNAVAILABLE,
            "OVERLOADED",
            "too many connections; nothing was done, retry later".to_owned(),
        ),
    }
}

/// Every decline of the core, with its code and status.
fn decline_status(decline: Decline) -> (StatusCode, &'static str, String) {
    let (status, code) = match &decline {
        Decline::DuplicateRequest => (StatusCode::CONFLICT, "DUPLICATE_REQUEST"),
        Decline::CardNotFound
        | Decline::CardProductNotFound
        | Decline::OriginalNotFound
        | Decline::TransactionNotFound => (StatusCode::NOT_FOUND, "NOT_FOUND"),
        Decline::InsufficientFunds => (StatusCode::UNPROCESSABLE_ENTITY, "INSUFFICIENT_FUNDS"),
        Decline::CardNotActive => (StatusCode::UNPROCESSABLE_ENTITY, "CARD_NOT_ACTIVE"),
        Decline::CardLostOrStolen => (StatusCode::UNPROCESSABLE_ENTITY, "CARD_LOST_OR_STOLEN"),
        Decline::CardFraud => (StatusCode::UNPROCESSABLE_ENTITY, "CARD_FRAUD"),
        Decline::CardExpired => (StatusCode::UNPROCESSABLE_ENTITY, "CARD_EXPIRED"),
        Decline::ProductNotInForce => (StatusCode::UNPROCESSABLE_ENTITY, "PRODUCT_NOT_ACTIVE"),
        Decline::ChannelNotAllowed => (StatusCode::UNPROCESSABLE_ENTITY, "CHANNEL_NOT_ALLOWED"),
        Decline::VelocityExceeded => (StatusCode::UNPROCESSABLE_ENTITY, "LIMIT_EXCEEDED"),
        Decline::InvalidPin => (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_PIN"),
        Decline::InvalidTransition => (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_CARD_STATE"),
        Decline::PreviouslyReversed | Decline::AlreadyReversed => {
            (StatusCode::UNPROCESSABLE_ENTITY, "ALREADY_REVERSED")
        }
        Decline::FurtherActivityPreventsReversal | Decline::FurtherActivityPreventsVoid => {
            (StatusCode::UNPROCESSABLE_ENTITY, "FURTHER_ACTIVITY")
        }
        Decline::OriginalVoided => (StatusCode::UNPROCESSABLE_ENTITY, "ALREADY_VOIDED"),
        Decline::DuplicateRrn => (StatusCode::CONFLICT, "DUPLICATE_REQUEST"),
        Decline::InvalidBin => (StatusCode::UNPROCESSABLE_ENTITY, "PRODUCT_HAS_NO_BIN"),
        // The remaining declines cannot come from this dialect's commands.
        _ => (StatusCode::UNPROCESSABLE_ENTITY, "DECLINED"),
    };
    (status, code, code.to_ascii_lowercase().replace('_', " "))
}
