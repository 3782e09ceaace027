//! The HTTP surface: one module per area, and the router that joins them.

pub mod accounts;
pub mod audit;
pub mod bench_baseline;
pub mod charts;
pub mod crm_connections;
pub mod customer_imports;
pub mod customers;
pub mod fathom_connections;
pub mod fathom_events;
pub mod fathom_sync_runs;
pub mod fathom_webhooks;
pub mod filters;
pub mod forms;
pub mod health;
pub mod integrations;
pub mod invites;
pub mod layout;
pub mod markdown;
pub mod matching_settings;
pub mod meetings;
pub mod members;
pub mod orgs;
pub mod routes;
pub mod search;
pub mod security_headers;
pub mod unmatched_meetings;

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::routing::{get, post};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_sessions::cookie::{Key, SameSite};
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::auth::csrf;
use crate::auth::session_store::PgSessionStore;
use crate::error;
use crate::state::AppState;

/// Every request is answered within this (408 otherwise); a connect's Fathom calls fit inside it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "debrief_session";

/// Every area's routes.
fn areas() -> [routes::Routes; 16] {
    [
        orgs::router(),
        accounts::router(),
        customers::router(),
        customer_imports::router(),
        search::router(),
        matching_settings::router(),
        unmatched_meetings::router(),
        meetings::router(),
        members::router(),
        invites::router(),
        integrations::router(),
        fathom_connections::router(),
        crm_connections::router(),
        fathom_sync_runs::router(),
        fathom_events::router(),
        audit::router(),
    ]
}

/// The paths of every page and form route (the tenancy test checks the org-scoped ones).
pub fn route_paths() -> Vec<&'static str> {
    areas().into_iter().flat_map(|area| area.paths).collect()
}

/// The complete router: pages (with sessions and CSRF), static files and health probes.
pub fn router(state: AppState, session_key: Key) -> Router {
    let store = PgSessionStore::new(state.db.clone(), state.settings.session_max_age());
    let sessions = SessionManagerLayer::new(store)
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.settings.cookies_secure())
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(
            state.settings.application.session_idle_minutes,
        )))
        // Refreshes the expiry on every request, so inactivity (not age) ends a session; the store
        // writes an unchanged session at most once a minute, and never brings back a deleted one.
        .with_always_save(true)
        .with_signed(session_key);

    let mut pages = Router::new();
    for area in areas() {
        pages = pages.merge(area.router);
    }
    let pages = pages
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            csrf::verify,
        ))
        .layer(sessions)
        .layer(axum::middleware::from_fn(security_headers::no_store));

    let static_files = Router::new()
        .nest_service(
            "/static",
            ServeDir::new(&state.settings.application.static_dir),
        )
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=86400"),
        ));

    let webhooks = Router::new()
        .route(
            "/api/integrations/fathom/webhook/{org_id}",
            post(fathom_webhooks::create_fathom_webhook_event),
        )
        .layer(axum::extract::DefaultBodyLimit::max(
            state.settings.fathom.webhook_max_body_bytes,
        ));

    let webhooks = if state.settings.application.bench_baseline_route {
        webhooks.merge(
            Router::new()
                .route(
                    "/__bench/baseline/{org_id}",
                    post(bench_baseline::create_baseline_event),
                )
                .layer(axum::extract::DefaultBodyLimit::max(
                    state.settings.fathom.webhook_max_body_bytes,
                )),
        )
    } else {
        webhooks
    };

    let hsts = state.settings.cookies_secure();
    let policy = security_headers::content_security_policy(&state.settings);
    let demo = state.settings.demo;
    Router::new()
        .route("/healthz", get(health::healthz))
        .merge(webhooks)
        .route("/readyz", get(health::readyz))
        .merge(static_files)
        .merge(pages)
        .layer(axum::middleware::from_fn(move |request, next| {
            security_headers::add(policy.clone(), hsts, request, next)
        }))
        .layer(axum::middleware::from_fn(move |request, next| {
            layout::mark_demo(demo, request, next)
        }))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::REQUEST_TIMEOUT;
    use crate::integrations::fathom_connections::CONNECT_BUDGET;

    #[test]
    fn a_connects_fathom_calls_end_before_the_request_times_out() {
        assert!(CONNECT_BUDGET + std::time::Duration::from_secs(5) <= REQUEST_TIMEOUT);
    }
}
