//! The Meetings pages: a meeting that arrived from Fathom shows with all its parts; summaries are
//! sanitised; the list pages by keyset without losing or repeating a meeting; other orgs' meetings
//! are 404; the org home lists its own newest meetings.

use debrief::domain::OrgId;
use debrief::fathom::mapping::meeting_record;
use debrief::fathom::types::Meeting;
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::{
    ADA_FATHOM_KEY, AdaWithFathom, Browser, TestApp, select_attr, select_text, select_texts,
    spawn_app,
};

fn fixture() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fathom/meeting_full.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Stores the fixture meeting as `recording_id` through the same upsert webhooks and sync use.
async fn store(
    app: &TestApp,
    org: OrgId,
    recording_id: i64,
    edit: impl FnOnce(&mut Value),
) -> uuid::Uuid {
    let mut json = fixture();
    json["recording_id"] = recording_id.into();
    edit(&mut json);
    let meeting: Meeting = serde_json::from_value(json).unwrap();
    let record = meeting_record(&meeting).unwrap();
    let mut tx = app.db.begin().await.unwrap();
    let (id, _) = debrief::db::meetings::upsert(&mut tx, org, &record, None, chrono::Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id.0
}

async fn org_of(app: &TestApp, name: &str, email: &str) -> (Browser, String, OrgId) {
    let (browser, slug) = app.signup(name, email, &format!("{name} Co")).await;
    let org = OrgId(app.org_id(&slug).await);
    (browser, slug, org)
}

#[sqlx::test]
async fn a_meeting_delivered_by_fathom_shows_with_all_its_parts(db: PgPool) {
    let app = spawn_app(db).await;
    let AdaWithFathom {
        browser: ada, slug, ..
    } = app.ada_with_fathom().await;
    app.wait_for_jobs().await;
    let recorded = app
        .fathom()
        .add_meeting(ADA_FATHOM_KEY, Default::default())
        .unwrap();
    app.fathom().wait_for_deliveries().await;
    app.wait_for_jobs().await;

    let (status, list) = ada.get_html(&format!("/o/{slug}/meetings")).await;
    assert_eq!(status, StatusCode::OK);
    let id: uuid::Uuid = sqlx::query_scalar("select id from meetings where recording_id = $1")
        .bind(recorded.recording_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let row = format!(r#"tr[data-meeting="{id}"]"#);
    assert!(select_text(&list, &row).unwrap().contains(&recorded.title));

    let (status, page) = ada.get_html(&format!("/o/{slug}/meetings/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        select_text(&page, "h1").as_deref(),
        Some(recorded.title.as_str())
    );
    let external = select_texts(&page, "#attendees-external li");
    let internal = select_texts(&page, "#attendees-internal li");
    for invitee in &recorded.calendar_invitees {
        let email = invitee.email.clone().unwrap_or_default();
        let list = if invitee.is_external {
            &external
        } else {
            &internal
        };
        assert!(
            list.iter().any(|li| li.contains(&email)),
            "{email} listed as external={}: {external:?} / {internal:?}",
            invitee.is_external
        );
    }
    let transcript = recorded.transcript.clone().unwrap_or_default();
    assert_eq!(
        select_texts(&page, "#transcript li").len(),
        transcript.len()
    );
    let first = &transcript[0];
    assert!(select_texts(&page, "#transcript li")[0].contains(&first.text));
    let items = recorded.action_items.clone().unwrap_or_default();
    assert_eq!(select_texts(&page, "#action-items li").len(), items.len());
    if let Some(summary) = recorded
        .default_summary
        .as_ref()
        .and_then(|s| s.markdown_formatted.clone())
    {
        assert!(!summary.is_empty());
        assert!(select_text(&page, "#summary").is_some(), "summary rendered");
    }
    assert_eq!(
        select_attr(&page, "a#share-url", "href"),
        Some(recorded.share_url.clone())
    );
}

#[sqlx::test]
async fn a_hostile_summary_is_rendered_inert(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug, org) = org_of(&app, "Ada", "ada@example.com").await;
    let id = store(&app, org, 1, |m| {
        m["default_summary"]["markdown_formatted"] = Value::from(
            "## Notes\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n[click](javascript:alert(3))\n\n**Budget** approved",
        );
        m["action_items"][0]["recording_playback_url"] = Value::from("javascript:alert(4)");
    })
    .await;
    let (status, page) = ada.get_html(&format!("/o/{slug}/meetings/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let summary_start = page.find(r#"<div id="summary">"#).expect("summary block");
    let summary = &page[summary_start..];
    let summary = &summary[..summary.find("</section>").unwrap()];
    assert!(
        summary.contains("<h3>Notes</h3>"),
        "headings sit under the page's own Summary heading: {summary}"
    );
    assert!(summary.contains("<strong>Budget</strong>"), "{summary}");
    assert!(!summary.contains("<script"), "{summary}");
    assert!(!summary.contains("onerror"), "{summary}");
    assert!(
        !page.contains("javascript:"),
        "no javascript: link anywhere"
    );
}

#[sqlx::test]
async fn the_list_pages_newest_first_fifty_at_a_time_without_gaps_or_repeats(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug, org) = org_of(&app, "Ada", "ada@example.com").await;
    let base: chrono::DateTime<chrono::Utc> = "2026-01-01T09:00:00Z".parse().unwrap();
    for n in 0..120i64 {
        // Pairs share a start time, so the id breaks ties.
        let at = (base + chrono::Duration::hours(n / 2)).to_rfc3339();
        store(&app, org, 1000 + n, |m| {
            m["recording_start_time"] = Value::from(at.clone());
            m["title"] = Value::from(format!("Call {n:03}"));
        })
        .await;
    }
    let mut seen = Vec::new();
    let mut path = format!("/o/{slug}/meetings");
    let mut pages = Vec::new();
    loop {
        let (status, html) = ada.get_html(&path).await;
        assert_eq!(status, StatusCode::OK);
        let titles: Vec<String> = select_texts(&html, "#meetings tbody tr td:first-child a");
        pages.push(titles.len());
        seen.extend(titles);
        match select_attr(&html, "#older-meetings", "href") {
            Some(next) => path = next,
            None => break,
        }
    }
    assert_eq!(pages, [50, 50, 20]);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(seen, sorted, "newest first");
    sorted.dedup();
    assert_eq!(sorted.len(), 120, "every meeting once");

    let (status, _) = ada
        .get_html(&format!("/o/{slug}/meetings?before=not-a-cursor"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[sqlx::test]
async fn another_orgs_meetings_are_not_found(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, a_slug, _) = org_of(&app, "Ada", "ada@example.com").await;
    let (_bob, b_slug, b_org) = org_of(&app, "Bob", "bob@example.com").await;
    let b_meeting = store(&app, b_org, 7, |_| {}).await;
    for path in [
        format!("/o/{b_slug}/meetings"),
        format!("/o/{b_slug}/meetings/{b_meeting}"),
        format!("/o/{a_slug}/meetings/{b_meeting}"),
        format!("/o/{a_slug}/meetings/{}", uuid::Uuid::now_v7()),
        format!("/o/{a_slug}/meetings/not-a-uuid"),
    ] {
        assert_eq!(
            ada.get(&path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let (_, list) = ada.get_html(&format!("/o/{a_slug}/meetings")).await;
    assert!(select_text(&list, "#no-meetings").is_some());
}

#[sqlx::test]
async fn the_org_home_shows_the_five_newest_meetings_of_its_own_org_only(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug, org) = org_of(&app, "Ada", "ada@example.com").await;
    let (bob, bob_slug, bob_org) = org_of(&app, "Bob", "bob@example.com").await;

    let (_, home) = ada.get_html(&format!("/o/{slug}/")).await;
    assert!(
        select_text(&home, "#no-meetings").is_some(),
        "an empty org says so"
    );
    assert_eq!(
        select_attr(&home, "#latest-meetings a[role=button]", "href").as_deref(),
        Some(format!("/o/{slug}/integrations/fathom/connect").as_str()),
        "an owner without Fathom is offered to connect it"
    );

    let base: chrono::DateTime<chrono::Utc> = "2026-03-01T09:00:00Z".parse().unwrap();
    let mut ids = Vec::new();
    for n in 0..7i64 {
        let at = (base + chrono::Duration::days(n)).to_rfc3339();
        ids.push(
            store(&app, org, 5000 + n, |m| {
                m["title"] = Value::from(format!("Call number {n}"));
                m["recording_start_time"] = Value::from(at.clone());
                m["scheduled_start_time"] = Value::from(at);
            })
            .await,
        );
    }
    store(&app, bob_org, 6000, |m| {
        m["title"] = Value::from("Bob's private call");
    })
    .await;

    let (status, home) = ada.get_html(&format!("/o/{slug}/")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        select_texts(&home, "#latest-meetings li a"),
        [
            "Call number 6",
            "Call number 5",
            "Call number 4",
            "Call number 3",
            "Call number 2"
        ],
        "the five newest, newest first"
    );
    assert_eq!(
        select_attr(&home, "#latest-meetings li a", "href").as_deref(),
        Some(format!("/o/{slug}/meetings/{}", ids[6]).as_str())
    );
    assert!(!home.contains("Bob&#39;s private call") && !home.contains("Bob's private call"));

    let (_, bob_home) = bob.get_html(&format!("/o/{bob_slug}/")).await;
    assert_eq!(
        select_texts(&bob_home, "#latest-meetings li a"),
        ["Bob's private call"]
    );
}

#[sqlx::test]
async fn a_sync_page_asked_for_before_a_webhook_never_overwrites_the_webhooks_newer_content(
    db: PgPool,
) {
    let app = spawn_app(db).await;
    let (_, _, org) = org_of(&app, "Ada", "ada@example.com").await;
    let version = |title: &str, summary: &str| {
        let mut json = fixture();
        json["title"] = title.into();
        json["default_summary"]["markdown_formatted"] = summary.into();
        meeting_record(&serde_json::from_value::<Meeting>(json).unwrap()).unwrap()
    };
    let now = chrono::Utc::now();
    let page_asked_at = now - chrono::Duration::seconds(5);
    let upsert = |record, at| {
        let db = app.db.clone();
        async move {
            let mut tx = db.begin().await.unwrap();
            let (_, outcome) = debrief::db::meetings::upsert(&mut tx, org, &record, None, at)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            outcome
        }
    };
    let stored = || async {
        sqlx::query_as::<_, (String, String)>(
            "select title, summary_markdown from meetings where org_id = $1",
        )
        .bind(org)
        .fetch_one(&app.db)
        .await
        .unwrap()
    };

    // The webhook with the edited meeting arrives while a sync's page (asked for earlier, holding
    // the old version) is still on its way; the page is stored after it.
    upsert(version("Renewal call (edited)", "## New summary"), now).await;
    let late_page = upsert(version("Renewal call", "## Old summary"), page_asked_at).await;
    assert_eq!(late_page, debrief::db::meetings::UpsertOutcome::Unchanged);
    assert_eq!(
        stored().await,
        (
            "Renewal call (edited)".to_owned(),
            "## New summary".to_owned()
        )
    );

    // A later answer still replaces it.
    upsert(
        version("Renewal call (final)", "## Final summary"),
        now + chrono::Duration::seconds(1),
    )
    .await;
    assert_eq!(
        stored().await,
        (
            "Renewal call (final)".to_owned(),
            "## Final summary".to_owned()
        )
    );
}
