//! Invite links: new and existing people join; used, expired and revoked links explain themselves.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{PASSWORD, location, spawn_app};

#[sqlx::test]
async fn a_new_person_signs_up_through_an_invite_and_joins_with_its_role(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let link = app.invite(&ada, &slug, "admin").await;
    let newcomer = app.browser();

    let (status, html) = newcomer.get_html(&link).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(
            "You have been invited to join <strong>Acme</strong> on Debrief as an admin."
        )
    );

    let response = newcomer
        .submit(
            &link,
            &format!("{link}/signup"),
            &[
                ("name", "Grace"),
                ("email", "Grace@Example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), format!("/o/{slug}/"));
    assert_eq!(
        app.role_of(&slug, "grace@example.com").await.as_deref(),
        Some("admin")
    );
    assert_eq!(
        app.count("orgs").await,
        1,
        "joining creates no org of its own"
    );
    let (_, html) = newcomer.get_html(&format!("/o/{slug}/")).await;
    assert!(html.contains("Welcome to Acme!"));

    let (status, html) = app.browser().get_html(&link).await;
    assert_eq!(status, StatusCode::GONE, "the link works once");
    assert!(html.contains("This invite link has already been used."));
}

#[sqlx::test]
async fn an_existing_person_logs_in_from_the_invite_and_joins(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let (bob, bob_org) = app.signup("Bob", "bob@example.com", "Bobs").await;
    let link = app.invite(&ada, &slug, "member").await;
    bob.logout(&format!("/o/{bob_org}/")).await;

    let (_, html) = bob.get_html(&link).await;
    assert!(html.contains(&format!(r#"href="/login?next={link}""#)));
    let response = bob
        .submit(
            "/login",
            "/login",
            &[
                ("email", "bob@example.com"),
                ("password", PASSWORD),
                ("next", &link),
            ],
        )
        .await;
    assert_eq!(location(&response), link);
    let (_, html) = bob.get_html(&link).await;
    assert!(html.contains("Join Acme</button>"));
    let response = bob.submit(&link, &format!("{link}/accept"), &[]).await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), format!("/o/{slug}/"));
    assert_eq!(
        app.role_of(&slug, "bob@example.com").await.as_deref(),
        Some("member")
    );
    assert_eq!(
        app.role_of(&bob_org, "bob@example.com").await.as_deref(),
        Some("owner")
    );
    let accepted: bool = sqlx::query_scalar("select accepted_at is not null from invites")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(accepted);
}

#[sqlx::test]
async fn a_signed_in_member_opening_an_invite_to_their_own_org_does_not_use_it(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let link = app.invite(&ada, &slug, "member").await;

    let (_, html) = ada.get_html(&link).await;
    assert!(html.contains("You are already a member of Acme."));
    let response = ada.submit(&link, &format!("{link}/accept"), &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.role_of(&slug, "ada@example.com").await.as_deref(),
        Some("owner"),
        "no downgrade"
    );
    assert_eq!(
        app.browser().get(&link).await.status(),
        StatusCode::OK,
        "the link still works for someone else"
    );
}

#[sqlx::test]
async fn expired_revoked_and_unknown_invites_are_refused_and_add_no_one(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let expired = app.invite(&ada, &slug, "member").await;
    sqlx::query("update invites set expires_at = now() - interval '1 minute'")
        .execute(&app.db)
        .await
        .unwrap();
    let revoked = app.invite(&ada, &slug, "member").await;
    let revoked_id: uuid::Uuid =
        sqlx::query_scalar("select id from invites where expires_at > now()")
            .fetch_one(&app.db)
            .await
            .unwrap();
    let response = ada
        .submit(
            &format!("/o/{slug}/members"),
            &format!("/o/{slug}/invites/{revoked_id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    for (link, message) in [
        (&expired, "This invite link has expired."),
        (&revoked, "This invite link was revoked."),
    ] {
        let visitor = app.browser();
        let (status, html) = visitor.get_html(link).await;
        assert_eq!(status, StatusCode::GONE, "{link}");
        assert!(html.contains(message));
        let token = visitor.csrf_token("/signup").await;
        let response = visitor
            .post_raw(
                &format!("{link}/signup"),
                &[
                    ("csrf_token", &token),
                    ("name", "Eve"),
                    ("email", "eve@example.com"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::GONE);
    }
    let (status, _) = app.browser().get_html("/invites/not-a-real-token").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.count("users").await, 1);
    assert_eq!(app.count("memberships").await, 1);
}

#[sqlx::test]
async fn an_invite_signup_with_bad_input_is_refused_and_leaves_the_link_usable(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let link = app.invite(&ada, &slug, "member").await;
    let visitor = app.browser();

    for (fields, message) in [
        (
            [
                ("name", "Eve"),
                ("email", "not-an-email"),
                ("password", PASSWORD),
            ],
            "Enter an email address like",
        ),
        (
            [
                ("name", "Eve"),
                ("email", "eve@example.com"),
                ("password", "short"),
            ],
            "at least 10 characters",
        ),
        (
            [
                ("name", "Eve"),
                ("email", "ADA@example.com"),
                ("password", PASSWORD),
            ],
            "An account with this email already exists.",
        ),
    ] {
        let response = visitor
            .submit(&link, &format!("{link}/signup"), &fields)
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            response.text().await.unwrap().contains(message),
            "{message}"
        );
    }
    assert_eq!(app.count("users").await, 1);
    assert_eq!(visitor.get(&link).await.status(), StatusCode::OK);
}
