//! Background jobs on apalis 1.0 with PostgreSQL: the only module that names apalis types. The rest
//! of the code enqueues through the functions here (inside its own transaction where it matters)
//! and writes jobs as plain async functions over their arguments (ids only, never secrets).

pub mod process_fathom_event;

use std::time::Duration;

use apalis::prelude::{BackendExt, BoxDynError, Data, Strategy, TaskBuilder, WorkerBuilder};
use apalis_postgres::{Config, PostgresStorage};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::OrgId;
use crate::state::AppState;

pub use process_fathom_event::process_fathom_event;

/// How often idle workers look for new tasks.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Queue of `ProcessFathomEvent` tasks.
const PROCESS_FATHOM_EVENT_QUEUE: &str = "process_fathom_event";
/// Attempts before a task that keeps failing (database trouble) is left as failed.
const MAX_ATTEMPTS: usize = 5;

/// Turn one stored webhook delivery into a meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessFathomEvent {
    pub org_id: OrgId,
    pub event_id: Uuid,
}

/// Creates or upgrades apalis's own tables (schema `apalis`).
pub async fn setup(db: &PgPool) -> anyhow::Result<()> {
    PostgresStorage::setup(db)
        .await
        .map_err(|e| anyhow::anyhow!("apalis storage setup failed: {e}"))
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

async fn run_process_fathom_event(
    args: ProcessFathomEvent,
    state: Data<AppState>,
) -> Result<(), BoxDynError> {
    process_fathom_event(&state, args)
        .await
        .map_err(|e| BoxDynError::from(format!("{e:#}")))
}

/// Runs every job worker until `shutdown` resolves. Any number of processes may do this against one
/// database: tasks are claimed with `FOR UPDATE SKIP LOCKED`.
pub async fn run_workers(
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let name = format!("debrief-{}", Uuid::now_v7());
    let storage = PostgresStorage::<ProcessFathomEvent>::new(&state.db)
        .with_config(
            Config::default()
                .queue(PROCESS_FATHOM_EVENT_QUEUE)
                .batch_size(10),
        )
        // Polling, not LISTEN/NOTIFY alone: a missed notification must not strand a task.
        .poll_with_strategy(Strategy::new().interval(POLL_INTERVAL));
    let worker = WorkerBuilder::new(format!("{name}-process-fathom-event"))
        .backend(storage)
        .data(state)
        .build(run_process_fathom_event);
    worker
        .run_until(async move {
            shutdown.await;
            Ok::<(), std::io::Error>(())
        })
        .await
        .map_err(|e| anyhow::anyhow!("job worker stopped: {e}"))
}
