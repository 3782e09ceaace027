//! CRM imports and write-back through the simulated HubSpot and Salesforce, with the real job
//! workers: customers arrive (paged, then incrementally), a matched meeting becomes exactly one
//! note or task however often the push runs or loses its answer, tokens refresh once when pushes
//! race, a revoked grant stops everything, and disconnecting revokes at the provider.

use debrief::domain::{CrmConnectionId, OrgId};
use debrief::jobs::PushMeetingToCrm;
use debrief::sim::crm::{Fault, FaultKind, SeedCompany};
use debrief::sim::fathom::MeetingSpec;
use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{
    ADA_FATHOM_KEY, AdaWithFathom, HUB_ID, SF_ORG, TestApp, location, select_text, spawn_app,
};

/// Ada with Fathom and `provider` connected, its first import done.
async fn ada_with_crm(app: &TestApp, provider: &str) -> (AdaWithFathom, CrmConnectionId) {
    let ada = app.ada_with_fathom().await;
    let response = app.connect_crm(&ada.browser, &ada.slug, provider).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    app.wait_for_jobs().await;
    let connection = app.crm_connection(ada.org, provider).await;
    (ada, connection)
}

/// A meeting with these invitees, delivered by webhook, every job run. Returns its id.
async fn meeting_with(app: &TestApp, title: &str, invitees: &[&str]) -> uuid::Uuid {
    let spec = MeetingSpec {
        title: Some(title.to_owned()),
        invitees: Some(crate::helpers::invitees(invitees)),
        ..MeetingSpec::default()
    };
    let meeting = app.fathom().add_meeting(ADA_FATHOM_KEY, spec).unwrap();
    app.fathom().wait_for_deliveries().await;
    app.wait_for_jobs().await;
    sqlx::query_scalar("select id from meetings where recording_id = $1")
        .bind(meeting.recording_id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

fn push(org: OrgId, meeting: uuid::Uuid, connection: CrmConnectionId) -> PushMeetingToCrm {
    PushMeetingToCrm {
        org_id: org,
        meeting_id: debrief::domain::MeetingId(meeting),
        connection_id: connection,
        attempt: 1,
    }
}

fn creates(app: &TestApp, path: &str) -> usize {
    app.crm
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && c.path == path && c.status == 201)
        .count()
}

#[sqlx::test]
async fn hubspot_companies_and_contacts_become_customers_across_pages_then_only_changes_come(
    db: PgPool,
) {
    let app = spawn_app(db).await;
    for i in 0..120 {
        app.crm
            .add_hubspot_company(
                HUB_ID,
                SeedCompany {
                    name: format!("Company {i:03}"),
                    domain: Some(format!("company{i:03}.example.org")),
                    additional_domains: Vec::new(),
                },
            )
            .unwrap();
    }
    let (ada, connection) = ada_with_crm(&app, "hubspot").await;
    let run: (String, i32, i32, i32, i32) = sqlx::query_as(
        "select state, pages, companies_seen, customers_created, contacts_created from crm_import_runs where connection_id = $1",
    )
    .bind(connection.0)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(run.0, "succeeded");
    assert_eq!(run.2, 122, "every company, across pages");
    assert!(
        run.1 >= 3,
        "two company pages and a contact page: {}",
        run.1
    );
    assert_eq!(run.3, 122);
    assert_eq!(run.4, 2, "Jane and Hank");
    let (source, domains): (String, Vec<String>) = sqlx::query_as(
        "select c.source, array_agg(d.domain) from customers c join customer_domains d on d.customer_id = c.id
          where c.org_id = $1 and c.name = 'Contoso' group by c.source",
    )
    .bind(ada.org.0)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        (source.as_str(), domains),
        ("hubspot", vec!["contoso.com".to_owned()])
    );

    // Rename one company in HubSpot; "Sync customers now" reads only what changed.
    let contoso = app
        .crm
        .hubspot_records(HUB_ID, "companies")
        .into_iter()
        .find(|r| r.properties.get("name").map(String::as_str) == Some("Contoso"))
        .unwrap();
    app.crm
        .change_hubspot_record(HUB_ID, "companies", &contoso.id, &[("name", "Contoso Ltd")])
        .unwrap();
    let page = format!("/o/{}/integrations/crm/{connection}", ada.slug);
    let response = ada
        .browser
        .submit(&page, &format!("{page}/import"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    app.wait_for_jobs().await;
    let latest: (i32, i32, i32) = sqlx::query_as(
        "select companies_seen, contacts_seen, customers_updated from crm_import_runs
          where connection_id = $1 order by created_at desc limit 1",
    )
    .bind(connection.0)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(latest, (1, 0, 1), "only the renamed company");
    let renamed: i64 = sqlx::query_scalar(
        "select count(*) from customers where org_id = $1 and name = 'Contoso Ltd'",
    )
    .bind(ada.org.0)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(renamed, 1);
    let (_, html) = ada.browser.get_html(&page).await;
    assert!(select_text(&html, ".crm-import .run-customers-updated").is_some());
}

#[sqlx::test]
async fn a_crm_record_links_to_a_customer_made_by_hand_and_never_overwrites_it(db: PgPool) {
    let app = spawn_app(db).await;
    let ada = app.ada_with_fathom().await;
    let response = ada
        .browser
        .submit(
            &format!("/o/{}/customers/new", ada.slug),
            &format!("/o/{}/customers", ada.slug),
            &[
                ("name", "Contoso (our name)"),
                ("domains", "contoso.com"),
                ("notes", "key account"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    app.connect_crm(&ada.browser, &ada.slug, "salesforce").await;
    app.wait_for_jobs().await;
    let customers: Vec<(String, String)> =
        sqlx::query_as("select name, source from customers where org_id = $1 order by name")
            .bind(ada.org.0)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(
        customers,
        vec![
            ("Contoso (our name)".to_owned(), "manual".to_owned()),
            ("Fabrikam".to_owned(), "salesforce".to_owned()),
        ]
    );
    let linked: (i32, i32, i32) = sqlx::query_as(
        "select customers_linked, customers_created, pages from crm_import_runs where org_id = $1",
    )
    .bind(ada.org.0)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((linked.0, linked.1), (1, 1));
    // The customer's page says so.
    let ours: uuid::Uuid =
        sqlx::query_scalar("select id from customers where name = 'Contoso (our name)'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    let (_, html) = ada
        .browser
        .get_html(&format!("/o/{}/customers/{ours}", ada.slug))
        .await;
    let shown = select_text(&html, "#crm-records").unwrap();
    assert!(
        shown.contains("Linked to Salesforce") && shown.contains("kept as you made it"),
        "{shown}"
    );
    assert!(
        linked.2 >= 2,
        "Salesforce answered in batches of two: {}",
        linked.2
    );
}

#[sqlx::test]
async fn a_matched_meeting_becomes_one_hubspot_note_however_often_it_is_pushed(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, connection) = ada_with_crm(&app, "hubspot").await;
    let meeting = meeting_with(&app, "QBR with Contoso", &["jane@contoso.com"]).await;
    let notes = app.crm.hubspot_records(HUB_ID, "notes");
    assert_eq!(notes.len(), 1, "{notes:?}");
    let note = &notes[0];
    let jane = app
        .crm
        .hubspot_records(HUB_ID, "contacts")
        .into_iter()
        .find(|c| c.properties["email"] == "jane@contoso.com")
        .unwrap();
    let contoso = app
        .crm
        .hubspot_records(HUB_ID, "companies")
        .into_iter()
        .find(|c| c.properties["name"] == "Contoso")
        .unwrap();
    let assoc: Vec<(String, String, u32)> = note
        .associations
        .iter()
        .map(|a| (a.to_type.clone(), a.to_id.clone(), a.type_id))
        .collect();
    assert!(
        assoc.contains(&("contacts".into(), jane.id.clone(), 202)),
        "{assoc:?}"
    );
    assert!(
        assoc.contains(&("companies".into(), contoso.id.clone(), 190)),
        "{assoc:?}"
    );
    let end: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "select coalesce(recording_end_time, scheduled_end_time) from meetings where id = $1",
    )
    .bind(meeting)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let ts = chrono::DateTime::parse_from_rfc3339(&note.properties["hs_timestamp"]).unwrap();
    assert_eq!(
        ts.timestamp(),
        end.timestamp(),
        "timed at the recording's end"
    );

    for _ in 0..3 {
        debrief::jobs::push_meeting_to_crm(&app.state, push(ada.org, meeting, connection))
            .await
            .unwrap();
    }
    assert_eq!(
        app.crm.hubspot_records(HUB_ID, "notes").len(),
        1,
        "re-runs change nothing"
    );
    assert_eq!(creates(&app, "/crm/v3/objects/notes"), 1);

    // The summary changes: the same note is updated.
    sqlx::query("update meetings set summary_markdown = 'They signed the renewal.' where id = $1")
        .bind(meeting)
        .execute(&app.db)
        .await
        .unwrap();
    debrief::jobs::push_meeting_to_crm(&app.state, push(ada.org, meeting, connection))
        .await
        .unwrap();
    let notes = app.crm.hubspot_records(HUB_ID, "notes");
    assert_eq!(notes.len(), 1);
    assert!(notes[0].properties["hs_note_body"].contains("They signed the renewal."));

    // The meeting page links to it.
    let (_, html) = ada
        .browser
        .get_html(&format!("/o/{}/meetings/{meeting}", ada.slug))
        .await;
    let status = select_text(&html, "#crm-pushes li").unwrap();
    assert!(status.contains("written"), "{status}");
}

#[sqlx::test]
async fn a_create_whose_answer_was_lost_is_found_again_not_duplicated(db: PgPool) {
    let app = spawn_app(db).await;
    let (_ada, _) = ada_with_crm(&app, "hubspot").await;
    app.crm
        .inject_fault(Fault::new(FaultKind::TimeoutAfterCreate, 1));
    meeting_with(&app, "Contoso pricing", &["jane@contoso.com"]).await;
    let notes = app.crm.hubspot_records(HUB_ID, "notes");
    assert_eq!(notes.len(), 1, "found by its key, not created again");
    // The second attempt looked among Contoso's notes and updated the one the first made.
    let calls = app.crm.calls();
    assert!(
        calls
            .iter()
            .any(|c| c.method == "GET" && c.path.ends_with("/associations/notes")),
        "{calls:?}"
    );
    let update = format!("/crm/v3/objects/notes/{}", notes[0].id);
    assert!(
        calls
            .iter()
            .any(|c| c.method == "PATCH" && c.path == update && c.status == 200),
        "{calls:?}"
    );
    assert_eq!(
        creates(&app, "/crm/v3/objects/notes"),
        0,
        "the only create never answered"
    );
    let state: (String, bool, Option<String>) =
        sqlx::query_as("select state, in_doubt, external_id from crm_pushes")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(state.0, "pushed");
    assert!(!state.1);
    assert_eq!(
        state.2.as_deref(),
        Some(app.crm.hubspot_records(HUB_ID, "notes")[0].id.as_str())
    );
}

#[sqlx::test]
async fn salesforce_gets_one_completed_task_after_reruns_and_a_lost_answer(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, connection) = ada_with_crm(&app, "salesforce").await;
    app.crm
        .inject_fault(Fault::new(FaultKind::TimeoutAfterCreate, 1));
    let meeting = meeting_with(&app, "Fabrikam onboarding", &["hank@fabrikam.com"]).await;
    for _ in 0..3 {
        debrief::jobs::push_meeting_to_crm(&app.state, push(ada.org, meeting, connection))
            .await
            .unwrap();
    }
    let tasks = app.crm.salesforce_records(SF_ORG, "Task");
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let t = &tasks[0].properties;
    assert_eq!(t["Status"], "Completed");
    assert_eq!(t["Subject"], "Call: Fabrikam onboarding");
    assert!(
        t["WhoId"].starts_with("003") && t["WhatId"].starts_with("001"),
        "{t:?}"
    );
}

#[sqlx::test]
async fn an_expired_token_is_refreshed_once_when_two_pushes_race(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, connection) = ada_with_crm(&app, "hubspot").await;
    // Two meetings waiting to be pushed while the token has just expired at HubSpot.
    sqlx::query("update crm_connections set push_enabled = false")
        .execute(&app.db)
        .await
        .unwrap();
    let a = meeting_with(&app, "Contoso one", &["jane@contoso.com"]).await;
    let b = meeting_with(&app, "Contoso two", &["jane@contoso.com"]).await;
    sqlx::query("update crm_connections set push_enabled = true")
        .execute(&app.db)
        .await
        .unwrap();
    app.crm.expire_access_tokens();
    let before = app.crm.stats().hubspot_refreshes;
    let (ra, rb) = tokio::join!(
        debrief::jobs::push_meeting_to_crm(&app.state, push(ada.org, a, connection)),
        debrief::jobs::push_meeting_to_crm(&app.state, push(ada.org, b, connection)),
    );
    ra.unwrap();
    rb.unwrap();
    assert_eq!(
        app.crm.stats().hubspot_refreshes - before,
        1,
        "one refresh for both"
    );
    assert_eq!(app.crm.hubspot_records(HUB_ID, "notes").len(), 2);
}

#[sqlx::test]
async fn a_revoked_refresh_token_marks_the_connection_needs_reconnect_without_retrying(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, connection) = ada_with_crm(&app, "hubspot").await;
    app.crm.revoke_refresh_tokens();
    app.crm.expire_access_tokens();
    meeting_with(&app, "Contoso after revoke", &["jane@contoso.com"]).await;
    let page = format!("/o/{}/integrations/crm/{connection}", ada.slug);
    ada.browser
        .submit(&page, &format!("{page}/import"), &[])
        .await;
    app.wait_for_jobs().await;
    let (state, problem): (String, Option<String>) =
        sqlx::query_as("select state, problem from crm_connections where id = $1")
            .bind(connection.0)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(state, "needs_reconnect");
    assert!(problem.unwrap().contains("refused"));
    assert_eq!(
        app.crm.stats().hubspot_refreshes,
        1,
        "asked once, never again"
    );
    let audit: i64 = sqlx::query_scalar(
        "select count(*) from audit_events where action = 'crm.needs_reconnect'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(audit, 1);
    let (_, html) = ada
        .browser
        .get_html(&format!("/o/{}/integrations", ada.slug))
        .await;
    assert!(
        select_text(&html, ".crm-needs-reconnect").is_some(),
        "a banner says so"
    );
    assert_eq!(app.crm.hubspot_records(HUB_ID, "notes").len(), 0);
}

#[sqlx::test]
async fn rate_limits_are_waited_out_and_a_meeting_fans_out_to_every_crm(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, _) = ada_with_crm(&app, "hubspot").await;
    app.connect_crm(&ada.browser, &ada.slug, "salesforce").await;
    app.wait_for_jobs().await;
    app.crm.inject_fault(Fault {
        kind: FaultKind::RateLimited,
        count: 2,
        provider: Some(debrief::sim::crm::Provider::Hubspot),
    });
    meeting_with(&app, "Contoso everywhere", &["jane@contoso.com"]).await;
    assert_eq!(app.crm.hubspot_records(HUB_ID, "notes").len(), 1);
    assert_eq!(app.crm.salesforce_records(SF_ORG, "Task").len(), 1);
    assert!(app.crm.stats().rate_limited >= 2);
}

#[sqlx::test]
async fn disconnecting_revokes_at_the_provider_erases_tokens_and_stops_pushes(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, connection) = ada_with_crm(&app, "hubspot").await;
    let page = format!("/o/{}/integrations/crm/{connection}", ada.slug);
    let response = ada
        .browser
        .submit(
            &page,
            &format!("{page}/disconnect"),
            &[("remove_customers", "on")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = ada.browser.get_html(&location(&response)).await;
    assert!(
        select_text(&html, ".flash")
            .unwrap()
            .contains("disconnected"),
        "{html}"
    );
    assert_eq!(app.crm.stats().revocations, 1);
    let tokens: (Option<String>, Option<String>, String) = sqlx::query_as(
        "select access_token_ciphertext, refresh_token_ciphertext, state from crm_connections where id = $1",
    )
    .bind(connection.0)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(tokens, (None, None, "disconnected".to_owned()));
    let imported: i64 =
        sqlx::query_scalar("select count(*) from customers where source = 'hubspot'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(imported, 0, "removed as asked");
    let calls = app.crm.calls().len();
    meeting_with(&app, "After disconnect", &["jane@contoso.com"]).await;
    assert_eq!(app.crm.calls().len(), calls, "nothing more reaches HubSpot");
}

#[sqlx::test]
async fn open_action_items_become_hubspot_tasks_when_asked_and_the_audit_counts_what_was_written(
    db: PgPool,
) {
    let app = spawn_app(db).await;
    let (ada, connection) = ada_with_crm(&app, "hubspot").await;
    let page = format!("/o/{}/integrations/crm/{connection}", ada.slug);
    let saved = ada
        .browser
        .submit(
            &page,
            &format!("{page}/settings"),
            &[("push_enabled", "on"), ("push_tasks", "on")],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let meeting = meeting_with(&app, "Contoso with tasks", &["jane@contoso.com"]).await;
    // Two open action items more (generated meetings may have none open), then the push again.
    sqlx::query(
        "insert into meeting_action_items (org_id, meeting_id, position, description, user_generated, completed, assignee_email)
         select $1, $2, 1000 + g, 'Follow up ' || g, false, false, 'ada@example.com' from generate_series(1, 2) g",
    )
    .bind(ada.org.0)
    .bind(meeting)
    .execute(&app.db)
    .await
    .unwrap();
    debrief::jobs::push_meeting_to_crm(&app.state, push(ada.org, meeting, connection))
        .await
        .unwrap();
    let open: i64 = sqlx::query_scalar(
        "select count(*) from meeting_action_items where meeting_id = $1 and not completed",
    )
    .bind(meeting)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(open > 0, "the generated meeting has open action items");
    let tasks = app.crm.hubspot_records(HUB_ID, "tasks");
    assert_eq!(tasks.len() as i64, open, "one task per open action item");
    assert!(
        tasks
            .iter()
            .all(|t| t.properties["hs_task_status"] == "NOT_STARTED")
    );
    assert!(
        tasks
            .iter()
            .all(|t| t.associations.iter().any(|a| a.type_id == 204))
    );
    assert_eq!(app.crm.hubspot_records(HUB_ID, "notes").len(), 1);

    let (_, html) = ada.browser.get_html(&page).await;
    assert_eq!(
        select_text(&html, "#crm-audit tr[data-days='7'] .audit-matched").unwrap(),
        "1"
    );
    assert_eq!(
        select_text(&html, "#crm-audit tr[data-days='7'] .audit-pushed").unwrap(),
        "1"
    );
    assert_eq!(
        select_text(&html, "#crm-audit tr[data-days='30'] .audit-mismatched").unwrap(),
        "0"
    );
    assert!(select_text(&html, "#audit-clean").is_some(), "{html}");

    // A failed push shows up as an exception with a link to the meeting.
    sqlx::query("update crm_pushes set state = 'failed', error = 'refused' where kind = 'note'")
        .execute(&app.db)
        .await
        .unwrap();
    let (_, html) = ada.browser.get_html(&page).await;
    assert_eq!(
        select_text(&html, "#crm-audit tr[data-days='7'] .audit-failed").unwrap(),
        "1"
    );
    let exception = select_text(&html, "#audit-exceptions li").unwrap();
    assert!(
        exception.contains("Contoso with tasks") && exception.contains("Failed: refused"),
        "{exception}"
    );
    let (_, meeting_page) = ada
        .browser
        .get_html(&format!("/o/{}/meetings/{meeting}", ada.slug))
        .await;
    assert!(
        select_text(&meeting_page, "#crm-pushes li[data-state=failed] button")
            .unwrap()
            .contains("Retry")
    );
    let retried = ada
        .browser
        .submit(
            &format!("/o/{}/meetings/{meeting}", ada.slug),
            &format!("/o/{}/meetings/{meeting}/crm/{connection}/retry", ada.slug),
            &[],
        )
        .await;
    assert_eq!(retried.status(), StatusCode::SEE_OTHER);
    app.wait_for_jobs().await;
    let state: String = sqlx::query_scalar("select state from crm_pushes where kind = 'note'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        state, "pushed",
        "Retry wrote it again (an update: the note exists)"
    );
    assert_eq!(app.crm.hubspot_records(HUB_ID, "notes").len(), 1);
}
