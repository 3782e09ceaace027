//! Customers, their domains and contacts, and meetings matched to them: through the real forms,
//! the real webhook from the simulated Fathom, and the real job workers.

use debrief::sim::fathom::{InviteeSpec, MeetingSpec};
use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{
    ADA_FATHOM_KEY, AdaWithFathom, Browser, TestApp, location, select_text, select_texts, spawn_app,
};

/// Adds a customer through the form; returns its id.
async fn add_customer(browser: &Browser, slug: &str, name: &str, domains: &str) -> String {
    let response = browser
        .submit(
            &format!("/o/{slug}/customers/new"),
            &format!("/o/{slug}/customers"),
            &[("name", name), ("domains", domains), ("notes", "")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{name} is added");
    location(&response).rsplit('/').next().unwrap().to_owned()
}

async fn add_contact(browser: &Browser, slug: &str, customer: &str, email: &str) -> StatusCode {
    let page = format!("/o/{slug}/customers/{customer}");
    browser
        .submit(
            &page,
            &format!("{page}/contacts"),
            &[("email", email), ("name", ""), ("title", "")],
        )
        .await
        .status()
}

/// Records a meeting in the simulated Fathom with these invitees and has it delivered by webhook;
/// waits until every job has run. Returns the meeting's id in Debrief.
async fn meeting_with(app: &TestApp, title: &str, invitees: &[&str]) -> String {
    let spec = MeetingSpec {
        title: Some(title.to_owned()),
        invitees: Some(crate::helpers::invitees(invitees)),
        ..MeetingSpec::default()
    };
    let meeting = app.fathom().add_meeting(ADA_FATHOM_KEY, spec).unwrap();
    app.fathom().wait_for_deliveries().await;
    app.wait_for_jobs().await;
    let id: uuid::Uuid = sqlx::query_scalar("select id from meetings where recording_id = $1")
        .bind(meeting.recording_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    id.to_string()
}

/// The customers a meeting is linked to, as `name:reason`, by name.
async fn links(app: &TestApp, meeting: &str) -> Vec<String> {
    sqlx::query_scalar(
        "select c.name || ':' || mc.reason from meeting_customers mc
           join customers c on c.id = mc.customer_id
         where mc.meeting_id = $1::uuid order by c.name",
    )
    .bind(meeting)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

async fn ada(app: &TestApp) -> AdaWithFathom {
    let ada = app.ada_with_fathom().await;
    app.wait_for_jobs().await;
    ada
}

#[sqlx::test]
async fn customers_with_domains_and_contacts_are_added_and_bad_input_stores_nothing(db: PgPool) {
    let app = spawn_app(db).await;
    let (browser, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let northwind = add_customer(
        &browser,
        &slug,
        "Northwind",
        "northwind.com; https://www.Northwind.de/",
    )
    .await;
    let (status, html) = browser
        .get_html(&format!("/o/{slug}/customers/{northwind}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        select_texts(&html, "#domains .domain"),
        ["northwind.com", "northwind.de"]
    );

    let new_page = format!("/o/{slug}/customers/new");
    let create = format!("/o/{slug}/customers");
    for (fields, message) in [
        (
            [("name", "Nope Inc"), ("domains", "nope"), ("notes", "")],
            "“nope”: Enter a domain like acme.com.",
        ),
        (
            [("name", "  "), ("domains", ""), ("notes", "")],
            "Enter the company name.",
        ),
        (
            [
                ("name", "Other"),
                ("domains", "other.com, northwind.com"),
                ("notes", ""),
            ],
            "northwind.com already belongs to Northwind.",
        ),
    ] {
        let response = browser.submit(&new_page, &create, &fields).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{message}"
        );
        let html = response.text().await.unwrap();
        assert!(html.contains(message), "{message} in {html}");
    }
    assert_eq!(app.count("customers").await, 1, "nothing else was stored");
    assert_eq!(app.count("customer_domains").await, 2);

    // A domain another customer has, on the customer page: refused there, with the reason.
    let globex = add_customer(&browser, &slug, "Globex", "").await;
    let page = format!("/o/{slug}/customers/{globex}");
    let response = browser
        .submit(
            &page,
            &format!("{page}/domains"),
            &[("domain", "www.northwind.com")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert_eq!(
        select_text(&html, "#domain-error").as_deref(),
        Some("northwind.com already belongs to Northwind.")
    );
    assert_eq!(app.count("customer_domains").await, 2);

    // Contacts: normalised, unique per org, bad emails refused.
    assert_eq!(
        add_contact(&browser, &slug, &northwind, "  Priya.Patel@Northwind.COM ").await,
        StatusCode::SEE_OTHER
    );
    let email: String = sqlx::query_scalar("select email from contacts")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(email, "priya.patel@northwind.com");
    let response = browser
        .submit(
            &page,
            &format!("{page}/contacts"),
            &[
                ("email", "priya.patel@northwind.com"),
                ("name", ""),
                ("title", ""),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert_eq!(
        select_text(&html, "#contact-email-error").as_deref(),
        Some("priya.patel@northwind.com is already a contact of Northwind.")
    );
    assert_eq!(
        add_contact(&browser, &slug, &globex, "not an email").await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(app.count("contacts").await, 1);

    // Search by name or domain; whatever is typed answers 200.
    for (q, expected) in [
        ("north", vec!["Northwind"]),
        ("NORTHWIND.DE", vec!["Northwind"]),
        ("glob", vec!["Globex"]),
        ("", vec!["Globex", "Northwind"]),
        ("zzz", vec![]),
        ("%", vec![]),
        ("_", vec![]),
        ("' or 1=1 --", vec![]),
        ("\\", vec![]),
    ] {
        let url = format!(
            "/o/{slug}/customers?q={}",
            url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
        );
        let (status, html) = browser.get_html(&url).await;
        assert_eq!(status, StatusCode::OK, "{q}");
        assert_eq!(
            select_texts(&html, "#customers tbody td:first-child a"),
            expected,
            "{q}"
        );
    }
}

#[sqlx::test]
async fn meetings_are_matched_by_contact_email_domain_and_parent_domain(db: PgPool) {
    let app = spawn_app(db).await;
    let ada = ada(&app).await;
    let (browser, slug) = (&ada.browser, ada.slug.as_str());
    let northwind = add_customer(browser, slug, "Northwind", "northwind.com").await;
    let globex = add_customer(browser, slug, "Globex", "globex.com").await;
    let _sub = add_customer(browser, slug, "Initech EU", "eu.initech.com").await;
    let _own = add_customer(browser, slug, "Our own subsidiary", "eu.example.com").await;
    assert_eq!(
        add_contact(browser, slug, &globex, "sam@gmail.com").await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        add_contact(browser, slug, &globex, "lee@globex.com").await,
        StatusCode::SEE_OTHER
    );
    app.wait_for_jobs().await;

    let cases: Vec<(&str, Vec<&str>, Vec<&str>)> = vec![
        (
            "exact email, any case",
            vec!["LEE@Globex.com"],
            vec!["Globex:contact"],
        ),
        (
            "domain fallback",
            vec!["new.person@northwind.com"],
            vec!["Northwind:domain"],
        ),
        (
            "subdomain to parent",
            vec!["kim@emea.northwind.com"],
            vec!["Northwind:domain"],
        ),
        (
            "a parent is not matched by a subdomain's customer",
            vec!["boss@initech.com"],
            vec![],
        ),
        (
            "free mail: only the exact contact",
            vec!["someone@gmail.com", "sam@gmail.com"],
            vec!["Globex:contact"],
        ),
        (
            "an internal subdomain is internal whatever Fathom says",
            vec!["me@eu.example.com"],
            vec![],
        ),
        (
            "two customers",
            vec!["a@northwind.com", "lee@globex.com"],
            vec!["Globex:contact", "Northwind:domain"],
        ),
    ];
    for (name, invitees, expected) in cases {
        let meeting = meeting_with(&app, name, &invitees).await;
        assert_eq!(links(&app, &meeting).await, expected, "{name}");
    }

    // The customer page lists its meetings, newest first, with who caused the link.
    let (_, html) = browser
        .get_html(&format!("/o/{slug}/customers/{northwind}"))
        .await;
    let rows = select_texts(&html, "#customer-meetings li a");
    let expected: Vec<String> = sqlx::query_scalar(
        "select m.title from meeting_customers mc join meetings m on m.id = mc.meeting_id
         where mc.customer_id = $1::uuid order by m.started_at desc, m.id desc",
    )
    .bind(&northwind)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(rows, expected);
    for title in ["two customers", "subdomain to parent", "domain fallback"] {
        assert!(rows.iter().any(|r| r == title), "{title} in {rows:?}");
    }
    assert!(html.contains("kim@emea.northwind.com"));
}

#[sqlx::test]
async fn manual_links_and_unlinks_survive_redelivery_sync_and_rematch(db: PgPool) {
    let app = spawn_app(db).await;
    let ada = ada(&app).await;
    let (browser, slug) = (&ada.browser, ada.slug.as_str());
    let northwind = add_customer(browser, slug, "Northwind", "northwind.com").await;
    let globex = add_customer(browser, slug, "Globex", "").await;
    app.wait_for_jobs().await;
    let spec = MeetingSpec {
        title: Some("Quarterly review".into()),
        invitees: Some(vec![InviteeSpec {
            name: Some("John".into()),
            email: Some("john@northwind.com".into()),
        }]),
        ..MeetingSpec::default()
    };
    let recorded = app.fathom().add_meeting(ADA_FATHOM_KEY, spec).unwrap();
    app.fathom().wait_for_deliveries().await;
    app.wait_for_jobs().await;
    let meeting: uuid::Uuid = sqlx::query_scalar("select id from meetings where recording_id = $1")
        .bind(recorded.recording_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let meeting = meeting.to_string();
    assert_eq!(links(&app, &meeting).await, ["Northwind:domain"]);

    // Unlink Northwind, link Globex by hand.
    let page = format!("/o/{slug}/meetings/{meeting}");
    let unlinked = browser
        .submit(&page, &format!("{page}/customers/{northwind}/unlink"), &[])
        .await;
    assert_eq!(unlinked.status(), StatusCode::SEE_OTHER);
    let linked = browser
        .submit(
            &page,
            &format!("{page}/customers"),
            &[("customer_id", globex.as_str())],
        )
        .await;
    assert_eq!(linked.status(), StatusCode::SEE_OTHER);
    assert_eq!(links(&app, &meeting).await, ["Globex:manual"]);
    let (_, html) = browser.get_html(&page).await;
    assert_eq!(select_texts(&html, "#linked-customers li a"), ["Globex"]);

    // A re-delivery of the meeting (the webhook again), a re-match (a new contact), a sync.
    app.fathom().deliver(recorded.recording_id).await.unwrap();
    app.wait_for_jobs().await;
    assert_eq!(
        add_contact(browser, slug, &northwind, "john@northwind.com").await,
        StatusCode::SEE_OTHER
    );
    app.wait_for_jobs().await;
    let sync = browser
        .submit(
            &format!("/o/{slug}/integrations"),
            &format!(
                "/o/{slug}/integrations/fathom/connections/{}/sync",
                ada.connection
            ),
            &[("backfill_days", "")],
        )
        .await;
    assert_eq!(sync.status(), StatusCode::SEE_OTHER);
    app.wait_for_jobs().await;
    assert_eq!(
        links(&app, &meeting).await,
        ["Globex:manual"],
        "decisions held"
    );

    // Linking Northwind again by hand brings it back (found by matching: reason contact).
    let relinked = browser
        .submit(
            &page,
            &format!("{page}/customers"),
            &[("customer_id", northwind.as_str())],
        )
        .await;
    assert_eq!(relinked.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        links(&app, &meeting).await,
        ["Globex:manual", "Northwind:contact"]
    );
}

#[sqlx::test]
async fn contacts_and_domains_added_later_link_old_meetings_and_deleting_a_customer_keeps_them(
    db: PgPool,
) {
    let app = spawn_app(db).await;
    let ada = ada(&app).await;
    let (browser, slug) = (&ada.browser, ada.slug.as_str());
    let first = meeting_with(
        &app,
        "Before anyone knew",
        &["pat@contoso.com", "kai@fabrikam.com"],
    )
    .await;
    assert_eq!(links(&app, &first).await, Vec::<String>::new());

    let contoso = add_customer(browser, slug, "Contoso", "").await;
    let fabrikam = add_customer(browser, slug, "Fabrikam", "").await;
    assert_eq!(
        add_contact(browser, slug, &contoso, "pat@contoso.com").await,
        StatusCode::SEE_OTHER
    );
    let page = format!("/o/{slug}/customers/{fabrikam}");
    let added = browser
        .submit(
            &page,
            &format!("{page}/domains"),
            &[("domain", "fabrikam.com")],
        )
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    app.wait_for_jobs().await;
    assert_eq!(
        links(&app, &first).await,
        ["Contoso:contact", "Fabrikam:domain"]
    );
    // Those edits in quick succession were served by one re-match.
    let rematches: i64 =
        sqlx::query_scalar("select count(*) from apalis.jobs where job_type = 'rematch_org'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(rematches, 1);

    // Removing the domain unlinks; deleting the customer unlinks and keeps the meeting.
    let removed = browser
        .submit(
            &page,
            &format!("{page}/domains/remove"),
            &[("domain", "fabrikam.com")],
        )
        .await;
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    app.wait_for_jobs().await;
    assert_eq!(links(&app, &first).await, ["Contoso:contact"]);
    let meetings_before = app.count("meetings").await;
    let deleted = browser
        .submit(
            &format!("/o/{slug}/customers/{contoso}"),
            &format!("/o/{slug}/customers/{contoso}/delete"),
            &[],
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    app.wait_for_jobs().await;
    assert_eq!(links(&app, &first).await, Vec::<String>::new());
    assert_eq!(app.count("meetings").await, meetings_before);
    assert_eq!(app.count("contacts").await, 0);
    let (status, _) = browser
        .get_html(&format!("/o/{slug}/customers/{contoso}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[sqlx::test]
async fn the_meetings_list_filters_by_customer_match_and_dates(db: PgPool) {
    let app = spawn_app(db).await;
    let ada = ada(&app).await;
    let (browser, slug) = (&ada.browser, ada.slug.as_str());
    let northwind = add_customer(browser, slug, "Northwind", "northwind.com").await;
    app.wait_for_jobs().await;
    meeting_with(&app, "With Northwind", &["kim@northwind.com"]).await;
    meeting_with(&app, "With nobody known", &["x@fabrikam.com"]).await;
    let titles = |html: &str| select_texts(html, "#meetings tbody td:first-child a");

    let (_, html) = browser
        .get_html(&format!("/o/{slug}/meetings?customer={northwind}"))
        .await;
    let expected: Vec<String> = sqlx::query_scalar(
        "select m.title from meetings m join meeting_customers mc on mc.meeting_id = m.id
         where mc.customer_id = $1::uuid order by m.started_at desc, m.id desc",
    )
    .bind(&northwind)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert!(expected.contains(&"With Northwind".to_owned()));
    assert_eq!(titles(&html), expected);

    let (_, html) = browser
        .get_html(&format!("/o/{slug}/meetings?matched=no"))
        .await;
    let unmatched = titles(&html);
    assert!(
        unmatched.contains(&"With nobody known".to_owned()),
        "{unmatched:?}"
    );
    assert!(!unmatched.contains(&"With Northwind".to_owned()));
    let (_, html) = browser
        .get_html(&format!("/o/{slug}/meetings?matched=yes"))
        .await;
    assert!(titles(&html).iter().all(|t| expected.contains(t)));

    let today = chrono::Utc::now().date_naive();
    let (_, html) = browser
        .get_html(&format!(
            "/o/{slug}/meetings?from={today}&until={today}&customer={northwind}"
        ))
        .await;
    assert!(titles(&html).contains(&"With Northwind".to_owned()));
    let (_, html) = browser
        .get_html(&format!("/o/{slug}/meetings?until=2000-01-01"))
        .await;
    assert_eq!(titles(&html), Vec::<String>::new());
    assert!(html.contains("No meeting matches these filters."));

    for bad in ["from=yesterday", "matched=maybe"] {
        let (status, _) = browser.get_html(&format!("/o/{slug}/meetings?{bad}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let (status, _) = browser
        .get_html(&format!("/o/{slug}/meetings?customer=not-a-uuid"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[sqlx::test]
async fn every_order_of_the_list_pages_through_all_customers_without_gaps_or_repeats(db: PgPool) {
    let app = spawn_app(db).await;
    let (browser, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let mut file = String::from("name,domain\n");
    for i in 0..130 {
        file.push_str(&format!("Customer {i:03},c{i}.example\n"));
    }
    let uploaded = browser
        .upload(
            &format!("/o/{slug}/customers/imports/new"),
            &format!("/o/{slug}/customers/imports"),
            &[("kind", "customers")],
            "c.csv",
            file.into_bytes(),
        )
        .await;
    let preview = location(&uploaded);
    browser
        .submit(&preview, &format!("{preview}/confirm"), &[])
        .await;
    // Figures as the rollup job would leave them: ties on purpose, some never met.
    sqlx::query(
        "update customer_rollups r set meetings_30d = (c.n % 7),
                last_meeting_at = case when c.n % 5 = 0 then null
                                       else now() - make_interval(days => c.n % 11) end
         from (select id, substring(name from 10)::int as n from customers) c
         where r.customer_id = c.id",
    )
    .execute(&app.db)
    .await
    .unwrap();
    for (sort, order) in [
        ("name", "lower(c.name), c.id"),
        (
            "recent",
            "coalesce(r.last_meeting_at, '-infinity') desc, r.customer_id desc",
        ),
        ("active", "r.meetings_30d desc, r.customer_id desc"),
    ] {
        let expected: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "select c.id::text from customers c join customer_rollups r on r.customer_id = c.id order by {order}"
        )))
        .fetch_all(&app.db)
        .await
        .unwrap();
        let mut seen = Vec::new();
        let mut url = format!("/o/{slug}/customers?sort={sort}");
        loop {
            let (status, html) = browser.get_html(&url).await;
            assert_eq!(status, StatusCode::OK, "{url}");
            let page = crate::helpers::select_attrs(&html, "#customers tbody tr", "data-customer");
            assert!(page.len() <= 50);
            seen.extend(page);
            match crate::helpers::select_attr(&html, "#more-customers", "href") {
                Some(next) => url = next.replace("&amp;", "&"),
                None => break,
            }
        }
        assert_eq!(seen, expected, "sort={sort}");
    }
}

/// The links' number of rows linked to `meeting` (joined to nothing, so orphans count too).
async fn stored_links(app: &TestApp, meeting: &str) -> i64 {
    sqlx::query_scalar("select count(*) from meeting_customers where meeting_id = $1::uuid")
        .bind(meeting)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// Links are checked per statement rather than by row-level foreign keys (a re-match writes
/// thousands at once), with the same guarantees: a link to a missing meeting or customer, or to
/// another org's, is refused; a delete waits for a transaction that has just linked its row, then
/// takes the links with it.
#[sqlx::test]
async fn links_keep_to_existing_meetings_and_customers_like_foreign_keys(db: PgPool) {
    let app = spawn_app(db).await;
    let ada = ada(&app).await;
    let (browser, slug) = (&ada.browser, ada.slug.as_str());
    add_customer(browser, slug, "Contoso", "contoso.com").await;
    let fabrikam = add_customer(browser, slug, "Fabrikam", "").await;
    let meeting = meeting_with(&app, "Kick-off", &["pat@contoso.com"]).await;
    assert_eq!(links(&app, &meeting).await, ["Contoso:domain"]);
    let org = app.org_id(slug).await;
    let (_, other_slug) = app.signup("Bo", "bo@other.example", "Other").await;
    let other_org = app.org_id(&other_slug).await;
    let insert = "insert into meeting_customers (org_id, meeting_id, customer_id, reason)
                  values ($1, $2::uuid, $3::uuid, 'manual')";
    let refused = |org: uuid::Uuid, meeting: String, customer: String| {
        let db = app.db.clone();
        async move {
            let err = sqlx::query(insert)
                .bind(org)
                .bind(meeting)
                .bind(customer)
                .execute(&db)
                .await
                .expect_err("the link is refused");
            err.as_database_error()
                .and_then(|e| e.code())
                .map(|c| c.into_owned())
        }
    };
    let nobody = uuid::Uuid::new_v4().to_string();
    let violation = Some("23503".to_owned());
    assert_eq!(
        refused(org, meeting.clone(), nobody.clone()).await,
        violation
    );
    assert_eq!(refused(org, nobody, fabrikam.clone()).await, violation);
    assert_eq!(
        refused(other_org, meeting.clone(), fabrikam.clone()).await,
        violation
    );
    assert_eq!(stored_links(&app, &meeting).await, 1);

    let mut linking = app.db.begin().await.unwrap();
    sqlx::query(insert)
        .bind(org)
        .bind(&meeting)
        .bind(&fabrikam)
        .execute(&mut *linking)
        .await
        .unwrap();
    let deleting = tokio::spawn({
        let (db, fabrikam) = (app.db.clone(), fabrikam.clone());
        async move {
            sqlx::query("delete from customers where id = $1::uuid")
                .bind(fabrikam)
                .execute(&db)
                .await
                .unwrap()
                .rows_affected()
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !deleting.is_finished(),
        "the delete waits for the transaction that linked the customer"
    );
    linking.commit().await.unwrap();
    assert_eq!(deleting.await.unwrap(), 1);
    assert_eq!(
        stored_links(&app, &meeting).await,
        1,
        "Fabrikam's link went with it"
    );
    assert_eq!(links(&app, &meeting).await, ["Contoso:domain"]);

    sqlx::query("delete from meetings where id = $1::uuid")
        .bind(&meeting)
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(
        stored_links(&app, &meeting).await,
        0,
        "the meeting's links went with it"
    );
}

/// A re-match writes its batches two at a time and links every meeting once; a second run of the
/// same org started at the same moment waits for the first and finds nothing left to change.
/// Ada's org after its first sync and twelve more calls, each with someone from contoso.com, and
/// a customer Contoso owning that domain, added behind the app's back so that only what a test
/// runs matches meetings to it.
async fn org_with_twelve_contoso_calls(app: &TestApp) -> (debrief::domain::OrgId, uuid::Uuid) {
    let ada = ada(app).await;
    for i in 0..12 {
        let spec = MeetingSpec {
            title: Some(format!("Call {i}")),
            invitees: Some(crate::helpers::invitees(&[&format!("p{i}@contoso.com")])),
            ..MeetingSpec::default()
        };
        app.fathom().add_meeting(ADA_FATHOM_KEY, spec).unwrap();
    }
    app.fathom().wait_for_deliveries().await;
    app.wait_for_jobs().await;
    let org = app.org_id(&ada.slug).await;
    let contoso = uuid::Uuid::new_v4();
    sqlx::query(
        "insert into customers (id, org_id, name, source) values ($1, $2, 'Contoso', 'manual')",
    )
    .bind(contoso)
    .bind(org)
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "insert into customer_domains (org_id, domain, customer_id) values ($1, 'contoso.com', $2)",
    )
    .bind(org)
    .bind(contoso)
    .execute(&app.db)
    .await
    .unwrap();
    (debrief::domain::OrgId(org), contoso)
}

#[sqlx::test]
async fn a_batch_over_a_span_of_meetings_matches_only_the_meetings_it_names(db: PgPool) {
    let app = spawn_app(db).await;
    let (org, contoso) = org_with_twelve_contoso_calls(&app).await;
    let with_contoso: Vec<uuid::Uuid> = sqlx::query_scalar(
        "select distinct meeting_id from meeting_attendees
         where email like '%@contoso.com' order by meeting_id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(with_contoso.len(), 12);
    // Every meeting of the org from the first Contoso call to the last, in id order, but one
    // Contoso call in the middle, as if it had been stored after the batch's ids were read.
    let span: Vec<debrief::domain::MeetingId> = sqlx::query_scalar(
        "select id from meetings where org_id = $1 and id >= $2 and id <= $3 order by id",
    )
    .bind(org.0)
    .bind(with_contoso[0])
    .bind(with_contoso[11])
    .fetch_all(&app.db)
    .await
    .unwrap()
    .into_iter()
    .map(debrief::domain::MeetingId)
    .filter(|m| m.0 != with_contoso[5])
    .collect();

    let mut tx = app.db.begin().await.unwrap();
    let rules = debrief::db::meeting_customers::rules(&mut tx, org)
        .await
        .unwrap();
    let counts = debrief::jobs::match_meeting::match_batch(
        &mut tx,
        org,
        &rules,
        debrief::db::meeting_customers::Meetings::Span(&span),
        debrief::db::meeting_customers::MatchLock::Exclusive,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    assert_eq!(counts.meetings, span.len());
    let linked: Vec<uuid::Uuid> = sqlx::query_scalar(
        "select meeting_id from meeting_customers where customer_id = $1 order by meeting_id",
    )
    .bind(contoso)
    .fetch_all(&app.db)
    .await
    .unwrap();
    let mut expected = with_contoso.clone();
    expected.remove(5);
    assert_eq!(
        linked, expected,
        "every Contoso call named, and not the one left out"
    );
    assert_eq!(counts.written, 11);
}

#[sqlx::test]
async fn a_rematch_in_parallel_batches_links_every_meeting_once(db: PgPool) {
    let app = spawn_app(db).await;
    let (org, contoso) = org_with_twelve_contoso_calls(&app).await;
    let meetings = app.count("meetings").await;
    assert!(
        meetings > 12,
        "the first sync's meetings and the twelve calls"
    );

    let (first, second) = tokio::join!(
        debrief::jobs::rematch_org::rematch_in_batches(&app.state, org, 5),
        debrief::jobs::rematch_org::rematch_in_batches(&app.state, org, 5),
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.meetings as i64, meetings);
    assert_eq!(second.meetings as i64, meetings);
    let linked: i64 =
        sqlx::query_scalar("select count(*) from meeting_customers where customer_id = $1")
            .bind(contoso)
            .fetch_one(&app.db)
            .await
            .unwrap();
    let expected: i64 = sqlx::query_scalar(
        "select count(distinct meeting_id) from meeting_attendees where email like '%@contoso.com'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(expected >= 12);
    assert_eq!(linked, expected, "every meeting with someone from Contoso");
    assert_eq!(
        first.written + second.written,
        expected as u64,
        "each link written once: the later run found them all in place"
    );
}
