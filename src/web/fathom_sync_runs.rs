//! Sync runs: *Sync now* (with an optional backfill, wide ones for managers and the key's owner)
//! and one run's page with its live progress, which the page refreshes with htmx while the run is
//! open, and the meetings it skipped.

use super::filters;
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use crate::auth::extractors::OrgContext;
use crate::db;
use crate::db::fathom_connections::{ConnectionState, ConnectionSummary};
use crate::db::fathom_sync_runs::{Opened, SkippedMeeting, SyncRun, SyncSource};
use crate::domain::sync_window::{BACKFILL_DAYS, SyncWindow};
use crate::domain::{FathomConnectionId, SyncRunId};
use crate::error::{AppError, AppResult};
use crate::jobs;
use crate::state::AppState;
use crate::web::fathom_connections::ConnectionPath;
use crate::web::fathom_connections::may_backfill_widely;
use crate::web::layout::{FlashKind, Layout, flash};
use crate::web::routes::Routes;
use axum::routing::{get, post};

/// The *Sync now* form.
#[derive(Debug, Deserialize)]
pub struct SyncNowForm {
    /// Empty: since the last successful sync; else a backfill of that many days.
    #[serde(default)]
    pub backfill_days: String,
}

/// POST /o/{org_slug}/integrations/fathom/connections/{connection_id}/sync
pub async fn create_fathom_sync_run(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<ConnectionPath>,
    Form(form): Form<SyncNowForm>,
) -> AppResult<Redirect> {
    let id = FathomConnectionId(path.connection_id);
    let connection_page = format!("/o/{}/integrations/fathom/connections/{id}", path.org_slug);
    let keys = db::fathom_connections::find_keys(&state.db, ctx.org.id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    match keys.state {
        ConnectionState::Active => {}
        ConnectionState::NeedsReconnect => {
            flash(
                &session,
                FlashKind::Error,
                "Fathom rejected this connection's key, so it cannot sync. Connect Fathom again with a valid key.",
            )
            .await?;
            return Ok(Redirect::to(&connection_page));
        }
        ConnectionState::Disconnecting | ConnectionState::Disconnected => {
            flash(
                &session,
                FlashKind::Error,
                "This connection was disconnected; it no longer syncs.",
            )
            .await?;
            return Ok(Redirect::to(&connection_page));
        }
    }
    let window = match form.backfill_days.trim() {
        "" => SyncWindow::SinceLastSuccess,
        days => match days.parse::<i64>() {
            Ok(d) if BACKFILL_DAYS.contains(&d) => {
                if d > state.settings.fathom.initial_sync_days
                    && !may_backfill_widely(&ctx, keys.connected_by, &keys.fathom_user_email)
                {
                    return Err(AppError::Forbidden(
                        "Only owners, admins and the person whose Fathom key it is can backfill \
                         further back than the first sync.",
                    ));
                }
                SyncWindow::LastDays(d)
            }
            _ => {
                flash(
                    &session,
                    FlashKind::Error,
                    "Choose one of the offered backfill periods.",
                )
                .await?;
                return Ok(Redirect::to(&connection_page));
            }
        },
    };
    let mut tx = state.db.begin().await?;
    let opened = jobs::request_sync(
        &mut tx,
        &state,
        ctx.org.id,
        id,
        SyncSource::Manual,
        window,
        Some(ctx.user.id),
    )
    .await?;
    tx.commit().await?;
    let run = match opened {
        Opened::New(run) => {
            flash(
                &session,
                FlashKind::Success,
                "Sync started. Progress shows below as pages arrive.",
            )
            .await?;
            run
        }
        Opened::AlreadyOpen(run) => {
            flash(
                &session,
                FlashKind::Info,
                "A sync of this connection is already running; here it is. Nothing new was started.",
            )
            .await?;
            run
        }
    };
    Ok(Redirect::to(&format!(
        "/o/{}/integrations/fathom/sync_runs/{run}",
        path.org_slug
    )))
}

/// Path of one run.
#[derive(Debug, Deserialize)]
pub struct SyncRunPath {
    pub org_slug: String,
    pub run_id: Uuid,
}

/// One run's page.
#[derive(Template, WebTemplate)]
#[template(path = "fathom_sync_runs/show.html")]
pub struct SyncRunPage {
    pub layout: Layout,
    pub org_slug: String,
    pub connection: ConnectionSummary,
    pub run: SyncRun,
    /// Meetings the run listed but could not store.
    pub skipped: Vec<SkippedMeeting>,
}

/// One run's progress alone, as htmx swaps it in.
#[derive(Template, WebTemplate)]
#[template(path = "fathom_sync_runs/progress.html")]
pub struct SyncRunProgress {
    pub org_slug: String,
    pub run: SyncRun,
}

/// GET /o/{org_slug}/integrations/fathom/sync_runs/{run_id}: the page, or only its progress block
/// for htmx.
pub async fn show_fathom_sync_run(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<SyncRunPath>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let run = db::fathom_sync_runs::find(&state.db, ctx.org.id, SyncRunId(path.run_id))
        .await?
        .ok_or(AppError::NotFound)?;
    if headers.contains_key("hx-request") {
        return Ok(SyncRunProgress {
            org_slug: ctx.org.slug.clone(),
            run,
        }
        .into_response());
    }
    let connection = db::fathom_connections::find(&state.db, ctx.org.id, run.connection_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let title = format!("Sync of {}", connection.fathom_user_email);
    let skipped = db::fathom_sync_runs::list_skipped(&state.db, ctx.org.id, run.id).await?;
    Ok(SyncRunPage {
        layout: Layout::for_org(&state.db, &session, &ctx, "integrations", title).await?,
        org_slug: ctx.org.slug.clone(),
        connection,
        run,
        skipped,
    }
    .into_response())
}

/// This area's routes.
pub fn router() -> Routes {
    Routes::new()
        .route(
            "/o/{org_slug}/integrations/fathom/connections/{connection_id}/sync",
            post(create_fathom_sync_run),
        )
        .route(
            "/o/{org_slug}/integrations/fathom/sync_runs/{run_id}",
            get(show_fathom_sync_run),
        )
}
