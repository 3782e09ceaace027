//! The unmatched review: suggested customers by outside domain, created or dismissed in one
//! click, and free-mail people added as contacts; each step re-matches the old meetings.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{ADA_FATHOM_KEY, location, select_texts, spawn_app};
use debrief::sim::fathom::MeetingSpec;

#[sqlx::test]
async fn suggestions_become_customers_or_go_away_and_free_mail_people_become_contacts(db: PgPool) {
    let app = spawn_app(db).await;
    let ada = app.ada_with_fathom().await;
    app.wait_for_jobs().await;
    let (browser, slug) = (&ada.browser, ada.slug.as_str());
    for (title, emails) in [
        (
            "Fabrikam intro",
            vec!["a@fabrikam-group.co.uk", "b@fabrikam-group.co.uk"],
        ),
        ("Fabrikam follow-up", vec!["a@fabrikam-group.co.uk"]),
        ("Contoso chat", vec!["c@contoso.com"]),
        ("Freelancer", vec!["sam.solo@gmail.com"]),
    ] {
        let spec = MeetingSpec {
            title: Some(title.into()),
            invitees: Some(crate::helpers::invitees(&emails)),
            ..MeetingSpec::default()
        };
        app.fathom().add_meeting(ADA_FATHOM_KEY, spec).unwrap();
    }
    app.fathom().wait_for_deliveries().await;
    app.wait_for_jobs().await;
    let review = format!("/o/{slug}/customers/unmatched");
    let (status, html) = browser.get_html(&review).await;
    assert_eq!(status, StatusCode::OK);
    let domains = select_texts(&html, "#suggestions tbody td:first-child");
    assert!(
        domains.contains(&"fabrikam-group.co.uk".to_owned()),
        "{domains:?}"
    );
    assert!(domains.contains(&"contoso.com".to_owned()));
    assert!(
        !domains
            .iter()
            .any(|d| d == "gmail.com" || d == "example.com"),
        "{domains:?}"
    );
    assert!(
        html.contains("value=\"Fabrikam Group\""),
        "the name is guessed"
    );
    // Ada's generated meetings may bring free-mail people of their own; every one listed is one.
    let people = select_texts(&html, "#people tbody tr small");
    assert!(
        people.contains(&"sam.solo@gmail.com".to_owned()),
        "{people:?}"
    );
    assert!(
        people.iter().all(
            |p| ["@gmail.com", "@yahoo.com", "@outlook.com", "@hotmail.com"]
                .iter()
                .any(|d| p.ends_with(d))
        ),
        "{people:?}"
    );

    // Create Fabrikam from its suggestion (name edited): its two meetings are linked.
    let created = browser
        .submit(
            &review,
            &format!("{review}/create"),
            &[("domain", "fabrikam-group.co.uk"), ("name", "Fabrikam")],
        )
        .await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let fabrikam = location(&created).rsplit('/').next().unwrap().to_owned();
    app.wait_for_jobs().await;
    let linked: i64 =
        sqlx::query_scalar("select count(*) from meeting_customers where customer_id = $1::uuid")
            .bind(&fabrikam)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(linked, 2);

    // Dismiss Contoso: remembered.
    let dismissed = browser
        .submit(
            &review,
            &format!("{review}/dismiss"),
            &[("domain", "contoso.com")],
        )
        .await;
    assert_eq!(dismissed.status(), StatusCode::SEE_OTHER);
    let (_, html) = browser.get_html(&review).await;
    let domains = select_texts(&html, "#suggestions tbody td:first-child");
    assert!(
        !domains
            .iter()
            .any(|d| d == "contoso.com" || d == "fabrikam-group.co.uk"),
        "{domains:?}"
    );

    // Sam becomes a contact of Fabrikam: the freelancer meeting is linked, Sam leaves the list.
    let added = browser
        .submit(
            &review,
            &format!("{review}/contacts"),
            &[
                ("email", "sam.solo@gmail.com"),
                ("name", "Sam"),
                ("customer_id", fabrikam.as_str()),
            ],
        )
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    app.wait_for_jobs().await;
    let linked: i64 =
        sqlx::query_scalar("select count(*) from meeting_customers where customer_id = $1::uuid")
            .bind(&fabrikam)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(linked, 3);
    let (_, html) = browser.get_html(&review).await;
    let people = select_texts(&html, "#people tbody tr small");
    assert!(
        !people.contains(&"sam.solo@gmail.com".to_owned()),
        "{people:?}"
    );

    // Another org's customer cannot be used from here; bad input is refused plainly.
    let (bob, bob_slug) = app.signup("Bob", "bob@b.example", "Org B").await;
    let bob_review = format!("/o/{bob_slug}/customers/unmatched");
    let refused = bob
        .submit(
            &bob_review,
            &format!("{bob_review}/contacts"),
            &[("email", "x@gmail.com"), ("customer_id", fabrikam.as_str())],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    for (action, fields) in [
        ("create", vec![("domain", "not a domain"), ("name", "")]),
        ("dismiss", vec![("domain", "")]),
        (
            "contacts",
            vec![("email", "x@gmail.com"), ("customer_id", "")],
        ),
    ] {
        let response = bob
            .submit(&bob_review, &format!("{bob_review}/{action}"), &fields)
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{action}"
        );
    }
    assert_eq!(app.count("contacts").await, 1);
    assert_eq!(app.count("customer_suggestion_dismissals").await, 1);
}
