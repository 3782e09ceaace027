//! Anonymous attempts at costly actions (sign-up, invite sign-up), per client address (cross-org:
//! nobody is in an org yet).

use chrono::Duration;
use sqlx::PgPool;

/// Records an attempt at `action` from `client_ip` and returns how many there were within
/// `window`, this one included. One statement, so concurrent attempts all count.
pub async fn record_and_count(
    db: &PgPool,
    action: &str,
    client_ip: &str,
    window: Duration,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "with added as (insert into anonymous_attempts (action, client_ip) values ($1, $2))
         select count(*) + 1 from anonymous_attempts
         where action = $1 and client_ip = $2 and at > now() - $3",
    )
    .bind(action)
    .bind(client_ip)
    .bind(window)
    .fetch_one(db)
    .await
}

/// Deletes attempts older than `age`; returns how many.
pub async fn delete_older_than(db: &PgPool, age: Duration) -> sqlx::Result<u64> {
    let done = sqlx::query("delete from anonymous_attempts where at < now() - $1")
        .bind(age)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}
