//! `/__sim/…`: the CRM simulator's control API (seed and change records, expire and revoke tokens,
//! inject faults, read the call log, counters and records), and the call log itself.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::state::{CallRecord, Fault, SimState};
use super::{SeedCompany, SeedContact};

type Shared = Arc<SimState>;

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/__sim/calls", get(calls).delete(clear_calls))
        .route("/__sim/stats", get(stats))
        .route("/__sim/faults", post(add_fault).delete(clear_faults))
        .route("/__sim/tokens/expire", post(expire))
        .route("/__sim/tokens/revoke-refresh", post(revoke))
        .route(
            "/__sim/hubspot/{hub}/companies",
            post(add_company)
                .get(|s, Path(hub): Path<u64>| hubspot_records(s, Path((hub, "companies".into())))),
        )
        .route(
            "/__sim/hubspot/{hub}/contacts",
            post(add_contact)
                .get(|s, Path(hub): Path<u64>| hubspot_records(s, Path((hub, "contacts".into())))),
        )
        .route("/__sim/hubspot/{hub}/{object}", get(hubspot_records))
        .route(
            "/__sim/hubspot/{hub}/{object}/{id}",
            axum::routing::patch(change),
        )
        .route(
            "/__sim/salesforce/{org}/accounts",
            post(add_account).get(|s, Path(org): Path<String>| {
                salesforce_records(s, Path((org, "Account".into())))
            }),
        )
        .route("/__sim/salesforce/{org}/{object}", get(salesforce_records))
        .with_state(state)
}

/// Records every call but the control API's own in the call log.
pub async fn log_call(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    if !path.starts_with("/__sim") {
        state.lock().calls.push(CallRecord {
            method,
            path,
            status: response.status().as_u16(),
        });
    }
    response
}

async fn calls(State(state): State<Shared>) -> Response {
    axum::Json(state.lock().calls.clone()).into_response()
}

async fn clear_calls(State(state): State<Shared>) -> StatusCode {
    state.lock().calls.clear();
    StatusCode::NO_CONTENT
}

async fn stats(State(state): State<Shared>) -> Response {
    axum::Json(state.lock().stats.clone()).into_response()
}

async fn add_fault(
    State(state): State<Shared>,
    axum::Json(fault): axum::Json<Fault>,
) -> StatusCode {
    state.lock().faults.push(fault);
    StatusCode::NO_CONTENT
}

async fn clear_faults(State(state): State<Shared>) -> StatusCode {
    state.lock().faults.clear();
    StatusCode::NO_CONTENT
}

async fn expire(State(state): State<Shared>) -> StatusCode {
    state.expire_access_tokens();
    StatusCode::NO_CONTENT
}

async fn revoke(State(state): State<Shared>) -> StatusCode {
    state.revoke_refresh_tokens();
    StatusCode::NO_CONTENT
}

fn created(result: anyhow::Result<String>) -> Response {
    match result {
        Ok(id) => (StatusCode::CREATED, axum::Json(json!({"id": id}))).into_response(),
        Err(e) => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

async fn add_company(
    State(state): State<Shared>,
    Path(hub): Path<u64>,
    axum::Json(c): axum::Json<SeedCompany>,
) -> Response {
    created(state.add_hubspot_company(hub, &c))
}

async fn add_contact(
    State(state): State<Shared>,
    Path(hub): Path<u64>,
    axum::Json(c): axum::Json<SeedContact>,
) -> Response {
    created(state.add_hubspot_contact(hub, &c))
}

async fn add_account(
    State(state): State<Shared>,
    Path(org): Path<String>,
    axum::Json(c): axum::Json<SeedCompany>,
) -> Response {
    created(state.add_salesforce_account(&org, &c))
}

#[derive(Deserialize)]
struct Change {
    properties: BTreeMap<String, String>,
}

async fn change(
    State(state): State<Shared>,
    Path((hub, object, id)): Path<(u64, String, String)>,
    axum::Json(c): axum::Json<Change>,
) -> Response {
    let props: Vec<(&str, &str)> = c
        .properties
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    match state.change_hubspot_record(hub, &object, &id, &props) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

async fn hubspot_records(
    State(state): State<Shared>,
    Path((hub, object)): Path<(u64, String)>,
) -> Response {
    axum::Json(state.hubspot_records(hub, &object)).into_response()
}

async fn salesforce_records(
    State(state): State<Shared>,
    Path((org, object)): Path<(String, String)>,
) -> Response {
    axum::Json(state.salesforce_records(&org, &object)).into_response()
}
