//! End-to-end tests: the simulator on a loopback port, driven with reqwest.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::*;

const ANN: &str = "key-ann-0001";
const BEN: &str = "key-ben-0002";

fn now() -> DateTime<Utc> {
    "2025-06-01T12:00:00Z".parse().unwrap()
}

fn config(meetings: usize) -> FathomSim {
    FathomSim::new(vec![
        SimUser::new(ANN, "Ann Lee", "ann.lee@acme.com", "acme.com", meetings).with_team("Sales"),
        SimUser::new(BEN, "Ben Ode", "ben.ode@acme.com", "acme.com", 3),
    ])
    .with_now(now())
    .with_webhook_retries(Duration::from_millis(50), 5)
    .with_webhook_timeout(Duration::from_secs(2))
}

async fn sim(meetings: usize) -> SimHandle {
    config(meetings).spawn_local().await.unwrap()
}

async fn get(sim: &SimHandle, key: Option<&str>, path_and_query: &str) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(format!("{}{path_and_query}", sim.base_url()));
    if let Some(k) = key {
        req = req.header("X-Api-Key", k);
    }
    req.send().await.unwrap()
}

async fn get_json(sim: &SimHandle, key: &str, path_and_query: &str) -> Value {
    let resp = get(sim, Some(key), path_and_query).await;
    assert_eq!(resp.status(), 200, "{path_and_query}");
    resp.json().await.unwrap()
}

async fn create_webhook(sim: &SimHandle, key: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/webhooks", sim.base_url()))
        .header("X-Api-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn calls_without_a_known_key_get_401() {
    let sim = sim(5).await;
    assert_eq!(get(&sim, None, "/meetings").await.status(), 401);
    assert_eq!(get(&sim, Some("nope"), "/meetings").await.status(), 401);
    assert_eq!(get(&sim, Some(""), "/meetings").await.status(), 401);
    assert_eq!(get(&sim, Some(ANN), "/meetings").await.status(), 200);
    let calls = sim.calls();
    assert_eq!(calls.len(), 4);
    assert_eq!(calls[1].key_hint.as_deref(), Some("nope"));
    assert_eq!(calls[3].key_hint.as_deref(), Some("key-"));
    assert_eq!(calls[3].status, 200);
}

#[tokio::test]
async fn twenty_five_meetings_come_in_pages_of_ten_newest_first() {
    let sim = sim(25).await;
    let mut all = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/meetings?cursor={c}"),
            None => "/meetings".to_string(),
        };
        let page = get_json(&sim, ANN, &path).await;
        assert_eq!(page["limit"], 10);
        let items = page["items"].as_array().unwrap().clone();
        sizes.push(items.len());
        all.extend(items);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => {
                assert!(page["next_cursor"].is_null());
                break;
            }
        }
    }
    assert_eq!(sizes, vec![10, 10, 5]);
    let times: Vec<DateTime<Utc>> = all
        .iter()
        .map(|m| m["created_at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let mut ids: Vec<i64> = all
        .iter()
        .map(|m| m["recording_id"].as_i64().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 25);
    assert!(
        all.iter()
            .all(|m| m["recorded_by"]["email"] == "ann.lee@acme.com")
    );
}

#[tokio::test]
async fn forged_foreign_or_mismatched_cursors_are_rejected() {
    let sim = sim(25).await;
    for forged in ["eyJwYWdlX251bSI6Mn0=", "garbage", "%00%01"] {
        let resp = get(&sim, Some(ANN), &format!("/meetings?cursor={forged}")).await;
        assert_eq!(resp.status(), 400, "{forged}");
    }
    let page = get_json(&sim, ANN, "/meetings?calendar_invitees_domains_type=all").await;
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let other_key = get(&sim, Some(BEN), &format!("/meetings?cursor={cursor}")).await;
    assert_eq!(other_key.status(), 400);
    let other_filter = get(
        &sim,
        Some(ANN),
        &format!("/meetings?cursor={cursor}&calendar_invitees_domains_type=only_internal"),
    )
    .await;
    assert_eq!(other_filter.status(), 400);
    let same = get(
        &sim,
        Some(ANN),
        &format!(
            "/meetings?cursor={cursor}&calendar_invitees_domains_type=all&include_summary=true"
        ),
    )
    .await;
    assert_eq!(same.status(), 200);
}

#[tokio::test]
async fn content_blocks_appear_only_when_asked_for() {
    let sim = sim(12).await;
    let bare = get_json(&sim, ANN, "/meetings").await;
    for m in bare["items"].as_array().unwrap() {
        let obj = m.as_object().unwrap();
        for block in [
            "transcript",
            "default_summary",
            "action_items",
            "highlights",
            "crm_matches",
        ] {
            assert!(!obj.contains_key(block), "{block} present without asking");
        }
        for inv in m["calendar_invitees"].as_array().unwrap() {
            assert!(inv["matched_speaker_display_name"].is_null());
        }
        assert_ne!(
            m["recording_id"].as_i64(),
            m["url"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .parse()
                .ok()
        );
    }
    let full = get_json(
        &sim,
        ANN,
        "/meetings?include_transcript=true&include_summary=true&include_action_items=true\
         &include_crm_matches=true&include_highlights=true",
    )
    .await;
    let m = &full["items"][0];
    let transcript = m["transcript"].as_array().unwrap();
    assert!(
        transcript.len() >= 30,
        "transcript has {} lines",
        transcript.len()
    );
    let mut last = String::new();
    for line in transcript {
        let ts = line["timestamp"].as_str().unwrap().to_string();
        assert_eq!(ts.len(), 8);
        assert!(ts > last, "timestamps increase");
        last = ts;
        assert!(line["speaker"]["display_name"].is_string());
    }
    assert!(
        m["default_summary"]["markdown_formatted"]
            .as_str()
            .unwrap()
            .starts_with("## Summary")
    );
    assert!(m["action_items"].is_array());
    assert!(m["highlights"].is_array());
    assert_eq!(m["crm_matches"]["error"], "No CRM connected");
    assert!(
        m["calendar_invitees"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["matched_speaker_display_name"].is_string())
    );
    let only_summary = get_json(&sim, ANN, "/meetings?include_summary=true").await;
    let obj = only_summary["items"][0].as_object().unwrap();
    assert!(obj.contains_key("default_summary") && !obj.contains_key("transcript"));
}

#[tokio::test]
async fn created_after_is_an_exclusive_lower_bound() {
    let sim = sim(25).await;
    let all = sim.meetings(ANN).unwrap();
    let pivot = all[4].created_at;
    let newer = all.iter().filter(|m| m.created_at > pivot).count();
    let q = format!(
        "/meetings?created_after={}",
        pivot.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let page = get_json(&sim, ANN, &q).await;
    assert_eq!(page["items"].as_array().unwrap().len(), newer);
    assert!(page["next_cursor"].is_null());
}

#[tokio::test]
async fn invalid_parameter_values_get_400_and_unknown_names_are_ignored() {
    let sim = sim(3).await;
    for bad in [
        "created_after=last-week",
        "created_before=2025-13-01T00:00:00Z",
        "include_transcript=yes",
        "calendar_invitees_domains_type=internal",
    ] {
        let resp = get(&sim, Some(ANN), &format!("/meetings?{bad}")).await;
        assert_eq!(resp.status(), 400, "{bad}");
    }
    assert_eq!(
        get(&sim, Some(ANN), "/meetings?limit=50&page=2")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn filters_narrow_the_list() {
    let sim = sim(30).await;
    let all = sim.meetings(ANN).unwrap();
    let internal = all
        .iter()
        .filter(|m| m.calendar_invitees_domains_type == "only_internal")
        .count();
    let page = get_json(
        &sim,
        ANN,
        "/meetings?calendar_invitees_domains_type=only_internal",
    )
    .await;
    assert_eq!(page["items"].as_array().unwrap().len(), internal.min(10));
    let none = get_json(&sim, ANN, "/meetings?recorded_by[]=someone@else.com").await;
    assert!(none["items"].as_array().unwrap().is_empty());
    let mine = get_json(
        &sim,
        ANN,
        "/meetings?recorded_by%5B%5D=Ann.Lee@acme.com&teams[]=Sales",
    )
    .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 10);
    let domain = all
        .iter()
        .flat_map(|m| m.calendar_invitees.iter())
        .find(|i| i.is_external)
        .and_then(|i| i.email_domain.clone())
        .unwrap();
    let by_domain = get_json(
        &sim,
        ANN,
        &format!("/meetings?calendar_invitees_domains[]={domain}"),
    )
    .await;
    let items = by_domain["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(items.iter().all(|m| {
        m["calendar_invitees"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["email_domain"] == domain.as_str())
    }));
}

#[tokio::test]
async fn summary_and_transcript_of_one_recording() {
    let sim = sim(3).await;
    let id = sim.meetings(ANN).unwrap()[0].recording_id;
    let summary = get_json(&sim, ANN, &format!("/recordings/{id}/summary")).await;
    assert_eq!(summary["summary"]["template_name"], "general");
    assert!(
        summary["summary"]["markdown_formatted"]
            .as_str()
            .unwrap()
            .contains("## Summary")
    );
    let transcript = get_json(&sim, ANN, &format!("/recordings/{id}/transcript")).await;
    assert!(transcript["transcript"].as_array().unwrap().len() > 10);
    assert_eq!(
        get(&sim, Some(ANN), "/recordings/1/summary").await.status(),
        404
    );
    assert_eq!(
        get(&sim, Some(ANN), "/recordings/abc/summary")
            .await
            .status(),
        400
    );
    let bens = sim.meetings(BEN).unwrap()[0].recording_id;
    assert_eq!(
        get(&sim, Some(ANN), &format!("/recordings/{bens}/transcript"))
            .await
            .status(),
        404
    );
    assert_eq!(
        get(&sim, Some(BEN), &format!("/recordings/{bens}/transcript"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn the_sixty_first_call_in_a_window_gets_429() {
    let sim = sim(3).await;
    for i in 0..60u32 {
        let resp = get(&sim, Some(ANN), "/meetings").await;
        assert_eq!(resp.status(), 200, "call {}", i + 1);
        assert_eq!(header(&resp, "ratelimit-limit"), Some("60"));
        assert_eq!(
            header(&resp, "ratelimit-remaining"),
            Some((59 - i).to_string().as_str())
        );
        assert!(
            header(&resp, "ratelimit-reset")
                .unwrap()
                .parse::<u64>()
                .unwrap()
                <= 60
        );
    }
    let resp = get(&sim, Some(ANN), "/meetings").await;
    assert_eq!(resp.status(), 429);
    let retry: u64 = header(&resp, "retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(header(&resp, "ratelimit-remaining"), Some("0"));
    assert!(header(&resp, "ratelimit-reset").is_some());
    // Another key has its own window.
    assert_eq!(get(&sim, Some(BEN), "/meetings").await.status(), 200);
}

#[tokio::test]
async fn the_thirty_first_heavy_call_gets_429_and_heavy_calls_spend_the_global_budget() {
    let sim = sim(3).await;
    let id = sim.meetings(ANN).unwrap()[0].recording_id;
    for i in 0..30 {
        let path = if i % 2 == 0 {
            format!("/recordings/{id}/transcript")
        } else {
            "/meetings?include_summary=true".to_string()
        };
        let resp = get(&sim, Some(ANN), &path).await;
        assert_eq!(resp.status(), 200, "heavy call {}", i + 1);
        assert_eq!(header(&resp, "ratelimit-limit"), Some("30"));
    }
    let resp = get(&sim, Some(ANN), &format!("/recordings/{id}/summary")).await;
    assert_eq!(resp.status(), 429);
    assert!(header(&resp, "retry-after").is_some());
    // 30 of the 60 are gone: light calls still work, 30 more of them.
    let light = get(&sim, Some(ANN), "/meetings").await;
    assert_eq!(light.status(), 200);
    assert_eq!(header(&light, "ratelimit-remaining"), Some("29"));
}

#[tokio::test]
async fn rate_windows_reset_after_the_configured_window() {
    let sim = config(3)
        .with_rate_limits(RateLimits {
            global: 2,
            heavy: 1,
            window: Duration::from_millis(1500),
        })
        .spawn_local()
        .await
        .unwrap();
    assert_eq!(get(&sim, Some(ANN), "/meetings").await.status(), 200);
    assert_eq!(get(&sim, Some(ANN), "/meetings").await.status(), 200);
    let limited = get(&sim, Some(ANN), "/meetings").await;
    assert_eq!(limited.status(), 429);
    assert_eq!(header(&limited, "retry-after"), Some("2"));
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(get(&sim, Some(ANN), "/meetings").await.status(), 200);
}

#[tokio::test]
async fn webhook_creation_is_validated_like_fathom() {
    let sim = sim(1).await;
    let good = json!({
        "destination_url": "https://debrief.example.com/api/integrations/fathom/webhook/org-1",
        "triggered_for": ["my_recordings", "shared_external_recordings"],
        "include_transcript": true,
        "include_summary": true,
        "include_action_items": false,
        "include_crm_matches": false
    });
    let bad_cases = [
        json!({"destination_url": "https://x.example/h", "include_summary": true}),
        json!({"destination_url": "https://x.example/h", "triggered_for": [], "include_summary": true}),
        json!({"destination_url": "https://x.example/h", "triggered_for": ["shared_with_me_external_recordings"], "include_summary": true}),
        json!({"destination_url": "https://x.example/h", "triggered_for": ["my_recordings"]}),
        json!({"destination_url": "https://x.example/h", "triggered_for": ["my_recordings"], "include_summary": false}),
        json!({"destination_url": "https://x.example/h", "triggered_for": ["my_recordings"], "include_summary": true, "include_highlights": true}),
        json!({"destination_url": "not a url", "triggered_for": ["my_recordings"], "include_summary": true}),
        json!({"triggered_for": ["my_recordings"], "include_summary": true}),
        json!({"destination_url": "https://x.example/h", "triggered_for": ["my_recordings"], "include_summary": "true"}),
        json!(["my_recordings"]),
    ];
    for body in bad_cases {
        let resp = create_webhook(&sim, ANN, body.clone()).await;
        assert_eq!(resp.status(), 400, "{body}");
    }
    assert!(sim.webhooks().is_empty());
    assert_eq!(
        create_webhook(&sim, "wrong", good.clone()).await.status(),
        401
    );

    let resp = create_webhook(&sim, ANN, good).await;
    assert_eq!(resp.status(), 201);
    let hook: Value = resp.json().await.unwrap();
    let obj = hook.as_object().unwrap();
    for field in [
        "id",
        "url",
        "secret",
        "created_at",
        "include_transcript",
        "include_crm_matches",
        "include_summary",
        "include_action_items",
        "triggered_for",
    ] {
        assert!(obj.contains_key(field), "{field} missing");
    }
    let secret = hook["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(STANDARD.decode(&secret[6..]).unwrap().len(), 24);
    assert_eq!(hook["include_transcript"], true);
    assert_eq!(hook["include_crm_matches"], false);
    assert_eq!(
        hook["triggered_for"],
        json!(["my_recordings", "shared_external_recordings"])
    );
    assert_eq!(sim.webhooks().len(), 1);
    assert_eq!(sim.webhooks()[0].owner_email, "ann.lee@acme.com");
}

#[tokio::test]
async fn deleting_a_webhook_answers_204_then_404_and_only_for_its_owner() {
    let sim = sim(1).await;
    let body = json!({"destination_url": "https://x.example/h", "triggered_for": ["my_recordings"], "include_summary": true});
    let hook: Value = create_webhook(&sim, ANN, body).await.json().await.unwrap();
    let id = hook["id"].as_str().unwrap();
    let delete = |key: &'static str| {
        reqwest::Client::new()
            .delete(format!("{}/webhooks/{id}", sim.base_url()))
            .header("X-Api-Key", key)
            .send()
    };
    assert_eq!(delete(BEN).await.unwrap().status(), 404);
    let first = delete(ANN).await.unwrap();
    assert_eq!(first.status(), 204);
    assert!(first.bytes().await.unwrap().is_empty());
    assert_eq!(delete(ANN).await.unwrap().status(), 404);
    assert!(sim.webhooks().is_empty());
}

/// What a receiver got: headers and raw body.
type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A local webhook receiver that fails its first `failures` requests with 500.
async fn receiver(failures: usize) -> (String, Received) {
    let got: Received = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let store = Arc::clone(&got);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let store = Arc::clone(&store);
            let count = Arc::clone(&count);
            async move {
                store.lock().unwrap().push((headers, body));
                if count.fetch_add(1, Ordering::SeqCst) < failures {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), got)
}

/// Standard Webhooks verification written out independently of the simulator's `sign`.
fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.", h("webhook-id"), h("webhook-timestamp")).as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    h("webhook-signature").split(' ').any(|s| s == expected)
}

#[tokio::test]
async fn a_failed_delivery_is_retried_under_the_same_webhook_id_with_a_valid_signature() {
    let sim = sim(2).await;
    let (url, got) = receiver(1).await;
    let body = json!({"destination_url": url, "triggered_for": ["my_recordings"], "include_summary": true, "include_action_items": true});
    let hook: Value = create_webhook(&sim, ANN, body).await.json().await.unwrap();
    let secret = hook["secret"].as_str().unwrap().to_string();

    let started = Instant::now();
    let meeting = sim
        .add_meeting(
            ANN,
            MeetingSpec {
                title: Some("Renewal with Globex".into()),
                ..MeetingSpec::default()
            },
        )
        .unwrap();
    sim.wait_for_deliveries().await;
    assert!(
        started.elapsed() >= Duration::from_millis(50),
        "backoff waited"
    );

    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    let ids: Vec<_> = got.iter().map(|(h, _)| h["webhook-id"].clone()).collect();
    assert_eq!(ids[0], ids[1]);
    assert!(ids[0].to_str().unwrap().starts_with("msg_"));
    for (headers, body) in &got {
        assert!(verify(&secret, headers, body), "signature verifies");
        assert_eq!(headers["content-type"], "application/json");
        let ts: i64 = headers["webhook-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((Utc::now().timestamp() - ts).abs() < 60);
        let m: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(m["recording_id"], meeting.recording_id);
        assert_eq!(m["title"], "Renewal with Globex");
        assert!(m.get("default_summary").is_some() && m.get("action_items").is_some());
        assert!(m.get("transcript").is_none() && m.get("highlights").is_none());
        assert!(m.get("crm_matches").is_none());
    }
    assert!(!verify(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        &got[0].0,
        &got[0].1
    ));

    let attempts = sim.deliveries();
    assert_eq!(attempts.len(), 2);
    assert_eq!((attempts[0].attempt, attempts[0].status), (1, Some(500)));
    assert_eq!((attempts[1].attempt, attempts[1].status), (2, Some(204)));
    assert_eq!(attempts[0].message_id, attempts[1].message_id);
}

#[tokio::test]
async fn delivery_gives_up_after_max_attempts_and_reports_transport_errors() {
    let sim = config(1)
        .with_webhook_retries(Duration::from_millis(10), 3)
        .spawn_local()
        .await
        .unwrap();
    let body = json!({"destination_url": "http://127.0.0.1:9/nothing", "triggered_for": ["my_recordings"], "include_summary": true});
    assert_eq!(create_webhook(&sim, ANN, body).await.status(), 201);
    let id = sim.meetings(ANN).unwrap()[0].recording_id;
    sim.deliver(id).await.unwrap();
    let attempts = sim.deliveries();
    assert_eq!(
        attempts.iter().map(|a| a.attempt).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(
        attempts
            .iter()
            .all(|a| a.status.is_none() && a.error.is_some())
    );
}

#[tokio::test]
async fn deliver_twice_sends_the_same_webhook_id_twice_through_the_control_api() {
    let sim = sim(2).await;
    let (url, got) = receiver(0).await;
    let body = json!({"destination_url": url, "triggered_for": ["my_recordings"], "include_transcript": true});
    assert_eq!(create_webhook(&sim, ANN, body).await.status(), 201);
    // A webhook of another user, or one that does not cover private recordings, does not fire.
    let other = json!({"destination_url": url, "triggered_for": ["my_recordings"], "include_summary": true});
    assert_eq!(create_webhook(&sim, BEN, other).await.status(), 201);
    let team_only = json!({"destination_url": url, "triggered_for": ["shared_team_recordings"], "include_summary": true});
    assert_eq!(create_webhook(&sim, ANN, team_only).await.status(), 201);

    let id = sim.meetings(ANN).unwrap()[0].recording_id;
    let resp = reqwest::Client::new()
        .post(format!("{}/deliver", sim.control_url()))
        .json(&json!({"recording_id": id, "times": 2, "wait": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0["webhook-id"], got[1].0["webhook-id"]);
    let m: Value = serde_json::from_slice(&got[0].1).unwrap();
    assert!(m["transcript"].is_array());
    assert!(m["calendar_invitees"][0]["matched_speaker_display_name"].is_string());

    let unknown = reqwest::Client::new()
        .post(format!("{}/deliver", sim.control_url()))
        .json(&json!({"recording_id": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn team_shared_recordings_reach_colleagues_and_their_webhooks() {
    let sim = sim(2).await;
    let (url, got) = receiver(0).await;
    let body = json!({"destination_url": url, "triggered_for": ["shared_team_recordings"], "include_summary": true});
    assert_eq!(create_webhook(&sim, BEN, body).await.status(), 201);
    let shared = sim
        .add_meeting(
            ANN,
            MeetingSpec {
                shared_with: Some("single_team".into()),
                ..MeetingSpec::default()
            },
        )
        .unwrap();
    sim.wait_for_deliveries().await;
    assert_eq!(got.lock().unwrap().len(), 1);
    let path = format!("/recordings/{}/summary", shared.recording_id);
    assert_eq!(get(&sim, Some(BEN), &path).await.status(), 200);
}

#[tokio::test]
async fn injected_faults_last_for_their_count_then_calls_are_normal() {
    let sim = sim(1).await;
    sim.inject_fault(Fault::status(500, 2).for_key(ANN))
        .unwrap();
    assert_eq!(get(&sim, Some(BEN), "/meetings").await.status(), 200);
    assert_eq!(get(&sim, Some(ANN), "/meetings").await.status(), 500);
    assert_eq!(get(&sim, Some(ANN), "/meetings").await.status(), 500);
    assert_eq!(get(&sim, Some(ANN), "/meetings").await.status(), 200);

    let resp = reqwest::Client::new()
        .post(format!("{}/faults", sim.control_url()))
        .json(&json!({"kind": "status", "status": 429, "retry_after": 7, "count": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let limited = get(&sim, Some(ANN), "/meetings").await;
    assert_eq!(limited.status(), 429);
    assert_eq!(header(&limited, "retry-after"), Some("7"));

    let bad = reqwest::Client::new()
        .post(format!("{}/faults", sim.control_url()))
        .json(&json!({"kind": "slow", "count": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    sim.inject_fault(Fault::slow(300, 1)).unwrap();
    let t = Instant::now();
    assert_eq!(get(&sim, Some(ANN), "/meetings").await.status(), 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    let t = Instant::now();
    assert_eq!(get(&sim, Some(ANN), "/meetings").await.status(), 200);
    assert!(t.elapsed() < Duration::from_millis(300));

    sim.inject_fault(Fault::status(401, 1)).unwrap();
    assert_eq!(get(&sim, Some(ANN), "/meetings").await.status(), 401);
}

#[tokio::test]
async fn control_api_records_meetings_lists_webhooks_and_resets() {
    let sim = sim(3).await;
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("{}/meetings", sim.control_url()))
        .json(&json!({
            "api_key": ANN,
            "title": "Intro with Initech",
            "invitees": [{"name": "Sam Ortiz", "email": "sam.ortiz@initech.com"}],
            "deliver": false
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let m: Meeting = resp.json().await.unwrap();
    assert_eq!(m.title, "Intro with Initech");
    assert_eq!(m.calendar_invitees.len(), 2);
    assert_eq!(
        m.calendar_invitees[0].email.as_deref(),
        Some("ann.lee@acme.com")
    );
    assert!(m.calendar_invitees[1].is_external);
    assert_eq!(m.calendar_invitees_domains_type, "one_or_more_external");
    let page = get_json(&sim, ANN, "/meetings").await;
    assert_eq!(page["items"][0]["recording_id"], m.recording_id);

    let bad = client
        .post(format!("{}/meetings", sim.control_url()))
        .json(&json!({"api_key": ANN, "titel": "typo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    let body = json!({"destination_url": "https://x.example/h", "triggered_for": ["my_recordings"], "include_summary": true});
    assert_eq!(create_webhook(&sim, ANN, body).await.status(), 201);
    let hooks: Value = client
        .get(format!("{}/webhooks", sim.control_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(hooks[0]["url"], "https://x.example/h");
    assert_eq!(hooks[0]["owner_email"], "ann.lee@acme.com");
    let calls: Value = client
        .get(format!("{}/calls", sim.control_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        calls
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["key_hint"].as_str().is_none_or(|k| k.len() <= 4))
    );

    let reset = client
        .post(format!("{}/reset", sim.control_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 204);
    assert!(sim.webhooks().is_empty());
    assert!(sim.calls().is_empty());
    assert_eq!(sim.meetings(ANN).unwrap().len(), 3);
}

#[tokio::test]
async fn generated_meetings_are_deterministic_and_realistic() {
    let a = sim(40).await;
    let b = sim(40).await;
    let ma = a.meetings(ANN).unwrap();
    assert_eq!(ma, b.meetings(ANN).unwrap());
    assert_eq!(ma.len(), 40);
    let domains: std::collections::HashSet<String> = ma
        .iter()
        .flat_map(|m| m.calendar_invitees.iter())
        .filter(|i| i.is_external)
        .filter_map(|i| i.email_domain.clone())
        .collect();
    assert!(domains.len() >= 4, "{domains:?}");
    assert!(domains.iter().any(|d| ["gmail.com", "outlook.com", "yahoo.com", "hotmail.com"].contains(&d.as_str())));
    let lines: usize = ma
        .iter()
        .map(|m| m.transcript.as_ref().map_or(0, Vec::len))
        .sum();
    assert!(
        lines / ma.len() >= 100,
        "average transcript {} lines",
        lines / ma.len()
    );
    assert!(
        ma.iter()
            .all(|m| m.created_at <= now() && m.created_at > now() - chrono::Duration::days(30))
    );
    assert!(ma.iter().all(|m| Some(m.recording_id) != m.call_number()));
    assert!(
        ma.iter()
            .flat_map(|m| m.action_items.iter().flatten())
            .any(|a| a.assignee.email.is_none())
    );
    assert!(
        ma.iter()
            .any(|m| m.calendar_invitees_domains_type == "only_internal")
    );
    let other_now = config(40)
        .with_now(now() + chrono::Duration::days(1))
        .spawn_local()
        .await
        .unwrap();
    assert_ne!(
        ma[0].created_at,
        other_now.meetings(ANN).unwrap()[0].created_at
    );
}

#[tokio::test]
async fn three_hundred_meetings_page_through() {
    let sim = sim(300).await;
    let mut cursor: Option<String> = None;
    let mut total = 0;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/meetings?cursor={c}"),
            None => "/meetings".into(),
        };
        let page = get_json(&sim, ANN, &path).await;
        total += page["items"].as_array().unwrap().len();
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!((total, pages), (300, 30));
}

#[tokio::test]
async fn the_simulator_stops_on_shutdown() {
    let sim = sim(1).await;
    let url = sim.base_url();
    sim.shutdown().await;
    let err = reqwest::Client::new()
        .get(format!("{url}/meetings"))
        .send()
        .await;
    assert!(err.is_err());
}

#[tokio::test]
async fn run_standalone_serves_the_demo_users_until_shutdown() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let server = tokio::spawn(run_standalone(port, false, async {
        let _ = rx.await;
    }));
    let url = format!("http://127.0.0.1:{port}/external/v1/meetings");
    let mut status = None;
    for _ in 0..50 {
        if let Ok(r) = reqwest::Client::new()
            .get(&url)
            .header("X-Api-Key", DEMO_KEY_BOB)
            .send()
            .await
        {
            status = Some(r.status().as_u16());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, Some(200));
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}
