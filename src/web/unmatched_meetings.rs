//! The unmatched review: meetings with outside attendees and no customer, grouped into suggested
//! customers by the attendees' company domains (one click creates the customer and re-matches;
//! a suggestion can be dismissed), and people at free-mail addresses, each one click from being
//! a contact of a customer.

use super::filters;
use std::collections::HashSet;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::response::Redirect;
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;

use crate::auth::extractors::OrgContext;
use crate::db;
use crate::db::customers::{ContactFields, Source};
use crate::db::unmatched_meetings::{DomainSeen, PersonSeen, READ_LIMIT};
use crate::domain::{CompanyDomain, CustomerId, Email};
use crate::error::{AppError, AppResult};
use crate::jobs;
use crate::state::AppState;
use crate::web::layout::{FlashKind, Layout, flash};
use crate::web::routes::Routes;

/// Suggestions and people shown at most.
const SHOWN: usize = 50;

/// A suggested customer.
pub struct Suggestion {
    pub seen: DomainSeen,
    pub name: String,
}

/// The review page.
#[derive(Template, WebTemplate)]
#[template(path = "unmatched_meetings/list.html")]
pub struct UnmatchedPage {
    pub layout: Layout,
    pub org_slug: String,
    pub suggestions: Vec<Suggestion>,
    pub people: Vec<PersonSeen>,
    pub customers: Vec<(CustomerId, String)>,
}

/// GET /o/{org_slug}/customers/unmatched
pub async fn list_unmatched_meetings(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
) -> AppResult<UnmatchedPage> {
    let rules = {
        let mut conn = state.db.acquire().await?;
        db::meeting_customers::rules(&mut conn, ctx.org.id).await?
    };
    let seen = db::unmatched_meetings::domains(&state.db, ctx.org.id, READ_LIMIT).await?;
    let mut suggestions = Vec::new();
    let mut free_mail = HashSet::new();
    for s in seen {
        let Ok(domain) = CompanyDomain::parse(&s.domain) else {
            continue;
        };
        if rules.is_internal(&domain) {
            continue;
        }
        if rules.is_free_mail(&domain) {
            free_mail.insert(s.domain.clone());
        } else if suggestions.len() < SHOWN {
            suggestions.push(Suggestion {
                name: domain.guess_company_name(),
                seen: s,
            });
        }
    }
    let free_mail: Vec<String> = free_mail.into_iter().collect();
    let people =
        db::unmatched_meetings::people_at(&state.db, ctx.org.id, &free_mail, SHOWN as i64).await?;
    Ok(UnmatchedPage {
        layout: Layout::for_org(&state.db, &session, &ctx, "customers", "Unmatched meetings")
            .await?,
        org_slug: ctx.org.slug.clone(),
        suggestions,
        people,
        customers: db::customers::names(&state.db, ctx.org.id, 1000).await?,
    })
}

/// Create-from-suggestion and dismiss forms.
#[derive(Debug, Deserialize)]
pub struct SuggestionForm {
    #[serde(default)]
    pub domain: String,
    #[serde(default)]
    pub name: String,
}

fn review_url(ctx: &OrgContext) -> String {
    format!("/o/{}/customers/unmatched", ctx.org.slug)
}

/// POST /o/{org_slug}/customers/unmatched/create
pub async fn create_suggested_customer(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Form(form): Form<SuggestionForm>,
) -> AppResult<Redirect> {
    let domain = CompanyDomain::parse(&form.domain).map_err(|e| AppError::Validation(e.into()))?;
    let name = match form.name.trim() {
        "" => domain.guess_company_name(),
        n if n.chars().count() > 200 => {
            return Err(AppError::Validation(
                "The company name is too long (200 characters at most).".into(),
            ));
        }
        n => n.to_owned(),
    };
    let mut tx = state.db.begin().await?;
    let created = db::customers::create_with_domains(
        &mut tx,
        ctx.org.id,
        &name,
        "",
        Source::Manual,
        std::slice::from_ref(&domain),
    )
    .await?;
    let id = match created {
        Ok(id) => id,
        Err((domain, owner)) => {
            tx.rollback().await?;
            return Err(AppError::Conflict(format!(
                "{domain} already belongs to {owner}."
            )));
        }
    };
    jobs::request_rematch(&mut tx, ctx.org.id).await?;
    tx.commit().await?;
    flash(
        &session,
        FlashKind::Success,
        format!("{name} added with {domain}. Its meetings are being linked."),
    )
    .await?;
    Ok(Redirect::to(&format!(
        "/o/{}/customers/{}",
        ctx.org.slug, id
    )))
}

/// POST /o/{org_slug}/customers/unmatched/dismiss
pub async fn delete_customer_suggestion(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Form(form): Form<SuggestionForm>,
) -> AppResult<Redirect> {
    let domain = CompanyDomain::parse(&form.domain).map_err(|e| AppError::Validation(e.into()))?;
    db::unmatched_meetings::dismiss(&state.db, ctx.org.id, domain.as_str(), ctx.user.id).await?;
    flash(
        &session,
        FlashKind::Info,
        format!("{domain} will not be suggested again."),
    )
    .await?;
    Ok(Redirect::to(&review_url(&ctx)))
}

/// The add-as-contact form.
#[derive(Debug, Deserialize)]
pub struct PersonForm {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub customer_id: String,
}

/// POST /o/{org_slug}/customers/unmatched/contacts
pub async fn create_unmatched_contact(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Form(form): Form<PersonForm>,
) -> AppResult<Redirect> {
    let customer =
        CustomerId(form.customer_id.trim().parse().map_err(|_| {
            AppError::Validation("Choose the customer this person works for.".into())
        })?);
    let customer = db::customers::find(&state.db, ctx.org.id, customer)
        .await?
        .ok_or(AppError::NotFound)?;
    let email = Email::parse(&form.email).map_err(|e| AppError::Validation(e.into()))?;
    let name = Some(form.name.trim()).filter(|n| !n.is_empty() && n.chars().count() <= 200);
    let fields = ContactFields {
        email: &email,
        name,
        title: None,
    };
    let mut tx = state.db.begin().await?;
    if let Err(owner) =
        db::customers::create_contact(&mut tx, ctx.org.id, customer.id, &fields, Source::Manual)
            .await?
    {
        tx.rollback().await?;
        return Err(AppError::Conflict(format!(
            "{} is already a contact of {owner}.",
            email.as_str()
        )));
    }
    jobs::request_rematch(&mut tx, ctx.org.id).await?;
    tx.commit().await?;
    flash(
        &session,
        FlashKind::Success,
        format!(
            "{} is now a contact of {}; their meetings are being linked.",
            email.as_str(),
            customer.name
        ),
    )
    .await?;
    Ok(Redirect::to(&review_url(&ctx)))
}

/// This area's routes.
pub fn router() -> Routes {
    Routes::new()
        .route(
            "/o/{org_slug}/customers/unmatched",
            get(list_unmatched_meetings),
        )
        .route(
            "/o/{org_slug}/customers/unmatched/create",
            post(create_suggested_customer),
        )
        .route(
            "/o/{org_slug}/customers/unmatched/dismiss",
            post(delete_customer_suggestion),
        )
        .route(
            "/o/{org_slug}/customers/unmatched/contacts",
            post(create_unmatched_contact),
        )
}
