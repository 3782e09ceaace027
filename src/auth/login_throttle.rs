//! Failed-login throttling, per email and per client address, kept in PostgreSQL so every web
//! process sees the same counts.

use chrono::Duration;
use sqlx::PgPool;

use crate::config::LoginThrottleSettings;
use crate::db;
use crate::error::AppError;

/// Refuses the attempt (429) when the email or the address has too many recent failures.
pub async fn check(
    db: &PgPool,
    settings: &LoginThrottleSettings,
    email: &str,
    client_ip: &str,
) -> Result<(), AppError> {
    let window = Duration::minutes(settings.window_minutes);
    let counts = db::login_failures::recent_counts(db, email, client_ip, window).await?;
    if counts.by_email >= settings.max_failures || counts.by_ip >= settings.max_failures {
        let wait = counts
            .retry_after
            .map(|d| d.num_minutes() + 1)
            .unwrap_or(settings.window_minutes)
            .clamp(1, settings.window_minutes);
        return Err(AppError::RateLimited(format!(
            "Too many failed sign-in attempts. For your security, wait {wait} minute{} and try again.",
            if wait == 1 { "" } else { "s" }
        )));
    }
    Ok(())
}

/// Records a failed attempt.
pub async fn record_failure(db: &PgPool, email: &str, client_ip: &str) -> Result<(), AppError> {
    db::login_failures::insert(db, email, client_ip).await?;
    Ok(())
}

/// Forgets an email's failures after it signs in successfully.
pub async fn clear(db: &PgPool, email: &str) -> Result<(), AppError> {
    db::login_failures::delete_for_email(db, email).await?;
    Ok(())
}
