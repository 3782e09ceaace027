//! `AppState`: what every handler and background task can reach.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;

use crate::config::Settings;
use crate::crypto::KeyRing;
use crate::fathom::FathomClient;

/// Shared, cheaply cloned state of the web app and the workers.
#[derive(Clone)]
pub struct AppState {
    /// The PostgreSQL pool.
    pub db: PgPool,
    /// Validated settings.
    pub settings: Arc<Settings>,
    /// Master keys for secrets at rest.
    pub crypto: Arc<KeyRing>,
    /// Orgs' webhook secrets read recently (the webhook receiver's memory).
    pub webhook_secrets: Arc<crate::integrations::fathom_webhooks::SecretCache>,
    /// Stores verified webhook deliveries, concurrent ones together.
    pub fathom_events: Arc<crate::integrations::fathom_event_writer::EventWriter>,
    /// Fathom's API at the configured base URL.
    pub fathom: FathomClient,
    /// HTTP client for the CRMs (OAuth and APIs): no redirects followed, bounded timeouts.
    pub crm_http: reqwest::Client,
    /// Per-account pacing of CRM calls, shared by every job of this process.
    pub crm_pacers: Arc<crate::crm::pacing::Pacers>,
}

impl AppState {
    /// Builds the state from prepared settings (see `Settings::prepare`).
    pub fn new(settings: Settings, db: PgPool) -> anyhow::Result<AppState> {
        let crypto = Arc::new(settings.key_ring()?);
        let fathom = FathomClient::new(
            &settings.fathom.base_url,
            Duration::from_secs(settings.fathom.timeout_seconds),
        )?
        .with_max_body_bytes(settings.fathom.max_response_bytes);
        let crm_timeout = settings
            .hubspot
            .timeout_seconds
            .max(settings.salesforce.timeout_seconds);
        let crm_http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(crm_timeout))
            .connect_timeout(Duration::from_secs(crm_timeout.min(10)))
            .user_agent(concat!("Debrief/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(AppState {
            crm_http,
            crm_pacers: Arc::default(),
            fathom_events: Arc::new(crate::integrations::fathom_event_writer::EventWriter::new(
                db.clone(),
            )),
            db,
            settings: Arc::new(settings),
            crypto,
            fathom,
            webhook_secrets: Arc::default(),
        })
    }
}
