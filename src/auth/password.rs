//! Argon2id password hashing, run off the async executor.

use anyhow::Context;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

fn hasher() -> anyhow::Result<Argon2<'static>> {
    // OWASP's argon2id recommendation: 19 MiB, 2 iterations, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None)
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password to a PHC string.
pub async fn hash_password(password: SecretString) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let salt = SaltString::generate(&mut OsRng);
        let hash = hasher()?
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
        Ok(hash.to_string())
    })
    .await
    .context("password hashing task failed")?
}

/// Checks a password against a stored hash. With no stored hash (unknown email) it still spends
/// the same time, so response times do not reveal which emails have accounts.
pub async fn verify_password(
    stored: Option<String>,
    candidate: SecretString,
) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || -> anyhow::Result<bool> {
        let argon = hasher()?;
        let stored = match stored {
            Some(stored) => stored,
            None => {
                let salt = SaltString::generate(&mut OsRng);
                let _ = argon.hash_password(candidate.expose_secret().as_bytes(), &salt);
                return Ok(false);
            }
        };
        let parsed = PasswordHash::new(&stored)
            .map_err(|e| anyhow::anyhow!("stored hash is malformed: {e}"))?;
        Ok(argon
            .verify_password(candidate.expose_secret().as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .context("password verification task failed")?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_only_its_own_password() {
        let hash = hash_password(SecretString::from("correct horse battery"))
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify_password(
                Some(hash.clone()),
                SecretString::from("correct horse battery")
            )
            .await
            .unwrap()
        );
        assert!(
            !verify_password(Some(hash), SecretString::from("wrong horse battery"))
                .await
                .unwrap()
        );
        assert!(
            !verify_password(None, SecretString::from("anything at all"))
                .await
                .unwrap()
        );
    }
}
