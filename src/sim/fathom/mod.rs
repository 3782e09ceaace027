//! A strict simulator of Fathom's External API v1 (see `/work/shared/fathom-api.md`).
//!
//! API keys map to configured users, each with deterministic generated meetings. It serves
//! `GET /meetings` (fixed pages of 10, opaque server-side cursors, documented filters, content
//! blocks only on request), the per-recording summary and transcript, `POST`/`DELETE /webhooks`
//! with Fathom's closed schema, per-key rate limits with `RateLimit-*` headers, and Standard
//! Webhooks deliveries with retries. `/__sim/...` endpoints (and [`SimHandle`] methods) let tests
//! record meetings, trigger deliveries, inject faults and inspect calls.
//!
//! ```ignore
//! let sim = FathomSim::new(vec![SimUser::new("key-1", "Ann Lee", "ann.lee@acme.com", "acme.com", 25)])
//!     .spawn_local()
//!     .await?;
//! let base = sim.base_url(); // http://127.0.0.1:PORT/external/v1, send `X-Api-Key: key-1`
//! sim.add_meeting("key-1", MeetingSpec::default())?; // delivered to Ann's webhooks
//! sim.wait_for_deliveries().await;
//! ```

mod api;
mod content;
mod control;
mod corpus;
mod data;
mod faults;
mod generators;
mod model;
mod query;
mod rate_limit;
mod state;
mod webhooks;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use control::RegisteredWebhook;
pub use data::{InviteeSpec, MeetingSpec};
pub use faults::{Fault, FaultKind};
pub use model::{
    ActionItem, Assignee, CrmCompany, CrmContact, CrmDeal, CrmMatches, FathomUser, Highlight,
    Include, Invitee, Meeting, MeetingSummary, Page, Speaker, TranscriptItem, Webhook,
};
pub use rate_limit::RateLimits;
pub use state::{CallRecord, DeliveryAttempt};
pub use webhooks::{Message, TRIGGERS, sign};

use state::SimState;

/// A Fathom user reachable through one API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimUser {
    /// The `X-Api-Key` value.
    pub api_key: String,
    /// Full name.
    pub name: String,
    /// Email (at `domain`).
    pub email: String,
    /// Company domain; invitees elsewhere are external.
    pub domain: String,
    /// How many meetings to generate.
    pub meeting_count: usize,
    /// Fathom team name, if any.
    pub team: Option<String>,
    /// Whether a CRM is linked in Fathom (else `crm_matches` is `{"error":"No CRM connected"}`).
    pub crm_connected: bool,
    /// Days back the generated meetings spread over (default: a quarter of the count, 7–120).
    pub history_days: Option<i64>,
}

/// How far back the demo's meetings reach (six months); demo mode's first sync reaches as far.
pub const DEMO_HISTORY_DAYS: i64 = 182;

impl SimUser {
    /// A user without a team or CRM.
    pub fn new(
        api_key: impl Into<String>,
        name: impl Into<String>,
        email: impl Into<String>,
        domain: impl Into<String>,
        meeting_count: usize,
    ) -> SimUser {
        SimUser {
            api_key: api_key.into(),
            name: name.into(),
            email: email.into(),
            domain: domain.into(),
            meeting_count,
            team: None,
            crm_connected: false,
            history_days: None,
        }
    }

    /// Spreads the generated meetings over the last `days` days.
    pub fn with_history_days(mut self, days: i64) -> SimUser {
        self.history_days = Some(days.max(1));
        self
    }

    /// Sets the team name.
    pub fn with_team(mut self, team: impl Into<String>) -> SimUser {
        self.team = Some(team.into());
        self
    }

    /// Marks a CRM as linked in Fathom.
    pub fn with_crm(mut self) -> SimUser {
        self.crm_connected = true;
        self
    }
}

/// Demo key of Alice Johnson (acme.com, Customer Success, CRM linked).
pub const DEMO_KEY_ALICE: &str = "demo-key-alice";
/// Demo key of Bob Lee (acme.com, Sales).
pub const DEMO_KEY_BOB: &str = "demo-key-bob";

/// Simulator configuration. Build with [`FathomSim::new`] or [`FathomSim::demo`], adjust fields or
/// use the `with_*` methods, then [`FathomSim::spawn`].
#[derive(Debug, Clone)]
pub struct FathomSim {
    /// Users by API key.
    pub users: Vec<SimUser>,
    /// Clock at start (meetings are generated before it); `None` = wall clock. Advances in real time.
    pub now: Option<DateTime<Utc>>,
    /// Share about a third of generated meetings with the team, making them visible to colleagues
    /// (users with the same domain). Off by default so per-key counts equal `meeting_count`.
    pub share_with_team: bool,
    /// Per-key rate limits.
    pub rate_limits: RateLimits,
    /// First retry delay; doubles per attempt.
    pub webhook_base_delay: Duration,
    /// Attempts per message, first included.
    pub webhook_max_attempts: u32,
    /// Per-attempt timeout.
    pub webhook_timeout: Duration,
    /// Record a new meeting (round-robin over users) and deliver it this often.
    pub demo_interval: Option<Duration>,
}

impl FathomSim {
    /// These users, Fathom's limits, 5 attempts from 1 s apart, no demo timer.
    pub fn new(users: Vec<SimUser>) -> FathomSim {
        FathomSim {
            users,
            now: None,
            share_with_team: false,
            rate_limits: RateLimits::default(),
            webhook_base_delay: Duration::from_secs(1),
            webhook_max_attempts: 5,
            webhook_timeout: Duration::from_secs(15),
            demo_interval: None,
        }
    }

    /// Two users at acme.com: [`DEMO_KEY_ALICE`] and [`DEMO_KEY_BOB`], 150 meetings each over
    /// the last [`DEMO_HISTORY_DAYS`], some shared with the team (so some recordings reach the org
    /// through both keys).
    pub fn demo() -> FathomSim {
        let mut sim = FathomSim::new(vec![
            SimUser::new(
                DEMO_KEY_ALICE,
                "Alice Johnson",
                "alice.johnson@acme.com",
                "acme.com",
                150,
            )
            .with_team("Customer Success")
            .with_crm()
            .with_history_days(DEMO_HISTORY_DAYS),
            SimUser::new(DEMO_KEY_BOB, "Bob Lee", "bob.lee@acme.com", "acme.com", 150)
                .with_team("Sales")
                .with_history_days(DEMO_HISTORY_DAYS),
        ]);
        sim.share_with_team = true;
        sim
    }

    /// Fixes the clock at start.
    pub fn with_now(mut self, now: DateTime<Utc>) -> FathomSim {
        self.now = Some(now);
        self
    }

    /// Sets the rate limits.
    pub fn with_rate_limits(mut self, limits: RateLimits) -> FathomSim {
        self.rate_limits = limits;
        self
    }

    /// Sets the retry schedule (tests: e.g. 50 ms).
    pub fn with_webhook_retries(mut self, base_delay: Duration, max_attempts: u32) -> FathomSim {
        self.webhook_base_delay = base_delay;
        self.webhook_max_attempts = max_attempts;
        self
    }

    /// Sets the per-attempt delivery timeout.
    pub fn with_webhook_timeout(mut self, timeout: Duration) -> FathomSim {
        self.webhook_timeout = timeout;
        self
    }

    /// Records and delivers a new meeting every `interval`.
    pub fn with_demo_interval(mut self, interval: Duration) -> FathomSim {
        self.demo_interval = Some(interval);
        self
    }

    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.users.is_empty(),
            "the Fathom simulator needs at least one user"
        );
        for (i, u) in self.users.iter().enumerate() {
            anyhow::ensure!(
                !u.api_key.is_empty(),
                "user {} has an empty api_key",
                u.email
            );
            anyhow::ensure!(
                u.email.contains('@') && !u.domain.is_empty(),
                "user {} needs an email and a domain",
                u.name
            );
            anyhow::ensure!(
                !self.users[..i].iter().any(|o| o.api_key == u.api_key),
                "api_key of {} is used twice",
                u.email
            );
        }
        anyhow::ensure!(
            self.rate_limits.global > 0 && self.rate_limits.heavy > 0,
            "rate limits must be positive"
        );
        Ok(())
    }

    /// Serves on `listener` until the handle is shut down or dropped.
    pub async fn spawn(self, listener: TcpListener) -> anyhow::Result<SimHandle> {
        self.validate()?;
        let mut addr = listener.local_addr()?;
        if addr.ip().is_unspecified() {
            addr.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        let demo_interval = self.demo_interval;
        let state = Arc::new(SimState::new(self)?);
        let app = api::router(Arc::clone(&state)).merge(control::router(Arc::clone(&state)));
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "fathom simulator stopped");
            }
        });
        let demo = demo_interval.map(|every| tokio::spawn(demo_loop(Arc::clone(&state), every)));
        Ok(SimHandle {
            addr,
            state,
            shutdown: Some(tx),
            server: Some(server),
            demo,
        })
    }

    /// Serves on a free loopback port.
    pub async fn spawn_local(self) -> anyhow::Result<SimHandle> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        self.spawn(listener).await
    }
}

impl Default for FathomSim {
    fn default() -> Self {
        FathomSim::demo()
    }
}

/// How long the meetings the demo records as it runs last.
const DEMO_MEETING_MINUTES: u32 = 10;

async fn demo_loop(state: Arc<SimState>, every: Duration) {
    let users: Vec<String> = state
        .config
        .users
        .iter()
        .map(|u| u.api_key.clone())
        .collect();
    let mut n = 0usize;
    loop {
        tokio::time::sleep(every).await;
        let Some(key) = users.get(n % users.len().max(1)) else {
            return;
        };
        n += 1;
        // Short calls, so each new one starts after the last and lands at the top of the lists.
        let spec = MeetingSpec {
            duration_minutes: Some(DEMO_MEETING_MINUTES),
            ..MeetingSpec::default()
        };
        match control::record(&state, key, spec, true) {
            Ok((m, messages)) => tracing::info!(
                recording_id = m.recording_id,
                title = %m.title,
                webhooks = messages.len(),
                "fathom simulator recorded a meeting"
            ),
            Err(e) => tracing::warn!(error = %e, "fathom simulator could not record a meeting"),
        }
    }
}

/// A running simulator. Dropping it stops the server.
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    state: Arc<SimState>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    demo: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// API base URL, `http://127.0.0.1:PORT/external/v1` (what Debrief's Fathom base URL is set to).
    pub fn base_url(&self) -> String {
        format!("http://{}/external/v1", self.addr)
    }

    /// Control API base URL, `http://127.0.0.1:PORT/__sim`.
    pub fn control_url(&self) -> String {
        format!("http://{}/__sim", self.addr)
    }

    /// The configured users.
    pub fn users(&self) -> &[SimUser] {
        &self.state.config.users
    }

    /// The simulator's clock (configured `now` plus time since start).
    pub fn now(&self) -> DateTime<Utc> {
        self.state.now()
    }

    /// Records a meeting for the key's user and starts delivering it to the webhooks it triggers.
    /// Returns the full meeting (every content block). Call it inside a Tokio runtime.
    pub fn add_meeting(&self, api_key: &str, spec: MeetingSpec) -> anyhow::Result<Meeting> {
        control::record(&self.state, api_key, spec, true)
            .map(|(m, _)| m)
            .map_err(anyhow::Error::msg)
    }

    /// Records a meeting without delivering it.
    pub fn add_meeting_quietly(&self, api_key: &str, spec: MeetingSpec) -> anyhow::Result<Meeting> {
        control::record(&self.state, api_key, spec, false)
            .map(|(m, _)| m)
            .map_err(anyhow::Error::msg)
    }

    /// Delivers a recording to every webhook it triggers and waits until all attempts are done.
    pub async fn deliver(&self, recording_id: i64) -> anyhow::Result<Vec<Message>> {
        self.deliver_times(recording_id, 1).await
    }

    /// Like [`SimHandle::deliver`], but each message is sent `times` times under the same
    /// `webhook-id` (a duplicate delivery).
    pub async fn deliver_times(
        &self,
        recording_id: i64,
        times: u32,
    ) -> anyhow::Result<Vec<Message>> {
        let (messages, tasks) = webhooks::start(&self.state, recording_id, times)
            .ok_or_else(|| anyhow::anyhow!("unknown recording {recording_id}"))?;
        for t in tasks {
            t.await?;
        }
        Ok(messages)
    }

    /// Waits until no delivery (including retries) is in flight.
    pub async fn wait_for_deliveries(&self) {
        let mut rx = self.state.inflight.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    /// Injects a fault for the next API calls.
    pub fn inject_fault(&self, fault: Fault) -> anyhow::Result<()> {
        fault.validate().map_err(anyhow::Error::msg)?;
        self.state.lock().faults.add(fault);
        Ok(())
    }

    /// Drops pending faults.
    pub fn clear_faults(&self) {
        self.state.lock().faults.clear();
    }

    /// API calls received so far, oldest first.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.state.lock().calls.clone()
    }

    /// Delivery attempts so far, oldest first.
    pub fn deliveries(&self) -> Vec<DeliveryAttempt> {
        self.state.lock().deliveries.clone()
    }

    /// Registered webhooks.
    pub fn webhooks(&self) -> Vec<RegisteredWebhook> {
        control::registered(&self.state)
    }

    /// Every meeting the key can see, newest first, with all content blocks.
    pub fn meetings(&self, api_key: &str) -> anyhow::Result<Vec<Meeting>> {
        control::visible_meetings(&self.state, api_key)
            .ok_or_else(|| anyhow::anyhow!("unknown api key"))
    }

    /// Changes the rate limits (e.g. heavy 5/min, as Fathom does under load).
    pub fn set_rate_limits(&self, limits: RateLimits) {
        self.state.lock().limits = limits;
    }

    /// Forgets webhooks, cursors, logs, faults and rate windows, and regenerates the meetings.
    pub fn reset(&self) {
        self.state.reset();
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        self.stop();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    fn stop(&mut self) {
        if let Some(demo) = self.demo.take() {
            demo.abort();
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs the demo simulator ([`FathomSim::demo`]) on `127.0.0.1:port` until `shutdown` completes.
/// With `demo`, a new meeting is recorded and delivered every 60 s.
pub async fn run_standalone(
    port: u16,
    demo: bool,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut config = FathomSim::demo();
    if demo {
        config.demo_interval = Some(Duration::from_secs(60));
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
    let handle = config.spawn(listener).await?;
    tracing::info!(
        base_url = %handle.base_url(),
        control_url = %handle.control_url(),
        keys = %format!("{DEMO_KEY_ALICE}, {DEMO_KEY_BOB}"),
        "fathom simulator listening"
    );
    shutdown.await;
    handle.shutdown().await;
    Ok(())
}

/// A demo customer company: `(domain, name, [(first, last, email)])`.
pub type DemoCompany = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str, String)>,
);

/// The demo's customer companies as `(domain, name, [(first, last, email)])`: the companies the
/// generated meetings are with (the CRM simulator's demo portal holds most of them).
pub fn demo_companies() -> Vec<DemoCompany> {
    corpus::COMPANIES
        .iter()
        .map(|c| {
            let people = c
                .people
                .iter()
                .map(|(first, last)| (*first, *last, data::email_for(first, last, c.domain)))
                .collect();
            (c.domain, c.name, people)
        })
        .collect()
}
