//! Cross-org reads and writes, for background work and maintenance commands only (never from a
//! request handler: those go through the org-scoped modules).

use sqlx::{PgConnection, PgPool};

use crate::db::fathom_connections::ConnectionKeys;
use crate::db::fathom_sync_runs::SyncSource;
use crate::domain::{FathomConnectionId, OrgId, SyncRunId};

/// Claims up to `limit` disconnected connections whose webhook deletion is due, pushing their next
/// attempt `lease_seconds` ahead so another worker does not take them meanwhile.
pub async fn claim_due_webhook_cleanups(
    db: &PgPool,
    limit: i64,
    lease_seconds: i64,
) -> sqlx::Result<Vec<ConnectionKeys>> {
    sqlx::query_as(
        "update fathom_connections c
         set webhook_cleanup_next_at = now() + make_interval(secs => $2)
         where c.id in (
             select id from fathom_connections
             where webhook_cleanup = 'pending' and state = 'disconnecting'
               and webhook_cleanup_next_at <= now()
             order by webhook_cleanup_next_at
             limit $1
             for update skip locked)
         returning c.id, c.org_id, c.fathom_user_email, c.state, c.api_key_ciphertext, c.webhook_id,
                   c.webhook_cleanup_attempts, c.connected_by",
    )
    .bind(limit)
    .bind(lease_seconds as f64)
    .fetch_all(db)
    .await
}

/// A row holding encrypted secrets, as `debrief rotate-keys` reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredSecrets {
    pub org_id: OrgId,
    pub id: FathomConnectionId,
    pub api_key_ciphertext: Option<String>,
    pub webhook_secret_ciphertext: Option<String>,
}

/// Every Fathom connection still holding a secret.
pub async fn fathom_connection_secrets(db: &PgPool) -> sqlx::Result<Vec<StoredSecrets>> {
    sqlx::query_as(
        "select org_id, id, api_key_ciphertext, webhook_secret_ciphertext from fathom_connections
         where api_key_ciphertext is not null or webhook_secret_ciphertext is not null
         order by org_id, id",
    )
    .fetch_all(db)
    .await
}

/// Swaps a connection's ciphertexts for re-encrypted ones, only if they are still the ones read
/// (a concurrent disconnect or reconnect wins). Returns whether the row changed.
pub async fn replace_fathom_connection_secrets(
    conn: &mut sqlx::PgConnection,
    old: &StoredSecrets,
    api_key_ciphertext: Option<&str>,
    webhook_secret_ciphertext: Option<&str>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update fathom_connections
         set api_key_ciphertext = $5, webhook_secret_ciphertext = $6
         where org_id = $1 and id = $2
           and api_key_ciphertext is not distinct from $3
           and webhook_secret_ciphertext is not distinct from $4",
    )
    .bind(old.org_id)
    .bind(old.id)
    .bind(&old.api_key_ciphertext)
    .bind(&old.webhook_secret_ciphertext)
    .bind(api_key_ciphertext)
    .bind(webhook_secret_ciphertext)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A CRM connection's stored tokens, as `rotate-keys` reads them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredCrmTokens {
    pub org_id: OrgId,
    pub id: crate::domain::CrmConnectionId,
    pub access_token_ciphertext: Option<String>,
    pub refresh_token_ciphertext: Option<String>,
}

/// Every CRM connection still holding a token.
pub async fn crm_connection_tokens(db: &PgPool) -> sqlx::Result<Vec<StoredCrmTokens>> {
    sqlx::query_as(
        "select org_id, id, access_token_ciphertext, refresh_token_ciphertext from crm_connections
         where access_token_ciphertext is not null or refresh_token_ciphertext is not null
         order by org_id, id",
    )
    .fetch_all(db)
    .await
}

/// Swaps a CRM connection's token ciphertexts, only if they are still the ones read (a refresh
/// or disconnect meanwhile wins). Returns whether the row changed.
pub async fn replace_crm_connection_tokens(
    conn: &mut sqlx::PgConnection,
    old: &StoredCrmTokens,
    access: Option<&str>,
    refresh: Option<&str>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update crm_connections set access_token_ciphertext = $5, refresh_token_ciphertext = $6
         where org_id = $1 and id = $2
           and access_token_ciphertext is not distinct from $3
           and refresh_token_ciphertext is not distinct from $4",
    )
    .bind(old.org_id)
    .bind(old.id)
    .bind(&old.access_token_ciphertext)
    .bind(&old.refresh_token_ciphertext)
    .bind(access)
    .bind(refresh)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// An open sync run whose worker stopped heartbeating (crashed, killed) or that no worker took up.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrphanedSyncRun {
    pub id: SyncRunId,
    pub org_id: OrgId,
    pub connection_id: FathomConnectionId,
    pub source: SyncSource,
}

/// Revokes the hold on open sync runs whose lease expired (a late holder's next write fails) and
/// gives them a new lease, so the caller can enqueue each again exactly once per lease.
pub async fn reclaim_orphaned_sync_runs(
    conn: &mut PgConnection,
    lease_seconds: f64,
) -> sqlx::Result<Vec<OrphanedSyncRun>> {
    sqlx::query_as(
        "update fathom_sync_runs r
         set lease_token = null, lease_expires_at = now() + make_interval(secs => $1)
         where r.id in (
             select id from fathom_sync_runs
             where state in ('queued', 'running') and lease_expires_at < now()
             for update skip locked)
         returning r.id, r.org_id, r.connection_id, r.source",
    )
    .bind(lease_seconds)
    .fetch_all(conn)
    .await
}

/// An active connection whose hourly sync is due.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueSync {
    pub id: FathomConnectionId,
    pub org_id: OrgId,
}

/// Active connections whose hourly sync is due, locked until the transaction ends (another worker
/// process skips them).
pub async fn due_syncs_for_update(
    conn: &mut PgConnection,
    limit: i64,
) -> sqlx::Result<Vec<DueSync>> {
    sqlx::query_as(
        "select id, org_id from fathom_connections
         where state = 'active' and next_sync_at <= now()
         order by next_sync_at limit $1
         for update skip locked",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}
