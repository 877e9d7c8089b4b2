//! Signed jCard requests (HMAC-SHA256 over timestamp ‖ nonce ‖ body, a fresh nonce each),
//! signed card-issuing requests (detached JWS HS512, a fresh request id each), and a
//! connection that sends them, opening itself again when the switch closes it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use super::target::Consumer;
use super::LoadError;
use crate::api::issuing::jws;
use crate::clock::{Clock, SystemClock};
use crate::core::auth::sign_jcard;
use crate::http::client::{ClientConnection, IncomingAnswer, OutgoingRequest};

/// Signs requests as one consumer; nonces are `<run>-<n>`, unique within and across runs.
#[derive(Debug)]
pub struct Signer {
    consumer: Consumer,
    run_id: String,
    nonces: AtomicU64,
}

impl Signer {
    pub fn new(consumer: Consumer) -> Signer {
        let run_id = uuid::Uuid::new_v4().simple().to_string();
        Signer { consumer, run_id, nonces: AtomicU64::new(0) }
    }

    /// `method path body` with the five jCard headers, signed now.
    pub fn jcard(&self, method: &'static str, path: String, body: String) -> OutgoingRequest {
        let sequence = self.nonces.fetch_add(1, Ordering::Relaxed);
        let nonce = format!("{}-{sequence}", self.run_id);
        let headers = sign_jcard(
            &self.consumer.id,
            &self.consumer.key,
            SystemClock.now_ms(),
            &nonce,
            body.as_bytes(),
        );
        OutgoingRequest { method, path, headers: Vec::from(headers), body }
    }
}

/// Signs card-issuing API requests as one partner (detached JWS, HS512), each with a fresh
/// `request_id`.
#[derive(Debug, Clone)]
pub struct PartnerSigner {
    pub auth_id: String,
    pub key: Vec<u8>,
}

impl PartnerSigner {
    /// `POST /v5/card-api/{method}` with `fields` and a new `request_id`, signed.
    pub fn request(&self, method: &str, mut fields: Value) -> OutgoingRequest {
        fields["request_id"] = Value::from(uuid::Uuid::new_v4().to_string());
        let path = format!("/v5/card-api/{method}");
        let body = fields.to_string();
        let signature = jws::sign(&self.key, &path, &self.auth_id, "", body.as_bytes());
        OutgoingRequest {
            method: "POST",
            path,
            headers: vec![("x-jws-signature", signature)],
            body,
        }
    }
}

/// A connection that reconnects on the next request after a transport failure.
pub struct Session {
    address: SocketAddr,
    connection: Option<ClientConnection>,
}

impl Session {
    pub fn new(address: SocketAddr) -> Session {
        Session { address, connection: None }
    }

    /// Sends one request; `Err` is a transport failure (the connection is dropped).
    pub async fn send(&mut self, request: &OutgoingRequest) -> Result<IncomingAnswer, String> {
        let connection = match &mut self.connection {
            Some(connection) => connection,
            None => self.connection.insert(
                ClientConnection::open(self.address)
                    .await
                    .map_err(|error| format!("connect: {error}"))?,
            ),
        };
        let answer = connection.send(request).await;
        if answer.is_err() {
            self.connection = None;
        }
        answer
    }

    /// Sends one set-up request and wants `expected_status`; answers the JSON body.
    pub async fn expect(
        &mut self,
        request: &OutgoingRequest,
        expected_status: u16,
    ) -> Result<Value, LoadError> {
        let answer = self.send(request).await.map_err(LoadError::new)?;
        if answer.status != expected_status {
            return Err(LoadError::new(format!(
                "{} {} answered {}: {}",
                request.method,
                request.path,
                answer.status,
                String::from_utf8_lossy(&answer.body)
            )));
        }
        Ok(serde_json::from_slice(&answer.body).unwrap_or(Value::Null))
    }
}
