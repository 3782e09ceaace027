//! The worker's housekeeping.

use sqlx::PgPool;

use crate::helpers::spawn_app;

#[sqlx::test]
async fn housekeeping_deletes_expired_sessions_and_old_failed_logins_only(db: PgPool) {
    let app = spawn_app(db).await;
    let (browser, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    app.browser()
        .login("ada@example.com", "wrong-password-1")
        .await;
    app.browser()
        .login("ada@example.com", "wrong-password-2")
        .await;
    sqlx::query("update login_failures set failed_at = now() - interval '2 days' where id = (select min(id) from login_failures)")
        .execute(&app.db)
        .await
        .unwrap();
    let stale = app.browser();
    stale.get("/login").await;
    sqlx::query("update sessions set expiry_date = now() - interval '1 minute' where data ? 'user_id' = false")
        .execute(&app.db)
        .await
        .unwrap();
    let sessions_before = app.count("sessions").await;

    debrief::worker::housekeeping(&app.db).await;

    assert_eq!(
        app.count("login_failures").await,
        1,
        "only the day-old failure is gone"
    );
    assert!(
        app.count("sessions").await < sessions_before,
        "expired sessions are deleted"
    );
    assert_eq!(
        browser.get(&format!("/o/{slug}/")).await.status(),
        reqwest::StatusCode::OK,
        "live sessions stay"
    );
}
