//! CRM connections of an org: the account connected, encrypted tokens and their expiry, push
//! settings, and the lifecycle (active → needs reconnect / disconnected).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::domain::{CrmConnectionId, CrmProvider, OrgId, UserId};

/// Where a CRM connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum CrmConnectionState {
    /// Imports and pushes run.
    Active,
    /// The provider refused the refresh token: someone must connect again.
    NeedsReconnect,
    /// Disconnected by a person; tokens erased.
    Disconnected,
}

impl CrmConnectionState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CrmConnectionState::Active => "active",
            CrmConnectionState::NeedsReconnect => "needs_reconnect",
            CrmConnectionState::Disconnected => "disconnected",
        }
    }

    /// How the state reads on the page.
    pub fn label(self) -> &'static str {
        match self {
            CrmConnectionState::Active => "Active",
            CrmConnectionState::NeedsReconnect => "Needs reconnect",
            CrmConnectionState::Disconnected => "Disconnected",
        }
    }
}

/// A connection as jobs and pages use it (tokens still encrypted).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CrmConnection {
    pub id: CrmConnectionId,
    pub org_id: OrgId,
    pub provider: CrmProvider,
    pub state: CrmConnectionState,
    pub account_id: String,
    pub account_name: String,
    pub account_user: Option<String>,
    pub instance_url: Option<String>,
    pub login_url: Option<String>,
    pub access_token_ciphertext: Option<String>,
    pub refresh_token_ciphertext: Option<String>,
    pub access_token_expires_at: Option<DateTime<Utc>>,
    pub scopes: Vec<String>,
    pub push_enabled: bool,
    pub push_tasks: bool,
    pub problem: Option<String>,
    pub connected_at: DateTime<Utc>,
    pub connected_by_name: Option<String>,
    pub disconnected_at: Option<DateTime<Utc>>,
    pub imported_through: Option<DateTime<Utc>>,
    pub next_import_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "c.id, c.org_id, c.provider, c.state, c.account_id, c.account_name,
    c.account_user, c.instance_url, c.login_url, c.access_token_ciphertext,
    c.refresh_token_ciphertext, c.access_token_expires_at, c.scopes, c.push_enabled, c.push_tasks,
    c.problem, c.connected_at, u.name as connected_by_name, c.disconnected_at, c.imported_through,
    c.next_import_at";

/// The identity of a newly authorised account.
#[derive(Debug, Clone)]
pub struct NewCrmConnection {
    pub provider: CrmProvider,
    pub account_id: String,
    pub account_name: String,
    pub account_user: Option<String>,
    pub instance_url: Option<String>,
    pub login_url: Option<String>,
    pub scopes: Vec<String>,
    pub connected_by: UserId,
}

/// Finds the org's live connection to the same account (locking it) or makes a new id for one:
/// connecting an account again replaces its tokens rather than adding a second connection.
/// Returns the id and whether it is new.
pub async fn live_for_account(
    conn: &mut PgConnection,
    org: OrgId,
    provider: CrmProvider,
    account_id: &str,
) -> sqlx::Result<Option<CrmConnectionId>> {
    sqlx::query_scalar(
        "select id from crm_connections
          where org_id = $1 and provider = $2 and account_id = $3 and state <> 'disconnected'
          for update",
    )
    .bind(org)
    .bind(provider)
    .bind(account_id)
    .fetch_optional(conn)
    .await
}

/// Stores a connection (new, or replacing a live one's identity and tokens) as active.
#[allow(clippy::too_many_arguments)]
pub async fn save(
    conn: &mut PgConnection,
    org: OrgId,
    id: CrmConnectionId,
    new: &NewCrmConnection,
    access_ciphertext: &str,
    refresh_ciphertext: Option<&str>,
    expires_at: Option<DateTime<Utc>>,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into crm_connections (id, org_id, provider, state, account_id, account_name,
             account_user, instance_url, login_url, access_token_ciphertext,
             refresh_token_ciphertext, access_token_expires_at, scopes, connected_by, next_import_at)
         values ($1, $2, $3, 'active', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, now() + interval '1 hour')
         on conflict (id) do update set
             state = 'active', account_name = excluded.account_name,
             account_user = excluded.account_user,
             instance_url = excluded.instance_url, login_url = excluded.login_url,
             access_token_ciphertext = excluded.access_token_ciphertext,
             refresh_token_ciphertext = coalesce(excluded.refresh_token_ciphertext,
                                                 crm_connections.refresh_token_ciphertext),
             access_token_expires_at = excluded.access_token_expires_at,
             scopes = excluded.scopes, problem = null, connected_by = excluded.connected_by,
             connected_at = now()
         where crm_connections.org_id = excluded.org_id",
    )
    .bind(id)
    .bind(org)
    .bind(new.provider)
    .bind(&new.account_id)
    .bind(&new.account_name)
    .bind(&new.account_user)
    .bind(&new.instance_url)
    .bind(&new.login_url)
    .bind(access_ciphertext)
    .bind(refresh_ciphertext)
    .bind(expires_at)
    .bind(&new.scopes)
    .bind(new.connected_by)
    .execute(conn)
    .await?;
    Ok(())
}

/// One connection of the org.
pub async fn get(
    conn: &mut PgConnection,
    org: OrgId,
    id: CrmConnectionId,
) -> sqlx::Result<Option<CrmConnection>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from crm_connections c left join users u on u.id = c.connected_by
          where c.org_id = $1 and c.id = $2"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// One connection of the org, locked until the transaction ends (one token refresh at a time
/// per connection, across every process).
pub async fn get_for_update(
    conn: &mut PgConnection,
    org: OrgId,
    id: CrmConnectionId,
) -> sqlx::Result<Option<CrmConnection>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from crm_connections c left join users u on u.id = c.connected_by
          where c.org_id = $1 and c.id = $2 for update of c"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The org's connections: live ones first, then the ten most recently disconnected.
pub async fn list(db: &PgPool, org: OrgId) -> sqlx::Result<Vec<CrmConnection>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "(select {COLUMNS} from crm_connections c left join users u on u.id = c.connected_by
           where c.org_id = $1 and c.state <> 'disconnected' order by c.connected_at)
         union all
         (select {COLUMNS} from crm_connections c left join users u on u.id = c.connected_by
           where c.org_id = $1 and c.state = 'disconnected'
           order by c.disconnected_at desc limit 10)"
    )))
    .bind(org)
    .fetch_all(db)
    .await
}

/// The org's active connections that push meetings.
pub async fn pushing(conn: &mut PgConnection, org: OrgId) -> sqlx::Result<Vec<CrmConnectionId>> {
    sqlx::query_scalar(
        "select id from crm_connections
          where org_id = $1 and state = 'active' and push_enabled order by connected_at",
    )
    .bind(org)
    .fetch_all(conn)
    .await
}

/// Stores refreshed tokens (a refresh token only when the provider sent a new one).
pub async fn store_tokens(
    conn: &mut PgConnection,
    org: OrgId,
    id: CrmConnectionId,
    access_ciphertext: &str,
    refresh_ciphertext: Option<&str>,
    expires_at: Option<DateTime<Utc>>,
    instance_url: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "update crm_connections set access_token_ciphertext = $3,
                refresh_token_ciphertext = coalesce($4, refresh_token_ciphertext),
                access_token_expires_at = $5, instance_url = coalesce($6, instance_url),
                token_refreshed_at = now()
          where org_id = $1 and id = $2",
    )
    .bind(org)
    .bind(id)
    .bind(access_ciphertext)
    .bind(refresh_ciphertext)
    .bind(expires_at)
    .bind(instance_url)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks the connection as needing a reconnect, with the provider's reason. Returns whether it
/// was active until now (so the audit event is written once).
pub async fn mark_needs_reconnect(
    conn: &mut PgConnection,
    org: OrgId,
    id: CrmConnectionId,
    problem: &str,
) -> sqlx::Result<bool> {
    let changed = sqlx::query(
        "update crm_connections set state = 'needs_reconnect', problem = $3
          where org_id = $1 and id = $2 and state = 'active'",
    )
    .bind(org)
    .bind(id)
    .bind(problem)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// Disconnects: erases the tokens and stops imports and pushes. Returns whether it was live.
pub async fn disconnect(
    conn: &mut PgConnection,
    org: OrgId,
    id: CrmConnectionId,
) -> sqlx::Result<bool> {
    let changed = sqlx::query(
        "update crm_connections set state = 'disconnected', disconnected_at = now(),
                access_token_ciphertext = null, refresh_token_ciphertext = null,
                access_token_expires_at = null, next_import_at = null
          where org_id = $1 and id = $2 and state <> 'disconnected'",
    )
    .bind(org)
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// Changes what the connection pushes.
pub async fn set_push(
    db: &PgPool,
    org: OrgId,
    id: CrmConnectionId,
    push_enabled: bool,
    push_tasks: bool,
) -> sqlx::Result<bool> {
    let changed = sqlx::query(
        "update crm_connections set push_enabled = $3, push_tasks = $4
          where org_id = $1 and id = $2 and state <> 'disconnected'",
    )
    .bind(org)
    .bind(id)
    .bind(push_enabled)
    .bind(push_tasks)
    .execute(db)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// Moves the incremental-import mark forward (never back).
pub async fn set_imported_through(
    conn: &mut PgConnection,
    org: OrgId,
    id: CrmConnectionId,
    through: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "update crm_connections set imported_through = greatest(imported_through, $3)
          where org_id = $1 and id = $2",
    )
    .bind(org)
    .bind(id)
    .bind(through)
    .execute(conn)
    .await?;
    Ok(())
}

/// Active connections whose hourly import is due (locked, skipping ones another worker holds),
/// each moved to its next hour.
pub async fn take_due_imports(
    conn: &mut PgConnection,
    limit: i64,
) -> sqlx::Result<Vec<(OrgId, CrmConnectionId)>> {
    sqlx::query_as(
        "with due as (
             select id from crm_connections
              where state = 'active' and next_import_at <= now()
              order by next_import_at limit $1 for update skip locked)
         update crm_connections c set next_import_at = now() + interval '1 hour'
           from due where c.id = due.id
         returning c.org_id, c.id",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}
