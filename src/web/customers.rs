//! The Customers pages: the list (search by name or domain, keyset pages of 50), one customer with
//! its domains, contacts and meetings, and the forms that add, change and delete them. Any member
//! manages customers; every change that can alter matching asks for a re-match of the org.

use super::filters;
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use crate::auth::extractors::OrgContext;
use crate::db;
use crate::db::customer_rollups::Rollup;
use crate::db::customers::OpenActionItem;
use crate::db::customers::{
    Contact, ContactFields, Cursor, Customer, CustomerListItem, CustomerMeeting, DomainTaken,
    PAGE_SIZE, Sort, Source,
};
use crate::domain::matching::LinkReason;
use crate::domain::{CompanyDomain, ContactId, CustomerId, Email, MeetingId};
use crate::error::{AppError, AppResult};
use crate::jobs;
use crate::state::AppState;
use crate::web::charts;
use crate::web::layout::{FlashKind, Layout, flash};
use crate::web::routes::Routes;

/// Longest customer or contact name, and contact title.
const MAX_NAME: usize = 200;
/// Longest notes.
const MAX_NOTES: usize = 10_000;
/// Domains one form may add at once.
const MAX_DOMAINS_AT_ONCE: usize = 20;

/// A row of the customers list with its chart.
pub struct CustomerRow {
    pub item: CustomerListItem,
    /// Meetings per week, as inline SVG (numbers only).
    pub chart: String,
}

/// The customers list.
#[derive(Template, WebTemplate)]
#[template(path = "customers/list.html")]
pub struct CustomersPage {
    pub layout: Layout,
    pub org_slug: String,
    pub search: String,
    pub sort: &'static str,
    pub customers: Vec<CustomerRow>,
    /// Query string of the next page.
    pub next: Option<String>,
}

/// `?q=` to search, `?sort=name|recent|active`, `?after=` for later pages.
#[derive(Debug, Deserialize)]
pub struct CustomersQuery {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub sort: String,
    pub after: Option<String>,
}

fn encode_cursor(cursor: &Cursor) -> String {
    match cursor {
        Cursor::Name(name, id) => format!("n_{id}_{name}"),
        Cursor::Recent(at, id) => format!(
            "r_{}_{id}",
            at.map(|t| t.timestamp_micros().to_string())
                .unwrap_or_default()
        ),
        Cursor::Active(n, id) => format!("a_{n}_{id}"),
    }
}

fn decode_cursor(sort: Sort, text: &str) -> Option<Cursor> {
    let (kind, rest) = text.split_once('_')?;
    match (sort, kind) {
        (Sort::Name, "n") => {
            let (id, name) = rest.split_once('_')?;
            Some(Cursor::Name(name.to_owned(), CustomerId(id.parse().ok()?)))
        }
        (Sort::Recent, "r") => {
            let (micros, id) = rest.split_once('_')?;
            let at = match micros {
                "" => None,
                m => Some(DateTime::from_timestamp_micros(m.parse().ok()?)?),
            };
            Some(Cursor::Recent(at, CustomerId(id.parse().ok()?)))
        }
        (Sort::Active, "a") => {
            let (n, id) = rest.split_once('_')?;
            Some(Cursor::Active(
                n.parse().ok()?,
                CustomerId(id.parse().ok()?),
            ))
        }
        _ => None,
    }
}

/// GET /o/{org_slug}/customers
pub async fn list_customers(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Query(query): Query<CustomersQuery>,
) -> AppResult<CustomersPage> {
    let sort = Sort::parse(query.sort.trim()).ok_or_else(|| {
        AppError::Validation(
            "Sort by name, most recent meeting or meetings in the last 30 days.".into(),
        )
    })?;
    let after = match query.after.as_deref() {
        None | Some("") => None,
        Some(text) => Some(decode_cursor(sort, text).ok_or_else(|| {
            AppError::Validation(
                "That page link is damaged; start again from the first page.".into(),
            )
        })?),
    };
    let search = query.q.trim();
    let search = (!search.is_empty()).then_some(search);
    let mut customers = db::customers::list(
        &state.db,
        ctx.org.id,
        search,
        sort,
        after.as_ref(),
        PAGE_SIZE + 1,
    )
    .await?;
    let next = if customers.len() as i64 > PAGE_SIZE {
        customers.truncate(PAGE_SIZE as usize);
        customers.last().map(|c| {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            if let Some(s) = search {
                q.append_pair("q", s);
            }
            q.append_pair("sort", sort.as_str());
            q.append_pair("after", &encode_cursor(&Cursor::after(sort, c)));
            q.finish()
        })
    } else {
        None
    };
    Ok(CustomersPage {
        layout: Layout::for_org(&state.db, &session, &ctx, "customers", "Customers").await?,
        org_slug: ctx.org.slug.clone(),
        search: query.q.trim().to_owned(),
        sort: sort.as_str(),
        customers: customers
            .into_iter()
            .map(|item| CustomerRow {
                chart: charts::weekly_bars(&item.weekly, 96, 24),
                item,
            })
            .collect(),
        next,
    })
}

/// The add-a-customer and edit-a-customer form.
#[derive(Template, WebTemplate)]
#[template(path = "customers/form.html")]
pub struct CustomerFormPage {
    pub layout: Layout,
    pub org_slug: String,
    /// The customer being edited; `None` when adding one.
    pub editing: Option<CustomerId>,
    pub name: String,
    pub domains: String,
    pub notes: String,
    pub name_error: Option<String>,
    pub domains_error: Option<String>,
    pub notes_error: Option<String>,
}

/// The customer form's fields.
#[derive(Debug, Deserialize)]
pub struct CustomerForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub domains: String,
    #[serde(default)]
    pub notes: String,
}

fn parse_name(input: &str, what: &'static str) -> Result<String, String> {
    let name = input.trim();
    if name.is_empty() {
        return Err(format!("Enter the {what}."));
    }
    if name.chars().count() > MAX_NAME {
        return Err(format!(
            "The {what} is too long ({MAX_NAME} characters at most)."
        ));
    }
    Ok(name.to_owned())
}

fn parse_notes(input: &str) -> Result<String, String> {
    if input.chars().count() > MAX_NOTES {
        return Err(format!(
            "Notes are too long ({MAX_NOTES} characters at most)."
        ));
    }
    Ok(input.trim().to_owned())
}

/// Domains separated by commas, semicolons or spaces; the first bad one is named.
pub fn parse_domains(input: &str) -> Result<Vec<CompanyDomain>, String> {
    let mut domains: Vec<CompanyDomain> = Vec::new();
    for part in input
        .split([',', ';', ' ', '\n', '\t'])
        .filter(|p| !p.trim().is_empty())
    {
        let domain = CompanyDomain::parse(part).map_err(|e| format!("“{}”: {e}", part.trim()))?;
        if !domains.contains(&domain) {
            domains.push(domain);
        }
    }
    if domains.len() > MAX_DOMAINS_AT_ONCE {
        return Err(format!(
            "Add at most {MAX_DOMAINS_AT_ONCE} domains at once."
        ));
    }
    Ok(domains)
}

/// GET /o/{org_slug}/customers/new
pub async fn new_customer(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
) -> AppResult<CustomerFormPage> {
    Ok(CustomerFormPage {
        layout: Layout::for_org(&state.db, &session, &ctx, "customers", "Add a customer").await?,
        org_slug: ctx.org.slug.clone(),
        editing: None,
        name: String::new(),
        domains: String::new(),
        notes: String::new(),
        name_error: None,
        domains_error: None,
        notes_error: None,
    })
}

/// POST /o/{org_slug}/customers
pub async fn create_customer(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Form(form): Form<CustomerForm>,
) -> AppResult<Response> {
    let name = parse_name(&form.name, "company name");
    let domains = parse_domains(&form.domains);
    let notes = parse_notes(&form.notes);
    let invalid = |name_error, domains_error, notes_error| async {
        let page = CustomerFormPage {
            layout: Layout::for_org(&state.db, &session, &ctx, "customers", "Add a customer")
                .await?,
            org_slug: ctx.org.slug.clone(),
            editing: None,
            name: form.name.trim().to_owned(),
            domains: form.domains.trim().to_owned(),
            notes: form.notes.clone(),
            name_error,
            domains_error,
            notes_error,
        };
        AppResult::Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
    };
    let (name, domains, notes) = match (name, domains, notes) {
        (Ok(n), Ok(d), Ok(x)) => (n, d, x),
        (n, d, x) => return invalid(n.err(), d.err(), x.err()).await,
    };
    let mut tx = state.db.begin().await?;
    let created = db::customers::create_with_domains(
        &mut tx,
        ctx.org.id,
        &name,
        &notes,
        Source::Manual,
        &domains,
    )
    .await?;
    let id = match created {
        Ok(id) => id,
        Err((domain, owner)) => {
            tx.rollback().await?;
            let message = format!("{domain} already belongs to {owner}.");
            return invalid(None, Some(message), None).await;
        }
    };
    if !domains.is_empty() {
        jobs::request_rematch(&mut tx, ctx.org.id).await?;
    }
    tx.commit().await?;
    tracing::info!(org_id = %ctx.org.id, customer_id = %id, "customer added");
    flash(&session, FlashKind::Success, format!("{name} added.")).await?;
    Ok(Redirect::to(&customer_url(&ctx, id)).into_response())
}

fn customer_url(ctx: &OrgContext, id: CustomerId) -> String {
    format!("/o/{}/customers/{}", ctx.org.slug, id)
}

/// Path of one customer.
#[derive(Debug, Deserialize)]
pub struct CustomerPath {
    pub org_slug: String,
    pub customer_id: String,
}

fn customer_id(text: &str) -> AppResult<CustomerId> {
    text.parse::<Uuid>()
        .map(CustomerId)
        .map_err(|_| AppError::NotFound)
}

async fn load_customer(state: &AppState, ctx: &OrgContext, id: &str) -> AppResult<Customer> {
    db::customers::find(&state.db, ctx.org.id, customer_id(id)?)
        .await?
        .ok_or(AppError::NotFound)
}

/// A meeting row on a customer's page.
pub struct CustomerMeetingRow {
    pub meeting: CustomerMeeting,
    pub reason: &'static str,
    /// The summary's first lines as plain text.
    pub summary: Option<String>,
}

/// One customer's page.
#[derive(Template, WebTemplate)]
#[template(path = "customers/show.html")]
pub struct CustomerPage {
    pub layout: Layout,
    pub org_slug: String,
    pub customer: Customer,
    pub source: &'static str,
    pub domains: Vec<String>,
    pub contacts: Vec<Contact>,
    pub meetings: Vec<CustomerMeetingRow>,
    /// Query string of the next (older) page of meetings.
    pub older: Option<String>,
    pub domain_input: String,
    pub domain_error: Option<String>,
    pub contact: ContactInput,
    /// Its dashboard figures.
    pub rollup: Rollup,
    /// Meetings per week, as inline SVG (numbers only).
    pub chart: String,
    pub action_items: Vec<OpenActionItem>,
    /// The CRM records it is: `(provider, account, imported from it)`.
    pub crm_records: Vec<(crate::domain::CrmProvider, String, bool)>,
}

/// Open action items shown on a customer's page at most.
const ACTION_ITEMS_SHOWN: i64 = 50;

/// What the add-a-contact form holds (kept when it is re-shown with an error).
#[derive(Debug, Default, Clone)]
pub struct ContactInput {
    pub email: String,
    pub name: String,
    pub title: String,
    pub email_error: Option<String>,
    pub name_error: Option<String>,
    pub title_error: Option<String>,
}

impl ContactInput {
    /// The form as typed, its email another customer's contact already.
    fn email_taken(
        email: &Email,
        name: Option<String>,
        title: Option<String>,
        owner: &str,
    ) -> ContactInput {
        ContactInput {
            email: email.as_str().to_owned(),
            name: name.unwrap_or_default(),
            title: title.unwrap_or_default(),
            email_error: Some(format!(
                "{} is already a contact of {owner}.",
                email.as_str()
            )),
            ..ContactInput::default()
        }
    }
}

/// `?before=` for older meetings.
#[derive(Debug, Deserialize)]
pub struct CustomerQuery {
    pub before: Option<String>,
}

fn decode_meeting_cursor(text: &str) -> Option<(DateTime<Utc>, MeetingId)> {
    let (micros, id) = text.split_once('_')?;
    let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    Some((at, MeetingId(id.parse().ok()?)))
}

/// The first few lines of a Markdown summary as plain text (the page shows it escaped).
fn summary_start(markdown: &str) -> String {
    let text: String = markdown
        .lines()
        .map(|l| l.trim_start_matches(['#', '-', '*', '>', ' ']).trim())
        .filter(|l| !l.is_empty())
        .take(3)
        .collect::<Vec<_>>()
        .join(" · ")
        .replace("**", "");
    match text.char_indices().nth(240) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

async fn customer_page(
    state: &AppState,
    session: &Session,
    ctx: &OrgContext,
    customer: Customer,
    before: Option<(DateTime<Utc>, MeetingId)>,
) -> AppResult<CustomerPage> {
    let domains = db::customers::domains(&state.db, ctx.org.id, customer.id).await?;
    let contacts = db::customers::contacts(&state.db, ctx.org.id, customer.id).await?;
    let mut meetings =
        db::customers::meetings(&state.db, ctx.org.id, customer.id, before, PAGE_SIZE + 1).await?;
    let older = if meetings.len() as i64 > PAGE_SIZE {
        meetings.truncate(PAGE_SIZE as usize);
        meetings
            .last()
            .map(|m| format!("before={}_{}", m.started_at.timestamp_micros(), m.id))
    } else {
        None
    };
    let meetings = meetings
        .into_iter()
        .map(|meeting| CustomerMeetingRow {
            reason: LinkReason::parse(&meeting.reason)
                .unwrap_or(LinkReason::Manual)
                .label(),
            summary: meeting.summary_start.as_deref().map(summary_start),
            meeting,
        })
        .collect();
    let rollup = db::customer_rollups::find(&state.db, ctx.org.id, customer.id).await?;
    let action_items =
        db::customers::open_action_items(&state.db, ctx.org.id, customer.id, ACTION_ITEMS_SHOWN)
            .await?;
    let crm_records = db::crm_records::for_customer(&state.db, ctx.org.id, customer.id).await?;
    Ok(CustomerPage {
        crm_records,
        chart: charts::weekly_bars(&rollup.weekly, 480, 96),
        rollup,
        action_items,
        layout: Layout::for_org(&state.db, session, ctx, "customers", customer.name.clone())
            .await?,
        org_slug: ctx.org.slug.clone(),
        source: customer.source.label(),
        customer,
        domains,
        contacts,
        meetings,
        older,
        domain_input: String::new(),
        domain_error: None,
        contact: ContactInput::default(),
    })
}

/// GET /o/{org_slug}/customers/{customer_id}
pub async fn show_customer(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<CustomerPath>,
    Query(query): Query<CustomerQuery>,
) -> AppResult<CustomerPage> {
    let customer = load_customer(&state, &ctx, &path.customer_id).await?;
    let before = match query.before.as_deref() {
        None | Some("") => None,
        Some(text) => Some(decode_meeting_cursor(text).ok_or_else(|| {
            AppError::Validation(
                "That page link is damaged; start again from the newest meetings.".into(),
            )
        })?),
    };
    customer_page(&state, &session, &ctx, customer, before).await
}

/// GET /o/{org_slug}/customers/{customer_id}/edit
pub async fn edit_customer(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<CustomerPath>,
) -> AppResult<CustomerFormPage> {
    let customer = load_customer(&state, &ctx, &path.customer_id).await?;
    Ok(CustomerFormPage {
        layout: Layout::for_org(&state.db, &session, &ctx, "customers", "Edit customer").await?,
        org_slug: ctx.org.slug.clone(),
        editing: Some(customer.id),
        name: customer.name,
        domains: String::new(),
        notes: customer.notes,
        name_error: None,
        domains_error: None,
        notes_error: None,
    })
}

/// POST /o/{org_slug}/customers/{customer_id}
pub async fn update_customer(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<CustomerPath>,
    Form(form): Form<CustomerForm>,
) -> AppResult<Response> {
    let customer = load_customer(&state, &ctx, &path.customer_id).await?;
    let (name, notes) = match (
        parse_name(&form.name, "company name"),
        parse_notes(&form.notes),
    ) {
        (Ok(n), Ok(x)) => (n, x),
        (n, x) => {
            let page = CustomerFormPage {
                layout: Layout::for_org(&state.db, &session, &ctx, "customers", "Edit customer")
                    .await?,
                org_slug: ctx.org.slug.clone(),
                editing: Some(customer.id),
                name: form.name.trim().to_owned(),
                domains: String::new(),
                notes: form.notes.clone(),
                name_error: n.err(),
                domains_error: None,
                notes_error: x.err(),
            };
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let mut tx = state.db.begin().await?;
    if !db::customers::update(&mut tx, ctx.org.id, customer.id, &name, &notes).await? {
        return Err(AppError::NotFound);
    }
    tx.commit().await?;
    flash(&session, FlashKind::Success, format!("{name} saved.")).await?;
    Ok(Redirect::to(&customer_url(&ctx, customer.id)).into_response())
}

/// POST /o/{org_slug}/customers/{customer_id}/delete
pub async fn delete_customer(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<CustomerPath>,
) -> AppResult<Redirect> {
    let customer = load_customer(&state, &ctx, &path.customer_id).await?;
    let mut tx = state.db.begin().await?;
    if !db::customers::delete(&mut tx, ctx.org.id, customer.id).await? {
        return Err(AppError::NotFound);
    }
    // Its domains are free again: meetings there may now belong to a parent domain's customer.
    jobs::request_rematch(&mut tx, ctx.org.id).await?;
    tx.commit().await?;
    tracing::info!(org_id = %ctx.org.id, customer_id = %customer.id, "customer deleted");
    flash(
        &session,
        FlashKind::Success,
        format!(
            "{} deleted. Its meetings are kept, no longer linked to it.",
            customer.name
        ),
    )
    .await?;
    Ok(Redirect::to(&format!("/o/{}/customers", ctx.org.slug)))
}

/// The add-a-domain form.
#[derive(Debug, Deserialize)]
pub struct DomainForm {
    #[serde(default)]
    pub domain: String,
}

/// POST /o/{org_slug}/customers/{customer_id}/domains
pub async fn create_customer_domain(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<CustomerPath>,
    Form(form): Form<DomainForm>,
) -> AppResult<Response> {
    let customer = load_customer(&state, &ctx, &path.customer_id).await?;
    let refused = |message: String, customer: Customer| async {
        let mut page = customer_page(&state, &session, &ctx, customer, None).await?;
        page.domain_input = form.domain.trim().to_owned();
        page.domain_error = Some(message);
        AppResult::Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
    };
    let domains = match parse_domains(&form.domain) {
        Ok(d) if d.is_empty() => {
            return refused("Enter a domain like acme.com.".into(), customer).await;
        }
        Ok(d) => d,
        Err(message) => return refused(message, customer).await,
    };
    let mut tx = state.db.begin().await?;
    for domain in &domains {
        match db::customers::add_domain(&mut tx, ctx.org.id, customer.id, domain).await? {
            Ok(()) => {}
            Err(DomainTaken::Already) => {
                tx.rollback().await?;
                return refused(
                    format!("{domain} is already one of {}'s domains.", customer.name),
                    customer,
                )
                .await;
            }
            Err(DomainTaken::ByOther(owner)) => {
                tx.rollback().await?;
                return refused(format!("{domain} already belongs to {owner}."), customer).await;
            }
        }
    }
    jobs::request_rematch(&mut tx, ctx.org.id).await?;
    tx.commit().await?;
    let list: Vec<&str> = domains.iter().map(CompanyDomain::as_str).collect();
    flash(
        &session,
        FlashKind::Success,
        format!(
            "Added {}. Meetings with people there are being linked.",
            list.join(", ")
        ),
    )
    .await?;
    Ok(Redirect::to(&customer_url(&ctx, customer.id)).into_response())
}

/// POST /o/{org_slug}/customers/{customer_id}/domains/remove
pub async fn delete_customer_domain(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<CustomerPath>,
    Form(form): Form<DomainForm>,
) -> AppResult<Redirect> {
    let customer = load_customer(&state, &ctx, &path.customer_id).await?;
    let mut tx = state.db.begin().await?;
    if !db::customers::remove_domain(&mut tx, ctx.org.id, customer.id, form.domain.trim()).await? {
        return Err(AppError::NotFound);
    }
    jobs::request_rematch(&mut tx, ctx.org.id).await?;
    tx.commit().await?;
    flash(
        &session,
        FlashKind::Success,
        format!("Removed {} from {}.", form.domain.trim(), customer.name),
    )
    .await?;
    Ok(Redirect::to(&customer_url(&ctx, customer.id)))
}

/// The contact form's fields.
#[derive(Debug, Deserialize)]
pub struct ContactForm {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub title: String,
}

fn optional(input: &str, what: &'static str) -> Result<Option<String>, String> {
    let value = input.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > MAX_NAME {
        return Err(format!(
            "The {what} is too long ({MAX_NAME} characters at most)."
        ));
    }
    Ok(Some(value.to_owned()))
}

/// A contact form, checked: the values, or the form as typed with its messages.
fn check_contact(
    form: &ContactForm,
) -> Result<(Email, Option<String>, Option<String>), Box<ContactInput>> {
    let email = Email::parse(&form.email);
    let name = optional(&form.name, "name");
    let title = optional(&form.title, "title");
    match (email, name, title) {
        (Ok(e), Ok(n), Ok(t)) => Ok((e, n, t)),
        (e, n, t) => Err(Box::new(ContactInput {
            email: form.email.trim().to_owned(),
            name: form.name.trim().to_owned(),
            title: form.title.trim().to_owned(),
            email_error: e.err().map(|m| {
                if form.email.trim().is_empty() {
                    "Enter the contact's email address.".to_owned()
                } else {
                    m.to_owned()
                }
            }),
            name_error: n.err(),
            title_error: t.err(),
        })),
    }
}

/// POST /o/{org_slug}/customers/{customer_id}/contacts
pub async fn create_contact(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<CustomerPath>,
    Form(form): Form<ContactForm>,
) -> AppResult<Response> {
    let customer = load_customer(&state, &ctx, &path.customer_id).await?;
    let refused = |input: ContactInput, customer: Customer| async {
        let mut page = customer_page(&state, &session, &ctx, customer, None).await?;
        page.contact = input;
        AppResult::Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
    };
    let (email, name, title) = match check_contact(&form) {
        Ok(fields) => fields,
        Err(input) => return refused(*input, customer).await,
    };
    let fields = ContactFields {
        email: &email,
        name: name.as_deref(),
        title: title.as_deref(),
    };
    let mut tx = state.db.begin().await?;
    match db::customers::create_contact(&mut tx, ctx.org.id, customer.id, &fields, Source::Manual)
        .await?
    {
        Ok(_) => {}
        Err(owner) => {
            tx.rollback().await?;
            return refused(
                ContactInput::email_taken(&email, name, title, &owner),
                customer,
            )
            .await;
        }
    }
    jobs::request_rematch(&mut tx, ctx.org.id).await?;
    tx.commit().await?;
    flash(
        &session,
        FlashKind::Success,
        format!("{} added to {}.", email.as_str(), customer.name),
    )
    .await?;
    Ok(Redirect::to(&customer_url(&ctx, customer.id)).into_response())
}

/// Path of one contact.
#[derive(Debug, Deserialize)]
pub struct ContactPath {
    pub org_slug: String,
    pub customer_id: String,
    pub contact_id: String,
}

async fn load_contact(
    state: &AppState,
    ctx: &OrgContext,
    path: &ContactPath,
) -> AppResult<(Customer, Contact)> {
    let customer = load_customer(state, ctx, &path.customer_id).await?;
    let id: Uuid = path.contact_id.parse().map_err(|_| AppError::NotFound)?;
    let contact = db::customers::find_contact(&state.db, ctx.org.id, ContactId(id))
        .await?
        .filter(|c| c.customer_id == customer.id)
        .ok_or(AppError::NotFound)?;
    Ok((customer, contact))
}

/// The edit-a-contact form.
#[derive(Template, WebTemplate)]
#[template(path = "customers/contact_form.html")]
pub struct ContactFormPage {
    pub layout: Layout,
    pub org_slug: String,
    pub customer: Customer,
    pub contact_id: ContactId,
    pub contact: ContactInput,
}

/// GET /o/{org_slug}/customers/{customer_id}/contacts/{contact_id}/edit
pub async fn edit_contact(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<ContactPath>,
) -> AppResult<ContactFormPage> {
    let (customer, contact) = load_contact(&state, &ctx, &path).await?;
    Ok(ContactFormPage {
        layout: Layout::for_org(&state.db, &session, &ctx, "customers", "Edit contact").await?,
        org_slug: ctx.org.slug.clone(),
        customer,
        contact_id: contact.id,
        contact: ContactInput {
            email: contact.email,
            name: contact.name.unwrap_or_default(),
            title: contact.title.unwrap_or_default(),
            ..ContactInput::default()
        },
    })
}

/// POST /o/{org_slug}/customers/{customer_id}/contacts/{contact_id}
pub async fn update_contact(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<ContactPath>,
    Form(form): Form<ContactForm>,
) -> AppResult<Response> {
    let (customer, contact) = load_contact(&state, &ctx, &path).await?;
    let refused = |input: ContactInput, customer: Customer| async {
        let page = ContactFormPage {
            layout: Layout::for_org(&state.db, &session, &ctx, "customers", "Edit contact").await?,
            org_slug: ctx.org.slug.clone(),
            customer,
            contact_id: contact.id,
            contact: input,
        };
        AppResult::Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
    };
    let (email, name, title) = match check_contact(&form) {
        Ok(fields) => fields,
        Err(input) => return refused(*input, customer).await,
    };
    let fields = ContactFields {
        email: &email,
        name: name.as_deref(),
        title: title.as_deref(),
    };
    let mut tx = state.db.begin().await?;
    match db::customers::update_contact(&mut tx, ctx.org.id, customer.id, contact.id, &fields)
        .await?
    {
        Ok(true) => {}
        Ok(false) => return Err(AppError::NotFound),
        Err(owner) => {
            tx.rollback().await?;
            return refused(
                ContactInput::email_taken(&email, name, title, &owner),
                customer,
            )
            .await;
        }
    }
    jobs::request_rematch(&mut tx, ctx.org.id).await?;
    tx.commit().await?;
    flash(
        &session,
        FlashKind::Success,
        format!("{} saved.", email.as_str()),
    )
    .await?;
    Ok(Redirect::to(&customer_url(&ctx, customer.id)).into_response())
}

/// POST /o/{org_slug}/customers/{customer_id}/contacts/{contact_id}/delete
pub async fn delete_contact(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<ContactPath>,
) -> AppResult<Redirect> {
    let (customer, contact) = load_contact(&state, &ctx, &path).await?;
    let mut tx = state.db.begin().await?;
    if !db::customers::delete_contact(&mut tx, ctx.org.id, customer.id, contact.id).await? {
        return Err(AppError::NotFound);
    }
    jobs::request_rematch(&mut tx, ctx.org.id).await?;
    tx.commit().await?;
    flash(
        &session,
        FlashKind::Success,
        format!("{} removed from {}.", contact.email, customer.name),
    )
    .await?;
    Ok(Redirect::to(&customer_url(&ctx, customer.id)))
}

/// This area's routes.
pub fn router() -> Routes {
    Routes::new()
        .route(
            "/o/{org_slug}/customers",
            get(list_customers).post(create_customer),
        )
        .route("/o/{org_slug}/customers/new", get(new_customer))
        .route(
            "/o/{org_slug}/customers/{customer_id}",
            get(show_customer).post(update_customer),
        )
        .route(
            "/o/{org_slug}/customers/{customer_id}/edit",
            get(edit_customer),
        )
        .route(
            "/o/{org_slug}/customers/{customer_id}/delete",
            post(delete_customer),
        )
        .route(
            "/o/{org_slug}/customers/{customer_id}/domains",
            post(create_customer_domain),
        )
        .route(
            "/o/{org_slug}/customers/{customer_id}/domains/remove",
            post(delete_customer_domain),
        )
        .route(
            "/o/{org_slug}/customers/{customer_id}/contacts",
            post(create_contact),
        )
        .route(
            "/o/{org_slug}/customers/{customer_id}/contacts/{contact_id}",
            post(update_contact),
        )
        .route(
            "/o/{org_slug}/customers/{customer_id}/contacts/{contact_id}/edit",
            get(edit_contact),
        )
        .route(
            "/o/{org_slug}/customers/{customer_id}/contacts/{contact_id}/delete",
            post(delete_contact),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_split_on_commas_semicolons_and_spaces_and_the_bad_one_is_named() {
        let parsed = parse_domains("acme.com; https://www.acme.de/, eu.acme.com acme.com").unwrap();
        assert_eq!(
            parsed.iter().map(CompanyDomain::as_str).collect::<Vec<_>>(),
            ["acme.com", "acme.de", "eu.acme.com"]
        );
        assert_eq!(
            parse_domains("acme.com, nope").unwrap_err(),
            "“nope”: Enter a domain like acme.com."
        );
        assert!(parse_domains("").unwrap().is_empty());
    }

    #[test]
    fn summary_starts_are_short_plain_text() {
        let s =
            summary_start("## Key points\n\n- **Pricing** agreed\n- Next call Friday\n- More\n");
        assert_eq!(s, "Key points · Pricing agreed · Next call Friday");
        assert!(summary_start(&"x".repeat(1000)).chars().count() <= 241);
    }

    #[test]
    fn cursors_round_trip_for_each_order_and_garbage_is_refused() {
        let id = CustomerId::new();
        let at = DateTime::from_timestamp_micros(1_764_000_000_123_456);
        for (sort, cursor) in [
            (Sort::Name, Cursor::Name("acme_corp".into(), id)),
            (Sort::Recent, Cursor::Recent(at, id)),
            (Sort::Recent, Cursor::Recent(None, id)),
            (Sort::Active, Cursor::Active(7, id)),
        ] {
            assert_eq!(decode_cursor(sort, &encode_cursor(&cursor)), Some(cursor));
        }
        assert_eq!(decode_cursor(Sort::Name, "garbage"), None);
        assert_eq!(decode_cursor(Sort::Active, &format!("n_{id}_x")), None);
    }
}
