//! Fathom connections: Connect (paste a key) and Disconnect for owners and admins, and each
//! connection's page (state, last success, next hourly sync, its last 20 runs). The key is never rendered
//! back: a form that fails shows the error and an empty key field.

use super::filters;
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::SecretString;
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use crate::auth::extractors::OrgContext;
use crate::db;
use crate::db::fathom_connections::{ConnectionState, ConnectionSummary};
use crate::db::fathom_sync_runs::{SyncHealth, SyncRun};
use crate::domain::sync_window::BACKFILL_DAYS;
use crate::domain::{Email, FathomConnectionId, UserId};
use crate::error::{AppError, AppResult};
use crate::integrations::fathom_connections::{self, CleanupOutcome, ConnectError, webhook_url};
use crate::state::AppState;
use crate::web::layout::{FlashKind, Layout, flash};
use crate::web::routes::Routes;
use axum::routing::{get, post};

/// Longest key accepted (Fathom's are far shorter; this only stops absurd input).
const MAX_KEY_LEN: usize = 512;

/// The Connect Fathom form.
#[derive(Template, WebTemplate)]
#[template(path = "fathom_connections/new.html")]
pub struct ConnectPage {
    pub layout: Layout,
    pub org_slug: String,
    pub fathom_email: String,
    pub email_error: Option<String>,
    pub key_error: Option<String>,
    /// An error from Fathom, about the whole attempt.
    pub form_error: Option<String>,
    /// Demo mode: Fathom is the simulator; show its keys.
    pub demo: bool,
    /// The key seemed to be another account's: offer "this account has no recordings yet".
    pub offer_no_recordings: bool,
}

/// What the form posts. `Debug` is deliberately not derived: it holds the key.
#[derive(Deserialize)]
pub struct ConnectForm {
    #[serde(default)]
    pub fathom_email: String,
    #[serde(default)]
    pub api_key: String,
    /// "This Fathom account has no recordings of its own yet" (a checkbox).
    #[serde(default)]
    pub no_recordings_yet: Option<String>,
}

/// GET /o/{org_slug}/integrations/fathom/connect
pub async fn new_fathom_connection(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
) -> AppResult<ConnectPage> {
    ctx.require_manager()?;
    Ok(ConnectPage {
        layout: Layout::for_org(&state.db, &session, &ctx, "integrations", "Connect Fathom")
            .await?,
        org_slug: ctx.org.slug.clone(),
        fathom_email: ctx.user.email.clone(),
        email_error: None,
        key_error: None,
        form_error: None,
        demo: state.settings.demo,
        offer_no_recordings: false,
    })
}

/// POST /o/{org_slug}/integrations/fathom/connect
pub async fn create_fathom_connection(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Form(form): Form<ConnectForm>,
) -> AppResult<Response> {
    ctx.require_manager()?;
    let email = Email::parse(&form.fathom_email);
    let key = parse_key(&form.api_key);
    let (email, key) = match (email, key) {
        (Ok(email), Ok(key)) => (email, key),
        (email, key) => {
            let page = ConnectPage {
                layout: Layout::for_org(
                    &state.db,
                    &session,
                    &ctx,
                    "integrations",
                    "Connect Fathom",
                )
                .await?,
                org_slug: ctx.org.slug.clone(),
                fathom_email: form.fathom_email.trim().to_owned(),
                email_error: email.err().map(str::to_owned),
                key_error: key.err().map(str::to_owned),
                form_error: None,
                demo: state.settings.demo,
                offer_no_recordings: false,
            };
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };

    let request = fathom_connections::ConnectRequest {
        fathom_email: email.clone(),
        api_key: key,
        no_recordings_yet: form.no_recordings_yet.is_some(),
    };
    match fathom_connections::connect(&state, ctx.org.id, ctx.user.id, request).await {
        Ok(connected) => {
            let message = if connected.replaced.is_some() {
                format!(
                    "Fathom reconnected for {}: the new key replaces the old one, whose webhook is being deleted.",
                    email.as_str()
                )
            } else {
                format!(
                    "Fathom connected for {}: its recent meetings are being fetched, and new ones will arrive as Fathom records them.",
                    email.as_str()
                )
            };
            flash(&session, FlashKind::Success, message).await?;
            Ok(Redirect::to(&format!("/o/{}/integrations", ctx.org.slug)).into_response())
        }
        Err(ConnectError::Internal(err)) => Err(AppError::Internal(err)),
        Err(err) => {
            tracing::info!(org_id = %ctx.org.id, error = %err, "Fathom connection refused");
            let status = match &err {
                ConnectError::KeyRejected
                | ConnectError::FathomRefused(_)
                | ConnectError::NotRecordedBy { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                ConnectError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                ConnectError::ConcurrentConnect => StatusCode::CONFLICT,
                _ => StatusCode::BAD_GATEWAY,
            };
            let page = ConnectPage {
                layout: Layout::for_org(
                    &state.db,
                    &session,
                    &ctx,
                    "integrations",
                    "Connect Fathom",
                )
                .await?,
                org_slug: ctx.org.slug.clone(),
                fathom_email: email.as_str().to_owned(),
                email_error: None,
                key_error: None,
                form_error: Some(err.to_string()),
                demo: state.settings.demo,
                offer_no_recordings: matches!(err, ConnectError::NotRecordedBy { .. }),
            };
            Ok((status, page).into_response())
        }
    }
}

/// A pasted key: surrounding whitespace dropped; one line of visible ASCII.
fn parse_key(raw: &str) -> Result<SecretString, &'static str> {
    let key = raw.trim();
    if key.is_empty() {
        return Err("Paste your Fathom API key (Fathom → Settings → API Access).");
    }
    if key.len() > MAX_KEY_LEN || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(
            "That does not look like a Fathom API key: it is one line of letters, digits and symbols, without spaces.",
        );
    }
    Ok(SecretString::from(key.to_owned()))
}

/// Path of one connection.
#[derive(Debug, Deserialize)]
pub struct ConnectionPath {
    pub org_slug: String,
    pub connection_id: Uuid,
}

/// POST /o/{org_slug}/integrations/fathom/connections/{connection_id}/disconnect
pub async fn delete_fathom_connection(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<ConnectionPath>,
) -> AppResult<Redirect> {
    ctx.require_manager()?;
    let id = FathomConnectionId(path.connection_id);
    let outcome = fathom_connections::disconnect(&state, ctx.org.id, id, ctx.user.id)
        .await?
        .ok_or(AppError::NotFound)?;
    let (kind, message) = match outcome {
        CleanupOutcome::Deleted => (
            FlashKind::Success,
            "Fathom disconnected: its webhook was deleted at Fathom and the key erased.".to_owned(),
        ),
        CleanupOutcome::Retrying => (
            FlashKind::Info,
            "Fathom disconnected: no more meetings are taken from it. Fathom could not be reached to delete the webhook; Debrief keeps trying for about an hour, then erases the key either way.".to_owned(),
        ),
        CleanupOutcome::Abandoned { .. } => (
            FlashKind::Error,
            format!(
                "Fathom disconnected and the key erased, but Fathom did not delete its webhook, which delivers to {}. Delete it in Fathom: Settings → API Access → Manage.",
                webhook_url(&state, ctx.org.id)
            ),
        ),
    };
    flash(&session, kind, message).await?;
    Ok(Redirect::to(&format!("/o/{}/integrations", path.org_slug)))
}

/// This area's routes.
pub fn router() -> Routes {
    Routes::new()
        .route(
            "/o/{org_slug}/integrations/fathom/connect",
            get(new_fathom_connection).post(create_fathom_connection),
        )
        .route(
            "/o/{org_slug}/integrations/fathom/connections/{connection_id}",
            get(show_fathom_connection),
        )
        .route(
            "/o/{org_slug}/integrations/fathom/connections/{connection_id}/disconnect",
            post(delete_fathom_connection),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn pasted_keys_are_trimmed_and_must_be_one_visible_line() {
        assert_eq!(
            parse_key("  abc.DEF-123_x==\n").unwrap().expose_secret(),
            "abc.DEF-123_x=="
        );
        assert!(parse_key("   ").is_err());
        assert!(parse_key("two words").is_err());
        assert!(parse_key("clé").is_err());
        assert!(parse_key(&"k".repeat(MAX_KEY_LEN + 1)).is_err());
    }
}

/// One connection's sync health page.
#[derive(Template, WebTemplate)]
#[template(path = "fathom_connections/show.html")]
pub struct ConnectionPage {
    pub layout: Layout,
    pub org_slug: String,
    pub connection: ConnectionSummary,
    pub health: Option<SyncHealth>,
    /// The open run, shown with live progress.
    pub open_run: Option<SyncRun>,
    pub runs: Vec<SyncRun>,
    /// The backfills this person may start (wider ones are for managers and the key's owner).
    pub backfill_days: Vec<i64>,
    /// What the connection is doing, as people read it.
    pub state_label: &'static str,
}

/// A connection's state, with *Syncing* while a run is open.
pub fn connection_state_label(state: ConnectionState, syncing: bool) -> &'static str {
    match (state, syncing) {
        (ConnectionState::Active, true) => "Syncing",
        (state, _) => state.label(),
    }
}

/// GET /o/{org_slug}/integrations/fathom/connections/{connection_id}
pub async fn show_fathom_connection(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<ConnectionPath>,
) -> AppResult<ConnectionPage> {
    let id = FathomConnectionId(path.connection_id);
    let connection = db::fathom_connections::find(&state.db, ctx.org.id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let health = db::fathom_sync_runs::health(&state.db, ctx.org.id)
        .await?
        .into_iter()
        .find(|h| h.connection_id == id);
    let runs = db::fathom_sync_runs::list_recent(&state.db, ctx.org.id, id).await?;
    let open_run = runs.iter().find(|r| r.state.is_open()).cloned();
    let title = format!("Fathom sync · {}", connection.fathom_user_email);
    let initial_days = state.settings.fathom.initial_sync_days;
    let wide_allowed =
        may_backfill_widely(&ctx, connection.connected_by, &connection.fathom_user_email);
    let backfill_days = BACKFILL_DAYS
        .into_iter()
        .filter(|d| wide_allowed || *d <= initial_days)
        .collect();
    Ok(ConnectionPage {
        layout: Layout::for_org(&state.db, &session, &ctx, "integrations", title).await?,
        org_slug: ctx.org.slug.clone(),
        state_label: connection_state_label(connection.state, open_run.is_some()),
        connection,
        health,
        open_run,
        runs,
        backfill_days,
    })
}

/// Whether this person may backfill further back than the first sync reached: owners, admins, and
/// the person whose Fathom key it is (who connected it, or whose email is the Fathom account's).
/// Any member may sync the normal window.
pub fn may_backfill_widely(
    ctx: &OrgContext,
    connected_by: Option<UserId>,
    fathom_user_email: &str,
) -> bool {
    ctx.role.can_manage()
        || connected_by == Some(ctx.user.id)
        || ctx.user.email.eq_ignore_ascii_case(fathom_user_email)
}
