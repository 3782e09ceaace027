//! Connecting and disconnecting a CRM: the OAuth authorization as the org sees it (what is kept
//! while the person is at the provider, what a callback must match), storing the connection with
//! its tokens encrypted, the first import, and disconnecting (tokens revoked at the provider and
//! erased; imported customers kept unless asked otherwise).

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::crm::oauth::{self, OauthApp, TokenSet};
use crate::crm::{hubspot, salesforce};
use crate::crypto::{Binding, CRM_ACCESS_TOKEN_FIELD, CRM_REFRESH_TOKEN_FIELD};
use crate::db;
use crate::db::audit::AuditAction;
use crate::db::crm_connections::NewCrmConnection;
use crate::db::crm_import_runs::ImportSource;
use crate::domain::{CrmConnectionId, CrmProvider, OrgId, UserId};
use crate::jobs;
use crate::state::AppState;

/// How long a started authorization may take.
pub const AUTHORIZATION_TTL: chrono::Duration = chrono::Duration::minutes(10);

/// What the signed-in person's session keeps while they are at the provider (server-side only:
/// the PKCE verifier never leaves).
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingAuthorization {
    pub state: String,
    pub provider: CrmProvider,
    pub org_id: OrgId,
    pub org_slug: String,
    pub user_id: UserId,
    pub pkce_verifier: String,
    /// Salesforce: the login host chosen (production, sandbox or My Domain).
    pub login_url: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl PendingAuthorization {
    /// Whether it is older than [`AUTHORIZATION_TTL`].
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        now - self.created_at > AUTHORIZATION_TTL
    }
}

/// Starts an authorization: the URL to send the person to, and what to keep in their session.
/// `None` when the provider is not configured.
pub fn start(
    state: &AppState,
    provider: CrmProvider,
    org_id: OrgId,
    org_slug: &str,
    user_id: UserId,
    login_url: Option<Url>,
) -> Option<(Url, PendingAuthorization)> {
    let app = OauthApp::from_settings(&state.settings, provider, login_url.as_ref())?;
    let started = oauth::authorize(&app);
    Some((
        started.url,
        PendingAuthorization {
            state: started.state,
            provider,
            org_id,
            org_slug: org_slug.to_owned(),
            user_id,
            pkce_verifier: started.pkce_verifier.expose_secret().to_owned(),
            login_url: login_url.map(String::from),
            created_at: Utc::now(),
        },
    ))
}

/// Why a callback did not end in a connection.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("{0} is not configured on this Debrief")]
    NotConfigured(&'static str),
    #[error("{provider} did not accept the authorization: {description}. Try connecting again.")]
    Refused {
        provider: &'static str,
        description: String,
    },
    #[error("{0} could not be reached to finish connecting. Try again in a moment.")]
    Unreachable(&'static str),
    #[error("{provider} sent an answer Debrief cannot use: {detail}")]
    BadAnswer {
        provider: &'static str,
        detail: String,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for CallbackError {
    fn from(e: sqlx::Error) -> Self {
        CallbackError::Internal(e.into())
    }
}

/// A stored connection.
#[derive(Debug, Clone)]
pub struct Connected {
    pub id: CrmConnectionId,
    pub account_name: String,
    /// The same account was connected already: its tokens were replaced.
    pub reconnected: bool,
}

fn token_error(e: oauth::OauthError, provider: &'static str) -> CallbackError {
    match e {
        oauth::OauthError::Rejected { description, .. } => CallbackError::Refused {
            provider,
            description,
        },
        oauth::OauthError::Unreachable(p) => CallbackError::Unreachable(p),
        oauth::OauthError::Malformed(p) => CallbackError::BadAnswer {
            provider: p,
            detail: "not a token answer".into(),
        },
    }
}

/// Finishes an authorization the callback matched to `pending`: exchanges the code, reads the
/// account's identity, stores the connection (replacing the tokens of a live connection to the
/// same account) and queues its first import.
pub async fn complete(
    state: &AppState,
    pending: &PendingAuthorization,
    code: &str,
) -> Result<Connected, CallbackError> {
    let provider = pending.provider;
    let label = provider.label();
    let login = pending
        .login_url
        .as_deref()
        .and_then(|u| Url::parse(u).ok());
    let app = OauthApp::from_settings(&state.settings, provider, login.as_ref())
        .ok_or(CallbackError::NotConfigured(label))?;
    let verifier = SecretString::from(pending.pkce_verifier.clone());
    let tokens = oauth::exchange_code(&state.crm_http, &app, code, &verifier)
        .await
        .map_err(|e| token_error(e, label))?;
    let new = identify(state, &app, pending, &tokens).await?;
    let mut tx = state.db.begin().await?;
    let existing =
        db::crm_connections::live_for_account(&mut tx, pending.org_id, provider, &new.account_id)
            .await?;
    let id = existing.unwrap_or_default();
    let bind = |field| Binding {
        org_id: pending.org_id,
        record_id: id.0,
        field,
    };
    let access = state
        .crypto
        .encrypt(&tokens.access_token, bind(CRM_ACCESS_TOKEN_FIELD))?;
    let refresh = match &tokens.refresh_token {
        Some(t) => Some(state.crypto.encrypt(t, bind(CRM_REFRESH_TOKEN_FIELD))?),
        None => None,
    };
    let expires_at = tokens
        .expires_in
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .map(|d| Utc::now() + d);
    db::crm_connections::save(
        &mut tx,
        pending.org_id,
        id,
        &new,
        &access,
        refresh.as_deref(),
        expires_at,
    )
    .await?;
    db::audit::record(
        &mut tx,
        pending.org_id,
        Some(pending.user_id),
        AuditAction::CrmConnected,
        &format!("{label} {} ({})", new.account_name, new.account_id),
    )
    .await?;
    let source = if existing.is_some() {
        ImportSource::Manual
    } else {
        ImportSource::Initial
    };
    jobs::request_crm_import(
        &mut tx,
        &state.settings,
        pending.org_id,
        id,
        source,
        Some(pending.user_id),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(org_id = %pending.org_id, connection_id = %id, provider = %provider,
        reconnected = existing.is_some(), "CRM connected");
    Ok(Connected {
        id,
        account_name: new.account_name,
        reconnected: existing.is_some(),
    })
}

/// Who the tokens belong to: HubSpot's portal from its token information; Salesforce's org and
/// user from the identity URL, and the instance URL every REST call goes to.
async fn identify(
    state: &AppState,
    app: &OauthApp,
    pending: &PendingAuthorization,
    tokens: &TokenSet,
) -> Result<NewCrmConnection, CallbackError> {
    let provider = pending.provider;
    let label = provider.label();
    let bad = |detail: String| CallbackError::BadAnswer {
        provider: label,
        detail,
    };
    match provider {
        CrmProvider::Hubspot => {
            let (hub, domain, user) = match hubspot::token_portal(
                &state.crm_http,
                &state.settings.hubspot.api_base_url,
                &app.client_id,
                &app.client_secret,
                &tokens.access_token,
            )
            .await
            {
                Ok(found) => found,
                // The token answer names the portal too; use it when the lookup is unavailable.
                Err(e) => match &tokens.hub_id {
                    Some(hub) => (hub.clone(), None, None),
                    None => return Err(bad(format!("its portal could not be read ({e})"))),
                },
            };
            Ok(NewCrmConnection {
                provider,
                account_name: domain.unwrap_or_else(|| format!("HubSpot portal {hub}")),
                account_id: hub,
                account_user: user,
                instance_url: None,
                login_url: None,
                scopes: tokens.scopes.clone(),
                connected_by: pending.user_id,
            })
        }
        CrmProvider::Salesforce => {
            let instance = tokens
                .instance_url
                .as_deref()
                .and_then(|u| Url::parse(u).ok())
                .ok_or_else(|| bad("no instance_url".into()))?;
            let identity_url = tokens
                .identity_url
                .as_deref()
                .ok_or_else(|| bad("no identity URL".into()))?;
            let (org_id, user_id, username) =
                salesforce::identity(&state.crm_http, identity_url, &tokens.access_token)
                    .await
                    .map_err(|e| bad(e.to_string()))?;
            Ok(NewCrmConnection {
                provider,
                account_name: instance.host_str().unwrap_or("Salesforce").to_owned(),
                account_id: org_id,
                account_user: Some(username.unwrap_or(user_id)),
                instance_url: Some(instance.to_string()),
                login_url: Some(
                    app.authorize_url
                        .join("/")
                        .map(String::from)
                        .unwrap_or_default(),
                ),
                scopes: tokens.scopes.clone(),
                connected_by: pending.user_id,
            })
        }
    }
}

/// What a disconnect did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnected {
    pub provider: CrmProvider,
    pub account_name: String,
    /// Whether the provider confirmed the revocation.
    pub revoked: bool,
    /// Customers deleted with it (when asked).
    pub customers_removed: u64,
}

/// Disconnects: erases the tokens (pushes and imports stop at once), optionally deletes the
/// customers its imports created, then revokes the grant at the provider. `None` when there is no
/// such live connection in the org.
pub async fn disconnect(
    state: &AppState,
    org: OrgId,
    id: CrmConnectionId,
    by: UserId,
    remove_customers: bool,
) -> anyhow::Result<Option<Disconnected>> {
    let mut tx = state.db.begin().await?;
    let Some(c) = db::crm_connections::get_for_update(&mut tx, org, id).await? else {
        return Ok(None);
    };
    if !db::crm_connections::disconnect(&mut tx, org, id).await? {
        return Ok(None);
    }
    let bind = |field| Binding {
        org_id: org,
        record_id: id.0,
        field,
    };
    let refresh = c
        .refresh_token_ciphertext
        .as_deref()
        .and_then(|ct| state.crypto.decrypt(ct, bind(CRM_REFRESH_TOKEN_FIELD)).ok());
    let access = c
        .access_token_ciphertext
        .as_deref()
        .and_then(|ct| state.crypto.decrypt(ct, bind(CRM_ACCESS_TOKEN_FIELD)).ok());
    db::crm_import_runs::fail_open(&mut tx, org, id, "the connection was disconnected").await?;
    let customers_removed = if remove_customers {
        db::crm_records::delete_created_customers(&mut tx, org, id).await?
    } else {
        0
    };
    db::audit::record(
        &mut tx,
        org,
        Some(by),
        AuditAction::CrmDisconnected,
        &format!(
            "{} {}{}",
            c.provider.label(),
            c.account_name,
            if remove_customers {
                format!("; {customers_removed} imported customer(s) removed")
            } else {
                String::new()
            }
        ),
    )
    .await?;
    if customers_removed > 0 {
        jobs::request_rematch(&mut tx, org).await?;
    }
    tx.commit().await?;
    let revoked = match (c.provider, refresh.or(access)) {
        (CrmProvider::Hubspot, Some(token)) => hubspot::revoke(
            &state.crm_http,
            &state.settings.hubspot.api_base_url,
            &token,
        )
        .await
        .is_ok(),
        (CrmProvider::Salesforce, Some(token)) => {
            let login = c
                .login_url
                .as_deref()
                .and_then(|u| Url::parse(u).ok())
                .unwrap_or_else(|| state.settings.salesforce.login_url.clone());
            salesforce::revoke(&state.crm_http, &login, &token)
                .await
                .is_ok()
        }
        (_, None) => false,
    };
    tracing::info!(org_id = %org, connection_id = %id, revoked, "CRM disconnected");
    Ok(Some(Disconnected {
        provider: c.provider,
        account_name: c.account_name,
        revoked,
        customers_removed,
    }))
}
