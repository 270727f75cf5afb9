//! Secrets at rest: AES-256-GCM under a key derived from the platform's root
//! secret with HKDF-SHA256.
//!
//! Every ciphertext is stored beside the id of the key that sealed it (the
//! first 8 hex characters of SHA-256 of the derived key), so the root secret
//! can be rotated: a [`Keyring`] holds the current key and, during a
//! rotation, the previous one; [`Keyring::open`] decrypts under either and
//! tells the caller when the ciphertext should be sealed again under the
//! current key.
//!
//! This module is pure: it never draws randomness. Callers pass a fresh
//! 12-byte nonce to every [`Keyring::seal`] (the worker draws it from the
//! runtime's CSPRNG).

use aes_gcm::Aes256Gcm;
use aes_gcm::KeyInit;
use aes_gcm::Nonce;
use aes_gcm::aead::Aead;
use aes_gcm::aead::Payload;
use hkdf::Hkdf;
use sha2::Digest;
use sha2::Sha256;

/// Bytes in an AES-GCM nonce.
pub const NONCE_LEN: usize = 12;
/// The smallest accepted root secret, in bytes.
pub const MIN_ROOT_SECRET_LEN: usize = 32;

const HKDF_SALT: &[u8] = b"openma/root-secret/v1";
const HKDF_INFO: &[u8] = b"openma vault credentials aes-256-gcm";

/// Why sealing or opening failed. Never carries key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The root secret is shorter than [`MIN_ROOT_SECRET_LEN`].
    #[error("the root secret is too short ({0} bytes; at least {MIN_ROOT_SECRET_LEN} required)")]
    RootSecretTooShort(usize),
    /// No key of the keyring has this id: the secret that sealed it is gone.
    #[error("no key with id {0} is configured")]
    UnknownKey(String),
    /// The ciphertext is malformed, was tampered with, or belongs elsewhere.
    #[error("the ciphertext could not be decrypted")]
    Decrypt,
    /// Encryption failed.
    #[error("encryption failed")]
    Encrypt,
}

/// One key derived from a root secret.
#[derive(Clone)]
pub struct DerivedKey {
    key: [u8; 32],
    id: String,
}

impl std::fmt::Debug for DerivedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DerivedKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl DerivedKey {
    /// Derives the AES-256 key from `root_secret` with HKDF-SHA256.
    pub fn derive(root_secret: &str) -> Result<Self, CryptoError> {
        let ikm = root_secret.as_bytes();
        if ikm.len() < MIN_ROOT_SECRET_LEN {
            return Err(CryptoError::RootSecretTooShort(ikm.len()));
        }
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(Some(HKDF_SALT), ikm)
            .expand(HKDF_INFO, &mut key)
            .map_err(|_| CryptoError::Encrypt)?;
        let id = hex(&Sha256::digest(key)[..4]);
        Ok(Self { key, id })
    }

    /// The key id stored beside each ciphertext.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> Result<Aes256Gcm, CryptoError> {
        Aes256Gcm::new_from_slice(&self.key).map_err(|_| CryptoError::Encrypt)
    }
}

/// A sealed secret: the key id and `nonce || ciphertext || tag` in hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The id of the key that sealed it.
    pub key_id: String,
    /// Hex of the nonce, the ciphertext and the tag.
    pub ciphertext: String,
}

/// What [`Keyring::open`] recovered.
#[derive(Clone, PartialEq, Eq)]
pub struct Opened {
    /// The plaintext.
    pub plaintext: Vec<u8>,
    /// Whether it was sealed under the previous key and should be sealed
    /// again under the current one.
    pub stale: bool,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("plaintext", &"<redacted>")
            .field("stale", &self.stale)
            .finish()
    }
}

/// The current key and, while a rotation is under way, the previous one.
#[derive(Debug, Clone)]
pub struct Keyring {
    current: DerivedKey,
    previous: Option<DerivedKey>,
}

impl Keyring {
    /// A keyring from the current root secret and, optionally, the previous
    /// one (ignored when empty or equal to the current one).
    pub fn new(current: &str, previous: Option<&str>) -> Result<Self, CryptoError> {
        let current = DerivedKey::derive(current)?;
        let previous = match previous.filter(|p| !p.is_empty()) {
            Some(previous) => {
                let key = DerivedKey::derive(previous)?;
                (key.id != current.id).then_some(key)
            }
            None => None,
        };
        Ok(Self { current, previous })
    }

    /// The id of the key new ciphertexts are sealed with.
    #[must_use]
    pub fn current_key_id(&self) -> &str {
        self.current.id()
    }

    /// The id of the previous key, when one is configured.
    #[must_use]
    pub fn previous_key_id(&self) -> Option<&str> {
        self.previous.as_ref().map(DerivedKey::id)
    }

    /// Seals `plaintext` under the current key. `aad` binds the ciphertext
    /// to its owner (it must be given again to open it); `nonce` must be
    /// fresh random bytes, never reused with the same key.
    pub fn seal(
        &self,
        plaintext: &[u8],
        aad: &[u8],
        nonce: [u8; NONCE_LEN],
    ) -> Result<Sealed, CryptoError> {
        let ciphertext = self
            .current
            .cipher()?
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| CryptoError::Encrypt)?;
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(Sealed {
            key_id: self.current.id.clone(),
            ciphertext: hex(&out),
        })
    }

    /// Opens a sealed secret under whichever configured key has its id.
    pub fn open(&self, key_id: &str, ciphertext: &str, aad: &[u8]) -> Result<Opened, CryptoError> {
        let (key, stale) = if key_id == self.current.id {
            (&self.current, false)
        } else {
            match &self.previous {
                Some(previous) if previous.id == key_id => (previous, true),
                _ => return Err(CryptoError::UnknownKey(key_id.to_owned())),
            }
        };
        let bytes = unhex(ciphertext).ok_or(CryptoError::Decrypt)?;
        if bytes.len() < NONCE_LEN {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Decrypt)?;
        let plaintext = key
            .cipher()?
            .decrypt(&Nonce::from(nonce), Payload { msg: body, aad })
            .map_err(|_| CryptoError::Decrypt)?;
        Ok(Opened { plaintext, stale })
    }
}

/// Lower-case hex HMAC-SHA256 of `data` under `key`.
#[must_use]
pub fn hmac_sha256_hex(key: &[u8], data: &[u8]) -> String {
    use hmac::KeyInit as _;
    use hmac::Mac as _;
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    match hmac::Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            hex(&mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// Lower-case hex SHA-256 of `data`.
#[must_use]
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

#[cfg(test)]
#[path = "crypto_tests.rs"]
mod tests;
