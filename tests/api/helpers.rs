//! `spawn_app` and the domain-language helpers tests are written in.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use debrief::config::Settings;
use debrief::domain::{FathomConnectionId, OrgId};
use debrief::sim::crm::{
    CrmSim, CrmSimHandle, SeedCompany, SeedContact, SimApp, SimPortal, SimSalesforceOrg,
};
use debrief::sim::fathom::{FathomSim, SimHandle, SimUser};
use debrief::startup::Application;
use debrief::state::AppState;
use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use scraper::{Html, Selector};
use secrecy::SecretString;
use sqlx::PgPool;

/// Every password used by the helpers; tests check it never reaches a log line.
pub const PASSWORD: &str = "correct-horse-battery-staple";

/// Log lines written by the server side of every app in this process.
static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("log buffer poisoned")
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = LogBuffer(buffer.clone());
        // As verbose as an operator could make the server: anything secret would show up here.
        let filter = "warn,debrief=trace,tower_http=trace,tower_sessions=trace,tower_sessions_core=trace,sqlx=trace,axum=trace";
        let subscriber = debrief::telemetry::subscriber(filter, move || writer.clone(), false);
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber");
        buffer
    });
}

/// Everything logged so far in this process.
pub fn captured_logs() -> String {
    let buffer = LOGS.get().expect("spawn_app installs the log capture");
    String::from_utf8_lossy(&buffer.lock().expect("log buffer poisoned")).into_owned()
}

/// Ada's org after [`TestApp::ada_with_fathom`].
pub struct AdaWithFathom {
    pub browser: Browser,
    pub slug: String,
    pub org: OrgId,
    pub connection: FathomConnectionId,
}

/// A running Debrief on a loopback port over a test database, with its own Fathom simulator.
pub struct TestApp {
    pub address: String,
    pub db: PgPool,
    /// What Debrief can reach: state shared with the router (crypto, Fathom client, settings).
    pub state: AppState,
    fathom: Option<SimHandle>,
    /// The HubSpot and Salesforce simulator this app talks to.
    pub crm: CrmSimHandle,
}

/// The test HubSpot portal.
pub const HUB_ID: u64 = 7_001;
/// The test Salesforce org.
pub const SF_ORG: &str = "00D5g000004TestEAA";
/// The OAuth client ids the test app is configured with.
pub const HUBSPOT_CLIENT_ID: &str = "test-hubspot-client";
pub const SALESFORCE_CLIENT_ID: &str = "test-salesforce-client";
/// Both test apps' client secret.
pub const CRM_CLIENT_SECRET: &str = "test-crm-client-secret-1";

fn seed_company(name: &str, domain: &str) -> SeedCompany {
    SeedCompany {
        name: name.into(),
        domain: Some(domain.into()),
        additional_domains: Vec::new(),
    }
}

fn seed_contact(email: &str, first: &str, last: &str, domain: &str) -> SeedContact {
    SeedContact {
        email: email.into(),
        first_name: first.into(),
        last_name: last.into(),
        title: Some("Buyer".into()),
        company_domain: Some(domain.into()),
    }
}

/// The CRMs every test app talks to: a HubSpot portal and a Salesforce org, each holding
/// Contoso (contoso.com) and Fabrikam (fabrikam.com) and a person at each.
pub fn test_crm() -> CrmSim {
    let mut sim = CrmSim::new();
    sim.hubspot_apps
        .push(SimApp::new(HUBSPOT_CLIENT_ID, CRM_CLIENT_SECRET));
    sim.salesforce_apps
        .push(SimApp::new(SALESFORCE_CLIENT_ID, CRM_CLIENT_SECRET));
    let companies = vec![
        seed_company("Contoso", "contoso.com"),
        seed_company("Fabrikam", "fabrikam.com"),
    ];
    let contacts = vec![
        seed_contact("jane@contoso.com", "Jane", "Roe", "contoso.com"),
        seed_contact("hank@fabrikam.com", "Hank", "Scorpio", "fabrikam.com"),
    ];
    sim.portals.push(SimPortal {
        hub_id: HUB_ID,
        hub_domain: "acme-test.hubspot.com".into(),
        user: "ada@example.com".into(),
        companies: companies.clone(),
        contacts: contacts.clone(),
    });
    sim.salesforce_orgs.push(SimSalesforceOrg {
        org_id: SF_ORG.into(),
        user_id: "0055g00000TestUAAQ".into(),
        username: "ada@example.com.test".into(),
        accounts: companies,
        contacts,
    });
    sim.salesforce_query_batch = 2;
    sim.hang_after_create = std::time::Duration::from_secs(4);
    sim
}

/// Fathom API key of the simulator's user `ada@example.com`.
pub const ADA_FATHOM_KEY: &str = "fathom-key-ada-00000001";
/// Fathom API key of the simulator's user `bob@example.com`.
pub const BOB_FATHOM_KEY: &str = "fathom-key-bob-00000002";

/// The simulated Fathom every test app talks to: Ada and Bob at example.com, a few meetings each.
pub fn test_fathom() -> FathomSim {
    FathomSim::new(vec![
        SimUser::new(
            ADA_FATHOM_KEY,
            "Ada Fathom",
            "ada@example.com",
            "example.com",
            5,
        ),
        SimUser::new(
            BOB_FATHOM_KEY,
            "Bob Fathom",
            "bob@example.com",
            "example.com",
            5,
        ),
    ])
    .with_webhook_retries(std::time::Duration::from_millis(50), 3)
}

/// Settings as tests use them: local mode, port 0, secrets that need no files.
pub fn test_settings() -> Settings {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut settings =
        Settings::load_from(&dir.join("configuration")).expect("configuration loads");
    settings.application.host = "127.0.0.1".into();
    settings.application.port = 0;
    settings.application.session_secret = Some(SecretString::from(
        uuid::Uuid::new_v4().to_string() + "-test-session-secret",
    ));
    settings.application.static_dir = dir.join("static");
    // Every secret is given, so local mode never writes generated ones to disk during tests.
    settings.secrets.master_keys = Some(SecretString::from(
        debrief::crypto::KeyRing::generate_spec("test1"),
    ));
    settings.fathom.timeout_seconds = 2;
    settings.fathom.webhook_cleanup_attempts = 3;
    settings.fathom.webhook_cleanup_backoff_seconds = 1;
    settings.fathom.sync_retry_base_ms = 20;
    settings.fathom.sync_lease_seconds = 5;
    settings.application.local_state_dir =
        std::env::temp_dir().join(format!("debrief-test-{}", uuid::Uuid::new_v4()));
    settings
}

/// Serves the real router over `db` with default test settings.
pub async fn spawn_app(db: PgPool) -> TestApp {
    spawn_app_with(db, test_settings()).await
}

/// Serves the real router over `db` with the given settings; Fathom is a fresh simulator.
pub async fn spawn_app_with(db: PgPool, settings: Settings) -> TestApp {
    spawn_app_with_fathom(db, settings, test_fathom(), true).await
}

/// Serves the real router over `db` talking to `fathom`; with `workers`, the apalis workers run
/// too (as `debrief run` starts them), else the test starts them with [`TestApp::start_workers`].
pub async fn spawn_app_with_fathom(
    db: PgPool,
    mut settings: Settings,
    fathom: FathomSim,
    workers: bool,
) -> TestApp {
    init_logs();
    let fathom = fathom.spawn_local().await.expect("Fathom simulator starts");
    settings.fathom.base_url = fathom.base_url().parse().expect("simulator URL");
    let crm = test_crm()
        .spawn_local()
        .await
        .expect("CRM simulator starts");
    let crm_base: url::Url = crm.base_url().parse().expect("simulator URL");
    // A test that chose credentials (wrong ones, none) keeps them.
    settings
        .hubspot
        .client_id
        .get_or_insert_with(|| HUBSPOT_CLIENT_ID.into());
    settings
        .hubspot
        .client_secret
        .get_or_insert_with(|| SecretString::from(CRM_CLIENT_SECRET));
    settings.hubspot.authorize_url = crm_base.join("/oauth/authorize").unwrap();
    settings.hubspot.token_url = crm_base.join("/oauth/v1/token").unwrap();
    settings.hubspot.api_base_url = crm_base.clone();
    settings.hubspot.timeout_seconds = 2;
    settings.hubspot.search_lag_seconds = 0;
    settings
        .salesforce
        .client_id
        .get_or_insert_with(|| SALESFORCE_CLIENT_ID.into());
    settings
        .salesforce
        .client_secret
        .get_or_insert_with(|| SecretString::from(CRM_CLIENT_SECRET));
    settings.salesforce.login_url = crm_base;
    settings.salesforce.timeout_seconds = 2;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let address = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    // Unless a test chose a public URL, webhooks and links point at this very app.
    if settings.application.base_url.as_str() == "http://127.0.0.1:8000/" {
        settings.application.base_url = address.parse().expect("app URL");
    }
    let settings = settings.prepare().expect("test settings are valid");
    let app = Application::build_with_listener(settings, db.clone(), listener).expect("app builds");
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let app = TestApp {
        address,
        db,
        state,
        fathom: Some(fathom),
        crm,
    };
    // The real apalis workers, as `debrief run` starts them (not when a test made the database
    // unreachable on purpose).
    if debrief::jobs::setup(&app.db).await.is_ok() && workers {
        app.start_workers();
    }
    app
}

impl TestApp {
    /// Starts a set of job workers (as one more worker process would); they run until the test
    /// ends.
    pub fn start_workers(&self) {
        tokio::spawn(debrief::jobs::run_workers(
            self.state.clone(),
            std::future::pending(),
        ));
    }

    /// The Fathom simulator this app talks to.
    pub fn fathom(&self) -> &SimHandle {
        self.fathom
            .as_ref()
            .expect("the Fathom simulator was stopped")
    }

    /// Stops the Fathom simulator: from now on Fathom is unreachable.
    pub async fn stop_fathom(&mut self) {
        if let Some(sim) = self.fathom.take() {
            sim.shutdown().await;
        }
    }

    /// Connects Fathom with `key` as `fathom_email` through the form; returns the response.
    pub async fn connect_fathom(
        &self,
        browser: &Browser,
        slug: &str,
        fathom_email: &str,
        key: &str,
    ) -> reqwest::Response {
        let page = format!("/o/{slug}/integrations/fathom/connect");
        browser
            .submit(
                &page,
                &page,
                &[("fathom_email", fathom_email), ("api_key", key)],
            )
            .await
    }

    /// Ada signs up (org "Acme") and connects her Fathom key through the form, which must
    /// succeed; the first sync is queued, not waited for.
    pub async fn ada_with_fathom(&self) -> AdaWithFathom {
        let (browser, slug) = self.signup("Ada", "ada@example.com", "Acme").await;
        let response = self
            .connect_fathom(&browser, &slug, "ada@example.com", ADA_FATHOM_KEY)
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "Fathom connects");
        let org = OrgId(self.org_id(&slug).await);
        let connection = sqlx::query_scalar(
            "select id from fathom_connections where org_id = $1 and state = 'active'",
        )
        .bind(org.0)
        .fetch_one(&self.db)
        .await
        .expect("Ada's live connection");
        AdaWithFathom {
            browser,
            slug,
            org,
            connection: FathomConnectionId(connection),
        }
    }

    /// Waits (up to 20 s) until every stored webhook event has been processed by the job workers.
    pub async fn wait_for_jobs(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let pending: i64 = sqlx::query_scalar(
                "select (select count(*) from fathom_events where state = 'pending')
                      + (select count(*) from apalis.jobs where status in ('Pending', 'Queued', 'Running'))",
            )
            .fetch_one(&self.db)
            .await
            .expect("count pending work");
            if pending == 0 {
                return;
            }
            if std::time::Instant::now() >= deadline {
                let jobs: Option<String> = sqlx::query_scalar(
                    "select string_agg(job_type || ' ' || status || ' after ' || attempts
                                       || ' attempts ' || coalesce(last_result::text, ''), '; ')
                     from apalis.jobs where status in ('Pending', 'Queued', 'Running')",
                )
                .fetch_one(&self.db)
                .await
                .unwrap_or_default();
                let runs: Vec<(String, i32, Option<String>)> =
                    sqlx::query_as("select state, pages, waiting_reason from fathom_sync_runs")
                        .fetch_all(&self.db)
                        .await
                        .unwrap_or_default();
                let worker_log: Vec<String> = captured_logs()
                    .lines()
                    .filter(|l| l.contains("apalis") || l.contains("worker"))
                    .filter(|l| l.contains("ERROR") || l.contains("WARN"))
                    .map(str::to_owned)
                    .collect();
                let dump =
                    std::env::temp_dir().join(format!("debrief-stuck-{}.log", std::process::id()));
                let _ = std::fs::write(&dump, captured_logs());
                panic!(
                    "logs in {dump:?}: {pending} jobs still pending after 20 s: {jobs:?}; sync runs: {runs:?}; worker warnings: {worker_log:#?}"
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    /// Connects `provider` ("hubspot" or "salesforce") for the org as `browser` (an owner or
    /// admin): presses Connect, approves on the provider's page (another site: its own client)
    /// and follows the callback. Returns the callback's response.
    pub async fn connect_crm(
        &self,
        browser: &Browser,
        slug: &str,
        provider: &str,
    ) -> reqwest::Response {
        let authorize = self.start_crm_connect(browser, slug, provider).await;
        let callback = approve_at_provider(&authorize, "approve").await;
        browser
            .get(
                callback
                    .strip_prefix(&self.address)
                    .expect("callback on this app"),
            )
            .await
    }

    /// Presses Connect; returns the provider's authorize URL it redirected to.
    pub async fn start_crm_connect(&self, browser: &Browser, slug: &str, provider: &str) -> String {
        let page = format!("/o/{slug}/integrations");
        let response = browser
            .submit(
                &page,
                &format!("/o/{slug}/integrations/{provider}/connect"),
                &[],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "Connect redirects to the provider"
        );
        let to = location(&response);
        assert!(to.starts_with(&self.crm.base_url()), "{to}");
        to
    }

    /// The org's only live CRM connection of `provider`.
    pub async fn crm_connection(
        &self,
        org: OrgId,
        provider: &str,
    ) -> debrief::domain::CrmConnectionId {
        debrief::domain::CrmConnectionId(
            sqlx::query_scalar(
                "select id from crm_connections where org_id = $1 and provider = $2 and state <> 'disconnected'",
            )
            .bind(org.0)
            .bind(provider)
            .fetch_one(&self.db)
            .await
            .expect("a live CRM connection"),
        )
    }

    /// The org's id.
    pub async fn org_id(&self, slug: &str) -> uuid::Uuid {
        sqlx::query_scalar("select id from orgs where slug = $1")
            .bind(slug)
            .fetch_one(&self.db)
            .await
            .expect("org exists")
    }

    /// A fresh browser with an empty cookie jar.
    pub fn browser(&self) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client builds"),
            base: self.address.clone(),
        }
    }

    /// Signs up a new person with their own org; returns their browser (signed in) and org slug.
    pub async fn signup(&self, name: &str, email: &str, org: &str) -> (Browser, String) {
        let browser = self.browser();
        let response = browser.signup(name, email, PASSWORD, org).await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "sign-up should succeed"
        );
        let location = location(&response);
        let slug = location
            .strip_prefix("/o/")
            .and_then(|s| s.strip_suffix('/'))
            .expect("sign-up lands on the org home")
            .to_owned();
        (browser, slug)
    }

    /// Number of rows in a table.
    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from {table}")))
            .fetch_one(&self.db)
            .await
            .expect("count rows")
    }

    /// The user id of an email.
    pub async fn user_id(&self, email: &str) -> uuid::Uuid {
        sqlx::query_scalar("select id from users where email = $1")
            .bind(email)
            .fetch_one(&self.db)
            .await
            .expect("user exists")
    }

    /// The role of `email` in the org `slug`, if a member.
    pub async fn role_of(&self, slug: &str, email: &str) -> Option<String> {
        sqlx::query_scalar(
            "select m.role from memberships m join users u on u.id = m.user_id join orgs o on o.id = m.org_id
             where o.slug = $1 and u.email = $2",
        )
        .bind(slug)
        .bind(email)
        .fetch_optional(&self.db)
        .await
        .expect("query role")
    }

    /// Creates an invite link in `slug` as `inviter`; returns the link's path.
    pub async fn invite(&self, inviter: &Browser, slug: &str, role: &str) -> String {
        let response = inviter
            .submit(
                &format!("/o/{slug}/members"),
                &format!("/o/{slug}/invites"),
                &[("role", role)],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "invite should be created"
        );
        let page = inviter.get_html(&format!("/o/{slug}/members")).await.1;
        let link =
            select_attr(&page, "input.invite-link", "value").expect("the new link is shown once");
        link.strip_prefix(self.address.as_str())
            .expect("link is built from the configured base URL")
            .to_owned()
    }
}

/// A person's browser: keeps cookies, does not follow redirects.
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
}

impl Browser {
    /// GET a path.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .expect("GET succeeds")
    }

    /// GET a path; returns status and body.
    pub async fn get_html(&self, path: &str) -> (StatusCode, String) {
        let response = self.get(path).await;
        let status = response.status();
        (status, response.text().await.expect("body"))
    }

    /// The CSRF token of the page at `page` (as its forms carry it).
    pub async fn csrf_token(&self, page: &str) -> String {
        let (status, html) = self.get_html(page).await;
        assert_eq!(status, StatusCode::OK, "{page} should render");
        select_attr(&html, r#"meta[name="csrf-token"]"#, "content")
            .expect("page carries a CSRF token")
    }

    /// POST a form exactly as given (no token added).
    pub async fn post_raw(&self, action: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{}", self.base, action))
            .form(fields)
            .send()
            .await
            .expect("POST succeeds")
    }

    /// Opens `page`, then submits a form to `action` with the page's CSRF token.
    pub async fn submit(
        &self,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let token = self.csrf_token(page).await;
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(action, &all).await
    }

    /// Opens `page`, then uploads `file` to `action` as a multipart form with `fields` (the CSRF
    /// token goes in the action URL, as the page's form does).
    pub async fn upload(
        &self,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
        file_name: &str,
        file: Vec<u8>,
    ) -> reqwest::Response {
        let token = self.csrf_token(page).await;
        let mut form = reqwest::multipart::Form::new();
        for (name, value) in fields {
            form = form.text(name.to_string(), value.to_string());
        }
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(file)
                .file_name(file_name.to_owned())
                .mime_str("text/csv")
                .unwrap(),
        );
        self.client
            .post(format!("{}{action}?csrf_token={token}", self.base))
            .multipart(form)
            .send()
            .await
            .expect("upload succeeds")
    }

    /// Fills in and submits the sign-up form.
    pub async fn signup(
        &self,
        name: &str,
        email: &str,
        password: &str,
        org: &str,
    ) -> reqwest::Response {
        self.submit(
            "/signup",
            "/signup",
            &[
                ("name", name),
                ("email", email),
                ("password", password),
                ("org_name", org),
            ],
        )
        .await
    }

    /// Fills in and submits the login form.
    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.submit(
            "/login",
            "/login",
            &[("email", email), ("password", password)],
        )
        .await
    }

    /// Presses "Log out" on `page`.
    pub async fn logout(&self, page: &str) -> reqwest::Response {
        self.submit(page, "/logout", &[]).await
    }
}

/// Opens the provider's consent page at `authorize_url` and presses `decision` ("approve" or
/// "deny"); returns where the provider redirects (the app's callback with code or error).
pub async fn approve_at_provider(authorize_url: &str, decision: &str) -> String {
    let provider = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = provider.get(authorize_url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "the consent page shows");
    let html = page.text().await.unwrap();
    let mut fields: Vec<(String, String)> = {
        let doc = Html::parse_document(&html);
        let inputs = Selector::parse("#consent input[type=hidden]").unwrap();
        doc.select(&inputs)
            .map(|i| {
                (
                    i.value().attr("name").unwrap_or("").to_owned(),
                    i.value().attr("value").unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    if let Some(account) = select_attr(&html, "#account option", "value") {
        fields.push(("account".into(), account));
    }
    fields.push(("decision".into(), decision.into()));
    let answer = provider
        .post(authorize_url)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.status(),
        StatusCode::SEE_OTHER,
        "the provider redirects back"
    );
    location(&answer)
}

/// The `Location` header of a redirect.
pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .expect("a redirect")
        .to_str()
        .expect("ascii")
        .to_owned()
}

/// The session cookie set by a response, whole (`debrief_session=…; attributes`).
pub fn session_set_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("debrief_session="))
        .map(str::to_owned)
}

/// The text of the first element matching `selector`.
pub fn select_text(html: &str, selector: &str) -> Option<String> {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(selector).expect("valid selector");
    doc.select(&sel)
        .next()
        .map(|e| e.text().collect::<String>().trim().to_owned())
}

/// The texts of every element matching `selector`.
pub fn select_texts(html: &str, selector: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(selector).expect("valid selector");
    doc.select(&sel)
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect()
}

/// An attribute of the first element matching `selector`.
pub fn select_attr(html: &str, selector: &str, attr: &str) -> Option<String> {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(selector).expect("valid selector");
    doc.select(&sel)
        .next()
        .and_then(|e| e.value().attr(attr))
        .map(str::to_owned)
}

/// An attribute of every element matching `selector` that has it, in document order.
pub fn select_attrs(html: &str, selector: &str, attr: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(selector).expect("valid selector");
    doc.select(&sel)
        .filter_map(|e| e.value().attr(attr))
        .map(str::to_owned)
        .collect()
}

/// Calendar invitees for a simulated meeting, one per email (named after the email's local part).
pub fn invitees(emails: &[&str]) -> Vec<debrief::sim::fathom::InviteeSpec> {
    emails
        .iter()
        .map(|email| debrief::sim::fathom::InviteeSpec {
            name: Some(email.split('@').next().unwrap_or_default().to_owned()),
            email: Some((*email).to_owned()),
        })
        .collect()
}
