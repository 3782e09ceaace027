//! `AppState`: what every handler can reach.

use std::sync::Arc;

use sqlx::PgPool;

use crate::config::Settings;
use crate::crypto::KeyRing;

/// Shared, cheaply cloned state of the web app.
#[derive(Clone)]
pub struct AppState {
    /// The PostgreSQL pool.
    pub db: PgPool,
    /// Validated settings.
    pub settings: Arc<Settings>,
    /// Master keys for secrets at rest.
    pub crypto: Arc<KeyRing>,
}
