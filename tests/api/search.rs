//! Search over titles, summaries and transcripts: found by phrase, scoped to the org (and to a
//! customer when asked), anything typed answered without error, and passages that cannot inject
//! HTML.

use debrief::sim::fathom::{InviteeSpec, MeetingSpec};
use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{ADA_FATHOM_KEY, BOB_FATHOM_KEY, location, select_texts, spawn_app};

fn search_url(slug: &str, q: &str) -> String {
    format!(
        "/o/{slug}/search?q={}",
        url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
    )
}

#[sqlx::test]
async fn phrases_from_summaries_and_transcripts_are_found_in_the_orgs_own_meetings_only(
    db: PgPool,
) {
    let app = spawn_app(db).await;
    let ada = app.ada_with_fathom().await;
    app.wait_for_jobs().await;
    let (browser, slug) = (&ada.browser, ada.slug.as_str());
    let spec = MeetingSpec {
        title: Some("Renewal call".into()),
        summary_markdown: Some(
            "## Notes\n<script>alert(1)</script> The zanzibar pineapple negotiations went well."
                .into(),
        ),
        invitees: Some(vec![InviteeSpec {
            name: Some("Kim".into()),
            email: Some("kim@northwind.com".into()),
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

    // A phrase from the summary.
    let (status, html) = browser
        .get_html(&search_url(slug, "\"zanzibar pineapple\""))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        select_texts(&html, "#search-results li > a"),
        ["Renewal call"]
    );
    let marks = select_texts(&html, "#search-results .snippet mark");
    assert!(
        marks.iter().any(|m| m.eq_ignore_ascii_case("zanzibar")),
        "{marks:?}"
    );
    assert!(!html.contains("<script>alert"), "the passage is escaped");

    // A phrase from another meeting's transcript (three words of one of its lines).
    let (other, line): (uuid::Uuid, String) = sqlx::query_as(
        "select meeting_id, text from meeting_transcript_lines
         where meeting_id <> $1 and array_length(regexp_split_to_array(text, '\\s+'), 1) >= 6
         order by meeting_id, position limit 1",
    )
    .bind(meeting)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let phrase: Vec<&str> = line.split_whitespace().skip(1).take(4).collect();
    let (_, html) = browser
        .get_html(&search_url(slug, &format!("\"{}\"", phrase.join(" "))))
        .await;
    let found = select_texts(&html, "#search-results li");
    assert!(!found.is_empty(), "{phrase:?} found");
    assert!(
        html.contains(&other.to_string()),
        "{phrase:?} finds its meeting"
    );

    // Whatever is typed answers 200.
    for q in [
        "\"",
        "'",
        "\\",
        "&",
        ":*",
        "<script>",
        "",
        "-",
        "or",
        "a & b | !c",
    ] {
        let (status, html) = browser.get_html(&search_url(slug, q)).await;
        assert_eq!(status, StatusCode::OK, "{q:?}");
        assert!(!html.contains("<script>alert"));
    }
    // A word nobody said: nothing, said so.
    let (_, html) = browser.get_html(&search_url(slug, "xylophonequartz")).await;
    assert!(html.contains("id=\"no-results\""));

    // Scoped to a customer: Northwind's meetings only; another org never sees Ada's.
    let created = browser
        .submit(
            &format!("/o/{slug}/customers/new"),
            &format!("/o/{slug}/customers"),
            &[("name", "Northwind"), ("domains", "northwind.com")],
        )
        .await;
    let northwind = location(&created).rsplit('/').next().unwrap().to_owned();
    let created = browser
        .submit(
            &format!("/o/{slug}/customers/new"),
            &format!("/o/{slug}/customers"),
            &[("name", "Globex"), ("domains", "globex.com")],
        )
        .await;
    let globex = location(&created).rsplit('/').next().unwrap().to_owned();
    app.wait_for_jobs().await;
    let scoped = |customer: &str| format!("{}&customer={customer}", search_url(slug, "zanzibar"));
    let (_, html) = browser.get_html(&scoped(&northwind)).await;
    assert_eq!(
        select_texts(&html, "#search-results li > a"),
        ["Renewal call"]
    );
    let (_, html) = browser.get_html(&scoped(&globex)).await;
    assert!(html.contains("id=\"no-results\""));

    let (bob, bob_slug) = app.signup("Bob", "bob@b.example", "Org B").await;
    let connected = app
        .connect_fathom(&bob, &bob_slug, "bob@example.com", BOB_FATHOM_KEY)
        .await;
    assert_eq!(connected.status(), StatusCode::SEE_OTHER);
    app.wait_for_jobs().await;
    let (status, html) = bob
        .get_html(&search_url(&bob_slug, "zanzibar pineapple"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("id=\"no-results\""),
        "another org's meeting is never found"
    );
    let (status, _) = bob
        .get_html(&format!(
            "{}&customer={northwind}",
            search_url(&bob_slug, "zanzibar")
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another org's customer");
}
