//! `RematchOrg`: matches every meeting of an org again after its customers, contacts, domains or
//! settings changed, in batches (each its own transaction, a constant number of statements), two
//! at a time. Edits in quick succession lead to one run: they share one pending request
//! (`org_rematch_requests`), which the run takes when it starts.

use std::sync::Arc;

use tokio::task::JoinSet;

use crate::db;
use crate::db::meeting_customers::{MatchLock, Meetings};
use crate::domain::matching::Rules;
use crate::domain::{MeetingId, OrgId};
use crate::jobs::match_meeting::{MatchCounts, match_batch};
use crate::jobs::{self, RematchOrg};
use crate::state::AppState;

/// Meetings per batch.
pub const REMATCH_BATCH: i64 = 5_000;

/// Batches written at once. Most of a batch's time is PostgreSQL inserting links, on one core per
/// connection; two keep a second core busy without taking the pool from the web pages.
pub const PARALLEL_BATCHES: usize = 2;

/// Runs `RematchOrg`; returns what it changed in all.
pub async fn rematch_org(state: &AppState, args: RematchOrg) -> anyhow::Result<MatchCounts> {
    rematch_in_batches(state, args.org_id, REMATCH_BATCH).await
}

/// Re-matches every meeting of `org` in batches of `batch` meetings, [`PARALLEL_BATCHES`] at
/// once, one run of an org at a time.
pub async fn rematch_in_batches(
    state: &AppState,
    org: OrgId,
    batch: i64,
) -> anyhow::Result<MatchCounts> {
    // One run of an org at a time (a second waits here), so this run's batches are the only ones
    // sharing the org's matching lock.
    let mut run_lock = state.db.acquire().await?;
    db::meeting_customers::hold_rematch_run(&mut run_lock, org).await?;
    let result = run(state, org, batch).await;
    if db::meeting_customers::release_rematch_run(&mut run_lock, org)
        .await
        .is_err()
    {
        // Closing the connection lets go of its session lock as surely.
        run_lock.close_on_drop();
    }
    result
}

async fn run(state: &AppState, org: OrgId, batch: i64) -> anyhow::Result<MatchCounts> {
    db::meeting_customers::take_rematch_request(&state.db, org).await?;
    let rules = {
        let mut conn = state.db.acquire().await?;
        db::meeting_customers::rules(&mut conn, org).await?
    };
    let rules = Arc::new(rules);
    let started = std::time::Instant::now();
    let mut total = MatchCounts::default();
    let mut writing = JoinSet::new();
    let mut after = None;
    loop {
        let ids = db::meeting_customers::meeting_ids_after(&state.db, org, after, batch).await?;
        let Some(last) = ids.last().copied() else {
            break;
        };
        after = Some(last);
        if writing.len() >= PARALLEL_BATCHES {
            add(&mut total, writing.join_next().await)?;
        }
        let (state, rules) = (state.clone(), rules.clone());
        writing.spawn(async move { rematch_batch(&state, org, &rules, ids).await });
    }
    while let Some(done) = writing.join_next().await {
        add(&mut total, Some(done))?;
    }
    let mut conn = state.db.acquire().await?;
    jobs::enqueue_refresh_customer_rollups(&mut conn, org, None).await?;
    tracing::info!(org_id = %org, meetings = total.meetings, written = total.written,
        removed = total.removed, took_ms = started.elapsed().as_millis() as u64, "org re-matched");
    Ok(total)
}

/// One batch in its own transaction, with the CRM pushes its changes call for.
async fn rematch_batch(
    state: &AppState,
    org: OrgId,
    rules: &Rules,
    ids: Vec<MeetingId>,
) -> anyhow::Result<MatchCounts> {
    let mut tx = state.db.begin().await?;
    let counts = match_batch(
        &mut tx,
        org,
        rules,
        Meetings::Span(&ids),
        MatchLock::RematchRun,
    )
    .await?;
    jobs::enqueue_pushes(&mut tx, org, &counts.changed).await?;
    tx.commit().await?;
    Ok(counts)
}

/// Adds a finished batch's counts to `total`, or passes on its error.
fn add(
    total: &mut MatchCounts,
    done: Option<Result<anyhow::Result<MatchCounts>, tokio::task::JoinError>>,
) -> anyhow::Result<()> {
    let Some(done) = done else {
        return Ok(());
    };
    let counts = done??;
    total.meetings += counts.meetings;
    total.written += counts.written;
    total.removed += counts.removed;
    Ok(())
}
