//! Fathom connections of an org: encrypted key and webhook secret, webhook id, lifecycle state, and
//! the state of deleting the webhook at Fathom after a disconnect.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::domain::{FathomConnectionId, OrgId, UserId};

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum ConnectionState {
    /// Meetings arrive by webhook and sync.
    Active,
    /// Fathom rejected the key (401): someone must connect again.
    NeedsReconnect,
    /// Disconnected by a person; the webhook deletion at Fathom is still being retried.
    Disconnecting,
    /// Key and secret erased.
    Disconnected,
}

impl ConnectionState {
    /// The stored name (`needs_reconnect`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Active => "active",
            ConnectionState::NeedsReconnect => "needs_reconnect",
            ConnectionState::Disconnecting => "disconnecting",
            ConnectionState::Disconnected => "disconnected",
        }
    }

    /// How the state reads on the page.
    pub fn label(self) -> &'static str {
        match self {
            ConnectionState::Active => "Active",
            ConnectionState::NeedsReconnect => "Needs reconnect",
            ConnectionState::Disconnecting => "Disconnecting",
            ConnectionState::Disconnected => "Disconnected",
        }
    }

    /// Whether meetings may still arrive through it.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            ConnectionState::Active | ConnectionState::NeedsReconnect
        )
    }
}

/// Progress of deleting a disconnected connection's webhook at Fathom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum WebhookCleanup {
    /// Still retrying.
    Pending,
    /// Fathom confirmed (or it was already gone).
    Deleted,
    /// Gave up: a person must delete the webhook in Fathom's settings.
    Abandoned,
}

/// A connection as the Integrations page shows it (no ciphertexts).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConnectionSummary {
    pub id: FathomConnectionId,
    pub fathom_user_email: String,
    pub state: ConnectionState,
    pub api_key_hint: String,
    pub webhook_id: Option<String>,
    pub connected_at: DateTime<Utc>,
    /// Who connected it (the person whose Fathom key it is, normally).
    pub connected_by: Option<UserId>,
    pub connected_by_name: Option<String>,
    pub disconnected_at: Option<DateTime<Utc>>,
    pub disconnected_by_name: Option<String>,
    pub webhook_cleanup: Option<WebhookCleanup>,
    pub webhook_cleanup_error: Option<String>,
}

/// What is needed to use a connection's key, or to delete its webhook.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConnectionKeys {
    pub id: FathomConnectionId,
    pub org_id: OrgId,
    pub fathom_user_email: String,
    pub state: ConnectionState,
    pub api_key_ciphertext: Option<String>,
    pub webhook_id: Option<String>,
    pub webhook_cleanup_attempts: i32,
    pub connected_by: Option<UserId>,
}

/// A connection about to be stored, its secrets already encrypted.
#[derive(Debug, Clone)]
pub struct NewConnection<'a> {
    pub id: FathomConnectionId,
    pub fathom_user_email: &'a str,
    pub api_key_ciphertext: &'a str,
    pub webhook_secret_ciphertext: &'a str,
    pub api_key_hint: &'a str,
    pub webhook_id: &'a str,
    pub webhook_url: &'a str,
    pub connected_by: UserId,
}

const KEYS_COLUMNS: &str = "id, org_id, fathom_user_email, state, api_key_ciphertext, webhook_id, webhook_cleanup_attempts, connected_by";

/// Stores a new active connection.
pub async fn insert(
    conn: &mut PgConnection,
    org: OrgId,
    new: &NewConnection<'_>,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into fathom_connections
           (id, org_id, fathom_user_email, state, api_key_ciphertext, webhook_secret_ciphertext,
            api_key_hint, webhook_id, webhook_url, connected_by)
         values ($1, $2, $3, 'active', $4, $5, $6, $7, $8, $9)",
    )
    .bind(new.id)
    .bind(org)
    .bind(new.fathom_user_email)
    .bind(new.api_key_ciphertext)
    .bind(new.webhook_secret_ciphertext)
    .bind(new.api_key_hint)
    .bind(new.webhook_id)
    .bind(new.webhook_url)
    .bind(new.connected_by)
    .execute(conn)
    .await?;
    Ok(())
}

/// Columns of a [`ConnectionSummary`], over `fathom_connections c` joined to `users cu` (who
/// connected) and `users du` (who disconnected).
const SUMMARY_COLUMNS: &str = "c.id, c.fathom_user_email, c.state, c.api_key_hint, c.webhook_id,
    c.connected_at, c.connected_by, cu.name as connected_by_name, c.disconnected_at,
    du.name as disconnected_by_name, c.webhook_cleanup, c.webhook_cleanup_error
    from fathom_connections c
    left join users cu on cu.id = c.connected_by
    left join users du on du.id = c.disconnected_by";

/// The org's connections for the Integrations page: live ones first, then the 20 most recently
/// disconnected.
pub async fn list(db: &PgPool, org: OrgId) -> sqlx::Result<Vec<ConnectionSummary>> {
    let sql = format!(
        "(select {SUMMARY_COLUMNS}
          where c.org_id = $1 and c.state in ('active', 'needs_reconnect')
          order by c.connected_at)
         union all
         (select {SUMMARY_COLUMNS}
          where c.org_id = $1 and c.state in ('disconnecting', 'disconnected')
          order by c.disconnected_at desc nulls last
          limit 20)"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .fetch_all(db)
        .await
}

/// One connection of the org, live or long disconnected.
pub async fn find(
    db: &PgPool,
    org: OrgId,
    id: FathomConnectionId,
) -> sqlx::Result<Option<ConnectionSummary>> {
    let sql = format!("select {SUMMARY_COLUMNS} where c.org_id = $1 and c.id = $2");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The org's live connections with their key ciphertexts, locked until the transaction ends (so two
/// people connecting the same Fathom user at once cannot both replace the same row).
pub async fn live_keys_for_update(
    conn: &mut PgConnection,
    org: OrgId,
) -> sqlx::Result<Vec<ConnectionKeys>> {
    let sql = format!(
        "select {KEYS_COLUMNS} from fathom_connections
         where org_id = $1 and state in ('active', 'needs_reconnect')
         order by connected_at for update"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .fetch_all(conn)
        .await
}

/// One connection's keys, if it belongs to the org.
pub async fn find_keys(
    db: &PgPool,
    org: OrgId,
    id: FathomConnectionId,
) -> sqlx::Result<Option<ConnectionKeys>> {
    let sql =
        format!("select {KEYS_COLUMNS} from fathom_connections where org_id = $1 and id = $2");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Stops a live connection at once (no more ingest) and queues its webhook for deletion; `None` when
/// the org has no such live connection.
pub async fn begin_disconnect(
    conn: &mut PgConnection,
    org: OrgId,
    id: FathomConnectionId,
    by: Option<UserId>,
) -> sqlx::Result<Option<ConnectionKeys>> {
    let sql = format!(
        "update fathom_connections
         set state = 'disconnecting', disconnected_by = $3, disconnected_at = now(),
             webhook_cleanup = 'pending', webhook_cleanup_attempts = 0, webhook_cleanup_next_at = now()
         where org_id = $1 and id = $2 and state in ('active', 'needs_reconnect')
         returning {KEYS_COLUMNS}"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(id)
        .bind(by)
        .fetch_optional(conn)
        .await
}

/// Ends a disconnect: erases the key and secret; `cleanup` says whether the webhook is gone at
/// Fathom or a person has to delete it. Returns whether the row was still disconnecting.
pub async fn finish_disconnect(
    db: &PgPool,
    org: OrgId,
    id: FathomConnectionId,
    cleanup: WebhookCleanup,
    error: Option<&str>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update fathom_connections
         set state = 'disconnected', api_key_ciphertext = null, webhook_secret_ciphertext = null,
             webhook_cleanup = $3, webhook_cleanup_error = $4, webhook_cleanup_next_at = null,
             webhook_cleanup_attempts = webhook_cleanup_attempts + 1
         where org_id = $1 and id = $2 and state = 'disconnecting'",
    )
    .bind(org)
    .bind(id)
    .bind(cleanup)
    .bind(error)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a failed webhook deletion and when to try again.
pub async fn schedule_cleanup_retry(
    db: &PgPool,
    org: OrgId,
    id: FathomConnectionId,
    next_at: DateTime<Utc>,
    error: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "update fathom_connections
         set webhook_cleanup_attempts = webhook_cleanup_attempts + 1,
             webhook_cleanup_next_at = $3, webhook_cleanup_error = $4
         where org_id = $1 and id = $2 and state = 'disconnecting'",
    )
    .bind(org)
    .bind(id)
    .bind(next_at)
    .bind(error)
    .execute(db)
    .await?;
    Ok(())
}

/// Sets when the connection's next hourly sync is due.
pub async fn set_next_sync_at(
    conn: &mut PgConnection,
    org: OrgId,
    id: FathomConnectionId,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query("update fathom_connections set next_sync_at = $3 where org_id = $1 and id = $2")
        .bind(org)
        .bind(id)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks an active connection as needing a new key (Fathom answered 401); false when it was not
/// active (already marked, or disconnected meanwhile).
pub async fn mark_needs_reconnect(
    conn: &mut PgConnection,
    org: OrgId,
    id: FathomConnectionId,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update fathom_connections set state = 'needs_reconnect'
         where org_id = $1 and id = $2 and state = 'active'",
    )
    .bind(org)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
