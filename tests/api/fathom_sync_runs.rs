//! The sync health pages as people use them: Integrations rows, a connection's runs, *Sync now*
//! (once, however often it is pressed), live progress for htmx, the org-home banner when Fathom
//! rejects a key, and replaying failed webhook events.

use debrief::db::fathom_events::NewEvent;
use debrief::domain::{FathomConnectionId, OrgId};
use debrief::sim::fathom::Fault;
use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{
    ADA_FATHOM_KEY, Browser, TestApp, location, select_attr, select_text, select_texts, spawn_app,
};

/// Ada's org with her Fathom connected and its initial sync finished.
async fn connected(app: &TestApp) -> (Browser, String, uuid::Uuid) {
    let ada = app.ada_with_fathom().await;
    app.wait_for_jobs().await;
    (ada.browser, ada.slug, ada.connection.0)
}

async fn open_runs(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from fathom_sync_runs where state in ('queued', 'running')")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[sqlx::test]
async fn the_first_sync_shows_on_the_integrations_page_and_the_connections_history(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug, connection) = connected(&app).await;

    let (status, page) = ada.get_html(&format!("/o/{slug}/integrations")).await;
    assert_eq!(status, StatusCode::OK);
    let row = format!(r#"tr[data-connection="{connection}"]"#);
    assert_eq!(
        select_text(&page, &format!("{row} .state")).as_deref(),
        Some("Active")
    );
    let last = select_text(&page, &format!("{row} .last-success")).unwrap();
    assert!(last.ends_with("UTC"), "a time, not 'none yet': {last}");

    let (status, page) = ada
        .get_html(&format!(
            "/o/{slug}/integrations/fathom/connections/{connection}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    let runs = select_texts(&page, "#sync-runs tbody tr");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(runs[0].contains("First sync") && runs[0].contains("Succeeded"));
    assert_eq!(
        select_attr(&page, "#sync-runs tbody tr", "data-state").as_deref(),
        Some("succeeded")
    );
    assert!(
        select_text(&page, "#next-sync").unwrap().ends_with("UTC"),
        "the next hourly sync is scheduled"
    );
}

#[sqlx::test]
async fn sync_now_starts_one_run_and_pressing_again_during_it_shows_that_run(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug, connection) = connected(&app).await;
    // Fathom answers slowly, so the run is still open when the button is pressed again.
    app.fathom()
        .inject_fault(Fault::slow(1500, 1).for_key(ADA_FATHOM_KEY))
        .unwrap();
    let page = format!("/o/{slug}/integrations/fathom/connections/{connection}");
    let action = format!("{page}/sync");
    let first = ada.submit(&page, &action, &[("backfill_days", "30")]).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let run_page = location(&first);
    let second = ada.submit(&page, &action, &[("backfill_days", "")]).await;
    assert_eq!(location(&second), run_page, "the open run is shown again");
    assert_eq!(open_runs(&app).await, 1);
    let (_, html) = ada.get_html(&run_page).await;
    assert!(
        html.contains("already running"),
        "the person is told nothing new started"
    );

    // While open, the progress block asks htmx to refresh it; htmx gets the block alone.
    let partial = ada
        .client
        .get(format!("{}{run_page}", ada.base))
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!partial.contains("<html"), "only the progress block");
    let state = select_attr(&partial, ".sync-run", "data-state").unwrap();
    if state == "queued" || state == "running" {
        assert!(select_attr(&partial, ".sync-run", "hx-get").is_some());
    }

    app.wait_for_jobs().await;
    let (_, html) = ada.get_html(&run_page).await;
    assert_eq!(
        select_attr(&html, ".sync-run", "data-state").as_deref(),
        Some("succeeded")
    );
    assert!(
        select_attr(&html, ".sync-run", "hx-get").is_none(),
        "a finished run stops refreshing"
    );
    assert_eq!(select_text(&html, ".run-pages").as_deref(), Some("1"));
    assert_eq!(
        select_text(&html, ".run-unchanged").as_deref(),
        Some("5"),
        "a 30-day backfill lists Ada's five meetings again, which the initial sync stored"
    );
    let runs: i64 =
        sqlx::query_scalar("select count(*) from fathom_sync_runs where source = 'manual'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(runs, 1);
}

#[sqlx::test]
async fn a_backfill_outside_the_offered_choices_is_refused_and_starts_nothing(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug, connection) = connected(&app).await;
    let page = format!("/o/{slug}/integrations/fathom/connections/{connection}");
    let response = ada
        .submit(
            &page,
            &format!("{page}/sync"),
            &[("backfill_days", "100000")],
        )
        .await;
    assert_eq!(location(&response), page);
    let (_, html) = ada.get_html(&page).await;
    assert!(html.contains("Choose one of the offered backfill periods"));
    assert_eq!(open_runs(&app).await, 0);
    let manual: i64 =
        sqlx::query_scalar("select count(*) from fathom_sync_runs where source = 'manual'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(manual, 0);
}

#[sqlx::test]
async fn a_rejected_key_puts_a_banner_on_the_org_home_and_stops_sync_now(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug, connection) = connected(&app).await;
    app.fathom()
        .inject_fault(Fault::status(401, 1).for_key(ADA_FATHOM_KEY))
        .unwrap();
    let page = format!("/o/{slug}/integrations/fathom/connections/{connection}");
    ada.submit(&page, &format!("{page}/sync"), &[("backfill_days", "")])
        .await;
    app.wait_for_jobs().await;

    let (_, home) = ada.get_html(&format!("/o/{slug}/")).await;
    let banner = select_text(&home, &format!(r#"[data-attention="{connection}"]"#))
        .expect("the org home warns");
    assert!(banner.contains("rejected the API key"), "{banner}");
    let (_, html) = ada.get_html(&page).await;
    assert_eq!(
        select_text(&html, "#connection-state").as_deref(),
        Some("Needs reconnect")
    );
    assert!(select_text(&html, "#reconnect-prompt").is_some());
    assert!(select_attr(&html, "#sync-now", "action").is_none());
    assert_eq!(
        select_attr(&html, "#sync-runs tbody tr", "data-state").as_deref(),
        Some("failed"),
        "the failed run is never shown as a success"
    );

    // Pressing Sync now anyway (an old tab) starts nothing.
    let before: i64 = app.count("fathom_sync_runs").await;
    let response = ada
        .submit(&format!("/o/{slug}/"), &format!("{page}/sync"), &[])
        .await;
    assert_eq!(location(&response), page);
    assert_eq!(app.count("fathom_sync_runs").await, before);
}

#[sqlx::test]
async fn owners_replay_failed_webhook_events_and_members_cannot(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug, connection) = connected(&app).await;
    let org = OrgId(app.org_id(&slug).await);
    // A delivery that failed earlier (for example before a parser fix) and is fine now.
    let body = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/fathom/meeting_full.json"),
    )
    .unwrap();
    let mut conn = app.db.acquire().await.unwrap();
    let event = debrief::db::fathom_events::insert(
        &mut conn,
        org,
        &NewEvent {
            webhook_id: "msg_failed_once",
            connection_id: FathomConnectionId(connection),
            body: &body,
            recording_id: Some(118204733),
            error: Some("the body is not a Fathom meeting: (an old parser bug)"),
        },
    )
    .await
    .unwrap()
    .unwrap();
    drop(conn);

    let (_, page) = ada.get_html(&format!("/o/{slug}/integrations")).await;
    let row = format!(r#"tr[data-event="{event}"]"#);
    assert!(
        select_text(&page, &row)
            .unwrap()
            .contains("an old parser bug")
    );
    let replay = format!("/o/{slug}/integrations/fathom/events/{event}/replay");

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
    let (_, member_view) = mia.get_html(&format!("/o/{slug}/integrations")).await;
    assert!(select_text(&member_view, &row).is_some());
    assert!(
        select_attr(
            &member_view,
            &format!(r#"form[action="{replay}"]"#),
            "action"
        )
        .is_none(),
        "members see failures but cannot replay"
    );
    let token = mia.csrf_token(&format!("/o/{slug}/integrations")).await;
    let refused = mia.post_raw(&replay, &[("csrf_token", &token)]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let response = ada
        .submit(&format!("/o/{slug}/integrations"), &replay, &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    app.wait_for_jobs().await;
    let state: String = sqlx::query_scalar("select state from fathom_events where id = $1")
        .bind(event)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(state, "processed");
    let meetings: i64 =
        sqlx::query_scalar("select count(*) from meetings where recording_id = 118204733")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(meetings, 1);
    // Replaying it again is a 404: only failed events can be replayed.
    let again = ada
        .submit(&format!("/o/{slug}/integrations"), &replay, &[])
        .await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

/// A member joins Ada's org through an invite link; returns their browser.
async fn member_joins(
    app: &TestApp,
    ada: &Browser,
    slug: &str,
    name: &str,
    email: &str,
) -> Browser {
    let invite = app.invite(ada, slug, "member").await;
    let browser = app.browser();
    let joined = browser
        .submit(
            &invite,
            &format!("{invite}/signup"),
            &[
                ("name", name),
                ("email", email),
                ("password", crate::helpers::PASSWORD),
            ],
        )
        .await;
    assert_eq!(joined.status(), StatusCode::SEE_OTHER);
    browser
}

#[sqlx::test]
async fn any_member_syncs_the_normal_window_but_wide_backfills_are_for_managers_and_the_keys_owner(
    db: PgPool,
) {
    let app = spawn_app(db).await;
    let (ada, slug, connection) = connected(&app).await;
    let mia = member_joins(&app, &ada, &slug, "Mia", "mia@example.com").await;
    let page = format!("/o/{slug}/integrations/fathom/connections/{connection}");
    let sync = format!("{page}/sync");
    let runs = || async { app.count("fathom_sync_runs").await };

    // The member sees only the backfills within the first sync's window.
    let (_, member_page) = mia.get_html(&page).await;
    let offered = select_texts(&member_page, "#sync-now option");
    assert_eq!(
        offered,
        vec![
            "Since the last successful sync",
            "Backfill the last 7 days",
            "Backfill the last 30 days"
        ]
    );
    let before = runs().await;
    let wide = mia.submit(&page, &sync, &[("backfill_days", "365")]).await;
    assert_eq!(wide.status(), StatusCode::FORBIDDEN);
    assert_eq!(runs().await, before, "a refused backfill opens no run");

    let normal = mia.submit(&page, &sync, &[("backfill_days", "")]).await;
    assert_eq!(normal.status(), StatusCode::SEE_OTHER);
    let narrow_ok = runs().await;
    assert_eq!(narrow_ok, before + 1, "a member may sync the normal window");
    app.wait_for_jobs().await;

    // The owner (who is also the key's owner) may backfill a year.
    let (_, owner_page) = ada.get_html(&page).await;
    assert!(
        select_texts(&owner_page, "#sync-now option")
            .contains(&"Backfill the last 365 days".to_owned())
    );
    let year = ada.submit(&page, &sync, &[("backfill_days", "365")]).await;
    assert_eq!(year.status(), StatusCode::SEE_OTHER);
    assert_eq!(runs().await, narrow_ok + 1);
    app.wait_for_jobs().await;

    // A member whose email is the Fathom account's is the key's owner too.
    sqlx::query("update fathom_connections set fathom_user_email = 'mia@example.com'")
        .execute(&app.db)
        .await
        .unwrap();
    let own = mia.submit(&page, &sync, &[("backfill_days", "90")]).await;
    assert_eq!(own.status(), StatusCode::SEE_OTHER);
    assert_eq!(runs().await, narrow_ok + 2);
}

#[sqlx::test]
async fn pages_of_a_connection_disconnected_long_ago_still_open(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug, _) = connected(&app).await;
    let org = app.org_id(&slug).await;
    // The oldest of 22 disconnected connections: beyond the 20 the Integrations page lists.
    let mut ids = Vec::new();
    for n in 0..22 {
        let id = uuid::Uuid::now_v7();
        sqlx::query(
            "insert into fathom_connections
               (id, org_id, fathom_user_email, state, api_key_hint, webhook_url, disconnected_at)
             values ($1, $2, $3, 'disconnected', 'fath…0000', 'https://x.example/w',
                     now() - make_interval(days => $4))",
        )
        .bind(id)
        .bind(org)
        .bind(format!("old{n}@example.com"))
        .bind(100 - n)
        .execute(&app.db)
        .await
        .unwrap();
        ids.push(id);
    }
    let oldest = ids[0];
    let run = uuid::Uuid::now_v7();
    sqlx::query(
        "insert into fathom_sync_runs (id, org_id, connection_id, source, state, created_after,
                                       started_at, finished_at)
         values ($1, $2, $3, 'hourly', 'succeeded', now() - interval '200 days',
                 now() - interval '100 days', now() - interval '100 days')",
    )
    .bind(run)
    .bind(org)
    .bind(oldest)
    .execute(&app.db)
    .await
    .unwrap();

    let (status, page) = ada
        .get_html(&format!(
            "/o/{slug}/integrations/fathom/connections/{oldest}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("old0@example.com"));
    let (status, _) = ada
        .get_html(&format!("/o/{slug}/integrations/fathom/sync_runs/{run}"))
        .await;
    assert_eq!(status, StatusCode::OK);
}
