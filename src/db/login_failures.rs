//! Failed sign-in attempts (cross-org: they happen before anyone is in an org).

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;

/// Recent failures for an email and for an address.
#[derive(Debug, Clone, Copy)]
pub struct RecentFailures {
    pub by_email: i64,
    pub by_ip: i64,
    /// How long until the oldest counted failure leaves the window.
    pub retry_after: Option<Duration>,
}

/// Counts failures within `window` for the email and for the address.
pub async fn recent_counts(
    db: &PgPool,
    email: &str,
    client_ip: &str,
    window: Duration,
) -> sqlx::Result<RecentFailures> {
    let since = Utc::now() - window;
    let (by_email, by_ip, oldest): (i64, i64, Option<DateTime<Utc>>) = sqlx::query_as(
        "select
            count(*) filter (where email = $1),
            count(*) filter (where client_ip = $2),
            min(failed_at)
         from login_failures
         where failed_at > $3 and (email = $1 or client_ip = $2)",
    )
    .bind(email)
    .bind(client_ip)
    .bind(since)
    .fetch_one(db)
    .await?;
    Ok(RecentFailures {
        by_email,
        by_ip,
        retry_after: oldest.map(|t| (t + window) - Utc::now()),
    })
}

/// Records one failure now.
pub async fn insert(db: &PgPool, email: &str, client_ip: &str) -> sqlx::Result<()> {
    sqlx::query("insert into login_failures (email, client_ip) values ($1, $2)")
        .bind(email)
        .bind(client_ip)
        .execute(db)
        .await?;
    Ok(())
}

/// Forgets an email's failures.
pub async fn delete_for_email(db: &PgPool, email: &str) -> sqlx::Result<()> {
    sqlx::query("delete from login_failures where email = $1")
        .bind(email)
        .execute(db)
        .await?;
    Ok(())
}

/// Deletes failures older than `window` (housekeeping).
pub async fn delete_older_than(db: &PgPool, window: Duration) -> sqlx::Result<u64> {
    let result = sqlx::query("delete from login_failures where failed_at < $1")
        .bind(Utc::now() - window)
        .execute(db)
        .await?;
    Ok(result.rows_affected())
}
