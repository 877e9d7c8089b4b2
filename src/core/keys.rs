//! The data directory's master key and what is derived from it. Secrets that the switch must
//! be able to use again (API consumers' HMAC keys) are stored wrapped: XOR with a pad drawn
//! from HMAC-SHA512(wrapping key, salt ‖ owner), plus an HMAC tag, so they never sit in the
//! store in clear.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Sha256, Sha512};

use crate::files::write_private_file;

/// File name of the master key inside the data directory.
pub const MASTER_KEY_FILE: &str = "master.key";

/// Longest secret that can be wrapped (one HMAC-SHA512 pad).
pub const WRAPPED_SECRET_BYTES_MAX: usize = 64;

const MASTER_KEY_BYTES: usize = 32;

/// Bytes that must never be printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    pub fn new(bytes: Vec<u8>) -> SecretBytes {
        SecretBytes(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "SecretBytes(<{} bytes>)", self.0.len())
    }
}

/// Why a key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("key file {path} is malformed")]
    Malformed { path: String },
    #[error("no randomness available: {0}")]
    Random(String),
    #[error("a wrapped secret failed its integrity check")]
    Tampered,
    #[error("secret longer than {WRAPPED_SECRET_BYTES_MAX} bytes")]
    SecretTooLong,
}

/// Random bytes from the operating system.
pub fn random_bytes(length: usize) -> Result<Vec<u8>, KeyError> {
    let mut bytes = vec![0_u8; length];
    getrandom::getrandom(&mut bytes).map_err(|error| KeyError::Random(error.to_string()))?;
    Ok(bytes)
}

/// The root of every key the switch uses.
#[derive(Clone)]
pub struct MasterKey(SecretBytes);

impl fmt::Debug for MasterKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("MasterKey(<hidden>)")
    }
}

/// A secret as stored: salt, ciphertext and tag, all Base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedSecret {
    pub salt: String,
    pub ciphertext: String,
    pub tag: String,
}

impl MasterKey {
    /// Reads `DIR/master.key`.
    pub fn load(dir: &Path) -> Result<MasterKey, KeyError> {
        MasterKey::load_file(&dir.join(MASTER_KEY_FILE))
    }

    /// Reads a master key file wherever it is kept (`restore` takes the operator's copy).
    pub fn load_file(path: &Path) -> Result<MasterKey, KeyError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|source| KeyError::Io { path: shown.clone(), source })?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| KeyError::Malformed { path: shown.clone() })?;
        if bytes.len() != MASTER_KEY_BYTES {
            return Err(KeyError::Malformed { path: shown });
        }
        Ok(MasterKey(SecretBytes(bytes)))
    }

    /// Reads `DIR/master.key`, creating it (mode 0600) with fresh random bytes if missing.
    pub fn load_or_create(dir: &Path) -> Result<MasterKey, KeyError> {
        let path = dir.join(MASTER_KEY_FILE);
        let shown = path.display().to_string();
        match std::fs::metadata(&path) {
            Ok(_) => MasterKey::load(dir),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let bytes = random_bytes(MASTER_KEY_BYTES)?;
                let text = base64::engine::general_purpose::STANDARD.encode(&bytes);
                write_private_file(&path, format!("{text}\n").as_bytes())
                    .map_err(|source| KeyError::Io { path: shown, source })?;
                Ok(MasterKey(SecretBytes(bytes)))
            }
            Err(source) => Err(KeyError::Io { path: shown, source }),
        }
    }

    /// A key for testing, from fixed bytes.
    pub fn from_bytes(bytes: [u8; MASTER_KEY_BYTES]) -> MasterKey {
        MasterKey(SecretBytes(bytes.to_vec()))
    }

    /// A one-way name of this key: a backup records it, so a restore can tell whether it was
    /// given the key the backed-up store was written with. It reveals nothing of the key.
    pub fn fingerprint(&self) -> [u8; 32] {
        hmac_sha256(self.0.expose(), &[b"cardswitch/key-fingerprint/v1"])
    }

    /// A sub-key for one purpose; `label` names the purpose and its version.
    pub fn derive(&self, label: &str) -> SecretBytes {
        SecretBytes(hmac_sha256(self.0.expose(), &[label.as_bytes()]).to_vec())
    }

    /// Wraps `secret` for storage under `owner` (e.g. a consumer id).
    pub fn wrap(&self, owner: &[u8], secret: &SecretBytes) -> Result<WrappedSecret, KeyError> {
        if secret.expose().len() > WRAPPED_SECRET_BYTES_MAX {
            return Err(KeyError::SecretTooLong);
        }
        let salt = random_bytes(16)?;
        let ciphertext = self.apply_pad(owner, &salt, secret.expose());
        let tag = self.tag(owner, &salt, &ciphertext);
        let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        Ok(WrappedSecret {
            salt: encode(&salt),
            ciphertext: encode(&ciphertext),
            tag: encode(&tag),
        })
    }

    /// Recovers a secret wrapped by [`MasterKey::wrap`] for the same owner.
    pub fn unwrap(&self, owner: &[u8], wrapped: &WrappedSecret) -> Result<SecretBytes, KeyError> {
        let decode = |text: &str| {
            base64::engine::general_purpose::STANDARD.decode(text).map_err(|_| KeyError::Tampered)
        };
        let salt = decode(&wrapped.salt)?;
        let ciphertext = decode(&wrapped.ciphertext)?;
        let tag = decode(&wrapped.tag)?;
        if ciphertext.len() > WRAPPED_SECRET_BYTES_MAX {
            return Err(KeyError::Tampered);
        }
        let wrapping_key = self.derive("cardswitch/secret-tag/v1");
        let mut mac = new_hmac256(wrapping_key.expose());
        mac.update(owner);
        mac.update(&salt);
        mac.update(&ciphertext);
        mac.verify_slice(&tag).map_err(|_| KeyError::Tampered)?;
        Ok(SecretBytes(self.apply_pad(owner, &salt, &ciphertext)))
    }

    fn apply_pad(&self, owner: &[u8], salt: &[u8], input: &[u8]) -> Vec<u8> {
        let wrapping_key = self.derive("cardswitch/secret-pad/v1");
        let mut mac = Hmac::<Sha512>::new_from_slice(wrapping_key.expose())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(salt);
        mac.update(owner);
        let pad = mac.finalize().into_bytes();
        input.iter().zip(pad.iter()).map(|(byte, pad)| byte ^ pad).collect()
    }

    fn tag(&self, owner: &[u8], salt: &[u8], ciphertext: &[u8]) -> [u8; 32] {
        let wrapping_key = self.derive("cardswitch/secret-tag/v1");
        hmac_sha256(wrapping_key.expose(), &[owner, salt, ciphertext])
    }
}

pub(crate) fn new_hmac256(key: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
}

/// `bytes` as lowercase hex digits, two a byte (what `format!("{byte:02x}")` of each gives,
/// without a string a byte: a jCard movement's fingerprint is on every debit's path).
pub fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len().saturating_mul(2));
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = new_hmac256(key);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The permission bits of `path` that let its group or others in (`mode & 0o077`), if any:
/// a data directory others can read exposes the store; one they can write, the keys.
pub fn shared_mode(path: &Path) -> std::io::Result<Option<u32>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
        Ok((mode & 0o077 != 0).then_some(mode))
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(path).map(|_| None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_what_formatting_each_byte_gives() {
        let bytes: Vec<u8> = (0..=255).collect();
        let formatted: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
        assert_eq!(hex_lower(&bytes), formatted);
        assert_eq!(hex_lower(&[0x0a, 0xf0]), "0af0");
        assert_eq!(hex_lower(&[]), "");
    }

    #[test]
    fn wrapping_round_trips_and_detects_tampering() {
        let key = MasterKey::from_bytes([7; 32]);
        let secret = SecretBytes::new(b"top secret bytes".to_vec());
        let wrapped = key.wrap(b"owner", &secret).unwrap();
        assert!(!wrapped.ciphertext.contains("top secret"));
        assert_eq!(key.unwrap(b"owner", &wrapped).unwrap(), secret);
        assert!(matches!(key.unwrap(b"other", &wrapped), Err(KeyError::Tampered)));
        let other_key = MasterKey::from_bytes([8; 32]);
        assert!(matches!(other_key.unwrap(b"owner", &wrapped), Err(KeyError::Tampered)));
        assert!(matches!(
            key.wrap(b"owner", &SecretBytes::new(vec![0; 65])),
            Err(KeyError::SecretTooLong)
        ));
    }

    #[test]
    fn secrets_do_not_print() {
        let secret = SecretBytes::new(b"hunter2".to_vec());
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    #[cfg(unix)]
    #[test]
    fn a_private_dir_is_0700_and_a_shared_one_is_noticed() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("a").join("data");
        crate::files::create_private_dir(&data).unwrap();
        let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert_eq!(shared_mode(&data).unwrap(), None);
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o750)).unwrap();
        assert_eq!(shared_mode(&data).unwrap(), Some(0o750));
        crate::files::create_private_dir(&data).unwrap();
        assert_eq!(shared_mode(&data).unwrap(), Some(0o750), "an existing directory is kept as is");
    }

    #[test]
    fn master_key_file_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let first = MasterKey::load_or_create(dir.path()).unwrap();
        let second = MasterKey::load_or_create(dir.path()).unwrap();
        assert_eq!(first.derive("x"), second.derive("x"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode =
                std::fs::metadata(dir.path().join(MASTER_KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
