//! The Integrations page: the org's Fathom connections (masked keys, webhook ids, who connected
//! them, sync health), webhook events that failed, and what became of disconnected ones' webhooks.

use super::filters;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use tower_sessions::Session;
use url::{Host, Url};

use crate::auth::extractors::OrgContext;
use crate::crm::oauth::{OauthApp, callback_url};
use crate::db;
use crate::db::crm_connections::{CrmConnection, CrmConnectionState};
use crate::db::fathom_connections::{ConnectionState, ConnectionSummary, WebhookCleanup};
use crate::db::fathom_events::FailedEvent;
use crate::db::fathom_sync_runs::SyncHealth;
use crate::domain::CrmProvider;
use crate::error::AppResult;
use crate::integrations::fathom_connections::webhook_url;
use crate::state::AppState;
use crate::web::fathom_connections::connection_state_label;
use crate::web::layout::Layout;
use crate::web::routes::Routes;
use axum::routing::get;

/// The Integrations page.
#[derive(Template, WebTemplate)]
#[template(path = "integrations/show.html")]
pub struct IntegrationsPage {
    pub layout: Layout,
    pub org_slug: String,
    pub can_manage: bool,
    /// Connections through which meetings arrive, with their sync health.
    pub live: Vec<LiveConnection>,
    /// Webhook deliveries that could not be processed (kept for replay).
    pub failed_events: Vec<FailedEvent>,
    /// Recently disconnected ones (webhook deletion pending, done or abandoned).
    pub disconnected: Vec<ConnectionSummary>,
    /// Where Fathom delivers this org's meetings.
    pub webhook_url: String,
    /// The real Fathom cannot reach `base_url`: say so.
    pub webhook_unreachable: bool,
    /// The org's CRM connections (live ones, then recently disconnected).
    pub crm_connections: Vec<CrmConnection>,
    /// Each CRM and whether this Debrief is set up to connect it.
    pub crm_offers: Vec<CrmOffer>,
}

/// A CRM as the Integrations page offers it.
pub struct CrmOffer {
    pub provider: CrmProvider,
    /// A client id and secret are configured.
    pub configured: bool,
    /// The callback to register with the provider's app.
    pub callback_url: String,
    /// `DEBRIEF__HUBSPOT` or `DEBRIEF__SALESFORCE`.
    pub env_prefix: &'static str,
}

/// A live connection and how its syncs are doing.
pub struct LiveConnection {
    pub connection: ConnectionSummary,
    pub health: Option<SyncHealth>,
    /// Active, Syncing, or Needs reconnect.
    pub state_label: &'static str,
}

/// GET /o/{org_slug}/integrations
pub async fn show_integrations(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
) -> AppResult<IntegrationsPage> {
    let (live, disconnected): (Vec<_>, Vec<_>) =
        db::fathom_connections::list(&state.db, ctx.org.id)
            .await?
            .into_iter()
            .partition(|c| c.state.is_live());
    let mut health = db::fathom_sync_runs::health(&state.db, ctx.org.id).await?;
    let live = live
        .into_iter()
        .map(|connection| {
            let health = health
                .iter()
                .position(|h| h.connection_id == connection.id)
                .map(|i| health.swap_remove(i));
            let syncing = health.as_ref().is_some_and(|h| h.open_run.is_some());
            LiveConnection {
                state_label: connection_state_label(connection.state, syncing),
                connection,
                health,
            }
        })
        .collect();
    let failed_events = db::fathom_events::list_failed(&state.db, ctx.org.id).await?;
    let crm_connections = db::crm_connections::list(&state.db, ctx.org.id).await?;
    let crm_offers = CrmProvider::ALL
        .into_iter()
        .map(|provider| CrmOffer {
            provider,
            configured: OauthApp::from_settings(&state.settings, provider, None).is_some(),
            callback_url: callback_url(&state.settings, provider).to_string(),
            env_prefix: match provider {
                CrmProvider::Hubspot => "DEBRIEF__HUBSPOT",
                CrmProvider::Salesforce => "DEBRIEF__SALESFORCE",
            },
        })
        .collect();
    Ok(IntegrationsPage {
        layout: Layout::for_org(&state.db, &session, &ctx, "integrations", "Integrations").await?,
        org_slug: ctx.org.slug.clone(),
        can_manage: ctx.role.can_manage(),
        live,
        failed_events,
        disconnected,
        webhook_url: webhook_url(&state, ctx.org.id),
        webhook_unreachable: !is_public_https(&state.settings.application.base_url),
        crm_connections,
        crm_offers,
    })
}

/// Whether a remote service on the internet could deliver to `url`: https, and a host that is not
/// loopback, private, link-local or a local-only name.
pub fn is_public_https(url: &Url) -> bool {
    if url.scheme() != "https" {
        return false;
    }
    match url.host() {
        Some(Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d.contains('.')
                && ![
                    "localhost",
                    ".local",
                    ".internal",
                    ".lan",
                    ".home.arpa",
                    ".test",
                ]
                .iter()
                .any(|suffix| d == suffix.trim_start_matches('.') || d.ends_with(suffix))
        }
        Some(Host::Ipv4(ip)) => {
            !(ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                // 100.64.0.0/10, carrier-grade NAT.
                || (ip.octets()[0] == 100 && ip.octets()[1] & 0xc0 == 64))
        }
        Some(Host::Ipv6(ip)) => {
            !(ip.is_loopback()
                || ip.is_unspecified()
                || ip.is_unique_local()
                || ip.is_unicast_link_local())
        }
        None => false,
    }
}

/// This area's routes.
pub fn router() -> Routes {
    Routes::new().route("/o/{org_slug}/integrations", get(show_integrations))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_https_urls_count_as_reachable_by_fathom() {
        for ok in [
            "https://debrief.example.com",
            "https://app.acme.io/",
            "https://8.8.8.8",
        ] {
            assert!(is_public_https(&ok.parse().unwrap()), "{ok}");
        }
        for not in [
            "http://debrief.example.com",
            "https://localhost:8000",
            "https://127.0.0.1",
            "https://10.1.2.3",
            "https://192.168.1.4",
            "https://100.64.0.1",
            "https://[::1]",
            "https://[fd00::1]",
            "https://myhost",
            "https://box.local",
            "https://svc.internal",
        ] {
            assert!(!is_public_https(&not.parse().unwrap()), "{not}");
        }
    }
}
