//! Organisations: slugs, creating another, switching between them.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{location, select_texts, spawn_app};

#[sqlx::test]
async fn orgs_with_the_same_name_get_distinct_slugs(db: PgPool) {
    let app = spawn_app(db).await;
    let (_, first) = app.signup("Ada", "ada@example.com", "Acme Sales").await;
    let (_, second) = app.signup("Bob", "bob@example.com", "Acme Sales").await;
    assert_eq!(first, "acme-sales");
    assert_eq!(second, "acme-sales-2");
}

#[sqlx::test]
async fn a_person_in_two_orgs_switches_between_them(db: PgPool) {
    let app = spawn_app(db).await;
    let (browser, acme) = app.signup("Ada", "ada@example.com", "Acme").await;

    let response = browser
        .submit("/orgs/new", "/orgs/new", &[("name", "Globex")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/o/globex/");
    assert_eq!(
        app.role_of("globex", "ada@example.com").await.as_deref(),
        Some("owner")
    );

    let (_, html) = browser.get_html("/o/globex/").await;
    let switcher = select_texts(&html, "#org-switcher ul li a");
    assert_eq!(switcher, ["Acme", "Globex", "New organisation…"]);
    assert_eq!(
        location(&browser.get("/").await),
        "/o/globex/",
        "start page goes to the org last used"
    );

    let (status, html) = browser.get_html(&format!("/o/{acme}/")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"<summary>Acme</summary>"#));
    assert_eq!(location(&browser.get("/").await), format!("/o/{acme}/"));
}

#[sqlx::test]
async fn a_new_org_with_a_bad_name_is_refused_and_nothing_is_created(db: PgPool) {
    let app = spawn_app(db).await;
    let (browser, _) = app.signup("Ada", "ada@example.com", "Acme").await;
    for (name, message) in [
        ("   ", "Enter your organisation"),
        (&*"x".repeat(101), "too long"),
    ] {
        let response = browser
            .submit("/orgs/new", "/orgs/new", &[("name", name)])
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(response.text().await.unwrap().contains(message));
    }
    assert_eq!(app.count("orgs").await, 1);
}

#[sqlx::test]
async fn a_person_with_no_org_is_offered_to_create_one(db: PgPool) {
    let app = spawn_app(db).await;
    let (browser, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let ada = app.user_id("ada@example.com").await.to_string();
    let (_, bob_org) = app.signup("Bob", "bob@example.com", "Bobs").await;
    let bob = app.browser();
    bob.login("bob@example.com", crate::helpers::PASSWORD).await;
    let invite = app.invite(&bob, &bob_org, "owner").await;
    browser
        .submit(&invite, &format!("{invite}/accept"), &[])
        .await;

    let response = browser
        .submit(
            &format!("/o/{slug}/members"),
            &format!("/o/{slug}/members/{ada}/remove"),
            &[],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::CONFLICT,
        "the only owner cannot leave"
    );

    let response = browser
        .submit(
            &format!("/o/{bob_org}/members"),
            &format!("/o/{bob_org}/members/{ada}/remove"),
            &[],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "a second owner may leave"
    );
    assert_eq!(app.role_of(&bob_org, "ada@example.com").await, None);
    assert_eq!(location(&browser.get("/").await), format!("/o/{slug}/"));
}

#[sqlx::test]
async fn anonymous_visitors_see_what_debrief_is(db: PgPool) {
    let app = spawn_app(db).await;
    let (status, html) = app.browser().get_html("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Every customer call, in one place"));
    assert!(html.contains(r#"href="/signup""#));
}
