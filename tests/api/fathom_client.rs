//! The Fathom client against the in-process simulator over real HTTP: pagination, filters,
//! content flags, webhooks, and every error a caller branches on.

use std::time::Duration;

use debrief::fathom::types::{CreateWebhook, TriggeredFor};
use debrief::fathom::{FathomClient, FathomError, ListMeetings};
use debrief::sim::fathom::{FathomSim, Fault, SimHandle, SimUser};
use secrecy::SecretString;

const KEY: &str = "client-test-key-0001";

async fn sim_with(meetings: usize) -> SimHandle {
    FathomSim::new(vec![SimUser::new(
        KEY,
        "Dana Client",
        "dana@acme.com",
        "acme.com",
        meetings,
    )])
    .spawn_local()
    .await
    .expect("simulator starts")
}

fn client(sim: &SimHandle, timeout: Duration) -> FathomClient {
    FathomClient::new(&sim.base_url().parse().unwrap(), timeout).unwrap()
}

fn key() -> SecretString {
    SecretString::from(KEY)
}

#[tokio::test]
async fn list_meetings_pages_through_every_meeting_once_newest_first() {
    let sim = sim_with(25).await;
    let client = client(&sim, Duration::from_secs(10));
    let mut query = ListMeetings::default();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = client.list_meetings(&key(), &query).await.unwrap();
        pages += 1;
        assert!(page.body.items.len() <= 10);
        assert!(
            page.rate_limit.limit.is_some(),
            "simulator sends RateLimit-*"
        );
        for m in &page.body.items {
            assert!(m.transcript.is_none(), "content only when asked");
            seen.push((m.created_at.unwrap(), m.recording_id.unwrap()));
        }
        match page.body.next_cursor {
            Some(c) => query.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 25);
    let mut ids: Vec<i64> = seen.iter().map(|s| s.1).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 25, "no meeting twice");
    assert!(seen.windows(2).all(|w| w[0].0 >= w[1].0), "newest first");
}

#[tokio::test]
async fn content_flags_inline_transcript_summary_and_action_items() {
    let sim = sim_with(3).await;
    let client = client(&sim, Duration::from_secs(10));
    let page = client
        .list_meetings(&key(), &ListMeetings::with_content())
        .await
        .unwrap();
    let m = &page.body.items[0];
    assert!(m.transcript.as_ref().unwrap().len() > 100);
    assert!(
        m.default_summary
            .as_ref()
            .unwrap()
            .markdown_formatted
            .is_some()
    );
    assert!(m.action_items.is_some());

    let id = m.recording_id.unwrap();
    let summary = client.recording_summary(&key(), id).await.unwrap();
    assert!(summary.body.unwrap().markdown_formatted.is_some());
    let transcript = client.recording_transcript(&key(), id).await.unwrap();
    assert_eq!(transcript.body.len(), m.transcript.as_ref().unwrap().len());
}

#[tokio::test]
async fn filters_reach_fathom_as_documented_query_parameters() {
    let sim = sim_with(12).await;
    let client = client(&sim, Duration::from_secs(10));
    let all = client
        .list_meetings(&key(), &ListMeetings::default())
        .await
        .unwrap()
        .body
        .items;
    let pivot = all[4].created_at.unwrap();
    let query = ListMeetings {
        created_after: Some(pivot),
        recorded_by: vec!["dana@acme.com".into()],
        ..ListMeetings::default()
    };
    let newer = client
        .list_meetings(&key(), &query)
        .await
        .unwrap()
        .body
        .items;
    assert!(!newer.is_empty());
    assert!(newer.iter().all(|m| m.created_at.unwrap() >= pivot));
    assert!(newer.len() < 12);

    let last = sim.calls().into_iter().last().unwrap();
    let q = last.query.unwrap();
    assert!(q.contains("recorded_by%5B%5D=dana%40acme.com"), "{q}");
    assert!(q.contains("created_after="), "{q}");

    let nobody = ListMeetings {
        recorded_by: vec!["someone@else.com".into()],
        ..ListMeetings::default()
    };
    let none = client.list_meetings(&key(), &nobody).await.unwrap();
    assert!(none.body.items.is_empty());
}

#[tokio::test]
async fn a_wrong_key_is_unauthorized_and_the_key_is_not_in_the_error() {
    let sim = sim_with(1).await;
    let client = client(&sim, Duration::from_secs(10));
    let wrong = SecretString::from("wrong-key-zzzz-9999");
    let err = client
        .list_meetings(&wrong, &ListMeetings::default())
        .await
        .unwrap_err();
    assert!(matches!(err, FathomError::Unauthorized), "{err:?}");
    assert!(!err.is_transient());
    assert!(!format!("{err} {err:?}").contains("wrong-key-zzzz-9999"));
}

#[tokio::test]
async fn rate_limits_come_back_with_retry_after_and_limit_headers() {
    let sim = sim_with(1).await;
    let client = client(&sim, Duration::from_secs(10));
    let mut fault = Fault::status(429, 1);
    fault.retry_after = Some(7);
    sim.inject_fault(fault).unwrap();
    let err = client
        .list_meetings(&key(), &ListMeetings::default())
        .await
        .unwrap_err();
    match err {
        FathomError::RateLimited { retry_after, .. } => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)))
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    // The real limiter too: the simulator's heavy limit is 30 per minute.
    let mut limited = None;
    for _ in 0..40 {
        match client.recording_transcript(&key(), 1).await {
            Err(FathomError::RateLimited {
                retry_after,
                limits,
            }) => {
                limited = Some((retry_after, limits));
                break;
            }
            _ => continue,
        }
    }
    let (retry_after, limits) = limited.expect("heavy calls hit the limit");
    assert!(retry_after.unwrap() > Duration::ZERO);
    assert_eq!(limits.remaining, Some(0));
}

#[tokio::test]
async fn server_errors_and_timeouts_are_transient() {
    let sim = sim_with(1).await;
    let client = client(&sim, Duration::from_millis(300));
    sim.inject_fault(Fault::status(503, 1)).unwrap();
    let err = client
        .list_meetings(&key(), &ListMeetings::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, FathomError::Server { status: 503 }),
        "{err:?}"
    );
    assert!(err.is_transient());

    sim.inject_fault(Fault::slow(2_000, 1)).unwrap();
    let err = client
        .list_meetings(&key(), &ListMeetings::default())
        .await
        .unwrap_err();
    assert!(matches!(err, FathomError::Timeout), "{err:?}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn an_unreachable_fathom_is_reported_as_such() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/external/v1", listener.local_addr().unwrap());
    drop(listener);
    let client = FathomClient::new(&url.parse().unwrap(), Duration::from_secs(2)).unwrap();
    let err = client
        .list_meetings(&key(), &ListMeetings::default())
        .await
        .unwrap_err();
    assert!(matches!(err, FathomError::Unreachable), "{err:?}");
}

#[tokio::test]
async fn a_bad_cursor_is_a_bad_request() {
    let sim = sim_with(1).await;
    let client = client(&sim, Duration::from_secs(10));
    let query = ListMeetings {
        cursor: Some("eyJwYWdlX251bSI6Mn0=".into()),
        ..ListMeetings::default()
    };
    let err = client.list_meetings(&key(), &query).await.unwrap_err();
    assert!(matches!(err, FathomError::BadRequest { .. }), "{err:?}");
}

#[tokio::test]
async fn webhooks_are_created_with_the_asked_flags_and_deleted_once() {
    let sim = sim_with(1).await;
    let client = client(&sim, Duration::from_secs(10));
    let body = CreateWebhook {
        destination_url: "https://debrief.example/api/integrations/fathom/webhook/x".into(),
        triggered_for: TriggeredFor::all(),
        include_transcript: true,
        include_summary: true,
        include_action_items: true,
        include_crm_matches: false,
    };
    let created = client.create_webhook(&key(), &body).await.unwrap();
    assert!(!created.flags_differ);
    let held = sim.webhooks();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].webhook.id, created.id);
    assert_eq!(held[0].webhook.url, body.destination_url);

    client.delete_webhook(&key(), &created.id).await.unwrap();
    assert!(sim.webhooks().is_empty());
    let again = client
        .delete_webhook(&key(), &created.id)
        .await
        .unwrap_err();
    assert!(matches!(again, FathomError::NotFound), "{again:?}");

    let invalid = CreateWebhook {
        include_transcript: false,
        include_summary: false,
        include_action_items: false,
        ..body
    };
    let err = client.create_webhook(&key(), &invalid).await.unwrap_err();
    assert!(matches!(err, FathomError::BadRequest { .. }), "{err:?}");
}
