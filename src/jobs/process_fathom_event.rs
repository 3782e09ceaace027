//! `ProcessFathomEvent`: parses a stored webhook body and upserts its meeting, in one transaction
//! with marking the event processed. A body that does not parse is marked failed (kept for replay),
//! not retried.

use anyhow::Context;

use crate::db;
use crate::db::meetings::Via;
use crate::fathom::mapping::meeting_record;
use crate::fathom::types::Meeting;
use crate::jobs::ProcessFathomEvent;
use crate::state::AppState;

/// Processes one stored event; a second run of a processed event changes nothing.
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
    if event.state != "pending" {
        return Ok(());
    }
    let parsed = serde_json::from_slice::<Meeting>(&event.body)
        .map_err(|e| format!("the body is not a Fathom meeting: {e}"))
        .and_then(|m| meeting_record(&m).map_err(|e| e.to_string()));
    match parsed {
        Ok(record) => {
            let source = event.connection_id.map(|c| (c, Via::Webhook));
            let (meeting_id, outcome) = db::meetings::upsert(&mut tx, org, &record, source)
                .await
                .context("storing the meeting")?;
            db::fathom_events::finish(&mut tx, org, event.id, None).await?;
            tx.commit().await?;
            tracing::info!(%org, event_id = %event.id, %meeting_id, recording_id = record.recording_id,
                ?outcome, "Fathom event processed");
        }
        Err(reason) => {
            db::fathom_events::finish(&mut tx, org, event.id, Some(&reason)).await?;
            tx.commit().await?;
            tracing::warn!(%org, event_id = %event.id, %reason, "Fathom event failed; kept for replay");
        }
    }
    Ok(())
}
