//! The gift-card history API's failure shape `{"code": "5141", "message": "...", "messages":
//! [...]}` (code a string without the document's leading space, messages a JSON array), and
//! the only place its HTTP status is chosen: 200 for the document's business failures (5140
//! empty PIN, 5141 history failed), 400 with 5141 for a malformed request, 401/403 for the
//! bearer token, 503 with 6053 when the switch could not decide, the transport's own statuses.

use http::StatusCode;
use serde_json::json;

use crate::api::{ApiResponse, TransportError};
use crate::bearer::BearerFailure;
use crate::core::reads::ReadError;
use crate::core::CoreError;

pub const CODE_EMPTY_PIN: &str = "5140";
pub const CODE_HISTORY_FAILED: &str = "5141";
pub const CODE_TRY_LATER: &str = "6053";

const MESSAGE_HISTORY_FAILED: &str = "Transaction history failed";
const MESSAGE_TRY_LATER: &str = "Could not process your request. Please try again later";

#[derive(Debug)]
pub enum GiftcardError {
    /// No usable bearer token.
    Token(BearerFailure),
    /// A valid token of another scope.
    Scope,
    /// The request breaks the document's rules (types, lengths, ranges); why, per problem.
    Invalid(Vec<String>),
    EmptyPin,
    /// Wrong PIN, unknown card, card not in the order, or locked: indistinguishable.
    HistoryFailed,
    Read(ReadError),
    Core(CoreError),
    Transport(TransportError),
}

impl From<CoreError> for GiftcardError {
    fn from(error: CoreError) -> GiftcardError {
        GiftcardError::Core(error)
    }
}

impl From<ReadError> for GiftcardError {
    fn from(error: ReadError) -> GiftcardError {
        GiftcardError::Read(error)
    }
}

impl GiftcardError {
    pub fn into_response(self) -> ApiResponse {
        let overload = matches!(self, GiftcardError::Transport(TransportError::Overloaded));
        let cause = format!("{self:?}");
        let (status, code, message, messages) = self.classify();
        // Overload refusals are counted by the server, not logged one by one.
        if status.is_server_error() && !overload {
            tracing::error!(status = status.as_u16(), code, %cause, "gift-card history failed");
        }
        ApiResponse::json(status, &json!({"code": code, "message": message, "messages": messages}))
    }

    fn classify(self) -> (StatusCode, &'static str, &'static str, Vec<String>) {
        match self {
            GiftcardError::Token(failure) => {
                (StatusCode::UNAUTHORIZED, "401", "Unauthorized", vec![failure.to_string()])
            }
            GiftcardError::Scope => (
                StatusCode::FORBIDDEN,
                "403",
                "Forbidden",
                vec!["the token's scope is not giftcard".to_owned()],
            ),
            GiftcardError::Invalid(messages) => {
                (StatusCode::BAD_REQUEST, CODE_HISTORY_FAILED, MESSAGE_HISTORY_FAILED, messages)
            }
            GiftcardError::EmptyPin => {
                (StatusCode::OK, CODE_EMPTY_PIN, "Card pin should not be empty", Vec::new())
            }
            GiftcardError::HistoryFailed => {
                (StatusCode::OK, CODE_HISTORY_FAILED, MESSAGE_HISTORY_FAILED, Vec::new())
            }
            // Storage failed: the reason goes in `messages`, so a client's log says why.
            GiftcardError::Core(error @ (CoreError::CommitFailed(_) | CoreError::NotStored(_))) => {
                let (status, code, message, _) = try_later();
                (status, code, message, vec![error.to_string()])
            }
            GiftcardError::Read(_) | GiftcardError::Core(_) => try_later(),
            GiftcardError::Transport(error) => transport_status(error),
        }
    }
}

/// The switch could not decide: the client may retry (nothing is charged by a history read).
fn try_later() -> (StatusCode, &'static str, &'static str, Vec<String>) {
    (StatusCode::SERVICE_UNAVAILABLE, CODE_TRY_LATER, MESSAGE_TRY_LATER, Vec::new())
}

fn transport_status(
    error: TransportError,
) -> (StatusCode, &'static str, &'static str, Vec<String>) {
    match error {
        TransportError::NotFound => (StatusCode::NOT_FOUND, "404", "Not found", Vec::new()),
        TransportError::MethodNotAllowed => (
            StatusCode::METHOD_NOT_ALLOWED,
            "405",
            "Method not allowed",
            vec!["use POST".to_owned()],
        ),
        TransportError::BodyTooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            CODE_HISTORY_FAILED,
            MESSAGE_HISTORY_FAILED,
            vec!["the body exceeds the configured limit".to_owned()],
        ),
        TransportError::BodyUnreadable => (
            StatusCode::BAD_REQUEST,
            CODE_HISTORY_FAILED,
            MESSAGE_HISTORY_FAILED,
            vec!["the body could not be read".to_owned()],
        ),
        TransportError::BodyTimeout => (
            StatusCode::REQUEST_TIMEOUT,
            CODE_HISTORY_FAILED,
            MESSAGE_HISTORY_FAILED,
            vec!["the body did not arrive in time".to_owned()],
        ),
        TransportError::BodyTooDeep => (
            StatusCode::BAD_REQUEST,
            CODE_HISTORY_FAILED,
            MESSAGE_HISTORY_FAILED,
            vec!["the body nests deeper than the configured limit".to_owned()],
        ),
        TransportError::Timeout | TransportError::Overloaded => {
            (StatusCode::SERVICE_UNAVAILABLE, CODE_TRY_LATER, MESSAGE_TRY_LATER, Vec::new())
        }
    }
}
