//! A strict simulator of the parts of HubSpot and Salesforce Debrief uses (see
//! `/work/shared/crm-apis.md`), on one loopback port whose paths do not overlap:
//!
//! - HubSpot: the authorize page (`/oauth/authorize`), the token endpoint (`/oauth/v1/token`,
//!   `/oauth/v3/token`), token information and introspection, the refresh-token delete, and CRM v3
//!   objects (contacts, companies, notes, tasks: list with `after` paging, search with filter
//!   groups, batch read, create/update/archive, associations with the documented type ids),
//!   110 calls per 10 s per portal with HubSpot's rate-limit headers, 5 searches per second.
//! - Salesforce: `/services/oauth2/{authorize,token,revoke}` with PKCE, the identity URL
//!   (`/id/{org}/{user}`), and REST under `/services/data/vXX.X/` (SOQL `query` with
//!   `nextRecordsUrl`; Account, Contact and Task create, read, update and upsert by external id;
//!   the error array; `INVALID_SESSION_ID`; `Sforce-Limit-Info`).
//! - `/__sim/…` control endpoints (and [`CrmSimHandle`] methods): seed and change records, expire
//!   tokens, revoke refresh tokens, inject faults for the next N calls (429, 500, 401, and create
//!   the record then never answer in time), list calls and records.

mod control;
mod hubspot;
mod oauth;
mod salesforce;
mod state;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use state::{Association, CallRecord, Fault, FaultKind, Provider, SimRecord, Stats};

use state::SimState;

/// An OAuth app registered with the simulated provider.
#[derive(Debug, Clone)]
pub struct SimApp {
    pub client_id: String,
    pub client_secret: String,
    /// Redirect URIs registered for the app; empty = any http(s) URI (tests on random ports).
    pub redirect_uris: Vec<String>,
}

impl SimApp {
    /// An app accepting any redirect URI.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> SimApp {
        SimApp {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            redirect_uris: Vec::new(),
        }
    }
}

/// A company (HubSpot) or account (Salesforce) to seed.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SeedCompany {
    pub name: String,
    /// Primary domain (HubSpot `domain`; Salesforce `Website` is `https://www.{domain}`).
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default)]
    pub additional_domains: Vec<String>,
}

/// A contact to seed, with the domain of the company it belongs to.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SeedContact {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub company_domain: Option<String>,
}

/// A HubSpot portal (account) and the records it starts with.
#[derive(Debug, Clone)]
pub struct SimPortal {
    pub hub_id: u64,
    pub hub_domain: String,
    /// The HubSpot user who installs the app.
    pub user: String,
    pub companies: Vec<SeedCompany>,
    pub contacts: Vec<SeedContact>,
}

/// A Salesforce org and the records it starts with.
#[derive(Debug, Clone)]
pub struct SimSalesforceOrg {
    /// 18-character org id (`00D…`).
    pub org_id: String,
    /// The user who authorises (`005…`).
    pub user_id: String,
    pub username: String,
    pub accounts: Vec<SeedCompany>,
    pub contacts: Vec<SeedContact>,
}

/// Simulator configuration.
#[derive(Debug, Clone)]
pub struct CrmSim {
    pub hubspot_apps: Vec<SimApp>,
    pub salesforce_apps: Vec<SimApp>,
    pub portals: Vec<SimPortal>,
    pub salesforce_orgs: Vec<SimSalesforceOrg>,
    /// HubSpot access tokens live this long (1800 s).
    pub hubspot_token_ttl: Duration,
    /// Salesforce sessions time out after this long without use (org policy; 2 h default).
    pub salesforce_session_ttl: Duration,
    /// HubSpot: calls per portal in any 10 s (110 for OAuth apps).
    pub hubspot_calls_per_10s: u32,
    /// HubSpot: searches per portal per second (5).
    pub hubspot_searches_per_second: u32,
    /// Salesforce: records per query batch (2,000; tests use fewer to see paging).
    pub salesforce_query_batch: usize,
    /// Salesforce: API calls per org per 24 h.
    pub salesforce_daily_limit: u64,
    /// The `TimeoutAfterCreate` fault holds the answer this long after creating the record.
    pub hang_after_create: Duration,
    /// Authorization codes expire after this long.
    pub code_ttl: Duration,
}

/// Demo HubSpot app client id (demo mode configures Debrief with it).
pub const DEMO_HUBSPOT_CLIENT_ID: &str = "debrief-demo-hubspot";
/// Demo Salesforce app client id.
pub const DEMO_SALESFORCE_CLIENT_ID: &str = "debrief-demo-salesforce";
/// Demo apps' client secret (a simulator's, not a real one).
pub const DEMO_CLIENT_SECRET: &str = "debrief-demo-client-secret";

impl CrmSim {
    /// No apps, portals or orgs yet; the providers' documented limits.
    pub fn new() -> CrmSim {
        CrmSim {
            hubspot_apps: Vec::new(),
            salesforce_apps: Vec::new(),
            portals: Vec::new(),
            salesforce_orgs: Vec::new(),
            hubspot_token_ttl: Duration::from_secs(1800),
            salesforce_session_ttl: Duration::from_secs(2 * 3600),
            hubspot_calls_per_10s: 110,
            hubspot_searches_per_second: 5,
            salesforce_query_batch: 2000,
            salesforce_daily_limit: 100_000,
            hang_after_create: Duration::from_secs(30),
            code_ttl: Duration::from_secs(600),
        }
    }

    /// The demo: one HubSpot portal holding most of the demo Fathom users' customer companies and
    /// some of their people, one Salesforce org with a few accounts, and the demo apps.
    pub fn demo() -> CrmSim {
        let mut sim = CrmSim::new();
        sim.hubspot_apps
            .push(SimApp::new(DEMO_HUBSPOT_CLIENT_ID, DEMO_CLIENT_SECRET));
        sim.salesforce_apps
            .push(SimApp::new(DEMO_SALESFORCE_CLIENT_ID, DEMO_CLIENT_SECRET));
        let companies = crate::sim::fathom::demo_companies();
        let seed = |take: usize| {
            let mut cs = Vec::new();
            let mut people = Vec::new();
            for (domain, name, persons) in companies.iter().take(take) {
                cs.push(SeedCompany {
                    name: (*name).to_owned(),
                    domain: Some((*domain).to_owned()),
                    additional_domains: Vec::new(),
                });
                for (i, (first, last, email)) in persons.iter().enumerate() {
                    if i % 2 == 1 {
                        continue;
                    }
                    people.push(SeedContact {
                        email: email.clone(),
                        first_name: (*first).to_owned(),
                        last_name: (*last).to_owned(),
                        title: Some(
                            ["VP Operations", "Head of Sales", "CTO", "Buyer"][i % 4].into(),
                        ),
                        company_domain: Some((*domain).to_owned()),
                    });
                }
            }
            (cs, people)
        };
        let (hs_companies, hs_contacts) = seed(companies.len().saturating_sub(2).max(1));
        sim.portals.push(SimPortal {
            hub_id: 4_100_200,
            hub_domain: "acme-demo.hubspot.com".into(),
            user: "alice.johnson@acme.com".into(),
            companies: hs_companies,
            contacts: hs_contacts,
        });
        let (sf_accounts, sf_contacts) = seed(4);
        sim.salesforce_orgs.push(SimSalesforceOrg {
            org_id: "00D5g000004DemoEAA".into(),
            user_id: "0055g00000DemoUAAQ".into(),
            username: "alice.johnson@acme.com.demo".into(),
            accounts: sf_accounts,
            contacts: sf_contacts,
        });
        sim
    }

    /// Serves on `listener` until the handle is dropped or shut down.
    pub async fn spawn(self, listener: TcpListener) -> anyhow::Result<CrmSimHandle> {
        let mut addr = listener.local_addr()?;
        if addr.ip().is_unspecified() {
            addr.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        let state = Arc::new(SimState::new(self, format!("http://{addr}")));
        let app = oauth::router(Arc::clone(&state))
            .merge(hubspot::router(Arc::clone(&state)))
            .merge(salesforce::router(Arc::clone(&state)))
            .merge(control::router(Arc::clone(&state)))
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(&state),
                control::log_call,
            ));
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "CRM simulator stopped");
            }
        });
        Ok(CrmSimHandle {
            addr,
            state,
            shutdown: Some(tx),
            server: Some(server),
        })
    }

    /// Serves on a free loopback port.
    pub async fn spawn_local(self) -> anyhow::Result<CrmSimHandle> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        self.spawn(listener).await
    }
}

impl Default for CrmSim {
    fn default() -> Self {
        CrmSim::new()
    }
}

/// A running CRM simulator. Dropping it stops the server.
#[derive(Debug)]
pub struct CrmSimHandle {
    addr: SocketAddr,
    state: Arc<SimState>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl CrmSimHandle {
    /// `http://127.0.0.1:PORT`: HubSpot's API base, Salesforce's login URL and instance URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// HubSpot's authorize page.
    pub fn hubspot_authorize_url(&self) -> String {
        format!("{}/oauth/authorize", self.base_url())
    }

    /// HubSpot's token endpoint.
    pub fn hubspot_token_url(&self) -> String {
        format!("{}/oauth/v1/token", self.base_url())
    }

    /// Every API call so far (OAuth endpoints included), oldest first.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.state.lock().calls.clone()
    }

    /// Counters: token refreshes, 429s sent, records created.
    pub fn stats(&self) -> Stats {
        self.state.lock().stats.clone()
    }

    /// Records of `object` (`contacts`, `companies`, `notes`, `tasks`) in portal `hub_id`.
    pub fn hubspot_records(&self, hub_id: u64, object: &str) -> Vec<SimRecord> {
        self.state.hubspot_records(hub_id, object)
    }

    /// Records of `object` (`Account`, `Contact`, `Task`) in the Salesforce org.
    pub fn salesforce_records(&self, org_id: &str, object: &str) -> Vec<SimRecord> {
        self.state.salesforce_records(org_id, object)
    }

    /// Adds a HubSpot company; returns its id.
    pub fn add_hubspot_company(&self, hub_id: u64, company: SeedCompany) -> anyhow::Result<String> {
        self.state.add_hubspot_company(hub_id, &company)
    }

    /// Adds a HubSpot contact (associated with the company owning `company_domain`).
    pub fn add_hubspot_contact(&self, hub_id: u64, contact: SeedContact) -> anyhow::Result<String> {
        self.state.add_hubspot_contact(hub_id, &contact)
    }

    /// Changes properties of a HubSpot record (its modification time moves on).
    pub fn change_hubspot_record(
        &self,
        hub_id: u64,
        object: &str,
        id: &str,
        properties: &[(&str, &str)],
    ) -> anyhow::Result<()> {
        self.state
            .change_hubspot_record(hub_id, object, id, properties)
    }

    /// Adds a Salesforce Account; returns its id.
    pub fn add_salesforce_account(
        &self,
        org_id: &str,
        account: SeedCompany,
    ) -> anyhow::Result<String> {
        self.state.add_salesforce_account(org_id, &account)
    }

    /// Makes every access token issued so far expired.
    pub fn expire_access_tokens(&self) {
        self.state.expire_access_tokens();
    }

    /// Revokes every refresh token issued so far (as a person uninstalling the app would).
    pub fn revoke_refresh_tokens(&self) {
        self.state.revoke_refresh_tokens();
    }

    /// Injects a fault for the next API calls.
    pub fn inject_fault(&self, fault: Fault) {
        self.state.lock().faults.push(fault);
    }

    /// Gives this share of API calls a random fault (a 500, or a create whose answer never
    /// comes), for benchmarks; 0 turns it off. Returns how many were injected so far.
    pub fn set_fault_ratio(&self, ratio: f64) -> u64 {
        let mut inner = self.state.lock();
        inner.fault_ratio = ratio;
        inner.random_faults
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for CrmSimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Runs the demo CRM simulator ([`CrmSim::demo`]) on `127.0.0.1:port` until `shutdown`.
pub async fn run_standalone(port: u16, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
    let handle = CrmSim::demo().spawn(listener).await?;
    tracing::info!(base_url = %handle.base_url(), "CRM simulator listening");
    shutdown.await;
    handle.shutdown().await;
    Ok(())
}
