//! Typed settings: `configuration/base.yaml`, then `configuration/{APP_ENVIRONMENT}.yaml`, then
//! `DEBRIEF__SECTION__KEY` environment variables. The only module that reads the environment.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

/// Which deployment profile is running; chooses the YAML overlay and how strict start-up checks are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// Laptop, demo and tests: missing secrets are generated into the local state folder.
    Local,
    /// Real deployment: every secret must be configured and the public URL must be https.
    Production,
}

impl Environment {
    fn as_str(self) -> &'static str {
        match self {
            Environment::Local => "local",
            Environment::Production => "production",
        }
    }
}

impl TryFrom<String> for Environment {
    type Error = anyhow::Error;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.trim().to_lowercase().as_str() {
            "local" => Ok(Environment::Local),
            "production" => Ok(Environment::Production),
            other => bail!("APP_ENVIRONMENT is `{other}`; use `local` or `production`"),
        }
    }
}

/// Everything Debrief can be configured with.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Filled from `APP_ENVIRONMENT`, not from YAML.
    #[serde(skip, default = "default_environment")]
    pub environment: Environment,
    pub application: ApplicationSettings,
    pub database: DatabaseSettings,
    #[serde(default)]
    pub secrets: SecretsSettings,
    pub login_throttle: LoginThrottleSettings,
    #[serde(default)]
    pub signup_throttle: SignupThrottleSettings,
    pub fathom: FathomSettings,
    /// HubSpot's OAuth app and API (a CRM connection).
    #[serde(default)]
    pub hubspot: HubspotSettings,
    /// Salesforce's OAuth app and API (a CRM connection).
    #[serde(default)]
    pub salesforce: SalesforceSettings,
    /// `debrief run --demo`: Fathom is the built-in simulator (set by the command line, not YAML).
    #[serde(skip)]
    pub demo: bool,
    /// Whether `DEBRIEF__FATHOM__BASE_URL` was set in the environment: then demo mode leaves the
    /// Fathom base URL alone.
    #[serde(skip)]
    pub fathom_base_url_from_env: bool,
}

fn default_environment() -> Environment {
    Environment::Local
}

/// The web server and the public face of the app.
#[derive(Debug, Clone, Deserialize)]
pub struct ApplicationSettings {
    pub host: String,
    pub port: u16,
    /// Public URL; webhook and OAuth callback URLs are built from it.
    pub base_url: Url,
    /// A signed-in session expires after this many minutes without a request.
    pub session_idle_minutes: i64,
    /// A session ends this many hours after sign-in, however active (a stolen cookie expires too).
    #[serde(default = "default_session_absolute_hours")]
    pub session_absolute_hours: i64,
    /// Signs the session cookie. Required in production; generated locally when unset.
    #[serde(default)]
    pub session_secret: Option<SecretString>,
    /// How many proxies in front of Debrief append to `X-Forwarded-For` (0: the header is
    /// ignored). The client address is the one the outermost of them added: the
    /// `trusted_proxies`-th from the right; anything further left could be forged.
    #[serde(default)]
    pub trusted_proxies: usize,
    /// Older name: `true` means one trusted proxy.
    #[serde(default)]
    pub trust_forwarded_for: bool,
    /// Where local mode keeps generated secrets.
    pub local_state_dir: PathBuf,
    /// Serve the webhook benchmark's baseline route (`./scripts/bench webhooks`); refused in
    /// production.
    #[serde(default)]
    pub bench_baseline_route: bool,
    /// Folder served under `/static`.
    pub static_dir: PathBuf,
}

/// The PostgreSQL connection.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `postgres://…` URL; `./scripts/dev` starts a private cluster and sets it when unset.
    #[serde(default)]
    pub url: Option<SecretString>,
    pub max_connections: u32,
    pub acquire_timeout_seconds: u64,
}

/// Master keys for secrets at rest.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SecretsSettings {
    /// Key ring `id:base64key,…`; the first key encrypts, all keys decrypt.
    #[serde(default)]
    pub master_keys: Option<SecretString>,
}

/// Limits on failed sign-in attempts, per email and per client address.
#[derive(Debug, Clone, Deserialize)]
pub struct LoginThrottleSettings {
    pub max_failures: i64,
    pub window_minutes: i64,
}

/// Limits on sign-ups (and invite sign-ups) per client address: each one hashes a password.
#[derive(Debug, Clone, Deserialize)]
pub struct SignupThrottleSettings {
    pub max_per_address: i64,
    pub window_minutes: i64,
}

impl Default for SignupThrottleSettings {
    fn default() -> Self {
        SignupThrottleSettings {
            max_per_address: 20,
            window_minutes: 60,
        }
    }
}

/// Where Fathom's API is and how patiently Debrief talks to it.
#[derive(Debug, Clone, Deserialize)]
pub struct FathomSettings {
    pub base_url: Url,
    /// Every call to Fathom gives up after this many seconds.
    #[serde(default = "default_fathom_timeout_seconds")]
    pub timeout_seconds: u64,
    /// Attempts to delete a disconnected connection's webhook before asking a person to do it.
    #[serde(default = "default_webhook_cleanup_attempts")]
    pub webhook_cleanup_attempts: i32,
    /// Seconds before the first retry of a failed webhook deletion; doubles per attempt.
    #[serde(default = "default_webhook_cleanup_backoff_seconds")]
    pub webhook_cleanup_backoff_seconds: u64,
    /// Largest webhook body accepted (long transcripts are big); larger ones get 413.
    #[serde(default = "default_webhook_max_body_bytes")]
    pub webhook_max_body_bytes: usize,
    /// Largest answer read from Fathom; a larger one is an error, not a memory spike.
    #[serde(default = "default_fathom_max_response_bytes")]
    pub max_response_bytes: usize,
    /// Pages one sync run may fetch before it stops with an error (a listing that never ends).
    #[serde(default = "default_sync_max_pages")]
    pub sync_max_pages: i32,
    /// How far back the first sync after connecting reaches.
    #[serde(default = "default_initial_sync_days")]
    pub initial_sync_days: i64,
    /// Hourly and manual syncs list meetings created since the last successful sync began, minus
    /// this look-back (Fathom's creation times and our clock may disagree a little).
    #[serde(default = "default_sync_lookback_minutes")]
    pub sync_lookback_minutes: i64,
    /// How long a sync worker's hold on a run lasts without a heartbeat; a crashed worker's run
    /// is resumed by another after this.
    #[serde(default = "default_sync_lease_seconds")]
    pub sync_lease_seconds: u64,
    /// Server errors or timeouts in a row before a sync run gives up.
    #[serde(default = "default_sync_max_failures")]
    pub sync_max_failures: u32,
    /// The first retry after a server error waits this long; each further one twice as long.
    #[serde(default = "default_sync_retry_base_ms")]
    pub sync_retry_base_ms: u64,
    /// 429 answers in a row before a sync run gives up.
    #[serde(default = "default_sync_max_rate_limited")]
    pub sync_max_rate_limited: u32,
    /// Spacing of calls when Fathom sends no rate-limit headers (30 heavy calls a minute).
    #[serde(default = "default_sync_headerless_interval_ms")]
    pub sync_headerless_interval_ms: u64,
}

/// HubSpot: the public app's credentials and where its OAuth and API live.
#[derive(Debug, Clone, Deserialize)]
pub struct HubspotSettings {
    /// The app's client id; unset → HubSpot shows as "not configured".
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<SecretString>,
    #[serde(default = "default_hubspot_authorize_url")]
    pub authorize_url: Url,
    #[serde(default = "default_hubspot_token_url")]
    pub token_url: Url,
    #[serde(default = "default_hubspot_api_base_url")]
    pub api_base_url: Url,
    /// Calls per 10 s per portal Debrief allows itself (HubSpot's limit for OAuth apps is 110).
    #[serde(default = "default_hubspot_requests_per_10s")]
    pub requests_per_10s: u32,
    /// Search calls per second per portal (HubSpot's limit is 5).
    #[serde(default = "default_hubspot_search_per_second")]
    pub search_per_second: u32,
    /// Every call to HubSpot gives up after this many seconds.
    #[serde(default = "default_crm_timeout_seconds")]
    pub timeout_seconds: u64,
    /// HubSpot's search shows new writes late: incremental imports look back this far past the
    /// newest modification already seen (re-reading a record changes nothing).
    #[serde(default = "default_hubspot_search_lag_seconds")]
    pub search_lag_seconds: i64,
}

impl Default for HubspotSettings {
    fn default() -> Self {
        HubspotSettings {
            client_id: None,
            client_secret: None,
            authorize_url: default_hubspot_authorize_url(),
            token_url: default_hubspot_token_url(),
            api_base_url: default_hubspot_api_base_url(),
            requests_per_10s: default_hubspot_requests_per_10s(),
            search_per_second: default_hubspot_search_per_second(),
            timeout_seconds: default_crm_timeout_seconds(),
            search_lag_seconds: default_hubspot_search_lag_seconds(),
        }
    }
}

fn default_hubspot_search_lag_seconds() -> i64 {
    600
}

fn parse_default(url: &str) -> Url {
    Url::parse(url).unwrap_or_else(|_| unreachable!("default URLs are valid"))
}

fn default_hubspot_authorize_url() -> Url {
    parse_default("https://app.hubspot.com/oauth/authorize")
}

fn default_hubspot_token_url() -> Url {
    parse_default("https://api.hubapi.com/oauth/v1/token")
}

fn default_hubspot_api_base_url() -> Url {
    parse_default("https://api.hubapi.com")
}

fn default_hubspot_requests_per_10s() -> u32 {
    110
}

fn default_hubspot_search_per_second() -> u32 {
    4
}

/// Salesforce: the External Client App's credentials, the login host and the REST version.
#[derive(Debug, Clone, Deserialize)]
pub struct SalesforceSettings {
    /// The app's consumer key; unset → Salesforce shows as "not configured".
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<SecretString>,
    /// Authorize, token and revoke are under `{login_url}/services/oauth2/`.
    #[serde(default = "default_salesforce_login_url")]
    pub login_url: Url,
    /// REST API version, e.g. `v65.0`.
    #[serde(default = "default_salesforce_api_version")]
    pub api_version: String,
    /// Every call to Salesforce gives up after this many seconds.
    #[serde(default = "default_crm_timeout_seconds")]
    pub timeout_seconds: u64,
}

impl Default for SalesforceSettings {
    fn default() -> Self {
        SalesforceSettings {
            client_id: None,
            client_secret: None,
            login_url: default_salesforce_login_url(),
            api_version: default_salesforce_api_version(),
            timeout_seconds: default_crm_timeout_seconds(),
        }
    }
}

fn default_crm_timeout_seconds() -> u64 {
    20
}

fn default_salesforce_login_url() -> Url {
    parse_default("https://login.salesforce.com")
}

fn default_salesforce_api_version() -> String {
    "v65.0".to_owned()
}

fn default_initial_sync_days() -> i64 {
    30
}

fn default_sync_lookback_minutes() -> i64 {
    120
}

fn default_sync_lease_seconds() -> u64 {
    120
}

fn default_sync_max_failures() -> u32 {
    6
}

fn default_sync_retry_base_ms() -> u64 {
    1_000
}

fn default_sync_max_rate_limited() -> u32 {
    20
}

fn default_sync_headerless_interval_ms() -> u64 {
    2_000
}

fn default_webhook_max_body_bytes() -> usize {
    16 * 1024 * 1024
}

fn default_session_absolute_hours() -> i64 {
    24 * 7
}

fn default_fathom_max_response_bytes() -> usize {
    crate::fathom::client::DEFAULT_MAX_BODY_BYTES
}

fn default_sync_max_pages() -> i32 {
    10_000
}

fn default_fathom_timeout_seconds() -> u64 {
    20
}

fn default_webhook_cleanup_attempts() -> i32 {
    8
}

fn default_webhook_cleanup_backoff_seconds() -> u64 {
    30
}

/// Minimum length of a configured session secret, in bytes.
const MIN_SESSION_SECRET_LEN: usize = 32;

impl Settings {
    /// Loads settings from `configuration/` in the working directory and the environment.
    pub fn load() -> anyhow::Result<Settings> {
        let base = std::env::current_dir().context("cannot read the working directory")?;
        Self::load_from(&base.join("configuration"))
    }

    /// Loads settings from the given configuration folder and the environment.
    pub fn load_from(dir: &Path) -> anyhow::Result<Settings> {
        let environment = Environment::try_from(
            std::env::var("APP_ENVIRONMENT").unwrap_or_else(|_| "local".into()),
        )?;
        let settings = config::Config::builder()
            .add_source(config::File::from(dir.join("base.yaml")))
            .add_source(
                config::File::from(dir.join(format!("{}.yaml", environment.as_str())))
                    .required(false),
            )
            .add_source(
                config::Environment::with_prefix("DEBRIEF")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true),
            )
            .build()
            .with_context(|| format!("cannot read configuration from {}", dir.display()))?;
        let mut settings: Settings = settings
            .try_deserialize()
            .context("configuration is invalid")?;
        settings.environment = environment;
        settings.fathom_base_url_from_env =
            std::env::var_os("DEBRIEF__FATHOM__BASE_URL").is_some_and(|v| !v.is_empty());
        Ok(settings)
    }

    /// Demo mode's Fathom: points the client at the simulator at `simulator`, unless a base URL was
    /// set explicitly in the environment (then that one is used as it is). Returns whether the
    /// simulator is used.
    pub fn use_demo_fathom(&mut self, simulator: Url) -> bool {
        if self.fathom_base_url_from_env {
            return false;
        }
        self.fathom.base_url = simulator;
        // The demo's history is six months: the first sync brings all of it.
        self.fathom.initial_sync_days = self
            .fathom
            .initial_sync_days
            .max(crate::sim::fathom::DEMO_HISTORY_DAYS + 1);
        self.demo = true;
        true
    }

    /// Demo mode's CRMs: each provider without a configured client id is pointed at the CRM
    /// simulator at `simulator` with its demo app. Returns the providers that were.
    pub fn use_demo_crm(&mut self, simulator: &Url) -> anyhow::Result<Vec<&'static str>> {
        let mut used = Vec::new();
        let secret = SecretString::from(crate::sim::crm::DEMO_CLIENT_SECRET);
        if self.hubspot.client_id.is_none() {
            self.hubspot.client_id = Some(crate::sim::crm::DEMO_HUBSPOT_CLIENT_ID.to_owned());
            self.hubspot.client_secret = Some(secret.clone());
            self.hubspot.authorize_url = simulator.join("/oauth/authorize")?;
            self.hubspot.token_url = simulator.join("/oauth/v1/token")?;
            self.hubspot.api_base_url = simulator.clone();
            used.push("HubSpot");
        }
        if self.salesforce.client_id.is_none() {
            self.salesforce.client_id = Some(crate::sim::crm::DEMO_SALESFORCE_CLIENT_ID.to_owned());
            self.salesforce.client_secret = Some(secret);
            self.salesforce.login_url = simulator.clone();
            used.push("Salesforce");
        }
        Ok(used)
    }

    /// Refuses obviously unsafe production settings and fills in local-only generated secrets.
    ///
    /// The error names the setting that is wrong.
    pub fn prepare(mut self) -> anyhow::Result<Settings> {
        if let Some(secret) = &self.application.session_secret
            && secret.expose_secret().len() < MIN_SESSION_SECRET_LEN
        {
            bail!(
                "DEBRIEF__APPLICATION__SESSION_SECRET must be at least {MIN_SESSION_SECRET_LEN} characters"
            );
        }
        match self.environment {
            Environment::Production => {
                if self.application.session_secret.is_none() {
                    bail!(
                        "production needs DEBRIEF__APPLICATION__SESSION_SECRET (at least {MIN_SESSION_SECRET_LEN} random characters)"
                    );
                }
                if self.application.base_url.scheme() != "https" {
                    bail!(
                        "production needs an https DEBRIEF__APPLICATION__BASE_URL (got {})",
                        self.application.base_url
                    );
                }
                if self.database.url.is_none() {
                    bail!("production needs DEBRIEF__DATABASE__URL");
                }
                if self.application.bench_baseline_route {
                    bail!(
                        "DEBRIEF__APPLICATION__BENCH_BASELINE_ROUTE is for benchmarks only; production refuses it"
                    );
                }
                if self.secrets.master_keys.is_none() {
                    bail!(
                        "production needs DEBRIEF__SECRETS__MASTER_KEYS (for example `k1:<base64 of 32 random bytes>`)"
                    );
                }
            }
            Environment::Local => {
                if self.application.session_secret.is_none() {
                    let secret = crate::local_state::read_or_create_secret(
                        &self.application.local_state_dir,
                        "session_secret",
                    )?;
                    self.application.session_secret = Some(secret);
                }
                if self.secrets.master_keys.is_none() {
                    let keys = crate::local_state::read_or_create_with(
                        &self.application.local_state_dir,
                        "master_keys",
                        || crate::crypto::KeyRing::generate_spec("local1"),
                    )?;
                    self.secrets.master_keys = Some(keys);
                }
            }
        }
        self.key_ring()?;
        Ok(self)
    }

    /// The database URL, or an error that tells the operator how to provide one.
    pub fn database_url(&self) -> anyhow::Result<&SecretString> {
        self.database.url.as_ref().context(
            "DEBRIEF__DATABASE__URL is not set; ./scripts/dev starts a local PostgreSQL and sets it",
        )
    }

    /// The master key ring (after `prepare`, always configured).
    pub fn key_ring(&self) -> anyhow::Result<crate::crypto::KeyRing> {
        let spec = self
            .secrets
            .master_keys
            .as_ref()
            .context("DEBRIEF__SECRETS__MASTER_KEYS is not set")?;
        crate::crypto::KeyRing::parse(spec).context("DEBRIEF__SECRETS__MASTER_KEYS is invalid")
    }

    /// Proxies whose `X-Forwarded-For` entries are believed.
    pub fn trusted_proxies(&self) -> usize {
        match self.application.trusted_proxies {
            0 if self.application.trust_forwarded_for => 1,
            n => n,
        }
    }

    /// How long a session lasts from sign-in at most.
    pub fn session_max_age(&self) -> chrono::Duration {
        chrono::Duration::hours(self.application.session_absolute_hours.max(1))
    }

    /// Whether cookies must carry the `Secure` attribute.
    pub fn cookies_secure(&self) -> bool {
        self.application.base_url.scheme() == "https"
    }

    /// `host:port` for the listener.
    pub fn listen_address(&self) -> String {
        format!("{}:{}", self.application.host, self.application.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Settings {
        Settings::load_from(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/configuration"
        )))
        .expect("base configuration loads")
    }

    /// Production settings that are safe in every respect; each test removes one safeguard.
    fn safe_production() -> Settings {
        let mut settings = sample();
        settings.environment = Environment::Production;
        settings.application.base_url = Url::parse("https://debrief.example").unwrap();
        settings.application.session_secret = Some(SecretString::from("s".repeat(40)));
        settings.database.url = Some(SecretString::from("postgres://x/y"));
        settings.secrets.master_keys = Some(SecretString::from(
            crate::crypto::KeyRing::generate_spec("k1"),
        ));
        settings
    }

    #[test]
    fn production_with_safe_settings_starts() {
        assert!(safe_production().prepare().is_ok());
    }

    #[test]
    fn production_refuses_each_unsafe_setting_by_name() {
        type MakeUnsafe = fn(&mut Settings);
        let cases: [(&str, MakeUnsafe); 5] = [
            ("DEBRIEF__APPLICATION__BENCH_BASELINE_ROUTE", |s| {
                s.application.bench_baseline_route = true
            }),
            ("DEBRIEF__APPLICATION__SESSION_SECRET", |s| {
                s.application.session_secret = None
            }),
            ("DEBRIEF__APPLICATION__BASE_URL", |s| {
                s.application.base_url = Url::parse("http://debrief.example").unwrap()
            }),
            ("DEBRIEF__DATABASE__URL", |s| s.database.url = None),
            ("DEBRIEF__SECRETS__MASTER_KEYS", |s| {
                s.secrets.master_keys = None
            }),
        ];
        for (setting, make_unsafe) in cases {
            let mut settings = safe_production();
            make_unsafe(&mut settings);
            let err = settings.prepare().unwrap_err().to_string();
            assert!(err.contains(setting), "{setting}: {err}");
        }
    }

    #[test]
    fn demo_mode_leaves_an_explicit_fathom_base_url_alone() {
        let simulator = Url::parse("http://127.0.0.1:8100/external/v1").unwrap();
        let mut implicit = sample();
        implicit.fathom_base_url_from_env = false;
        assert!(implicit.use_demo_fathom(simulator.clone()));
        assert_eq!(implicit.fathom.base_url, simulator);
        assert!(implicit.demo);

        let mut explicit = sample();
        explicit.fathom_base_url_from_env = true;
        let configured = explicit.fathom.base_url.clone();
        assert!(!explicit.use_demo_fathom(simulator));
        assert_eq!(explicit.fathom.base_url, configured);
        assert!(!explicit.demo, "no demo keys or banner for a real Fathom");
    }

    #[test]
    fn short_session_secret_is_refused() {
        let mut settings = sample();
        settings.application.session_secret = Some(SecretString::from("short"));
        let err = settings.prepare().unwrap_err().to_string();
        assert!(err.contains("at least 32"), "{err}");
    }

    #[test]
    fn local_mode_generates_a_session_secret_once_and_reuses_it() {
        let dir = std::env::temp_dir().join(format!("debrief-config-{}", uuid::Uuid::new_v4()));
        let mut settings = sample();
        settings.application.local_state_dir = dir.clone();
        let first = settings.clone().prepare().unwrap();
        let second = settings.prepare().unwrap();
        assert_eq!(
            first.key_ring().unwrap().current_key_id(),
            second.key_ring().unwrap().current_key_id()
        );
        let a = first.application.session_secret.unwrap();
        let b = second.application.session_secret.unwrap();
        assert_eq!(a.expose_secret(), b.expose_secret());
        assert!(a.expose_secret().len() >= MIN_SESSION_SECRET_LEN);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
