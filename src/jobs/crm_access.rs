//! Opens a CRM connection for a job or a request: decrypts its access token, refreshes it shortly
//! before it expires or after the CRM refused it, and builds the provider's client. One refresh
//! at a time per connection across every process: the refresh runs holding the connection's row
//! lock, and whoever waited for the lock re-reads the row and uses the token just stored. A
//! refresh the provider refuses marks the connection *needs reconnect* once (audit event), and
//! nothing retries it.

use std::sync::Arc;

use chrono::{Duration, Utc};
use secrecy::SecretString;
use url::Url;

use crate::crm::CrmClient;
use crate::crm::hubspot::HubspotClient;
use crate::crm::oauth::{self, OauthApp};
use crate::crm::pacing::AccountPacer;
use crate::crm::salesforce::SalesforceClient;
use crate::crypto::{Binding, CRM_ACCESS_TOKEN_FIELD, CRM_REFRESH_TOKEN_FIELD};
use crate::db;
use crate::db::audit::AuditAction;
use crate::db::crm_connections::{CrmConnection, CrmConnectionState};
use crate::domain::{CrmConnectionId, CrmProvider, OrgId};
use crate::state::AppState;

/// Refresh this long before the provider's stated expiry.
const REFRESH_AHEAD: Duration = Duration::minutes(5);

/// Why a connection cannot be used now.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Disconnected, or not this org's.
    #[error("the CRM connection is gone")]
    Gone,
    /// The provider refused Debrief's access; a person must connect again.
    #[error("the CRM connection needs a reconnect: {0}")]
    NeedsReconnect(String),
    /// The provider's token endpoint could not be reached: try later.
    #[error("the CRM could not refresh the token now: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AccessError {
    fn from(e: sqlx::Error) -> Self {
        AccessError::Internal(e.into())
    }
}

/// A usable connection.
pub struct CrmAccess {
    pub connection: CrmConnection,
    pub client: Box<dyn CrmClient>,
}

fn binding(c: &CrmConnection, field: &'static str) -> Binding<'static> {
    Binding {
        org_id: c.org_id,
        record_id: c.id.0,
        field,
    }
}

fn expiring(c: &CrmConnection) -> bool {
    c.access_token_expires_at
        .is_some_and(|at| at - REFRESH_AHEAD <= Utc::now())
}

/// The connection with a token that is not about to expire.
pub async fn open(
    state: &AppState,
    org: OrgId,
    id: CrmConnectionId,
) -> Result<CrmAccess, AccessError> {
    let mut conn = state.db.acquire().await.map_err(anyhow::Error::from)?;
    let c = db::crm_connections::get(&mut conn, org, id)
        .await?
        .ok_or(AccessError::Gone)?;
    drop(conn);
    usable(&c)?;
    if expiring(&c) || c.access_token_ciphertext.is_none() {
        return refresh(state, org, id, c.access_token_ciphertext.as_deref()).await;
    }
    build(state, c)
}

/// After the CRM refused `access`'s token: a fresh one (refreshed here, or by whoever did first).
pub async fn after_unauthorized(
    state: &AppState,
    access: &CrmAccess,
) -> Result<CrmAccess, AccessError> {
    refresh(
        state,
        access.connection.org_id,
        access.connection.id,
        access.connection.access_token_ciphertext.as_deref(),
    )
    .await
}

fn usable(c: &CrmConnection) -> Result<(), AccessError> {
    match c.state {
        CrmConnectionState::Active => Ok(()),
        CrmConnectionState::NeedsReconnect => Err(AccessError::NeedsReconnect(
            c.problem
                .clone()
                .unwrap_or_else(|| "the CRM refused Debrief's access".into()),
        )),
        CrmConnectionState::Disconnected => Err(AccessError::Gone),
    }
}

/// Refreshes the token unless someone replaced `seen` meanwhile.
async fn refresh(
    state: &AppState,
    org: OrgId,
    id: CrmConnectionId,
    seen: Option<&str>,
) -> Result<CrmAccess, AccessError> {
    let mut tx = state.db.begin().await?;
    let c = db::crm_connections::get_for_update(&mut tx, org, id)
        .await?
        .ok_or(AccessError::Gone)?;
    usable(&c)?;
    if c.access_token_ciphertext.is_some()
        && c.access_token_ciphertext.as_deref() != seen
        && !expiring(&c)
    {
        // Refreshed by whoever held the lock before us.
        tx.commit().await?;
        return build(state, c);
    }
    let refresh_token = c.refresh_token_ciphertext.as_deref().and_then(|ct| {
        state
            .crypto
            .decrypt(ct, binding(&c, CRM_REFRESH_TOKEN_FIELD))
            .ok()
    });
    let login = c.login_url.as_deref().and_then(|u| Url::parse(u).ok());
    let app = OauthApp::from_settings(&state.settings, c.provider, login.as_ref());
    let (Some(refresh_token), Some(app)) = (refresh_token, app) else {
        let problem = format!(
            "{} cannot be refreshed (no refresh token, or the app is no longer configured)",
            c.provider.label()
        );
        needs_reconnect(&mut tx, &c, &problem).await?;
        tx.commit().await?;
        return Err(AccessError::NeedsReconnect(problem));
    };
    match oauth::refresh(&state.crm_http, &app, &refresh_token).await {
        Ok(tokens) => {
            let access_ct = state
                .crypto
                .encrypt(&tokens.access_token, binding(&c, CRM_ACCESS_TOKEN_FIELD))?;
            let refresh_ct = match &tokens.refresh_token {
                Some(t) => Some(
                    state
                        .crypto
                        .encrypt(t, binding(&c, CRM_REFRESH_TOKEN_FIELD))?,
                ),
                None => None,
            };
            let expires_at = tokens
                .expires_in
                .and_then(|d| Duration::from_std(d).ok())
                .map(|d| Utc::now() + d);
            db::crm_connections::store_tokens(
                &mut tx,
                org,
                id,
                &access_ct,
                refresh_ct.as_deref(),
                expires_at,
                tokens.instance_url.as_deref(),
            )
            .await?;
            tx.commit().await?;
            tracing::info!(org_id = %org, connection_id = %id, provider = %c.provider, "CRM access token refreshed");
            let mut c = c;
            c.access_token_ciphertext = Some(access_ct);
            c.access_token_expires_at = expires_at;
            if let Some(u) = tokens.instance_url {
                c.instance_url = Some(u);
            }
            build_with(state, c, tokens.access_token)
        }
        Err(e) if e.is_rejection() => {
            let problem = format!(
                "{} refused to refresh Debrief's access ({e}); connect it again",
                c.provider.label()
            );
            needs_reconnect(&mut tx, &c, &problem).await?;
            tx.commit().await?;
            Err(AccessError::NeedsReconnect(problem))
        }
        Err(e) => Err(AccessError::Unavailable(e.to_string())),
    }
}

async fn needs_reconnect(
    tx: &mut sqlx::PgConnection,
    c: &CrmConnection,
    problem: &str,
) -> Result<(), AccessError> {
    if db::crm_connections::mark_needs_reconnect(tx, c.org_id, c.id, problem).await? {
        db::audit::record(
            tx,
            c.org_id,
            None,
            AuditAction::CrmNeedsReconnect,
            &format!("{} {}: {problem}", c.provider.label(), c.account_name),
        )
        .await?;
        db::crm_import_runs::fail_open(tx, c.org_id, c.id, problem).await?;
        tracing::warn!(org_id = %c.org_id, connection_id = %c.id, "CRM connection needs a reconnect");
    }
    Ok(())
}

fn build(state: &AppState, c: CrmConnection) -> Result<CrmAccess, AccessError> {
    let token = c
        .access_token_ciphertext
        .as_deref()
        .and_then(|ct| {
            state
                .crypto
                .decrypt(ct, binding(&c, CRM_ACCESS_TOKEN_FIELD))
                .ok()
        })
        .ok_or_else(|| {
            AccessError::Internal(anyhow::anyhow!("the stored access token does not decrypt"))
        })?;
    build_with(state, c, token)
}

/// The pacer of a CRM account (HubSpot's limits are per portal).
pub fn pacer(state: &AppState, provider: CrmProvider, account: &str) -> Arc<AccountPacer> {
    let s = &state.settings.hubspot;
    state.crm_pacers.get(&format!("{provider}:{account}"), || {
        AccountPacer::new(
            s.requests_per_10s.max(2),
            std::time::Duration::from_secs(10),
            s.search_per_second.max(1),
        )
    })
}

fn build_with(
    state: &AppState,
    c: CrmConnection,
    token: SecretString,
) -> Result<CrmAccess, AccessError> {
    let client: Box<dyn CrmClient> = match c.provider {
        CrmProvider::Hubspot => {
            let s = &state.settings.hubspot;
            let mut app_base = s.authorize_url.clone();
            app_base.set_path("/");
            app_base.set_query(None);
            Box::new(HubspotClient::new(
                state.crm_http.clone(),
                s.api_base_url.clone(),
                app_base,
                c.account_id.clone(),
                token,
                pacer(state, c.provider, &c.account_id),
            ))
        }
        CrmProvider::Salesforce => {
            let instance = c
                .instance_url
                .as_deref()
                .and_then(|u| Url::parse(u).ok())
                .ok_or_else(|| {
                    AccessError::Internal(anyhow::anyhow!("no Salesforce instance URL stored"))
                })?;
            Box::new(SalesforceClient::new(
                state.crm_http.clone(),
                instance,
                state.settings.salesforce.api_version.clone(),
                token,
            ))
        }
    };
    Ok(CrmAccess {
        connection: c,
        client,
    })
}
