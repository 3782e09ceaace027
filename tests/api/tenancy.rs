//! Tenants never see each other: a member of org A gets 404 for every page, form and object of org B.
//! Later features add their routes to `org_b_pages` or `org_b_objects`.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{ADA_FATHOM_KEY, BOB_FATHOM_KEY, Browser, spawn_app};

enum Req {
    Get(String),
    Post(String, Vec<(&'static str, &'static str)>),
}

/// Ids of org B's objects.
struct BObjects {
    user: String,
    invite: String,
    fathom_connection: String,
    meeting: String,
    sync_run: String,
    failed_event: String,
    customer: String,
    contact: String,
    import: String,
    crm_connection: String,
    crm_import: String,
}

/// Every org-scoped page and form of org `b` that names no object.
fn org_b_pages(b: &str) -> Vec<Req> {
    vec![
        Req::Get(format!("/o/{b}/")),
        Req::Get(format!("/o/{b}/members")),
        Req::Post(format!("/o/{b}/invites"), vec![("role", "member")]),
        Req::Get(format!("/o/{b}/integrations")),
        Req::Get(format!("/o/{b}/integrations/fathom/connect")),
        Req::Post(
            format!("/o/{b}/integrations/fathom/connect"),
            vec![
                ("fathom_email", "ada@example.com"),
                ("api_key", ADA_FATHOM_KEY),
            ],
        ),
        Req::Get(format!("/o/{b}/audit")),
        Req::Get(format!("/o/{b}/meetings")),
        Req::Get(format!("/o/{b}/customers")),
        Req::Get(format!("/o/{b}/customers/new")),
        Req::Post(
            format!("/o/{b}/customers"),
            vec![("name", "Planted"), ("domains", "planted.example")],
        ),
        Req::Get(format!("/o/{b}/search")),
        Req::Get(format!("/o/{b}/settings/matching")),
        Req::Get(format!("/o/{b}/customers/unmatched")),
        Req::Post(
            format!("/o/{b}/customers/unmatched/create"),
            vec![("domain", "planted.example"), ("name", "Planted")],
        ),
        Req::Post(
            format!("/o/{b}/customers/unmatched/dismiss"),
            vec![("domain", "planted.example")],
        ),
        Req::Post(
            format!("/o/{b}/customers/unmatched/contacts"),
            vec![("email", "planted@gmail.com"), ("customer_id", "")],
        ),
        Req::Post(
            format!("/o/{b}/settings/matching"),
            vec![("internal_domains", "planted.example")],
        ),
        Req::Get(format!("/o/{b}/customers/imports/new")),
        Req::Post(
            format!("/o/{b}/customers/imports"),
            vec![("kind", "customers")],
        ),
        Req::Post(format!("/o/{b}/integrations/hubspot/connect"), vec![]),
        Req::Post(
            format!("/o/{b}/integrations/salesforce/connect"),
            vec![("login_host", "production")],
        ),
    ]
}

/// Every org-scoped route naming one of org B's objects, under the org slug `org`.
fn org_b_objects(org: &str, ids: &BObjects) -> Vec<Req> {
    let BObjects {
        user: b_user,
        invite: b_invite,
        fathom_connection,
        meeting,
        sync_run,
        failed_event,
        customer,
        contact,
        import,
        crm_connection,
        crm_import,
    } = ids;
    let b = org;
    vec![
        Req::Post(format!("/o/{b}/invites/{b_invite}/revoke"), vec![]),
        Req::Post(
            format!("/o/{b}/members/{b_user}/role"),
            vec![("role", "member")],
        ),
        Req::Post(format!("/o/{b}/members/{b_user}/remove"), vec![]),
        Req::Post(
            format!("/o/{b}/integrations/fathom/connections/{fathom_connection}/disconnect"),
            vec![],
        ),
        Req::Get(format!(
            "/o/{b}/integrations/fathom/connections/{fathom_connection}"
        )),
        Req::Post(
            format!("/o/{b}/integrations/fathom/connections/{fathom_connection}/sync"),
            vec![("backfill_days", "")],
        ),
        Req::Get(format!("/o/{b}/integrations/fathom/sync_runs/{sync_run}")),
        Req::Post(
            format!("/o/{b}/integrations/fathom/events/{failed_event}/replay"),
            vec![],
        ),
        Req::Get(format!("/o/{b}/meetings/{meeting}")),
        Req::Post(
            format!("/o/{b}/meetings/{meeting}/customers"),
            vec![("customer_id", "")],
        ),
        Req::Post(
            format!("/o/{b}/meetings/{meeting}/customers/{customer}/unlink"),
            vec![],
        ),
        Req::Get(format!("/o/{b}/customers/{customer}")),
        Req::Get(format!("/o/{b}/customers/{customer}/edit")),
        Req::Post(
            format!("/o/{b}/customers/{customer}"),
            vec![("name", "Renamed"), ("notes", "")],
        ),
        Req::Post(
            format!("/o/{b}/customers/{customer}/domains"),
            vec![("domain", "planted.example")],
        ),
        Req::Post(
            format!("/o/{b}/customers/{customer}/domains/remove"),
            vec![("domain", "b-customer.example")],
        ),
        Req::Post(
            format!("/o/{b}/customers/{customer}/contacts"),
            vec![("email", "planted@b-customer.example")],
        ),
        Req::Get(format!(
            "/o/{b}/customers/{customer}/contacts/{contact}/edit"
        )),
        Req::Post(
            format!("/o/{b}/customers/{customer}/contacts/{contact}"),
            vec![("email", "renamed@b-customer.example")],
        ),
        Req::Post(
            format!("/o/{b}/customers/{customer}/contacts/{contact}/delete"),
            vec![],
        ),
        Req::Post(format!("/o/{b}/customers/{customer}/delete"), vec![]),
        Req::Get(format!("/o/{b}/search?q=call&customer={customer}")),
        Req::Get(format!("/o/{b}/meetings?customer={customer}")),
        Req::Get(format!("/o/{b}/customers/imports/{import}")),
        Req::Post(format!("/o/{b}/customers/imports/{import}/confirm"), vec![]),
        Req::Get(format!("/o/{b}/integrations/crm/{crm_connection}")),
        Req::Get(format!(
            "/o/{b}/integrations/crm/{crm_connection}/imports/{crm_import}"
        )),
        Req::Post(
            format!("/o/{b}/integrations/crm/{crm_connection}/import"),
            vec![],
        ),
        Req::Post(
            format!("/o/{b}/integrations/crm/{crm_connection}/settings"),
            vec![],
        ),
        Req::Post(
            format!("/o/{b}/integrations/crm/{crm_connection}/disconnect"),
            vec![("remove_customers", "on")],
        ),
        Req::Post(
            format!("/o/{b}/meetings/{meeting}/crm/{crm_connection}/retry"),
            vec![],
        ),
    ]
}

async fn send(browser: &Browser, token: &str, req: &Req) -> (String, StatusCode) {
    match req {
        Req::Get(path) => (path.clone(), browser.get(path).await.status()),
        Req::Post(path, fields) => {
            let mut all = vec![("csrf_token", token)];
            all.extend(fields.iter().copied());
            (path.clone(), browser.post_raw(path, &all).await.status())
        }
    }
}

#[sqlx::test]
async fn a_member_of_org_a_gets_404_for_everything_of_org_b(db: PgPool) {
    let app = spawn_app(db).await;
    let (alice, a) = app.signup("Alice", "alice@a.example", "Org A").await;
    let (bob, b) = app.signup("Bob", "bob@b.example", "Org B").await;
    app.invite(&bob, &b, "member").await;
    let connected = app
        .connect_fathom(&bob, &b, "bob@example.com", BOB_FATHOM_KEY)
        .await;
    assert_eq!(connected.status(), StatusCode::SEE_OTHER);
    let fathom_connection: uuid::Uuid = sqlx::query_scalar("select id from fathom_connections")
        .fetch_one(&app.db)
        .await
        .unwrap();
    app.wait_for_jobs().await;
    let b_user = app.user_id("bob@b.example").await.to_string();
    let meeting: uuid::Uuid = sqlx::query_scalar("select id from meetings limit 1")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let sync_run: uuid::Uuid = sqlx::query_scalar("select id from fathom_sync_runs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let b_org = debrief::domain::OrgId(app.org_id(&b).await);
    let mut conn = app.db.acquire().await.unwrap();
    let failed_event = debrief::db::fathom_events::insert(
        &mut conn,
        b_org,
        &debrief::db::fathom_events::NewEvent {
            webhook_id: "msg_b_failed",
            connection_id: debrief::domain::FathomConnectionId(fathom_connection),
            body: b"{}",
            recording_id: None,
            error: Some("no recording id"),
        },
    )
    .await
    .unwrap()
    .unwrap();
    drop(conn);
    let b_customer = {
        let response = bob
            .submit(
                &format!("/o/{b}/customers/new"),
                &format!("/o/{b}/customers"),
                &[("name", "B Customer"), ("domains", "b-customer.example")],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        crate::helpers::location(&response)
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned()
    };
    let page = format!("/o/{b}/customers/{b_customer}");
    let response = bob
        .submit(
            &page,
            &format!("{page}/contacts"),
            &[("email", "kim@b-customer.example")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let uploaded = bob
        .upload(
            &format!("/o/{b}/customers/imports/new"),
            &format!("/o/{b}/customers/imports"),
            &[("kind", "customers")],
            "b.csv",
            b"name,domain\nB Imported,b-imported.example\n".to_vec(),
        )
        .await;
    assert_eq!(uploaded.status(), StatusCode::SEE_OTHER);
    let b_import = crate::helpers::location(&uploaded)
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let b_contact: uuid::Uuid = sqlx::query_scalar("select id from contacts")
        .fetch_one(&app.db)
        .await
        .unwrap();
    // Org B's meeting linked to its customer by hand, so the unlink has something to undo.
    let linked = bob
        .submit(
            &format!("/o/{b}/meetings/{meeting}"),
            &format!("/o/{b}/meetings/{meeting}/customers"),
            &[("customer_id", b_customer.as_str())],
        )
        .await;
    assert_eq!(linked.status(), StatusCode::SEE_OTHER);
    let customers_snapshot = || async {
        sqlx::query_scalar::<_, String>(
            "select concat_ws('|',
                (select string_agg(concat_ws(':', id, name, notes), ',' order by id) from customers),
                (select string_agg(concat_ws(':', customer_id, domain), ',' order by domain) from customer_domains),
                (select string_agg(concat_ws(':', id, email, name), ',' order by id) from contacts),
                (select string_agg(concat_ws(':', meeting_id, customer_id, reason), ',' order by meeting_id, customer_id) from meeting_customers),
                (select string_agg(concat_ws(':', meeting_id, customer_id, decision), ',' order by meeting_id, customer_id) from meeting_customer_decisions),
                (select string_agg(concat_ws(':', id, applied_at), ',' order by id) from customer_imports),
                (select string_agg(concat_ws(':', org_id, internal_domains::text), ',' order by org_id) from org_matching_settings))",
        )
        .fetch_one(&app.db)
        .await
        .unwrap()
    };
    let crm = app.connect_crm(&bob, &b, "hubspot").await;
    assert_eq!(crm.status(), StatusCode::SEE_OTHER);
    app.wait_for_jobs().await;
    let b_crm: uuid::Uuid = sqlx::query_scalar("select id from crm_connections")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let b_crm_import: uuid::Uuid = sqlx::query_scalar("select id from crm_import_runs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    // A push row for org B's meeting, so the retry has something to find.
    sqlx::query(
        "insert into crm_pushes (org_id, meeting_id, connection_id, kind, state, push_key, error)
         values ($1, $2, $3, 'note', 'failed', 'dbf-b', 'planted')",
    )
    .bind(debrief::domain::OrgId(app.org_id(&b).await).0)
    .bind(meeting)
    .bind(b_crm)
    .execute(&app.db)
    .await
    .unwrap();
    let crm_snapshot = || async {
        sqlx::query_scalar::<_, String>(
            "select concat_ws('|',
                (select string_agg(concat_ws(':', id, state, push_enabled, push_tasks, access_token_ciphertext, refresh_token_ciphertext), ',') from crm_connections),
                (select count(*)::text from crm_import_runs),
                (select string_agg(concat_ws(':', meeting_id, state, attempts), ',') from crm_pushes))",
        )
        .fetch_one(&app.db)
        .await
        .unwrap()
    };
    let crm_before = crm_snapshot().await;
    // Bob's own authorization, its callback opened in Alice's browser.
    let bobs_authorize = app.start_crm_connect(&bob, &b, "salesforce").await;
    let bobs_callback = crate::helpers::approve_at_provider(&bobs_authorize, "approve").await;
    let customers_before = customers_snapshot().await;
    let meetings_before = app.count("meetings").await;
    let b_invite: uuid::Uuid = sqlx::query_scalar("select id from invites")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let snapshot = || async {
        sqlx::query_scalar::<_, String>(
            "select string_agg(concat_ws(':', org_id, user_id, role), ',' order by org_id, user_id) from memberships",
        )
        .fetch_one(&app.db)
        .await
        .unwrap()
    };
    let before = snapshot().await;
    let token = alice.csrf_token(&format!("/o/{a}/")).await;

    let ids = BObjects {
        user: b_user,
        invite: b_invite.to_string(),
        fathom_connection: fathom_connection.to_string(),
        meeting: meeting.to_string(),
        sync_run: sync_run.to_string(),
        failed_event: failed_event.to_string(),
        customer: b_customer.clone(),
        contact: b_contact.to_string(),
        import: b_import.clone(),
        crm_connection: b_crm.to_string(),
        crm_import: b_crm_import.to_string(),
    };
    for req in org_b_pages(&b).into_iter().chain(org_b_objects(&b, &ids)) {
        let (path, status) = send(&alice, &token, &req).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    // Org B's objects through org A's own URLs.
    for req in org_b_objects(&a, &ids) {
        let (path, status) = send(&alice, &token, &req).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    // An org that does not exist looks exactly the same.
    let (status, html_missing) = alice.get_html("/o/no-such-org/").await;
    let (_, html_b) = alice.get_html(&format!("/o/{b}/")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        html_missing.replace("no-such-org", ""),
        html_b.replace(&b, "")
    );

    let refused = alice
        .get(bobs_callback.strip_prefix(&app.address).unwrap())
        .await;
    assert_eq!(refused.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        crate::helpers::location(&refused),
        format!("/o/{a}/integrations"),
        "refused, back to Alice's own org"
    );
    app.wait_for_jobs().await;
    assert_eq!(
        crm_snapshot().await,
        crm_before,
        "no CRM connection, import or push changed"
    );
    assert_eq!(
        app.crm.stats().revocations,
        0,
        "org B's grant was not revoked"
    );
    assert_eq!(
        app.crm.stats().code_exchanges,
        1,
        "Bob's code was not used by Alice"
    );

    assert_eq!(snapshot().await, before, "no membership changed");
    app.wait_for_jobs().await;
    assert_eq!(
        customers_snapshot().await,
        customers_before,
        "no customer, domain, contact, link or decision changed"
    );
    assert_eq!(
        app.count("fathom_sync_runs").await,
        1,
        "no sync was started"
    );
    assert_eq!(app.count("meetings").await, meetings_before);
    let event_state: String = sqlx::query_scalar("select state from fathom_events")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(event_state, "failed", "org B's event was not replayed");
    let revoked: i64 =
        sqlx::query_scalar("select count(*) from invites where revoked_at is not null")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(revoked, 0);
    assert_eq!(app.count("invites").await, 1, "no invite was created");
    let fathom: Vec<(String, Option<String>)> =
        sqlx::query_as("select state, api_key_ciphertext from fathom_connections")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(fathom.len(), 1, "no connection was made for org B by Alice");
    assert_eq!(fathom[0].0, "active", "org B's connection is untouched");
    assert!(fathom[0].1.is_some());
    assert_eq!(
        app.fathom().webhooks().len(),
        1,
        "org B's webhook still at Fathom"
    );
}

#[sqlx::test]
async fn anonymous_visitors_are_sent_to_login_for_org_pages(db: PgPool) {
    let app = spawn_app(db).await;
    let (_, b) = app.signup("Bob", "bob@b.example", "Org B").await;
    let response = app.browser().get(&format!("/o/{b}/members")).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        crate::helpers::location(&response),
        format!("/login?next=%2Fo%2F{b}%2Fmembers")
    );
}

/// Org-scoped routes that need no cross-tenant case, and why.
const NO_TENANT_DATA: &[(&str, &str)] = &[(
    "/o/{org_slug}",
    "redirects any slug to /o/{slug}/ without reading anything; the page it leads to is checked",
)];

/// Whether the concrete `path` is an instance of the route pattern `route` (`{x}` is one segment).
fn instance_of(route: &str, path: &str) -> bool {
    let route: Vec<&str> = route.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    route.len() == path.len()
        && route
            .iter()
            .zip(&path)
            .all(|(r, p)| (r.starts_with('{') && r.ends_with('}') && !p.is_empty()) || r == p)
}

#[test]
fn every_org_scoped_route_has_a_cross_tenant_case() {
    let ids = BObjects {
        user: "user-id".into(),
        invite: "invite-id".into(),
        fathom_connection: "connection-id".into(),
        meeting: "meeting-id".into(),
        sync_run: "run-id".into(),
        failed_event: "event-id".into(),
        customer: "customer-id".into(),
        contact: "contact-id".into(),
        import: "import-id".into(),
        crm_connection: "crm-connection-id".into(),
        crm_import: "crm-import-id".into(),
    };
    let cases: Vec<String> = org_b_pages("org-b")
        .into_iter()
        .chain(org_b_objects("org-b", &ids))
        .map(|req| match req {
            Req::Get(path) | Req::Post(path, _) => path,
        })
        .collect();
    let routes = debrief::web::route_paths();
    assert!(
        routes.len() > 10,
        "the router's routes are listed: {routes:?}"
    );
    let missing: Vec<&str> = routes
        .into_iter()
        .filter(|route| route.starts_with("/o/"))
        .filter(|route| !NO_TENANT_DATA.iter().any(|(exempt, _)| exempt == route))
        .filter(|route| !cases.iter().any(|case| instance_of(route, case)))
        .collect();
    assert!(
        missing.is_empty(),
        "org-scoped routes without a cross-tenant case in org_b_pages/org_b_objects: {missing:?}"
    );
}
