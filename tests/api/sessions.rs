//! Sessions end when they should: logout is final even for a request still running, ids are stored
//! hashed, sessions have an absolute lifetime, unchanged sessions are not rewritten on every poll,
//! and the CSRF token changes at sign-in.

use std::str::FromStr;

use debrief::auth::session_store::{PgSessionStore, stored_id};
use reqwest::StatusCode;
use sqlx::PgPool;
use tower_sessions::SessionStore;
use tower_sessions::session::Id;

use crate::helpers::{PASSWORD, TestApp, location, select_attr, session_set_cookie, spawn_app};

/// The session id inside a signed session cookie (`name=<44 chars of MAC><id>; …`).
fn cookie_session_id(set_cookie: &str) -> Id {
    let value = set_cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map(|(_, v)| v)
        .expect("a cookie value");
    Id::from_str(&value[44..]).expect("a session id after the signature")
}

/// Ada signs up; returns her browser, org slug and session id.
async fn ada(app: &TestApp) -> (crate::helpers::Browser, String, Id) {
    let browser = app.browser();
    let response = browser
        .signup("Ada", "ada@example.com", PASSWORD, "Acme")
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let slug = location(&response)
        .trim_start_matches("/o/")
        .trim_end_matches('/')
        .to_owned();
    let id = cookie_session_id(&session_set_cookie(&response).expect("a session cookie"));
    (browser, slug, id)
}

async fn stored(app: &TestApp, id: &Id) -> i64 {
    sqlx::query_scalar("select count(*) from sessions where id = $1")
        .bind(stored_id(id))
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[sqlx::test]
async fn a_request_that_finishes_after_logout_does_not_bring_the_session_back(db: PgPool) {
    let app = spawn_app(db).await;
    let (browser, slug, id) = ada(&app).await;
    let store = PgSessionStore::new(app.db.clone(), app.state.settings.session_max_age());
    // A progress poll loads the session, then the person logs out in another tab, then the poll
    // finishes and saves what it loaded.
    let mut loaded = store.load(&id).await.unwrap().expect("a live session");
    assert_eq!(
        browser.logout(&format!("/o/{slug}/")).await.status(),
        StatusCode::SEE_OTHER
    );
    loaded.expiry_date += time::Duration::hours(1);
    store.save(&loaded).await.unwrap();

    assert_eq!(
        stored(&app, &id).await,
        0,
        "the logged-out session stays gone"
    );
    let response = browser.get(&format!("/o/{slug}/")).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).starts_with("/login"));
}

#[sqlx::test]
async fn session_ids_are_stored_only_as_their_sha256(db: PgPool) {
    let app = spawn_app(db).await;
    let (_, _, id) = ada(&app).await;
    let ids: Vec<String> = sqlx::query_scalar("select id from sessions")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert!(!ids.is_empty());
    assert!(
        ids.iter()
            .all(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())),
        "{ids:?}"
    );
    assert!(
        !ids.contains(&id.to_string()),
        "the cookie's id is not stored"
    );
    assert!(ids.contains(&stored_id(&id)));
}

#[sqlx::test]
async fn a_session_ends_after_its_absolute_lifetime_however_active(db: PgPool) {
    let app = spawn_app(db).await;
    let (browser, slug, _) = ada(&app).await;
    let home = format!("/o/{slug}/");
    assert_eq!(browser.get(&home).await.status(), StatusCode::OK);
    let hours = app.state.settings.application.session_absolute_hours;
    sqlx::query(
        "update sessions set created_at = now() - make_interval(hours => $1) - interval '1 minute'",
    )
    .bind(i32::try_from(hours).unwrap())
    .execute(&app.db)
    .await
    .unwrap();
    let response = browser.get(&home).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).starts_with("/login"));
}

#[sqlx::test]
async fn an_unchanged_session_is_written_at_most_once_a_minute(db: PgPool) {
    let app = spawn_app(db).await;
    let (browser, slug, id) = ada(&app).await;
    let expiry = || async {
        sqlx::query_scalar::<_, chrono::DateTime<chrono::Utc>>(
            "select expiry_date from sessions where id = $1",
        )
        .bind(stored_id(&id))
        .fetch_one(&app.db)
        .await
        .unwrap()
    };
    // The first visit changes the session (the welcome flash is shown, the org remembered).
    browser.get(&format!("/o/{slug}/")).await;
    let first = expiry().await;
    for _ in 0..3 {
        assert_eq!(
            browser.get(&format!("/o/{slug}/")).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(expiry().await, first, "polls within a minute write nothing");

    sqlx::query("update sessions set expiry_date = expiry_date - interval '2 minutes'")
        .execute(&app.db)
        .await
        .unwrap();
    browser.get(&format!("/o/{slug}/")).await;
    assert!(
        expiry().await > first - chrono::Duration::minutes(1),
        "a request over a minute later extends the session"
    );
}

#[sqlx::test]
async fn the_csrf_token_changes_at_login_and_the_old_one_is_refused(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada_browser, slug, _) = ada(&app).await;
    ada_browser.logout(&format!("/o/{slug}/")).await;

    let browser = app.browser();
    let before = browser.csrf_token("/login").await;
    let response = browser
        .post_raw(
            "/login",
            &[
                ("csrf_token", &before),
                ("email", "ada@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = browser.get_html(&format!("/o/{slug}/")).await.1;
    let after = select_attr(&page, r#"meta[name="csrf-token"]"#, "content").unwrap();
    assert_ne!(before, after, "a new token after sign-in");
    let with_old = browser
        .post_raw("/logout", &[("csrf_token", before.as_str())])
        .await;
    assert_eq!(with_old.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        browser.get(&format!("/o/{slug}/")).await.status(),
        StatusCode::OK,
        "the refused request did nothing"
    );
}
