//! CSV import of customers and contacts through the real upload form: preview, confirm, summary,
//! and every kind of bad file refused with its reason and nothing imported.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{Browser, TestApp, location, select_text, select_texts, spawn_app};

async fn upload(
    browser: &Browser,
    slug: &str,
    kind: &str,
    create_missing: bool,
    file: &[u8],
) -> reqwest::Response {
    let mut fields = vec![("kind", kind)];
    if create_missing {
        fields.push(("create_missing", "1"));
    }
    browser
        .upload(
            &format!("/o/{slug}/customers/imports/new"),
            &format!("/o/{slug}/customers/imports"),
            &fields,
            "file.csv",
            file.to_vec(),
        )
        .await
}

/// Uploads, checks the preview, confirms; returns the summary line.
async fn import(
    browser: &Browser,
    slug: &str,
    kind: &str,
    create_missing: bool,
    file: &[u8],
) -> String {
    let response = upload(browser, slug, kind, create_missing, file).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "{}",
        response.text().await.unwrap()
    );
    let preview = location(&response);
    let (status, html) = browser.get_html(&preview).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        select_text(&html, "#confirm-import button").is_some(),
        "{html}"
    );
    let confirmed = browser
        .submit(&preview, &format!("{preview}/confirm"), &[])
        .await;
    assert_eq!(confirmed.status(), StatusCode::SEE_OTHER);
    let (_, html) = browser.get_html(&preview).await;
    words(&select_text(&html, "#import-summary").unwrap())
}

fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

async fn snapshot(app: &TestApp) -> (i64, i64, i64, i64) {
    (
        app.count("customers").await,
        app.count("customer_domains").await,
        app.count("contacts").await,
        app.count("customer_imports").await,
    )
}

#[sqlx::test]
async fn customers_then_contacts_import_with_a_preview_and_a_summary(db: PgPool) {
    let app = spawn_app(db).await;
    let (browser, slug) = app.signup("Ada", "ada@example.com", "Acme").await;

    // Semicolons, a BOM, synonyms, several domains in one cell.
    let customers = "\u{feff}Account;Website\nNorthwind;\"northwind.com, www.northwind.de\"\nGlobex;globex.com\nInitech;\n";
    let response = upload(&browser, &slug, "customers", false, customers.as_bytes()).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = browser.get_html(&location(&response)).await;
    assert_eq!(
        select_texts(&html, "#import-columns td"),
        ["Company name", "“account”", "Domains", "“website”"]
    );
    assert_eq!(
        select_text(&html, "#preview-heading").as_deref(),
        Some("3 rows")
    );
    assert_eq!(app.count("customers").await, 0, "nothing before confirming");
    let confirmed = browser
        .submit(
            &location(&response),
            &format!("{}/confirm", location(&response)),
            &[],
        )
        .await;
    assert_eq!(confirmed.status(), StatusCode::SEE_OTHER);
    let (_, html) = browser.get_html(&location(&response)).await;
    let summary = words(&select_text(&html, "#import-summary").unwrap());
    assert!(
        summary.contains("3 created, 0 updated, 0 unchanged"),
        "{summary}"
    );
    let domains: Vec<String> = sqlx::query_scalar(
        "select c.name || ' ' || d.domain from customer_domains d join customers c on c.id = d.customer_id
         order by 1",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        domains,
        [
            "Globex globex.com",
            "Northwind northwind.com",
            "Northwind northwind.de"
        ]
    );
    // Confirming again imports nothing twice.
    let again = browser
        .submit(
            &location(&response),
            &format!("{}/confirm", location(&response)),
            &[],
        )
        .await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count("customers").await, 3);

    // The same names again, one with a new domain: updated and unchanged, nothing duplicated.
    let summary = import(
        &browser,
        &slug,
        "customers",
        false,
        b"name,domain\nnorthwind,\nINITECH,initech.com\n",
    )
    .await;
    assert!(
        summary.contains("0 created, 1 updated, 1 unchanged"),
        "{summary}"
    );
    assert_eq!(app.count("customers").await, 3);

    // Contacts by customer name or domain, and one new customer created on request.
    let contacts = "E-mail,Full name,Job title,Company\nPriya@Northwind.com,Priya Patel,CTO,northwind\nlee@globex.com,Lee,,globex.com\nnew@umbrella.example,Nia,,Umbrella\n";
    let summary = import(&browser, &slug, "contacts", true, contacts.as_bytes()).await;
    assert!(
        summary.contains("3 created, 0 updated, 0 unchanged"),
        "{summary}"
    );
    let rows: Vec<String> = sqlx::query_scalar(
        "select k.email || ' ' || c.name || ' ' || coalesce(k.title, '-') from contacts k
           join customers c on c.id = k.customer_id order by k.email",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        rows,
        [
            "lee@globex.com Globex -",
            "new@umbrella.example Umbrella -",
            "priya@northwind.com Northwind CTO",
        ]
    );
    // A re-import that moves Lee to Northwind: one updated; empty cells keep Priya's name and
    // title, so she is unchanged.
    let moved = "email,company\nlee@globex.com,Northwind\npriya@northwind.com,Northwind\n";
    let summary = import(&browser, &slug, "contacts", false, moved.as_bytes()).await;
    assert!(
        summary.contains("0 created, 1 updated, 1 unchanged"),
        "{summary}"
    );
    let priya: (Option<String>, Option<String>) =
        sqlx::query_as("select name, title from contacts where email = 'priya@northwind.com'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(priya, (Some("Priya Patel".into()), Some("CTO".into())));
    app.wait_for_jobs().await;
}

#[sqlx::test]
async fn bad_files_are_refused_with_their_reasons_and_import_nothing(db: PgPool) {
    let app = spawn_app(db).await;
    let (browser, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    import(
        &browser,
        &slug,
        "customers",
        false,
        b"name,domain\nNorthwind,northwind.com\n",
    )
    .await;
    let before = snapshot(&app).await;

    let too_many = format!(
        "email,company\n{}",
        (0..50_001)
            .map(|i| format!("p{i}@northwind.com,Northwind\n"))
            .collect::<String>()
    );
    let too_large = format!("email,company\n{}", "x".repeat(10 * 1024 * 1024));
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        ("contacts", b"name,company\nPriya,Northwind\n".to_vec(), vec!["No Email column"]),
        (
            "contacts",
            b"email,company\nnot-an-email,Northwind\nok@northwind.com,Northwind\n".to_vec(),
            vec!["Line 2: “not-an-email” is not an email address."],
        ),
        (
            "contacts",
            b"email,company\na@northwind.com,Northwind\nb@northwind.com,Northwind\nA@northwind.com,Northwind\n".to_vec(),
            vec!["Line 4: Line 4 repeats line 2 (the email a@northwind.com)."],
        ),
        (
            "contacts",
            b"email,company\na@nowhere.example,Nowhere Ltd\n".to_vec(),
            vec!["Line 2: No customer is named “Nowhere Ltd”"],
        ),
        (
            "customers",
            b"name,domain\nOther,northwind.com\n".to_vec(),
            vec!["Line 2: northwind.com already belongs to Northwind."],
        ),
        (
            "contacts",
            b"email,company\na@northwind.com,Northwind\nb@northwind.com,North\xffwind\n".to_vec(),
            vec!["Line 3 is not UTF-8 text"],
        ),
        ("contacts", Vec::new(), vec!["The file is empty."]),
        ("contacts", b"email,company\n".to_vec(), vec!["The file has a header line but no rows."]),
        ("contacts", too_many.into_bytes(), vec!["The file has more than 50,000 rows (50001 found)."]),
        ("contacts", too_large.into_bytes(), vec!["The file is larger than 10 MiB."]),
    ];
    for (kind, file, messages) in cases {
        let response = upload(&browser, &slug, kind, false, &file).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{messages:?}"
        );
        let html = response.text().await.unwrap();
        let shown = format!(
            "{} {}",
            select_text(&html, "#import-error").unwrap_or_default(),
            select_texts(&html, "#import-errors li").join(" | ")
        );
        for message in messages {
            assert!(shown.contains(message), "{message:?} in {shown:?}");
        }
        assert_eq!(snapshot(&app).await, before, "nothing imported");
    }
}

#[sqlx::test]
async fn fifty_thousand_contacts_import_in_one_go(db: PgPool) {
    let app = spawn_app(db).await;
    let (browser, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    let mut file = String::from("email,name,title,company\n");
    for i in 0..50_000 {
        file.push_str(&format!(
            "person{i}@c{}.example,Person {i},Buyer,c{}.example\n",
            i % 500,
            i % 500
        ));
    }
    let started = std::time::Instant::now();
    let summary = import(&browser, &slug, "contacts", true, file.as_bytes()).await;
    eprintln!(
        "50,000 contacts (and 500 new customers) imported in {:?} (debug build)",
        started.elapsed()
    );
    assert!(summary.contains("50000 created"), "{summary}");
    assert_eq!(app.count("contacts").await, 50_000);
    assert_eq!(app.count("customers").await, 500);
    assert_eq!(app.count("customer_domains").await, 500);
}

#[sqlx::test]
async fn an_upload_without_the_forms_csrf_token_is_refused_and_stores_nothing(db: PgPool) {
    let app = spawn_app(db).await;
    let (browser, slug) = app.signup("Ada", "ada@example.com", "Acme").await;
    for query in ["", "?csrf_token=forged"] {
        let response = browser
            .client
            .post(format!("{}/o/{slug}/customers/imports{query}", app.address))
            .multipart(
                reqwest::multipart::Form::new()
                    .text("kind", "customers")
                    .part(
                        "file",
                        reqwest::multipart::Part::bytes(b"name\nPlanted\n".to_vec())
                            .file_name("x.csv"),
                    ),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{query:?}");
    }
    assert_eq!(app.count("customer_imports").await, 0);
}
