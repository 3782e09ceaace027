//! Connecting a CRM through OAuth (authorization code with PKCE) against the simulated HubSpot
//! and Salesforce: the whole dance, and every way a callback can be wrong — none stores anything.

use debrief::crypto::{Binding, CRM_ACCESS_TOKEN_FIELD, CRM_REFRESH_TOKEN_FIELD};
use debrief::domain::OrgId;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

use crate::helpers::{
    Browser, HUB_ID, SF_ORG, TestApp, approve_at_provider, captured_logs, location, select_text,
    spawn_app, spawn_app_with, test_settings,
};

async fn connections(app: &TestApp) -> i64 {
    app.count("crm_connections").await
}

/// The flash message on the page a redirect leads to.
async fn flash_after(browser: &Browser, response: &reqwest::Response) -> String {
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "callbacks redirect"
    );
    let mut to = location(response);
    for _ in 0..3 {
        let page = browser.get(&to).await;
        if page.status() == StatusCode::SEE_OTHER {
            to = location(&page);
            continue;
        }
        return crate::helpers::select_texts(&page.text().await.unwrap(), ".flash").join(" | ");
    }
    panic!("too many redirects from {to}")
}

/// Both tokens of a connection in clear (the test decrypts what the database holds).
async fn tokens(app: &TestApp, org: OrgId, provider: &str) -> (String, Option<String>) {
    let id = app.crm_connection(org, provider).await;
    let (access, refresh): (String, Option<String>) = sqlx::query_as(
        "select access_token_ciphertext, refresh_token_ciphertext from crm_connections where id = $1",
    )
    .bind(id.0)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let bind = |field| Binding {
        org_id: org,
        record_id: id.0,
        field,
    };
    let clear = |ct: &str, field| -> String {
        app.state
            .crypto
            .decrypt(ct, bind(field))
            .unwrap()
            .expose_secret()
            .to_owned()
    };
    (
        clear(&access, CRM_ACCESS_TOKEN_FIELD),
        refresh.map(|r| clear(&r, CRM_REFRESH_TOKEN_FIELD)),
    )
}

#[sqlx::test]
async fn hubspot_connects_with_pkce_and_stores_only_ciphertext(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let org = OrgId(app.org_id(&slug).await);

    let authorize = app.start_crm_connect(&ada, &slug, "hubspot").await;
    let q: std::collections::HashMap<String, String> = url::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(
        q["redirect_uri"],
        format!("{}/oauth/hubspot/callback", app.address)
    );
    assert!(
        q["scope"].contains("crm.objects.contacts.write"),
        "{}",
        q["scope"]
    );

    let callback = approve_at_provider(&authorize, "approve").await;
    let response = ada.get(callback.strip_prefix(&app.address).unwrap()).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = location(&response);
    assert!(
        page.starts_with(&format!("/o/{slug}/integrations/crm/")),
        "{page}"
    );
    let (status, html) = ada.get_html(&page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        select_text(&html, ".flash")
            .unwrap()
            .contains("HubSpot acme-test.hubspot.com connected"),
        "{html}"
    );
    assert_eq!(
        select_text(&html, "#crm-account-id").unwrap(),
        HUB_ID.to_string()
    );
    assert_eq!(select_text(&html, "#crm-state").unwrap(), "Active");

    let row: (String, String, String, Option<chrono::DateTime<chrono::Utc>>, Vec<String>) = sqlx::query_as(
        "select account_id, access_token_ciphertext, refresh_token_ciphertext, access_token_expires_at, scopes
           from crm_connections where org_id = $1",
    )
    .bind(org.0)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(row.0, HUB_ID.to_string());
    assert!(
        row.1.starts_with("v1:test1:") && row.2.starts_with("v1:test1:"),
        "ciphertext with its key id"
    );
    let expires = row.3.expect("HubSpot says when the token expires");
    let in_secs = (expires - chrono::Utc::now()).num_seconds();
    assert!((1700..=1800).contains(&in_secs), "{in_secs}");
    assert!(
        row.4.contains(&"crm.objects.contacts.write".to_owned()),
        "{:?}",
        row.4
    );

    let (access, refresh) = tokens(&app, org, "hubspot").await;
    let refresh = refresh.expect("a refresh token");
    assert!(!row.1.contains(&access) && !row.2.contains(&refresh));
    let integrations = ada.get_html(&format!("/o/{slug}/integrations")).await.1;
    for text in [&html, &integrations, &captured_logs()] {
        assert!(!text.contains(&access), "the access token leaked");
        assert!(!text.contains(&refresh), "the refresh token leaked");
    }
    assert!(integrations.contains("acme-test.hubspot.com"));
    // The code was exchanged once, with the verifier (the simulator checks it).
    assert_eq!(app.crm.stats().code_exchanges, 1);
}

#[sqlx::test]
async fn salesforce_connects_and_keeps_its_instance_url_and_org(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let org = OrgId(app.org_id(&slug).await);
    let response = app.connect_crm(&ada, &slug, "salesforce").await;
    let flash = flash_after(&ada, &response).await;
    assert!(flash.contains("Salesforce 127.0.0.1 connected"), "{flash}");
    let (account, instance, user): (String, Option<String>, Option<String>) = sqlx::query_as(
        "select account_id, instance_url, account_user from crm_connections where org_id = $1",
    )
    .bind(org.0)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(account, SF_ORG);
    assert_eq!(instance.unwrap().trim_end_matches('/'), app.crm.base_url());
    assert_eq!(user.as_deref(), Some("ada@example.com.test"));
    let (_, refresh) = tokens(&app, org, "salesforce").await;
    assert!(refresh.is_some(), "the refresh_token scope was asked for");
}

#[sqlx::test]
async fn callbacks_with_a_missing_reused_expired_or_other_sessions_state_store_nothing(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let (bob, _) = app.signup("Bob", "bob@example.com", "Bobco").await;

    // Missing state.
    let response = ada.get("/oauth/hubspot/callback?code=anything").await;
    let flash = flash_after(&ada, &response).await;
    assert!(
        flash.contains("was not started from this browser session"),
        "{flash}"
    );

    // Another session's state: Ada's authorization, completed in Bob's browser.
    let authorize = app.start_crm_connect(&ada, &slug, "hubspot").await;
    let callback = approve_at_provider(&authorize, "approve").await;
    let path = callback.strip_prefix(&app.address).unwrap().to_owned();
    let response = bob.get(&path).await;
    let flash = flash_after(&bob, &response).await;
    assert!(
        flash.contains("was not started from this browser session"),
        "{flash}"
    );
    assert_eq!(connections(&app).await, 0);
    assert_eq!(app.crm.stats().code_exchanges, 0, "no code was exchanged");

    // The right session completes it; the same callback again is refused.
    let response = ada.get(&path).await;
    assert!(flash_after(&ada, &response).await.contains("connected"));
    assert_eq!(connections(&app).await, 1);
    let response = ada.get(&path).await;
    let flash = flash_after(&ada, &response).await;
    assert!(flash.contains("already used"), "{flash}");
    assert_eq!(connections(&app).await, 1);
    assert_eq!(app.crm.stats().code_exchanges, 1);

    // Expired: started more than 10 minutes ago.
    let authorize = app.start_crm_connect(&ada, &slug, "salesforce").await;
    sqlx::query(
        "update sessions set data = jsonb_set(data, '{crm_oauth_pending,0,created_at}',
                                             to_jsonb(now() - interval '11 minutes'))
          where data ? 'crm_oauth_pending'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let callback = approve_at_provider(&authorize, "approve").await;
    let response = ada.get(callback.strip_prefix(&app.address).unwrap()).await;
    let flash = flash_after(&ada, &response).await;
    assert!(flash.contains("expired"), "{flash}");
    assert_eq!(connections(&app).await, 1, "no Salesforce connection");
}

#[sqlx::test]
async fn denied_consent_a_bad_code_and_a_code_for_another_redirect_uri_are_refused(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;

    let authorize = app.start_crm_connect(&ada, &slug, "hubspot").await;
    let callback = approve_at_provider(&authorize, "deny").await;
    assert!(callback.contains("error=access_denied"), "{callback}");
    let response = ada.get(callback.strip_prefix(&app.address).unwrap()).await;
    let flash = flash_after(&ada, &response).await;
    assert!(flash.contains("Access was declined in HubSpot"), "{flash}");

    let authorize = app.start_crm_connect(&ada, &slug, "hubspot").await;
    let callback = approve_at_provider(&authorize, "approve").await;
    let mut bad = url::Url::parse(&callback).unwrap();
    let state: String = bad
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    bad.set_query(Some(&format!("code=not-a-real-code&state={state}")));
    let response = ada
        .get(bad.as_str().strip_prefix(&app.address).unwrap())
        .await;
    let flash = flash_after(&ada, &response).await;
    assert!(
        flash.contains("HubSpot did not accept the authorization"),
        "{flash}"
    );

    // A code issued to another redirect URI (an attacker's) delivered to the real callback.
    let authorize = app.start_crm_connect(&ada, &slug, "salesforce").await;
    let mut elsewhere = url::Url::parse(&authorize).unwrap();
    let pairs: Vec<(String, String)> = elsewhere
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "redirect_uri" {
                "http://evil.example/cb".to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    elsewhere.query_pairs_mut().clear().extend_pairs(pairs);
    let stolen =
        url::Url::parse(&approve_at_provider(elsewhere.as_str(), "approve").await).unwrap();
    assert_eq!(stolen.host_str(), Some("evil.example"));
    let response = ada
        .get(&format!(
            "/oauth/salesforce/callback?{}",
            stolen.query().unwrap()
        ))
        .await;
    let flash = flash_after(&ada, &response).await;
    assert!(flash.contains("redirect_uri mismatch"), "{flash}");
    assert_eq!(connections(&app).await, 0);
}

#[sqlx::test]
async fn a_wrong_client_secret_is_reported_and_stores_nothing(db: PgPool) {
    let mut settings = test_settings();
    settings.hubspot.client_secret = Some(SecretString::from("not-the-secret"));
    let app = spawn_app_with(db, settings).await;
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    // spawn_app sets the right secret; this app keeps the wrong one.
    let response = app.connect_crm(&ada, &slug, "hubspot").await;
    let flash = flash_after(&ada, &response).await;
    assert!(flash.contains("HubSpot did not accept"), "{flash}");
    assert_eq!(connections(&app).await, 0);
}

#[sqlx::test]
async fn an_unconfigured_provider_says_what_to_set_and_offers_no_button(db: PgPool) {
    let mut settings = test_settings();
    settings.salesforce.client_id = Some(String::new());
    let app = spawn_app_with(db, settings).await;
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let (_, html) = ada.get_html(&format!("/o/{slug}/integrations")).await;
    let offer = select_text(&html, ".crm-offer[data-provider=salesforce]").unwrap();
    assert!(offer.contains("DEBRIEF__SALESFORCE__CLIENT_ID"), "{offer}");
    assert!(offer.contains("/oauth/salesforce/callback"), "{offer}");
    assert!(select_text(&html, ".crm-offer[data-provider=salesforce] button").is_none());
    assert!(select_text(&html, ".crm-offer[data-provider=hubspot] button").is_some());
    let response = ada
        .submit(
            &format!("/o/{slug}/integrations"),
            &format!("/o/{slug}/integrations/salesforce/connect"),
            &[],
        )
        .await;
    let flash = flash_after(&ada, &response).await;
    assert!(flash.contains("Salesforce is not configured"), "{flash}");
}

#[sqlx::test]
async fn members_cannot_connect_or_disconnect_a_crm(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let org = OrgId(app.org_id(&slug).await);
    app.connect_crm(&ada, &slug, "hubspot").await;
    let connection = app.crm_connection(org, "hubspot").await;
    let invite = app.invite(&ada, &slug, "member").await;
    let mia = app.browser();
    let joined = mia
        .submit(
            &invite,
            &format!("{invite}/signup"),
            &[
                ("name", "Mia"),
                ("email", "mia@example.com"),
                ("password", crate::helpers::PASSWORD),
            ],
        )
        .await;
    assert_eq!(joined.status(), StatusCode::SEE_OTHER);
    let page = format!("/o/{slug}/integrations");
    let (_, html) = mia.get_html(&page).await;
    assert!(select_text(&html, ".crm-connect button").is_none());
    for action in [
        format!("/o/{slug}/integrations/hubspot/connect"),
        format!("/o/{slug}/integrations/crm/{connection}/disconnect"),
        format!("/o/{slug}/integrations/crm/{connection}/settings"),
    ] {
        let response = mia.submit(&page, &action, &[]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{action}");
    }
    let state: String = sqlx::query_scalar("select state from crm_connections where id = $1")
        .bind(connection.0)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(state, "active");
}
