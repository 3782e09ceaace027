//! A worker process: the job workers (`jobs::run_workers`), housekeeping (expired sessions, old
//! failed sign-ins, old finished tasks), and retrying the deletion of disconnected connections'
//! Fathom webhooks.

use std::time::Duration;

use crate::db;
use crate::integrations::fathom_connections;
use crate::jobs;
use crate::state::AppState;

const HOUSEKEEPING_PERIOD: Duration = Duration::from_secs(15 * 60);
const WEBHOOK_CLEANUP_PERIOD: Duration = Duration::from_secs(15);

/// Runs housekeeping every 15 minutes and due webhook deletions every 15 seconds until `shutdown`
/// resolves.
pub async fn run(state: AppState, shutdown: impl Future<Output = ()>) {
    let (stop_jobs, jobs_stopped) = tokio::sync::oneshot::channel::<()>();
    let job_workers = tokio::spawn(jobs::run_workers(state.clone(), async move {
        let _ = jobs_stopped.await;
    }));
    let mut housekeeping_ticker = tokio::time::interval(HOUSEKEEPING_PERIOD);
    let mut cleanup_ticker = tokio::time::interval(WEBHOOK_CLEANUP_PERIOD);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = housekeeping_ticker.tick() => housekeeping(&state).await,
            _ = cleanup_ticker.tick() => {
                if let Err(err) = fathom_connections::retry_due_webhook_cleanups(&state).await {
                    tracing::warn!(error = ?err, "could not retry Fathom webhook deletions");
                }
            }
        }
    }
    let _ = stop_jobs.send(());
    match job_workers.await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::error!(error = ?err, "job workers failed"),
        Err(err) => tracing::error!(error = %err, "job workers panicked"),
    }
    tracing::info!("worker stopped");
}

/// How long finished background tasks stay in the queue tables.
const DONE_TASKS_KEPT: chrono::Duration = chrono::Duration::days(7);
/// How long tasks that failed for good stay (longer, for investigating).
const FAILED_TASKS_KEPT: chrono::Duration = chrono::Duration::days(30);

/// Deletes expired sessions, failed sign-ins older than a day, and old finished background tasks.
pub async fn housekeeping(state: &AppState) {
    let db = &state.db;
    match db::sessions::delete_expired(db, state.settings.session_max_age()).await {
        Ok(n) if n > 0 => tracing::info!(deleted = n, "deleted expired sessions"),
        Ok(_) => {}
        Err(err) => tracing::warn!(error = %err, "could not delete expired sessions"),
    }
    match db::login_failures::delete_older_than(db, chrono::Duration::days(1)).await {
        Ok(n) if n > 0 => tracing::info!(deleted = n, "deleted old failed sign-ins"),
        Ok(_) => {}
        Err(err) => tracing::warn!(error = %err, "could not delete old failed sign-ins"),
    }
    match db::anonymous_attempts::delete_older_than(db, chrono::Duration::days(1)).await {
        Ok(n) if n > 0 => tracing::info!(deleted = n, "deleted old anonymous attempts"),
        Ok(_) => {}
        Err(err) => tracing::warn!(error = %err, "could not delete old anonymous attempts"),
    }
    match jobs::prune_finished(db, DONE_TASKS_KEPT, FAILED_TASKS_KEPT).await {
        Ok(pruned) if pruned != jobs::Pruned::default() => tracing::info!(
            tasks = pruned.tasks,
            workers = pruned.workers,
            "deleted old finished background tasks"
        ),
        Ok(_) => {}
        Err(err) => tracing::warn!(error = ?err, "could not delete old background tasks"),
    }
}
