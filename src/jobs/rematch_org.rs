//! `RematchOrg`: matches every meeting of an org again after its customers, contacts, domains or
//! settings changed, in batches (each its own transaction, a constant number of statements).
//! Edits in quick succession lead to one run: they share one pending request
//! (`org_rematch_requests`), which the run takes when it starts.

use crate::db;
use crate::jobs::match_meeting::{MatchCounts, match_batch};
use crate::jobs::{self, RematchOrg};
use crate::state::AppState;

/// Meetings per batch.
pub const REMATCH_BATCH: i64 = 5_000;

/// Runs `RematchOrg`; returns what it changed in all.
pub async fn rematch_org(state: &AppState, args: RematchOrg) -> anyhow::Result<MatchCounts> {
    let org = args.org_id;
    db::meeting_customers::take_rematch_request(&state.db, org).await?;
    let rules = {
        let mut conn = state.db.acquire().await?;
        db::meeting_customers::rules(&mut conn, org).await?
    };
    let started = std::time::Instant::now();
    let mut total = MatchCounts::default();
    let mut after = None;
    loop {
        let ids =
            db::meeting_customers::meeting_ids_after(&state.db, org, after, REMATCH_BATCH).await?;
        let Some(last) = ids.last().copied() else {
            break;
        };
        let mut tx = state.db.begin().await?;
        let counts = match_batch(&mut tx, org, &rules, &ids).await?;
        jobs::enqueue_pushes(&mut tx, org, &counts.changed).await?;
        tx.commit().await?;
        total.meetings += counts.meetings;
        total.written += counts.written;
        total.removed += counts.removed;
        after = Some(last);
    }
    let mut conn = state.db.acquire().await?;
    jobs::enqueue_refresh_customer_rollups(&mut conn, org, None).await?;
    tracing::info!(org_id = %org, meetings = total.meetings, written = total.written,
        removed = total.removed, took_ms = started.elapsed().as_millis() as u64, "org re-matched");
    Ok(total)
}
