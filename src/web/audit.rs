//! The audit log page: connections made, replaced and removed, and secret rotations, for owners and
//! admins.

use super::filters;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use serde::Deserialize;
use tower_sessions::Session;

use crate::auth::extractors::OrgContext;
use crate::db;
use crate::db::audit::{AuditEvent, PAGE_SIZE};
use crate::error::AppResult;
use crate::state::AppState;
use crate::web::layout::Layout;
use crate::web::routes::Routes;
use axum::routing::get;

/// The audit log page.
#[derive(Template, WebTemplate)]
#[template(path = "audit/list.html")]
pub struct AuditPage {
    pub layout: Layout,
    pub org_slug: String,
    pub events: Vec<AuditEvent>,
    /// Cursor of the next (older) page.
    pub older: Option<i64>,
}

/// `?before=<event id>` for older pages.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    pub before: Option<i64>,
}

/// GET /o/{org_slug}/audit
pub async fn list_audit_events(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Query(query): Query<AuditQuery>,
) -> AppResult<AuditPage> {
    ctx.require_manager()?;
    let mut events = db::audit::list(&state.db, ctx.org.id, query.before).await?;
    let older = if events.len() as i64 > PAGE_SIZE {
        events.truncate(PAGE_SIZE as usize);
        events.last().map(|e| e.id)
    } else {
        None
    };
    Ok(AuditPage {
        layout: Layout::for_org(&state.db, &session, &ctx, "audit", "Audit log").await?,
        org_slug: ctx.org.slug.clone(),
        events,
        older,
    })
}

/// This area's routes.
pub fn router() -> Routes {
    Routes::new().route("/o/{org_slug}/audit", get(list_audit_events))
}
