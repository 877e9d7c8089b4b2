//! The API dialects. Each translates its own wire format into core commands and reads, and the
//! core's answers back into its own responses and error codes. A dialect never calls another
//! dialect or the store, and never decides approve or decline. No transport types here: the
//! HTTP layer hands over an [`ApiRequest`] and sends back an [`ApiResponse`].

pub mod cashback;
pub mod giftcard;
pub mod issuing;
pub mod jcard;
pub mod shared;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};

/// A request as a dialect sees it.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    /// The request's path, as sent.
    pub path: String,
    /// The query string as sent (without `?`), empty when there is none.
    pub raw_query: String,
    /// Path parameters, percent-decoded and trimmed, by name.
    pub params: Vec<(String, String)>,
    /// Query parameters, percent-decoded, in order.
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ApiRequest {
    pub fn param(&self, name: &str) -> &str {
        self.params.iter().find(|(key, _)| key == name).map_or("", |(_, value)| value.as_str())
    }

    /// A query parameter; an empty value counts as absent (`?layers=&date=`).
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.trim())
            .filter(|value| !value.is_empty())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// A response as a dialect produces it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: Bytes,
}

impl ApiResponse {
    /// A `Value` always serializes (its keys are strings).
    pub fn json(status: StatusCode, value: &serde_json::Value) -> ApiResponse {
        ApiResponse::serialized(status, value)
    }

    /// A JSON answer serialized straight from a typed value (a hot path's answer, no `Value`
    /// built first). For types whose serialization cannot fail: string keys, no custom errors,
    /// so there is no error to answer. `to_vec` writes straight into the buffer (`to_string`
    /// goes through `fmt`).
    pub fn serialized(status: StatusCode, value: &impl serde::Serialize) -> ApiResponse {
        ApiResponse {
            status,
            content_type: "application/json",
            body: Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
        }
    }

    pub fn text(
        status: StatusCode,
        content_type: &'static str,
        body: impl Into<Bytes>,
    ) -> ApiResponse {
        ApiResponse { status, content_type, body: body.into() }
    }
}

/// Problems found before a request reaches a dialect, rendered in the dialect's error shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportError {
    NotFound,
    MethodNotAllowed,
    BodyTooLarge,
    BodyUnreadable,
    /// The body did not arrive within `http.body_read_timeout_ms` (a client trickling it).
    BodyTimeout,
    /// The body nests JSON arrays and objects deeper than `http.json_depth_max`.
    BodyTooDeep,
    Timeout,
    /// The switch is at `http.connections_max`: this connection is answered and closed.
    Overloaded,
}
