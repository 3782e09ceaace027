//! Sync runs of an org's Fathom connections: opening one (at most one open per connection), a
//! worker's hold on it (lease and token), its progress page by page, and the reads of the sync
//! health pages.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{FathomConnectionId, OrgId, SyncRunId, UserId};

/// What started a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, serde::Serialize, serde::Deserialize)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum SyncSource {
    /// Right after the connection was made.
    Initial,
    /// The hourly reconciliation.
    Hourly,
    /// Someone pressed *Sync now*.
    Manual,
}

impl SyncSource {
    /// How people read it.
    pub fn label(self) -> &'static str {
        match self {
            SyncSource::Initial => "First sync",
            SyncSource::Hourly => "Hourly",
            SyncSource::Manual => "Sync now",
        }
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum SyncRunState {
    Queued,
    Running,
    Succeeded,
    Failed,
    /// The connection was disconnected or replaced while the run was open.
    Cancelled,
}

impl SyncRunState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncRunState::Queued => "queued",
            SyncRunState::Running => "running",
            SyncRunState::Succeeded => "succeeded",
            SyncRunState::Failed => "failed",
            SyncRunState::Cancelled => "cancelled",
        }
    }

    /// How people read it.
    pub fn label(self) -> &'static str {
        match self {
            SyncRunState::Queued => "Queued",
            SyncRunState::Running => "Running",
            SyncRunState::Succeeded => "Succeeded",
            SyncRunState::Failed => "Failed",
            SyncRunState::Cancelled => "Cancelled",
        }
    }

    /// Whether the run is still queued or running.
    pub fn is_open(self) -> bool {
        matches!(self, SyncRunState::Queued | SyncRunState::Running)
    }
}

/// A run as the sync health pages and the sync job read it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SyncRun {
    pub id: SyncRunId,
    pub org_id: OrgId,
    pub connection_id: FathomConnectionId,
    pub source: SyncSource,
    pub state: SyncRunState,
    pub requested_by_name: Option<String>,
    pub created_after: DateTime<Utc>,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub cursor: Option<String>,
    pub pages: i32,
    pub meetings_added: i32,
    pub meetings_updated: i32,
    pub meetings_unchanged: i32,
    pub meetings_skipped: i32,
    pub api_calls: i32,
    pub rate_limited: i32,
    pub waiting_until: Option<DateTime<Utc>>,
    pub waiting_reason: Option<String>,
    pub claims: i32,
    pub error: Option<String>,
}

impl SyncRun {
    /// Meetings seen so far.
    pub fn meetings_seen(&self) -> i32 {
        self.meetings_added + self.meetings_updated + self.meetings_unchanged
    }

    /// How long it ran (so far, while open), in whole seconds.
    pub fn duration_secs(&self) -> Option<i64> {
        let started = self.started_at?;
        let end = self.finished_at.unwrap_or_else(Utc::now);
        Some((end - started).num_seconds().max(0))
    }
}

const RUN_COLUMNS: &str = "r.id, r.org_id, r.connection_id, r.source, r.state,
    u.name as requested_by_name, r.created_after, r.queued_at, r.started_at, r.finished_at,
    r.cursor, r.pages, r.meetings_added, r.meetings_updated, r.meetings_unchanged,
    r.meetings_skipped, r.api_calls, r.rate_limited, r.waiting_until, r.waiting_reason, r.claims,
    r.error";

/// The result of asking for a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// A new run was queued (the caller enqueues its job in the same transaction).
    New(SyncRunId),
    /// The connection already had this run open; nothing new was queued.
    AlreadyOpen(SyncRunId),
}

/// A run to open.
#[derive(Debug, Clone, Copy)]
pub struct NewRun {
    pub connection_id: FathomConnectionId,
    pub source: SyncSource,
    pub created_after: DateTime<Utc>,
    pub requested_by: Option<UserId>,
}

/// Queues a run unless the connection has one open (the database's unique index decides, so two
/// requests at once still open one run). If no worker takes it up within `lease_seconds`, the
/// worker's recovery enqueues it again.
pub async fn open(
    conn: &mut PgConnection,
    org: OrgId,
    new: &NewRun,
    lease_seconds: f64,
) -> sqlx::Result<Opened> {
    let inserted: Option<SyncRunId> = sqlx::query_scalar(
        "insert into fathom_sync_runs
           (id, org_id, connection_id, source, created_after, requested_by, lease_expires_at)
         values ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
         on conflict (connection_id) where state in ('queued', 'running') do nothing
         returning id",
    )
    .bind(SyncRunId::new())
    .bind(org)
    .bind(new.connection_id)
    .bind(new.source)
    .bind(new.created_after)
    .bind(new.requested_by)
    .bind(lease_seconds)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(id) = inserted {
        return Ok(Opened::New(id));
    }
    let open: SyncRunId = sqlx::query_scalar(
        "select id from fathom_sync_runs
         where org_id = $1 and connection_id = $2 and state in ('queued', 'running')",
    )
    .bind(org)
    .bind(new.connection_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Opened::AlreadyOpen(open))
}

/// When the connection's last successful run started (meetings created before then were listed).
pub async fn last_success_started_at(
    conn: &mut PgConnection,
    org: OrgId,
    connection: FathomConnectionId,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar(
        "select max(started_at) from fathom_sync_runs
         where org_id = $1 and connection_id = $2 and state = 'succeeded'",
    )
    .bind(org)
    .bind(connection)
    .fetch_one(conn)
    .await
}

/// Takes an open run for one worker: a queued run, or a running one whose holder stopped
/// heartbeating or was revoked by recovery. `None` when it is finished or another worker holds it.
pub async fn claim(
    db: &PgPool,
    org: OrgId,
    id: SyncRunId,
    token: Uuid,
    lease_seconds: f64,
) -> sqlx::Result<Option<SyncRun>> {
    let claimed: Option<SyncRunId> = sqlx::query_scalar(
        "update fathom_sync_runs
         set state = 'running', started_at = coalesce(started_at, now()), claims = claims + 1,
             lease_token = $3, lease_expires_at = now() + make_interval(secs => $4),
             waiting_until = null, waiting_reason = null
         where org_id = $1 and id = $2
           and (state = 'queued'
                or (state = 'running' and (lease_token is null or lease_expires_at < now())))
         returning id",
    )
    .bind(org)
    .bind(id)
    .bind(token)
    .bind(lease_seconds)
    .fetch_optional(db)
    .await?;
    match claimed {
        Some(id) => find(db, org, id).await,
        None => Ok(None),
    }
}

/// What one stored page added to a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageProgress {
    pub added: i32,
    pub updated: i32,
    pub unchanged: i32,
    /// Listed meetings that could not be stored: recording id (when it had one) and why.
    pub skipped: Vec<(Option<i64>, String)>,
    /// Where the next page starts; `None` after the last page.
    pub next_cursor: Option<String>,
}

/// Counts a stored page and moves the cursor, in the transaction that stored its meetings; false
/// when this worker no longer holds the run (the caller must roll back and stop).
pub async fn record_page(
    conn: &mut PgConnection,
    org: OrgId,
    id: SyncRunId,
    token: Uuid,
    page: &PageProgress,
    lease_seconds: f64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update fathom_sync_runs
         set pages = pages + 1, api_calls = api_calls + 1,
             meetings_added = meetings_added + $4, meetings_updated = meetings_updated + $5,
             meetings_unchanged = meetings_unchanged + $6, meetings_skipped = meetings_skipped + $7,
             cursor = $8, waiting_until = null, waiting_reason = null,
             lease_expires_at = now() + make_interval(secs => $9)
         where org_id = $1 and id = $2 and lease_token = $3 and state = 'running'",
    )
    .bind(org)
    .bind(id)
    .bind(token)
    .bind(page.added)
    .bind(page.updated)
    .bind(page.unchanged)
    .bind(i32::try_from(page.skipped.len()).unwrap_or(i32::MAX))
    .bind(&page.next_cursor)
    .bind(lease_seconds)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    if !page.skipped.is_empty() {
        sqlx::query(
            "insert into fathom_sync_run_skips (org_id, run_id, recording_id, reason)
             select $1, $2, * from unnest($3::bigint[], $4::text[])",
        )
        .bind(org)
        .bind(id)
        .bind(page.skipped.iter().map(|s| s.0).collect::<Vec<_>>())
        .bind(page.skipped.iter().map(|s| s.1.clone()).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
    }
    Ok(true)
}

/// A meeting a run listed but could not store.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SkippedMeeting {
    pub recording_id: Option<i64>,
    pub reason: String,
    pub skipped_at: DateTime<Utc>,
}

/// The first 100 meetings a run skipped, in the order it met them.
pub async fn list_skipped(
    db: &PgPool,
    org: OrgId,
    id: SyncRunId,
) -> sqlx::Result<Vec<SkippedMeeting>> {
    sqlx::query_as(
        "select recording_id, reason, skipped_at from fathom_sync_run_skips
         where org_id = $1 and run_id = $2 order by id limit 100",
    )
    .bind(org)
    .bind(id)
    .fetch_all(db)
    .await
}

/// A call that did not give a page (429, server error, timeout) and the wait that follows it.
#[derive(Debug, Clone)]
pub struct Setback<'a> {
    /// Whether Fathom answered 429.
    pub rate_limited: bool,
    /// Until when the run waits.
    pub until: DateTime<Utc>,
    /// Why, for the progress display.
    pub reason: &'a str,
}

/// Counts a failed call and records the wait; the hold is extended past the wait. False when this
/// worker no longer holds the run.
pub async fn record_setback(
    db: &PgPool,
    org: OrgId,
    id: SyncRunId,
    token: Uuid,
    setback: &Setback<'_>,
    lease_seconds: f64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update fathom_sync_runs
         set api_calls = api_calls + 1, rate_limited = rate_limited + $4::int,
             waiting_until = $5, waiting_reason = $6,
             lease_expires_at = greatest(now(), $5) + make_interval(secs => $7)
         where org_id = $1 and id = $2 and lease_token = $3 and state = 'running'",
    )
    .bind(org)
    .bind(id)
    .bind(token)
    .bind(i32::from(setback.rate_limited))
    .bind(setback.until)
    .bind(setback.reason)
    .bind(lease_seconds)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that the run is pacing itself (no call failed) until `until`.
pub async fn record_pause(
    db: &PgPool,
    org: OrgId,
    id: SyncRunId,
    token: Uuid,
    until: DateTime<Utc>,
    reason: &str,
    lease_seconds: f64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update fathom_sync_runs
         set waiting_until = $4, waiting_reason = $5,
             lease_expires_at = greatest(now(), $4) + make_interval(secs => $6)
         where org_id = $1 and id = $2 and lease_token = $3 and state = 'running'",
    )
    .bind(org)
    .bind(id)
    .bind(token)
    .bind(until)
    .bind(reason)
    .bind(lease_seconds)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Calls made by the step that ended a run (not yet counted on the row).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FinalCalls {
    pub calls: i32,
    pub rate_limited: i32,
}

/// Ends a run held by `token` as succeeded, failed or cancelled (with the reason); false when this
/// worker no longer holds it.
pub async fn finish(
    conn: &mut PgConnection,
    org: OrgId,
    id: SyncRunId,
    token: Uuid,
    state: SyncRunState,
    error: Option<&str>,
    last: FinalCalls,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update fathom_sync_runs
         set state = $4, error = $5, finished_at = now(), waiting_until = null,
             waiting_reason = null, lease_token = null,
             api_calls = api_calls + $6, rate_limited = rate_limited + $7
         where org_id = $1 and id = $2 and lease_token = $3 and state = 'running'",
    )
    .bind(org)
    .bind(id)
    .bind(token)
    .bind(state)
    .bind(error)
    .bind(last.calls)
    .bind(last.rate_limited)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends every open run of a connection that is going away (disconnected or replaced).
pub async fn cancel_open(
    conn: &mut PgConnection,
    org: OrgId,
    connection: FathomConnectionId,
    reason: &str,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "update fathom_sync_runs
         set state = 'cancelled', error = $3, finished_at = now(), waiting_until = null,
             waiting_reason = null, lease_token = null
         where org_id = $1 and connection_id = $2 and state in ('queued', 'running')",
    )
    .bind(org)
    .bind(connection)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// One run of the org.
pub async fn find(db: &PgPool, org: OrgId, id: SyncRunId) -> sqlx::Result<Option<SyncRun>> {
    let sql = format!(
        "select {RUN_COLUMNS} from fathom_sync_runs r left join users u on u.id = r.requested_by
         where r.org_id = $1 and r.id = $2"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(id)
        .fetch_optional(db)
        .await
}

/// How many runs the sync health page lists.
pub const RECENT_RUNS: i64 = 20;

/// A connection's most recent runs, newest first.
pub async fn list_recent(
    db: &PgPool,
    org: OrgId,
    connection: FathomConnectionId,
) -> sqlx::Result<Vec<SyncRun>> {
    let sql = format!(
        "select {RUN_COLUMNS} from fathom_sync_runs r left join users u on u.id = r.requested_by
         where r.org_id = $1 and r.connection_id = $2
         order by r.queued_at desc, r.id desc limit $3"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(connection)
        .bind(RECENT_RUNS)
        .fetch_all(db)
        .await
}

/// A connection's sync health at a glance.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SyncHealth {
    pub connection_id: FathomConnectionId,
    /// When the last successful run finished.
    pub last_success_at: Option<DateTime<Utc>>,
    /// The open run, if any.
    pub open_run: Option<SyncRunId>,
    /// The newest finished run's state and error, when it did not succeed.
    pub last_problem: Option<String>,
    pub next_sync_at: Option<DateTime<Utc>>,
}

/// Sync health of each of the org's connections.
pub async fn health(db: &PgPool, org: OrgId) -> sqlx::Result<Vec<SyncHealth>> {
    sqlx::query_as(
        "select c.id as connection_id,
                (select max(finished_at) from fathom_sync_runs r
                  where r.org_id = c.org_id and r.connection_id = c.id and r.state = 'succeeded')
                  as last_success_at,
                (select id from fathom_sync_runs r
                  where r.org_id = c.org_id and r.connection_id = c.id
                    and r.state in ('queued', 'running')) as open_run,
                (select case when r.state = 'succeeded' then null
                             else coalesce(r.error, r.state) end
                   from fathom_sync_runs r
                  where r.org_id = c.org_id and r.connection_id = c.id
                    and r.state in ('succeeded', 'failed')
                  order by r.finished_at desc limit 1) as last_problem,
                c.next_sync_at
         from fathom_connections c
         where c.org_id = $1 and c.state in ('active', 'needs_reconnect')",
    )
    .bind(org)
    .fetch_all(db)
    .await
}
