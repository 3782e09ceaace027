//! The Members page: roles, removal, and who may do what.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{Browser, PASSWORD, TestApp, spawn_app};

/// Ada owns Acme; Mia joins as a member and Al as an admin.
async fn team(app: &TestApp) -> (Browser, Browser, Browser, String) {
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let mut others = Vec::new();
    for (name, email, role) in [
        ("Mia", "mia@example.com", "member"),
        ("Al", "al@example.com", "admin"),
    ] {
        let link = app.invite(&ada, &slug, role).await;
        let browser = app.browser();
        let response = browser
            .submit(
                &link,
                &format!("{link}/signup"),
                &[("name", name), ("email", email), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        others.push(browser);
    }
    let al = others.pop().unwrap();
    let mia = others.pop().unwrap();
    (ada, mia, al, slug)
}

#[sqlx::test]
async fn a_member_cannot_invite_change_roles_or_remove_anyone(db: PgPool) {
    let app = spawn_app(db).await;
    let (_ada, mia, _al, slug) = team(&app).await;
    let members = format!("/o/{slug}/members");
    let ada_id = app.user_id("ada@example.com").await;
    let al_id = app.user_id("al@example.com").await;
    let mia_id = app.user_id("mia@example.com").await;
    let invites_before = app.count("invites").await;

    let (_, html) = mia.get_html(&members).await;
    assert!(
        !html.contains("Create invite link"),
        "members are not offered the invite form"
    );
    assert!(!html.contains("Change role"));

    let attempts = [
        (format!("/o/{slug}/invites"), vec![("role", "member")]),
        (
            format!("/o/{slug}/members/{ada_id}/role"),
            vec![("role", "member")],
        ),
        (
            format!("/o/{slug}/members/{mia_id}/role"),
            vec![("role", "owner")],
        ),
        (format!("/o/{slug}/members/{al_id}/remove"), vec![]),
    ];
    for (action, fields) in attempts {
        let response = mia.submit(&members, &action, &fields).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{action}");
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("Only owners and admins")
        );
    }
    assert_eq!(app.count("invites").await, invites_before);
    assert_eq!(
        app.role_of(&slug, "ada@example.com").await.as_deref(),
        Some("owner")
    );
    assert_eq!(
        app.role_of(&slug, "mia@example.com").await.as_deref(),
        Some("member")
    );
    assert_eq!(
        app.role_of(&slug, "al@example.com").await.as_deref(),
        Some("admin")
    );
}

#[sqlx::test]
async fn an_admin_manages_members_but_not_owners(db: PgPool) {
    let app = spawn_app(db).await;
    let (_ada, _mia, al, slug) = team(&app).await;
    let members = format!("/o/{slug}/members");
    let ada_id = app.user_id("ada@example.com").await;
    let mia_id = app.user_id("mia@example.com").await;

    let response = al
        .submit(
            &members,
            &format!("/o/{slug}/members/{mia_id}/role"),
            &[("role", "admin")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.role_of(&slug, "mia@example.com").await.as_deref(),
        Some("admin")
    );

    for (action, fields) in [
        (
            format!("/o/{slug}/members/{mia_id}/role"),
            vec![("role", "owner")],
        ),
        (
            format!("/o/{slug}/members/{ada_id}/role"),
            vec![("role", "member")],
        ),
        (format!("/o/{slug}/members/{ada_id}/remove"), vec![]),
        (format!("/o/{slug}/invites"), vec![("role", "owner")]),
    ] {
        let response = al.submit(&members, &action, &fields).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{action}");
    }
    assert_eq!(
        app.role_of(&slug, "ada@example.com").await.as_deref(),
        Some("owner")
    );
    assert_eq!(
        app.role_of(&slug, "mia@example.com").await.as_deref(),
        Some("admin")
    );

    let response = al
        .submit(&members, &format!("/o/{slug}/members/{mia_id}/remove"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.role_of(&slug, "mia@example.com").await, None);
}

#[sqlx::test]
async fn the_last_owner_can_be_neither_demoted_nor_removed(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, _mia, _al, slug) = team(&app).await;
    let members = format!("/o/{slug}/members");
    let ada_id = app.user_id("ada@example.com").await;
    let al_id = app.user_id("al@example.com").await;

    for (action, fields) in [
        (
            format!("/o/{slug}/members/{ada_id}/role"),
            vec![("role", "admin")],
        ),
        (format!("/o/{slug}/members/{ada_id}/remove"), vec![]),
    ] {
        let response = ada.submit(&members, &action, &fields).await;
        assert_eq!(response.status(), StatusCode::CONFLICT, "{action}");
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("must always have at least one owner")
        );
    }
    assert_eq!(
        app.role_of(&slug, "ada@example.com").await.as_deref(),
        Some("owner")
    );

    let response = ada
        .submit(
            &members,
            &format!("/o/{slug}/members/{al_id}/role"),
            &[("role", "owner")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = ada
        .submit(
            &members,
            &format!("/o/{slug}/members/{ada_id}/role"),
            &[("role", "member")],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "with a second owner, the first may step down"
    );
    assert_eq!(
        app.role_of(&slug, "ada@example.com").await.as_deref(),
        Some("member")
    );
    assert_eq!(
        app.role_of(&slug, "al@example.com").await.as_deref(),
        Some("owner")
    );
}

#[sqlx::test]
async fn the_members_page_lists_everyone_with_their_role(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, _mia, _al, slug) = team(&app).await;

    let (status, html) = ada.get_html(&format!("/o/{slug}/members")).await;

    assert_eq!(status, StatusCode::OK);
    let rows = crate::helpers::select_texts(&html, "tbody tr[data-member] td:first-child");
    assert_eq!(rows, ["Ada (you)", "Al", "Mia"]);
    assert!(html.contains("Create invite link"));
}

#[sqlx::test]
async fn an_unknown_role_or_member_is_refused(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, _mia, _al, slug) = team(&app).await;
    let members = format!("/o/{slug}/members");
    let mia_id = app.user_id("mia@example.com").await;

    let response = ada
        .submit(
            &members,
            &format!("/o/{slug}/members/{mia_id}/role"),
            &[("role", "superuser")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.role_of(&slug, "mia@example.com").await.as_deref(),
        Some("member")
    );

    let stranger = uuid::Uuid::new_v4();
    let response = ada
        .submit(
            &members,
            &format!("/o/{slug}/members/{stranger}/role"),
            &[("role", "admin")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test]
async fn a_change_is_authorised_by_the_role_held_when_the_memberships_are_locked(db: PgPool) {
    let app = spawn_app(db).await;
    let (_ada, _mia, al, slug) = team(&app).await;
    let members = format!("/o/{slug}/members");
    let al_id = app.user_id("al@example.com").await;
    let mia_id = app.user_id("mia@example.com").await;
    let token = al.csrf_token(&members).await;

    // Ada demotes Al while Al's request to promote Mia to admin is already under way: her change
    // holds the memberships' locks, Al's request has read "admin" and waits for them.
    let mut demotion = app.db.begin().await.unwrap();
    sqlx::query("select 1 from memberships for update")
        .fetch_all(&mut *demotion)
        .await
        .unwrap();
    sqlx::query("update memberships set role = 'member' where user_id = $1")
        .bind(al_id)
        .execute(&mut *demotion)
        .await
        .unwrap();
    let action = format!("/o/{slug}/members/{mia_id}/role");
    let promote = tokio::spawn(async move {
        al.post_raw(&action, &[("csrf_token", &token), ("role", "admin")])
            .await
            .status()
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    demotion.commit().await.unwrap();

    assert_eq!(promote.await.unwrap(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.role_of(&slug, "mia@example.com").await.as_deref(),
        Some("member"),
        "a demoted admin changed nothing"
    );
}
