//! `POST /api/integrations/fathom/webhook/{org_id}`: Fathom's deliveries. The receive pipeline
//! (`integrations::fathom_webhooks`) checks the headers, then reads the org's secrets, and only then
//! reads the body (bounded); this handler maps each outcome to the answer Fathom sees.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::integrations::fathom_webhooks::{self, Received, Refused};
use crate::state::AppState;
use crate::telemetry;

fn answer(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

fn refused(refusal: &Refused) -> Response {
    let message = refusal.to_string();
    let (status, code) = match refusal {
        Refused::NoSuchOrg => (StatusCode::NOT_FOUND, "not_found"),
        Refused::BadHeaders(_) => (StatusCode::BAD_REQUEST, "bad_headers"),
        Refused::BadTimestamp(_) => (StatusCode::BAD_REQUEST, "bad_timestamp"),
        Refused::NotConnected => (StatusCode::GONE, "not_connected"),
        Refused::BadSignature => (StatusCode::UNAUTHORIZED, "bad_signature"),
        Refused::Unavailable(err) => {
            tracing::error!(error = ?err, "could not store a Fathom delivery");
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        }
    };
    answer(status, code, &message)
}

fn too_large(limit: usize) -> Response {
    answer(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        &format!("The body is larger than {limit} bytes."),
    )
}

/// Receives one delivery.
pub async fn create_fathom_webhook_event(
    State(state): State<AppState>,
    Path(org_id): Path<String>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let now = chrono::Utc::now().timestamp();
    let (org, signed) = match fathom_webhooks::check_headers(&org_id, &headers, now) {
        Ok(checked) => checked,
        Err(refusal) => return refused(&refusal),
    };
    telemetry::record_org_id(&extensions, org);
    let limit = state.settings.fathom.webhook_max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large(limit);
    }
    let (live, remembered) = match fathom_webhooks::load_secrets(&state, org).await {
        Ok(loaded) => loaded,
        Err(refusal) => return refused(&refusal),
    };
    let Ok(body) = axum::body::to_bytes(body, limit).await else {
        return too_large(limit);
    };
    let mut outcome =
        fathom_webhooks::verify_and_store(&state, live, &signed, body.clone(), now).await;
    if remembered && matches!(outcome, Err(Refused::BadSignature)) {
        // Perhaps a connection made since the secrets were read: read them again (rate-limited).
        outcome = match fathom_webhooks::reload_after_mismatch(&state, org).await {
            Ok(Some(live)) => {
                fathom_webhooks::verify_and_store(&state, live, &signed, body, now).await
            }
            Ok(None) => outcome,
            Err(refusal) => Err(refusal),
        };
    }
    match outcome {
        Ok(Received::Accepted(_)) => accepted("accepted"),
        Ok(Received::StoredFailed(_)) => accepted("stored_failed"),
        Ok(Received::Duplicate) => accepted("duplicate"),
        Err(refusal) => refused(&refusal),
    }
}

fn accepted(status: &str) -> Response {
    (StatusCode::OK, axum::Json(json!({ "status": status }))).into_response()
}
