//! Matching settings (owners and admins): the org's own domains (attendees there are internal)
//! and its changes to the shipped free-mail list. Saving re-matches the org's meetings.

use std::collections::HashSet;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use tower_sessions::Session;

use crate::auth::extractors::OrgContext;
use crate::db;
use crate::domain::CompanyDomain;
use crate::domain::matching::{Rules, default_free_mail};
use crate::error::AppResult;
use crate::jobs;
use crate::state::AppState;
use crate::web::layout::{FlashKind, Layout, flash};
use crate::web::routes::Routes;

/// Domains in one list at most.
const MAX_LIST: usize = 500;

/// The settings page.
#[derive(Template, WebTemplate)]
#[template(path = "matching_settings/edit.html")]
pub struct MatchingSettingsPage {
    pub layout: Layout,
    pub org_slug: String,
    pub can_manage: bool,
    pub internal_domains: String,
    pub free_mail_added: String,
    pub free_mail_removed: String,
    pub shipped_count: usize,
    pub internal_error: Option<String>,
    pub added_error: Option<String>,
    pub removed_error: Option<String>,
}

fn lines(set: &HashSet<String>) -> String {
    let mut v: Vec<&String> = set.iter().collect();
    v.sort();
    v.into_iter().cloned().collect::<Vec<_>>().join("\n")
}

/// Domains one per line (or separated by commas or spaces); the first bad one is named.
fn parse_list(input: &str) -> Result<HashSet<String>, String> {
    let mut set = HashSet::new();
    for part in input
        .split([',', ';', ' ', '\n', '\r', '\t'])
        .filter(|p| !p.trim().is_empty())
    {
        let domain = CompanyDomain::parse(part).map_err(|e| format!("“{}”: {e}", part.trim()))?;
        set.insert(domain.as_str().to_owned());
    }
    if set.len() > MAX_LIST {
        return Err(format!("At most {MAX_LIST} domains."));
    }
    Ok(set)
}

/// GET /o/{org_slug}/settings/matching
pub async fn show_matching_settings(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
) -> AppResult<MatchingSettingsPage> {
    let rules = {
        let mut conn = state.db.acquire().await?;
        db::meeting_customers::rules(&mut conn, ctx.org.id).await?
    };
    Ok(MatchingSettingsPage {
        layout: Layout::for_org(&state.db, &session, &ctx, "customers", "Matching settings")
            .await?,
        org_slug: ctx.org.slug.clone(),
        can_manage: ctx.role.can_manage(),
        internal_domains: lines(&rules.internal_domains),
        free_mail_added: lines(&rules.free_mail_added),
        free_mail_removed: lines(&rules.free_mail_removed),
        shipped_count: default_free_mail().len(),
        internal_error: None,
        added_error: None,
        removed_error: None,
    })
}

/// The settings form.
#[derive(Debug, Deserialize)]
pub struct MatchingSettingsForm {
    #[serde(default)]
    pub internal_domains: String,
    #[serde(default)]
    pub free_mail_added: String,
    #[serde(default)]
    pub free_mail_removed: String,
}

/// POST /o/{org_slug}/settings/matching
pub async fn update_matching_settings(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Form(form): Form<MatchingSettingsForm>,
) -> AppResult<Response> {
    ctx.require_manager()?;
    let parsed = (
        parse_list(&form.internal_domains),
        parse_list(&form.free_mail_added),
        parse_list(&form.free_mail_removed),
    );
    let (internal_domains, free_mail_added, free_mail_removed) = match parsed {
        (Ok(i), Ok(a), Ok(r)) => (i, a, r),
        (i, a, r) => {
            let page = MatchingSettingsPage {
                layout: Layout::for_org(
                    &state.db,
                    &session,
                    &ctx,
                    "customers",
                    "Matching settings",
                )
                .await?,
                org_slug: ctx.org.slug.clone(),
                can_manage: true,
                internal_domains: form.internal_domains.trim().to_owned(),
                free_mail_added: form.free_mail_added.trim().to_owned(),
                free_mail_removed: form.free_mail_removed.trim().to_owned(),
                shipped_count: default_free_mail().len(),
                internal_error: i.err(),
                added_error: a.err(),
                removed_error: r.err(),
            };
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let rules = Rules {
        internal_domains,
        free_mail_added,
        free_mail_removed,
    };
    let mut tx = state.db.begin().await?;
    db::meeting_customers::save_rules(&mut tx, ctx.org.id, &rules).await?;
    jobs::request_rematch(&mut tx, ctx.org.id).await?;
    tx.commit().await?;
    flash(
        &session,
        FlashKind::Success,
        "Matching settings saved. Meetings are being matched again.",
    )
    .await?;
    Ok(Redirect::to(&format!("/o/{}/settings/matching", ctx.org.slug)).into_response())
}

/// This area's routes.
pub fn router() -> Routes {
    Routes::new().route(
        "/o/{org_slug}/settings/matching",
        get(show_matching_settings).post(update_matching_settings),
    )
}
