//! The worker process: housekeeping, and several worker processes sharing one database.

use debrief::db::fathom_events::NewEvent;
use debrief::domain::{FathomConnectionId, OrgId};
use debrief::jobs::{self, ProcessFathomEvent};
use sqlx::PgPool;

use crate::helpers::spawn_app;

#[sqlx::test]
async fn housekeeping_deletes_expired_sessions_and_old_failed_logins_only(db: PgPool) {
    let app = spawn_app(db).await;
    let (browser, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    app.browser()
        .login("ada@example.com", "wrong-password-1")
        .await;
    app.browser()
        .login("ada@example.com", "wrong-password-2")
        .await;
    sqlx::query("update login_failures set failed_at = now() - interval '2 days' where id = (select min(id) from login_failures)")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query(
        "insert into sessions (id, data, expiry_date) values
           ('expired-one', '{}', now() - interval '1 minute'),
           ('too-old-one', '{}', now() + interval '1 hour')",
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "update sessions set created_at = now() - interval '30 days' where id = 'too-old-one'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let sessions_before = app.count("sessions").await;

    debrief::worker::housekeeping(&app.state).await;

    assert_eq!(
        app.count("login_failures").await,
        1,
        "only the day-old failure is gone"
    );
    assert_eq!(
        app.count("sessions").await,
        sessions_before - 2,
        "expired sessions and those past their absolute lifetime are deleted"
    );
    assert_eq!(
        browser.get(&format!("/o/{slug}/")).await.status(),
        reqwest::StatusCode::OK,
        "live sessions stay"
    );
}

/// Child processes killed when the test ends, passing or not.
struct Children(Vec<std::process::Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[sqlx::test]
async fn two_worker_processes_share_a_burst_of_jobs_and_run_none_twice(db: PgPool) {
    let settings = crate::helpers::test_settings();
    let master_keys = secrecy::ExposeSecret::expose_secret(
        settings
            .secrets
            .master_keys
            .as_ref()
            .expect("test key ring"),
    )
    .to_owned();
    // No in-process workers: only the two `debrief worker` processes below take jobs.
    let app =
        crate::helpers::spawn_app_with_fathom(db, settings, crate::helpers::test_fathom(), false)
            .await;
    let ada = app.ada_with_fathom().await;
    let (org, connection) = (ada.org, ada.connection);

    // The burst: 200 stored webhook events, each with its job, committed before any worker runs.
    queue_meeting_events(&app.db, org, connection, 900_000..900_200).await;

    let spawn_worker = || spawn_worker_process(&app, &master_keys);
    let _children = Children(vec![spawn_worker(), spawn_worker()]);
    app.wait_for_jobs().await;

    let meetings: i64 = sqlx::query_scalar(
        "select count(*) from meetings where recording_id between 900000 and 900199",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(meetings, 200);
    let jobs: Vec<(String, i32, String)> = sqlx::query_as(
        "select status, attempts, lock_by from apalis.jobs where job_type = 'process_fathom_event'",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(jobs.len(), 200);
    assert!(
        jobs.iter()
            .all(|(status, attempts, _)| status == "Done" && *attempts == 1),
        "every job ran exactly once: {:?}",
        jobs.iter()
            .filter(|j| j.0 != "Done" || j.1 != 1)
            .collect::<Vec<_>>()
    );
    let processes: std::collections::HashSet<&str> = jobs
        .iter()
        .map(|(_, _, by)| by.trim_end_matches("-process-fathom-event"))
        .collect();
    assert_eq!(
        processes.len(),
        2,
        "both worker processes took part: {processes:?}"
    );
    let processed: i64 = sqlx::query_scalar(
        "select count(*) from fathom_events where state = 'processed' and attempts = 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(processed, 200);
}

/// Starts one `debrief worker` process over the app's test database.
fn spawn_worker_process(app: &crate::helpers::TestApp, master_keys: &str) -> std::process::Child {
    let options = app.db.connect_options();
    let mut url = url::Url::parse(&std::env::var("DATABASE_URL").expect("DATABASE_URL")).unwrap();
    url.set_path(options.get_database().expect("test database name"));
    std::process::Command::new(env!("CARGO_BIN_EXE_debrief"))
        .arg("worker")
        .env("APP_ENVIRONMENT", "local")
        .env("DEBRIEF__DATABASE__URL", url.as_str())
        .env("DEBRIEF__SECRETS__MASTER_KEYS", master_keys)
        .env("DEBRIEF__FATHOM__BASE_URL", app.fathom().base_url())
        .env("DEBRIEF__APPLICATION__LOCAL_STATE_DIR", tempdir_path())
        .env("DEBRIEF__APPLICATION__SESSION_SECRET", "x".repeat(48))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("debrief worker starts")
}

#[sqlx::test]
async fn jobs_claimed_by_a_killed_worker_process_finish_elsewhere_within_90_seconds(db: PgPool) {
    let settings = crate::helpers::test_settings();
    let master_keys = secrecy::ExposeSecret::expose_secret(
        settings
            .secrets
            .master_keys
            .as_ref()
            .expect("test key ring"),
    )
    .to_owned();
    let app =
        crate::helpers::spawn_app_with_fathom(db, settings, crate::helpers::test_fathom(), false)
            .await;
    let ada = app.ada_with_fathom().await;
    queue_meeting_events(&app.db, ada.org, ada.connection, 910_000..910_003).await;

    // Hold the events' rows, so the first worker claims their jobs and then waits inside them.
    let mut holder = app.db.begin().await.unwrap();
    sqlx::query("select id from fathom_events for update")
        .fetch_all(&mut *holder)
        .await
        .unwrap();
    let mut doomed = Children(vec![spawn_worker_process(&app, &master_keys)]);
    let claimed_deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let claimed: i64 = sqlx::query_scalar(
            "select count(*) from apalis.jobs
             where job_type = 'process_fathom_event' and status in ('Queued', 'Running')
               and lock_by is not null",
        )
        .fetch_one(&app.db)
        .await
        .unwrap();
        if claimed > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < claimed_deadline,
            "the first worker never claimed a job"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // kill -9: no shutdown, no heartbeat, its claims stay behind.
    let mut child = doomed.0.pop().expect("the first worker");
    child.kill().unwrap();
    child.wait().unwrap();
    holder.rollback().await.unwrap();

    let killed_at = std::time::Instant::now();
    let _survivor = Children(vec![spawn_worker_process(&app, &master_keys)]);
    loop {
        let processed: i64 = sqlx::query_scalar(
            "select count(*) from meetings where recording_id between 910000 and 910002",
        )
        .fetch_one(&app.db)
        .await
        .unwrap();
        if processed == 3 {
            break;
        }
        assert!(
            killed_at.elapsed() < std::time::Duration::from_secs(90),
            "jobs of the killed worker still not done after 90 s ({processed} of 3 meetings)"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    eprintln!(
        "jobs of the killed worker finished {:.1} s after the kill",
        killed_at.elapsed().as_secs_f64()
    );
    let events: Vec<(String, i32)> =
        sqlx::query_as("select state, attempts from fathom_events order by recording_id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(
        events,
        vec![("processed".to_owned(), 1); 3],
        "each processed once"
    );
}

fn tempdir_path() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("debrief-worker-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Stores one webhook event (the full fixture meeting under each recording id) with its
/// `ProcessFathomEvent` job per id, each in its own transaction, as the receiver does.
async fn queue_meeting_events(
    db: &PgPool,
    org: OrgId,
    connection: FathomConnectionId,
    recording_ids: std::ops::Range<i64>,
) {
    let template: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/fathom/meeting_full.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for recording_id in recording_ids {
        let mut body = template.clone();
        body["recording_id"] = recording_id.into();
        let body = serde_json::to_vec(&body).unwrap();
        let mut tx = db.begin().await.unwrap();
        let event = debrief::db::fathom_events::insert(
            &mut tx,
            org,
            &NewEvent {
                webhook_id: &format!("msg_queued_{recording_id}"),
                connection_id: connection,
                body: &body,
                recording_id: Some(recording_id),
                error: None,
            },
        )
        .await
        .unwrap()
        .unwrap();
        jobs::enqueue_process_fathom_event(&mut tx, ProcessFathomEvent::new(org, event))
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
}

#[sqlx::test]
async fn job_workers_carry_on_after_the_job_queue_fails_under_them(db: PgPool) {
    let app = crate::helpers::spawn_app(db).await;
    let ada = app.ada_with_fathom().await;
    let (org, connection) = (ada.org, ada.connection);
    app.wait_for_jobs().await;

    // The queue table disappears for a while (as in a database failover): every worker's next
    // fetch fails.
    sqlx::query("alter table apalis.jobs rename to jobs_unavailable")
        .execute(&app.db)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    sqlx::query("alter table apalis.jobs_unavailable rename to jobs")
        .execute(&app.db)
        .await
        .unwrap();

    queue_meeting_events(&app.db, org, connection, 700_000..700_005).await;
    app.wait_for_jobs().await;
    let meetings: i64 = sqlx::query_scalar(
        "select count(*) from meetings where recording_id between 700000 and 700004",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        meetings, 5,
        "webhook jobs queued after the failure are processed"
    );

    let mut tx = app.db.begin().await.unwrap();
    debrief::jobs::request_sync(
        &mut tx,
        &app.state,
        org,
        connection,
        debrief::db::fathom_sync_runs::SyncSource::Manual,
        debrief::domain::sync_window::SyncWindow::LastDays(30),
        None,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    app.wait_for_jobs().await;
    let states: Vec<String> =
        sqlx::query_scalar("select state from fathom_sync_runs order by queued_at")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(
        states,
        ["succeeded", "succeeded"],
        "a sync asked for after the failure runs to the end"
    );
}

#[sqlx::test]
async fn housekeeping_prunes_old_finished_tasks_and_keeps_recent_and_failed_ones(db: PgPool) {
    let app = spawn_app(db).await;
    let ada = app.ada_with_fathom().await;
    let (org, connection) = (ada.org, ada.connection);
    app.wait_for_jobs().await;
    queue_meeting_events(&app.db, org, connection, 800_000..800_004).await;
    app.wait_for_jobs().await;
    let ids: Vec<String> = sqlx::query_scalar(
        "select id from apalis.jobs where job_type = 'process_fathom_event' order by id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(ids.len(), 4);
    let age = |id: &str, status: &str, days: i32| {
        let db = app.db.clone();
        let id = id.to_owned();
        let status = status.to_owned();
        async move {
            sqlx::query(
                "update apalis.jobs set status = $2, attempts = max_attempts,
                        done_at = now() - make_interval(days => $3) where id = $1",
            )
            .bind(id)
            .bind(status)
            .bind(days)
            .execute(&db)
            .await
            .unwrap();
        }
    };
    age(&ids[0], "Done", 8).await; // done over a week ago: goes
    age(&ids[1], "Done", 6).await; // done this week: stays
    age(&ids[2], "Failed", 8).await; // failed for good, kept for a month: stays
    age(&ids[3], "Killed", 31).await; // killed over a month ago: goes
    sqlx::query(
        "insert into apalis.workers (id, worker_type, storage_name, last_seen)
         values ('gone-worker', 'process_fathom_event', 'PgStorage', now() - interval '2 days')",
    )
    .execute(&app.db)
    .await
    .unwrap();

    debrief::worker::housekeeping(&app.state).await;

    let left: Vec<String> = sqlx::query_scalar(
        "select id from apalis.jobs where job_type = 'process_fathom_event' order by id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(left, [ids[1].clone(), ids[2].clone()]);
    let workers: Vec<String> = sqlx::query_scalar("select id from apalis.workers")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert!(!workers.contains(&"gone-worker".to_owned()));
    assert!(
        !workers.is_empty(),
        "the running workers' registrations stay: {workers:?}"
    );
    let meetings: i64 = sqlx::query_scalar(
        "select count(*) from meetings where recording_id between 800000 and 800003",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(meetings, 4, "pruning tasks leaves what they stored");
}
