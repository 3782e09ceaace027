//! Benchmark: customers at scale. Seeds one org (by binary `COPY`) with 10,000 meetings of 200
//! transcript lines each, 5,000 customers with a domain each and 100,000 contacts, then prints:
//!
//! - a full `RematchOrg` (time, meetings/s), from no links and again, next to a yardstick: one
//!   bare SQL statement doing the same email and domain lookups for every attendee, as a ratio of
//!   rates (target ≥ 0.5); medians of five rounds, after `vacuum analyze`;
//! - p50/p99 of the customers list, a customer page, page 20 of a customer's meetings and a
//!   search, 200 requests each over loopback (the client's share is a few hundred µs);
//! - a 50,000-row contacts import through the upload form (upload + preview + confirm);
//! - `EXPLAIN (ANALYZE, BUFFERS)` of the list, customer-meetings and search queries.
//!
//! Run with `./scripts/bench customers`.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use anyhow::Context;
use debrief::db::binary_copy::BinaryCopy;
use debrief::domain::OrgId;
use debrief::jobs::RematchOrg;
use debrief::startup::Application;
use postgres_types::Type;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

const MEETINGS: usize = 10_000;
const LINES: usize = 200;
const CUSTOMERS: usize = 5_000;
const CONTACTS: usize = 100_000;
const REQUESTS: usize = 200;
/// Rounds of the re-match figures.
const ROUNDS: usize = 5;
/// Every 7th meeting is with customer 0, so it has pages enough for page 20.
const BIG_EVERY: usize = 7;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let admin_url = std::env::var("DATABASE_URL").context("DATABASE_URL must be set")?;
    let db_name = format!("debrief_bench_{}", Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {db_name}")))
        .execute(&mut admin)
        .await?;
    let result = run(&admin_url, &db_name).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "drop database if exists {db_name} with (force)"
    )))
    .execute(&mut admin)
    .await?;
    result
}

async fn run(admin_url: &str, db_name: &str) -> anyhow::Result<()> {
    let mut url = url::Url::parse(admin_url)?;
    url.set_path(db_name);
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .connect(url.as_str())
        .await?;
    debrief::db::MIGRATOR.run(&pool).await?;
    debrief::jobs::setup(&pool).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    let settings = support::settings(&address, "http://127.0.0.1:9")?;
    let app = Application::build_with_listener(settings.prepare()?, pool.clone(), listener)?;
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let (browser, home) = support::sign_up(&address).await?;
    let org = OrgId(
        sqlx::query_scalar("select id from orgs")
            .fetch_one(&pool)
            .await?,
    );

    let started = Instant::now();
    let big = seed(&pool, org).await?;
    println!(
        "seeded {MEETINGS} meetings x {LINES} transcript lines, {CUSTOMERS} customers, {CONTACTS} contacts in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Planner statistics and a vacuumed heap, as a live database has; without this the first
    // timings share the machine with autovacuum working through the freshly seeded tables.
    sqlx::query("vacuum analyze").execute(&pool).await?;

    // Each figure is the median of ROUNDS runs (their range beside it): one run's figure moves
    // with whatever else the machine does. A "first" run starts with no links at all.
    let (mut yardsticks, mut firsts, mut agains) = (Vec::new(), Vec::new(), Vec::new());
    let (mut attendee_rows, mut written, mut rewritten) = (0, 0, 0);
    for _ in 0..ROUNDS {
        sqlx::query("delete from meeting_customers where org_id = $1")
            .bind(org)
            .execute(&pool)
            .await?;
        sqlx::query("vacuum analyze meeting_customers")
            .execute(&pool)
            .await?;
        // The yardstick: every external attendee's contact and domain looked up in one statement.
        let started = Instant::now();
        let rows: Vec<(Uuid, Option<Uuid>)> = sqlx::query_as(
            "select a.meeting_id, coalesce(k.customer_id, d.customer_id)
             from meeting_attendees a
             left join contacts k on k.org_id = a.org_id and k.email = lower(a.email)
             left join customer_domains d on d.org_id = a.org_id and d.domain = split_part(lower(a.email), '@', 2)
             where a.org_id = $1 and a.is_external",
        )
        .bind(org)
        .fetch_all(&pool)
        .await?;
        yardsticks.push(started.elapsed());
        attendee_rows = rows.len();
        let started = Instant::now();
        written = debrief::jobs::rematch_org(&state, RematchOrg { org_id: org })
            .await?
            .written;
        firsts.push(started.elapsed());
        let started = Instant::now();
        rewritten = debrief::jobs::rematch_org(&state, RematchOrg { org_id: org })
            .await?
            .written;
        agains.push(started.elapsed());
    }
    let (yardstick, rematch, steady) = (
        median(&mut yardsticks),
        median(&mut firsts),
        median(&mut agains),
    );
    let rate = |d: Duration| MEETINGS as f64 / d.as_secs_f64();
    let range = |all: &[Duration]| format!("{:.0}-{:.0} ms", ms(all[0]), ms(all[all.len() - 1]));
    println!();
    println!("medians of {ROUNDS} rounds (their range in brackets):");
    println!(
        "RematchOrg        {:>8.0} ms  {:>8.0} meetings/s  ({} links written) [{}]",
        ms(rematch),
        rate(rematch),
        written,
        range(&firsts)
    );
    println!(
        "RematchOrg again  {:>8.0} ms  {:>8.0} meetings/s  ({} links written: nothing changed) [{}]",
        ms(steady),
        rate(steady),
        rewritten,
        range(&agains)
    );
    println!(
        "yardstick lookup  {:>8.0} ms  {:>8.0} meetings/s  ({} attendee rows) [{}]",
        ms(yardstick),
        rate(yardstick),
        attendee_rows,
        range(&yardsticks)
    );
    println!(
        "ratio             {:.2} (first, writing every link) and {:.2} (again) of the yardstick's rate (target >= 0.5)",
        rate(rematch) / rate(yardstick),
        rate(steady) / rate(yardstick)
    );
    let started = Instant::now();
    let mut conn = pool.acquire().await?;
    debrief::db::customer_rollups::refresh(&mut conn, org, None).await?;
    drop(conn);
    println!(
        "rollups of all {CUSTOMERS} customers refreshed in {:.0} ms",
        ms(started.elapsed())
    );
    sqlx::query("analyze").execute(&pool).await?;

    // Page 20 of the big customer's meetings: the keyset of the 950th newest.
    let (at, id): (chrono::DateTime<chrono::Utc>, Uuid) = sqlx::query_as(
        "select m.started_at, m.id from meeting_customers mc join meetings m on m.id = mc.meeting_id
         where mc.customer_id = $1 order by m.started_at desc, m.id desc offset 949 limit 1",
    )
    .bind(big)
    .fetch_one(&pool)
    .await?;
    let base = format!("{address}{home}");
    let pages = [
        ("customers list", format!("{base}customers?sort=active")),
        ("customer page", format!("{base}customers/{big}")),
        (
            "page 20 of its meetings",
            format!(
                "{base}customers/{big}?before={}_{id}",
                at.timestamp_micros()
            ),
        ),
        ("search, selective", format!("{base}search?q=topic+42")),
        (
            "search, every meeting",
            format!("{base}search?q=pricing+roadmap"),
        ),
    ];
    println!();
    for (label, url) in &pages {
        let mut times = Vec::with_capacity(REQUESTS);
        for _ in 0..REQUESTS {
            let started = Instant::now();
            let response = browser.get(url).send().await?;
            let status = response.status();
            response.bytes().await?;
            times.push(started.elapsed());
            anyhow::ensure!(status.is_success(), "{label}: {status}");
        }
        times.sort();
        println!(
            "{label:<24} p50 {:>6.1} ms  p99 {:>6.1} ms  ({REQUESTS} requests)",
            ms(times[REQUESTS / 2]),
            ms(times[REQUESTS * 99 / 100])
        );
    }

    import(&browser, &base).await?;
    explain(&pool, org, big, (at, id)).await?;
    Ok(())
}

/// Seeds the org by binary COPY; returns the big customer's id.
async fn seed(pool: &PgPool, org: OrgId) -> anyhow::Result<Uuid> {
    let mut conn = pool.acquire().await?;
    let customers: Vec<Uuid> = (0..CUSTOMERS).map(|_| Uuid::new_v4()).collect();
    let mut copy = BinaryCopy::new(vec![Type::UUID, Type::UUID, Type::TEXT, Type::TEXT]);
    for (i, id) in customers.iter().enumerate() {
        copy.row(&[id, &org.0, &format!("Customer {i:04}"), &"manual"])?;
    }
    copy.send(
        &mut conn,
        "copy customers (id, org_id, name, source) from stdin (format binary)",
    )
    .await?;
    let mut copy = BinaryCopy::new(vec![Type::UUID, Type::TEXT, Type::UUID]);
    for (i, id) in customers.iter().enumerate() {
        copy.row(&[&org.0, &format!("c{i}.example"), id])?;
    }
    copy.send(
        &mut conn,
        "copy customer_domains (org_id, domain, customer_id) from stdin (format binary)",
    )
    .await?;
    let mut copy = BinaryCopy::new(vec![
        Type::UUID,
        Type::UUID,
        Type::UUID,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
    ]);
    for j in 0..CONTACTS {
        let c = j % CUSTOMERS;
        copy.row(&[
            &Uuid::new_v4(),
            &org.0,
            &customers[c],
            &format!("p{j}@c{c}.example"),
            &format!("Person {j}"),
            &"manual",
        ])?;
    }
    copy.send(
        &mut conn,
        "copy contacts (id, org_id, customer_id, email, name, source) from stdin (format binary)",
    )
    .await?;

    let meetings: Vec<Uuid> = (0..MEETINGS).map(|_| Uuid::now_v7()).collect();
    let now = chrono::Utc::now();
    let mut copy = BinaryCopy::new(vec![
        Type::UUID,
        Type::UUID,
        Type::INT8,
        Type::TEXT,
        Type::TIMESTAMPTZ,
        Type::BOOL,
        Type::TEXT,
        Type::TEXT,
    ]);
    for (i, id) in meetings.iter().enumerate() {
        let started_at = now - chrono::Duration::minutes(30 * i as i64);
        copy.row(&[
            id,
            &org.0,
            &(i as i64 + 1),
            &format!("Meeting {i}"),
            &started_at,
            &true,
            &"",
            &format!(
                "## Summary\nWe went through topic {} and the pricing roadmap for quarter {}.",
                i % 97,
                i % 4
            ),
        ])?;
    }
    copy.send(&mut conn, "copy meetings (id, org_id, recording_id, title, started_at, has_external_attendees, core_hash, summary_markdown) from stdin (format binary)")
        .await?;
    let mut copy = BinaryCopy::new(vec![
        Type::UUID,
        Type::UUID,
        Type::INT4,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::BOOL,
    ]);
    for (i, id) in meetings.iter().enumerate() {
        let c = if i % BIG_EVERY == 0 { 0 } else { i % CUSTOMERS };
        let contact = c + CUSTOMERS * (i % (CONTACTS / CUSTOMERS));
        for (position, (name, email, external)) in [
            (
                "Bench User".to_owned(),
                "bench@example.com".to_owned(),
                false,
            ),
            (
                format!("Person {contact}"),
                format!("p{contact}@c{c}.example"),
                true,
            ),
            (
                format!("Guest {i}"),
                format!("guest{i}@c{}.example", (i * 7 + 3) % CUSTOMERS),
                true,
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let domain = email.split('@').nth(1).unwrap_or_default().to_owned();
            copy.row(&[
                &org.0,
                id,
                &(position as i32),
                &name,
                &email,
                &domain,
                &external,
            ])?;
        }
    }
    copy.send(&mut conn, "copy meeting_attendees (org_id, meeting_id, position, name, email, email_domain, is_external) from stdin (format binary)")
        .await?;
    let words = [
        "pricing",
        "roadmap",
        "renewal",
        "integration",
        "security",
        "onboarding",
        "budget",
        "timeline",
    ];
    for chunk in meetings.chunks(1_000) {
        let mut copy = BinaryCopy::new(vec![
            Type::UUID,
            Type::UUID,
            Type::INT4,
            Type::TEXT,
            Type::TEXT,
        ]);
        for (k, id) in chunk.iter().enumerate() {
            for n in 0..LINES {
                copy.row(&[
                    &org.0,
                    id,
                    &(n as i32),
                    &(if n % 2 == 0 { "Bench User" } else { "Guest" }),
                    &format!(
                        "Line {n}: let us talk about the {} and the {} before {} next week.",
                        words[(n + k) % words.len()],
                        words[(n * 3 + k) % words.len()],
                        words[(n * 5 + 1) % words.len()]
                    ),
                ])?;
            }
        }
        copy.send(&mut conn, "copy meeting_transcript_lines (org_id, meeting_id, position, speaker_name, text) from stdin (format binary)")
            .await?;
    }
    Ok(customers[0])
}

async fn import(browser: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let mut file = String::from("email,name,title,company\n");
    for i in 0..50_000 {
        file.push_str(&format!(
            "import{i}@n{}.example,Imported {i},Buyer,n{}.example\n",
            i % 500,
            i % 500
        ));
    }
    let token = support::csrf(browser, &format!("{base}customers/imports/new")).await?;
    let started = Instant::now();
    let form = reqwest::multipart::Form::new()
        .text("kind", "contacts")
        .text("create_missing", "1")
        .part(
            "file",
            reqwest::multipart::Part::bytes(file.into_bytes()).file_name("contacts.csv"),
        );
    let uploaded = browser
        .post(format!("{base}customers/imports?csrf_token={token}"))
        .multipart(form)
        .send()
        .await?;
    anyhow::ensure!(
        uploaded.status() == reqwest::StatusCode::SEE_OTHER,
        "upload: {}",
        uploaded.status()
    );
    let checked = started.elapsed();
    let preview = uploaded
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .context("preview")?
        .to_owned();
    let address = base.split("/o/").next().unwrap_or_default();
    let token = support::csrf(browser, &format!("{address}{preview}")).await?;
    let started = Instant::now();
    let confirmed = browser
        .post(format!("{address}{preview}/confirm"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await?;
    anyhow::ensure!(
        confirmed.status() == reqwest::StatusCode::SEE_OTHER,
        "confirm: {}",
        confirmed.status()
    );
    println!();
    println!(
        "50,000-row contacts import: upload and check {:.0} ms, confirm (COPY + upsert, 500 new customers) {:.0} ms",
        ms(checked),
        ms(started.elapsed())
    );
    Ok(())
}

async fn explain(
    pool: &PgPool,
    org: OrgId,
    big: Uuid,
    before: (chrono::DateTime<chrono::Utc>, Uuid),
) -> anyhow::Result<()> {
    let print = |label: &str, plan: Vec<String>| {
        println!();
        println!("EXPLAIN (ANALYZE, BUFFERS) {label}:");
        for line in plan {
            println!("  {line}");
        }
    };
    let sql = format!(
        "explain (analyze, buffers) {}",
        debrief::db::customers::list_sql(debrief::db::customers::Sort::Active)
    );
    let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(None::<String>)
        .bind(None::<String>)
        .bind(None::<String>)
        .bind(None::<chrono::DateTime<chrono::Utc>>)
        .bind(0i32)
        .bind(None::<Uuid>)
        .bind(51i64)
        .fetch_all(pool)
        .await?;
    print("customers list (sort=active, first page)", plan);
    let sql = format!(
        "explain (analyze, buffers) {}",
        debrief::db::customers::CUSTOMER_MEETINGS_SQL
    );
    let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(big)
        .bind(before.0)
        .bind(before.1)
        .bind(51i64)
        .fetch_all(pool)
        .await?;
    print("page 20 of a customer's meetings", plan);
    let sql = format!(
        "explain (analyze, buffers) {}",
        debrief::db::search::SEARCH_SQL
    );
    let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind("topic 42")
        .bind(None::<Uuid>)
        .bind(None::<chrono::DateTime<chrono::Utc>>)
        .bind(None::<Uuid>)
        .bind(debrief::db::search::headline_options())
        .bind(51i64)
        .fetch_all(pool)
        .await?;
    print("search \"topic 42\"", plan);
    Ok(())
}

/// Sorts `all` and returns its middle value.
fn median(all: &mut [Duration]) -> Duration {
    all.sort();
    all[all.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
