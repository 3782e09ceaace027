//! The Meetings pages: every meeting of the org, newest first (keyset pages of 50), and one
//! meeting with its summary (Markdown, sanitised), attendees, action items, highlights and
//! transcript.

use super::filters;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use crate::auth::extractors::OrgContext;
use crate::db;
use crate::db::meetings::{AttendeeRow, FullMeeting, MeetingFilter, MeetingListItem, PAGE_SIZE};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::web::layout::Layout;
use crate::web::markdown::render_section;
use crate::web::routes::Routes;
use axum::Form;
use axum::response::Redirect;
use axum::routing::{get, post};

use crate::db::crm_pushes::PushState;
use crate::db::meeting_customers::MeetingCustomer;
use crate::domain::matching::{Decision, LinkReason};
use crate::domain::{CustomerId, MeetingId};
use crate::jobs::match_meeting::match_batch;
use crate::web::layout::{FlashKind, flash};

/// The Meetings list.
#[derive(Template, WebTemplate)]
#[template(path = "meetings/list.html")]
pub struct MeetingsPage {
    pub layout: Layout,
    pub org_slug: String,
    pub meetings: Vec<MeetingListItem>,
    /// Query string of the next (older) page, filters kept.
    pub older: Option<String>,
    /// The filter form as submitted.
    pub query: MeetingsQuery,
    /// Customers to filter by.
    pub customers: Vec<(CustomerId, String)>,
    /// Whether any filter is on.
    pub filtered: bool,
}

/// `?before=<cursor>` for older pages; `customer`, `matched` (`yes`/`no`), `from` and `until`
/// (`YYYY-MM-DD`, until inclusive) filter.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct MeetingsQuery {
    pub before: Option<String>,
    #[serde(default)]
    pub customer: String,
    #[serde(default)]
    pub matched: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub until: String,
}

/// A keyset cursor `(started_at, id)` as `<microseconds>_<uuid>`.
fn encode_cursor(m: &MeetingListItem) -> String {
    format!("{}_{}", m.started_at.timestamp_micros(), m.id)
}

fn decode_cursor(text: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let (micros, id) = text.split_once('_')?;
    let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    Some((at, id.parse().ok()?))
}

fn parse_day(text: &str, what: &str) -> AppResult<Option<chrono::NaiveDate>> {
    match text.trim() {
        "" => Ok(None),
        day => chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| {
                AppError::Validation(format!("The {what} date must look like 2026-11-30."))
            }),
    }
}

/// The filter a query asks for (the customer checked against the org).
async fn filter_of(
    state: &AppState,
    ctx: &OrgContext,
    q: &MeetingsQuery,
) -> AppResult<MeetingFilter> {
    let customer = match q.customer.trim() {
        "" => None,
        id => {
            let id = CustomerId(id.parse().map_err(|_| AppError::NotFound)?);
            db::customers::find(&state.db, ctx.org.id, id)
                .await?
                .ok_or(AppError::NotFound)?;
            Some(id)
        }
    };
    let matched = match q.matched.trim() {
        "" => None,
        "yes" => Some(true),
        "no" => Some(false),
        _ => {
            return Err(AppError::Validation(
                "Choose matched or unmatched meetings.".into(),
            ));
        }
    };
    let from = parse_day(&q.from, "from")?
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc());
    let until = parse_day(&q.until, "until")?
        .and_then(|d| d.succ_opt())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc());
    Ok(MeetingFilter {
        customer,
        matched,
        from,
        until,
    })
}

/// Customers offered in the filter at most.
const FILTER_CUSTOMERS: i64 = 1000;

/// GET /o/{org_slug}/meetings
pub async fn list_meetings(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Query(query): Query<MeetingsQuery>,
) -> AppResult<MeetingsPage> {
    let before = match query.before.as_deref() {
        None | Some("") => None,
        Some(text) => Some(decode_cursor(text).ok_or_else(|| {
            AppError::Validation(
                "That page link is damaged; start again from the newest meetings.".into(),
            )
        })?),
    };
    let filter = filter_of(&state, &ctx, &query).await?;
    let mut meetings =
        db::meetings::list_filtered(&state.db, ctx.org.id, &filter, before, PAGE_SIZE + 1).await?;
    let older = if meetings.len() as i64 > PAGE_SIZE {
        meetings.truncate(PAGE_SIZE as usize);
        meetings.last().map(|m| {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            for (key, value) in [
                ("customer", &query.customer),
                ("matched", &query.matched),
                ("from", &query.from),
                ("until", &query.until),
            ] {
                if !value.trim().is_empty() {
                    q.append_pair(key, value.trim());
                }
            }
            q.append_pair("before", &encode_cursor(m));
            q.finish()
        })
    } else {
        None
    };
    Ok(MeetingsPage {
        layout: Layout::for_org(&state.db, &session, &ctx, "meetings", "Meetings").await?,
        org_slug: ctx.org.slug.clone(),
        meetings,
        older,
        customers: db::customers::names(&state.db, ctx.org.id, FILTER_CUSTOMERS).await?,
        filtered: filter != MeetingFilter::default(),
        query,
    })
}

/// One meeting's page.
#[derive(Template, WebTemplate)]
#[template(path = "meetings/show.html")]
pub struct MeetingPage {
    pub layout: Layout,
    pub org_slug: String,
    pub m: FullMeeting,
    pub internal: Vec<AttendeeRow>,
    pub external: Vec<AttendeeRow>,
    /// The summary as sanitised HTML.
    pub summary_html: Option<String>,
    /// Where the recording is at Fathom (share link, else Fathom's own).
    pub fathom_link: Option<String>,
    /// The customers it is linked to, with why.
    pub customers: Vec<LinkedCustomer>,
    /// Customers it could be linked to by hand (not linked yet).
    pub linkable: Vec<(CustomerId, String)>,
    /// What became of it in each connected CRM.
    pub crm_pushes: Vec<crate::db::crm_pushes::PushStatus>,
}

impl MeetingPage {
    /// Transcripts longer than this many lines start folded.
    pub const OPEN_TRANSCRIPT_LINES: usize = 40;

    /// The recording at Fathom from `seconds` in (Fathom's `?timestamp=` playback form).
    pub fn playback_at(&self, seconds: &i32) -> Option<String> {
        let mut url = url::Url::parse(self.fathom_link.as_deref()?).ok()?;
        url.query_pairs_mut()
            .append_pair("timestamp", &seconds.to_string());
        Some(url.into())
    }
}

/// A customer of a meeting, as its page shows it.
pub struct LinkedCustomer {
    pub link: MeetingCustomer,
    pub reason: &'static str,
}

/// Customers offered in the link-by-hand list at most.
const LINKABLE_LIMIT: i64 = 1000;

/// Path of one meeting.
#[derive(Debug, Deserialize)]
pub struct MeetingPath {
    pub org_slug: String,
    pub meeting_id: String,
}

/// GET /o/{org_slug}/meetings/{meeting_id}
pub async fn show_meeting(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<MeetingPath>,
) -> AppResult<MeetingPage> {
    let id: Uuid = path.meeting_id.parse().map_err(|_| AppError::NotFound)?;
    let m = db::meetings::find(&state.db, ctx.org.id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let (external, internal) = m.attendees.iter().cloned().partition(|a| a.is_external);
    let summary_html = m
        .meeting
        .summary_markdown
        .as_deref()
        .map(|summary| render_section(summary, "Summary"));
    let customers: Vec<LinkedCustomer> =
        db::meeting_customers::of_meeting(&state.db, ctx.org.id, MeetingId(m.meeting.id))
            .await?
            .into_iter()
            .map(|link| LinkedCustomer {
                reason: LinkReason::parse(&link.reason)
                    .unwrap_or(LinkReason::Manual)
                    .label(),
                link,
            })
            .collect();
    let linkable = db::customers::names(&state.db, ctx.org.id, LINKABLE_LIMIT)
        .await?
        .into_iter()
        .filter(|(id, _)| !customers.iter().any(|c| c.link.customer_id == *id))
        .collect();
    let crm_pushes =
        db::crm_pushes::for_meeting(&state.db, ctx.org.id, MeetingId(m.meeting.id)).await?;
    let fathom_link = m
        .meeting
        .share_url
        .clone()
        .or_else(|| m.meeting.fathom_url.clone())
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"));
    Ok(MeetingPage {
        layout: Layout::for_org(
            &state.db,
            &session,
            &ctx,
            "meetings",
            m.meeting.title.clone(),
        )
        .await?,
        org_slug: ctx.org.slug.clone(),
        internal,
        external,
        summary_html,
        fathom_link,
        crm_pushes,
        customers,
        linkable,
        m,
    })
}

/// The link-by-hand form.
#[derive(Debug, Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    pub customer_id: String,
}

/// Path of one meeting's customer.
#[derive(Debug, Deserialize)]
pub struct MeetingCustomerPath {
    pub org_slug: String,
    pub meeting_id: String,
    pub customer_id: String,
}

/// Records a person's decision and matches the meeting again at once, in one transaction.
async fn decide(
    state: &AppState,
    ctx: &OrgContext,
    meeting: &str,
    customer: &str,
    decision: Decision,
) -> AppResult<(MeetingId, String)> {
    let meeting = MeetingId(meeting.parse().map_err(|_| AppError::NotFound)?);
    let customer = CustomerId(customer.parse().map_err(|_| AppError::NotFound)?);
    let name = db::customers::find(&state.db, ctx.org.id, customer)
        .await?
        .ok_or(AppError::NotFound)?
        .name;
    let mut tx = state.db.begin().await?;
    if !db::meeting_customers::decide(
        &mut tx,
        ctx.org.id,
        meeting,
        customer,
        decision,
        ctx.user.id,
    )
    .await?
    {
        return Err(AppError::NotFound);
    }
    let rules = db::meeting_customers::rules(&mut tx, ctx.org.id).await?;
    let counts = match_batch(
        &mut tx,
        ctx.org.id,
        &rules,
        db::meeting_customers::Meetings::Listed(&[meeting]),
        db::meeting_customers::MatchLock::Exclusive,
    )
    .await?;
    crate::jobs::enqueue_pushes(&mut tx, ctx.org.id, &counts.changed).await?;
    let mut touched = counts.touched;
    if !touched.contains(&customer) {
        touched.push(customer);
    }
    crate::jobs::enqueue_refresh_customer_rollups(&mut tx, ctx.org.id, Some(touched)).await?;
    tx.commit().await?;
    tracing::info!(org_id = %ctx.org.id, %meeting, %customer, decision = decision.as_str(),
        "meeting link decided by hand");
    Ok((meeting, name))
}

/// POST /o/{org_slug}/meetings/{meeting_id}/customers
pub async fn create_meeting_customer(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<MeetingPath>,
    Form(form): Form<LinkForm>,
) -> AppResult<Redirect> {
    let meeting = MeetingId(path.meeting_id.parse().map_err(|_| AppError::NotFound)?);
    if !db::meeting_customers::meeting_exists(&state.db, ctx.org.id, meeting).await? {
        return Err(AppError::NotFound);
    }
    if form.customer_id.trim().is_empty() {
        return Err(AppError::Validation("Choose a customer to link.".into()));
    }
    let (meeting, name) = decide(
        &state,
        &ctx,
        &path.meeting_id,
        form.customer_id.trim(),
        Decision::Link,
    )
    .await?;
    flash(&session, FlashKind::Success, format!("Linked to {name}.")).await?;
    Ok(Redirect::to(&format!(
        "/o/{}/meetings/{}",
        ctx.org.slug, meeting.0
    )))
}

/// POST /o/{org_slug}/meetings/{meeting_id}/customers/{customer_id}/unlink
pub async fn delete_meeting_customer(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<MeetingCustomerPath>,
) -> AppResult<Redirect> {
    let (meeting, name) = decide(
        &state,
        &ctx,
        &path.meeting_id,
        &path.customer_id,
        Decision::Unlink,
    )
    .await?;
    flash(
        &session,
        FlashKind::Success,
        format!("Unlinked from {name}; it stays unlinked until someone links it again."),
    )
    .await?;
    Ok(Redirect::to(&format!(
        "/o/{}/meetings/{}",
        ctx.org.slug, meeting.0
    )))
}

/// This area's routes.
pub fn router() -> Routes {
    Routes::new()
        .route("/o/{org_slug}/meetings", get(list_meetings))
        .route("/o/{org_slug}/meetings/{meeting_id}", get(show_meeting))
        .route(
            "/o/{org_slug}/meetings/{meeting_id}/customers",
            post(create_meeting_customer),
        )
        .route(
            "/o/{org_slug}/meetings/{meeting_id}/customers/{customer_id}/unlink",
            post(delete_meeting_customer),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_rejected() {
        let item = MeetingListItem {
            id: Uuid::now_v7(),
            title: "t".into(),
            started_at: "2026-11-20T10:00:00.123456Z".parse().unwrap(),
            recorded_by_name: None,
            recorded_by_email: None,
            has_external_attendees: false,
            attendee_count: 0,
            customers: vec![],
        };
        assert_eq!(
            decode_cursor(&encode_cursor(&item)),
            Some((item.started_at, item.id))
        );
        for bad in [
            "",
            "x",
            "12_notauuid",
            "abc_0190b4f8-0000-7000-8000-000000000000",
        ] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }
}
