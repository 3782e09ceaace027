//! Logs never carry passwords, session ids or invite tokens, even at the most verbose level.

use sqlx::PgPool;

use crate::helpers::{PASSWORD, captured_logs, session_set_cookie, spawn_app};

#[sqlx::test]
async fn sign_up_and_login_never_log_passwords_or_session_ids(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let link = app.invite(&ada, &slug, "member").await;
    let token = link.rsplit('/').next().unwrap().to_owned();
    ada.logout(&format!("/o/{slug}/")).await;
    ada.login("ada@example.com", "a-wrong-password-attempt")
        .await;
    let response = ada.login("ada@example.com", PASSWORD).await;
    let cookie = session_set_cookie(&response).expect("login sets the session cookie");
    let cookie_value = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("debrief_session=")
        .to_owned();
    let session_id = cookie_value.rsplit('=').next().unwrap().to_owned();
    ada.get(&format!("/o/{slug}/members")).await;
    let stored_ids: Vec<String> = sqlx::query_scalar("select id from sessions")
        .fetch_all(&app.db)
        .await
        .unwrap();

    let logs = captured_logs();

    assert!(logs.contains("signed in"), "the capture works: {logs}");
    assert!(logs.contains("sign-in failed"));
    for secret in [
        PASSWORD,
        "a-wrong-password-attempt",
        &cookie_value,
        &session_id,
        &token,
    ] {
        assert!(
            !logs.contains(secret),
            "a secret reached the logs: {secret}"
        );
    }
    for id in stored_ids {
        assert!(!logs.contains(&id), "a session id reached the logs");
    }
}

#[sqlx::test]
async fn org_scoped_requests_webhooks_and_jobs_log_under_their_org_id(db: PgPool) {
    let app = spawn_app(db).await;
    let ada = app.ada_with_fathom().await;
    let (slug, org) = (ada.slug, ada.org);
    ada.browser.get(&format!("/o/{slug}/members")).await;
    app.fathom()
        .add_meeting(
            crate::helpers::ADA_FATHOM_KEY,
            debrief::sim::fathom::MeetingSpec::default(),
        )
        .unwrap();
    app.fathom().wait_for_deliveries().await;
    app.wait_for_jobs().await;

    let logs = captured_logs();
    let under_org = |marker: &str| {
        logs.lines()
            .filter(|line| line.contains(marker))
            .any(|line| line.contains(&format!("org_id={org}")))
    };
    assert!(
        under_org("route=\"/o/{org_slug}/members\""),
        "the members page request carries org_id: {logs}"
    );
    assert!(
        under_org("route=\"/api/integrations/fathom/webhook/{org_id}\""),
        "the webhook request carries org_id"
    );
    assert!(
        under_org("Fathom event processed"),
        "the ingest job carries org_id"
    );
    assert!(
        under_org("job=\"sync_fathom\""),
        "the sync job carries org_id"
    );
}
