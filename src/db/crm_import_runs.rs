//! Imports of customers from a CRM connection: one row per run with its window, progress counts
//! and outcome; at most one open run per connection.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use crate::domain::{CrmConnectionId, CrmImportRunId, OrgId, UserId};

/// Why a run started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ImportSource {
    /// Right after connecting: everything.
    Initial,
    /// The hourly schedule: what changed since the last run.
    Hourly,
    /// *Sync customers now*.
    Manual,
}

/// A run's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum ImportState {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl ImportState {
    /// How the state reads on the page.
    pub fn label(self) -> &'static str {
        match self {
            ImportState::Queued => "Waiting to start",
            ImportState::Running => "Importing",
            ImportState::Succeeded => "Done",
            ImportState::Failed => "Failed",
        }
    }

    /// Whether the run is still going.
    pub fn is_open(self) -> bool {
        matches!(self, ImportState::Queued | ImportState::Running)
    }
}

/// Counts of what an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct ImportCounts {
    pub pages: i32,
    pub companies_seen: i32,
    pub contacts_seen: i32,
    pub customers_created: i32,
    pub customers_updated: i32,
    pub customers_linked: i32,
    pub contacts_created: i32,
    pub contacts_updated: i32,
    pub contacts_linked: i32,
    pub contacts_skipped: i32,
}

impl ImportCounts {
    /// Whether anything matching depends on changed.
    pub fn changed_anything(&self) -> bool {
        self.customers_created
            + self.customers_updated
            + self.customers_linked
            + self.contacts_created
            + self.contacts_updated
            + self.contacts_linked
            > 0
    }
}

/// A run as its page shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ImportRun {
    pub id: CrmImportRunId,
    pub connection_id: CrmConnectionId,
    pub source: ImportSource,
    pub state: ImportState,
    pub modified_since: Option<DateTime<Utc>>,
    #[sqlx(flatten)]
    pub counts: ImportCounts,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, connection_id, source, state, modified_since, pages, companies_seen,
    contacts_seen, customers_created, customers_updated, customers_linked, contacts_created,
    contacts_updated, contacts_linked, contacts_skipped, error, created_at, started_at, finished_at";

/// Opens a run unless the connection has one open. Returns the new run, or `None`.
pub async fn open(
    conn: &mut PgConnection,
    org: OrgId,
    connection: CrmConnectionId,
    source: ImportSource,
    modified_since: Option<DateTime<Utc>>,
    requested_by: Option<UserId>,
) -> sqlx::Result<Option<CrmImportRunId>> {
    let id = CrmImportRunId::new();
    let inserted = sqlx::query(
        "insert into crm_import_runs (id, org_id, connection_id, source, state, modified_since, requested_by)
         values ($1, $2, $3, $4, 'queued', $5, $6)
         on conflict (connection_id) where state in ('queued', 'running') do nothing",
    )
    .bind(id)
    .bind(org)
    .bind(connection)
    .bind(source)
    .bind(modified_since)
    .bind(requested_by)
    .execute(conn)
    .await?
    .rows_affected();
    Ok((inserted == 1).then_some(id))
}

/// Marks the run started (again, after a crashed worker). Returns `None` when it is finished.
pub async fn start(
    conn: &mut PgConnection,
    org: OrgId,
    run: CrmImportRunId,
) -> sqlx::Result<Option<ImportRun>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update crm_import_runs set state = 'running', started_at = coalesce(started_at, now())
          where org_id = $1 and id = $2 and state in ('queued', 'running')
          returning {COLUMNS}"
    )))
    .bind(org)
    .bind(run)
    .fetch_optional(conn)
    .await
}

/// Stores the counts so far.
pub async fn progress(
    conn: &mut PgConnection,
    org: OrgId,
    run: CrmImportRunId,
    c: &ImportCounts,
) -> sqlx::Result<()> {
    sqlx::query(
        "update crm_import_runs set pages = $3, companies_seen = $4, contacts_seen = $5,
                customers_created = $6, customers_updated = $7, customers_linked = $8,
                contacts_created = $9, contacts_updated = $10, contacts_linked = $11,
                contacts_skipped = $12
          where org_id = $1 and id = $2",
    )
    .bind(org)
    .bind(run)
    .bind(c.pages)
    .bind(c.companies_seen)
    .bind(c.contacts_seen)
    .bind(c.customers_created)
    .bind(c.customers_updated)
    .bind(c.customers_linked)
    .bind(c.contacts_created)
    .bind(c.contacts_updated)
    .bind(c.contacts_linked)
    .bind(c.contacts_skipped)
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends the run: succeeded, or failed with `error`.
pub async fn finish(
    conn: &mut PgConnection,
    org: OrgId,
    run: CrmImportRunId,
    error: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "update crm_import_runs
            set state = case when $3::text is null then 'succeeded' else 'failed' end,
                error = $3, finished_at = now()
          where org_id = $1 and id = $2 and state in ('queued', 'running')",
    )
    .bind(org)
    .bind(run)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// Fails every open run of a connection (it was disconnected or needs a reconnect).
pub async fn fail_open(
    conn: &mut PgConnection,
    org: OrgId,
    connection: CrmConnectionId,
    error: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "update crm_import_runs set state = 'failed', error = $3, finished_at = now()
          where org_id = $1 and connection_id = $2 and state in ('queued', 'running')",
    )
    .bind(org)
    .bind(connection)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// The connection's latest runs, newest first.
pub async fn recent(
    db: &PgPool,
    org: OrgId,
    connection: CrmConnectionId,
    limit: i64,
) -> sqlx::Result<Vec<ImportRun>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from crm_import_runs where org_id = $1 and connection_id = $2
          order by created_at desc limit $3"
    )))
    .bind(org)
    .bind(connection)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// One run of the org.
pub async fn get(db: &PgPool, org: OrgId, run: CrmImportRunId) -> sqlx::Result<Option<ImportRun>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from crm_import_runs where org_id = $1 and id = $2"
    )))
    .bind(org)
    .bind(run)
    .fetch_optional(db)
    .await
}
