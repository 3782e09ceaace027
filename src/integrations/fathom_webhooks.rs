//! Receiving one Fathom webhook delivery: every check that costs little comes before anything that
//! costs more, and nothing is written before the signature has passed.
//!
//! 1. [`check_headers`]: the org id, the Standard Webhooks headers (their shape bounded) and the
//!    timestamp — no I/O.
//! 2. [`load_secrets`]: the org's live connections' webhook secrets, remembered for a few seconds
//!    or read (one query) and decrypted — still before the body is read, so a request for an org
//!    without a connection costs no body, and a flood of forgeries costs no database work.
//! 3. [`verify_and_store`]: each secret's MAC computed once over the body (off the async executor
//!    for large bodies), then one statement stores the raw body (unique per org and `webhook-id`)
//!    with its processing job — shared with deliveries arriving at the same moment
//!    (`fathom_event_writer`); the caller answers 2xx only after it committed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use uuid::Uuid;

use crate::crypto::{Binding, WEBHOOK_SECRET_FIELD};
use crate::db;
use crate::db::fathom_events::BatchedEvent;
use crate::domain::{EventId, FathomConnectionId, OrgId};
use crate::fathom::mapping::delivery_recording_id;
use crate::fathom::webhook_signature::{SignatureError, SignedHeaders, WebhookSecret};
use crate::jobs::{self, ProcessFathomEvent};
use crate::state::AppState;

/// Bodies at least this large are verified on the blocking pool.
const BLOCKING_VERIFY_BYTES: usize = 64 * 1024;

/// Why a delivery was refused (nothing was stored).
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// The path names no org (or not a valid id).
    #[error("No such organisation.")]
    NoSuchOrg,
    /// A header is missing, oversized or unreadable.
    #[error("{0}")]
    BadHeaders(SignatureError),
    /// The timestamp is not a number, or too far from now.
    #[error("{0}")]
    BadTimestamp(SignatureError),
    /// The org has no live Fathom connection any more.
    #[error("This organisation has no Fathom connection any more.")]
    NotConnected,
    /// No signature matched any live connection's secret.
    #[error("The signature does not match.")]
    BadSignature,
    /// Storing failed (the database); Fathom should retry.
    #[error("Could not store the delivery; please retry.")]
    Unavailable(#[source] anyhow::Error),
}

/// What happened to a verified delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Stored, its job queued.
    Accepted(EventId),
    /// Stored as failed: signed, but not a meeting Debrief can read (kept for replay).
    StoredFailed(EventId),
    /// Already stored under this `webhook-id`.
    Duplicate,
}

/// The org's live webhook secrets, ready to verify with.
#[derive(Clone)]
pub struct LiveSecrets {
    org: OrgId,
    connections: Vec<FathomConnectionId>,
    secrets: Vec<WebhookSecret>,
}

/// Step 1: the org id and headers, without I/O.
pub fn check_headers<'a>(
    org_id: &str,
    headers: &'a axum::http::HeaderMap,
    now: i64,
) -> Result<(OrgId, SignedHeaders<'a>), Refused> {
    let org = org_id
        .parse::<Uuid>()
        .map(OrgId)
        .map_err(|_| Refused::NoSuchOrg)?;
    let signed = SignedHeaders::from_headers(headers).map_err(Refused::BadHeaders)?;
    signed.check_timestamp(now).map_err(Refused::BadTimestamp)?;
    Ok((org, signed))
}

/// How long the org's secrets are used from memory before they are read again.
const SECRETS_TTL: Duration = Duration::from_secs(10);
/// A signature that matches no remembered secret reads them again, at most this often per org
/// (a connection made a moment ago is found; a flood of forgeries costs no database work).
const REFRESH_ON_MISMATCH_EVERY: Duration = Duration::from_secs(1);
/// Orgs remembered at most (then the memory starts over).
const MAX_CACHED_ORGS: usize = 10_000;

/// Recently read webhook secrets per org, so a flood of deliveries (or forgeries) for an org does
/// not read and decrypt them from the database each time. Only orgs with live connections are
/// remembered: a new connection is never refused for a remembered "none".
#[derive(Default)]
pub struct SecretCache {
    entries: Mutex<HashMap<OrgId, Cached>>,
}

struct Cached {
    read_at: Instant,
    secrets: LiveSecrets,
}

impl SecretCache {
    fn fresh(&self, org: OrgId) -> Option<LiveSecrets> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&org)
            .filter(|c| c.read_at.elapsed() < SECRETS_TTL)
            .map(|c| c.secrets.clone())
    }

    fn remember(&self, secrets: &LiveSecrets) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_CACHED_ORGS {
            entries.clear();
        }
        entries.insert(
            secrets.org,
            Cached {
                read_at: Instant::now(),
                secrets: secrets.clone(),
            },
        );
    }

    /// Whether the remembered secrets are old enough to read again after a mismatch.
    fn may_refresh(&self, org: OrgId) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&org)
            .is_none_or(|c| c.read_at.elapsed() >= REFRESH_ON_MISMATCH_EVERY)
    }

    /// Forgets an org's secrets (its connections changed in this process).
    pub fn forget(&self, org: OrgId) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(&org);
    }
}

/// Step 2: the org's live connections' secrets, from memory when read recently, else one read
/// from the database (decrypted). The flag says whether they came from memory.
pub async fn load_secrets(state: &AppState, org: OrgId) -> Result<(LiveSecrets, bool), Refused> {
    if let Some(cached) = state.webhook_secrets.fresh(org) {
        return Ok((cached, true));
    }
    let live = read_secrets(state, org).await?;
    state.webhook_secrets.remember(&live);
    Ok((live, false))
}

/// After a signature matched none of the remembered secrets: the secrets read again (at most once
/// a second per org), or `None` when they were read too recently to bother.
pub async fn reload_after_mismatch(
    state: &AppState,
    org: OrgId,
) -> Result<Option<LiveSecrets>, Refused> {
    if !state.webhook_secrets.may_refresh(org) {
        return Ok(None);
    }
    let live = read_secrets(state, org).await?;
    state.webhook_secrets.remember(&live);
    Ok(Some(live))
}

async fn read_secrets(state: &AppState, org: OrgId) -> Result<LiveSecrets, Refused> {
    let stored = db::fathom_events::live_webhook_secrets(&state.db, org)
        .await
        .map_err(|e| Refused::Unavailable(e.into()))?
        .ok_or(Refused::NoSuchOrg)?;
    let mut live = LiveSecrets {
        org,
        connections: Vec::with_capacity(stored.len()),
        secrets: Vec::with_capacity(stored.len()),
    };
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
                live.connections.push(connection);
                live.secrets.push(secret);
            }
            None => {
                tracing::error!(%org, connection_id = %connection, "stored webhook secret unusable")
            }
        }
    }
    if live.secrets.is_empty() {
        return Err(Refused::NotConnected);
    }
    Ok(live)
}

/// Step 3: verifies the signature over `body` and, only then, stores the delivery with its job.
pub async fn verify_and_store(
    state: &AppState,
    live: LiveSecrets,
    signed: &SignedHeaders<'_>,
    body: Bytes,
    now: i64,
) -> Result<Received, Refused> {
    let (id, timestamp, signature) = (
        signed.id.to_owned(),
        signed.timestamp.to_owned(),
        signed.signature.to_owned(),
    );
    let verify = move |body: Bytes, secrets: Vec<WebhookSecret>| {
        let signed = SignedHeaders {
            id: &id,
            timestamp: &timestamp,
            signature: &signature,
        };
        let verified = signed.verify(&secrets, &body, now);
        // Only the recording id at intake (the job maps the whole meeting, and fails the event,
        // kept for replay, if it cannot); read here so a large body is read off the executor too.
        let parsed = verified.is_ok().then(|| delivery_recording_id(&body));
        (verified, parsed, body)
    };
    let (verified, parsed, body) = if body.len() >= BLOCKING_VERIFY_BYTES {
        let secrets = live.secrets;
        tokio::task::spawn_blocking(move || verify(body, secrets))
            .await
            .map_err(|e| Refused::Unavailable(e.into()))?
    } else {
        verify(body, live.secrets)
    };
    let index = match verified {
        Ok(index) => index,
        Err(SignatureError::NoMatch) => return Err(Refused::BadSignature),
        Err(err @ (SignatureError::Stale | SignatureError::BadTimestamp)) => {
            return Err(Refused::BadTimestamp(err));
        }
        Err(err) => return Err(Refused::BadHeaders(err)),
    };
    let org = live.org;
    let parsed = parsed.unwrap_or_else(|| delivery_recording_id(&body));
    let event_id = EventId::new();
    let job = match parsed {
        Ok(_) => Some(
            jobs::process_fathom_event_row(ProcessFathomEvent::new(org, event_id))
                .map_err(Refused::Unavailable)?,
        ),
        Err(_) => None,
    };
    let (recording_id, error) = match parsed {
        Ok(recording_id) => (Some(recording_id), None),
        Err(error) => (None, Some(error)),
    };
    let event = BatchedEvent {
        id: event_id,
        org,
        webhook_id: signed.id.to_owned(),
        connection_id: live.connections[index],
        body,
        recording_id,
        error,
        job,
    };
    let failed = event.error.clone();
    let stored = state
        .fathom_events
        .write(event)
        .await
        .map_err(|err| Refused::Unavailable(anyhow::anyhow!(err)))?;
    Ok(match (stored, failed) {
        (false, _) => Received::Duplicate,
        (true, Some(error)) => {
            tracing::warn!(%org, %event_id, webhook_id = signed.id, error,
                "signed Fathom delivery could not be parsed; stored as failed");
            Received::StoredFailed(event_id)
        }
        (true, None) => {
            tracing::info!(%org, %event_id, webhook_id = signed.id, "Fathom delivery stored");
            Received::Accepted(event_id)
        }
    })
}
