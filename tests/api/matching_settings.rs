//! Matching settings: defaults taken from the team's addresses, changes by owners and admins
//! only, bad domains refused with nothing saved, and every change re-matching old meetings.

use debrief::sim::fathom::{InviteeSpec, MeetingSpec};
use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{ADA_FATHOM_KEY, TestApp, select_text, spawn_app};

async fn links(app: &TestApp, title: &str) -> Vec<String> {
    sqlx::query_scalar(
        "select c.name from meeting_customers mc join customers c on c.id = mc.customer_id
           join meetings m on m.id = mc.meeting_id where m.title = $1 order by c.name",
    )
    .bind(title)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

#[sqlx::test]
async fn settings_start_from_the_teams_domains_and_changing_them_rematches(db: PgPool) {
    let app = spawn_app(db).await;
    let ada = app.ada_with_fathom().await;
    app.wait_for_jobs().await;
    let (browser, slug) = (&ada.browser, ada.slug.as_str());
    let settings = format!("/o/{slug}/settings/matching");
    let (status, html) = browser.get_html(&settings).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        select_text(&html, "#internal_domains").as_deref(),
        Some("example.com")
    );

    for (name, domain) in [("GMX Team", "gmx.de"), ("Northwind", "northwind.com")] {
        let created = browser
            .submit(
                &format!("/o/{slug}/customers/new"),
                &format!("/o/{slug}/customers"),
                &[("name", name), ("domains", domain)],
            )
            .await;
        assert_eq!(created.status(), StatusCode::SEE_OTHER);
    }
    let spec = MeetingSpec {
        title: Some("Mixed call".into()),
        invitees: Some(vec![
            InviteeSpec {
                name: Some("Hans".into()),
                email: Some("hans@gmx.de".into()),
            },
            InviteeSpec {
                name: Some("Kim".into()),
                email: Some("kim@northwind.com".into()),
            },
        ]),
        ..MeetingSpec::default()
    };
    app.fathom().add_meeting(ADA_FATHOM_KEY, spec).unwrap();
    app.fathom().wait_for_deliveries().await;
    app.wait_for_jobs().await;
    assert_eq!(
        links(&app, "Mixed call").await,
        ["Northwind"],
        "gmx.de is free mail"
    );

    // A bad domain: refused, nothing saved.
    let refused = browser
        .submit(
            &settings,
            &settings,
            &[
                ("internal_domains", "example.com\nnot a domain!"),
                ("free_mail_added", ""),
                ("free_mail_removed", ""),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(
        select_text(&html, "#internal-error")
            .unwrap()
            .contains("“not”")
    );
    assert_eq!(app.count("org_matching_settings").await, 0);

    // gmx.de off the free-mail list, northwind.com is now the team's own: both re-matched.
    let saved = browser
        .submit(
            &settings,
            &settings,
            &[
                ("internal_domains", "example.com, northwind.com"),
                ("free_mail_added", ""),
                ("free_mail_removed", "GMX.de"),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    app.wait_for_jobs().await;
    assert_eq!(links(&app, "Mixed call").await, ["GMX Team"]);

    // A member sees the settings but cannot change them.
    let invite = app.invite(browser, slug, "member").await;
    let (member, _) = app.signup("Mo", "mo@example.com", "Mos").await;
    let joined = member
        .submit(&invite, &format!("{invite}/accept"), &[])
        .await;
    assert_eq!(joined.status(), StatusCode::SEE_OTHER);
    let (status, _) = member.get_html(&settings).await;
    assert_eq!(status, StatusCode::OK);
    let forbidden = member
        .submit(
            &settings,
            &settings,
            &[
                ("internal_domains", ""),
                ("free_mail_added", ""),
                ("free_mail_removed", ""),
            ],
        )
        .await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    let internal: Vec<String> =
        sqlx::query_scalar("select unnest(internal_domains) from org_matching_settings order by 1")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(internal, ["example.com", "northwind.com"]);
}
