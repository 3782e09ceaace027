//! SQL behind the session store.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// Inserts a new session; `false` when the id is already taken.
pub async fn insert_new(
    db: &PgPool,
    id: &str,
    data: &serde_json::Value,
    expiry: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "insert into sessions (id, data, expiry_date) values ($1, $2, $3) on conflict (id) do nothing",
    )
    .bind(id)
    .bind(data)
    .bind(expiry)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Writes a session's data and expiry.
pub async fn upsert(
    db: &PgPool,
    id: &str,
    data: &serde_json::Value,
    expiry: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into sessions (id, data, expiry_date) values ($1, $2, $3)
         on conflict (id) do update set data = excluded.data, expiry_date = excluded.expiry_date",
    )
    .bind(id)
    .bind(data)
    .bind(expiry)
    .execute(db)
    .await?;
    Ok(())
}

/// A session's data and expiry, if it exists and has not expired.
pub async fn load_active(
    db: &PgPool,
    id: &str,
) -> sqlx::Result<Option<(serde_json::Value, DateTime<Utc>)>> {
    sqlx::query_as("select data, expiry_date from sessions where id = $1 and expiry_date > now()")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Deletes one session.
pub async fn delete(db: &PgPool, id: &str) -> sqlx::Result<()> {
    sqlx::query("delete from sessions where id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Deletes every expired session; returns how many.
pub async fn delete_expired(db: &PgPool) -> sqlx::Result<u64> {
    let result = sqlx::query("delete from sessions where expiry_date <= now()")
        .execute(db)
        .await?;
    Ok(result.rows_affected())
}
