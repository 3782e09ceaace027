//! `ProcessFathomEvent`: parses a stored webhook body and upserts its meeting, in one transaction
//! with marking the event processed. What can never succeed (a body that is not a meeting, a meeting
//! the database refuses) marks the event failed at once, visible and replayable. Anything else (the
//! database unreachable, say) is retried with growing pauses and, after the last attempt, failed
//! too; a sweep re-queues events whose job was lost, so no event stays pending for good.

use std::time::Duration;

use anyhow::Context;

use crate::db;
use crate::db::fathom_events::EventState;
use crate::db::meetings::{UpsertOutcome, Via};
use crate::fathom::mapping::parse_delivery;
use crate::jobs::{self, ProcessFathomEvent};
use crate::state::AppState;

/// Attempts of one event's job (the first and its retries) before the event is failed.
pub const ATTEMPTS: u32 = 6;
/// Pause before the first retry; it doubles with each further one (5 s … 80 s).
const RETRY_BASE: Duration = Duration::from_secs(5);
/// An event still pending this long after it arrived (or after its last sweep) is swept.
pub const STALE_AFTER: chrono::Duration = chrono::Duration::minutes(15);
/// Sweeps of one event before it is failed for a person to replay.
pub const MAX_SWEEPS: i32 = 3;

/// Processes one stored event; a second run of a processed event changes nothing. An `Err` is a
/// transient failure worth retrying.
pub async fn process_fathom_event(
    state: &AppState,
    args: ProcessFathomEvent,
) -> anyhow::Result<()> {
    let org = args.org_id;
    let mut tx = state.db.begin().await?;
    let Some(event) = db::fathom_events::find_for_update(&mut tx, org, args.event_id).await? else {
        tracing::info!(%org, event_id = %args.event_id, "event gone (org deleted?); nothing to do");
        return Ok(());
    };
    if event.state != EventState::Pending {
        return Ok(());
    }
    let record = match parse_delivery(&event.body) {
        Ok(record) => record,
        Err(reason) => {
            db::fathom_events::finish(&mut tx, org, event.id, Some(&reason)).await?;
            tx.commit().await?;
            tracing::warn!(%org, event_id = %event.id, %reason, "Fathom event failed; kept for replay");
            return Ok(());
        }
    };
    let source = event.connection_id.map(|c| (c, Via::Webhook));
    let mut savepoint = sqlx::Acquire::begin(&mut *tx).await?;
    // A delivery's content is as fresh as its arrival: a sync page asked for later wins over it,
    // and it never overwrites what such a page stored (a replay of an old event included).
    match db::meetings::upsert(&mut savepoint, org, &record, source, event.received_at).await {
        Ok((meeting_id, outcome)) => {
            savepoint.commit().await?;
            if outcome != UpsertOutcome::Unchanged {
                jobs::enqueue_match_meeting(&mut tx, org, vec![meeting_id]).await?;
            }
            db::fathom_events::finish(&mut tx, org, event.id, None).await?;
            tx.commit().await?;
            tracing::info!(%org, event_id = %event.id, %meeting_id, recording_id = record.recording_id,
                ?outcome, "Fathom event processed");
        }
        Err(err) if db::is_refused_value(&err) => {
            savepoint.rollback().await?;
            let reason = format!("The database refused this meeting: {}", db::refusal(&err));
            db::fathom_events::finish(&mut tx, org, event.id, Some(&reason)).await?;
            tx.commit().await?;
            tracing::warn!(%org, event_id = %event.id, recording_id = record.recording_id,
                %reason, "Fathom event failed; kept for replay");
        }
        Err(err) => return Err(err).context("storing the meeting"),
    }
    Ok(())
}

/// Pause before attempt `next` (2-based: the first retry waits [`RETRY_BASE`]).
pub fn retry_pause(next: u32) -> Duration {
    RETRY_BASE * 2u32.pow(next.saturating_sub(2).min(10))
}

/// After a transient failure: queues the next attempt after a pause, or, after the last, fails the
/// event with the cause so a person sees it and can replay it.
pub async fn retry_or_fail(
    state: &AppState,
    args: ProcessFathomEvent,
    err: &anyhow::Error,
) -> anyhow::Result<()> {
    let attempt = args.attempt.max(1);
    if attempt >= ATTEMPTS {
        let reason = format!("Could not be stored after {attempt} attempts: {err:#}");
        if db::fathom_events::fail_pending(&state.db, args.org_id, args.event_id, &reason).await? {
            tracing::warn!(org = %args.org_id, event_id = %args.event_id, %reason,
                "Fathom event failed; kept for replay");
        }
        return Ok(());
    }
    let next = ProcessFathomEvent {
        attempt: attempt + 1,
        ..args
    };
    let pause = retry_pause(next.attempt);
    let mut conn = state.db.acquire().await?;
    jobs::enqueue_process_fathom_event_after(&mut conn, next, pause).await?;
    tracing::warn!(org = %args.org_id, event_id = %args.event_id, attempt, ?pause, error = %format!("{err:#}"),
        "Fathom event not stored yet; retrying after a pause");
    Ok(())
}

/// Re-queues events left pending past [`STALE_AFTER`] (their job was lost, or kept failing for
/// longer than its retries) and fails those swept [`MAX_SWEEPS`] times already.
pub async fn sweep_stale_events(state: &AppState) -> anyhow::Result<db::fathom_events::Swept> {
    let mut tx = state.db.begin().await?;
    let swept = db::fathom_events::sweep_stale(&mut tx, STALE_AFTER, MAX_SWEEPS).await?;
    let jobs = swept
        .requeued
        .iter()
        .map(|(org_id, event_id)| ProcessFathomEvent {
            org_id: *org_id,
            event_id: *event_id,
            attempt: 1,
        })
        .collect();
    jobs::enqueue_process_fathom_events(&mut tx, jobs).await?;
    tx.commit().await?;
    if !swept.requeued.is_empty() || swept.failed > 0 {
        tracing::warn!(
            requeued = swept.requeued.len(),
            failed = swept.failed,
            "swept Fathom events left pending"
        );
    }
    Ok(swept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_longer_each_time() {
        let pauses: Vec<u64> = (2..=ATTEMPTS).map(|n| retry_pause(n).as_secs()).collect();
        assert_eq!(pauses, vec![5, 10, 20, 40, 80]);
        let total: u64 = pauses.iter().sum();
        assert!(
            (total as i64) < STALE_AFTER.num_seconds(),
            "retries end before the sweep looks"
        );
    }
}
