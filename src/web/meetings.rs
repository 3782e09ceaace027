//! The Meetings pages: every meeting of the org, newest first (keyset pages of 50), and one
//! meeting with its summary (Markdown, sanitised), attendees, action items, highlights and
//! transcript.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use crate::auth::extractors::OrgContext;
use crate::db;
use crate::db::meetings::{AttendeeRow, FullMeeting, MeetingListItem, PAGE_SIZE};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::web::layout::Layout;
use crate::web::markdown::render_section;
use crate::web::routes::Routes;
use axum::routing::get;

/// The Meetings list.
#[derive(Template, WebTemplate)]
#[template(path = "meetings/list.html")]
pub struct MeetingsPage {
    pub layout: Layout,
    pub org_slug: String,
    pub meetings: Vec<MeetingListItem>,
    /// Cursor of the next (older) page.
    pub older: Option<String>,
}

/// `?before=<cursor>` for older pages.
#[derive(Debug, Deserialize)]
pub struct MeetingsQuery {
    pub before: Option<String>,
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
    let mut meetings = db::meetings::list(&state.db, ctx.org.id, before, PAGE_SIZE + 1).await?;
    let older = if meetings.len() as i64 > PAGE_SIZE {
        meetings.truncate(PAGE_SIZE as usize);
        meetings.last().map(encode_cursor)
    } else {
        None
    };
    Ok(MeetingsPage {
        layout: Layout::for_org(&state.db, &session, &ctx, "meetings", "Meetings").await?,
        org_slug: ctx.org.slug.clone(),
        meetings,
        older,
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
}

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
        m,
    })
}

/// This area's routes.
pub fn router() -> Routes {
    Routes::new()
        .route("/o/{org_slug}/meetings", get(list_meetings))
        .route("/o/{org_slug}/meetings/{meeting_id}", get(show_meeting))
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
