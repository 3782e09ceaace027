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
        Ok(AppState {
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
