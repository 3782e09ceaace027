//! `debrief run --demo` as `./scripts/dev` starts it: a Fathom base URL set in the environment wins
//! over the demo simulator.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{ADA_FATHOM_KEY, Browser, location, spawn_app_with_fathom, test_fathom};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[sqlx::test]
async fn demo_mode_uses_an_explicit_fathom_base_url_as_it_is(db: PgPool) {
    // The test's own simulator stands for "the real Fathom": only it knows Ada's key.
    let settings = crate::helpers::test_settings();
    let app = spawn_app_with_fathom(db, settings, test_fathom(), false).await;
    let options = app.db.connect_options();
    let mut url = url::Url::parse(&std::env::var("DATABASE_URL").unwrap()).unwrap();
    url.set_path(options.get_database().unwrap());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let state_dir = std::env::temp_dir().join(format!("debrief-demo-{}", uuid::Uuid::new_v4()));
    let _debrief = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_debrief"))
            .args([
                "run",
                "--demo",
                "--fathom-sim-port",
                &free_port().to_string(),
            ])
            .env("APP_ENVIRONMENT", "local")
            .env("DEBRIEF__DATABASE__URL", url.as_str())
            .env("DEBRIEF__FATHOM__BASE_URL", app.fathom().base_url())
            .env("DEBRIEF__APPLICATION__PORT", port.to_string())
            .env("DEBRIEF__APPLICATION__BASE_URL", &base)
            .env("DEBRIEF__APPLICATION__LOCAL_STATE_DIR", &state_dir)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("debrief run --demo starts"),
    );
    let browser = Browser {
        client: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        base: base.clone(),
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while browser
        .client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map(|r| r.status() != StatusCode::OK)
        .unwrap_or(true)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "debrief never became ready"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let signed_up = browser
        .signup("Ada", "ada@example.com", crate::helpers::PASSWORD, "Acme")
        .await;
    assert_eq!(signed_up.status(), StatusCode::SEE_OTHER);
    let slug = location(&signed_up)
        .trim_start_matches("/o/")
        .trim_end_matches('/')
        .to_owned();
    let connect = format!("/o/{slug}/integrations/fathom/connect");
    let (_, form) = browser.get_html(&connect).await;
    assert!(
        !form.contains("demo-key-alice"),
        "no demo keys are offered for a real Fathom"
    );
    let response = browser
        .submit(
            &connect,
            &connect,
            &[
                ("fathom_email", "ada@example.com"),
                ("api_key", ADA_FATHOM_KEY),
            ],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "the key is checked at the configured Fathom, not at the demo simulator"
    );
    assert!(
        app.fathom()
            .webhooks()
            .iter()
            .any(|w| w.webhook.url.starts_with(&base)),
        "the webhook was registered at the configured Fathom"
    );
    let _ = std::fs::remove_dir_all(state_dir);
}

#[sqlx::test]
async fn the_demo_simulator_records_new_meetings_on_its_own_and_delivers_them(db: PgPool) {
    use debrief::sim::fathom::{DEMO_KEY_ALICE, FathomSim};
    // The demo's cadence is a minute; a fifth of a second shows the same loop here.
    let sim = FathomSim::demo().with_demo_interval(std::time::Duration::from_millis(200));
    let app = spawn_app_with_fathom(db, crate::helpers::test_settings(), sim, true).await;
    let (browser, slug) = app.signup("Alice", "alice@example.com", "Acme").await;
    let before = app.fathom().meetings(DEMO_KEY_ALICE).unwrap().len();
    let response = app
        .connect_fathom(&browser, &slug, "alice.johnson@acme.com", DEMO_KEY_ALICE)
        .await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "the demo key connects"
    );

    // Alice's and Bob's turns alternate: within a few seconds Alice has new meetings, and
    // each reaches Debrief by webhook, not only by the first sync.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let via_webhook: i64 = sqlx::query_scalar(
            "select count(*) from fathom_events where state = 'processed' and recording_id in
               (select recording_id from meetings)",
        )
        .fetch_one(&app.db)
        .await
        .unwrap();
        if via_webhook >= 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no demo meeting arrived by webhook ({via_webhook})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let after = app.fathom().meetings(DEMO_KEY_ALICE).unwrap().len();
    assert!(
        after > before,
        "Alice recorded more meetings: {before} → {after}"
    );
}
