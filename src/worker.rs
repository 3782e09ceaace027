//! Background work of a worker process: housekeeping of expired sessions and old failed sign-ins.

use std::time::Duration;

use sqlx::PgPool;

use crate::db;

const HOUSEKEEPING_PERIOD: Duration = Duration::from_secs(15 * 60);

/// Runs housekeeping every 15 minutes until `shutdown` resolves.
pub async fn run(db: PgPool, shutdown: impl Future<Output = ()>) {
    let mut ticker = tokio::time::interval(HOUSEKEEPING_PERIOD);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = ticker.tick() => housekeeping(&db).await,
        }
    }
    tracing::info!("worker stopped");
}

/// Deletes expired sessions and failed sign-ins older than a day.
pub async fn housekeeping(db: &PgPool) {
    match db::sessions::delete_expired(db).await {
        Ok(n) if n > 0 => tracing::info!(deleted = n, "deleted expired sessions"),
        Ok(_) => {}
        Err(err) => tracing::warn!(error = %err, "could not delete expired sessions"),
    }
    match db::login_failures::delete_older_than(db, chrono::Duration::days(1)).await {
        Ok(n) if n > 0 => tracing::info!(deleted = n, "deleted old failed sign-ins"),
        Ok(_) => {}
        Err(err) => tracing::warn!(error = %err, "could not delete old failed sign-ins"),
    }
}
