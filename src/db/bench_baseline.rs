//! The webhook benchmark's yardstick table (created by the benchmark, never by migrations).

use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::OrgId;

/// Creates the table if it is missing.
pub async fn create_table(db: &PgPool) -> sqlx::Result<()> {
    sqlx::query(
        "create table if not exists bench_baseline_events (
             id uuid primary key,
             org_id uuid not null,
             webhook_id text not null,
             body bytea not null,
             received_at timestamptz not null default now()
         )",
    )
    .execute(db)
    .await?;
    Ok(())
}

/// One autocommit insert of a body.
pub async fn insert(db: &PgPool, org: OrgId, webhook_id: &str, body: &[u8]) -> sqlx::Result<()> {
    sqlx::query(
        "insert into bench_baseline_events (id, org_id, webhook_id, body) values ($1, $2, $3, $4)",
    )
    .bind(Uuid::now_v7())
    .bind(org)
    .bind(webhook_id)
    .bind(body)
    .execute(db)
    .await?;
    Ok(())
}
