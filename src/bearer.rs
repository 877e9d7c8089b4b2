//! Bearer tokens of the point-of-sale dialects (cashback `/cardapi`, gift-card history
//! `/rest/v3`): compact HS256 JWTs signed with a key derived from the data directory's master
//! key, carrying a scope (what the holder may call and for which group and stores) and an
//! expiry. Issued by `cardswitch token issue`; nothing about a token is stored, so a token is
//! good until it expires (rotate the master key to revoke them all).

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::clock::EpochMs;
use crate::core::keys::{MasterKey, SecretBytes};

/// Label of the signing key derived from the master key.
pub const KEY_LABEL: &str = "cardswitch bearer token HS256 v1";

/// The one header every token carries; any other `alg` is refused.
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Longest token accepted, so a hostile header cannot make us decode megabytes.
pub const TOKEN_BYTES_MAX: usize = 4096;

/// The signing key of bearer tokens.
#[derive(Clone)]
pub struct BearerKey(SecretBytes);

impl fmt::Debug for BearerKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("BearerKey(<hidden>)")
    }
}

impl BearerKey {
    pub fn derive(master: &MasterKey) -> BearerKey {
        BearerKey(master.derive(KEY_LABEL))
    }

    fn mac(&self) -> Hmac<Sha256> {
        crate::core::keys::new_hmac256(self.0.expose())
    }
}

/// What a token lets its holder call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BearerScope {
    /// Search and debit cashback passes (`/cardapi/cards...`).
    Cashback,
    /// Read gift-card histories (`/rest/v3/...`).
    Giftcard,
    /// Operate the cashback programme: groups, stores, points of sale, passes, credits.
    Admin,
}

impl BearerScope {
    pub fn as_str(self) -> &'static str {
        match self {
            BearerScope::Cashback => "cashback",
            BearerScope::Giftcard => "giftcard",
            BearerScope::Admin => "admin",
        }
    }
}

impl std::str::FromStr for BearerScope {
    type Err = String;

    fn from_str(text: &str) -> Result<BearerScope, String> {
        [BearerScope::Cashback, BearerScope::Giftcard, BearerScope::Admin]
            .into_iter()
            .find(|scope| scope.as_str() == text)
            .ok_or_else(|| format!("unknown scope {text:?}: expected cashback, giftcard or admin"))
    }
}

/// A token's claims. `group_id` and `store_ids` narrow it: absent (empty) means any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BearerClaims {
    pub scope: BearerScope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub store_ids: Vec<u64>,
    /// Issued at, epoch seconds.
    pub iat: i64,
    /// Expires at, epoch seconds (the token is refused from that second on).
    pub exp: i64,
    /// A unique id, so two tokens issued in the same second differ.
    pub jti: String,
}

impl BearerClaims {
    /// Whether the token reaches the merchant group `group_id`.
    pub fn permits_group(&self, group_id: u64) -> bool {
        self.group_id.is_none_or(|allowed| allowed == group_id)
    }

    /// Whether the token reaches store `store_id` of group `group_id`.
    pub fn permits_store(&self, group_id: u64, store_id: u64) -> bool {
        self.permits_group(group_id)
            && (self.store_ids.is_empty() || self.store_ids.contains(&store_id))
    }
}

/// Why a token is refused, in the order the checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BearerFailure {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid token")]
    Malformed,
    #[error("invalid token signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
}

/// Signs `claims` as a compact JWT.
pub fn issue(key: &BearerKey, claims: &BearerClaims) -> String {
    let payload = serde_json::to_vec(claims)
        .unwrap_or_else(|_| unreachable!("claims are plain data and always serialize"));
    let signing_input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(HEADER), URL_SAFE_NO_PAD.encode(payload));
    let mut mac = key.mac();
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// The token of an `Authorization: Bearer <token>` header value.
pub fn from_authorization(header: Option<&str>) -> Result<&str, BearerFailure> {
    let value = header.map(str::trim).filter(|value| !value.is_empty());
    let value = value.ok_or(BearerFailure::Missing)?;
    if value.eq_ignore_ascii_case("bearer") {
        return Err(BearerFailure::Missing);
    }
    let (scheme, token) = value.split_once(' ').ok_or(BearerFailure::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(BearerFailure::Malformed);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(BearerFailure::Missing);
    }
    Ok(token)
}

/// Checks a token's shape, algorithm, signature and expiry at `now_ms`.
pub fn verify(
    key: &BearerKey,
    token: &str,
    now_ms: EpochMs,
) -> Result<BearerClaims, BearerFailure> {
    if token.len() > TOKEN_BYTES_MAX {
        return Err(BearerFailure::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BearerFailure::Malformed);
    };
    check_header(header)?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| BearerFailure::Malformed)?;
    let mut mac = key.mac();
    mac.update(header.as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    mac.verify_slice(&signature).map_err(|_| BearerFailure::BadSignature)?;
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| BearerFailure::Malformed)?;
    let claims: BearerClaims =
        serde_json::from_slice(&payload).map_err(|_| BearerFailure::Malformed)?;
    if now_ms.div_euclid(1000) >= claims.exp {
        return Err(BearerFailure::Expired);
    }
    Ok(claims)
}

/// Only HS256 JWTs: `alg: none` or an asymmetric algorithm must never be honoured.
fn check_header(header: &str) -> Result<(), BearerFailure> {
    #[derive(Deserialize)]
    struct Header {
        alg: String,
        #[serde(default)]
        typ: Option<String>,
    }
    let bytes = URL_SAFE_NO_PAD.decode(header).map_err(|_| BearerFailure::Malformed)?;
    let header: Header = serde_json::from_slice(&bytes).map_err(|_| BearerFailure::Malformed)?;
    let typ_ok = header.typ.as_deref().is_none_or(|typ| typ.eq_ignore_ascii_case("JWT"));
    if header.alg != "HS256" || !typ_ok {
        return Err(BearerFailure::Malformed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> BearerKey {
        BearerKey::derive(&MasterKey::from_bytes([byte; 32]))
    }

    fn claims() -> BearerClaims {
        BearerClaims {
            scope: BearerScope::Cashback,
            group_id: Some(7),
            store_ids: vec![3],
            iat: 1_700_000_000,
            exp: 1_700_000_600,
            jti: "a".to_owned(),
        }
    }

    #[test]
    fn a_token_verifies_until_it_expires() {
        let token = issue(&key(1), &claims());
        assert_eq!(verify(&key(1), &token, 1_700_000_599_999), Ok(claims()));
        assert_eq!(verify(&key(1), &token, 1_700_000_600_000), Err(BearerFailure::Expired));
    }

    #[test]
    fn another_key_or_a_changed_payload_is_a_bad_signature() {
        let token = issue(&key(1), &claims());
        assert_eq!(verify(&key(2), &token, 0), Err(BearerFailure::BadSignature));
        let mut widened = claims();
        widened.group_id = None;
        let forged = issue(&key(2), &widened);
        let (_, forged_payload) = forged.split_once('.').unwrap();
        let (header, rest) = token.split_once('.').unwrap();
        let signature = rest.rsplit_once('.').unwrap().1;
        let (payload, _) = forged_payload.split_once('.').unwrap();
        let tampered = format!("{header}.{payload}.{signature}");
        assert_eq!(verify(&key(1), &tampered, 0), Err(BearerFailure::BadSignature));
    }

    #[test]
    fn other_algorithms_and_shapes_are_malformed() {
        let token = issue(&key(1), &claims());
        let (_, rest) = token.split_once('.').unwrap();
        let none = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#));
        assert_eq!(verify(&key(1), &none, 0), Err(BearerFailure::Malformed));
        for bad in ["", "a.b", "a.b.c.d", "!!.!!.!!"] {
            assert_eq!(verify(&key(1), bad, 0), Err(BearerFailure::Malformed), "{bad}");
        }
    }

    #[test]
    fn the_authorization_header_needs_the_bearer_scheme() {
        assert_eq!(from_authorization(None), Err(BearerFailure::Missing));
        assert_eq!(from_authorization(Some("  ")), Err(BearerFailure::Missing));
        assert_eq!(from_authorization(Some("Bearer ")), Err(BearerFailure::Missing));
        assert_eq!(from_authorization(Some("Basic abc")), Err(BearerFailure::Malformed));
        assert_eq!(from_authorization(Some("bearer abc")), Ok("abc"));
    }

    #[test]
    fn scopes_narrow_by_group_and_store() {
        let claims = claims();
        assert!(claims.permits_group(7) && !claims.permits_group(8));
        assert!(claims.permits_store(7, 3) && !claims.permits_store(7, 4));
        assert!(!claims.permits_store(8, 3));
        let open = BearerClaims { group_id: None, store_ids: vec![], ..claims };
        assert!(open.permits_store(99, 99));
    }
}
