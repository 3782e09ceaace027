//! `POST /api/integrations/fathom/webhook/{org_id}`: Fathom's deliveries. Nothing is written, and
//! only one small read is made, before the Standard Webhooks signature has passed against one of the
//! org's live connections' secrets. Then one transaction stores the raw body (unique per org and
//! `webhook-id`) and enqueues its processing; the 2xx goes out only after the commit.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use uuid::Uuid;

use crate::crypto::Binding;
use crate::db;
use crate::db::fathom_events::NewEvent;
use crate::domain::OrgId;
use crate::fathom::mapping::meeting_record;
use crate::fathom::types::Meeting;
use crate::fathom::webhook_signature::{SignatureError, SignedHeaders, WebhookSecret};
use crate::integrations::fathom_connections::WEBHOOK_SECRET_FIELD;
use crate::jobs::{self, ProcessFathomEvent};
use crate::state::AppState;
use crate::telemetry;

fn answer(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

fn accepted(status: &str) -> Response {
    (StatusCode::OK, axum::Json(json!({ "status": status }))).into_response()
}

/// Receives one delivery.
pub async fn create_fathom_webhook_event(
    State(state): State<AppState>,
    Path(org_id): Path<String>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(org) = org_id.parse::<Uuid>().map(OrgId) else {
        return answer(StatusCode::NOT_FOUND, "not_found", "No such organisation.");
    };
    telemetry::record_org_id(&extensions, org);
    let signed = match SignedHeaders::from_headers(&headers) {
        Ok(signed) => signed,
        Err(err) => return answer(StatusCode::BAD_REQUEST, "bad_headers", &err.to_string()),
    };
    let now = chrono::Utc::now().timestamp();
    if let Err(err) = signed.check_timestamp(now) {
        return answer(StatusCode::BAD_REQUEST, "bad_timestamp", &err.to_string());
    }
    let stored = match db::fathom_events::live_webhook_secrets(&state.db, org).await {
        Ok(Some(stored)) => stored,
        Ok(None) => return answer(StatusCode::NOT_FOUND, "not_found", "No such organisation."),
        Err(err) => return internal(org, &anyhow::Error::from(err)),
    };
    if stored.is_empty() {
        return answer(
            StatusCode::GONE,
            "not_connected",
            "This organisation has no Fathom connection any more.",
        );
    }
    let mut connections = Vec::with_capacity(stored.len());
    let mut secrets = Vec::with_capacity(stored.len());
    for (connection, ciphertext) in stored {
        let binding = Binding {
            org_id: org,
            record_id: connection.0,
            field: WEBHOOK_SECRET_FIELD,
        };
        let secret = state
            .crypto
            .decrypt(&ciphertext, binding)
            .ok()
            .and_then(|s| WebhookSecret::parse(secrecy::ExposeSecret::expose_secret(&s)).ok());
        match secret {
            Some(secret) => {
                connections.push(connection);
                secrets.push(secret);
            }
            None => {
                tracing::error!(%org, connection_id = %connection, "stored webhook secret unusable")
            }
        }
    }
    let index = match signed.verify(&secrets, &body, now) {
        Ok(index) => index,
        Err(SignatureError::NoMatch) => {
            return answer(
                StatusCode::UNAUTHORIZED,
                "bad_signature",
                "The signature does not match.",
            );
        }
        Err(err) => return answer(StatusCode::BAD_REQUEST, "bad_timestamp", &err.to_string()),
    };

    let parsed = serde_json::from_slice::<Meeting>(&body)
        .map_err(|e| format!("the body is not a Fathom meeting: {e}"))
        .and_then(|m| meeting_record(&m).map_err(|e| e.to_string()));
    let event = NewEvent {
        webhook_id: signed.id,
        connection_id: connections[index],
        body: &body,
        recording_id: parsed.as_ref().ok().map(|r| r.recording_id),
        error: parsed.as_ref().err().map(String::as_str),
    };
    match store(&state, org, &event).await {
        Ok(None) => accepted("duplicate"),
        Ok(Some(_)) if event.error.is_some() => {
            tracing::warn!(%org, webhook_id = signed.id, error = event.error,
                "signed Fathom delivery could not be parsed; stored as failed");
            accepted("stored_failed")
        }
        Ok(Some(event_id)) => {
            tracing::info!(%org, %event_id, webhook_id = signed.id, "Fathom delivery stored");
            accepted("accepted")
        }
        Err(err) => internal(org, &err),
    }
}

async fn store(state: &AppState, org: OrgId, event: &NewEvent<'_>) -> anyhow::Result<Option<Uuid>> {
    let mut tx = state.db.begin().await?;
    let Some(event_id) = db::fathom_events::insert(&mut tx, org, event).await? else {
        return Ok(None);
    };
    if event.error.is_none() {
        jobs::enqueue_process_fathom_event(&mut tx, ProcessFathomEvent::new(org, event_id)).await?;
    }
    tx.commit().await?;
    Ok(Some(event_id))
}

fn internal(org: OrgId, err: &anyhow::Error) -> Response {
    tracing::error!(%org, error = ?err, "could not store a Fathom delivery");
    answer(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "Could not store the delivery; please retry.",
    )
}
