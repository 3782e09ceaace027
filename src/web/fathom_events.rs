//! Replaying a failed Fathom webhook event (kept byte for byte when it could not be processed).

use axum::extract::{Path, State};
use axum::response::Redirect;
use serde::Deserialize;
use tower_sessions::Session;

use crate::auth::extractors::OrgContext;
use crate::db;
use crate::domain::EventId;
use crate::error::{AppError, AppResult};
use crate::jobs::{self, ProcessFathomEvent};
use crate::state::AppState;
use crate::web::layout::{FlashKind, flash};
use crate::web::routes::Routes;
use axum::routing::post;

/// Path of one stored event.
#[derive(Debug, Deserialize)]
pub struct EventPath {
    pub org_slug: String,
    pub event_id: EventId,
}

/// POST /o/{org_slug}/integrations/fathom/events/{event_id}/replay: owners and admins put a failed
/// event back in the queue (after a fix, it becomes a meeting; if it still fails, it is listed
/// again with the new reason).
pub async fn replay_fathom_event(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<EventPath>,
) -> AppResult<Redirect> {
    ctx.require_manager()?;
    let mut tx = state.db.begin().await?;
    if !db::fathom_events::reset_failed(&mut tx, ctx.org.id, path.event_id).await? {
        return Err(AppError::NotFound);
    }
    jobs::enqueue_process_fathom_event(&mut tx, ProcessFathomEvent::new(ctx.org.id, path.event_id))
        .await?;
    tx.commit().await?;
    flash(
        &session,
        FlashKind::Success,
        "The event is queued again; if it still cannot be processed it shows here with the reason.",
    )
    .await?;
    Ok(Redirect::to(&format!(
        "/o/{}/integrations#failed-events",
        path.org_slug
    )))
}

/// This area's routes.
pub fn router() -> Routes {
    Routes::new().route(
        "/o/{org_slug}/integrations/fathom/events/{event_id}/replay",
        post(replay_fathom_event),
    )
}
