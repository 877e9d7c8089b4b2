//! Detached JWS (RFC 7515 appendix F) as the card-issuing API uses it: the
//! `X-JWS-Signature` header is `<base64url(header)>..<base64url(signature)>`; the header names
//! the request (`uri`, `method`, `params`), the partner (`auth_id`) and `alg`, which must be
//! HS512; the signature is HMAC-SHA512 with the partner's key over
//! `base64url(header) + "." + base64url(raw body)`.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha512;

/// The only algorithm accepted.
pub const JWS_ALGORITHM: &str = "HS512";

/// The JWS protected header.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct JwsHeader {
    pub uri: String,
    pub auth_id: String,
    pub method: String,
    #[serde(default)]
    pub params: String,
    pub alg: String,
}

/// Why a signature is refused, in the order the checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwsFailure {
    #[error("the X-JWS-Signature header is missing")]
    Missing,
    #[error("the X-JWS-Signature header is not `header..signature`")]
    Malformed,
    #[error("only HS512 signatures are accepted")]
    Algorithm,
    #[error("the signed uri, method or params are not this request's")]
    WrongRequest,
    #[error("unknown auth_id")]
    UnknownPartner,
    #[error("the signature does not match")]
    BadSignature,
}

/// A signature header taken apart: the header as sent (its base64url text is what was
/// signed), the decoded header, and the signature bytes.
#[derive(Debug, Clone)]
pub struct DetachedJws {
    encoded_header: String,
    pub header: JwsHeader,
    signature: Vec<u8>,
}

/// Splits and decodes `X-JWS-Signature`; checks `alg` and that the header names this request.
pub fn parse(
    value: Option<&str>,
    uri: &str,
    method: &str,
    params: &str,
) -> Result<DetachedJws, JwsFailure> {
    let value = value.ok_or(JwsFailure::Missing)?.trim();
    let (encoded_header, signature) = value.split_once("..").ok_or(JwsFailure::Malformed)?;
    let decode = |text: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.trim_end_matches('='))
    };
    let header_bytes = decode(encoded_header).map_err(|_| JwsFailure::Malformed)?;
    let signature = decode(signature).map_err(|_| JwsFailure::Malformed)?;
    let header: JwsHeader =
        serde_json::from_slice(&header_bytes).map_err(|_| JwsFailure::Malformed)?;
    if header.alg != JWS_ALGORITHM {
        return Err(JwsFailure::Algorithm);
    }
    if header.uri != uri || !header.method.eq_ignore_ascii_case(method) || header.params != params {
        return Err(JwsFailure::WrongRequest);
    }
    Ok(DetachedJws { encoded_header: encoded_header.to_owned(), header, signature })
}

impl DetachedJws {
    /// Checks the signature over the raw body with the partner's key, in constant time.
    pub fn verify(&self, key: &[u8], body: &[u8]) -> Result<(), JwsFailure> {
        let mut mac = new_mac(key);
        mac.update(signing_input(&self.encoded_header, body).as_bytes());
        mac.verify_slice(&self.signature).map_err(|_| JwsFailure::BadSignature)
    }
}

fn new_mac(key: &[u8]) -> Hmac<Sha512> {
    Hmac::<Sha512>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
}

fn signing_input(encoded_header: &str, body: &[u8]) -> String {
    format!("{encoded_header}.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body))
}

/// The `X-JWS-Signature` value for a request (for clients: tests, benchmarks, tools).
pub fn sign(key: &[u8], uri: &str, auth_id: &str, params: &str, body: &[u8]) -> String {
    let header = format!(
        r#"{{"uri":{},"auth_id":{},"method":"POST","params":{},"alg":"HS512"}}"#,
        serde_json::Value::from(uri),
        serde_json::Value::from(auth_id),
        serde_json::Value::from(params)
    );
    let encoded_header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(header);
    let mut mac = new_mac(key);
    mac.update(signing_input(&encoded_header, body).as_bytes());
    let signature =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{encoded_header}..{signature}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "eyJ1cmkiOiIvdjUvY2FyZC1hcGkvcmVxdWVzdC9zdGF0dXMiLCJhdXRoX2lkIjoiMTIzNDU2IiwibWV0aG9kIjoiUE9TVCIsInBhcmFtcyI6IiIsImFsZyI6IkhTNTEyIn0..f1sQoeIpX_ZjOaykQzSeylvvKaVrEQV4gNM2ACFbEMkFDUV9Zk5WO1yQGEWez-vnQMVHodLBDVEyh5Xm2-3MjQ";
    const BODY: &[u8] = br#"{"request_id":"828cf71d-a447-4a67-a149-c1df8bc197ca"}"#;
    const URI: &str = "/v5/card-api/request/status";

    #[test]
    fn the_documents_example_verifies() {
        let jws = parse(Some(EXAMPLE), URI, "POST", "").unwrap();
        assert_eq!(jws.header.auth_id, "123456");
        assert_eq!(jws.verify(b"secret", BODY), Ok(()));
        assert_eq!(sign(b"secret", URI, "123456", "", BODY), EXAMPLE);
    }

    #[test]
    fn anything_else_is_refused() {
        let jws = parse(Some(EXAMPLE), URI, "POST", "").unwrap();
        assert_eq!(jws.verify(b"other", BODY), Err(JwsFailure::BadSignature));
        assert_eq!(
            jws.verify(b"secret", br#"{"request_id":"828cf71d-a447-4a67-a149-c1df8bc197cb"}"#),
            Err(JwsFailure::BadSignature)
        );
        assert_eq!(
            parse(Some(EXAMPLE), "/v5/card-api/cards/info", "POST", "").unwrap_err(),
            JwsFailure::WrongRequest
        );
        assert_eq!(parse(Some(EXAMPLE), URI, "GET", "").unwrap_err(), JwsFailure::WrongRequest);
        assert_eq!(parse(Some(EXAMPLE), URI, "POST", "a=1").unwrap_err(), JwsFailure::WrongRequest);
        assert_eq!(parse(None, URI, "POST", "").unwrap_err(), JwsFailure::Missing);
        assert_eq!(parse(Some("abc"), URI, "POST", "").unwrap_err(), JwsFailure::Malformed);
        let none = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"uri":"/v5/card-api/request/status","auth_id":"123456","method":"POST","params":"","alg":"none"}"#);
        assert_eq!(
            parse(Some(&format!("{none}..")), URI, "POST", "").unwrap_err(),
            JwsFailure::Algorithm
        );
        let hs256 = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"uri":"/v5/card-api/request/status","auth_id":"123456","method":"POST","params":"","alg":"HS256"}"#);
        assert_eq!(
            parse(Some(&format!("{hs256}..c2ln")), URI, "POST", "").unwrap_err(),
            JwsFailure::Algorithm
        );
    }
}
