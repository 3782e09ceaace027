//! Connect and disconnect Fathom through the Integrations page, against the in-process simulator.

use debrief::crypto::{API_KEY_FIELD, Binding, WEBHOOK_SECRET_FIELD};
use debrief::domain::OrgId;
use debrief::integrations::fathom_connections::retry_due_webhook_cleanups;
use debrief::sim::fathom::Fault;
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use sqlx::PgPool;

use crate::helpers::{
    ADA_FATHOM_KEY, BOB_FATHOM_KEY, Browser, TestApp, captured_logs, location, select_text,
    select_texts, spawn_app, spawn_app_with, test_settings,
};

#[derive(Debug, sqlx::FromRow)]
struct Row {
    id: uuid::Uuid,
    fathom_user_email: String,
    state: String,
    api_key_ciphertext: Option<String>,
    webhook_secret_ciphertext: Option<String>,
    api_key_hint: String,
    webhook_id: Option<String>,
    webhook_cleanup: Option<String>,
}

async fn rows(app: &TestApp) -> Vec<Row> {
    sqlx::query_as(
        "select id, fathom_user_email, state, api_key_ciphertext, webhook_secret_ciphertext,
                api_key_hint, webhook_id, webhook_cleanup
         from fathom_connections order by connected_at",
    )
    .fetch_all(&app.db)
    .await
    .unwrap()
}

async fn audit_actions(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("select action from audit_events order by id")
        .fetch_all(&app.db)
        .await
        .unwrap()
}

/// Ada, owner of "Acme", with Fathom connected under her key.
async fn ada_connected(app: &TestApp) -> (Browser, String) {
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let response = app
        .connect_fathom(&ada, &slug, "ada@example.com", ADA_FATHOM_KEY)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), format!("/o/{slug}/integrations"));
    (ada, slug)
}

fn assert_nothing_stored(rows: &[Row]) {
    assert!(rows.is_empty(), "no connection stored: {rows:?}");
}

#[sqlx::test]
async fn connecting_checks_the_key_registers_the_org_webhook_and_shows_the_connection(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let (_, page) = ada.get_html(&format!("/o/{slug}/integrations")).await;
    assert!(page.contains("No Fathom account is connected yet"));
    let (status, form) = ada
        .get_html(&format!("/o/{slug}/integrations/fathom/connect"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        crate::helpers::select_attr(&form, "#fathom_email", "value").as_deref(),
        Some("ada@example.com"),
        "the form suggests the member's own email"
    );

    let response = app
        .connect_fathom(&ada, &slug, "ada@example.com", ADA_FATHOM_KEY)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    // Connecting queued the first sync; let it finish.
    app.wait_for_jobs().await;

    let org_id = app.org_id(&slug).await;
    let held = app.fathom().webhooks();
    assert_eq!(held.len(), 1, "exactly one webhook at Fathom");
    let hook = &held[0].webhook;
    assert_eq!(held[0].owner_email, "ada@example.com");
    assert_eq!(
        hook.url,
        format!("{}/api/integrations/fathom/webhook/{org_id}", app.address)
    );
    assert!(hook.include_transcript && hook.include_summary && hook.include_action_items);
    assert!(!hook.include_crm_matches);
    let mut triggers = hook.triggered_for.clone();
    triggers.sort();
    assert_eq!(
        triggers,
        [
            "my_recordings",
            "my_shared_with_team_recordings",
            "shared_external_recordings",
            "shared_team_recordings"
        ]
    );
    let calls = app.fathom().calls();
    let meetings_calls = calls
        .iter()
        .filter(|c| c.path.ends_with("/meetings"))
        .collect::<Vec<_>>();
    assert_eq!(
        meetings_calls[0].query, None,
        "the key check asks for no content"
    );
    assert_eq!(
        meetings_calls[1].query.as_deref(),
        Some("recorded_by%5B%5D=ada%40example.com"),
        "the owner check asks for the typed email's recordings, without content"
    );
    assert!(
        meetings_calls[2..].iter().all(|c| c
            .query
            .as_deref()
            .is_some_and(|q| q.contains("include_transcript=true"))),
        "every other call is the first sync's, with content: {meetings_calls:?}"
    );
    assert_eq!(
        meetings_calls.len(),
        3,
        "the key check, the owner check, one page of Ada's five meetings"
    );

    let stored = rows(&app).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].state, "active");
    assert_eq!(stored[0].fathom_user_email, "ada@example.com");
    assert_eq!(stored[0].webhook_id.as_deref(), Some(hook.id.as_str()));
    assert_eq!(stored[0].api_key_hint, "fath…0001");
    assert_eq!(audit_actions(&app).await, ["fathom.connected"]);

    let (_, page) = ada.get_html(&format!("/o/{slug}/integrations")).await;
    assert!(page.contains("Fathom connected for ada@example.com"));
    let row = select_text(&page, "#fathom-connections tbody tr").unwrap();
    assert!(row.contains("ada@example.com"), "{row}");
    assert!(row.contains("fath…0001"), "{row}");
    assert!(row.contains("Webhook registered"), "{row}");
    assert!(!row.contains(&hook.id), "no raw ids for people: {row}");
    assert!(row.contains("by Ada"), "{row}");
    assert!(row.contains("Active"), "{row}");
}

#[sqlx::test]
async fn a_rejected_key_says_so_and_stores_nothing(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let response = app
        .connect_fathom(&ada, &slug, "ada@example.com", "not-a-real-key-7777")
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("Fathom rejected this key"), "{html}");
    assert!(
        !html.contains("not-a-real-key-7777"),
        "the key is not shown back"
    );
    assert_nothing_stored(&rows(&app).await);
    assert!(app.fathom().webhooks().is_empty());
    assert!(audit_actions(&app).await.is_empty());
}

#[sqlx::test]
async fn rate_limiting_during_connect_says_when_to_retry_and_stores_nothing(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let mut fault = Fault::status(429, 1);
    fault.retry_after = Some(30);
    app.fathom().inject_fault(fault).unwrap();
    let response = app
        .connect_fathom(&ada, &slug, "ada@example.com", ADA_FATHOM_KEY)
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("Fathom is rate-limiting this key; try again in 30 seconds"),
        "{html}"
    );
    assert_nothing_stored(&rows(&app).await);
    assert!(app.fathom().webhooks().is_empty());
}

#[sqlx::test]
async fn a_fathom_outage_during_connect_is_explained_and_stores_nothing(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    app.fathom().inject_fault(Fault::status(500, 1)).unwrap();
    let response = app
        .connect_fathom(&ada, &slug, "ada@example.com", ADA_FATHOM_KEY)
        .await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let html = response.text().await.unwrap();
    assert!(html.contains("Fathom could not be reached or is having problems"));
    assert_nothing_stored(&rows(&app).await);

    app.fathom().inject_fault(Fault::slow(3_000, 1)).unwrap();
    let response = app
        .connect_fathom(&ada, &slug, "ada@example.com", ADA_FATHOM_KEY)
        .await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY, "timeout");
    assert_nothing_stored(&rows(&app).await);
}

#[sqlx::test]
async fn a_failed_webhook_registration_leaves_no_connection(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let mut fault = Fault::status(500, 1);
    fault.path_prefix = Some("/external/v1/webhooks".into());
    app.fathom().inject_fault(fault).unwrap();
    let response = app
        .connect_fathom(&ada, &slug, "ada@example.com", ADA_FATHOM_KEY)
        .await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("Fathom did not register the webhook"),
        "{html}"
    );
    assert_nothing_stored(&rows(&app).await);
    assert!(app.fathom().webhooks().is_empty());
    assert!(audit_actions(&app).await.is_empty());

    // Nothing is in the way of trying again.
    let response = app
        .connect_fathom(&ada, &slug, "ada@example.com", ADA_FATHOM_KEY)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(rows(&app).await.len(), 1);
}

#[sqlx::test]
async fn bad_form_input_gets_field_errors_and_never_reaches_fathom(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let cases = [
        (
            "ada@example.com",
            "",
            "#api_key-error",
            "Paste your Fathom API key",
        ),
        (
            "ada@example.com",
            "two words",
            "#api_key-error",
            "does not look like",
        ),
        ("not-an-email", ADA_FATHOM_KEY, "#fathom_email-error", ""),
        ("", ADA_FATHOM_KEY, "#fathom_email-error", ""),
    ];
    for (email, key, field, message) in cases {
        let response = app.connect_fathom(&ada, &slug, email, key).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{email} {key}"
        );
        let html = response.text().await.unwrap();
        let error = select_text(&html, field).unwrap_or_default();
        assert!(
            !error.is_empty() && error.contains(message),
            "{field}: {error}"
        );
        assert_eq!(
            crate::helpers::select_attr(&html, "#api_key", "value").as_deref(),
            Some(""),
            "the key field comes back empty"
        );
    }
    assert!(app.fathom().calls().is_empty(), "Fathom was not called");
    assert_nothing_stored(&rows(&app).await);
}

#[sqlx::test]
async fn members_cannot_connect_or_disconnect(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug) = ada_connected(&app).await;
    let invite = app.invite(&ada, &slug, "member").await;
    let mia = app.browser();
    let page = invite
        .trim_start_matches("http://127.0.0.1:8000")
        .to_owned();
    let token = mia.csrf_token(&page).await;
    mia.post_raw(
        &format!("{page}/signup"),
        &[
            ("csrf_token", token.as_str()),
            ("name", "Mia"),
            ("email", "mia@example.com"),
            ("password", crate::helpers::PASSWORD),
        ],
    )
    .await;
    let (status, html) = mia.get_html(&format!("/o/{slug}/integrations")).await;
    assert_eq!(status, StatusCode::OK, "members may look");
    assert!(html.contains("ada@example.com"));
    assert!(!html.contains(">Connect Fathom<"), "no Connect button");
    assert!(!html.contains("/disconnect"), "no Disconnect button");

    let (status, _) = mia
        .get_html(&format!("/o/{slug}/integrations/fathom/connect"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let token = mia.csrf_token(&format!("/o/{slug}/integrations")).await;
    let response = mia
        .post_raw(
            &format!("/o/{slug}/integrations/fathom/connect"),
            &[
                ("csrf_token", token.as_str()),
                ("fathom_email", "bob@example.com"),
                ("api_key", BOB_FATHOM_KEY),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let id = rows(&app).await[0].id;
    let response = mia
        .post_raw(
            &format!("/o/{slug}/integrations/fathom/connections/{id}/disconnect"),
            &[("csrf_token", token.as_str())],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let stored = rows(&app).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].state, "active");
    assert_eq!(app.fathom().webhooks().len(), 1);
    let (status, _) = mia.get_html(&format!("/o/{slug}/audit")).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the audit log is for owners and admins"
    );
}

#[sqlx::test]
async fn disconnecting_deletes_the_webhook_then_erases_the_secrets(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug) = ada_connected(&app).await;
    let id = rows(&app).await[0].id;
    let webhook_id = app.fathom().webhooks()[0].webhook.id.clone();
    let page = format!("/o/{slug}/integrations");
    let response = ada
        .submit(
            &page,
            &format!("/o/{slug}/integrations/fathom/connections/{id}/disconnect"),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        app.fathom().webhooks().is_empty(),
        "webhook deleted at Fathom"
    );
    let deletes: Vec<_> = app
        .fathom()
        .calls()
        .into_iter()
        .filter(|c| c.method == "DELETE")
        .collect();
    assert_eq!(deletes.len(), 1);
    assert!(
        deletes[0]
            .path
            .ends_with(&format!("/webhooks/{webhook_id}"))
    );

    let stored = rows(&app).await;
    assert_eq!(stored[0].state, "disconnected");
    assert_eq!(stored[0].webhook_cleanup.as_deref(), Some("deleted"));
    assert!(
        stored[0].api_key_ciphertext.is_none() && stored[0].webhook_secret_ciphertext.is_none()
    );
    assert_eq!(
        audit_actions(&app).await,
        ["fathom.connected", "fathom.disconnected"]
    );

    let (_, html) = ada.get_html(&page).await;
    assert!(html.contains("its webhook was deleted at Fathom and the key erased"));
    assert!(html.contains("No Fathom account is connected yet"));
    let gone = select_text(&html, "#fathom-disconnected").unwrap();
    assert!(gone.contains("ada@example.com") && gone.contains("Webhook deleted, key erased"));

    // Disconnecting again is a 404: there is no live connection with that id.
    let response = ada
        .submit(
            &page,
            &format!("/o/{slug}/integrations/fathom/connections/{id}/disconnect"),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test]
async fn a_webhook_already_gone_at_fathom_counts_as_deleted(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug) = ada_connected(&app).await;
    let id = rows(&app).await[0].id;
    let key = secrecy::SecretString::from(ADA_FATHOM_KEY);
    let webhook_id = app.fathom().webhooks()[0].webhook.id.clone();
    app.state
        .fathom
        .delete_webhook(&key, &webhook_id)
        .await
        .unwrap();
    let response = ada
        .submit(
            &format!("/o/{slug}/integrations"),
            &format!("/o/{slug}/integrations/fathom/connections/{id}/disconnect"),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let stored = rows(&app).await;
    assert_eq!(stored[0].state, "disconnected");
    assert_eq!(stored[0].webhook_cleanup.as_deref(), Some("deleted"));
}

#[sqlx::test]
async fn disconnecting_while_fathom_is_down_stops_ingest_retries_then_asks_a_person(db: PgPool) {
    let mut app = spawn_app(db).await;
    let (ada, slug) = ada_connected(&app).await;
    let id = rows(&app).await[0].id;
    let org = debrief::domain::OrgId(
        sqlx::query_scalar("select org_id from fathom_connections")
            .fetch_one(&app.db)
            .await
            .unwrap(),
    );
    app.stop_fathom().await;

    let page = format!("/o/{slug}/integrations");
    let response = ada
        .submit(
            &page,
            &format!("/o/{slug}/integrations/fathom/connections/{id}/disconnect"),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let stored = rows(&app).await;
    assert_eq!(stored[0].state, "disconnecting", "no longer live at once");
    assert_eq!(stored[0].webhook_cleanup.as_deref(), Some("pending"));
    assert!(
        stored[0].api_key_ciphertext.is_some(),
        "kept to retry the deletion"
    );
    let (_, html) = ada.get_html(&page).await;
    assert!(html.contains("Debrief keeps trying"));
    assert!(html.contains("No Fathom account is connected yet"));
    assert!(
        select_text(&html, "#fathom-disconnected")
            .unwrap()
            .contains("still trying")
    );

    // The worker retries when due; the test settings allow 3 attempts in all.
    for attempt in 2..=3 {
        sqlx::query("update fathom_connections set webhook_cleanup_next_at = now()")
            .execute(&app.db)
            .await
            .unwrap();
        assert_eq!(
            retry_due_webhook_cleanups(&app.state).await.unwrap(),
            1,
            "attempt {attempt}"
        );
    }
    assert_eq!(
        retry_due_webhook_cleanups(&app.state).await.unwrap(),
        0,
        "nothing left to retry"
    );
    let stored = rows(&app).await;
    assert_eq!(stored[0].state, "disconnected");
    assert_eq!(stored[0].webhook_cleanup.as_deref(), Some("abandoned"));
    assert!(
        stored[0].api_key_ciphertext.is_none() && stored[0].webhook_secret_ciphertext.is_none()
    );
    let (_, html) = ada.get_html(&page).await;
    let gone = select_text(&html, "#fathom-disconnected").unwrap();
    assert!(
        gone.contains(&format!(
            "Fathom did not delete this key's webhook, which delivers to {}",
            debrief::integrations::fathom_connections::webhook_url(&app.state, org)
        )),
        "{gone}"
    );
    assert!(gone.contains("Settings → API Access → Manage"));
    assert_eq!(
        audit_actions(&app).await,
        [
            "fathom.connected",
            "fathom.disconnected",
            "fathom.webhook_cleanup_abandoned"
        ]
    );
}

#[sqlx::test]
async fn a_webhook_deletion_that_fails_once_succeeds_on_the_background_retry(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug) = ada_connected(&app).await;
    let id = rows(&app).await[0].id;
    let mut fault = Fault::status(503, 1);
    fault.path_prefix = Some("/external/v1/webhooks".into());
    app.fathom().inject_fault(fault).unwrap();
    ada.submit(
        &format!("/o/{slug}/integrations"),
        &format!("/o/{slug}/integrations/fathom/connections/{id}/disconnect"),
        &[],
    )
    .await;
    assert_eq!(rows(&app).await[0].state, "disconnecting");
    assert_eq!(app.fathom().webhooks().len(), 1);
    assert_eq!(
        retry_due_webhook_cleanups(&app.state).await.unwrap(),
        0,
        "not due yet"
    );

    sqlx::query("update fathom_connections set webhook_cleanup_next_at = now()")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(retry_due_webhook_cleanups(&app.state).await.unwrap(), 1);
    assert!(app.fathom().webhooks().is_empty());
    let stored = rows(&app).await;
    assert_eq!(stored[0].state, "disconnected");
    assert_eq!(stored[0].webhook_cleanup.as_deref(), Some("deleted"));
}

#[sqlx::test]
async fn two_members_connect_their_own_keys_each_with_its_own_webhook(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug) = ada_connected(&app).await;
    let invite = app.invite(&ada, &slug, "admin").await;
    let bob = app.browser();
    let page = invite
        .trim_start_matches("http://127.0.0.1:8000")
        .to_owned();
    let token = bob.csrf_token(&page).await;
    bob.post_raw(
        &format!("{page}/signup"),
        &[
            ("csrf_token", token.as_str()),
            ("name", "Bob"),
            ("email", "bob@example.com"),
            ("password", crate::helpers::PASSWORD),
        ],
    )
    .await;
    let response = app
        .connect_fathom(&bob, &slug, "bob@example.com", BOB_FATHOM_KEY)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let stored = rows(&app).await;
    assert_eq!(stored.len(), 2);
    assert!(stored.iter().all(|r| r.state == "active"));
    let hooks = app.fathom().webhooks();
    assert_eq!(hooks.len(), 2);
    assert_ne!(hooks[0].webhook.id, hooks[1].webhook.id);
    assert_ne!(hooks[0].webhook.secret, hooks[1].webhook.secret);
    assert_eq!(
        hooks[0].webhook.url, hooks[1].webhook.url,
        "one URL per org"
    );
    let (_, html) = ada.get_html(&format!("/o/{slug}/integrations")).await;
    let rows_text = select_texts(&html, "#fathom-connections tbody tr");
    assert_eq!(rows_text.len(), 2);
    assert!(rows_text[1].contains("bob@example.com") && rows_text[1].contains("by Bob"));
}

#[sqlx::test]
async fn connecting_the_same_fathom_user_again_replaces_the_old_connection(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug) = ada_connected(&app).await;
    let old_hook = app.fathom().webhooks()[0].webhook.id.clone();
    let response = app
        .connect_fathom(&ada, &slug, "ADA@example.com", ADA_FATHOM_KEY)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let hooks = app.fathom().webhooks();
    assert_eq!(hooks.len(), 1, "the old webhook is deleted");
    assert_ne!(hooks[0].webhook.id, old_hook);
    let stored = rows(&app).await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].state, "disconnected");
    assert!(stored[0].api_key_ciphertext.is_none());
    assert_eq!(stored[1].state, "active");
    assert_eq!(
        stored[1].webhook_id.as_deref(),
        Some(hooks[0].webhook.id.as_str())
    );
    assert_eq!(
        audit_actions(&app).await,
        ["fathom.connected", "fathom.key_replaced"]
    );
    let (_, html) = ada.get_html(&format!("/o/{slug}/integrations")).await;
    assert!(html.contains("the new key replaces the old one"));

    // The same key pasted under another email is refused at first (its meetings are recorded by
    // ada@example.com); vouched for, it is the same Fathom user and replaces the connection.
    let response = app
        .connect_fathom(&ada, &slug, "ada.other@example.com", ADA_FATHOM_KEY)
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = format!("/o/{slug}/integrations/fathom/connect");
    let response = ada
        .submit(
            &page,
            &page,
            &[
                ("fathom_email", "ada.other@example.com"),
                ("api_key", ADA_FATHOM_KEY),
                ("no_recordings_yet", "on"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let live: Vec<_> = rows(&app)
        .await
        .into_iter()
        .filter(|r| r.state == "active")
        .collect();
    assert_eq!(live.len(), 1);
    assert_eq!(app.fathom().webhooks().len(), 1);
}

#[sqlx::test]
async fn keys_and_webhook_secrets_are_only_ciphertext_in_the_database_and_never_shown_or_logged(
    db: PgPool,
) {
    let app = spawn_app(db).await;
    let (ada, slug) = ada_connected(&app).await;
    let secret = app.fathom().webhooks()[0].webhook.secret.clone();
    let row = &rows(&app).await[0];
    let org = OrgId(app.org_id(&slug).await);

    let key_ct = row.api_key_ciphertext.clone().unwrap();
    let secret_ct = row.webhook_secret_ciphertext.clone().unwrap();
    for ct in [&key_ct, &secret_ct] {
        assert!(ct.starts_with("v1:test1:"), "{ct}");
        assert!(!ct.contains(ADA_FATHOM_KEY) && !ct.contains(&secret));
    }
    let raw_row: String =
        sqlx::query_scalar("select row_to_json(c)::text from fathom_connections c")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(!raw_row.contains(ADA_FATHOM_KEY) && !raw_row.contains(&secret));
    // They decrypt only under their own binding.
    let binding = |field| Binding {
        org_id: org,
        record_id: row.id,
        field,
    };
    let key = app
        .state
        .crypto
        .decrypt(&key_ct, binding(API_KEY_FIELD))
        .unwrap();
    assert_eq!(key.expose_secret(), ADA_FATHOM_KEY);
    let ws = app
        .state
        .crypto
        .decrypt(&secret_ct, binding(WEBHOOK_SECRET_FIELD))
        .unwrap();
    assert_eq!(ws.expose_secret(), secret);
    assert!(
        app.state
            .crypto
            .decrypt(&key_ct, binding(WEBHOOK_SECRET_FIELD))
            .is_err()
    );

    let mut seen = String::new();
    for page in [
        format!("/o/{slug}/"),
        format!("/o/{slug}/integrations"),
        format!("/o/{slug}/integrations/fathom/connect"),
        format!("/o/{slug}/audit"),
    ] {
        let (status, html) = ada.get_html(&page).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.push_str(&html);
    }
    // A failing connect attempt with the right key (Fathom down for webhooks) must not echo it.
    let mut fault = Fault::status(500, 1);
    fault.path_prefix = Some("/external/v1/webhooks".into());
    app.fathom().inject_fault(fault).unwrap();
    let failed = app
        .connect_fathom(&ada, &slug, "ada@example.com", ADA_FATHOM_KEY)
        .await;
    seen.push_str(&failed.text().await.unwrap());
    assert!(seen.contains("fath…0001"), "the masked key is shown");
    assert!(
        !seen.contains(ADA_FATHOM_KEY),
        "the key never appears in a page"
    );
    assert!(
        !seen.contains(&secret),
        "the webhook secret never appears in a page"
    );
    let logs = captured_logs();
    assert!(!logs.contains(ADA_FATHOM_KEY), "the key is never logged");
    assert!(
        !logs.contains(&secret),
        "the webhook secret is never logged"
    );
    let secret_body = secret.trim_start_matches("whsec_");
    assert!(!logs.contains(secret_body));
}

#[sqlx::test]
async fn the_page_warns_when_fathom_cannot_reach_the_webhook_url(db: PgPool) {
    let app = spawn_app(db.clone()).await;
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let (_, html) = ada.get_html(&format!("/o/{slug}/integrations")).await;
    let warning = select_text(&html, "#webhook-warning").expect("warning shown");
    assert!(warning.contains("not a public https URL"), "{warning}");

    let mut settings = test_settings();
    settings.application.base_url = "https://debrief.example.com".parse().unwrap();
    let public = spawn_app_with(db, settings).await;
    let (ada2, slug2) = public.signup("Ada", "ada2@example.com", "Acme Two").await;
    let (_, html) = ada2.get_html(&format!("/o/{slug2}/integrations")).await;
    assert!(select_text(&html, "#webhook-warning").is_none());
    assert!(
        html.contains("<h1>Integrations</h1>"),
        "page rendered: {html}"
    );
}

#[sqlx::test]
async fn the_audit_log_shows_who_did_what(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug) = ada_connected(&app).await;
    let id = rows(&app).await[0].id;
    ada.submit(
        &format!("/o/{slug}/integrations"),
        &format!("/o/{slug}/integrations/fathom/connections/{id}/disconnect"),
        &[],
    )
    .await;
    let (status, html) = ada.get_html(&format!("/o/{slug}/audit")).await;
    assert_eq!(status, StatusCode::OK);
    let events = select_texts(&html, "#audit-events tbody tr");
    assert_eq!(events.len(), 2);
    assert!(events[0].contains("Disconnected Fathom") && events[0].contains("Ada"));
    assert!(events[1].contains("Connected Fathom") && events[1].contains("ada@example.com"));
    assert!(events[1].contains("fath…0001"));
}

/// Every webhook registered at the simulator belongs to a live connection Debrief stored.
async fn no_orphan_webhooks(app: &TestApp) {
    let stored: Vec<String> = sqlx::query_scalar(
        "select webhook_id from fathom_connections where state in ('active', 'needs_reconnect')",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    for webhook in app.fathom().webhooks() {
        assert!(
            stored.contains(&webhook.webhook.id),
            "webhook {} at Fathom has no stored connection (stored: {stored:?})",
            webhook.webhook.id
        );
    }
}

#[sqlx::test]
async fn a_connect_request_cut_off_mid_way_leaves_no_orphan_webhook(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let page = format!("/o/{slug}/integrations/fathom/connect");
    let token = ada.csrf_token(&page).await;
    // Fathom is slow to register the webhook; the browser gives up before it answers.
    let mut slow = Fault::slow(1_500, 1);
    slow.path_prefix = Some("/external/v1/webhooks".into());
    app.fathom().inject_fault(slow).unwrap();
    let cut_off = ada
        .client
        .post(format!("{}{page}", ada.base))
        .form(&[
            ("csrf_token", token.as_str()),
            ("fathom_email", "ada@example.com"),
            ("api_key", ADA_FATHOM_KEY),
        ])
        .timeout(std::time::Duration::from_millis(400))
        .send()
        .await;
    assert!(cut_off.is_err(), "the request was cut off");

    // Fathom created the webhook meanwhile; Debrief finishes the connect it started.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.count("fathom_pending_webhooks").await > 0 || app.fathom().webhooks().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the connect never settled"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(app.fathom().webhooks().len(), 1);
    no_orphan_webhooks(&app).await;
    assert_eq!(rows(&app).await.len(), 1, "the connection was stored");
}

#[sqlx::test]
async fn a_webhook_left_by_a_connect_that_died_is_deleted_by_the_worker(db: PgPool) {
    let app = spawn_app(db).await;
    let (_ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let org = OrgId(app.org_id(&slug).await);
    // A connect registered this webhook, then its process died before storing the connection.
    let key = secrecy::SecretString::from(ADA_FATHOM_KEY);
    let created = app
        .state
        .fathom
        .create_webhook(
            &key,
            &debrief::fathom::types::CreateWebhook {
                destination_url: format!(
                    "{}/api/integrations/fathom/webhook/{}",
                    app.address, org.0
                ),
                triggered_for: debrief::fathom::types::TriggeredFor::all(),
                include_transcript: true,
                include_summary: true,
                include_action_items: true,
                include_crm_matches: false,
            },
        )
        .await
        .unwrap();
    let connection = debrief::domain::FathomConnectionId::new();
    let ciphertext = app
        .state
        .crypto
        .encrypt(
            &key,
            Binding {
                org_id: org,
                record_id: connection.0,
                field: API_KEY_FIELD,
            },
        )
        .unwrap();
    debrief::db::fathom_pending_webhooks::insert(&app.db, org, connection, &ciphertext)
        .await
        .unwrap();
    debrief::db::fathom_pending_webhooks::set_webhook_id(&app.db, org, connection, &created.id)
        .await
        .unwrap();
    assert_eq!(app.fathom().webhooks().len(), 1);

    retry_due_webhook_cleanups(&app.state).await.unwrap();
    assert_eq!(
        app.fathom().webhooks().len(),
        1,
        "a registration still under way is left alone"
    );
    sqlx::query("update fathom_pending_webhooks set started_at = now() - interval '10 minutes'")
        .execute(&app.db)
        .await
        .unwrap();
    retry_due_webhook_cleanups(&app.state).await.unwrap();
    assert!(app.fathom().webhooks().is_empty(), "the orphan is deleted");
    assert_eq!(app.count("fathom_pending_webhooks").await, 0);
}

/// Fathom has no "who am I": a key pasted under the wrong email (the prefilled Debrief one, say)
/// would file someone else's meetings under this person. The key must see meetings recorded by
/// the email given; if it does not, the form names who recorded what it sees, stores nothing and
/// registers no webhook.
#[sqlx::test]
async fn a_key_that_sees_no_meetings_recorded_by_the_email_given_is_refused_naming_its_recorders(
    db: PgPool,
) {
    let app = spawn_app(db).await;
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    // Bob's key, under Ada's (prefilled) email.
    let response = app
        .connect_fathom(&ada, &slug, "ada@example.com", BOB_FATHOM_KEY)
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    let error = select_text(&html, "#connect-error").unwrap_or_default();
    assert!(
        error.contains("no meetings recorded by ada@example.com")
            && error.contains("recorded by bob@example.com"),
        "{error}"
    );
    assert!(
        html.contains("name=\"no_recordings_yet\""),
        "the override is offered"
    );
    assert!(
        !html.contains(BOB_FATHOM_KEY),
        "the key is never shown back"
    );
    assert!(rows(&app).await.is_empty(), "nothing stored");
    assert!(app.fathom().webhooks().is_empty(), "no webhook registered");

    // With Bob's own email it connects, under Bob.
    let response = app
        .connect_fathom(&ada, &slug, "bob@example.com", BOB_FATHOM_KEY)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let stored = rows(&app).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].fathom_user_email, "bob@example.com");
    assert_eq!(app.fathom().webhooks().len(), 1);
}

/// A brand-new Fathom account sees no meetings at all: nothing contradicts the email, so it connects.
#[sqlx::test]
async fn a_key_that_sees_no_meetings_at_all_connects_under_the_email_given(db: PgPool) {
    let fathom = debrief::sim::fathom::FathomSim::new(vec![debrief::sim::fathom::SimUser::new(
        "new-account-key-1",
        "Nia New",
        "nia@example.com",
        "example.com",
        0,
    )]);
    let app = crate::helpers::spawn_app_with_fathom(db, test_settings(), fathom, true).await;
    let (nia, slug) = app.signup("Nia", "nia@example.com", "Acme").await;
    let response = app
        .connect_fathom(&nia, &slug, "nia@example.com", "new-account-key-1")
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(rows(&app).await.len(), 1);
}
