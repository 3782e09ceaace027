//! Background jobs on apalis 1.0 with PostgreSQL: the only module that names apalis types. The rest
//! of the code enqueues through the functions here (inside its own transaction where it matters)
//! and writes jobs as plain async functions over their arguments (ids only, never secrets).

pub mod crm_access;
pub mod crm_calls;
pub mod import_crm_customers;
pub mod match_meeting;
pub mod process_fathom_event;
pub mod push_meeting_to_crm;
pub mod refresh_customer_rollups;
pub mod rematch_org;
pub mod sync_fathom;

use std::task::{Context, Poll};
use std::time::Duration;

use apalis::layers::WorkerBuilderExt;
use apalis::prelude::{
    BackendExt, BoxDynError, Data, PollSnapshot, PollStrategy, PollWith, TaskBuilder, WorkerBuilder,
};
use apalis_postgres::{Config, PostgresStorage};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use tracing::Instrument;
use uuid::Uuid;

use crate::db;
use crate::db::crm_import_runs::ImportSource;
use crate::db::fathom_sync_runs::{NewRun, Opened, SyncSource};
use crate::domain::sync_window::{SyncWindow, WindowRules, next_hourly_sync};
use crate::domain::{
    CrmConnectionId, CrmImportRunId, CustomerId, EventId, FathomConnectionId, MeetingId, OrgId,
    SyncRunId, UserId,
};
use crate::state::AppState;

pub use import_crm_customers::import_crm_customers;
pub use match_meeting::match_meeting;
pub use process_fathom_event::process_fathom_event;
pub use push_meeting_to_crm::push_meeting_to_crm;
pub use refresh_customer_rollups::refresh_customer_rollups;
pub use rematch_org::rematch_org;
pub use sync_fathom::sync_fathom;

/// How often idle workers look for new tasks.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Queue of `ProcessFathomEvent` tasks.
const PROCESS_FATHOM_EVENT_QUEUE: &str = "process_fathom_event";
/// Queue of `SyncFathom` tasks.
const SYNC_FATHOM_QUEUE: &str = "sync_fathom";
/// Queue of `MatchMeeting` tasks.
const MATCH_MEETING_QUEUE: &str = "match_meeting";
/// Queue of `RefreshCustomerRollups` tasks.
const REFRESH_CUSTOMER_ROLLUPS_QUEUE: &str = "refresh_customer_rollups";
/// Queue of `ImportCrmCustomers` tasks.
const IMPORT_CRM_CUSTOMERS_QUEUE: &str = "import_crm_customers";
/// Queue of `PushMeetingToCrm` tasks.
const PUSH_MEETING_TO_CRM_QUEUE: &str = "push_meeting_to_crm";
/// Pushes one worker process runs at once (each mostly waits on the CRM; the pacer spaces them).
const PUSH_CONCURRENCY: usize = 4;
/// Queue of `RematchOrg` tasks.
const REMATCH_ORG_QUEUE: &str = "rematch_org";
/// How long a re-match waits after the first edit that asked for it, so the edits that follow
/// share it.
const REMATCH_DEBOUNCE: Duration = Duration::from_secs(2);
/// Attempts before a task that keeps failing (database trouble) is left as failed.
const MAX_ATTEMPTS: usize = 5;
/// Syncs one worker process runs at once (each mostly waits on Fathom).
const SYNC_CONCURRENCY: usize = 8;
/// How often the sync schedule starts due hourly syncs and resumes runs whose worker died.
const SYNC_SCHEDULE_PERIOD: Duration = Duration::from_secs(60);
/// First pause before a failed worker is started again; it doubles while failures repeat.
const RESTART_PAUSE_MIN: Duration = Duration::from_secs(1);
/// Longest pause between restarts; a worker that ran this long starts again from the minimum.
const RESTART_PAUSE_MAX: Duration = Duration::from_secs(60);
/// How often each worker process tells the queue it is alive.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);
/// Heartbeats a worker may miss before the tasks it claimed are handed to others: a process killed
/// mid-job has its tasks running elsewhere within about half a minute (apalis's default is five
/// minutes). A busy but live worker keeps beating, and every job is safe to run twice anyway (event
/// rows are locked and checked, sync runs are held by a lease token).
const MISSED_HEARTBEATS: usize = 2;
/// How long a stopping worker lets running jobs finish (a sync resumes from its cursor anyway).
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Sync one Fathom connection's meetings; the run row (`fathom_sync_runs`) holds its window,
/// cursor and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncFathom {
    pub org_id: OrgId,
    pub connection_id: FathomConnectionId,
    pub source: SyncSource,
    pub run_id: SyncRunId,
}

/// Turn one stored webhook delivery into a meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessFathomEvent {
    pub org_id: OrgId,
    pub event_id: EventId,
    /// 1 for the first attempt; retries after transient failures count up.
    #[serde(default = "first_attempt")]
    pub attempt: u32,
}

impl ProcessFathomEvent {
    /// The first attempt at processing `event_id`.
    pub fn new(org_id: OrgId, event_id: EventId) -> ProcessFathomEvent {
        ProcessFathomEvent {
            org_id,
            event_id,
            attempt: 1,
        }
    }
}

/// Link meetings to the org's customers (after an ingest changed them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchMeeting {
    pub org_id: OrgId,
    pub meeting_ids: Vec<MeetingId>,
}

/// Match every meeting of the org again (after its customers or settings changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RematchOrg {
    pub org_id: OrgId,
}

/// Recompute dashboard figures of some customers, or of all the org's (`None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshCustomerRollups {
    pub org_id: OrgId,
    pub customer_ids: Option<Vec<CustomerId>>,
}

/// Import customers from one CRM connection; the run row (`crm_import_runs`) holds its window
/// and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportCrmCustomers {
    pub org_id: OrgId,
    pub connection_id: CrmConnectionId,
    pub run_id: CrmImportRunId,
}

/// Write one meeting to one CRM connection (or update what was written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushMeetingToCrm {
    pub org_id: OrgId,
    pub meeting_id: MeetingId,
    pub connection_id: CrmConnectionId,
    /// 1 for the first attempt; retries after transient failures count up.
    #[serde(default = "first_attempt")]
    pub attempt: u32,
}

fn first_attempt() -> u32 {
    1
}

/// Creates or upgrades apalis's own tables (schema `apalis`).
pub async fn setup(db: &PgPool) -> anyhow::Result<()> {
    PostgresStorage::setup(db)
        .await
        .map_err(|e| anyhow::anyhow!("apalis storage setup failed: {e}"))
}

/// What [`prune_finished`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pruned {
    /// Tasks that finished long enough ago.
    pub tasks: u64,
    /// Registrations of worker processes that are gone.
    pub workers: u64,
}

/// Keeps apalis's tables from growing without end: deletes tasks done more than `done_for` ago,
/// tasks that failed for good more than `failed_for` ago (kept longer, to investigate), and the
/// registrations of worker processes silent for a day that no task still names.
pub async fn prune_finished(
    db: &PgPool,
    done_for: chrono::Duration,
    failed_for: chrono::Duration,
) -> anyhow::Result<Pruned> {
    let tasks = sqlx::query(
        "delete from apalis.jobs
          where (status = 'Done' and done_at < now() - $1)
             or ((status = 'Killed' or (status = 'Failed' and attempts >= max_attempts))
                 and coalesce(done_at, run_at) < now() - $2)",
    )
    .bind(done_for)
    .bind(failed_for)
    .execute(db)
    .await?
    .rows_affected();
    let workers = sqlx::query(
        "delete from apalis.workers w
          where w.last_seen < now() - interval '1 day'
            and not exists (select 1 from apalis.jobs j where j.lock_by = w.id)",
    )
    .execute(db)
    .await?
    .rows_affected();
    Ok(Pruned { tasks, workers })
}

/// Enqueues `ProcessFathomEvent` on `conn`, so it commits (or not) with the caller's transaction.
pub async fn enqueue_process_fathom_event(
    conn: &mut PgConnection,
    args: ProcessFathomEvent,
) -> anyhow::Result<()> {
    let task = TaskBuilder::new(serde_json::to_vec(&args)?)
        .max_attempts(MAX_ATTEMPTS)
        .build();
    apalis_postgres::queries::push_tasks(conn, PROCESS_FATHOM_EVENT_QUEUE, vec![task])
        .await
        .map_err(|e| anyhow::anyhow!("could not enqueue ProcessFathomEvent: {e}"))
}

/// `ProcessFathomEvent` as a row of the queue, for storing in one statement with its event
/// (`db::fathom_events::insert_batch`).
pub fn process_fathom_event_row(
    args: ProcessFathomEvent,
) -> anyhow::Result<db::fathom_events::JobRow> {
    Ok(db::fathom_events::JobRow {
        id: ulid::Ulid::generate().to_string(),
        job_type: PROCESS_FATHOM_EVENT_QUEUE,
        job: serde_json::to_vec(&args)?,
        max_attempts: i32::try_from(MAX_ATTEMPTS).unwrap_or(i32::MAX),
    })
}

/// Enqueues a later attempt of `ProcessFathomEvent`, to run after `pause`.
pub async fn enqueue_process_fathom_event_after(
    conn: &mut PgConnection,
    args: ProcessFathomEvent,
    pause: Duration,
) -> anyhow::Result<()> {
    let task = TaskBuilder::new(serde_json::to_vec(&args)?)
        .max_attempts(MAX_ATTEMPTS)
        .run_after(pause)
        .build();
    apalis_postgres::queries::push_tasks(conn, PROCESS_FATHOM_EVENT_QUEUE, vec![task])
        .await
        .map_err(|e| anyhow::anyhow!("could not enqueue ProcessFathomEvent: {e}"))
}

/// Enqueues several `ProcessFathomEvent`s on `conn` in one statement.
pub async fn enqueue_process_fathom_events(
    conn: &mut PgConnection,
    all: Vec<ProcessFathomEvent>,
) -> anyhow::Result<()> {
    if all.is_empty() {
        return Ok(());
    }
    let tasks = all
        .iter()
        .map(|args| {
            Ok(TaskBuilder::new(serde_json::to_vec(args)?)
                .max_attempts(MAX_ATTEMPTS)
                .build())
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    apalis_postgres::queries::push_tasks(conn, PROCESS_FATHOM_EVENT_QUEUE, tasks)
        .await
        .map_err(|e| anyhow::anyhow!("could not enqueue ProcessFathomEvent: {e}"))
}

/// Enqueues `MatchMeeting` for `meetings` on `conn` (nothing when there are none), so it commits
/// with the ingest that changed them.
pub async fn enqueue_match_meeting(
    conn: &mut PgConnection,
    org: OrgId,
    meetings: Vec<MeetingId>,
) -> anyhow::Result<()> {
    if meetings.is_empty() {
        return Ok(());
    }
    let args = MatchMeeting {
        org_id: org,
        meeting_ids: meetings,
    };
    let task = TaskBuilder::new(serde_json::to_vec(&args)?)
        .max_attempts(MAX_ATTEMPTS)
        .build();
    apalis_postgres::queries::push_tasks(conn, MATCH_MEETING_QUEUE, vec![task])
        .await
        .map_err(|e| anyhow::anyhow!("could not enqueue MatchMeeting: {e}"))
}

/// Queues a CRM import of `connection` unless one is open, in the caller's transaction: the
/// first (everything) or an incremental one (what changed since the newest record seen, with an
/// overlap). Returns the new run, or `None` when one was already open.
pub async fn request_crm_import(
    conn: &mut PgConnection,
    settings: &crate::config::Settings,
    org: OrgId,
    connection: CrmConnectionId,
    source: ImportSource,
    requested_by: Option<UserId>,
) -> anyhow::Result<Option<CrmImportRunId>> {
    let since = match source {
        ImportSource::Initial => None,
        _ => db::crm_connections::get(conn, org, connection)
            .await?
            .and_then(|c| Some((c.imported_through?, c.provider)))
            .map(|(t, provider)| t - import_crm_customers::overlap(settings, provider)),
    };
    let Some(run_id) =
        db::crm_import_runs::open(conn, org, connection, source, since, requested_by).await?
    else {
        return Ok(None);
    };
    let args = ImportCrmCustomers {
        org_id: org,
        connection_id: connection,
        run_id,
    };
    let task = TaskBuilder::new(serde_json::to_vec(&args)?)
        .max_attempts(MAX_ATTEMPTS)
        .build();
    apalis_postgres::queries::push_tasks(conn, IMPORT_CRM_CUSTOMERS_QUEUE, vec![task])
        .await
        .map_err(|e| anyhow::anyhow!("could not enqueue ImportCrmCustomers: {e}"))?;
    Ok(Some(run_id))
}

/// Queues `PushMeetingToCrm` for each of `meetings` and each CRM connection of the org that
/// pushes, in the caller's transaction (nothing when there are none).
pub async fn enqueue_pushes(
    conn: &mut PgConnection,
    org: OrgId,
    meetings: &[MeetingId],
) -> anyhow::Result<()> {
    if meetings.is_empty() {
        return Ok(());
    }
    let connections = db::crm_connections::pushing(conn, org).await?;
    if connections.is_empty() {
        return Ok(());
    }
    let mut tasks = Vec::with_capacity(meetings.len() * connections.len());
    for meeting in meetings {
        for connection in &connections {
            let args = PushMeetingToCrm {
                org_id: org,
                meeting_id: *meeting,
                connection_id: *connection,
                attempt: 1,
            };
            tasks.push(
                TaskBuilder::new(serde_json::to_vec(&args)?)
                    .max_attempts(MAX_ATTEMPTS)
                    .build(),
            );
        }
    }
    apalis_postgres::queries::push_tasks(conn, PUSH_MEETING_TO_CRM_QUEUE, tasks)
        .await
        .map_err(|e| anyhow::anyhow!("could not enqueue PushMeetingToCrm: {e}"))
}

/// Queues one `PushMeetingToCrm` to run after `pause` (a retry, or a person's *Retry*).
pub async fn enqueue_push_after(
    conn: &mut PgConnection,
    args: PushMeetingToCrm,
    pause: Duration,
) -> anyhow::Result<()> {
    let task = TaskBuilder::new(serde_json::to_vec(&args)?)
        .max_attempts(MAX_ATTEMPTS)
        .run_after(pause)
        .build();
    apalis_postgres::queries::push_tasks(conn, PUSH_MEETING_TO_CRM_QUEUE, vec![task])
        .await
        .map_err(|e| anyhow::anyhow!("could not enqueue PushMeetingToCrm: {e}"))
}

/// Queues the hourly import of every active CRM connection whose hour has come.
pub async fn enqueue_due_crm_imports(state: &AppState) -> anyhow::Result<usize> {
    let mut tx = state.db.begin().await?;
    let due = db::crm_connections::take_due_imports(&mut tx, SCHEDULE_BATCH).await?;
    let mut queued = 0;
    for (org, connection) in &due {
        if request_crm_import(
            &mut tx,
            &state.settings,
            *org,
            *connection,
            ImportSource::Hourly,
            None,
        )
        .await?
        .is_some()
        {
            queued += 1;
        }
    }
    tx.commit().await?;
    Ok(queued)
}

/// Enqueues `RefreshCustomerRollups` on `conn` (nothing for an empty list of customers).
pub async fn enqueue_refresh_customer_rollups(
    conn: &mut PgConnection,
    org: OrgId,
    customers: Option<Vec<CustomerId>>,
) -> anyhow::Result<()> {
    if customers.as_ref().is_some_and(Vec::is_empty) {
        return Ok(());
    }
    let args = RefreshCustomerRollups {
        org_id: org,
        customer_ids: customers,
    };
    let task = TaskBuilder::new(serde_json::to_vec(&args)?)
        .max_attempts(MAX_ATTEMPTS)
        .build();
    apalis_postgres::queries::push_tasks(conn, REFRESH_CUSTOMER_ROLLUPS_QUEUE, vec![task])
        .await
        .map_err(|e| anyhow::anyhow!("could not enqueue RefreshCustomerRollups: {e}"))
}

/// Orgs whose dashboard figures are refreshed each round of the schedule at most.
const STALE_ROLLUP_ORGS: i64 = 100;

/// Queues a refresh of every org whose figures are a day old (their 30- and 90-day counts move
/// with time even when nothing else happens).
pub async fn refresh_stale_rollups(state: &AppState) -> anyhow::Result<usize> {
    let orgs = db::customer_rollups::orgs_with_stale(
        &state.db,
        chrono::Duration::days(1),
        STALE_ROLLUP_ORGS,
    )
    .await?;
    let mut conn = state.db.acquire().await?;
    for org in &orgs {
        enqueue_refresh_customer_rollups(&mut conn, *org, None).await?;
    }
    Ok(orgs.len())
}

/// Asks for a re-match of the org in the caller's transaction: queues `RematchOrg` a moment ahead
/// unless one is already waiting (edits in quick succession share it).
pub async fn request_rematch(conn: &mut PgConnection, org: OrgId) -> anyhow::Result<()> {
    if !db::meeting_customers::request_rematch(conn, org).await? {
        return Ok(());
    }
    let task = TaskBuilder::new(serde_json::to_vec(&RematchOrg { org_id: org })?)
        .max_attempts(MAX_ATTEMPTS)
        .run_after(REMATCH_DEBOUNCE)
        .build();
    apalis_postgres::queries::push_tasks(conn, REMATCH_ORG_QUEUE, vec![task])
        .await
        .map_err(|e| anyhow::anyhow!("could not enqueue RematchOrg: {e}"))
}

/// Enqueues `SyncFathom` on `conn`, so it commits (or not) with the run row that describes it.
pub async fn enqueue_sync_fathom(conn: &mut PgConnection, args: SyncFathom) -> anyhow::Result<()> {
    let task = TaskBuilder::new(serde_json::to_vec(&args)?)
        .max_attempts(MAX_ATTEMPTS)
        .build();
    apalis_postgres::queries::push_tasks(conn, SYNC_FATHOM_QUEUE, vec![task])
        .await
        .map_err(|e| anyhow::anyhow!("could not enqueue SyncFathom: {e}"))
}

/// Queues a sync of `connection` unless it has one open, in the caller's transaction (the job is
/// enqueued with the run row). Returns the new or already-open run.
pub async fn request_sync(
    conn: &mut PgConnection,
    state: &AppState,
    org: OrgId,
    connection: FathomConnectionId,
    source: SyncSource,
    window: SyncWindow,
    requested_by: Option<UserId>,
) -> anyhow::Result<Opened> {
    let settings = &state.settings.fathom;
    let last_success = match window {
        SyncWindow::SinceLastSuccess => {
            db::fathom_sync_runs::last_success_started_at(conn, org, connection).await?
        }
        SyncWindow::LastDays(_) => None,
    };
    let rules = WindowRules {
        initial_sync_days: settings.initial_sync_days,
        lookback_minutes: settings.sync_lookback_minutes,
    };
    let new = NewRun {
        connection_id: connection,
        source,
        created_after: window.created_after(chrono::Utc::now(), last_success, rules),
        requested_by,
    };
    let opened =
        db::fathom_sync_runs::open(conn, org, &new, settings.sync_lease_seconds as f64).await?;
    if let Opened::New(run_id) = opened {
        enqueue_sync_fathom(
            conn,
            SyncFathom {
                org_id: org,
                connection_id: connection,
                source,
                run_id,
            },
        )
        .await?;
    }
    Ok(opened)
}

/// Connections handled per transaction by the schedule.
const SCHEDULE_BATCH: i64 = 100;

/// Queues an hourly sync for every active connection whose slot has come (skipping those with a
/// run open) and moves each to its next slot. Several worker processes may run this at once: each
/// connection is taken by one. Returns how many runs were queued.
pub async fn enqueue_due_syncs(state: &AppState) -> anyhow::Result<usize> {
    let mut queued = 0;
    loop {
        let mut tx = state.db.begin().await?;
        let due = db::system::due_syncs_for_update(&mut tx, SCHEDULE_BATCH).await?;
        let now = chrono::Utc::now();
        for c in &due {
            let opened = request_sync(
                &mut tx,
                state,
                c.org_id,
                c.id,
                SyncSource::Hourly,
                SyncWindow::SinceLastSuccess,
                None,
            )
            .await?;
            if matches!(opened, Opened::New(_)) {
                queued += 1;
            }
            db::fathom_connections::set_next_sync_at(
                &mut tx,
                c.org_id,
                c.id,
                next_hourly_sync(c.id, now),
            )
            .await?;
        }
        tx.commit().await?;
        if (due.len() as i64) < SCHEDULE_BATCH {
            return Ok(queued);
        }
    }
}

/// Enqueues again every open run whose worker stopped heartbeating (killed, crashed) or that no
/// worker took up in time; the next worker resumes it from its stored cursor.
pub async fn resume_orphaned_syncs(state: &AppState) -> anyhow::Result<usize> {
    let lease = state.settings.fathom.sync_lease_seconds as f64;
    let mut tx = state.db.begin().await?;
    let orphans = db::system::reclaim_orphaned_sync_runs(&mut tx, lease).await?;
    for run in &orphans {
        enqueue_sync_fathom(
            &mut tx,
            SyncFathom {
                org_id: run.org_id,
                connection_id: run.connection_id,
                source: run.source,
                run_id: run.id,
            },
        )
        .await?;
        tracing::info!(org = %run.org_id, run_id = %run.id, "resuming a sync run whose worker stopped");
    }
    tx.commit().await?;
    Ok(orphans.len())
}

/// The every-minute schedule: due hourly syncs, then orphaned runs.
pub async fn run_schedule(state: &AppState) -> anyhow::Result<()> {
    let queued = enqueue_due_syncs(state).await?;
    let resumed = resume_orphaned_syncs(state).await?;
    if queued + resumed > 0 {
        tracing::info!(queued, resumed, "sync schedule ran");
    }
    Ok(())
}

async fn run_process_fathom_event(
    args: ProcessFathomEvent,
    state: Data<AppState>,
) -> Result<(), BoxDynError> {
    let span = tracing::info_span!(
        "job",
        job = PROCESS_FATHOM_EVENT_QUEUE,
        org_id = %args.org_id,
        event_id = %args.event_id
    );
    async {
        match process_fathom_event(&state, args).await {
            Ok(()) => Ok(()),
            // Retried by a new task after a pause: apalis itself would retry at once.
            Err(err) => process_fathom_event::retry_or_fail(&state, args, &err).await,
        }
    }
    .instrument(span)
    .await
    .map_err(|e| BoxDynError::from(format!("{e:#}")))
}

async fn run_match_meeting(args: MatchMeeting, state: Data<AppState>) -> Result<(), BoxDynError> {
    let span = tracing::info_span!("job", job = MATCH_MEETING_QUEUE, org_id = %args.org_id);
    match_meeting(&state, args)
        .instrument(span)
        .await
        .map_err(|e| BoxDynError::from(format!("{e:#}")))
}

async fn run_refresh_customer_rollups(
    args: RefreshCustomerRollups,
    state: Data<AppState>,
) -> Result<(), BoxDynError> {
    let span =
        tracing::info_span!("job", job = REFRESH_CUSTOMER_ROLLUPS_QUEUE, org_id = %args.org_id);
    refresh_customer_rollups(&state, args)
        .instrument(span)
        .await
        .map_err(|e| BoxDynError::from(format!("{e:#}")))
}

async fn run_import_crm_customers(
    args: ImportCrmCustomers,
    state: Data<AppState>,
) -> Result<(), BoxDynError> {
    let span = tracing::info_span!("job", job = IMPORT_CRM_CUSTOMERS_QUEUE, org_id = %args.org_id,
        connection_id = %args.connection_id, run_id = %args.run_id);
    import_crm_customers(&state, args)
        .instrument(span)
        .await
        .map_err(|e| BoxDynError::from(format!("{e:#}")))
}

async fn run_push_meeting_to_crm(
    args: PushMeetingToCrm,
    state: Data<AppState>,
) -> Result<(), BoxDynError> {
    let span = tracing::info_span!("job", job = PUSH_MEETING_TO_CRM_QUEUE, org_id = %args.org_id,
        meeting_id = %args.meeting_id, connection_id = %args.connection_id);
    push_meeting_to_crm(&state, args)
        .instrument(span)
        .await
        .map_err(|e| BoxDynError::from(format!("{e:#}")))
}

async fn run_rematch_org(args: RematchOrg, state: Data<AppState>) -> Result<(), BoxDynError> {
    let span = tracing::info_span!("job", job = REMATCH_ORG_QUEUE, org_id = %args.org_id);
    rematch_org(&state, args)
        .instrument(span)
        .await
        .map(|_| ())
        .map_err(|e| BoxDynError::from(format!("{e:#}")))
}

async fn run_sync_fathom(args: SyncFathom, state: Data<AppState>) -> Result<(), BoxDynError> {
    let span = tracing::info_span!(
        "job",
        job = SYNC_FATHOM_QUEUE,
        org_id = %args.org_id,
        connection_id = %args.connection_id,
        run_id = %args.run_id,
        source = ?args.source
    );
    sync_fathom(&state, args)
        .instrument(span)
        .await
        .map_err(|e| BoxDynError::from(format!("{e:#}")))
}

/// The sync schedule: every minute (and at start, to resume what a previous process left), start
/// due hourly syncs, resume orphaned runs, and sweep webhook events left pending. A plain interval rather than apalis-cron: in apalis
/// 1.0 a cron worker in the same process stalled the PostgreSQL workers' polling.
async fn run_sync_schedule(state: AppState, mut stopped: tokio::sync::watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(SYNC_SCHEDULE_PERIOD);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            changed = stopped.changed() => {
                if changed.is_err() || *stopped.borrow() {
                    return;
                }
            }
            _ = ticker.tick() => {
                if let Err(err) = run_schedule(&state).await {
                    tracing::warn!(error = ?err, "sync schedule failed; next try in a minute");
                }
                if let Err(err) = process_fathom_event::sweep_stale_events(&state).await {
                    tracing::warn!(error = ?err, "sweep of pending events failed; next try in a minute");
                }
                if let Err(err) = enqueue_due_crm_imports(&state).await {
                    tracing::warn!(error = ?err, "hourly CRM imports could not be queued; next try in a minute");
                }
                if let Err(err) = refresh_stale_rollups(&state).await {
                    tracing::warn!(error = ?err, "refresh of day-old dashboards failed; next try in a minute");
                }
            }
        }
    }
}

fn storage<T>(
    db: &PgPool,
    queue: &str,
    batch_size: usize,
) -> PollWith<PostgresStorage<T>, RearmingInterval> {
    PostgresStorage::<T>::new(db)
        .with_config(
            Config::default()
                .queue(queue)
                .batch_size(batch_size)
                .heartbeat_interval(HEARTBEAT_INTERVAL)
                .missed_heartbeats(MISSED_HEARTBEATS),
        )
        // Polling, not LISTEN/NOTIFY alone: a missed notification must not strand a task.
        .poll_with_strategy(RearmingInterval::new(POLL_INTERVAL))
}

/// Wakes an idle worker every `period` to look for tasks. apalis 1.0's own interval strategy arms
/// its next timer without polling it, so a tick that fires while a fetch is in flight leaves the
/// worker with no wake-up at all (seen under load: tasks stayed `Pending` for good). This one
/// always leaves its timer registered with the current waker.
pub struct RearmingInterval {
    ticker: tokio::time::Interval,
}

impl RearmingInterval {
    fn new(period: Duration) -> RearmingInterval {
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        RearmingInterval { ticker }
    }
}

impl PollStrategy for RearmingInterval {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        let mut fired = false;
        // Poll until Pending, so the next tick is registered with this waker.
        while self.ticker.poll_tick(cx).is_ready() {
            fired = true;
        }
        if fired {
            Poll::Ready(Some(()))
        } else {
            Poll::Pending
        }
    }
}

/// Runs every job worker and the sync schedule until `shutdown` resolves. Any number of
/// processes may do this against one database: tasks are claimed with `FOR UPDATE SKIP LOCKED`,
/// and a sync run is held by one worker at a time (`fathom_sync_runs.lease_token`).
pub async fn run_workers(
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let name = format!("debrief-{}", Uuid::now_v7());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = {
        let stopped = stopped.clone();
        move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|s| *s).await;
                Ok::<(), std::io::Error>(())
            }
        }
    };

    // Each worker is its own task, so one busy or waiting job never delays another queue.
    let events = {
        let (state, name, until_stopped) = (state.clone(), name.clone(), until_stopped.clone());
        move |generation| {
            WorkerBuilder::new(worker_name(&name, "process-fathom-event", generation))
                .backend(storage::<ProcessFathomEvent>(
                    &state.db,
                    PROCESS_FATHOM_EVENT_QUEUE,
                    10,
                ))
                .data(state.clone())
                .build(run_process_fathom_event)
                .run_until(until_stopped())
        }
    };
    let matches = {
        let (state, name, until_stopped) = (state.clone(), name.clone(), until_stopped.clone());
        move |generation| {
            WorkerBuilder::new(worker_name(&name, "match-meeting", generation))
                .backend(storage::<MatchMeeting>(&state.db, MATCH_MEETING_QUEUE, 10))
                .data(state.clone())
                .build(run_match_meeting)
                .run_until(until_stopped())
        }
    };
    let rematches = {
        let (state, name, until_stopped) = (state.clone(), name.clone(), until_stopped.clone());
        move |generation| {
            WorkerBuilder::new(worker_name(&name, "rematch-org", generation))
                .backend(storage::<RematchOrg>(&state.db, REMATCH_ORG_QUEUE, 1))
                .data(state.clone())
                .build(run_rematch_org)
                .run_until(until_stopped())
        }
    };
    let rollups = {
        let (state, name, until_stopped) = (state.clone(), name.clone(), until_stopped.clone());
        move |generation| {
            WorkerBuilder::new(worker_name(&name, "refresh-customer-rollups", generation))
                .backend(storage::<RefreshCustomerRollups>(
                    &state.db,
                    REFRESH_CUSTOMER_ROLLUPS_QUEUE,
                    10,
                ))
                .data(state.clone())
                .build(run_refresh_customer_rollups)
                .run_until(until_stopped())
        }
    };
    let imports = {
        let (state, name, until_stopped) = (state.clone(), name.clone(), until_stopped.clone());
        move |generation| {
            WorkerBuilder::new(worker_name(&name, "import-crm-customers", generation))
                .backend(storage::<ImportCrmCustomers>(
                    &state.db,
                    IMPORT_CRM_CUSTOMERS_QUEUE,
                    2,
                ))
                .concurrency(2)
                .data(state.clone())
                .build(run_import_crm_customers)
                .run_until(until_stopped())
        }
    };
    let pushes = {
        let (state, name, until_stopped) = (state.clone(), name.clone(), until_stopped.clone());
        move |generation| {
            WorkerBuilder::new(worker_name(&name, "push-meeting-to-crm", generation))
                .backend(storage::<PushMeetingToCrm>(
                    &state.db,
                    PUSH_MEETING_TO_CRM_QUEUE,
                    PUSH_CONCURRENCY,
                ))
                .concurrency(PUSH_CONCURRENCY)
                .data(state.clone())
                .build(run_push_meeting_to_crm)
                .run_until(until_stopped())
        }
    };
    let syncs = {
        let (state, until_stopped) = (state.clone(), until_stopped.clone());
        move |generation| {
            WorkerBuilder::new(worker_name(&name, "sync-fathom", generation))
                .backend(storage::<SyncFathom>(
                    &state.db,
                    SYNC_FATHOM_QUEUE,
                    SYNC_CONCURRENCY,
                ))
                .concurrency(SYNC_CONCURRENCY)
                .data(state.clone())
                .build(run_sync_fathom)
                .run_until(until_stopped())
        }
    };
    let workers = [
        tokio::spawn(supervise("process_fathom_event", stopped.clone(), events)),
        tokio::spawn(supervise("sync_fathom", stopped.clone(), syncs)),
        tokio::spawn(supervise("match_meeting", stopped.clone(), matches)),
        tokio::spawn(supervise("rematch_org", stopped.clone(), rematches)),
        tokio::spawn(supervise("import_crm_customers", stopped.clone(), imports)),
        tokio::spawn(supervise("push_meeting_to_crm", stopped.clone(), pushes)),
        tokio::spawn(supervise(
            "refresh_customer_rollups",
            stopped.clone(),
            rollups,
        )),
        tokio::spawn(async move {
            run_sync_schedule(state, stopped).await;
            tracing::info!(worker = "sync_schedule", "job worker stopped");
            Ok(())
        }),
    ];

    shutdown.await;
    let _ = stop.send(true);
    let mut failed = Vec::new();
    for worker in workers {
        match tokio::time::timeout(SHUTDOWN_TIMEOUT, worker).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => failed.push(e),
            Ok(Err(e)) => failed.push(format!("panicked: {e}")),
            // A sync still waiting on Fathom: its run resumes from the cursor elsewhere.
            Err(_) => tracing::warn!("a job worker did not stop in time; leaving it"),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "job workers stopped: {}",
            failed.join("; ")
        ))
    }
}

/// The name a worker registers under in `apalis.workers`: the process's name, the queue, and
/// how many times it was restarted (apalis refuses a second registration under a live name).
fn worker_name(process: &str, queue: &str, generation: u32) -> String {
    match generation {
        0 => format!("{process}-{queue}"),
        n => format!("{process}-{queue}-restart{n}"),
    }
}

/// Keeps one job worker running until the process stops. An apalis worker whose backend fails
/// once (a failover, a dropped connection, a lost table) ends for good, while the web side keeps
/// accepting webhooks whose jobs would then wait forever; so a failed worker is built again after
/// a pause that doubles while failures repeat. Tasks it held are re-queued by apalis once its
/// heartbeat is stale; sync runs resume from their cursor when their lease runs out.
async fn supervise<F, Fut, E>(
    worker: &'static str,
    mut stopped: tokio::sync::watch::Receiver<bool>,
    mut start: F,
) -> Result<(), String>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut pause = RESTART_PAUSE_MIN;
    let mut generation = 0;
    loop {
        let started = tokio::time::Instant::now();
        let result = start(generation)
            .await
            .map_err(|e| format!("{worker}: {e}"));
        if *stopped.borrow() {
            match &result {
                Ok(()) => tracing::info!(worker, "job worker stopped"),
                Err(e) => tracing::error!(worker, error = %e, "job worker failed while stopping"),
            }
            return result;
        }
        if started.elapsed() >= RESTART_PAUSE_MAX {
            pause = RESTART_PAUSE_MIN;
        }
        match &result {
            Ok(()) => tracing::error!(worker, ?pause, "job worker ended; restarting it"),
            Err(e) => {
                tracing::error!(worker, error = %e, ?pause, "job worker failed; restarting it")
            }
        }
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => return Ok(()),
            _ = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(RESTART_PAUSE_MAX);
        generation += 1;
    }
}
