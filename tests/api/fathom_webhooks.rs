//! Fathom's webhook deliveries: verified before anything is written, stored durably once per
//! `webhook-id`, processed into meetings by the real job workers.

use debrief::fathom::webhook_signature::WebhookSecret;
use debrief::sim::fathom::MeetingSpec;
use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{ADA_FATHOM_KEY, BOB_FATHOM_KEY, TestApp, spawn_app};

/// Ada's org "Acme" with Fathom connected and its initial sync finished; returns the org slug, id
/// and the webhook secret.
async fn connected(app: &TestApp) -> (String, uuid::Uuid, String) {
    let ada = app.ada_with_fathom().await;
    app.wait_for_jobs().await;
    let secret = app.fathom().webhooks()[0].webhook.secret.clone();
    (ada.slug, ada.org.0, secret)
}

/// The `recording_id` of `meeting_full.json` (not one of the simulator's meetings).
const FIXTURE_RECORDING_ID: i64 = 118204733;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/fathom")
            .join(name),
    )
    .unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

struct Delivery<'a> {
    id: &'a str,
    timestamp: String,
    signature: String,
    body: Vec<u8>,
}

fn signed<'a>(secret: &str, id: &'a str, body: Vec<u8>) -> Delivery<'a> {
    let ts = now();
    let signature = WebhookSecret::parse(secret).unwrap().sign(id, ts, &body);
    Delivery {
        id,
        timestamp: ts.to_string(),
        signature,
        body,
    }
}

async fn post(app: &TestApp, org: uuid::Uuid, d: &Delivery<'_>) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!(
            "{}/api/integrations/fathom/webhook/{org}",
            app.address
        ))
        .header("content-type", "application/json")
        .header("webhook-id", d.id)
        .header("webhook-timestamp", &d.timestamp)
        .header("webhook-signature", &d.signature)
        .body(d.body.clone())
        .send()
        .await
        .unwrap()
}

/// Stored events, and meetings that did not come from the initial sync.
async fn counts(app: &TestApp) -> (i64, i64) {
    let from_webhooks: i64 = sqlx::query_scalar(
        "select count(*) from meetings m
         where not exists (select 1 from meeting_sources s where s.meeting_id = m.id and s.via = 'sync')",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    (app.count("fathom_events").await, from_webhooks)
}

#[sqlx::test]
async fn a_meeting_recorded_in_fathom_arrives_by_webhook_and_is_stored_with_all_its_parts(
    db: PgPool,
) {
    let app = spawn_app(db).await;
    let (_slug, _org, _) = connected(&app).await;
    let meeting = app
        .fathom()
        .add_meeting(ADA_FATHOM_KEY, MeetingSpec::default())
        .unwrap();
    app.fathom().wait_for_deliveries().await;
    let attempts = app.fathom().deliveries();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0].status, Some(200));
    app.wait_for_jobs().await;

    let (title, transcript_lines, attendees): (String, i64, i64) = sqlx::query_as(
        "select m.title,
                (select count(*) from meeting_transcript_lines t where t.meeting_id = m.id),
                (select count(*) from meeting_attendees a where a.meeting_id = m.id)
         from meetings m where m.recording_id = $1",
    )
    .bind(meeting.recording_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(title, meeting.title);
    assert_eq!(
        transcript_lines as usize,
        meeting.transcript.as_ref().unwrap().len()
    );
    assert_eq!(attendees as usize, meeting.calendar_invitees.len());
    let state: String = sqlx::query_scalar("select state from fathom_events")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(state, "processed");
    let via: String = sqlx::query_scalar(
        "select s.via from meeting_sources s join meetings m on m.id = s.meeting_id
         where m.recording_id = $1",
    )
    .bind(meeting.recording_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(via, "webhook");
}

#[sqlx::test]
async fn a_redelivery_with_the_same_webhook_id_adds_nothing(db: PgPool) {
    let app = spawn_app(db).await;
    connected(&app).await;
    let meeting = app
        .fathom()
        .add_meeting_quietly(ADA_FATHOM_KEY, MeetingSpec::default())
        .unwrap();
    app.fathom()
        .deliver_times(meeting.recording_id, 2)
        .await
        .unwrap();
    app.fathom().wait_for_deliveries().await;
    app.wait_for_jobs().await;
    let attempts = app.fathom().deliveries();
    assert_eq!(attempts.len(), 2);
    assert!(attempts.iter().all(|a| a.status == Some(200)));
    assert_eq!(attempts[0].message_id, attempts[1].message_id);
    assert_eq!(counts(&app).await, (1, 1));
}

#[sqlx::test]
async fn unchanged_content_delivered_again_under_a_new_id_writes_nothing_new(db: PgPool) {
    let app = spawn_app(db).await;
    let (_, org, secret) = connected(&app).await;
    let body = fixture("meeting_full.json");
    assert_eq!(
        post(&app, org, &signed(&secret, "msg_1", body.clone()))
            .await
            .status(),
        StatusCode::OK
    );
    app.wait_for_jobs().await;
    let updated_at: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("select updated_at from meetings where recording_id = $1")
            .bind(FIXTURE_RECORDING_ID)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        post(&app, org, &signed(&secret, "msg_2", body))
            .await
            .status(),
        StatusCode::OK
    );
    app.wait_for_jobs().await;
    assert_eq!(counts(&app).await, (2, 1));
    let again: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("select updated_at from meetings where recording_id = $1")
            .bind(FIXTURE_RECORDING_ID)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(updated_at, again, "the unchanged meeting was not rewritten");
}

#[sqlx::test]
async fn bad_deliveries_get_the_documented_answer_and_store_nothing(db: PgPool) {
    let app = spawn_app(db).await;
    let (_, org, secret) = connected(&app).await;
    let body = fixture("meeting_full.json");
    let good = signed(&secret, "msg_good", body.clone());

    // Forged: signed with another secret.
    let forged = signed(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_f",
        body.clone(),
    );
    assert_eq!(
        post(&app, org, &forged).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Tampered body.
    let mut tampered = signed(&secret, "msg_t", body.clone());
    tampered.body.push(b' ');
    assert_eq!(
        post(&app, org, &tampered).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Only a v2 signature.
    let mut v2 = signed(&secret, "msg_v2", body.clone());
    v2.signature = v2.signature.replacen("v1,", "v2,", 1);
    assert_eq!(
        post(&app, org, &v2).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Stale and malformed timestamps.
    let mut stale = signed(&secret, "msg_s", body.clone());
    let old = now() - 301;
    stale.timestamp = old.to_string();
    stale.signature = WebhookSecret::parse(&secret)
        .unwrap()
        .sign("msg_s", old, &body);
    assert_eq!(
        post(&app, org, &stale).await.status(),
        StatusCode::BAD_REQUEST
    );
    let mut garbled = signed(&secret, "msg_g", body.clone());
    garbled.timestamp = "yesterday".into();
    assert_eq!(
        post(&app, org, &garbled).await.status(),
        StatusCode::BAD_REQUEST
    );
    // Missing headers, one at a time.
    for missing in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let mut request = reqwest::Client::new()
            .post(format!(
                "{}/api/integrations/fathom/webhook/{org}",
                app.address
            ))
            .body(good.body.clone());
        for (name, value) in [
            ("webhook-id", good.id.to_owned()),
            ("webhook-timestamp", good.timestamp.clone()),
            ("webhook-signature", good.signature.clone()),
        ] {
            if name != missing {
                request = request.header(name, value);
            }
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "without {missing}"
        );
        let json: serde_json::Value = response.json().await.unwrap();
        assert!(json["error"]["message"].as_str().unwrap().contains(missing));
    }
    // Too big.
    let mut huge = body.clone();
    huge.extend(std::iter::repeat_n(b' ', 17 * 1024 * 1024));
    let oversized = signed(&secret, "msg_big", huge);
    assert_eq!(
        post(&app, org, &oversized).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // Unknown org, and an id that is not one.
    assert_eq!(
        post(&app, uuid::Uuid::now_v7(), &good).await.status(),
        StatusCode::NOT_FOUND
    );
    let response = reqwest::Client::new()
        .post(format!(
            "{}/api/integrations/fathom/webhook/not-an-id",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    assert_eq!(counts(&app).await, (0, 0), "nothing stored");

    // Several signatures, one of them right (secret rotation), are accepted.
    let mut multi = signed(&secret, "msg_multi", body.clone());
    multi.signature = format!("v2,QVBJ v1,AAAA {}", multi.signature);
    assert_eq!(post(&app, org, &multi).await.status(), StatusCode::OK);
    app.wait_for_jobs().await;
    assert_eq!(counts(&app).await, (1, 1));
}

#[sqlx::test]
async fn a_legacy_payload_is_stored_without_invented_fields(db: PgPool) {
    let app = spawn_app(db).await;
    let (_, org, secret) = connected(&app).await;
    let d = signed(&secret, "msg_legacy", fixture("meeting_legacy.json"));
    assert_eq!(post(&app, org, &d).await.status(), StatusCode::OK);
    app.wait_for_jobs().await;
    let (meeting_type, shared_with, external, highlights): (
        Option<String>,
        Option<String>,
        bool,
        i64,
    ) = sqlx::query_as(
        "select meeting_type, shared_with, has_external_attendees,
                    (select count(*) from meeting_highlights h where h.meeting_id = m.id)
             from meetings m where recording_id = 94413062",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((meeting_type, shared_with, highlights), (None, None, 0));
    assert!(external);
}

#[sqlx::test]
async fn a_signed_body_that_does_not_parse_is_kept_as_failed_and_answered_2xx(db: PgPool) {
    let app = spawn_app(db).await;
    let (_, org, secret) = connected(&app).await;
    for (id, body) in [
        ("msg_broken", b"{\"title\": \"half".to_vec()),
        ("msg_no_id", b"{\"title\": \"no recording id\"}".to_vec()),
    ] {
        let d = signed(&secret, id, body.clone());
        assert_eq!(post(&app, org, &d).await.status(), StatusCode::OK, "{id}");
    }
    app.wait_for_jobs().await;
    let rows: Vec<(String, String, Vec<u8>)> =
        sqlx::query_as("select webhook_id, state, body from fathom_events order by webhook_id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.1 == "failed"));
    assert_eq!(
        rows[0].2,
        b"{\"title\": \"half".to_vec(),
        "the raw body is kept byte for byte"
    );
    assert_eq!(counts(&app).await, (2, 0), "no meeting came of them");
}

#[sqlx::test]
async fn an_org_without_a_live_connection_answers_410_and_another_orgs_secret_is_refused(
    db: PgPool,
) {
    let app = spawn_app(db).await;
    let (_, org_a, _secret_a) = connected(&app).await;
    let (bob, b) = app.signup("Bob", "bob@example.com", "Bobco").await;
    let org_b = app.org_id(&b).await;
    let body = fixture("meeting_full.json");
    let d = signed(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_x",
        body.clone(),
    );
    assert_eq!(post(&app, org_b, &d).await.status(), StatusCode::GONE);

    app.connect_fathom(&bob, &b, "bob@example.com", BOB_FATHOM_KEY)
        .await;
    let secret_b = app
        .fathom()
        .webhooks()
        .into_iter()
        .find(|w| w.owner_email == "bob@example.com")
        .unwrap()
        .webhook
        .secret;
    let cross = signed(&secret_b, "msg_cross", body);
    assert_eq!(
        post(&app, org_a, &cross).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(post(&app, org_b, &cross).await.status(), StatusCode::OK);
    app.wait_for_jobs().await;
    let owners: Vec<uuid::Uuid> =
        sqlx::query_scalar("select org_id from meetings where recording_id = $1")
            .bind(FIXTURE_RECORDING_ID)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(owners, [org_b]);
}

#[sqlx::test]
async fn three_hundred_concurrent_deliveries_of_a_hundred_meetings_store_each_once(db: PgPool) {
    let app = spawn_app(db).await;
    let (_, org, secret) = connected(&app).await;
    let template: serde_json::Value =
        serde_json::from_slice(&fixture("meeting_full.json")).unwrap();
    let mut deliveries = Vec::new();
    for n in 0..100i64 {
        let mut m = template.clone();
        m["recording_id"] = serde_json::json!(500_000 + n);
        m["title"] = serde_json::json!(format!("Meeting {n}"));
        let body = serde_json::to_vec(&m).unwrap();
        let id = format!("msg_{n}");
        for _ in 0..3 {
            deliveries.push((id.clone(), body.clone()));
        }
    }
    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for (id, body) in deliveries {
        let app = app.clone();
        let secret = secret.clone();
        tasks.push(tokio::spawn(async move {
            let d = signed(&secret, &id, body);
            post(&app, org, &d).await.status()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::OK);
    }
    app.wait_for_jobs().await;
    assert_eq!(counts(&app).await, (100, 100));
}

#[sqlx::test]
async fn ten_thousand_signature_entries_over_a_mebibyte_are_refused_quickly_without_a_write(
    db: PgPool,
) {
    let app = spawn_app(db).await;
    let (_, org, secret) = connected(&app).await;
    let body = vec![b'x'; 1024 * 1024];
    let mut flood = signed(&secret, "msg_flood", body);
    flood.signature = vec!["v1,AAAA"; 10_000].join(" ");
    let events_before = app.count("fathom_events").await;
    let started = std::time::Instant::now();
    let response = post(&app, org, &flood).await;
    let took = started.elapsed();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "bad_headers");
    eprintln!("10,000 entries over 1 MiB refused in {took:?}");
    // One MAC per entry over 1 MiB would take tens of seconds; a header check takes milliseconds.
    assert!(
        took < std::time::Duration::from_secs(2),
        "refused in {took:?}"
    );
    assert_eq!(app.count("fathom_events").await, events_before);

    // The most entries allowed, none right: one MAC per secret, refused as a bad signature.
    let mut few = signed(&secret, "msg_few", vec![b'y'; 1024 * 1024]);
    few.signature = ["v1,AAAA"; 8].join(" ");
    assert_eq!(
        post(&app, org, &few).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.count("fathom_events").await, events_before);
}

#[sqlx::test]
async fn an_org_without_a_connection_is_answered_before_the_body_is_read(db: PgPool) {
    let app = spawn_app(db).await;
    let (_, org_b) = app.signup("Bob", "bob@example.com", "Bobco").await;
    let org_b = app.org_id(&org_b).await;
    // Declares a body far over the limit: refused for the org's state, not for the size.
    let d = signed(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_x",
        b"{}".to_vec(),
    );
    let response = reqwest::Client::new()
        .post(format!(
            "{}/api/integrations/fathom/webhook/{org_b}",
            app.address
        ))
        .header("webhook-id", d.id)
        .header("webhook-timestamp", &d.timestamp)
        .header("webhook-signature", &d.signature)
        .body(vec![b'z'; 64 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GONE);
    let too_big = reqwest::Client::new()
        .post(format!(
            "{}/api/integrations/fathom/webhook/{org_b}",
            app.address
        ))
        .header("webhook-id", d.id)
        .header("webhook-timestamp", &d.timestamp)
        .header("webhook-signature", &d.signature)
        .body(vec![b'z'; 17 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.count("fathom_events").await, 0);
}

#[sqlx::test]
async fn a_flood_of_forgeries_for_a_connected_org_reads_no_secrets_from_the_database(db: PgPool) {
    let app = spawn_app(db).await;
    let (_, org, secret) = connected(&app).await;
    let good = signed(&secret, "msg_first", fixture("meeting_full.json"));
    assert_eq!(post(&app, org, &good).await.status(), StatusCode::OK);
    let reads = || {
        crate::helpers::captured_logs()
            .matches("c.webhook_secret_ciphertext")
            .count()
    };
    let before = reads();
    assert!(
        before > 0,
        "the first delivery read the secrets (sqlx logs the query)"
    );
    for n in 0..50 {
        let id = format!("msg_forged_{n}");
        let forged = signed(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            &id,
            fixture("meeting_full.json"),
        );
        assert_eq!(
            post(&app, org, &forged).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let after = reads();
    assert!(
        after - before <= 2,
        "50 forgeries read the secrets {} times (at most once a second)",
        after - before
    );
    assert_eq!(app.count("fathom_events").await, 1, "no forgery was stored");
}

/// The `event_id`s among `ids` that have a `ProcessFathomEvent` task queued (in any state).
async fn queued_tasks(app: &TestApp, ids: &[uuid::Uuid]) -> i64 {
    let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    sqlx::query_scalar(
        "select count(*) from apalis.jobs
         where convert_from(job, 'UTF8')::jsonb->>'event_id' = any($1)",
    )
    .bind(ids)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

fn batched(
    ada: &crate::helpers::AdaWithFathom,
    webhook_id: &str,
    error: Option<&str>,
) -> debrief::db::fathom_events::BatchedEvent {
    let id = debrief::domain::EventId::new();
    debrief::db::fathom_events::BatchedEvent {
        id,
        org: ada.org,
        webhook_id: webhook_id.to_owned(),
        connection_id: ada.connection,
        body: fixture("meeting_full.json").into(),
        recording_id: error.is_none().then_some(FIXTURE_RECORDING_ID),
        error: error.map(str::to_owned),
        job: error.is_none().then(|| {
            debrief::jobs::process_fathom_event_row(debrief::jobs::ProcessFathomEvent::new(
                ada.org, id,
            ))
            .unwrap()
        }),
    }
}

#[sqlx::test]
async fn deliveries_stored_together_keep_redeliveries_out_and_queue_one_task_per_stored_event(
    db: PgPool,
) {
    let app = spawn_app(db).await;
    let ada = app.ada_with_fathom().await;
    app.wait_for_jobs().await;
    let earlier = batched(&ada, "msg_earlier", None);
    assert_eq!(
        debrief::db::fathom_events::insert_batch(&app.db, std::slice::from_ref(&earlier))
            .await
            .unwrap(),
        vec![true]
    );

    // One statement: a new delivery, the same webhook-id again within the batch, a redelivery of
    // the earlier one, and a signed body that cannot be read (stored as failed, no task).
    let batch = vec![
        batched(&ada, "msg_new", None),
        batched(&ada, "msg_new", None),
        batched(&ada, "msg_earlier", None),
        batched(&ada, "msg_unreadable", Some("not a meeting")),
    ];
    let stored = debrief::db::fathom_events::insert_batch(&app.db, &batch)
        .await
        .unwrap();
    assert_eq!(stored, vec![true, false, false, true]);
    assert_eq!(app.count("fathom_events").await, 3);
    let states: Vec<(String, String)> =
        sqlx::query_as("select webhook_id, state from fathom_events order by webhook_id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(
        states,
        [
            ("msg_earlier", "pending"),
            ("msg_new", "pending"),
            ("msg_unreadable", "failed"),
        ]
        .map(|(id, state)| (id.to_owned(), state.to_owned()))
    );
    let ids: Vec<uuid::Uuid> = std::iter::once(&earlier)
        .chain(&batch)
        .map(|e| e.id.0)
        .collect();
    // Tasks only for the two stored readable events: none for a duplicate or the failed one.
    assert_eq!(queued_tasks(&app, &ids).await, 2);

    // Through the writer, 200 concurrent writes of 20 webhook-ids: each stored once, one task each.
    let writer = std::sync::Arc::new(
        debrief::integrations::fathom_event_writer::EventWriter::new(app.db.clone()),
    );
    let mut tasks = Vec::new();
    let mut ids = Vec::new();
    for n in 0..200 {
        let event = batched(&ada, &format!("msg_burst_{}", n % 20), None);
        ids.push(event.id.0);
        let writer = writer.clone();
        tasks.push(tokio::spawn(
            async move { writer.write(event).await.unwrap() },
        ));
    }
    let mut stored = 0;
    for task in tasks {
        stored += usize::from(task.await.unwrap());
    }
    assert_eq!(stored, 20);
    assert_eq!(app.count("fathom_events").await, 23);
    assert_eq!(queued_tasks(&app, &ids).await, 20);
}
