//! Sign-up, login, logout, sessions and failed-login throttling.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{
    PASSWORD, location, select_text, session_set_cookie, spawn_app, spawn_app_with, test_settings,
};

#[sqlx::test]
async fn signup_creates_account_org_and_owner_then_lands_on_org_home(db: PgPool) {
    let app = spawn_app(db).await;
    let browser = app.browser();

    let response = browser
        .signup(
            "Ada Lovelace",
            "  Ada@Example.COM ",
            PASSWORD,
            "Analytical Engines",
        )
        .await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/o/analytical-engines/");
    let (status, html) = browser.get_html("/o/analytical-engines/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        select_text(&html, "h1").as_deref(),
        Some("Analytical Engines")
    );
    assert!(
        html.contains("Welcome to Debrief!"),
        "a welcome flash is shown"
    );
    assert!(html.contains("an owner of this organisation"));
    assert_eq!(
        app.role_of("analytical-engines", "ada@example.com")
            .await
            .as_deref(),
        Some("owner")
    );
    let stored: String = sqlx::query_scalar("select password_hash from users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(
        stored.starts_with("$argon2id$"),
        "passwords are stored as argon2id hashes"
    );
}

#[sqlx::test]
async fn signup_with_bad_input_rerenders_with_a_message_and_writes_nothing(db: PgPool) {
    let app = spawn_app(db).await;
    let long_email = format!("{}@example.com", "a".repeat(320));
    let long_org = "x".repeat(101);
    type Case<'a> = (&'a str, [(&'a str, &'a str); 4], &'a str);
    let cases: Vec<Case> = vec![
        (
            "empty email",
            [
                ("name", "Ada"),
                ("email", ""),
                ("password", PASSWORD),
                ("org_name", "Acme"),
            ],
            "Enter your email address.",
        ),
        (
            "over-long email",
            [
                ("name", "Ada"),
                ("email", &long_email),
                ("password", PASSWORD),
                ("org_name", "Acme"),
            ],
            "too long (320 characters at most)",
        ),
        (
            "malformed email",
            [
                ("name", "Ada"),
                ("email", "ada-at-example.com"),
                ("password", PASSWORD),
                ("org_name", "Acme"),
            ],
            "Enter an email address like name@company.com.",
        ),
        (
            "short password",
            [
                ("name", "Ada"),
                ("email", "ada@example.com"),
                ("password", "123456789"),
                ("org_name", "Acme"),
            ],
            "at least 10 characters",
        ),
        (
            "blank org name",
            [
                ("name", "Ada"),
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("org_name", "   "),
            ],
            "Enter your organisation",
        ),
        (
            "over-long org name",
            [
                ("name", "Ada"),
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("org_name", &long_org),
            ],
            "organisation name is too long",
        ),
        (
            "blank name",
            [
                ("name", " "),
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("org_name", "Acme"),
            ],
            "Enter your name.",
        ),
    ];
    for (case, fields, message) in cases {
        let browser = app.browser();
        let response = browser.submit("/signup", "/signup", &fields).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{case}"
        );
        let html = response.text().await.unwrap();
        assert!(
            html.contains(message),
            "{case}: expected {message:?} in the form"
        );
        assert!(
            html.contains(r#"aria-invalid="true""#),
            "{case}: the field is marked invalid"
        );
        assert!(
            !html.contains(PASSWORD),
            "{case}: the password is never echoed back"
        );
    }
    assert_eq!(app.count("users").await, 0);
    assert_eq!(app.count("orgs").await, 0);
    assert_eq!(app.count("memberships").await, 0);
}

#[sqlx::test]
async fn signup_with_an_existing_email_in_any_case_is_refused(db: PgPool) {
    let app = spawn_app(db).await;
    app.signup("Ada", "ada@example.com", "Acme").await;

    let response = app
        .browser()
        .signup("Imposter", "ADA@example.com ", PASSWORD, "Other Co")
        .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("An account with this email already exists."));
    assert_eq!(app.count("users").await, 1);
    assert_eq!(app.count("orgs").await, 1);
}

#[sqlx::test]
async fn a_person_can_log_out_and_log_back_in(db: PgPool) {
    let app = spawn_app(db).await;
    let (browser, slug) = app.signup("Ada", "ada@example.com", "Acme").await;

    let response = browser.logout(&format!("/o/{slug}/")).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login?signed_out=1");
    let (_, html) = browser.get_html("/login?signed_out=1").await;
    assert!(html.contains("You have logged out."));
    let after_logout = browser.get(&format!("/o/{slug}/")).await;
    assert_eq!(after_logout.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&after_logout),
        format!("/login?next=%2Fo%2F{slug}%2F")
    );

    let response = browser.login("ADA@example.com", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/");
    let home = browser.get("/").await;
    assert_eq!(location(&home), format!("/o/{slug}/"));
    let (status, html) = browser.get_html(&format!("/o/{slug}/")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Welcome back, Ada."), "a flash says so");
    let (_, again) = browser.get_html(&format!("/o/{slug}/")).await;
    assert!(!again.contains("Welcome back"), "once");
}

#[sqlx::test]
async fn login_returns_to_the_page_that_asked_for_it_but_never_off_site(db: PgPool) {
    let app = spawn_app(db).await;
    let (browser, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    browser.logout(&format!("/o/{slug}/")).await;

    let members = format!("/o/{slug}/members");
    let response = browser
        .submit(
            "/login",
            "/login",
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("next", &members),
            ],
        )
        .await;
    assert_eq!(location(&response), members);

    let other = app.browser();
    let response = other
        .submit(
            "/login",
            "/login",
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(location(&response), "/");
}

#[sqlx::test]
async fn login_never_follows_a_next_that_a_browser_reads_as_another_host(db: PgPool) {
    let app = spawn_app(db).await;
    app.signup("Ada", "ada@example.com", "Acme").await;
    for hostile in [
        "/\t/evil.example",
        "/%09/evil.example",
        "/%2F%2Fevil.example",
        "/\\evil.example",
        "/%5Cevil.example",
        "/\u{FF0F}evil.example",
    ] {
        let browser = app.browser();
        let page = format!("/login?next={}", urlencode(hostile));
        let (status, html) = browser.get_html(&page).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            crate::helpers::select_attr(&html, r#"input[name="next"]"#, "value")
                .unwrap_or_default(),
            "",
            "{hostile:?} is not carried into the form"
        );
        let response = browser
            .submit(
                &page,
                "/login",
                &[
                    ("email", "ada@example.com"),
                    ("password", PASSWORD),
                    ("next", hostile),
                ],
            )
            .await;
        assert_eq!(location(&response), "/", "{hostile:?}");
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A `Set-Cookie` of the response for cookie `name`, whole.
fn set_cookie_named(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

#[sqlx::test]
async fn anonymous_pages_write_no_session_and_login_sets_an_httponly_lax_cookie(db: PgPool) {
    let app = spawn_app(db).await;
    let (ada, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    ada.logout(&format!("/o/{slug}/")).await;
    let sessions_before = app.count("sessions").await;

    let browser = app.browser();
    let mut token = String::new();
    for page in ["/", "/signup", "/login"] {
        let response = browser.get(page).await;
        assert_eq!(response.status(), StatusCode::OK, "{page}");
        assert_eq!(
            session_set_cookie(&response),
            None,
            "{page}: an anonymous visit gets no session"
        );
        if let Some(csrf) = set_cookie_named(&response, "debrief_csrf") {
            assert!(
                csrf.contains("HttpOnly") && csrf.contains("SameSite=Lax"),
                "{csrf}"
            );
        }
        token = crate::helpers::select_attr(
            &response.text().await.unwrap(),
            r#"meta[name="csrf-token"]"#,
            "content",
        )
        .unwrap();
    }
    assert_eq!(
        app.count("sessions").await,
        sessions_before,
        "no session row for anonymous page views"
    );

    let response = browser
        .post_raw(
            "/login",
            &[
                ("csrf_token", &token),
                ("email", "ada@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let first = session_set_cookie(&response).expect("login sets a session cookie");
    assert!(first.contains("HttpOnly"));
    assert!(first.contains("SameSite=Lax"));
    assert!(
        !first.contains("Secure"),
        "http base URL: no Secure attribute"
    );
    browser.logout(&format!("/o/{slug}/")).await;
    let again = browser.login("ada@example.com", PASSWORD).await;
    let second = session_set_cookie(&again).expect("a new session cookie");
    let value = |c: &str| c.split(';').next().unwrap().to_owned();
    assert_ne!(value(&first), value(&second), "a new session id each time");
}

#[sqlx::test]
async fn the_session_cookie_is_secure_when_the_base_url_is_https(db: PgPool) {
    let mut settings = test_settings();
    settings.application.base_url = "https://debrief.example".parse().unwrap();
    let app = spawn_app_with(db, settings).await;

    let page = app.browser().get("/signup").await;
    let csrf = set_cookie_named(&page, "debrief_csrf").expect("the anonymous CSRF cookie");
    assert!(csrf.contains("Secure"), "{csrf}");
    let browser = app.browser();
    let response = browser
        .signup("Ada", "ada@example.com", PASSWORD, "Acme")
        .await;
    let cookie = session_set_cookie(&response).expect("session cookie");
    assert!(cookie.contains("Secure"), "{cookie}");
}

#[sqlx::test]
async fn an_inactive_session_expires(db: PgPool) {
    let app = spawn_app(db).await;
    let (browser, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    assert_eq!(
        browser.get(&format!("/o/{slug}/")).await.status(),
        StatusCode::OK
    );
    let expiry_ok: bool = sqlx::query_scalar(
        "select bool_and(expiry_date between now() + interval '719 minutes' and now() + interval '721 minutes') from sessions",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(
        expiry_ok,
        "each request pushes expiry to 12 hours of inactivity from now"
    );

    sqlx::query("update sessions set expiry_date = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();

    let response = browser.get(&format!("/o/{slug}/")).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).starts_with("/login"));
}

#[sqlx::test]
async fn a_wrong_password_is_refused_with_a_message_and_no_session(db: PgPool) {
    let app = spawn_app(db).await;
    let (_, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let browser = app.browser();

    let response = browser.login("ada@example.com", "not-the-password").await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("That email and password do not match an account."));
    assert!(
        html.contains(r#"value="ada@example.com""#),
        "the email is kept in the form"
    );
    assert_eq!(
        browser.get(&format!("/o/{slug}/")).await.status(),
        StatusCode::SEE_OTHER
    );
    let unknown = app.browser().login("nobody@example.com", PASSWORD).await;
    assert_eq!(
        unknown.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown emails get the same answer"
    );
    assert!(
        unknown
            .text()
            .await
            .unwrap()
            .contains("That email and password do not match an account.")
    );
}

#[sqlx::test]
async fn ten_failed_logins_for_an_email_lock_it_for_fifteen_minutes(db: PgPool) {
    let app = spawn_app(db).await;
    app.signup("Ada", "ada@example.com", "Acme").await;
    let browser = app.browser();
    for attempt in 1..=10 {
        let response = browser
            .login("ada@example.com", &format!("wrong-password-{attempt}"))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "attempt {attempt}"
        );
    }

    let response = browser.login("ada@example.com", PASSWORD).await;

    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    let html = response.text().await.unwrap();
    assert!(html.contains("Too many failed sign-in attempts."), "{html}");
    assert!(html.contains("wait 15 minutes"));

    sqlx::query("update login_failures set failed_at = now() - interval '16 minutes'")
        .execute(&app.db)
        .await
        .unwrap();
    let response = browser.login("ada@example.com", PASSWORD).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "the lock lifts after the window"
    );
    assert_eq!(
        app.count("login_failures").await,
        0,
        "a successful login clears the email's failures"
    );
}

#[sqlx::test]
async fn ten_failed_logins_from_one_address_lock_that_address(db: PgPool) {
    let app = spawn_app(db).await;
    app.signup("Ada", "ada@example.com", "Acme").await;
    let browser = app.browser();
    for n in 1..=10 {
        let response = browser
            .login(&format!("guess{n}@example.com"), "wrong-password")
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    let response = browser.login("ada@example.com", PASSWORD).await;

    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Too many failed sign-in attempts.")
    );
}
