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
