//! The switch a load run talks to: its address (from `--url`) and the jCard consumer that
//! signs (read from a credentials file in the format of the data directory's
//! `admin-credentials`).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;

use base64::Engine as _;
use uuid::Uuid;

use super::LoadError;

/// A jCard consumer's id and HMAC key.
#[derive(Debug, Clone)]
pub struct Consumer {
    pub id: Uuid,
    pub key: Vec<u8>,
}

/// `http://host:port` (a trailing `/` allowed) → the first address it resolves to.
pub fn parse_url(url: &str) -> Result<SocketAddr, LoadError> {
    let authority = url
        .strip_prefix("http://")
        .ok_or_else(|| LoadError::new(format!("--url must start with http://, got `{url}`")))?
        .trim_end_matches('/');
    if authority.contains('/') {
        return Err(LoadError::new(format!("--url must not have a path, got `{url}`")));
    }
    authority
        .to_socket_addrs()
        .map_err(|error| LoadError::new(format!("cannot resolve `{authority}`: {error}")))?
        .next()
        .ok_or_else(|| LoadError::new(format!("`{authority}` resolves to no address")))
}

/// Reads `consumer-id = "..."` and `secret = "..."` (Base64) from a credentials file.
pub fn read_credentials(path: &Path) -> Result<Consumer, LoadError> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| LoadError::new(format!("cannot read {}: {error}", path.display())))?;
    parse_credentials(&text)
        .map_err(|error| LoadError::new(format!("{}: {}", path.display(), error.0)))
}

/// The credentials in the text of an `admin-credentials` file.
pub fn parse_credentials(text: &str) -> Result<Consumer, LoadError> {
    let table: toml::Table =
        toml::from_str(text).map_err(|error| LoadError::new(format!("not TOML: {error}")))?;
    let field = |name: &str| {
        table
            .get(name)
            .and_then(toml::Value::as_str)
            .ok_or_else(|| LoadError::new(format!("`{name}` is missing")))
    };
    let id = Uuid::parse_str(field("consumer-id")?)
        .map_err(|error| LoadError::new(format!("`consumer-id` is not a UUID: {error}")))?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(field("secret")?.trim())
        .map_err(|error| LoadError::new(format!("`secret` is not Base64: {error}")))?;
    Ok(Consumer { id, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_credentials_are_read() {
        assert_eq!(parse_url("http://127.0.0.1:8081/").ok(), "127.0.0.1:8081".parse().ok());
        assert!(parse_url("127.0.0.1:8081").is_err());
        assert!(parse_url("http://127.0.0.1:8081/jcard").is_err());
        let text = "consumer-id = \"6f1d1c7e-2c52-4a55-9a8e-0d1e0b1f1a11\"\nsecret = \"a2V5\"\npermissions = \"admin\"\n";
        let consumer = parse_credentials(text).ok();
        assert_eq!(consumer.map(|consumer| consumer.key), Some(b"key".to_vec()));
        assert!(parse_credentials("secret = \"a2V5\"").is_err());
    }
}
