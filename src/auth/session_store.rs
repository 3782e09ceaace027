//! `tower_sessions::SessionStore` over our own sqlx pool (the published sqlx store pins an older
//! sqlx than apalis needs). Ids are stored as their SHA-256, `save` only ever updates (a logged-out
//! session is never written back by a request that was still running), and a session ends after
//! an absolute lifetime whatever its activity. Expired rows are deleted by the worker's housekeeping.

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use crate::db;

/// An unchanged session's expiry is written at most this often (not on every 2 s progress poll).
pub const EXPIRY_WRITE_INTERVAL: chrono::Duration = chrono::Duration::minutes(1);

/// Sessions stored in the `sessions` table.
#[derive(Debug, Clone)]
pub struct PgSessionStore {
    pool: PgPool,
    max_age: chrono::Duration,
}

impl PgSessionStore {
    /// A store over the app's pool whose sessions last at most `max_age` from sign-in.
    pub fn new(pool: PgPool, max_age: chrono::Duration) -> Self {
        Self { pool, max_age }
    }
}

/// The key a session is stored under: the hex SHA-256 of its id.
pub fn stored_id(id: &Id) -> String {
    hex::encode(Sha256::digest(id.to_string().as_bytes()))
}

fn backend(err: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(err.to_string())
}

fn to_chrono(t: time::OffsetDateTime) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(t.unix_timestamp(), t.nanosecond()).unwrap_or_default()
}

#[async_trait]
impl SessionStore for PgSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let data = serde_json::to_value(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        // Ids are 128 random bits, but a collision must never hand one person another's session.
        loop {
            let inserted = db::sessions::insert_new(
                &self.pool,
                &stored_id(&record.id),
                &data,
                to_chrono(record.expiry_date),
            )
            .await
            .map_err(backend)?;
            if inserted {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = serde_json::to_value(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        db::sessions::update_live(
            &self.pool,
            &stored_id(&record.id),
            &data,
            to_chrono(record.expiry_date),
            EXPIRY_WRITE_INTERVAL,
        )
        .await
        .map_err(backend)
    }

    async fn load(&self, session_id: &Id) -> session_store::Result<Option<Record>> {
        let Some((data, expiry)) =
            db::sessions::load_active(&self.pool, &stored_id(session_id), self.max_age)
                .await
                .map_err(backend)?
        else {
            return Ok(None);
        };
        let data = serde_json::from_value(data)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expiry_date = time::OffsetDateTime::from_unix_timestamp(expiry.timestamp())
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record {
            id: *session_id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, session_id: &Id) -> session_store::Result<()> {
        db::sessions::delete(&self.pool, &stored_id(session_id))
            .await
            .map_err(backend)
    }
}
