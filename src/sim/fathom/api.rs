//! Fathom's external API (`/external/v1/...`): auth, faults, rate limits and call logging in one
//! gate in front of the handlers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use chrono::Utc;
use rand::RngCore;
use serde_json::json;

use super::data::random_alnum;
use super::faults::FaultAction;
use super::model::Page;
use super::query::MeetingsQuery;
use super::rate_limit::Verdict;
use super::state::{CallRecord, CursorState, Inner, SimState};
use super::webhooks;

/// Fathom's fixed page size for `GET /meetings`.
pub(crate) const PAGE_SIZE: usize = 10;

/// The API key's user, put in request extensions by the gate.
#[derive(Debug, Clone, Copy)]
struct Caller(usize);

pub(crate) fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/external/v1/meetings", get(list_meetings))
        .route(
            "/external/v1/recordings/{recording_id}/summary",
            get(get_summary),
        )
        .route(
            "/external/v1/recordings/{recording_id}/transcript",
            get(get_transcript),
        )
        .route("/external/v1/webhooks", post(create_webhook))
        .route("/external/v1/webhooks/{id}", delete(delete_webhook))
        .route("/external/v1/{*rest}", any(not_found))
        .layer(middleware::from_fn_with_state(Arc::clone(&state), gate))
        .with_state(state)
}

/// A small JSON error body (Fathom publishes no error schema; clients must not parse it).
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not found")
}

/// Heavy calls: the per-recording content endpoints, and `/meetings` inlining summary or transcript.
fn is_heavy(path: &str, query: Option<&str>) -> bool {
    if path.starts_with("/external/v1/recordings/")
        && (path.ends_with("/summary") || path.ends_with("/transcript"))
    {
        return true;
    }
    if path.trim_end_matches('/') == "/external/v1/meetings" {
        return url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .any(|(k, v)| (k == "include_summary" || k == "include_transcript") && v == "true");
    }
    false
}

fn set_rate_headers(headers: &mut HeaderMap, v: &Verdict) {
    headers.insert("ratelimit-limit", HeaderValue::from(v.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(v.remaining));
    headers.insert("ratelimit-reset", HeaderValue::from(v.reset_secs));
}

async fn gate(State(state): State<Arc<SimState>>, mut req: Request, next: Next) -> Response {
    let at = Utc::now();
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let key = req
        .headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let key_hint = key
        .as_deref()
        .map(|k| k.chars().take(4).collect::<String>());
    let heavy = is_heavy(&path, query.as_deref());

    let fault = state.lock().faults.take(key.as_deref(), &path);
    let response = match fault {
        Some(FaultAction::Status {
            status,
            retry_after,
        }) => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut resp = error(code, format!("injected fault: {status}"));
            if code == StatusCode::TOO_MANY_REQUESTS {
                let limits = state.lock().limits;
                let v = Verdict {
                    allowed: false,
                    limit: if heavy { limits.heavy } else { limits.global },
                    remaining: 0,
                    reset_secs: retry_after,
                };
                set_rate_headers(resp.headers_mut(), &v);
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            resp
        }
        other => {
            if let Some(FaultAction::Delay { ms }) = other {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            match key.as_deref().and_then(|k| state.user_index(k)) {
                None => error(StatusCode::UNAUTHORIZED, "missing or invalid X-Api-Key"),
                Some(caller) => {
                    let verdict = {
                        let mut inner = state.lock();
                        let limits = inner.limits;
                        let api_key = key.as_deref().unwrap_or_default();
                        inner.limiter.check(api_key, heavy, limits, Instant::now())
                    };
                    let mut resp = if verdict.allowed {
                        req.extensions_mut().insert(Caller(caller));
                        next.run(req).await
                    } else {
                        let mut resp = error(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded");
                        resp.headers_mut()
                            .insert(header::RETRY_AFTER, HeaderValue::from(verdict.reset_secs));
                        resp
                    };
                    set_rate_headers(resp.headers_mut(), &verdict);
                    resp
                }
            }
        }
    };

    state.lock().log_call(CallRecord {
        method,
        path,
        query,
        key_hint,
        status: response.status().as_u16(),
        heavy,
        at,
    });
    response
}

fn new_cursor_token() -> String {
    let mut bytes = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut bytes);
    // Random, not derived from the position: a client cannot build or edit one.
    format!(
        "c{}{}",
        random_alnum(&mut rand::thread_rng(), 24),
        hex::encode(bytes)
    )
}

async fn list_meetings(
    State(state): State<Arc<SimState>>,
    Extension(Caller(viewer)): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = match MeetingsQuery::parse(raw.as_deref()) {
        Ok(q) => q,
        Err(msg) => return error(StatusCode::BAD_REQUEST, msg),
    };
    let fingerprint = q.fingerprint();
    let mut inner = state.lock();
    let after = match &q.cursor {
        None => None,
        Some(token) => match inner.cursors.get(token) {
            Some(c) if c.owner == viewer && c.fingerprint == fingerprint => Some(c.after),
            Some(c) if c.owner == viewer => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "cursor does not belong to these filters",
                );
            }
            _ => return error(StatusCode::BAD_REQUEST, "invalid cursor"),
        },
    };
    let mut matching = inner
        .meetings
        .iter()
        .filter(|s| Inner::visible(&state.config, viewer, s))
        .filter(|s| after.is_none_or(|a| (s.meeting.created_at, s.meeting.recording_id) < a))
        .filter(|s| q.matches(&s.meeting))
        .take(PAGE_SIZE + 1)
        .map(|s| s.meeting.clone())
        .collect::<Vec<_>>();
    let more = matching.len() > PAGE_SIZE;
    matching.truncate(PAGE_SIZE);
    let next_cursor = match matching.last() {
        Some(last) if more => {
            let token = new_cursor_token();
            inner.remember_cursor(
                token.clone(),
                CursorState {
                    owner: viewer,
                    fingerprint,
                    after: (last.created_at, last.recording_id),
                },
            );
            Some(token)
        }
        _ => None,
    };
    drop(inner);
    let page = Page {
        limit: Some(PAGE_SIZE as u32),
        next_cursor,
        items: matching.iter().map(|m| m.render(q.include)).collect(),
    };
    axum::Json(page).into_response()
}

/// The optional `destination_url` of the per-recording endpoints (asynchronous mode).
fn destination_param(raw: Option<&str>) -> Result<Option<String>, String> {
    let mut found = None;
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if k == "destination_url" {
            if found.is_some() {
                return Err("destination_url given twice".to_string());
            }
            let parsed =
                url::Url::parse(&v).map_err(|e| format!("invalid destination_url: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err("destination_url must be an http(s) URL".to_string());
            }
            found = Some(v.into_owned());
        }
    }
    Ok(found)
}

fn recording_content(
    state: &Arc<SimState>,
    viewer: usize,
    recording_id: &str,
    raw: Option<&str>,
    transcript: bool,
) -> Response {
    let Ok(id) = recording_id.parse::<i64>() else {
        return error(StatusCode::BAD_REQUEST, "recording_id must be an integer");
    };
    let destination = match destination_param(raw) {
        Ok(d) => d,
        Err(msg) => return error(StatusCode::BAD_REQUEST, msg),
    };
    let body = {
        let inner = state.lock();
        let Some(stored) = inner
            .find(id)
            .filter(|s| Inner::visible(&state.config, viewer, s))
        else {
            return error(StatusCode::NOT_FOUND, "recording not found");
        };
        if transcript {
            json!({ "transcript": stored.meeting.transcript.clone().unwrap_or_default() })
        } else {
            json!({ "summary": stored.meeting.default_summary })
        }
    };
    match destination {
        None => axum::Json(body).into_response(),
        Some(url) => {
            // The callback's shape and signing are unpublished: POST the synchronous body, unsigned.
            let http = state.http.clone();
            let target = url.clone();
            tokio::spawn(async move {
                let _ = http.post(&target).json(&body).send().await;
            });
            axum::Json(json!({ "destination_url": url })).into_response()
        }
    }
}

async fn get_summary(
    State(state): State<Arc<SimState>>,
    Extension(Caller(viewer)): Extension<Caller>,
    Path(recording_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    recording_content(&state, viewer, &recording_id, raw.as_deref(), false)
}

async fn get_transcript(
    State(state): State<Arc<SimState>>,
    Extension(Caller(viewer)): Extension<Caller>,
    Path(recording_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    recording_content(&state, viewer, &recording_id, raw.as_deref(), true)
}

async fn create_webhook(
    State(state): State<Arc<SimState>>,
    Extension(Caller(owner)): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !json_type {
        return error(
            StatusCode::BAD_REQUEST,
            "content-type must be application/json",
        );
    }
    match webhooks::create_from_body(&body, state.now()) {
        Err(msg) => error(StatusCode::BAD_REQUEST, msg),
        Ok(hook) => {
            state.lock().webhooks.push((owner, hook.clone()));
            (StatusCode::CREATED, axum::Json(hook)).into_response()
        }
    }
}

async fn delete_webhook(
    State(state): State<Arc<SimState>>,
    Extension(Caller(owner)): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let mut inner = state.lock();
    match inner
        .webhooks
        .iter()
        .position(|(o, h)| *o == owner && h.id == id)
    {
        Some(i) => {
            inner.webhooks.remove(i);
            StatusCode::NO_CONTENT.into_response()
        }
        None => error(StatusCode::NOT_FOUND, "webhook not found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heavy_calls_are_recognised() {
        assert!(is_heavy("/external/v1/recordings/5/summary", None));
        assert!(is_heavy("/external/v1/recordings/5/transcript", None));
        assert!(is_heavy(
            "/external/v1/meetings",
            Some("include_transcript=true")
        ));
        assert!(is_heavy(
            "/external/v1/meetings",
            Some("a=1&include_summary=true")
        ));
        assert!(!is_heavy(
            "/external/v1/meetings",
            Some("include_summary=false")
        ));
        assert!(!is_heavy(
            "/external/v1/meetings",
            Some("include_action_items=true")
        ));
        assert!(!is_heavy("/external/v1/webhooks", None));
    }

    #[test]
    fn cursor_tokens_are_random() {
        assert_ne!(new_cursor_token(), new_cursor_token());
    }
}
