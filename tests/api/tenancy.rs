//! Tenants never see each other: a member of org A gets 404 for every page, form and object of org B.
//! Later features add their routes to `org_b_routes`.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{Browser, spawn_app};

enum Req {
    Get(String),
    Post(String, Vec<(&'static str, &'static str)>),
}

/// Every org-scoped route, pointed at org B and its objects.
fn org_b_routes(b: &str, b_user: &str, b_invite: &str) -> Vec<Req> {
    vec![
        Req::Get(format!("/o/{b}/")),
        Req::Get(format!("/o/{b}/members")),
        Req::Post(format!("/o/{b}/invites"), vec![("role", "member")]),
        Req::Post(format!("/o/{b}/invites/{b_invite}/revoke"), vec![]),
        Req::Post(
            format!("/o/{b}/members/{b_user}/role"),
            vec![("role", "member")],
        ),
        Req::Post(format!("/o/{b}/members/{b_user}/remove"), vec![]),
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
    let b_user = app.user_id("bob@b.example").await.to_string();
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

    for req in org_b_routes(&b, &b_user, &b_invite.to_string()) {
        let (path, status) = send(&alice, &token, &req).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    // Org B's objects through org A's own URLs.
    for req in org_b_routes(&a, &b_user, &b_invite.to_string())
        .into_iter()
        .skip(3)
    {
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

    assert_eq!(snapshot().await, before, "no membership changed");
    let revoked: i64 =
        sqlx::query_scalar("select count(*) from invites where revoked_at is not null")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(revoked, 0);
    assert_eq!(app.count("invites").await, 1, "no invite was created");
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
