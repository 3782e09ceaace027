//! Test and demo controls under `/__sim/` (no auth): record meetings, deliver webhooks, inject
//! faults, and inspect what the simulator saw and sent.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::api::error;
use super::data::MeetingSpec;
use super::faults::Fault;
use super::model::{Meeting, Webhook};
use super::rate_limit::RateLimits;
use super::state::{Inner, SimState};
use super::webhooks::{self, Message};

/// A webhook and the user who registered it, as listed by `GET /__sim/webhooks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisteredWebhook {
    /// Email of the user whose key created it.
    pub owner_email: String,
    /// First 4 characters of that key.
    pub key_hint: String,
    /// The webhook as `POST /webhooks` returned it (secret included, for signature checks).
    #[serde(flatten)]
    pub webhook: Webhook,
}

pub(crate) fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/__sim/meetings", post(add_meeting).get(list_meetings))
        .route("/__sim/deliver", post(deliver))
        .route("/__sim/faults", post(add_fault).delete(clear_faults))
        .route("/__sim/calls", get(calls))
        .route("/__sim/deliveries", get(deliveries))
        .route("/__sim/webhooks", get(list_webhooks))
        .route("/__sim/rate_limits", get(get_limits).put(put_limits))
        .route("/__sim/reset", post(reset))
        .with_state(state)
}

fn bad(msg: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, msg)
}

/// Records a meeting for the user of `api_key` and starts delivering it to that user's webhooks
/// (unless `deliver` is false). Errors name the problem.
pub(crate) fn record(
    state: &Arc<SimState>,
    api_key: &str,
    spec: MeetingSpec,
    deliver: bool,
) -> Result<(Meeting, Vec<Message>), String> {
    let owner = state
        .user_index(api_key)
        .ok_or_else(|| "unknown api_key".to_string())?;
    if let Some(s) = &spec.shared_with
        && !["no_teams", "single_team", "multiple_teams", "all_teams"].contains(&s.as_str())
    {
        return Err(format!("unknown shared_with: {s}"));
    }
    let meeting = state
        .record_meeting(owner, spec)
        .ok_or_else(|| "unknown user".to_string())?;
    let messages = if deliver {
        webhooks::start(state, meeting.recording_id, 1)
            .map(|(m, _)| m)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    Ok((meeting, messages))
}

/// Body: `{"api_key": "...", "deliver": true, ...MeetingSpec fields}`; answers the full meeting.
async fn add_meeting(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let mut obj = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(o)) => o,
        _ => return bad("body must be a JSON object"),
    };
    let Some(Value::String(api_key)) = obj.remove("api_key") else {
        return bad("api_key (string) is required");
    };
    let deliver = match obj.remove("deliver") {
        None => true,
        Some(Value::Bool(b)) => b,
        Some(_) => return bad("deliver must be a boolean"),
    };
    let spec: MeetingSpec = match serde_json::from_value(Value::Object(obj)) {
        Ok(s) => s,
        Err(e) => return bad(format!("invalid meeting: {e}")),
    };
    match record(&state, &api_key, spec, deliver) {
        Ok((meeting, _)) => (StatusCode::CREATED, axum::Json(meeting)).into_response(),
        Err(msg) => bad(msg),
    }
}

#[derive(Debug, Deserialize)]
struct KeyQuery {
    api_key: String,
}

/// Every meeting the key can see, newest first, with all content blocks.
pub(crate) fn visible_meetings(state: &SimState, api_key: &str) -> Option<Vec<Meeting>> {
    let viewer = state.user_index(api_key)?;
    let inner = state.lock();
    Some(
        inner
            .meetings
            .iter()
            .filter(|s| Inner::visible(&state.config, viewer, s))
            .map(|s| s.meeting.clone())
            .collect(),
    )
}

async fn list_meetings(State(state): State<Arc<SimState>>, Query(q): Query<KeyQuery>) -> Response {
    match visible_meetings(&state, &q.api_key) {
        Some(list) => axum::Json(list).into_response(),
        None => bad("unknown api_key"),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliverBody {
    recording_id: i64,
    #[serde(default = "one")]
    times: u32,
    #[serde(default)]
    wait: bool,
}

fn one() -> u32 {
    1
}

/// Body: `{"recording_id": 123, "times": 2, "wait": true}`. `times` > 1 sends the same message
/// (same `webhook-id`) again after each completes; `wait` answers only when all attempts are done.
async fn deliver(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let req: DeliverBody = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad(format!("invalid body: {e}")),
    };
    if req.times == 0 || req.times > 10 {
        return bad("times must be between 1 and 10");
    }
    let Some((messages, tasks)) = webhooks::start(&state, req.recording_id, req.times) else {
        return error(StatusCode::NOT_FOUND, "recording not found");
    };
    if req.wait {
        for t in tasks {
            let _ = t.await;
        }
    }
    axum::Json(json!({ "messages": messages })).into_response()
}

async fn add_fault(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let fault: Fault = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return bad(format!("invalid fault: {e}")),
    };
    if let Err(msg) = fault.validate() {
        return bad(msg);
    }
    state.lock().faults.add(fault.clone());
    (StatusCode::CREATED, axum::Json(fault)).into_response()
}

async fn clear_faults(State(state): State<Arc<SimState>>) -> StatusCode {
    state.lock().faults.clear();
    StatusCode::NO_CONTENT
}

async fn calls(State(state): State<Arc<SimState>>) -> Response {
    axum::Json(state.lock().calls.clone()).into_response()
}

async fn deliveries(State(state): State<Arc<SimState>>) -> Response {
    axum::Json(state.lock().deliveries.clone()).into_response()
}

/// Registered webhooks with their owners.
pub(crate) fn registered(state: &SimState) -> Vec<RegisteredWebhook> {
    let inner = state.lock();
    inner
        .webhooks
        .iter()
        .filter_map(|(owner, hook)| {
            let user = state.config.users.get(*owner)?;
            Some(RegisteredWebhook {
                owner_email: user.email.clone(),
                key_hint: user.api_key.chars().take(4).collect(),
                webhook: hook.clone(),
            })
        })
        .collect()
}

async fn list_webhooks(State(state): State<Arc<SimState>>) -> Response {
    axum::Json(registered(&state)).into_response()
}

async fn get_limits(State(state): State<Arc<SimState>>) -> Response {
    axum::Json(state.lock().limits).into_response()
}

async fn put_limits(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    match serde_json::from_slice::<RateLimits>(&body) {
        Ok(limits) if limits.global > 0 && limits.heavy > 0 && !limits.window.is_zero() => {
            state.lock().limits = limits;
            axum::Json(limits).into_response()
        }
        Ok(_) => bad("limits and window must be positive"),
        Err(e) => bad(format!("invalid limits: {e}")),
    }
}

async fn reset(State(state): State<Arc<SimState>>) -> StatusCode {
    state.reset();
    StatusCode::NO_CONTENT
}
