//! SQL behind the session store. Rows are keyed by the SHA-256 of the session id (the caller hashes),
//! never by the id a cookie carries.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// Inserts a new session; `false` when the id is already taken.
pub async fn insert_new(
    db: &PgPool,
    id_hash: &str,
    data: &serde_json::Value,
    expiry: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "insert into sessions (id, data, expiry_date) values ($1, $2, $3) on conflict (id) do nothing",
    )
    .bind(id_hash)
    .bind(data)
    .bind(expiry)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Writes a live session's data and expiry. Never creates a row: a session deleted meanwhile (a
/// logout while this request ran) stays deleted. Unchanged data with an expiry moved by less than
/// `min_extension` is not written at all.
pub async fn update_live(
    db: &PgPool,
    id_hash: &str,
    data: &serde_json::Value,
    expiry: DateTime<Utc>,
    min_extension: chrono::Duration,
) -> sqlx::Result<()> {
    sqlx::query(
        "update sessions set data = $2, expiry_date = $3
         where id = $1 and expiry_date > now()
           and (data <> $2 or expiry_date < $3 - $4)",
    )
    .bind(id_hash)
    .bind(data)
    .bind(expiry)
    .bind(min_extension)
    .execute(db)
    .await?;
    Ok(())
}

/// A session's data and expiry, if it exists, has not expired and is younger than `max_age`.
pub async fn load_active(
    db: &PgPool,
    id_hash: &str,
    max_age: chrono::Duration,
) -> sqlx::Result<Option<(serde_json::Value, DateTime<Utc>)>> {
    sqlx::query_as(
        "select data, expiry_date from sessions
         where id = $1 and expiry_date > now() and created_at > now() - $2",
    )
    .bind(id_hash)
    .bind(max_age)
    .fetch_optional(db)
    .await
}

/// Deletes one session.
pub async fn delete(db: &PgPool, id_hash: &str) -> sqlx::Result<()> {
    sqlx::query("delete from sessions where id = $1")
        .bind(id_hash)
        .execute(db)
        .await?;
    Ok(())
}

/// Deletes every expired session, and every session older than `max_age`; returns how many.
pub async fn delete_expired(db: &PgPool, max_age: chrono::Duration) -> sqlx::Result<u64> {
    let result =
        sqlx::query("delete from sessions where expiry_date <= now() or created_at <= now() - $1")
            .bind(max_age)
            .execute(db)
            .await?;
    Ok(result.rows_affected())
}
