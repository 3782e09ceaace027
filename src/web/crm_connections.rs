//! CRM connections: *Connect HubSpot* / *Connect Salesforce* (off to the provider's authorize
//! page), the fixed OAuth callbacks (`/oauth/{provider}/callback`), a connection's page (account,
//! state, push settings, imports with live progress, the sync audit), *Sync customers now*,
//! Disconnect, and *Retry* of a meeting's failed push.

use super::filters;
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use tower_sessions::Session;
use url::Url;
use uuid::Uuid;

use crate::auth::extractors::OrgContext;
use crate::auth::session as auth_session;
use crate::db;
use crate::db::crm_connections::{CrmConnection, CrmConnectionState};
use crate::db::crm_import_runs::{ImportRun, ImportSource};
use crate::db::crm_pushes::{AuditException, AuditFigures};
use crate::domain::{CrmConnectionId, CrmImportRunId, CrmProvider, MeetingId};
use crate::error::{AppError, AppResult};
use crate::integrations::crm_connections::{self, CallbackError, PendingAuthorization};
use crate::jobs::{self, PushMeetingToCrm};
use crate::state::AppState;
use crate::web::layout::{FlashKind, Layout, flash};
use crate::web::routes::Routes;

/// Session key of the authorizations in progress.
const PENDING_KEY: &str = "crm_oauth_pending";
/// Authorizations one session may have in progress (tabs) at once.
const MAX_PENDING: usize = 5;

/// Path of an org's provider.
#[derive(Debug, Deserialize)]
pub struct ProviderPath {
    pub org_slug: String,
    pub provider: String,
}

/// The connect form (Salesforce: which login host).
#[derive(Debug, Deserialize, Default)]
pub struct ConnectForm {
    /// `production`, `sandbox`, or a My Domain URL.
    #[serde(default)]
    pub login_host: String,
}

fn salesforce_login(state: &AppState, choice: &str) -> Result<Option<Url>, &'static str> {
    let choice = choice.trim();
    let configured = &state.settings.salesforce.login_url;
    match choice {
        "" | "production" => Ok(None),
        "sandbox" if configured.host_str() == Some("login.salesforce.com") => {
            Ok(Url::parse("https://test.salesforce.com").ok())
        }
        // A configured login URL that is not Salesforce's own (a simulator) has no sandbox.
        "sandbox" => Ok(None),
        custom => {
            let url = Url::parse(custom)
                .or_else(|_| Url::parse(&format!("https://{custom}")))
                .map_err(
                    |_| "Enter your My Domain address, like https://acme.my.salesforce.com.",
                )?;
            let host = url.host_str().unwrap_or("");
            if url.scheme() == "https" && host.ends_with(".my.salesforce.com") {
                Ok(Url::parse(&format!("https://{host}")).ok())
            } else {
                Err("Enter your My Domain address, like https://acme.my.salesforce.com.")
            }
        }
    }
}

/// POST /o/{org_slug}/integrations/{provider}/connect
pub async fn create_crm_connection(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<ProviderPath>,
    Form(form): Form<ConnectForm>,
) -> AppResult<Response> {
    ctx.require_manager()?;
    let provider = CrmProvider::parse(&path.provider).ok_or(AppError::NotFound)?;
    let back = format!("/o/{}/integrations", ctx.org.slug);
    let login = match provider {
        CrmProvider::Salesforce => match salesforce_login(&state, &form.login_host) {
            Ok(l) => l,
            Err(message) => {
                flash(&session, FlashKind::Error, message).await?;
                return Ok(Redirect::to(&back).into_response());
            }
        },
        CrmProvider::Hubspot => None,
    };
    let Some((url, pending)) = crm_connections::start(
        &state,
        provider,
        ctx.org.id,
        &ctx.org.slug,
        ctx.user.id,
        login,
    ) else {
        flash(
            &session,
            FlashKind::Error,
            format!(
                "{} is not configured on this Debrief: an administrator sets its client id and secret first.",
                provider.label()
            ),
        )
        .await?;
        return Ok(Redirect::to(&back).into_response());
    };
    let now = chrono::Utc::now();
    let mut all: Vec<PendingAuthorization> = session.get(PENDING_KEY).await?.unwrap_or_default();
    all.retain(|p| !p.expired(now));
    all.push(pending);
    let excess = all.len().saturating_sub(MAX_PENDING);
    all.drain(..excess);
    session.insert(PENDING_KEY, all).await?;
    Ok(Redirect::to(url.as_str()).into_response())
}

/// What the provider sends back.
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

async fn refuse(session: &Session, message: String) -> AppResult<Redirect> {
    flash(session, FlashKind::Error, message).await?;
    let to = match auth_session::last_org(session).await? {
        Some(slug) => format!("/o/{slug}/integrations"),
        None => "/".to_owned(),
    };
    Ok(Redirect::to(&to))
}

/// GET /oauth/{provider}/callback
pub async fn show_crm_callback(
    State(state): State<AppState>,
    session: Session,
    Path(provider): Path<String>,
    Query(q): Query<CallbackQuery>,
) -> AppResult<Redirect> {
    let provider = CrmProvider::parse(&provider).ok_or(AppError::NotFound)?;
    let label = provider.label();
    let Some(user) = auth_session::user_id(&session).await? else {
        return Err(AppError::Unauthenticated { next: "/".into() });
    };
    let mut all: Vec<PendingAuthorization> = session.get(PENDING_KEY).await?.unwrap_or_default();
    let given = q.state.as_deref().unwrap_or("");
    let found = all.iter().position(|p| {
        p.provider == provider
            && p.user_id == user
            && !given.is_empty()
            && bool::from(p.state.as_bytes().ct_eq(given.as_bytes()))
    });
    let Some(i) = found else {
        tracing::info!(provider = %provider, "OAuth callback with an unknown state refused");
        return refuse(
            &session,
            format!("That {label} authorization was not started from this browser session, or it was already used. Nothing was connected; connect again from Integrations."),
        )
        .await;
    };
    // Single use: gone from the session whatever happens next.
    let pending = all.remove(i);
    session.insert(PENDING_KEY, all).await?;
    let back = format!("/o/{}/integrations", pending.org_slug);
    if pending.expired(chrono::Utc::now()) {
        flash(
            &session,
            FlashKind::Error,
            format!("The {label} authorization took longer than 10 minutes and expired. Nothing was connected; connect again."),
        )
        .await?;
        return Ok(Redirect::to(&back));
    }
    let member = db::orgs::find_membership(&state.db, user, &pending.org_slug).await?;
    if !member.is_some_and(|m| m.org_id == pending.org_id && m.role.can_manage()) {
        return Err(AppError::NotFound);
    }
    if let Some(error) = q.error.as_deref() {
        let message = if error == "access_denied" {
            format!("Access was declined in {label}, so nothing was connected.")
        } else {
            format!(
                "{label} refused the authorization ({}). Nothing was connected.",
                q.error_description.as_deref().unwrap_or(error)
            )
        };
        flash(&session, FlashKind::Error, message).await?;
        return Ok(Redirect::to(&back));
    }
    let Some(code) = q.code.as_deref().filter(|c| !c.is_empty()) else {
        flash(
            &session,
            FlashKind::Error,
            format!("{label} sent no authorization code. Nothing was connected; try again."),
        )
        .await?;
        return Ok(Redirect::to(&back));
    };
    match crm_connections::complete(&state, &pending, code).await {
        Ok(connected) => {
            let message = if connected.reconnected {
                format!(
                    "{label} {} reconnected. Its customers are being brought up to date.",
                    connected.account_name
                )
            } else {
                format!(
                    "{label} {} connected. Its companies and contacts are being imported.",
                    connected.account_name
                )
            };
            flash(&session, FlashKind::Success, message).await?;
            Ok(Redirect::to(&format!("{back}/crm/{}", connected.id)))
        }
        Err(CallbackError::Internal(e)) => Err(AppError::Internal(e)),
        Err(e) => {
            tracing::info!(provider = %provider, error = %e, "CRM connection refused");
            flash(&session, FlashKind::Error, e.to_string()).await?;
            Ok(Redirect::to(&back))
        }
    }
}

/// Path of one CRM connection.
#[derive(Debug, Deserialize)]
pub struct ConnectionPath {
    pub org_slug: String,
    pub connection_id: Uuid,
}

async fn connection_of(state: &AppState, ctx: &OrgContext, id: Uuid) -> AppResult<CrmConnection> {
    let mut conn = state.db.acquire().await.map_err(anyhow::Error::from)?;
    db::crm_connections::get(&mut conn, ctx.org.id, CrmConnectionId(id))
        .await?
        .ok_or(AppError::NotFound)
}

/// The audit of one window.
pub struct AuditWindow {
    pub days: i32,
    pub figures: AuditFigures,
}

/// A connection's page.
#[derive(Template, WebTemplate)]
#[template(path = "crm_connections/show.html")]
pub struct CrmConnectionPage {
    pub layout: Layout,
    pub org_slug: String,
    pub c: CrmConnection,
    pub can_manage: bool,
    pub runs: Vec<ImportRun>,
    pub audits: Vec<AuditWindow>,
    pub exceptions: Vec<AuditException>,
}

/// GET /o/{org_slug}/integrations/crm/{connection_id}
pub async fn show_crm_connection(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<ConnectionPath>,
) -> AppResult<CrmConnectionPage> {
    let c = connection_of(&state, &ctx, path.connection_id).await?;
    let runs = db::crm_import_runs::recent(&state.db, ctx.org.id, c.id, 10).await?;
    let mut audits = Vec::new();
    for days in [7, 30] {
        audits.push(AuditWindow {
            days,
            figures: db::crm_pushes::audit(&state.db, ctx.org.id, c.id, days).await?,
        });
    }
    let exceptions = db::crm_pushes::audit_exceptions(&state.db, ctx.org.id, c.id, 30, 50).await?;
    let title = format!("{} {}", c.provider.label(), c.account_name);
    Ok(CrmConnectionPage {
        layout: Layout::for_org(&state.db, &session, &ctx, "integrations", title).await?,
        org_slug: ctx.org.slug.clone(),
        can_manage: ctx.role.can_manage(),
        c,
        runs,
        audits,
        exceptions,
    })
}

/// One import run, polled while it runs.
#[derive(Template, WebTemplate)]
#[template(path = "crm_connections/import_run.html")]
pub struct ImportRunFragment {
    pub org_slug: String,
    pub connection_id: CrmConnectionId,
    pub run: ImportRun,
}

/// Path of one import run.
#[derive(Debug, Deserialize)]
pub struct RunPath {
    pub org_slug: String,
    pub connection_id: Uuid,
    pub run_id: Uuid,
}

/// GET /o/{org_slug}/integrations/crm/{connection_id}/imports/{run_id}
pub async fn show_crm_import_run(
    State(state): State<AppState>,
    ctx: OrgContext,
    Path(path): Path<RunPath>,
) -> AppResult<ImportRunFragment> {
    let run = db::crm_import_runs::get(&state.db, ctx.org.id, CrmImportRunId(path.run_id))
        .await?
        .filter(|r| r.connection_id.0 == path.connection_id)
        .ok_or(AppError::NotFound)?;
    Ok(ImportRunFragment {
        org_slug: ctx.org.slug.clone(),
        connection_id: run.connection_id,
        run,
    })
}

/// POST /o/{org_slug}/integrations/crm/{connection_id}/import
pub async fn create_crm_import(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<ConnectionPath>,
) -> AppResult<Redirect> {
    let c = connection_of(&state, &ctx, path.connection_id).await?;
    let page = format!("/o/{}/integrations/crm/{}", ctx.org.slug, c.id);
    if c.state != CrmConnectionState::Active {
        flash(
            &session,
            FlashKind::Error,
            format!(
                "{} is not connected: reconnect it first.",
                c.provider.label()
            ),
        )
        .await?;
        return Ok(Redirect::to(&page));
    }
    let mut tx = state.db.begin().await?;
    let run = jobs::request_crm_import(
        &mut tx,
        &state.settings,
        ctx.org.id,
        c.id,
        ImportSource::Manual,
        Some(ctx.user.id),
    )
    .await?;
    tx.commit().await?;
    let message = match run {
        Some(_) => format!(
            "Importing what changed in {} since the last import.",
            c.provider.label()
        ),
        None => "An import is already running; it is shown below.".to_owned(),
    };
    flash(&session, FlashKind::Success, message).await?;
    Ok(Redirect::to(&page))
}

/// The push settings form.
#[derive(Debug, Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    pub push_enabled: Option<String>,
    #[serde(default)]
    pub push_tasks: Option<String>,
}

/// POST /o/{org_slug}/integrations/crm/{connection_id}/settings
pub async fn update_crm_connection(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<ConnectionPath>,
    Form(form): Form<SettingsForm>,
) -> AppResult<Redirect> {
    ctx.require_manager()?;
    let c = connection_of(&state, &ctx, path.connection_id).await?;
    let (push, tasks) = (form.push_enabled.is_some(), form.push_tasks.is_some());
    if !db::crm_connections::set_push(&state.db, ctx.org.id, c.id, push, tasks).await? {
        return Err(AppError::NotFound);
    }
    let message = match (push, tasks) {
        (false, _) => format!("Meetings are no longer written to {}.", c.provider.label()),
        (true, true) => format!(
            "Matched meetings are written to {} with a task per open action item.",
            c.provider.label()
        ),
        (true, false) => format!("Matched meetings are written to {}.", c.provider.label()),
    };
    flash(&session, FlashKind::Success, message).await?;
    Ok(Redirect::to(&format!(
        "/o/{}/integrations/crm/{}",
        ctx.org.slug, c.id
    )))
}

/// The disconnect form.
#[derive(Debug, Deserialize)]
pub struct DisconnectForm {
    #[serde(default)]
    pub remove_customers: Option<String>,
}

/// POST /o/{org_slug}/integrations/crm/{connection_id}/disconnect
pub async fn delete_crm_connection(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<ConnectionPath>,
    Form(form): Form<DisconnectForm>,
) -> AppResult<Redirect> {
    ctx.require_manager()?;
    let done = crm_connections::disconnect(
        &state,
        ctx.org.id,
        CrmConnectionId(path.connection_id),
        ctx.user.id,
        form.remove_customers.is_some(),
    )
    .await?
    .ok_or(AppError::NotFound)?;
    let mut message = format!(
        "{} {} disconnected: nothing more is imported or written, and its tokens are erased.",
        done.provider.label(),
        done.account_name
    );
    if !done.revoked {
        message.push_str(&format!(
            " {} could not be reached to revoke Debrief's access; remove the app in {} to be sure.",
            done.provider.label(),
            done.provider.label()
        ));
    }
    if done.customers_removed > 0 {
        message.push_str(&format!(
            " {} customer(s) imported from it were removed.",
            done.customers_removed
        ));
    }
    flash(
        &session,
        if done.revoked {
            FlashKind::Success
        } else {
            FlashKind::Info
        },
        message,
    )
    .await?;
    Ok(Redirect::to(&format!("/o/{}/integrations", ctx.org.slug)))
}

/// Path of one meeting's push.
#[derive(Debug, Deserialize)]
pub struct PushPath {
    pub org_slug: String,
    pub meeting_id: Uuid,
    pub connection_id: Uuid,
}

/// POST /o/{org_slug}/meetings/{meeting_id}/crm/{connection_id}/retry
pub async fn create_crm_push_retry(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<PushPath>,
) -> AppResult<Redirect> {
    let meeting = MeetingId(path.meeting_id);
    let c = connection_of(&state, &ctx, path.connection_id).await?;
    let pushes = db::crm_pushes::for_meeting(&state.db, ctx.org.id, meeting).await?;
    if !pushes.iter().any(|p| p.connection_id == c.id) {
        return Err(AppError::NotFound);
    }
    let mut conn = state.db.acquire().await.map_err(anyhow::Error::from)?;
    jobs::enqueue_push_after(
        &mut conn,
        PushMeetingToCrm {
            org_id: ctx.org.id,
            meeting_id: meeting,
            connection_id: c.id,
            attempt: 1,
        },
        std::time::Duration::ZERO,
    )
    .await?;
    flash(
        &session,
        FlashKind::Success,
        format!("Writing this meeting to {} again.", c.provider.label()),
    )
    .await?;
    Ok(Redirect::to(&format!(
        "/o/{}/meetings/{}#crm",
        ctx.org.slug, meeting
    )))
}

/// This area's routes.
pub fn router() -> Routes {
    Routes::new()
        .route(
            "/o/{org_slug}/integrations/{provider}/connect",
            post(create_crm_connection),
        )
        .route("/oauth/{provider}/callback", get(show_crm_callback))
        .route(
            "/o/{org_slug}/integrations/crm/{connection_id}",
            get(show_crm_connection),
        )
        .route(
            "/o/{org_slug}/integrations/crm/{connection_id}/imports/{run_id}",
            get(show_crm_import_run),
        )
        .route(
            "/o/{org_slug}/integrations/crm/{connection_id}/import",
            post(create_crm_import),
        )
        .route(
            "/o/{org_slug}/integrations/crm/{connection_id}/settings",
            post(update_crm_connection),
        )
        .route(
            "/o/{org_slug}/integrations/crm/{connection_id}/disconnect",
            post(delete_crm_connection),
        )
        .route(
            "/o/{org_slug}/meetings/{meeting_id}/crm/{connection_id}/retry",
            post(create_crm_push_retry),
        )
}
