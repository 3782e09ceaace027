//! The audit log: who did what to an org's integrations and secrets, and when.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::domain::{OrgId, UserId};

/// Rows per page of the audit log.
pub const PAGE_SIZE: i64 = 50;

/// What an audit event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    FathomConnected,
    FathomKeyReplaced,
    FathomDisconnected,
    FathomWebhookCleanupAbandoned,
    FathomNeedsReconnect,
    SecretsRotated,
    CrmConnected,
    CrmDisconnected,
    CrmNeedsReconnect,
}

impl AuditAction {
    /// Every action.
    pub const ALL: [AuditAction; 9] = [
        AuditAction::FathomConnected,
        AuditAction::FathomKeyReplaced,
        AuditAction::FathomDisconnected,
        AuditAction::FathomWebhookCleanupAbandoned,
        AuditAction::FathomNeedsReconnect,
        AuditAction::SecretsRotated,
        AuditAction::CrmConnected,
        AuditAction::CrmDisconnected,
        AuditAction::CrmNeedsReconnect,
    ];

    /// The stored name (`fathom.connected`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::FathomConnected => "fathom.connected",
            AuditAction::FathomKeyReplaced => "fathom.key_replaced",
            AuditAction::FathomDisconnected => "fathom.disconnected",
            AuditAction::FathomWebhookCleanupAbandoned => "fathom.webhook_cleanup_abandoned",
            AuditAction::FathomNeedsReconnect => "fathom.needs_reconnect",
            AuditAction::SecretsRotated => "secrets.rotated",
            AuditAction::CrmConnected => "crm.connected",
            AuditAction::CrmDisconnected => "crm.disconnected",
            AuditAction::CrmNeedsReconnect => "crm.needs_reconnect",
        }
    }

    /// The action in words.
    pub fn label(self) -> &'static str {
        match self {
            AuditAction::FathomConnected => "Connected Fathom",
            AuditAction::FathomKeyReplaced => "Replaced a Fathom key",
            AuditAction::FathomDisconnected => "Disconnected Fathom",
            AuditAction::FathomWebhookCleanupAbandoned => "Could not delete a Fathom webhook",
            AuditAction::FathomNeedsReconnect => "Fathom rejected a key",
            AuditAction::SecretsRotated => "Re-encrypted secrets with a new master key",
            AuditAction::CrmConnected => "Connected a CRM",
            AuditAction::CrmDisconnected => "Disconnected a CRM",
            AuditAction::CrmNeedsReconnect => "A CRM refused Debrief's access",
        }
    }
}

/// One audit event as listed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditEvent {
    pub id: i64,
    pub action: String,
    pub detail: String,
    pub actor_name: Option<String>,
    pub actor_email: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl AuditEvent {
    /// The action in words (a stored name no longer known reads as "Other change").
    pub fn action_label(&self) -> &'static str {
        AuditAction::ALL
            .into_iter()
            .find(|a| a.as_str() == self.action)
            .map_or("Other change", AuditAction::label)
    }
}

/// Records an event; `actor` is `None` for the system.
pub async fn record(
    conn: &mut PgConnection,
    org: OrgId,
    actor: Option<UserId>,
    action: AuditAction,
    detail: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into audit_events (org_id, actor_id, action, detail) values ($1, $2, $3, $4)",
    )
    .bind(org)
    .bind(actor)
    .bind(action.as_str())
    .bind(detail)
    .execute(conn)
    .await?;
    Ok(())
}

/// A page of the org's events, newest first, strictly older than `before` (an event id) if given.
pub async fn list(db: &PgPool, org: OrgId, before: Option<i64>) -> sqlx::Result<Vec<AuditEvent>> {
    sqlx::query_as(
        "select e.id, e.action, e.detail, u.name as actor_name, u.email as actor_email, e.created_at
         from audit_events e left join users u on u.id = e.actor_id
         where e.org_id = $1 and ($2::bigint is null or e.id < $2)
         order by e.id desc
         limit $3",
    )
    .bind(org)
    .bind(before)
    .bind(PAGE_SIZE + 1)
    .fetch_all(db)
    .await
}
