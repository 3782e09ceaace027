//! `debrief rotate-keys`: every stored secret moves to the newest master key, after which the old
//! key can leave the ring.

use debrief::crypto::{API_KEY_FIELD, WEBHOOK_SECRET_FIELD};
use debrief::crypto::{Binding, KeyRing};
use debrief::domain::OrgId;
use debrief::rotate_keys::rotate_keys;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

use crate::helpers::{ADA_FATHOM_KEY, BOB_FATHOM_KEY, spawn_app};

#[sqlx::test]
async fn rotation_re_encrypts_every_secret_and_the_old_key_can_then_be_dropped(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, a) = app.signup("Ada", "ada@example.com", "Acme").await;
    let (bob, b) = app.signup("Bob", "bob@example.com", "Bobco").await;
    for (browser, slug, email, key) in [
        (&ada, &a, "ada@example.com", ADA_FATHOM_KEY),
        (&bob, &b, "bob@example.com", BOB_FATHOM_KEY),
    ] {
        let response = app.connect_fathom(browser, slug, email, key).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
    let old_spec = app
        .state
        .settings
        .secrets
        .master_keys
        .clone()
        .expect("test settings give a ring");
    let new_spec = KeyRing::generate_spec("test2");
    let both = KeyRing::parse(&SecretString::from(format!(
        "{new_spec},{}",
        old_spec.expose_secret()
    )))
    .unwrap();

    let report = rotate_keys(&app.db, &both).await.unwrap();
    assert_eq!(report.rows_seen, 2);
    assert_eq!(report.secrets_rotated, 4);
    assert!(report.failures.is_empty());

    let new_only = KeyRing::parse(&SecretString::from(new_spec)).unwrap();
    let rows: Vec<(uuid::Uuid, uuid::Uuid, String, String)> = sqlx::query_as(
        "select org_id, id, api_key_ciphertext, webhook_secret_ciphertext from fathom_connections",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let secrets: Vec<String> = app
        .fathom()
        .webhooks()
        .into_iter()
        .map(|w| w.webhook.secret)
        .collect();
    for (org, id, key_ct, secret_ct) in rows {
        assert!(key_ct.starts_with("v1:test2:") && secret_ct.starts_with("v1:test2:"));
        let binding = |field| Binding {
            org_id: OrgId(org),
            record_id: id,
            field,
        };
        let key = new_only.decrypt(&key_ct, binding(API_KEY_FIELD)).unwrap();
        assert!([ADA_FATHOM_KEY, BOB_FATHOM_KEY].contains(&key.expose_secret()));
        let secret = new_only
            .decrypt(&secret_ct, binding(WEBHOOK_SECRET_FIELD))
            .unwrap();
        assert!(secrets.contains(&secret.expose_secret().to_owned()));
    }

    let again = rotate_keys(&app.db, &both).await.unwrap();
    assert_eq!(again.secrets_rotated, 0, "a second run changes nothing");

    let audited: Vec<(uuid::Uuid, Option<uuid::Uuid>)> = sqlx::query_as(
        "select org_id, actor_id from audit_events where action = 'secrets.rotated' order by org_id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(audited.len(), 2, "one event per org");
    assert!(
        audited.iter().all(|(_, actor)| actor.is_none()),
        "done by the system"
    );
    let (_, html) = ada.get_html(&format!("/o/{a}/audit")).await;
    assert!(html.contains("Re-encrypted secrets with a new master key"));
    assert!(html.contains("Debrief (system)"));
}

#[sqlx::test]
async fn rotation_without_the_old_key_reports_the_rows_it_cannot_read_and_changes_nothing(
    db: PgPool,
) {
    let app = spawn_app(db).await;
    let (ada, a) = app.signup("Ada", "ada@example.com", "Acme").await;
    app.connect_fathom(&ada, &a, "ada@example.com", ADA_FATHOM_KEY)
        .await;
    let before: String = sqlx::query_scalar("select api_key_ciphertext from fathom_connections")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let stranger = KeyRing::parse(&SecretString::from(KeyRing::generate_spec("other"))).unwrap();
    let report = rotate_keys(&app.db, &stranger).await.unwrap();
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.secrets_rotated, 0);
    let after: String = sqlx::query_scalar("select api_key_ciphertext from fathom_connections")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(before, after);
    assert!(!report.failures[0].contains(ADA_FATHOM_KEY));
}

#[sqlx::test]
async fn rotation_covers_crm_tokens_which_keep_working_under_the_new_key(db: PgPool) {
    use debrief::crypto::{CRM_ACCESS_TOKEN_FIELD, CRM_REFRESH_TOKEN_FIELD};
    let app = spawn_app(db).await;
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    app.connect_crm(&ada, &slug, "hubspot").await;
    let org = OrgId(app.org_id(&slug).await);
    let id = app.crm_connection(org, "hubspot").await;
    let read = || async {
        sqlx::query_as::<_, (String, String)>(
            "select access_token_ciphertext, refresh_token_ciphertext from crm_connections where id = $1",
        )
        .bind(id.0)
        .fetch_one(&app.db)
        .await
        .unwrap()
    };
    let (access_before, refresh_before) = read().await;
    let old = app.state.settings.secrets.master_keys.clone().unwrap();
    let new_spec = KeyRing::generate_spec("test2");
    let both = KeyRing::parse(&SecretString::from(format!(
        "{new_spec},{}",
        old.expose_secret()
    )))
    .unwrap();
    let report = rotate_keys(&app.db, &both).await.unwrap();
    assert_eq!((report.rows_seen, report.secrets_rotated), (1, 2));
    let (access, refresh) = read().await;
    let new_only = KeyRing::parse(&SecretString::from(new_spec)).unwrap();
    let binding = |field| Binding {
        org_id: org,
        record_id: id.0,
        field,
    };
    let old_ring = KeyRing::parse(&old).unwrap();
    for (before, after, field) in [
        (&access_before, &access, CRM_ACCESS_TOKEN_FIELD),
        (&refresh_before, &refresh, CRM_REFRESH_TOKEN_FIELD),
    ] {
        assert!(after.starts_with("v1:test2:"), "{after}");
        assert_eq!(
            new_only
                .decrypt(after, binding(field))
                .unwrap()
                .expose_secret(),
            old_ring
                .decrypt(before, binding(field))
                .unwrap()
                .expose_secret(),
            "{field} is the same token under the new key"
        );
    }
    // Bound to its field: the access token's ciphertext does not open as the refresh token.
    assert!(
        new_only
            .decrypt(&access, binding(CRM_REFRESH_TOKEN_FIELD))
            .is_err()
    );
}
