//! `SyncFathom` against the simulator: pages arrive once, a killed run resumes from its cursor,
//! 429s are waited out, a 401 stops everything until someone reconnects, and the hourly schedule
//! queues exactly one run per active connection.

use debrief::db::fathom_sync_runs::{Opened, SyncSource};
use debrief::domain::sync_window::SyncWindow;
use debrief::domain::{FathomConnectionId, OrgId};
use debrief::jobs;
use debrief::sim::fathom::{CallRecord, FathomSim, Fault, SimUser};
use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{
    ADA_FATHOM_KEY, BOB_FATHOM_KEY, TestApp, spawn_app, spawn_app_with_fathom, test_settings,
};

const CARA_KEY: &str = "fathom-key-cara-00000025";

/// A simulator whose user Cara has 25 meetings (three pages of ten) from the last week.
fn cara_fathom() -> FathomSim {
    FathomSim::new(vec![SimUser::new(
        CARA_KEY,
        "Cara Fathom",
        "cara@example.com",
        "example.com",
        25,
    )])
}

/// Cara's org "Acme" with her key connected; returns the org and the connection.
async fn connect_cara(app: &TestApp) -> (OrgId, FathomConnectionId) {
    let (cara, slug) = app.signup("Cara", "cara@example.com", "Acme").await;
    let response = app
        .connect_fathom(&cara, &slug, "cara@example.com", CARA_KEY)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let org = OrgId(app.org_id(&slug).await);
    let connection: uuid::Uuid =
        sqlx::query_scalar("select id from fathom_connections where org_id = $1")
            .bind(org)
            .fetch_one(&app.db)
            .await
            .unwrap();
    (org, FathomConnectionId(connection))
}

#[derive(Debug, sqlx::FromRow, PartialEq, Eq)]
struct RunRow {
    id: uuid::Uuid,
    source: String,
    state: String,
    pages: i32,
    meetings_added: i32,
    meetings_updated: i32,
    meetings_unchanged: i32,
    api_calls: i32,
    rate_limited: i32,
    claims: i32,
    error: Option<String>,
}

async fn runs(app: &TestApp) -> Vec<RunRow> {
    sqlx::query_as(
        "select id, source, state, pages, meetings_added, meetings_updated, meetings_unchanged,
                api_calls, rate_limited, claims, error
         from fathom_sync_runs order by queued_at",
    )
    .fetch_all(&app.db)
    .await
    .unwrap()
}

/// The sync's listing calls (content included), as the simulator saw them.
fn listing_calls(app: &TestApp) -> Vec<CallRecord> {
    app.fathom()
        .calls()
        .into_iter()
        .filter(|c| {
            c.path.ends_with("/meetings")
                && c.query
                    .as_deref()
                    .is_some_and(|q| q.contains("include_transcript=true"))
        })
        .collect()
}

/// Asks for a manual sync reaching 30 days back, as the *Sync now* backfill does.
async fn sync_now(app: &TestApp, org: OrgId, connection: FathomConnectionId) -> Opened {
    let mut tx = app.db.begin().await.unwrap();
    let opened = jobs::request_sync(
        &mut tx,
        &app.state,
        org,
        connection,
        SyncSource::Manual,
        SyncWindow::LastDays(30),
        None,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    opened
}

#[sqlx::test]
async fn twenty_five_meetings_over_three_pages_arrive_once(db: PgPool) {
    let app = spawn_app_with_fathom(db, test_settings(), cara_fathom(), true).await;
    let (org, connection) = connect_cara(&app).await;
    app.wait_for_jobs().await;

    let initial = &runs(&app).await[0];
    assert_eq!(
        (
            initial.source.as_str(),
            initial.state.as_str(),
            initial.pages,
            initial.meetings_added,
            initial.api_calls,
            initial.rate_limited
        ),
        ("initial", "succeeded", 3, 25, 3, 0),
        "{initial:?}"
    );
    let from_sync: i64 = sqlx::query_scalar(
        "select count(distinct meeting_id) from meeting_sources where via = 'sync'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((app.count("meetings").await, from_sync), (25, 25));
    assert_eq!(listing_calls(&app).len(), 3);

    // Listing them all again changes nothing.
    assert!(matches!(
        sync_now(&app, org, connection).await,
        Opened::New(_)
    ));
    app.wait_for_jobs().await;
    let again = &runs(&app).await[1];
    assert_eq!(
        (
            again.state.as_str(),
            again.meetings_added,
            again.meetings_updated,
            again.meetings_unchanged
        ),
        ("succeeded", 0, 0, 25)
    );
    assert_eq!(app.count("meetings").await, 25);
    assert!(
        app.count("meeting_transcript_lines").await > 0,
        "content came inlined"
    );
}

#[sqlx::test]
async fn a_run_killed_between_pages_resumes_from_its_cursor(db: PgPool) {
    // No workers yet: this test runs the first attempt itself, so it can kill it.
    let app = spawn_app_with_fathom(db, test_settings(), cara_fathom(), false).await;
    let (org, connection) = connect_cara(&app).await;
    let run: uuid::Uuid = sqlx::query_scalar("select id from fathom_sync_runs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    // The second page is slow, so the worker dies while fetching it.
    app.fathom()
        .inject_fault(
            Fault::slow(10_000, 1)
                .for_key(CARA_KEY)
                .for_path("/external/v1/meetings")
                .after(1),
        )
        .unwrap();
    let args = debrief::jobs::SyncFathom {
        org_id: org,
        connection_id: connection,
        source: SyncSource::Initial,
        run_id: debrief::domain::SyncRunId(run),
    };
    let state = app.state.clone();
    let first_attempt = tokio::spawn(async move { debrief::jobs::sync_fathom(&state, args).await });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while runs(&app).await[0].pages < 1 {
        assert!(std::time::Instant::now() < deadline, "page 1 never stored");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    first_attempt.abort();
    let _ = first_attempt.await;
    let stopped = &runs(&app).await[0];
    assert_eq!((stopped.state.as_str(), stopped.pages), ("running", 1));

    // A worker process starts; the dead run's lease (5 s in tests) lapses; the schedule resumes it.
    app.start_workers();
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    assert_eq!(jobs::resume_orphaned_syncs(&app.state).await.unwrap(), 1);
    app.wait_for_jobs().await;

    let done = &runs(&app).await[0];
    assert_eq!(
        (
            done.state.as_str(),
            done.pages,
            done.meetings_added,
            done.claims
        ),
        ("succeeded", 3, 25, 2),
        "{done:?}"
    );
    assert_eq!(app.count("meetings").await, 25);
    let first_pages = listing_calls(&app)
        .iter()
        .filter(|c| !c.query.as_deref().unwrap_or("").contains("cursor="))
        .count();
    assert_eq!(first_pages, 1, "page 1 was not fetched again");
}

#[sqlx::test]
async fn injected_429s_are_waited_out_and_the_run_completes(db: PgPool) {
    let app = spawn_app_with_fathom(db, test_settings(), cara_fathom(), true).await;
    let (org, connection) = connect_cara(&app).await;
    app.wait_for_jobs().await;
    let mut throttle = Fault::status(429, 2)
        .for_key(CARA_KEY)
        .for_path("/external/v1/meetings");
    throttle.retry_after = Some(1);
    app.fathom().inject_fault(throttle).unwrap();
    sync_now(&app, org, connection).await;
    app.wait_for_jobs().await;

    let run = &runs(&app).await[1];
    assert_eq!(
        (
            run.state.as_str(),
            run.pages,
            run.meetings_unchanged,
            run.rate_limited,
            run.api_calls
        ),
        ("succeeded", 3, 25, 2, 5),
        "{run:?}"
    );
    let calls = listing_calls(&app);
    let throttled: Vec<_> = calls.iter().filter(|c| c.status == 429).collect();
    assert_eq!(throttled.len(), 2);
    let last_429 = throttled[1].at;
    let next = calls
        .iter()
        .find(|c| c.at > last_429 && c.status == 200)
        .expect("a call after the 429s");
    assert!(
        next.at - last_429 >= chrono::Duration::milliseconds(950),
        "Retry-After (1 s) was honoured: {:?}",
        next.at - last_429
    );
}

#[sqlx::test]
async fn an_injected_401_ends_in_needs_reconnect_without_retries(db: PgPool) {
    let app = spawn_app_with_fathom(db, test_settings(), cara_fathom(), true).await;
    let (org, connection) = connect_cara(&app).await;
    app.wait_for_jobs().await;
    let before = listing_calls(&app).len();
    app.fathom()
        .inject_fault(
            Fault::status(401, 5)
                .for_key(CARA_KEY)
                .for_path("/external/v1/meetings"),
        )
        .unwrap();
    sync_now(&app, org, connection).await;
    app.wait_for_jobs().await;

    let run = &runs(&app).await[1];
    assert_eq!((run.state.as_str(), run.api_calls), ("failed", 1));
    assert!(
        run.error
            .as_deref()
            .unwrap()
            .contains("rejected the API key"),
        "{run:?}"
    );
    assert_eq!(listing_calls(&app).len(), before + 1, "no retries");
    let state: String = sqlx::query_scalar("select state from fathom_connections where id = $1")
        .bind(connection)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(state, "needs_reconnect");
    let audited: i64 = sqlx::query_scalar(
        "select count(*) from audit_events where action = 'fathom.needs_reconnect'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(audited, 1);

    // The hourly schedule leaves it alone until someone reconnects.
    sqlx::query("update fathom_connections set next_sync_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(jobs::enqueue_due_syncs(&app.state).await.unwrap(), 0);
    assert_eq!(runs(&app).await.len(), 2);
}

#[sqlx::test]
async fn sync_now_during_a_run_starts_nothing_new(db: PgPool) {
    let app = spawn_app_with_fathom(db, test_settings(), cara_fathom(), true).await;
    let (org, connection) = connect_cara(&app).await;
    app.wait_for_jobs().await;
    app.fathom()
        .inject_fault(Fault::slow(1_500, 1).for_key(CARA_KEY))
        .unwrap();
    let Opened::New(open) = sync_now(&app, org, connection).await else {
        panic!("the first press starts a run");
    };
    let (a, b) = tokio::join!(
        sync_now(&app, org, connection),
        sync_now(&app, org, connection)
    );
    assert_eq!(a, Opened::AlreadyOpen(open));
    assert_eq!(b, Opened::AlreadyOpen(open));
    app.wait_for_jobs().await;
    let all = runs(&app).await;
    assert_eq!(all.len(), 2, "the initial run and one manual run");
    assert_eq!(all[1].state, "succeeded");
}

#[sqlx::test]
async fn the_hourly_schedule_enqueues_one_sync_per_active_connection(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, a) = app.signup("Ada", "ada@example.com", "Org A").await;
    let (bob, b) = app.signup("Bob", "bob@example.com", "Org B").await;
    app.connect_fathom(&ada, &a, "ada@example.com", ADA_FATHOM_KEY)
        .await;
    app.connect_fathom(&bob, &b, "bob@example.com", BOB_FATHOM_KEY)
        .await;
    app.wait_for_jobs().await;
    let org_a = OrgId(app.org_id(&a).await);
    let ada_conn: uuid::Uuid =
        sqlx::query_scalar("select id from fathom_connections where org_id = $1")
            .bind(org_a)
            .fetch_one(&app.db)
            .await
            .unwrap();
    // Bob's key was rejected at some point: no hourly sync for it.
    sqlx::query("update fathom_connections set state = 'needs_reconnect' where fathom_user_email = 'bob@example.com'")
        .execute(&app.db)
        .await
        .unwrap();
    let slots: Vec<(uuid::Uuid, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("select id, next_sync_at from fathom_connections order by id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    sqlx::query("update fathom_connections set next_sync_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();

    let (one, two) = tokio::join!(
        jobs::enqueue_due_syncs(&app.state),
        jobs::enqueue_due_syncs(&app.state)
    );
    assert_eq!(one.unwrap() + two.unwrap(), 1);
    let hourly: Vec<uuid::Uuid> =
        sqlx::query_scalar("select connection_id from fathom_sync_runs where source = 'hourly'")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(hourly, [ada_conn]);
    let (id, old) = slots.iter().find(|(id, _)| *id == ada_conn).unwrap();
    let next: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("select next_sync_at from fathom_connections where id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(next > chrono::Utc::now(), "moved to the next hour");
    assert_eq!(
        (next - *old).num_seconds() % 3600,
        0,
        "the same second of the hour as before"
    );
    app.wait_for_jobs().await;
    let state: String =
        sqlx::query_scalar("select state from fathom_sync_runs where source = 'hourly'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(state, "succeeded");
}
