//! Anonymous traffic is not cheap to abuse: sign-ups (and invite sign-ups) are throttled per client
//! address (the one the trusted proxy saw), and the login throttle fails closed.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{
    PASSWORD, TestApp, session_set_cookie, spawn_app, spawn_app_with, test_settings,
};

async fn signup_from(app: &TestApp, n: usize, forwarded_for: Option<&str>) -> reqwest::Response {
    let browser = app.browser();
    let token = browser.csrf_token("/signup").await;
    let email = format!("person{n}@example.com");
    let mut request = browser
        .client
        .post(format!("{}/signup", app.address))
        .form(&[
            ("csrf_token", token.as_str()),
            ("name", "Person"),
            ("email", email.as_str()),
            ("password", PASSWORD),
            ("org_name", "Org"),
        ]);
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.unwrap()
}

#[sqlx::test]
async fn sign_ups_past_the_limit_from_one_address_are_refused_and_create_nothing(db: PgPool) {
    let mut settings = test_settings();
    settings.signup_throttle.max_per_address = 3;
    settings.application.trusted_proxies = 1;
    let app = spawn_app_with(db, settings).await;
    for n in 0..3 {
        let response = signup_from(&app, n, Some("6.6.6.6, 203.0.113.7")).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "sign-up {n}");
    }
    let users = app.count("users").await;
    // The client forges the left part of X-Forwarded-For; the proxy's entry is what counts.
    let refused = signup_from(&app, 3, Some("1.2.3.4, 203.0.113.7")).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("Too many accounts were created from your network"),
        "{page}"
    );
    assert_eq!(app.count("users").await, users, "nothing was created");

    let elsewhere = signup_from(&app, 4, Some("198.51.100.20")).await;
    assert_eq!(
        elsewhere.status(),
        StatusCode::SEE_OTHER,
        "another address is not affected"
    );
}

#[sqlx::test]
async fn invite_sign_ups_count_against_the_same_limit(db: PgPool) {
    let mut settings = test_settings();
    settings.signup_throttle.max_per_address = 1;
    let app = spawn_app_with(db, settings).await;
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let link = app.invite(&ada, &slug, "member").await;
    let mia = app.browser();
    let response = mia
        .submit(
            &link,
            &format!("{link}/signup"),
            &[
                ("name", "Mia"),
                ("email", "mia@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.count("users").await, 1, "only Ada");
    assert_eq!(app.role_of(&slug, "mia@example.com").await, None);
}

#[sqlx::test]
async fn a_database_error_in_the_login_throttle_refuses_the_login(db: PgPool) {
    let app = spawn_app(db).await;
    app.signup("Ada", "ada@example.com", "Acme").await;
    sqlx::query("alter table login_failures rename to login_failures_gone")
        .execute(&app.db)
        .await
        .unwrap();
    let browser = app.browser();
    let response = browser.login("ada@example.com", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(session_set_cookie(&response), None, "not signed in");
}
