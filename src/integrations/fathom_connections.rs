//! Connecting and disconnecting Fathom users. Connect checks the key with one light Fathom call,
//! registers the org's webhook, and stores key and webhook secret encrypted in one transaction
//! with the connection's first sync (replacing the same Fathom user's previous connection). Disconnect stops ingest at once, deletes
//! the webhook at Fathom (retried in the background while Fathom is unreachable), then erases the
//! secrets. Nothing is ever left half-stored: a webhook registered for a connection that could not
//! be stored is deleted again.

use std::time::Duration;

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::crypto::{API_KEY_FIELD, WEBHOOK_SECRET_FIELD};
use crate::crypto::{Binding, mask};
use crate::db;
use crate::db::audit::AuditAction;
use crate::db::fathom_connections::{
    ConnectionKeys, ConnectionState, NewConnection, WebhookCleanup,
};
use crate::db::fathom_sync_runs::SyncSource;
use crate::domain::sync_window::{SyncWindow, first_hourly_sync};
use crate::domain::{Email, FathomConnectionId, OrgId, UserId};
use crate::fathom::types::{CreateWebhook, TriggeredFor};
use crate::fathom::{FathomError, ListMeetings};
use crate::state::AppState;

/// Where Fathom delivers an org's meetings.
pub fn webhook_url(state: &AppState, org: OrgId) -> String {
    let base = state.settings.application.base_url.as_str();
    format!(
        "{}/api/integrations/fathom/webhook/{org}",
        base.trim_end_matches('/')
    )
}

/// Why a key could not be connected, worded for the person who pasted it.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "Fathom rejected this key. Copy it again from Fathom (Settings → API Access) and paste the whole key."
    )]
    KeyRejected,
    #[error("Fathom is rate-limiting this key; try again in {retry_after_secs} seconds.")]
    RateLimited { retry_after_secs: u64 },
    #[error(
        "Fathom could not be reached or is having problems right now; nothing was saved. Try again in a few minutes."
    )]
    FathomUnavailable,
    #[error("Fathom refused this key ({0}); nothing was saved.")]
    FathomRefused(String),
    #[error(
        "Fathom did not register the webhook ({0}), so nothing was saved. Try again in a few minutes."
    )]
    WebhookFailed(String),
    #[error("Someone connected this Fathom user at the same moment. Reload the page to see it.")]
    ConcurrentConnect,
    /// The key sees recent meetings, none of them recorded by the email typed: most likely the
    /// key is someone else's (or the email is). `recorders` are who recorded what the key sees.
    #[error(
        "This key sees no meetings recorded by {email}, so it is probably another Fathom account's key. {}",
        recorders_hint(recorders)
    )]
    NotRecordedBy {
        email: String,
        recorders: Vec<String>,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

fn recorders_hint(recorders: &[String]) -> String {
    match recorders {
        [] => String::new(),
        [one] => format!(
            "Its recent meetings were recorded by {one}: if that is the account, use that email."
        ),
        many => format!(
            "Its recent meetings were recorded by {}: use the email of the account whose key this is.",
            many.join(", ")
        ),
    }
}

/// Who is connecting, and what they vouched for.
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    /// The Fathom account's email, as typed.
    pub fathom_email: Email,
    pub api_key: SecretString,
    /// The person confirmed the account has no recordings of its own yet, so a key that sees only
    /// other people's meetings is accepted under this email.
    pub no_recordings_yet: bool,
}

/// Distinct recorder emails of `meetings` (lower-cased, in order of first appearance), at most 5.
fn recorders_of(meetings: &[crate::fathom::types::Meeting]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for email in meetings
        .iter()
        .filter_map(|m| m.recorded_by.as_ref()?.email.as_deref())
        .map(str::to_ascii_lowercase)
    {
        if !seen.contains(&email) && seen.len() < 5 {
            seen.push(email);
        }
    }
    seen
}

impl ConnectError {
    fn from_check(err: FathomError) -> ConnectError {
        match err {
            FathomError::Unauthorized => ConnectError::KeyRejected,
            FathomError::RateLimited {
                retry_after,
                limits,
            } => ConnectError::RateLimited {
                retry_after_secs: retry_after
                    .or(limits.reset)
                    .unwrap_or(Duration::from_secs(60))
                    .as_secs()
                    .max(1),
            },
            FathomError::Server { .. }
            | FathomError::Timeout
            | FathomError::Unreachable
            | FathomError::Decode { .. } => ConnectError::FathomUnavailable,
            FathomError::Forbidden { status } => {
                ConnectError::FathomRefused(format!("status {status}"))
            }
            FathomError::BadRequest { .. } => ConnectError::FathomRefused("status 400".into()),
            FathomError::NotFound => ConnectError::FathomRefused("status 404".into()),
            err @ (FathomError::Redirected { .. } | FathomError::TooLarge { .. }) => {
                ConnectError::FathomRefused(err.to_string())
            }
        }
    }

    fn from_webhook(err: FathomError) -> ConnectError {
        match err {
            FathomError::Unauthorized | FathomError::RateLimited { .. } => {
                ConnectError::from_check(err)
            }
            other => ConnectError::WebhookFailed(other.to_string()),
        }
    }
}

/// A stored connection.
#[derive(Debug, Clone)]
pub struct Connected {
    pub id: FathomConnectionId,
    pub webhook_id: String,
    /// The same Fathom user's previous connection, now being disconnected.
    pub replaced: Option<FathomConnectionId>,
}

/// The longest a connect may talk to Fathom: the key check and the webhook registration together
/// stay inside the web server's 30 s request timeout, so a person always gets an answer.
pub const CONNECT_BUDGET: Duration = Duration::from_secs(24);
/// A registration older than this with no stored connection was interrupted (the process died).
const LEFT_BEHIND_AFTER_SECONDS: f64 = 120.0;
/// Attempts to delete a left-behind webhook before a person is asked to.
const LEFT_BEHIND_ATTEMPTS: i32 = 8;

/// `call`, given at most until `deadline`; past it, a timeout.
async fn within<T>(
    deadline: tokio::time::Instant,
    call: impl Future<Output = Result<T, FathomError>>,
) -> Result<T, FathomError> {
    tokio::time::timeout_at(deadline, call)
        .await
        .unwrap_or(Err(FathomError::Timeout))
}

/// Checks the key with Fathom and that it is the typed Fathom user's (Fathom has no "who am I"
/// call: the key must see meetings recorded by that email, unless it sees none at all or the person
/// confirmed the account has none yet), registers the org's webhook, and stores the connection
/// (replacing that user's live connection, or a live one with the same key), queueing its initial
/// sync.
///
/// The work runs in its own task, so a request cut off half-way (a closed browser, a timeout) does
/// not stop it between registering the webhook and storing the connection; and the registration is
/// recorded before Fathom is asked, so even a process that dies there leaves a row from which the
/// worker deletes the webhook ([`clean_up_interrupted_connects`]).
pub async fn connect(
    state: &AppState,
    org: OrgId,
    by: UserId,
    request: ConnectRequest,
) -> Result<Connected, ConnectError> {
    let state = state.clone();
    tokio::spawn(async move { connect_to_the_end(&state, org, by, request).await })
        .await
        .map_err(|e| ConnectError::Internal(anyhow::anyhow!("connect task failed: {e}")))?
}

async fn connect_to_the_end(
    state: &AppState,
    org: OrgId,
    by: UserId,
    request: ConnectRequest,
) -> Result<Connected, ConnectError> {
    let ConnectRequest {
        fathom_email,
        api_key,
        no_recordings_yet,
    } = request;
    let fathom_email = &fathom_email;
    let deadline = tokio::time::Instant::now() + CONNECT_BUDGET;
    let recent = within(
        deadline,
        state
            .fathom
            .list_meetings(&api_key, &ListMeetings::default()),
    )
    .await
    .map_err(ConnectError::from_check)?
    .body
    .items;
    if !recent.is_empty() && !no_recordings_yet {
        let theirs = within(
            deadline,
            state.fathom.list_meetings(
                &api_key,
                &ListMeetings {
                    recorded_by: vec![fathom_email.as_str().to_owned()],
                    ..ListMeetings::default()
                },
            ),
        )
        .await
        .map_err(ConnectError::from_check)?
        .body
        .items;
        // Fathom's filter is trusted only as far as the recorder it names.
        if !theirs.iter().any(|m| {
            m.recorded_by
                .as_ref()
                .and_then(|r| r.email.as_deref())
                .is_some_and(|e| e.eq_ignore_ascii_case(fathom_email.as_str()))
        }) {
            return Err(ConnectError::NotRecordedBy {
                email: fathom_email.as_str().to_owned(),
                recorders: recorders_of(&recent),
            });
        }
    }

    let id = FathomConnectionId::new();
    let key_binding = Binding {
        org_id: org,
        record_id: id.0,
        field: API_KEY_FIELD,
    };
    let pending_key = state.crypto.encrypt(&api_key, key_binding)?;
    db::fathom_pending_webhooks::insert(&state.db, org, id, &pending_key)
        .await
        .map_err(anyhow::Error::from)?;
    let destination_url = webhook_url(state, org);
    let created = within(
        deadline,
        state.fathom.create_webhook(
            &api_key,
            &CreateWebhook {
                destination_url: destination_url.clone(),
                triggered_for: TriggeredFor::all(),
                include_transcript: true,
                include_summary: true,
                include_action_items: true,
                include_crm_matches: false,
            },
        ),
    )
    .await;
    let webhook = match created {
        Ok(webhook) => webhook,
        Err(err) => {
            forget_pending(state, org, id).await;
            return Err(ConnectError::from_webhook(err));
        }
    };
    if let Err(err) =
        db::fathom_pending_webhooks::set_webhook_id(&state.db, org, id, &webhook.id).await
    {
        // Without the id on record a crash now would leave the webhook unfindable: undo it now.
        delete_unstored_webhook(state, org, &api_key, &webhook.id).await;
        forget_pending(state, org, id).await;
        return Err(anyhow::Error::from(err).into());
    }
    if webhook.flags_differ {
        tracing::warn!(%org, webhook_id = %webhook.id,
            "Fathom registered the webhook with other flags than asked; sync fills any gaps");
    }

    match store(
        state,
        org,
        by,
        fathom_email,
        &api_key,
        id,
        &destination_url,
        &webhook,
    )
    .await
    {
        Ok(replaced) => {
            state.webhook_secrets.forget(org);
            tracing::info!(%org, connection_id = %id, webhook_id = %webhook.id, "Fathom connected");
            if let Some(old) = &replaced {
                attempt_webhook_cleanup(state, old).await;
            }
            Ok(Connected {
                id,
                webhook_id: webhook.id,
                replaced: replaced.map(|r| r.id),
            })
        }
        Err(err) => {
            // The connection is not stored, so its webhook must not stay registered either.
            delete_unstored_webhook(state, org, &api_key, &webhook.id).await;
            forget_pending(state, org, id).await;
            Err(err)
        }
    }
}

async fn delete_unstored_webhook(state: &AppState, org: OrgId, api_key: &SecretString, id: &str) {
    if let Err(cleanup) = state.fathom.delete_webhook(api_key, id).await {
        tracing::error!(%org, webhook_id = %id, error = %cleanup,
            "could not delete the webhook of a connection that was not stored");
    }
}

async fn forget_pending(state: &AppState, org: OrgId, id: FathomConnectionId) {
    let forgotten = async {
        let mut conn = state.db.acquire().await?;
        db::fathom_pending_webhooks::delete(&mut conn, org, id).await
    };
    if let Err(err) = forgotten.await {
        // The worker's sweep finds the row and finishes the cleanup.
        tracing::warn!(%org, connection_id = %id, error = %err,
            "could not forget a webhook registration; the worker will clean it up");
    }
}

/// Deletes the webhooks of connects that were interrupted (the process died between registering
/// the webhook and storing the connection); returns how many registrations were settled.
pub async fn clean_up_interrupted_connects(state: &AppState) -> anyhow::Result<usize> {
    let left = db::fathom_pending_webhooks::claim_left_behind(
        &state.db,
        LEFT_BEHIND_AFTER_SECONDS,
        300.0,
        20,
    )
    .await?;
    let mut settled = 0;
    for row in left {
        let org = row.org_id;
        let binding = Binding {
            org_id: org,
            record_id: row.connection_id.0,
            field: API_KEY_FIELD,
        };
        let outcome = match (
            &row.webhook_id,
            state.crypto.decrypt(&row.api_key_ciphertext, binding),
        ) {
            (None, _) => Ok(()),
            (Some(webhook_id), Ok(key)) => {
                match state.fathom.delete_webhook(&key, webhook_id).await {
                    Ok(()) | Err(FathomError::NotFound) => Ok(()),
                    Err(err)
                        if err.is_transient()
                            && row.cleanup_attempts + 1 < LEFT_BEHIND_ATTEMPTS =>
                    {
                        Err(err.to_string())
                    }
                    Err(err) => {
                        audit_abandoned_webhook(
                            state,
                            org,
                            "an interrupted connect",
                            webhook_id,
                            &err.to_string(),
                        )
                        .await?;
                        Ok(())
                    }
                }
            }
            (Some(webhook_id), Err(_)) => {
                audit_abandoned_webhook(
                    state,
                    org,
                    "an interrupted connect",
                    webhook_id,
                    "the key could not be read",
                )
                .await?;
                Ok(())
            }
        };
        match outcome {
            Ok(()) => {
                let mut conn = state.db.acquire().await?;
                db::fathom_pending_webhooks::delete(&mut conn, org, row.connection_id).await?;
                tracing::info!(%org, connection_id = %row.connection_id,
                    webhook_id = row.webhook_id.as_deref().unwrap_or("none"),
                    "cleaned up an interrupted Fathom connect");
                settled += 1;
            }
            Err(reason) => {
                let wait = 30.0 * f64::from(1u32 << row.cleanup_attempts.clamp(0, 10));
                db::fathom_pending_webhooks::cleanup_failed(
                    &state.db,
                    org,
                    row.connection_id,
                    wait,
                )
                .await?;
                tracing::warn!(%org, connection_id = %row.connection_id, %reason,
                    "could not delete an interrupted connect's webhook yet; will retry");
            }
        }
    }
    Ok(settled)
}

/// Audits a webhook Debrief gave up deleting, saying where a person deletes it by hand.
async fn audit_abandoned_webhook(
    state: &AppState,
    org: OrgId,
    whose: &str,
    webhook_id: &str,
    reason: &str,
) -> anyhow::Result<()> {
    let mut conn = state.db.acquire().await?;
    let detail = format!(
        "{whose}: webhook {webhook_id} must be deleted in Fathom (Settings → API Access → Manage): {reason}"
    );
    db::audit::record(
        &mut conn,
        org,
        None,
        AuditAction::FathomWebhookCleanupAbandoned,
        &detail,
    )
    .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn store(
    state: &AppState,
    org: OrgId,
    by: UserId,
    fathom_email: &Email,
    api_key: &SecretString,
    id: FathomConnectionId,
    destination_url: &str,
    webhook: &crate::fathom::CreatedWebhook,
) -> Result<Option<ConnectionKeys>, ConnectError> {
    let binding = |field| Binding {
        org_id: org,
        record_id: id.0,
        field,
    };
    let key_ct = state.crypto.encrypt(api_key, binding(API_KEY_FIELD))?;
    let secret_ct = state
        .crypto
        .encrypt(&webhook.secret, binding(WEBHOOK_SECRET_FIELD))?;
    let hint = mask(api_key);

    let mut tx = state.db.begin().await.map_err(anyhow::Error::from)?;
    let live = db::fathom_connections::live_keys_for_update(&mut tx, org)
        .await
        .map_err(anyhow::Error::from)?;
    let replaced = live
        .into_iter()
        .find(|c| c.fathom_user_email == fathom_email.as_str() || same_key(state, c, api_key));
    if let Some(old) = &replaced {
        db::fathom_connections::begin_disconnect(&mut tx, org, old.id, Some(by))
            .await
            .map_err(anyhow::Error::from)?;
        db::fathom_sync_runs::cancel_open(
            &mut tx,
            org,
            old.id,
            "The connection was replaced by a new key.",
        )
        .await
        .map_err(anyhow::Error::from)?;
    }
    let new = NewConnection {
        id,
        fathom_user_email: fathom_email.as_str(),
        api_key_ciphertext: &key_ct,
        webhook_secret_ciphertext: &secret_ct,
        api_key_hint: &hint,
        webhook_id: &webhook.id,
        webhook_url: destination_url,
        connected_by: by,
    };
    if let Err(err) = db::fathom_connections::insert(&mut tx, org, &new).await {
        return Err(
            if db::is_unique_violation(&err, "fathom_connections_one_live_per_user") {
                ConnectError::ConcurrentConnect
            } else {
                anyhow::Error::from(err).into()
            },
        );
    }
    let (action, detail) = match &replaced {
        Some(old) => (
            AuditAction::FathomKeyReplaced,
            format!(
                "{} now uses key {hint} and webhook {} (replacing webhook {})",
                fathom_email.as_str(),
                webhook.id,
                old.webhook_id.as_deref().unwrap_or("none")
            ),
        ),
        None => (
            AuditAction::FathomConnected,
            format!(
                "{} with key {hint}; webhook {}",
                fathom_email.as_str(),
                webhook.id
            ),
        ),
    };
    db::audit::record(&mut tx, org, Some(by), action, &detail)
        .await
        .map_err(anyhow::Error::from)?;
    db::fathom_connections::set_next_sync_at(&mut tx, org, id, first_hourly_sync(id, Utc::now()))
        .await
        .map_err(anyhow::Error::from)?;
    crate::jobs::request_sync(
        &mut tx,
        state,
        org,
        id,
        SyncSource::Initial,
        SyncWindow::SinceLastSuccess,
        Some(by),
    )
    .await?;
    db::fathom_pending_webhooks::delete(&mut tx, org, id)
        .await
        .map_err(anyhow::Error::from)?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    Ok(replaced)
}

/// The connection's API key in clear, if it still has one that decrypts.
pub fn api_key(state: &AppState, keys: &ConnectionKeys) -> Option<SecretString> {
    let ct = keys.api_key_ciphertext.as_deref()?;
    crate::crypto::decrypt_fathom_api_key(&state.crypto, keys.org_id, keys.id.0, ct)
}

/// Whether a live connection holds this very key (pasted again under another email).
fn same_key(state: &AppState, conn: &ConnectionKeys, candidate: &SecretString) -> bool {
    api_key(state, conn).is_some_and(|stored| {
        bool::from(
            stored
                .expose_secret()
                .as_bytes()
                .ct_eq(candidate.expose_secret().as_bytes()),
        )
    })
}

/// What became of a connection's webhook after a disconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CleanupOutcome {
    /// Deleted at Fathom (or already gone); key and secret erased.
    Deleted,
    /// Fathom could not be reached; retried in the background.
    Retrying,
    /// Given up: key and secret erased; a person must delete `webhook_id` in Fathom's settings.
    Abandoned { webhook_id: String },
}

/// Disconnects a live connection: ingest stops at once, then the webhook is deleted at Fathom and
/// the secrets erased. `None` when the org has no such live connection.
pub async fn disconnect(
    state: &AppState,
    org: OrgId,
    id: FathomConnectionId,
    by: UserId,
) -> anyhow::Result<Option<CleanupOutcome>> {
    let mut tx = state.db.begin().await?;
    let Some(keys) = db::fathom_connections::begin_disconnect(&mut tx, org, id, Some(by)).await?
    else {
        return Ok(None);
    };
    let detail = format!(
        "{} (webhook {})",
        keys.fathom_user_email,
        keys.webhook_id.as_deref().unwrap_or("none")
    );
    db::audit::record(
        &mut tx,
        org,
        Some(by),
        AuditAction::FathomDisconnected,
        &detail,
    )
    .await?;
    db::fathom_sync_runs::cancel_open(&mut tx, org, id, "The connection was disconnected.").await?;
    tx.commit().await?;
    state.webhook_secrets.forget(org);
    tracing::info!(%org, connection_id = %id, "Fathom disconnected; deleting its webhook");
    Ok(Some(attempt_webhook_cleanup(state, &keys).await))
}

/// Tries once to delete a disconnecting connection's webhook at Fathom, then erases its secrets, or
/// schedules another try, or gives up after the configured attempts.
pub async fn attempt_webhook_cleanup(state: &AppState, keys: &ConnectionKeys) -> CleanupOutcome {
    match try_cleanup(state, keys).await {
        Ok(outcome) => outcome,
        Err(err) => {
            tracing::error!(org = %keys.org_id, connection_id = %keys.id, error = ?err,
                "webhook cleanup failed to record its outcome; it will be retried");
            CleanupOutcome::Retrying
        }
    }
}

async fn try_cleanup(state: &AppState, keys: &ConnectionKeys) -> anyhow::Result<CleanupOutcome> {
    let org = keys.org_id;
    let Some(webhook_id) = keys.webhook_id.clone() else {
        db::fathom_connections::finish_disconnect(
            &state.db,
            org,
            keys.id,
            WebhookCleanup::Deleted,
            None,
        )
        .await?;
        return Ok(CleanupOutcome::Deleted);
    };
    let Some(api_key) = api_key(state, keys) else {
        return abandon(state, keys, &webhook_id, "the stored key could not be read").await;
    };
    match state.fathom.delete_webhook(&api_key, &webhook_id).await {
        Ok(()) | Err(FathomError::NotFound) => {
            db::fathom_connections::finish_disconnect(
                &state.db,
                org,
                keys.id,
                WebhookCleanup::Deleted,
                None,
            )
            .await?;
            tracing::info!(%org, connection_id = %keys.id, %webhook_id, "Fathom webhook deleted");
            Ok(CleanupOutcome::Deleted)
        }
        Err(err) if err.is_transient() => {
            let attempts_made = keys.webhook_cleanup_attempts + 1;
            if attempts_made >= state.settings.fathom.webhook_cleanup_attempts {
                return abandon(state, keys, &webhook_id, &err.to_string()).await;
            }
            let base = state.settings.fathom.webhook_cleanup_backoff_seconds;
            let delay = base.saturating_mul(1u64 << (attempts_made - 1).clamp(0, 20));
            let next_at = Utc::now()
                + chrono::Duration::seconds(i64::try_from(delay).unwrap_or(i64::MAX / 2));
            db::fathom_connections::schedule_cleanup_retry(
                &state.db,
                org,
                keys.id,
                next_at,
                &err.to_string(),
            )
            .await?;
            tracing::warn!(%org, connection_id = %keys.id, %webhook_id, error = %err,
                attempt = attempts_made, "could not delete the Fathom webhook; will retry");
            Ok(CleanupOutcome::Retrying)
        }
        // The key can no longer delete it (revoked, refused): only a person can.
        Err(err) => abandon(state, keys, &webhook_id, &err.to_string()).await,
    }
}

async fn abandon(
    state: &AppState,
    keys: &ConnectionKeys,
    webhook_id: &str,
    reason: &str,
) -> anyhow::Result<CleanupOutcome> {
    let org = keys.org_id;
    let finished = db::fathom_connections::finish_disconnect(
        &state.db,
        org,
        keys.id,
        WebhookCleanup::Abandoned,
        Some(reason),
    )
    .await?;
    if finished {
        audit_abandoned_webhook(state, org, &keys.fathom_user_email, webhook_id, reason).await?;
    }
    tracing::warn!(%org, connection_id = %keys.id, %webhook_id, reason,
        "gave up deleting the Fathom webhook; key erased");
    Ok(CleanupOutcome::Abandoned {
        webhook_id: webhook_id.to_owned(),
    })
}

/// Retries every webhook deletion that is due (any org); returns how many were attempted. Webhooks
/// of interrupted connects are deleted here too.
pub async fn retry_due_webhook_cleanups(state: &AppState) -> anyhow::Result<usize> {
    if let Err(err) = clean_up_interrupted_connects(state).await {
        tracing::warn!(error = ?err, "could not clean up interrupted Fathom connects");
    }
    let due = db::system::claim_due_webhook_cleanups(&state.db, 20, 300).await?;
    for keys in &due {
        if keys.state == ConnectionState::Disconnecting {
            attempt_webhook_cleanup(state, keys).await;
        }
    }
    Ok(due.len())
}
