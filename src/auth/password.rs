//! Argon2id password hashing, run off the async executor, a bounded number at a time: each hash
//! takes 19 MiB, so a burst of sign-ups or logins waits for a permit (and is refused after a while)
//! instead of exhausting memory and the blocking pool.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Semaphore, SemaphorePermit};

fn hasher() -> anyhow::Result<Argon2<'static>> {
    // OWASP's argon2id recommendation: 19 MiB, 2 iterations, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None)
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes or verifications running at once in this process: one per core, at least two.
pub static MAX_CONCURRENT_HASHES: LazyLock<usize> = LazyLock::new(|| {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 8)
});
/// How long a request waits for a hashing permit before it is refused.
const PERMIT_WAIT: Duration = Duration::from_secs(10);

static PERMITS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(*MAX_CONCURRENT_HASHES));
static RUNNING: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// Every hashing permit was taken for too long: the server is overloaded with sign-ins.
#[derive(Debug, thiserror::Error)]
#[error("too many passwords are being checked at once; try again in a moment")]
pub struct Busy;

/// The most hashes that ran at once in this process so far (for tests and diagnostics).
pub fn peak_concurrent_hashes() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Runs one argon2 computation under a permit.
async fn bounded<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let permit: SemaphorePermit<'static> = tokio::time::timeout(PERMIT_WAIT, PERMITS.acquire())
        .await
        .map_err(|_| anyhow::Error::new(Busy))?
        .context("hashing permits closed")?;
    let running = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    PEAK.fetch_max(running, Ordering::SeqCst);
    let result = tokio::task::spawn_blocking(work).await;
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    drop(permit);
    result.context("password hashing task failed")?
}

/// Hashes a password to a PHC string.
pub async fn hash_password(password: SecretString) -> anyhow::Result<String> {
    bounded(move || -> anyhow::Result<String> {
        let salt = SaltString::generate(&mut OsRng);
        let hash = hasher()?
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
        Ok(hash.to_string())
    })
    .await
}

/// Checks a password against a stored hash. With no stored hash (unknown email) it still spends
/// the same time, so response times do not reveal which emails have accounts.
pub async fn verify_password(
    stored: Option<String>,
    candidate: SecretString,
) -> anyhow::Result<bool> {
    bounded(move || -> anyhow::Result<bool> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_burst_of_hashes_runs_a_bounded_number_at_a_time() {
        let burst: Vec<_> = (0..24)
            .map(|i| tokio::spawn(hash_password(SecretString::from(format!("password {i}")))))
            .collect();
        for hash in burst {
            assert!(hash.await.unwrap().unwrap().starts_with("$argon2id$"));
        }
        let peak = peak_concurrent_hashes();
        assert!(
            (1..=*MAX_CONCURRENT_HASHES).contains(&peak),
            "peak {peak} of at most {}",
            *MAX_CONCURRENT_HASHES
        );
    }

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
