//! Creating an account: the one path sign-up and invite sign-up share. Attempts are counted per
//! client address before any password is hashed (each hash costs 19 MiB and a core), the hash runs
//! under the process's hashing bound, and the user row is inserted in the caller's transaction.

use sqlx::PgConnection;

use crate::config::SignupThrottleSettings;
use crate::db;
use crate::domain::{Email, NewPassword, PersonName, UserId};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

use super::password;

/// Name under which sign-up attempts are counted.
const SIGNUP_ACTION: &str = "signup";

/// Counts a sign-up attempt from `client_ip`; refuses it (429) past the configured limit. A
/// database error refuses it too (it fails closed).
pub async fn throttle_signup(state: &AppState, client_ip: &str) -> AppResult<()> {
    let SignupThrottleSettings {
        max_per_address,
        window_minutes,
    } = state.settings.signup_throttle;
    let attempts = db::anonymous_attempts::record_and_count(
        &state.db,
        SIGNUP_ACTION,
        client_ip,
        chrono::Duration::minutes(window_minutes),
    )
    .await?;
    if attempts > max_per_address {
        tracing::warn!(attempts, "sign-up refused: too many from one address");
        return Err(AppError::RateLimited(format!(
            "Too many accounts were created from your network recently. Please try again in \
             {window_minutes} minutes."
        )));
    }
    Ok(())
}

/// Why an account could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateAccountError {
    /// Someone has this email already (checked by the unique constraint, so races lose cleanly).
    #[error("an account with this email exists")]
    EmailTaken,
    #[error(transparent)]
    Other(#[from] AppError),
}

/// Hashes the password and inserts the user in `tx`.
pub async fn create_user(
    tx: &mut PgConnection,
    email: &Email,
    name: &PersonName,
    new_password: &NewPassword,
) -> Result<UserId, CreateAccountError> {
    let hash = password::hash_password(new_password.secret().clone())
        .await
        .map_err(AppError::from)?;
    match db::users::insert(tx, email, name, &hash).await {
        Ok(id) => Ok(id),
        Err(err) if db::is_unique_violation(&err, db::users::EMAIL_UNIQUE) => {
            Err(CreateAccountError::EmailTaken)
        }
        Err(err) => Err(AppError::from(err).into()),
    }
}
