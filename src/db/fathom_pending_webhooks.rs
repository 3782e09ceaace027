//! Webhook registrations under way (see the migration): recorded before Fathom is asked, so an
//! interrupted connect can always be cleaned up.

use sqlx::{PgConnection, PgPool};

use crate::domain::{FathomConnectionId, OrgId};

/// Records that connection `id` of `org` is about to register a webhook with this key.
pub async fn insert(
    db: &PgPool,
    org: OrgId,
    id: FathomConnectionId,
    api_key_ciphertext: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into fathom_pending_webhooks (connection_id, org_id, api_key_ciphertext)
         values ($1, $2, $3)",
    )
    .bind(id)
    .bind(org)
    .bind(api_key_ciphertext)
    .execute(db)
    .await?;
    Ok(())
}

/// Remembers the id Fathom gave the webhook.
pub async fn set_webhook_id(
    db: &PgPool,
    org: OrgId,
    id: FathomConnectionId,
    webhook_id: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "update fathom_pending_webhooks set webhook_id = $3
         where org_id = $1 and connection_id = $2",
    )
    .bind(org)
    .bind(id)
    .bind(webhook_id)
    .execute(db)
    .await?;
    Ok(())
}

/// Forgets a registration (stored as a connection, or its webhook deleted).
pub async fn delete(
    conn: &mut PgConnection,
    org: OrgId,
    id: FathomConnectionId,
) -> sqlx::Result<()> {
    sqlx::query("delete from fathom_pending_webhooks where org_id = $1 and connection_id = $2")
        .bind(org)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A registration left behind by an interrupted connect.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LeftBehind {
    pub connection_id: FathomConnectionId,
    pub org_id: OrgId,
    pub api_key_ciphertext: String,
    pub webhook_id: Option<String>,
    pub cleanup_attempts: i32,
}

/// Across all orgs (workers only): registrations started over `older_than_seconds` ago whose
/// cleanup is due, each claimed for `hold_seconds` so two workers do not take the same one.
pub async fn claim_left_behind(
    db: &PgPool,
    older_than_seconds: f64,
    hold_seconds: f64,
    limit: i64,
) -> sqlx::Result<Vec<LeftBehind>> {
    sqlx::query_as(
        "update fathom_pending_webhooks p
         set cleanup_next_at = now() + make_interval(secs => $2)
         where p.connection_id in (
             select connection_id from fathom_pending_webhooks
             where started_at < now() - make_interval(secs => $1) and cleanup_next_at <= now()
             order by started_at limit $3 for update skip locked)
         returning p.connection_id, p.org_id, p.api_key_ciphertext, p.webhook_id,
                   p.cleanup_attempts",
    )
    .bind(older_than_seconds)
    .bind(hold_seconds)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Counts a failed cleanup; the next try waits `retry_seconds`.
pub async fn cleanup_failed(
    db: &PgPool,
    org: OrgId,
    id: FathomConnectionId,
    retry_seconds: f64,
) -> sqlx::Result<()> {
    sqlx::query(
        "update fathom_pending_webhooks
         set cleanup_attempts = cleanup_attempts + 1,
             cleanup_next_at = now() + make_interval(secs => $3)
         where org_id = $1 and connection_id = $2",
    )
    .bind(org)
    .bind(id)
    .bind(retry_seconds)
    .execute(db)
    .await?;
    Ok(())
}
