//! Every state-changing request needs this session's CSRF token.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{PASSWORD, spawn_app};

#[sqlx::test]
async fn a_post_without_a_csrf_token_is_refused_and_writes_nothing(db: PgPool) {
    let app = spawn_app(db).await;
    let browser = app.browser();
    browser.get("/signup").await;

    let response = browser
        .post_raw(
            "/signup",
            &[
                ("name", "Ada"),
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("org_name", "Acme"),
            ],
        )
        .await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("This form was not accepted because it expired")
    );
    assert_eq!(app.count("users").await, 0);
    assert_eq!(app.count("orgs").await, 0);
}

#[sqlx::test]
async fn a_post_with_a_wrong_or_foreign_csrf_token_is_refused(db: PgPool) {
    let app = spawn_app(db).await;
    let (owner, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let attacker = app.browser();
    let attackers_token = attacker.csrf_token("/signup").await;

    for token in ["not-the-token", attackers_token.as_str(), ""] {
        let response = owner
            .post_raw(
                &format!("/o/{slug}/invites"),
                &[("csrf_token", token), ("role", "owner")],
            )
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "token {token:?}");
    }
    let header = owner
        .client
        .post(format!("{}/o/{slug}/invites", owner.base))
        .header("x-csrf-token", "forged")
        .form(&[("role", "owner")])
        .send()
        .await
        .unwrap();
    assert_eq!(header.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("invites").await, 0);

    let logout = owner.post_raw("/logout", &[]).await;
    assert_eq!(
        logout.status(),
        StatusCode::FORBIDDEN,
        "even logging out needs the token"
    );
    assert_eq!(
        owner.get(&format!("/o/{slug}/")).await.status(),
        StatusCode::OK,
        "still signed in"
    );
}
