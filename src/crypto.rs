//! Envelope encryption of secrets at rest (Fathom keys, webhook secrets, CRM tokens): AES-256-GCM with
//! a fresh random 96-bit nonce per encryption, associated data binding each ciphertext to its org, row
//! and field, and the id of the master key stored with it so keys can be rotated.
//!
//! Stored form: `v1:{key_id}:{nonce, base64}:{ciphertext+tag, base64}`.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::domain::OrgId;

const FORMAT_VERSION: &str = "v1";
const NONCE_LEN: usize = 12;

/// Why a stored secret could not be decrypted. Deliberately vague: it never echoes the input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The stored value is not in the `v1:key:nonce:ciphertext` form.
    #[error("stored secret is malformed")]
    Malformed,
    /// The key that encrypted it is not in the ring.
    #[error("stored secret was encrypted with key `{0}`, which is not configured")]
    UnknownKey(String),
    /// Wrong key, wrong associated data, or tampered ciphertext.
    #[error("stored secret failed authentication")]
    Authentication,
}

/// `field` of a Fathom API key's encryption binding.
pub const API_KEY_FIELD: &str = "fathom_api_key";
/// `field` of a Fathom webhook secret's encryption binding.
pub const WEBHOOK_SECRET_FIELD: &str = "fathom_webhook_secret";

/// `field` of a CRM connection's access token's encryption binding.
pub const CRM_ACCESS_TOKEN_FIELD: &str = "crm_access_token";
/// `field` of a CRM connection's refresh token's encryption binding.
pub const CRM_REFRESH_TOKEN_FIELD: &str = "crm_refresh_token";

/// A Fathom connection's API key in clear, if its ciphertext decrypts under the connection's
/// binding.
pub fn decrypt_fathom_api_key(
    ring: &KeyRing,
    org_id: OrgId,
    connection_id: uuid::Uuid,
    ciphertext: &str,
) -> Option<SecretString> {
    let binding = Binding {
        org_id,
        record_id: connection_id,
        field: API_KEY_FIELD,
    };
    ring.decrypt(ciphertext, binding).ok()
}

/// What a ciphertext is bound to: copying it into another org, row or field makes it undecryptable.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub org_id: OrgId,
    /// The row holding the secret (for example a Fathom connection id).
    pub record_id: Uuid,
    /// The column or purpose (`fathom_api_key`, `fathom_webhook_secret`, …).
    pub field: &'a str,
}

impl Binding<'_> {
    fn associated_data(&self) -> Vec<u8> {
        format!("debrief:{}:{}:{}", self.org_id, self.record_id, self.field).into_bytes()
    }
}

/// The master keys: the first encrypts, all decrypt.
#[derive(Clone)]
pub struct KeyRing {
    keys: Vec<(String, Key<Aes256Gcm>)>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("KeyRing").field("key_ids", &ids).finish()
    }
}

impl KeyRing {
    /// Parses `id:base64key,id:base64key` (32-byte keys, standard base64). Errors name the bad entry's
    /// position and id, never key material.
    pub fn parse(spec: &SecretString) -> anyhow::Result<KeyRing> {
        let mut keys = Vec::new();
        for (index, entry) in spec.expose_secret().split(',').map(str::trim).enumerate() {
            if entry.is_empty() {
                continue;
            }
            let Some((id, material)) = entry.split_once(':') else {
                anyhow::bail!("master key #{} must look like `id:base64key`", index + 1);
            };
            let id = id.trim();
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                anyhow::bail!(
                    "master key #{} has an invalid id (letters, digits, - and _ only)",
                    index + 1
                );
            }
            if keys.iter().any(|(existing, _)| existing == id) {
                anyhow::bail!("master key id `{id}` appears twice");
            }
            let bytes = B64
                .decode(material.trim())
                .map_err(|_| anyhow::anyhow!("master key `{id}` is not valid base64"))?;
            if bytes.len() != 32 {
                anyhow::bail!("master key `{id}` must be 32 bytes (got {})", bytes.len());
            }
            keys.push((id.to_owned(), *Key::<Aes256Gcm>::from_slice(&bytes)));
        }
        if keys.is_empty() {
            anyhow::bail!("the master key ring is empty");
        }
        Ok(KeyRing { keys })
    }

    /// A new ring spec with one fresh random key, for local mode and for operators (`id:base64`).
    pub fn generate_spec(id: &str) -> String {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        format!("{id}:{}", B64.encode(bytes))
    }

    /// Id of the key that encrypts.
    pub fn current_key_id(&self) -> &str {
        &self.keys[0].0
    }

    /// Encrypts `plaintext` bound to `binding` with the newest key.
    pub fn encrypt(
        &self,
        plaintext: &SecretString,
        binding: Binding<'_>,
    ) -> anyhow::Result<String> {
        let (id, key) = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = binding.associated_data();
        let ciphertext = Aes256Gcm::new(key)
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.expose_secret().as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        Ok(format!(
            "{FORMAT_VERSION}:{id}:{}:{}",
            B64.encode(nonce),
            B64.encode(ciphertext)
        ))
    }

    /// Decrypts a stored value bound to `binding`.
    pub fn decrypt(&self, stored: &str, binding: Binding<'_>) -> Result<SecretString, CryptoError> {
        let (key_id, nonce, ciphertext) = split_stored(stored)?;
        let key = self
            .keys
            .iter()
            .find(|(id, _)| id == key_id)
            .map(|(_, key)| key)
            .ok_or_else(|| CryptoError::UnknownKey(key_id.to_owned()))?;
        let aad = binding.associated_data();
        let plaintext = Aes256Gcm::new(key)
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Authentication)?;
        String::from_utf8(plaintext)
            .map(SecretString::from)
            .map_err(|_| CryptoError::Malformed)
    }

    /// Whether a stored value was encrypted with an older key than the current one.
    pub fn needs_rotation(&self, stored: &str) -> bool {
        split_stored(stored)
            .map(|(id, _, _)| id != self.current_key_id())
            .unwrap_or(false)
    }

    /// Decrypts with whichever key made it and encrypts again with the newest key.
    pub fn reencrypt(&self, stored: &str, binding: Binding<'_>) -> anyhow::Result<String> {
        let plaintext = self.decrypt(stored, binding)?;
        self.encrypt(&plaintext, binding)
    }
}

fn split_stored(stored: &str) -> Result<(&str, Vec<u8>, Vec<u8>), CryptoError> {
    let mut parts = stored.splitn(4, ':');
    let (Some(version), Some(key_id), Some(nonce), Some(ciphertext)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(CryptoError::Malformed);
    };
    if version != FORMAT_VERSION {
        return Err(CryptoError::Malformed);
    }
    let nonce = B64.decode(nonce).map_err(|_| CryptoError::Malformed)?;
    let ciphertext = B64.decode(ciphertext).map_err(|_| CryptoError::Malformed)?;
    if nonce.len() != NONCE_LEN {
        return Err(CryptoError::Malformed);
    }
    Ok((key_id, nonce, ciphertext))
}

/// How a secret is shown back to people: its first and last four characters (`v1XD…4f2a`), or only
/// dots when it is too short for that to hide most of it.
pub fn mask(secret: &SecretString) -> String {
    let chars: Vec<char> = secret.expose_secret().chars().collect();
    if chars.len() < 12 {
        return "••••".to_owned();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(spec: &str) -> KeyRing {
        KeyRing::parse(&SecretString::from(spec.to_owned())).unwrap()
    }

    fn binding(org: OrgId, record: Uuid) -> Binding<'static> {
        Binding {
            org_id: org,
            record_id: record,
            field: "fathom_api_key",
        }
    }

    #[test]
    fn a_secret_round_trips_and_each_encryption_differs() {
        let keys = ring(&KeyRing::generate_spec("k1"));
        let b = binding(OrgId::new(), Uuid::new_v4());
        let secret = SecretString::from("fathom-key-1234567890");
        let first = keys.encrypt(&secret, b).unwrap();
        let second = keys.encrypt(&secret, b).unwrap();
        assert_ne!(first, second, "fresh nonce per encryption");
        assert!(first.starts_with("v1:k1:"));
        assert!(!first.contains("fathom-key"));
        assert_eq!(
            keys.decrypt(&first, b).unwrap().expose_secret(),
            "fathom-key-1234567890"
        );
    }

    #[test]
    fn wrong_associated_data_fails() {
        let keys = ring(&KeyRing::generate_spec("k1"));
        let org = OrgId::new();
        let record = Uuid::new_v4();
        let stored = keys
            .encrypt(&SecretString::from("s3cret"), binding(org, record))
            .unwrap();
        assert_eq!(
            keys.decrypt(&stored, binding(OrgId::new(), record))
                .unwrap_err(),
            CryptoError::Authentication
        );
        assert_eq!(
            keys.decrypt(&stored, binding(org, Uuid::new_v4()))
                .unwrap_err(),
            CryptoError::Authentication
        );
        let other_field = Binding {
            field: "fathom_webhook_secret",
            ..binding(org, record)
        };
        assert_eq!(
            keys.decrypt(&stored, other_field).unwrap_err(),
            CryptoError::Authentication
        );
    }

    #[test]
    fn tampered_or_malformed_ciphertext_fails() {
        let keys = ring(&KeyRing::generate_spec("k1"));
        let b = binding(OrgId::new(), Uuid::new_v4());
        let stored = keys.encrypt(&SecretString::from("s3cret"), b).unwrap();
        let (prefix, ct) = stored.rsplit_once(':').unwrap();
        let mut bytes = B64.decode(ct).unwrap();
        bytes[0] ^= 0x01;
        let tampered = format!("{prefix}:{}", B64.encode(bytes));
        assert_eq!(
            keys.decrypt(&tampered, b).unwrap_err(),
            CryptoError::Authentication
        );
        for bad in [
            "",
            "v1:k1",
            "v2:k1:AAAA:AAAA",
            "v1:k1:not-base64!:AAAA",
            "v1:k1:AAAA:AAAA",
        ] {
            assert_eq!(
                keys.decrypt(bad, b).unwrap_err(),
                CryptoError::Malformed,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_rotated_ring_decrypts_old_values_reencrypts_them_and_then_drops_the_old_key() {
        let old_spec = KeyRing::generate_spec("k1");
        let new_spec = KeyRing::generate_spec("k2");
        let old = ring(&old_spec);
        let b = binding(OrgId::new(), Uuid::new_v4());
        let stored = old.encrypt(&SecretString::from("s3cret"), b).unwrap();

        let both = ring(&format!("{new_spec},{old_spec}"));
        assert!(both.needs_rotation(&stored));
        let rotated = both.reencrypt(&stored, b).unwrap();
        assert!(rotated.starts_with("v1:k2:"));
        assert!(!both.needs_rotation(&rotated));

        let only_new = ring(&new_spec);
        assert_eq!(
            only_new.decrypt(&rotated, b).unwrap().expose_secret(),
            "s3cret"
        );
        assert_eq!(
            only_new.decrypt(&stored, b).unwrap_err(),
            CryptoError::UnknownKey("k1".into())
        );
    }

    #[test]
    fn bad_key_rings_are_refused_without_showing_key_material() {
        for (spec, expected) in [
            ("", "empty"),
            ("k1", "id:base64key"),
            ("k1:c2hvcnQ=", "32 bytes"),
            ("k:1:AAAA", "not valid base64"),
            ("bad id:AAAA", "invalid id"),
        ] {
            let err = KeyRing::parse(&SecretString::from(spec.to_owned()))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{spec:?}: {err}");
        }
        let dup = format!(
            "{},{}",
            KeyRing::generate_spec("k1"),
            KeyRing::generate_spec("k1")
        );
        assert!(
            KeyRing::parse(&SecretString::from(dup))
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        let debug = format!("{:?}", ring(&KeyRing::generate_spec("k9")));
        assert_eq!(debug, r#"KeyRing { key_ids: ["k9"] }"#);
    }

    #[test]
    fn masks_show_only_the_ends() {
        assert_eq!(mask(&SecretString::from("v1XDabcdefgh4f2a")), "v1XD…4f2a");
        assert_eq!(mask(&SecretString::from("short")), "••••");
    }
}
