//! `POST /__bench/baseline/{org_id}`: the webhook benchmark's yardstick. It does what any webhook
//! receiver must at least do — read the body and one autocommit `INSERT` of it — and nothing else,
//! so the real receiver's cost can be stated as a ratio to it. Routed only when
//! `application.bench_baseline_route` is on, which production refuses.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::db;
use crate::domain::OrgId;
use crate::state::AppState;

/// Stores the body as it came.
pub async fn create_baseline_event(
    State(state): State<AppState>,
    Path(org_id): Path<Uuid>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let webhook_id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match db::bench_baseline::insert(&state.db, OrgId(org_id), webhook_id, &body).await {
        Ok(()) => (StatusCode::OK, "stored").into_response(),
        Err(err) => {
            tracing::error!(error = %err, "baseline insert failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
