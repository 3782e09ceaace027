//! The start page, an organisation's home, and creating another organisation.

use super::filters;
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{RawPathParams, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Datelike;
use serde::Deserialize;
use tower_sessions::Session;

use crate::auth::csrf::AnonymousToken;
use crate::auth::extractors::{CurrentUser, OrgContext};
use crate::auth::session as auth_session;
use crate::db;
use crate::db::fathom_connections::ConnectionState;
use crate::domain::{FathomConnectionId, OrgName, Role};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::web::layout::{FlashKind, Layout, flash};
use crate::web::routes::Routes;
use axum::routing::get;

/// The page anonymous visitors land on.
#[derive(Template, WebTemplate)]
#[template(path = "orgs/start.html")]
pub struct StartPage {
    pub layout: Layout,
}

/// GET /: signed-in people go to the org they last used; others see what Debrief is.
pub async fn show_start(
    State(state): State<AppState>,
    session: Session,
    csrf: AnonymousToken,
) -> AppResult<Response> {
    let Some(user_id) = auth_session::user_id(&session).await? else {
        return Ok(StartPage {
            layout: Layout::anonymous(&session, &csrf, "Your calls, as customer history").await?,
        }
        .into_response());
    };
    let orgs = db::orgs::list_for_user(&state.db, user_id).await?;
    let last = auth_session::last_org(&session).await?;
    let target = last
        .and_then(|slug| orgs.iter().find(|o| o.slug == slug))
        .or_else(|| orgs.first());
    Ok(match target {
        Some(org) => Redirect::to(&format!("/o/{}/", org.slug)).into_response(),
        None => Redirect::to("/orgs/new").into_response(),
    })
}

/// The org home.
#[derive(Template, WebTemplate)]
#[template(path = "orgs/show.html")]
pub struct OrgPage {
    pub layout: Layout,
    pub org_name: String,
    pub org_slug: String,
    pub role: Role,
    pub can_manage: bool,
    pub members: Vec<db::memberships::Member>,
    /// Fathom connections that need someone's attention.
    pub attention: Vec<Attention>,
    /// Whether any Fathom account is connected (active or needing a new key).
    pub fathom_connected: bool,
    /// The newest few meetings.
    pub latest_meetings: Vec<db::meetings::MeetingListItem>,
    /// Meetings since Monday (of the newest 50).
    pub this_week: usize,
    /// Meetings with outside attendees and no customer, up to [`UNMATCHED_CAP`].
    pub unmatched: i64,
    pub unmatched_cap: i64,
    /// Customers met most in the last 30 days.
    pub most_active: Vec<db::customer_rollups::Ranked>,
    /// Customers met in the previous 90 days but not the last 30.
    pub going_quiet: Vec<db::customer_rollups::Ranked>,
}

/// Unmatched meetings counted at most.
const UNMATCHED_CAP: i64 = 1000;
/// Customers in each home-page list.
const CUSTOMERS_LISTED: i64 = 5;
/// Meetings looked at for "this week".
const WEEK_WINDOW: i64 = 50;

/// How many meetings the org home shows.
const LATEST_MEETINGS: i64 = 5;

/// A Fathom connection the org home warns about.
pub struct Attention {
    pub connection_id: FathomConnectionId,
    pub fathom_user_email: String,
    /// Fathom rejected its key.
    pub needs_reconnect: bool,
    /// Why its last sync failed, when it did.
    pub last_problem: Option<String>,
}

/// GET /o/{org_slug}/
pub async fn show_org(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
) -> AppResult<OrgPage> {
    let members = db::memberships::list(&state.db, ctx.org.id).await?;
    let connections = db::fathom_connections::list(&state.db, ctx.org.id).await?;
    let attention = db::fathom_sync_runs::health(&state.db, ctx.org.id)
        .await?
        .into_iter()
        .filter_map(|h| {
            let c = connections.iter().find(|c| c.id == h.connection_id)?;
            let needs_reconnect = c.state == ConnectionState::NeedsReconnect;
            (needs_reconnect || h.last_problem.is_some()).then(|| Attention {
                connection_id: c.id,
                fathom_user_email: c.fathom_user_email.clone(),
                needs_reconnect,
                last_problem: h.last_problem,
            })
        })
        .collect();
    let fathom_connected = connections.iter().any(|c| {
        matches!(
            c.state,
            ConnectionState::Active | ConnectionState::NeedsReconnect
        )
    });
    let mut latest_meetings = db::meetings::list(&state.db, ctx.org.id, None, WEEK_WINDOW).await?;
    let now = chrono::Utc::now();
    let monday =
        now.date_naive() - chrono::Duration::days(i64::from(now.weekday().num_days_from_monday()));
    let week_start = monday
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or(now);
    let this_week = latest_meetings
        .iter()
        .filter(|m| m.started_at >= week_start && m.started_at <= now)
        .count();
    latest_meetings.truncate(LATEST_MEETINGS as usize);
    let unmatched =
        db::meeting_customers::unmatched_count(&state.db, ctx.org.id, UNMATCHED_CAP).await?;
    let most_active =
        db::customer_rollups::most_active(&state.db, ctx.org.id, CUSTOMERS_LISTED).await?;
    let going_quiet =
        db::customer_rollups::going_quiet(&state.db, ctx.org.id, CUSTOMERS_LISTED).await?;
    Ok(OrgPage {
        layout: Layout::for_org(&state.db, &session, &ctx, "home", ctx.org.name.clone()).await?,
        org_name: ctx.org.name.clone(),
        org_slug: ctx.org.slug.clone(),
        role: ctx.role,
        can_manage: ctx.role.can_manage(),
        members,
        attention,
        fathom_connected,
        latest_meetings,
        this_week,
        unmatched,
        unmatched_cap: UNMATCHED_CAP,
        most_active,
        going_quiet,
    })
}

/// GET /o/{org_slug}: the canonical address has a trailing slash.
pub async fn redirect_to_org(params: RawPathParams) -> AppResult<Redirect> {
    let slug = params
        .iter()
        .find(|(key, _)| *key == "org_slug")
        .map(|(_, value)| value.to_owned())
        .ok_or(AppError::NotFound)?;
    Ok(Redirect::permanent(&format!("/o/{slug}/")))
}

/// What a person typed into the new-organisation form.
#[derive(Debug, Default, Deserialize)]
pub struct NewOrgForm {
    #[serde(default)]
    pub name: String,
}

/// The new-organisation page.
#[derive(Template, WebTemplate)]
#[template(path = "orgs/new.html")]
pub struct NewOrgPage {
    pub layout: Layout,
    pub name: String,
    pub error: Option<&'static str>,
}

/// GET /orgs/new
pub async fn show_new_org(
    State(state): State<AppState>,
    session: Session,
    user: CurrentUser,
) -> AppResult<NewOrgPage> {
    Ok(NewOrgPage {
        layout: Layout::for_user(&state.db, &session, &user, "New organisation").await?,
        name: String::new(),
        error: None,
    })
}

/// POST /orgs/new: the creator becomes its owner.
pub async fn create_org(
    State(state): State<AppState>,
    session: Session,
    user: CurrentUser,
    Form(form): Form<NewOrgForm>,
) -> AppResult<Response> {
    let name = match OrgName::parse(&form.name) {
        Ok(name) => name,
        Err(error) => {
            let page = NewOrgPage {
                layout: Layout::for_user(&state.db, &session, &user, "New organisation").await?,
                name: form.name,
                error: Some(error),
            };
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let mut tx = state.db.begin().await?;
    let (org_id, slug) = db::orgs::insert(&mut tx, &name).await?;
    db::memberships::insert(&mut tx, org_id, user.id, Role::Owner).await?;
    tx.commit().await?;
    tracing::info!(%org_id, user_id = %user.id, "organisation created");
    flash(
        &session,
        FlashKind::Success,
        format!("{} is ready.", name.as_str()),
    )
    .await?;
    Ok(Redirect::to(&format!("/o/{slug}/")).into_response())
}

/// This area's routes.
pub fn router() -> Routes {
    Routes::new()
        .route("/", get(show_start))
        .route("/orgs/new", get(show_new_org).post(create_org))
        .route("/o/{org_slug}/", get(show_org))
        .route("/o/{org_slug}", get(redirect_to_org))
}
