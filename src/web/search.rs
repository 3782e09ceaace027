//! Search: meetings of the org (or of one customer) whose title, summary or transcript matches
//! what a person typed, newest first, with a highlighted passage. The passage is split into
//! plain and highlighted parts here and escaped by the template, so no text can inject HTML.

use super::filters;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use crate::auth::extractors::OrgContext;
use crate::db;
use crate::db::search::{Hit, MARK_END, MARK_START};
use crate::domain::{CustomerId, MeetingId};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::web::layout::Layout;
use crate::web::routes::Routes;

/// Results on one page.
const PAGE_SIZE: i64 = 50;
/// Longest query searched.
const MAX_QUERY: usize = 500;

/// One result as the page shows it.
pub struct ResultRow {
    pub hit: Hit,
    /// The passage: `(text, highlighted)` parts, escaped by the template.
    pub parts: Vec<(String, bool)>,
}

/// The search page.
#[derive(Template, WebTemplate)]
#[template(path = "search/results.html")]
pub struct SearchPage {
    pub layout: Layout,
    pub org_slug: String,
    pub query: String,
    /// The customer the search is limited to.
    pub customer: Option<(CustomerId, String)>,
    /// `None` before anything was searched for.
    pub results: Option<Vec<ResultRow>>,
    /// Query string of the next page.
    pub older: Option<String>,
}

/// `?q=…&customer=…&before=…`
#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    pub q: String,
    pub customer: Option<String>,
    pub before: Option<String>,
}

/// Splits a passage at the highlight markers.
pub fn highlight_parts(snippet: &str) -> Vec<(String, bool)> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut marked = false;
    for c in snippet.chars() {
        if c == MARK_START || c == MARK_END {
            if !current.is_empty() {
                parts.push((std::mem::take(&mut current), marked));
            }
            marked = c == MARK_START;
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() {
        parts.push((current, marked));
    }
    parts
}

fn decode_cursor(text: &str) -> Option<(DateTime<Utc>, MeetingId)> {
    let (micros, id) = text.split_once('_')?;
    Some((
        DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        MeetingId(id.parse().ok()?),
    ))
}

/// GET /o/{org_slug}/search
pub async fn show_search(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Query(params): Query<SearchQuery>,
) -> AppResult<SearchPage> {
    let query: String = params.q.trim().chars().take(MAX_QUERY).collect();
    let customer = match params.customer.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(id) => {
            let id = CustomerId(id.parse::<Uuid>().map_err(|_| AppError::NotFound)?);
            let found = db::customers::find(&state.db, ctx.org.id, id)
                .await?
                .ok_or(AppError::NotFound)?;
            Some((found.id, found.name))
        }
    };
    let before = match params.before.as_deref() {
        None | Some("") => None,
        Some(text) => Some(decode_cursor(text).ok_or_else(|| {
            AppError::Validation("That page link is damaged; search again.".into())
        })?),
    };
    let (results, older) = if query.is_empty() || !db::search::has_terms(&state.db, &query).await? {
        (
            if query.is_empty() {
                None
            } else {
                Some(Vec::new())
            },
            None,
        )
    } else {
        let mut hits = db::search::meetings(
            &state.db,
            ctx.org.id,
            &query,
            customer.as_ref().map(|(id, _)| *id),
            before,
            PAGE_SIZE + 1,
        )
        .await?;
        let older = if hits.len() as i64 > PAGE_SIZE {
            hits.truncate(PAGE_SIZE as usize);
            hits.last().map(|h| {
                let mut q = url::form_urlencoded::Serializer::new(String::new());
                q.append_pair("q", &query);
                if let Some((id, _)) = &customer {
                    q.append_pair("customer", &id.to_string());
                }
                q.append_pair(
                    "before",
                    &format!("{}_{}", h.started_at.timestamp_micros(), h.id),
                );
                q.finish()
            })
        } else {
            None
        };
        let rows = hits
            .into_iter()
            .map(|hit| ResultRow {
                parts: hit
                    .snippet
                    .as_deref()
                    .map(highlight_parts)
                    .unwrap_or_default(),
                hit,
            })
            .collect();
        (Some(rows), older)
    };
    Ok(SearchPage {
        layout: Layout::for_org(&state.db, &session, &ctx, "search", "Search").await?,
        org_slug: ctx.org.slug.clone(),
        query,
        customer,
        results,
        older,
    })
}

/// This area's routes.
pub fn router() -> Routes {
    Routes::new().route("/o/{org_slug}/search", get(show_search))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passages_split_at_the_markers_only() {
        let text = format!("a <b>{MARK_START}price{MARK_END}</b> & {MARK_START}x{MARK_END}");
        assert_eq!(
            highlight_parts(&text),
            vec![
                ("a <b>".to_owned(), false),
                ("price".to_owned(), true),
                ("</b> & ".to_owned(), false),
                ("x".to_owned(), true),
            ]
        );
        assert_eq!(highlight_parts(""), vec![]);
    }
}
