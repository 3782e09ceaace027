//! When a Fathom connection syncs: asking for a run (on connect, hourly, *Sync now*), which window
//! of meetings it lists, each connection's fixed minute in the hour, and the every-minute schedule
//! that starts due hourly syncs and resumes runs whose worker died.

use chrono::{DateTime, Duration, DurationRound, Utc};
use sqlx::PgConnection;

use crate::db;
use crate::db::fathom_sync_runs::{NewRun, Opened, SyncSource};
use crate::domain::{FathomConnectionId, OrgId, UserId};
use crate::jobs::{self, SyncFathom};
use crate::state::AppState;

/// Which meetings a run lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncWindow {
    /// Those created since the last successful run began, minus the look-back (the first run of a
    /// connection reaches `initial_sync_days` back).
    SinceLastSuccess,
    /// Those created in the last `days` days (a backfill).
    LastDays(i64),
}

/// Backfill choices offered next to *Sync now*, in days.
pub const BACKFILL_DAYS: [i64; 4] = [7, 30, 90, 365];

/// The oldest a backfill may reach.
pub const MAX_BACKFILL_DAYS: i64 = 365;

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
    let now = Utc::now();
    let initial = now - Duration::days(settings.initial_sync_days);
    let created_after = match window {
        SyncWindow::LastDays(days) => now - Duration::days(days.clamp(1, MAX_BACKFILL_DAYS)),
        SyncWindow::SinceLastSuccess => {
            match db::fathom_sync_runs::last_success_started_at(conn, org, connection).await? {
                Some(at) => at - Duration::minutes(settings.sync_lookback_minutes),
                None => initial,
            }
        }
    };
    let new = NewRun {
        connection_id: connection,
        source,
        created_after,
        requested_by,
    };
    let opened =
        db::fathom_sync_runs::open(conn, org, &new, settings.sync_lease_seconds as f64).await?;
    if let Opened::New(run_id) = opened {
        jobs::enqueue_sync_fathom(
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

/// The connection's next hourly sync strictly after `after`: always the same second of the hour
/// for one connection (taken from its id), so many connections spread over the hour.
pub fn next_hourly_sync(connection: FathomConnectionId, after: DateTime<Utc>) -> DateTime<Utc> {
    let slot = Duration::seconds((connection.0.as_u128() % 3600) as i64);
    let hour = after.duration_trunc(Duration::hours(1)).unwrap_or(after);
    let mut at = hour + slot;
    while at <= after {
        at += Duration::hours(1);
    }
    at
}

/// The first hourly sync of a new connection: its slot, at least a quarter of an hour after the
/// initial sync was queued.
pub fn first_hourly_sync(connection: FathomConnectionId, now: DateTime<Utc>) -> DateTime<Utc> {
    next_hourly_sync(connection, now + Duration::minutes(15))
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
        let now = Utc::now();
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
        jobs::enqueue_sync_fathom(
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

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn a_connection_syncs_at_the_same_second_of_every_hour() {
        let id = FathomConnectionId(Uuid::from_u128(3600 * 7 + 754)); // slot 12:34 past the hour
        let after: DateTime<Utc> = "2026-11-23T10:05:00Z".parse().unwrap();
        let first = next_hourly_sync(id, after);
        assert_eq!(
            first,
            "2026-11-23T10:12:34Z".parse::<DateTime<Utc>>().unwrap()
        );
        let second = next_hourly_sync(id, first);
        assert_eq!(
            second,
            "2026-11-23T11:12:34Z".parse::<DateTime<Utc>>().unwrap()
        );
        let late: DateTime<Utc> = "2026-11-23T10:40:00Z".parse().unwrap();
        assert_eq!(
            next_hourly_sync(id, late),
            "2026-11-23T11:12:34Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn connections_spread_over_the_hour() {
        let after: DateTime<Utc> = "2026-11-23T10:00:00Z".parse().unwrap();
        let minutes: std::collections::HashSet<u32> = (0..200)
            .map(|_| {
                use chrono::Timelike;
                next_hourly_sync(FathomConnectionId::new(), after).minute()
            })
            .collect();
        assert!(
            minutes.len() > 40,
            "200 connections should use most minutes of the hour, used {}",
            minutes.len()
        );
    }

    #[test]
    fn the_first_hourly_sync_is_at_least_a_quarter_hour_away() {
        let now = Utc::now();
        for _ in 0..50 {
            let at = first_hourly_sync(FathomConnectionId::new(), now);
            assert!(at > now + Duration::minutes(15) && at <= now + Duration::minutes(75));
        }
    }
}
