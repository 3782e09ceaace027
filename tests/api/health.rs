//! Probes, static files and the friendly error pages.

use reqwest::StatusCode;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::helpers::{select_text, spawn_app, spawn_app_with, test_settings};

#[sqlx::test]
async fn healthz_and_readyz_answer_200_with_a_database(db: PgPool) {
    let app = spawn_app(db).await;
    let browser = app.browser();
    assert_eq!(browser.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(browser.get("/readyz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn readyz_answers_503_when_the_database_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = listener.local_addr().unwrap().port();
    drop(listener);
    let db = PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_millis(500))
        .connect_lazy(&format!("postgres://nobody@127.0.0.1:{closed_port}/none"))
        .unwrap();
    let app = spawn_app_with(db, test_settings()).await;
    let browser = app.browser();

    assert_eq!(browser.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(
        browser.get("/readyz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[sqlx::test]
async fn unknown_pages_get_the_friendly_404(db: PgPool) {
    let app = spawn_app(db).await;

    let (status, html) = app.browser().get_html("/no/such/page").await;

    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(select_text(&html, "h1").as_deref(), Some("Page not found"));
    assert_eq!(
        select_text(&html, "title").as_deref(),
        Some("Page not found · Debrief")
    );
}

#[sqlx::test]
async fn static_files_are_served_with_cache_headers(db: PgPool) {
    let app = spawn_app(db).await;

    let response = app.browser().get("/static/vendor/pico/pico.min.css").await;

    assert_eq!(response.status(), StatusCode::OK);
    let cache = response
        .headers()
        .get("cache-control")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cache.contains("max-age="), "{cache}");
    assert!(
        response.headers().get("set-cookie").is_none(),
        "static files start no session"
    );
    assert!(
        response.text().await.unwrap().len() > 10_000,
        "the real framework, not a stub"
    );
}

#[sqlx::test]
async fn every_page_input_has_a_label(db: PgPool) {
    let app = spawn_app(db).await;
    let (browser, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let anon = app.browser();
    let pages = [
        (&anon, "/signup".to_owned()),
        (&anon, "/login".to_owned()),
        (&browser, "/orgs/new".to_owned()),
        (&browser, format!("/o/{slug}/members")),
    ];
    for (who, page) in pages {
        let (status, html) = who.get_html(&page).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let doc = scraper::Html::parse_document(&html);
        let inputs =
            scraper::Selector::parse("input:not([type=hidden]), select, textarea").unwrap();
        for input in doc.select(&inputs) {
            let id = input.value().attr("id");
            let labelled = input.value().attr("aria-label").is_some()
                || id.is_some_and(|id| html.contains(&format!(r#"for="{id}""#)));
            assert!(
                labelled,
                "{page}: an input without a label: {}",
                input.html()
            );
        }
    }
}

#[sqlx::test]
async fn a_server_failure_shows_the_friendly_500_page_without_details(db: PgPool) {
    let app = spawn_app(db).await;
    let (browser, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    sqlx::query("alter table memberships rename to memberships_gone")
        .execute(&app.db)
        .await
        .unwrap();

    let (status, html) = browser.get_html(&format!("/o/{slug}/")).await;

    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        select_text(&html, "h1").as_deref(),
        Some("Something went wrong")
    );
    assert!(
        !html.contains("memberships"),
        "no internals leak into the page"
    );
    assert!(
        crate::helpers::captured_logs().contains("request failed"),
        "the cause goes to the log"
    );
}
