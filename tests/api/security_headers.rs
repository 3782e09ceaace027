//! Every response carries the security headers; pages are not stored; HSTS only over https; no page
//! relies on an inline script the policy forbids.

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, HeaderMap};
use sqlx::PgPool;

use crate::helpers::{spawn_app, spawn_app_with, test_settings};

fn check_common(headers: &HeaderMap, what: &str) {
    let csp = headers
        .get("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: a CSP"))
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(csp.contains("script-src 'self'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-eval"), "{what}: {csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(headers["referrer-policy"], "same-origin", "{what}");
}

/// Whether the page has an inline script or an inline event handler.
fn has_inline_script(html: &str) -> bool {
    let doc = scraper::Html::parse_document(html);
    let all = scraper::Selector::parse("*").unwrap();
    doc.select(&all).any(|e| {
        (e.value().name() == "script" && e.value().attr("src").is_none())
            || e.value().attrs().any(|(name, _)| name.starts_with("on"))
    })
}

#[sqlx::test]
async fn pages_static_files_and_webhooks_carry_the_security_headers(db: PgPool) {
    let app = spawn_app(db).await;
    let (browser, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    for page in [
        format!("/o/{slug}/"),
        format!("/o/{slug}/integrations"),
        format!("/o/{slug}/members"),
        "/o/no-such-org/".to_owned(),
    ] {
        let response = browser.get(&page).await;
        let headers = response.headers().clone();
        check_common(&headers, &page);
        assert_eq!(headers[CACHE_CONTROL], "no-store", "{page}");
        assert!(headers.get("strict-transport-security").is_none());
        let html = response.text().await.unwrap();
        assert!(!has_inline_script(&html), "{page} has an inline script");
    }
    let anonymous = app.browser().get("/login").await;
    check_common(anonymous.headers(), "/login");
    assert_eq!(anonymous.headers()[CACHE_CONTROL], "no-store");

    let css = app.browser().get("/static/css/app.css").await;
    assert_eq!(css.status(), StatusCode::OK);
    check_common(css.headers(), "static");
    assert!(
        css.headers()[CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let js = app.browser().get("/static/js/app.js").await;
    assert_eq!(js.status(), StatusCode::OK, "the page script is served");

    let webhook = reqwest::Client::new()
        .post(format!(
            "{}/api/integrations/fathom/webhook/{}",
            app.address,
            uuid::Uuid::new_v4()
        ))
        .send()
        .await
        .unwrap();
    check_common(webhook.headers(), "webhook");
}

#[sqlx::test]
async fn hsts_is_sent_when_debrief_is_served_over_https(db: PgPool) {
    let mut settings = test_settings();
    settings.application.base_url = "https://debrief.example".parse().unwrap();
    let app = spawn_app_with(db, settings).await;
    let response = app.browser().get("/login").await;
    let hsts = response.headers()["strict-transport-security"]
        .to_str()
        .unwrap();
    assert!(hsts.contains("max-age=31536000"), "{hsts}");
}

/// Browsers apply `form-action` to the redirect that answers a form post, so the policy must let the
/// CRM connect forms continue to the providers' authorize pages (a blocked form is a dead button).
#[test]
fn form_action_allows_the_configured_crm_authorize_origins_and_nothing_else() {
    let mut settings = test_settings();
    settings.hubspot.authorize_url = "https://app-eu1.hubspot.com/oauth/authorize"
        .parse()
        .unwrap();
    settings.salesforce.login_url = "https://login.salesforce.com".parse().unwrap();
    let csp = debrief::web::security_headers::content_security_policy(&settings);
    assert_eq!(
        form_action(csp.to_str().unwrap()),
        [
            "'self'",
            "https://app-eu1.hubspot.com",
            "https://login.salesforce.com",
            "https://test.salesforce.com",
            "https://*.my.salesforce.com"
        ]
    );
}

/// The served policy is the one built from the app's settings: here the CRM simulator's origin.
#[sqlx::test]
async fn pages_allow_forms_to_continue_to_the_configured_crm(db: PgPool) {
    let app = spawn_app(db).await;
    let response = reqwest::get(format!("{}/login", app.address))
        .await
        .unwrap();
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let sources = form_action(&csp);
    assert_eq!(sources[0], "'self'");
    let crm = app.crm.base_url().trim_end_matches('/').to_owned();
    assert!(sources.contains(&crm.as_str()), "{crm} in {sources:?}");
}

fn form_action(csp: &str) -> Vec<&str> {
    csp.split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix("form-action "))
        .unwrap_or_else(|| panic!("a form-action directive: {csp}"))
        .split_whitespace()
        .collect()
}
