//! The dashboards' figures (`customer_rollups`) equal a direct count over the raw tables: after
//! ingest, after a re-match and after a manual unlink.

use debrief::sim::fathom::{InviteeSpec, MeetingSpec};
use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{ADA_FATHOM_KEY, TestApp, location, select_text, spawn_app};

/// Every customer's figures as stored, and as counted directly from meetings, links, action
/// items, attendees and contacts (written separately from the job's SQL on purpose).
async fn stored_and_counted(app: &TestApp) -> (Vec<String>, Vec<String>) {
    let stored: Vec<String> = sqlx::query_scalar(
        "select concat_ws(' ', c.name, r.meetings_total, r.meetings_30d, r.meetings_90d,
                          r.first_meeting_at, r.last_meeting_at, r.open_action_items, r.contacts_met,
                          array_to_string(r.weekly, ','))
         from customers c join customer_rollups r on r.customer_id = c.id order by c.name",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let counted: Vec<String> = sqlx::query_scalar(
        "with linked as (
             select mc.customer_id, m.* from meeting_customers mc join meetings m on m.id = mc.meeting_id)
         select concat_ws(' ', c.name,
                (select count(*) from linked l where l.customer_id = c.id),
                (select count(*) from linked l where l.customer_id = c.id and l.started_at >= now() - interval '30 days'),
                (select count(*) from linked l where l.customer_id = c.id and l.started_at >= now() - interval '90 days'),
                (select min(started_at) from linked l where l.customer_id = c.id),
                (select max(started_at) from linked l where l.customer_id = c.id),
                (select count(*) from linked l join meeting_action_items ai on ai.meeting_id = l.id
                  where l.customer_id = c.id and not ai.completed),
                (select count(*) from contacts k where k.customer_id = c.id
                   and exists (select 1 from linked l join meeting_attendees a on a.meeting_id = l.id
                                where l.customer_id = c.id and lower(a.email) = k.email)),
                (select string_agg(n::text, ',' order by w desc) from (
                    select w, (select count(*) from linked l where l.customer_id = c.id
                                 and date_trunc('week', l.started_at) = date_trunc('week', now()) - make_interval(weeks => w)) as n
                    from generate_series(0, 11) w) weeks))
         from customers c order by c.name",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    (stored, counted)
}

#[sqlx::test]
async fn dashboard_figures_equal_a_direct_count_after_ingest_rematch_and_unlink(db: PgPool) {
    let app = spawn_app(db).await;
    let ada = app.ada_with_fathom().await;
    app.wait_for_jobs().await;
    let (browser, slug) = (&ada.browser, ada.slug.as_str());
    let mut customers = Vec::new();
    for (name, domain) in [
        ("Northwind", "northwind.com"),
        ("Globex", "globex.com"),
        ("Initech", "initech.com"),
        ("Umbrella", "umbrella.example"),
    ] {
        let created = browser
            .submit(
                &format!("/o/{slug}/customers/new"),
                &format!("/o/{slug}/customers"),
                &[("name", name), ("domains", domain)],
            )
            .await;
        assert_eq!(created.status(), StatusCode::SEE_OTHER);
        customers.push(location(&created).rsplit('/').next().unwrap().to_owned());
    }
    let page = format!("/o/{slug}/customers/{}", customers[0]);
    let added = browser
        .submit(
            &page,
            &format!("{page}/contacts"),
            &[("email", "pat@northwind.com")],
        )
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);

    // 240 meetings over the last 120 days, with one, two or no customers each.
    let domains = [
        "northwind.com",
        "globex.com",
        "initech.com",
        "gmail.com",
        "fabrikam.com",
    ];
    let now = app.fathom().now();
    for i in 0..240i64 {
        let mut invitees = vec![InviteeSpec {
            name: Some(format!("Guest {i}")),
            email: Some(format!(
                "{}@{}",
                if i % 7 == 0 { "pat" } else { "guest" },
                domains[(i % 5) as usize]
            )),
        }];
        if i % 3 == 0 {
            invitees.push(InviteeSpec {
                name: Some("Second".into()),
                email: Some(format!("second@{}", domains[((i + 1) % 5) as usize])),
            });
        }
        let spec = MeetingSpec {
            title: Some(format!("Call {i}")),
            invitees: Some(invitees),
            created_at: Some(now - chrono::Duration::hours(12 * i)),
            ..MeetingSpec::default()
        };
        app.fathom().add_meeting(ADA_FATHOM_KEY, spec).unwrap();
    }
    app.fathom().wait_for_deliveries().await;
    app.wait_for_jobs().await;
    let (stored, counted) = stored_and_counted(&app).await;
    assert_eq!(stored.len(), 4, "{stored:?}");
    assert_eq!(stored, counted, "after ingest");
    assert!(
        stored[0].starts_with("Globex ") && !stored[0].starts_with("Globex 0 "),
        "{stored:?}"
    );

    // A re-match (Umbrella takes fabrikam.com), then a manual unlink.
    let page = format!("/o/{slug}/customers/{}", customers[3]);
    let added = browser
        .submit(
            &page,
            &format!("{page}/domains"),
            &[("domain", "fabrikam.com")],
        )
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    app.wait_for_jobs().await;
    let (stored, counted) = stored_and_counted(&app).await;
    assert_eq!(stored, counted, "after a re-match");
    let umbrella: i32 = sqlx::query_scalar(
        "select meetings_total from customer_rollups where customer_id = $1::uuid",
    )
    .bind(&customers[3])
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(umbrella > 0);

    let meeting: uuid::Uuid = sqlx::query_scalar(
        "select meeting_id from meeting_customers where customer_id = $1::uuid limit 1",
    )
    .bind(&customers[0])
    .fetch_one(&app.db)
    .await
    .unwrap();
    let meeting_page = format!("/o/{slug}/meetings/{meeting}");
    let unlinked = browser
        .submit(
            &meeting_page,
            &format!("{meeting_page}/customers/{}/unlink", customers[0]),
            &[],
        )
        .await;
    assert_eq!(unlinked.status(), StatusCode::SEE_OTHER);
    app.wait_for_jobs().await;
    let (stored, counted) = stored_and_counted(&app).await;
    assert_eq!(stored, counted, "after a manual unlink");

    // The pages show the stored figures.
    let (_, html) = browser
        .get_html(&format!("/o/{slug}/customers/{}", customers[0]))
        .await;
    let total: i32 = sqlx::query_scalar(
        "select meetings_total from customer_rollups where customer_id = $1::uuid",
    )
    .bind(&customers[0])
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        select_text(&html, "#meetings-total"),
        Some(total.to_string())
    );
    assert!(html.contains("class=\"weekly-chart\""));
    let (_, home) = browser.get_html(&format!("/o/{slug}/")).await;
    assert!(select_text(&home, "#most-active").is_some());
    let (status, list) = browser
        .get_html(&format!("/o/{slug}/customers?sort=active"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains("weekly-chart"));
    let (status, _) = browser
        .get_html(&format!("/o/{slug}/customers?sort=loudest"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}
