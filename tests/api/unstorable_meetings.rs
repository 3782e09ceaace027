//! One meeting Debrief cannot store never stalls ingest: strings PostgreSQL refuses are made
//! storable, a meeting the database still refuses is skipped (sync) or failed (webhook) where a
//! person sees it, and events left pending are swept.

use debrief::db::meetings::Via;
use debrief::sim::fathom::{FathomSim, InviteeSpec, MeetingSpec, SimUser};
use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{
    ADA_FATHOM_KEY, select_text, select_texts, spawn_app, spawn_app_with_fathom, test_settings,
};

const DANA_KEY: &str = "fathom-key-dana-00000010";
const REFUSED_TITLE: &str = "Refused by the database";

/// Makes the database refuse any meeting titled [`REFUSED_TITLE`], as it refuses a value it cannot
/// store, whatever the cause.
async fn refuse_poison_meetings(db: &PgPool) {
    sqlx::raw_sql(
        "create function refuse_poison() returns trigger language plpgsql as $$
         begin
           if new.title = 'Refused by the database' then
             raise exception 'this value cannot be stored' using errcode = '22023';
           end if;
           return new;
         end $$;
         create trigger refuse_poison before insert or update on meetings
           for each row execute function refuse_poison();",
    )
    .execute(db)
    .await
    .unwrap();
}

fn titled(title: &str) -> MeetingSpec {
    MeetingSpec {
        title: Some(title.to_owned()),
        ..MeetingSpec::default()
    }
}

#[sqlx::test]
async fn a_sync_page_with_one_poison_meeting_stores_the_other_nine_and_shows_the_skipped_one(
    db: PgPool,
) {
    let fathom = FathomSim::new(vec![SimUser::new(
        DANA_KEY,
        "Dana Fathom",
        "dana@example.com",
        "example.com",
        0,
    )]);
    let app = spawn_app_with_fathom(db, test_settings(), fathom, true).await;
    refuse_poison_meetings(&app.db).await;
    let long_email = format!("{}@{}.com", "x".repeat(3000), "y".repeat(40));
    let mut nul = titled("Quarterly\u{0} review");
    nul.summary_markdown = Some("## Notes\u{0}\n- pricing".into());
    nul.invitees = Some(vec![
        InviteeSpec {
            name: Some("Pri\u{0}ya".into()),
            email: Some("priya@northwind.com".into()),
        },
        InviteeSpec {
            name: Some("Very long".into()),
            email: Some(long_email),
        },
    ]);
    let poison = app
        .fathom()
        .add_meeting_quietly(DANA_KEY, titled(REFUSED_TITLE))
        .unwrap();
    app.fathom().add_meeting_quietly(DANA_KEY, nul).unwrap();
    for n in 0..8 {
        app.fathom()
            .add_meeting_quietly(DANA_KEY, titled(&format!("Call {n}")))
            .unwrap();
    }

    let (dana, slug) = app.signup("Dana", "dana@example.com", "Acme").await;
    let response = app
        .connect_fathom(&dana, &slug, "dana@example.com", DANA_KEY)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    app.wait_for_jobs().await;

    let (run_id, state, pages, added, skipped, error): (
        uuid::Uuid,
        String,
        i32,
        i32,
        i32,
        Option<String>,
    ) = sqlx::query_as(
        "select id, state, pages, meetings_added, meetings_skipped, error from fathom_sync_runs",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        (state.as_str(), pages, added, skipped, error),
        ("succeeded", 1, 9, 1, None),
        "the page's other nine meetings are stored and the run completes"
    );
    let titles: Vec<String> = sqlx::query_scalar("select title from meetings order by title")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(titles.len(), 9);
    assert!(
        titles.contains(&"Quarterly review".to_owned()),
        "{titles:?}"
    );
    let (names, emails): (Vec<Option<String>>, Vec<Option<String>>) = sqlx::query_as(
        "select array_agg(a.name order by a.position), array_agg(a.email order by a.position)
         from meeting_attendees a join meetings m on m.id = a.meeting_id
         where m.title = 'Quarterly review'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(names.contains(&Some("Priya".into())), "{names:?}");
    assert!(emails.contains(&Some("priya@northwind.com".into())));
    assert!(
        emails.iter().flatten().all(|e| e.len() <= 254),
        "the impossible address is not stored: {emails:?}"
    );

    let (status, page) = dana
        .get_html(&format!("/o/{slug}/integrations/fathom/sync_runs/{run_id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        select_texts(&page, ".skipped-recording"),
        vec![poison.recording_id.to_string()]
    );
    let reasons = select_texts(&page, ".skipped-reason");
    assert!(
        reasons[0].contains("this value cannot be stored"),
        "{reasons:?}"
    );

    // The next sync lists the same page and gets through it again.
    let connection: uuid::Uuid = sqlx::query_scalar("select id from fathom_connections")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let page = format!("/o/{slug}/integrations/fathom/connections/{connection}");
    let response = dana
        .submit(&page, &format!("{page}/sync"), &[("backfill_days", "")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    app.wait_for_jobs().await;
    let last: (String, i32, i32) = sqlx::query_as(
        "select state, meetings_unchanged, meetings_skipped from fathom_sync_runs
         order by queued_at desc limit 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(last, ("succeeded".to_owned(), 9, 1));
}

#[sqlx::test]
async fn a_poison_meeting_by_webhook_ends_as_a_failed_event_that_replay_retries_after_a_fix(
    db: PgPool,
) {
    let app = spawn_app(db).await;
    let ada = app.ada_with_fathom().await;
    app.wait_for_jobs().await;
    refuse_poison_meetings(&app.db).await;
    let poison = app
        .fathom()
        .add_meeting(ADA_FATHOM_KEY, titled(REFUSED_TITLE))
        .unwrap();
    app.fathom().wait_for_deliveries().await;
    assert_eq!(app.fathom().deliveries().last().unwrap().status, Some(200));
    app.wait_for_jobs().await;

    let (event_id, state, error): (uuid::Uuid, String, Option<String>) =
        sqlx::query_as("select id, state, error from fathom_events where recording_id = $1")
            .bind(poison.recording_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(state, "failed");
    assert!(
        error
            .as_deref()
            .unwrap_or("")
            .contains("this value cannot be stored"),
        "{error:?}"
    );
    let page = ada
        .browser
        .get_html(&format!("/o/{}/integrations", ada.slug))
        .await
        .1;
    assert!(
        page.contains(&format!("data-event=\"{event_id}\"")),
        "the failed event is listed with Replay"
    );
    let listed = select_text(&page, "#failed-events-table tbody").unwrap();
    assert!(
        listed.contains(&format!(
            "Fathom recording {} (not stored yet)",
            poison.recording_id
        )) && listed.contains("this value cannot be stored"),
        "the row names the recording and the reason: {listed}"
    );

    sqlx::raw_sql("drop trigger refuse_poison on meetings")
        .execute(&app.db)
        .await
        .unwrap();
    let integrations = format!("/o/{}/integrations", ada.slug);
    let response = ada
        .browser
        .submit(
            &integrations,
            &format!("{integrations}/fathom/events/{event_id}/replay"),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    app.wait_for_jobs().await;
    let state: String = sqlx::query_scalar("select state from fathom_events where id = $1")
        .bind(event_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(state, "processed");
    let stored: i64 = sqlx::query_scalar("select count(*) from meetings where recording_id = $1")
        .bind(poison.recording_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 1);
}

#[sqlx::test]
async fn a_hundred_thousand_line_transcript_is_stored_whole(db: PgPool) {
    let app = spawn_app(db).await;
    let ada = app.ada_with_fathom().await;
    app.wait_for_jobs().await;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fathom/meeting_full.json");
    let mut meeting: debrief::fathom::types::Meeting =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let line = meeting.transcript.as_ref().unwrap()[0].clone();
    meeting.transcript = Some(vec![line; 100_000]);
    let record = debrief::fathom::mapping::meeting_record(&meeting).unwrap();
    let mut tx = app.db.begin().await.unwrap();
    debrief::db::meetings::upsert(
        &mut tx,
        ada.org,
        &record,
        Some((ada.connection, Via::Webhook)),
        chrono::Utc::now(),
    )
    .await
    .expect("a long transcript is stored");
    tx.commit().await.unwrap();
    let lines: i64 = sqlx::query_scalar(
        "select count(*) from meeting_transcript_lines t join meetings m on m.id = t.meeting_id
         where m.recording_id = $1",
    )
    .bind(record.recording_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(lines, 100_000);
}

#[sqlx::test]
async fn events_left_pending_are_requeued_by_the_sweep_and_failed_after_three_sweeps(db: PgPool) {
    let app = spawn_app(db).await;
    let ada = app.ada_with_fathom().await;
    app.wait_for_jobs().await;
    let body = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/fathom/meeting_full.json"),
    )
    .unwrap();
    // Two events whose jobs were lost: one never swept, one swept three times already.
    for (webhook_id, sweeps) in [("msg_lost", 0), ("msg_hopeless", 3)] {
        let mut tx = app.db.begin().await.unwrap();
        let id = debrief::db::fathom_events::insert(
            &mut tx,
            ada.org,
            &debrief::db::fathom_events::NewEvent {
                webhook_id,
                connection_id: ada.connection,
                body: &body,
                recording_id: None,
                error: None,
            },
        )
        .await
        .unwrap()
        .unwrap();
        sqlx::query(
            "update fathom_events set received_at = now() - interval '1 hour', sweeps = $2
             where id = $1",
        )
        .bind(id)
        .bind(sweeps)
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let swept = debrief::jobs::process_fathom_event::sweep_stale_events(&app.state)
        .await
        .unwrap();
    assert_eq!((swept.requeued.len(), swept.failed), (1, 1));
    app.wait_for_jobs().await;
    let states: Vec<(String, String)> =
        sqlx::query_as("select webhook_id, state from fathom_events order by webhook_id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(
        states,
        vec![
            ("msg_hopeless".to_owned(), "failed".to_owned()),
            ("msg_lost".to_owned(), "processed".to_owned()),
        ]
    );
    let pending: i64 =
        sqlx::query_scalar("select count(*) from fathom_events where state = 'pending'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(pending, 0, "no event stays pending past the sweep");
    let again = debrief::jobs::process_fathom_event::sweep_stale_events(&app.state)
        .await
        .unwrap();
    assert_eq!((again.requeued.len(), again.failed), (0, 0));
}

#[sqlx::test]
async fn a_transient_failure_is_retried_after_a_pause_not_at_once_and_loses_nothing(db: PgPool) {
    let app = spawn_app(db).await;
    app.ada_with_fathom().await;
    app.wait_for_jobs().await;
    // The database loses a table for a moment: not a refused value, so worth retrying.
    sqlx::raw_sql("alter table meeting_attendees rename to meeting_attendees_away")
        .execute(&app.db)
        .await
        .unwrap();
    let meeting = app
        .fathom()
        .add_meeting(ADA_FATHOM_KEY, titled("Retried later"))
        .unwrap();
    app.fathom().wait_for_deliveries().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let retry_in: f64 = loop {
        let pause: Option<f64> = sqlx::query_scalar(
            "select extract(epoch from run_at - now())::float8 from apalis.jobs
             where job_type = 'process_fathom_event' and status = 'Pending'
               and convert_from(job, 'UTF8')::jsonb ->> 'attempt' = '2'",
        )
        .fetch_optional(&app.db)
        .await
        .unwrap();
        if let Some(pause) = pause {
            break pause;
        }
        assert!(std::time::Instant::now() < deadline, "no retry was queued");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(
        retry_in > 3.0,
        "the retry waits about 5 s, not 0: {retry_in:.1} s"
    );
    let state: String =
        sqlx::query_scalar("select state from fathom_events where recording_id = $1")
            .bind(meeting.recording_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        state, "pending",
        "a transient failure does not fail the event"
    );

    sqlx::raw_sql("alter table meeting_attendees_away rename to meeting_attendees")
        .execute(&app.db)
        .await
        .unwrap();
    app.wait_for_jobs().await;
    let (state, stored): (String, i64) = sqlx::query_as(
        "select e.state, (select count(*) from meetings m where m.recording_id = e.recording_id)
         from fathom_events e where e.recording_id = $1",
    )
    .bind(meeting.recording_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((state.as_str(), stored), ("processed", 1));
}
