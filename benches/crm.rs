//! Benchmark: pushing matched meetings to HubSpot. Connects the HubSpot simulator (HubSpot's
//! default limit: 110 calls per 10 s per portal) through the real OAuth pages, imports its
//! customers, seeds matched meetings, queues their pushes and lets the real job workers run them.
//! Prints notes/s against the limit's ceiling (one call per note: 11 notes/s; target ≥ 90 %),
//! the 429s received as a share of calls (target ≤ 1 %) and duplicate notes found afterwards (must
//! be 0) — then the same with a random fault (a 500, or a create whose answer is lost) on 5 % of
//! calls.
//!
//! Run with `./scripts/bench crm [MEETINGS]` (default 2,000 per run; about seven minutes).

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use debrief::domain::{MeetingId, OrgId};
use debrief::sim::crm::{CrmSim, SeedCompany, SeedContact, SimApp, SimPortal};
use debrief::startup::Application;
use secrecy::SecretString;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

const HUB: u64 = 55_001;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let meetings: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2000);
    let admin_url = std::env::var("DATABASE_URL").context("DATABASE_URL must be set")?;
    let db_name = format!("debrief_bench_{}", Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {db_name}")))
        .execute(&mut admin)
        .await?;
    let result = run(&admin_url, &db_name, meetings).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "drop database if exists {db_name} with (force)"
    )))
    .execute(&mut admin)
    .await?;
    result
}

async fn run(admin_url: &str, db_name: &str, meetings: usize) -> anyhow::Result<()> {
    let mut url = url::Url::parse(admin_url)?;
    url.set_path(db_name);
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .connect(url.as_str())
        .await?;
    debrief::db::MIGRATOR.run(&pool).await?;
    debrief::jobs::setup(&pool).await?;

    let mut sim = CrmSim::new();
    sim.hubspot_apps
        .push(SimApp::new("bench-client", "bench-secret"));
    sim.portals.push(SimPortal {
        hub_id: HUB,
        hub_domain: "bench.hubspot.com".into(),
        user: "bench@example.com".into(),
        companies: vec![SeedCompany {
            name: "Contoso".into(),
            domain: Some("contoso.com".into()),
            additional_domains: Vec::new(),
        }],
        contacts: vec![SeedContact {
            email: "jane@contoso.com".into(),
            first_name: "Jane".into(),
            last_name: "Roe".into(),
            title: None,
            company_domain: Some("contoso.com".into()),
        }],
    });
    sim.hang_after_create = Duration::from_secs(3);
    let crm = sim.spawn_local().await?;
    let base: url::Url = crm.base_url().parse()?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    let mut settings = support::settings(&address, "http://127.0.0.1:9")?;
    settings.hubspot.client_id = Some("bench-client".into());
    settings.hubspot.client_secret = Some(SecretString::from("bench-secret"));
    settings.hubspot.authorize_url = base.join("/oauth/authorize")?;
    settings.hubspot.token_url = base.join("/oauth/v1/token")?;
    settings.hubspot.api_base_url = base.clone();
    settings.hubspot.timeout_seconds = 2;
    let app = Application::build_with_listener(settings.prepare()?, pool.clone(), listener)?;
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    tokio::spawn(debrief::jobs::run_workers(
        state.clone(),
        std::future::pending(),
    ));

    let (browser, home) = support::sign_up(&address).await?;
    let slug = home
        .trim_start_matches("/o/")
        .trim_end_matches('/')
        .to_owned();
    connect_hubspot(&browser, &address, &slug).await?;
    let org = OrgId(
        sqlx::query_scalar("select id from orgs")
            .fetch_one(&pool)
            .await?,
    );
    wait_for(
        &pool,
        "select count(*) from crm_import_runs where state = 'succeeded'",
        1,
    )
    .await?;
    let customer: Uuid = sqlx::query_scalar("select id from customers where name = 'Contoso'")
        .fetch_one(&pool)
        .await?;

    println!(
        "pushing {meetings} matched meetings to the HubSpot simulator (110 calls / 10 s per portal; ceiling 11.0 notes/s)"
    );
    println!();
    for (label, ratio) in [("no faults", 0.0), ("5 % of calls faulted", 0.05)] {
        let ids = seed(&pool, org, customer, meetings).await?;
        let before = crm.stats();
        let faults_before = crm.set_fault_ratio(ratio);
        let started = Instant::now();
        {
            let mut tx = pool.begin().await?;
            debrief::jobs::enqueue_pushes(&mut tx, org, &ids).await?;
            tx.commit().await?;
        }
        let pushed_before: i64 =
            sqlx::query_scalar("select count(*) from crm_pushes where state = 'pushed'")
                .fetch_one(&pool)
                .await?;
        wait_for(
            &pool,
            "select count(*) from crm_pushes where state in ('pushed', 'failed')",
            pushed_before + meetings as i64,
        )
        .await?;
        let took = started.elapsed();
        let faults = crm.set_fault_ratio(0.0) - faults_before;
        let after = crm.stats();
        let failed: i64 =
            sqlx::query_scalar("select count(*) from crm_pushes where state = 'failed'")
                .fetch_one(&pool)
                .await?;
        // Calls that got an injected fault never reach the simulator's own counters.
        let calls =
            after.api_calls + after.rate_limited - before.api_calls - before.rate_limited + faults;
        let limited = after.rate_limited - before.rate_limited;
        let rate = meetings as f64 / took.as_secs_f64();
        let notes = crm.hubspot_records(HUB, "notes");
        let mut per_key: HashMap<String, usize> = HashMap::new();
        for n in &notes {
            let body = n
                .properties
                .get("hs_note_body")
                .cloned()
                .unwrap_or_default();
            let key = body
                .split("Debrief ref ")
                .nth(1)
                .map(|rest| {
                    rest.chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                        .collect()
                })
                .unwrap_or_default();
            *per_key.entry(key).or_default() += 1;
        }
        let duplicates: usize = per_key.values().map(|n| n - 1).sum();
        println!("{label}:");
        println!(
            "  {meetings} pushed in {:.1} s: {rate:.2} notes/s = {:.1} % of the 11 notes/s ceiling",
            took.as_secs_f64(),
            rate / 11.0 * 100.0
        );
        println!(
            "  API calls {calls}, 429s received {limited} ({:.2} % of calls){}",
            limited as f64 / calls.max(1) as f64 * 100.0,
            if ratio > 0.0 {
                format!(", {faults} of them answered with an injected fault")
            } else {
                String::new()
            }
        );
        println!(
            "  notes in HubSpot {} for {} meetings pushed so far; duplicates {duplicates}; pushes failed for good {failed}",
            notes.len(),
            per_key.len()
        );
        println!();
    }
    Ok(())
}

async fn connect_hubspot(
    browser: &reqwest::Client,
    address: &str,
    slug: &str,
) -> anyhow::Result<()> {
    let page = format!("{address}/o/{slug}/integrations");
    let token = support::csrf(browser, &page).await?;
    let connect = browser
        .post(format!("{address}/o/{slug}/integrations/hubspot/connect"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await?;
    let authorize = connect
        .headers()
        .get("location")
        .context("redirect to HubSpot")?
        .to_str()?
        .to_owned();
    let provider = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let html = provider.get(&authorize).send().await?.text().await?;
    let mut fields: Vec<(String, String)> = Vec::new();
    for input in html.split("<input type=\"hidden\" ").skip(1) {
        let attr = |name: &str| {
            input
                .split(&format!("{name}=\""))
                .nth(1)
                .and_then(|r| r.split('"').next())
                .map(|v| v.replace("&amp;", "&").replace("&quot;", "\""))
                .unwrap_or_default()
        };
        fields.push((attr("name"), attr("value")));
    }
    fields.push(("account".into(), HUB.to_string()));
    fields.push(("decision".into(), "approve".into()));
    let approved = provider.post(&authorize).form(&fields).send().await?;
    let callback = approved
        .headers()
        .get("location")
        .context("redirect back")?
        .to_str()?
        .to_owned();
    let done = browser.get(&callback).send().await?;
    anyhow::ensure!(
        done.status().is_redirection(),
        "the callback answered {}",
        done.status()
    );
    Ok(())
}

/// `count` meetings with Jane (a HubSpot contact at Contoso), linked to Contoso.
async fn seed(
    pool: &PgPool,
    org: OrgId,
    customer: Uuid,
    count: usize,
) -> anyhow::Result<Vec<MeetingId>> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "insert into meetings (id, org_id, recording_id, title, started_at, recording_start_time,
                               recording_end_time, has_external_attendees, core_hash, summary_markdown)
         select gen_random_uuid(), $1, (extract(epoch from clock_timestamp()) * 1000)::bigint * 10000 + g,
                'Bench call ' || g, now() - g * interval '1 minute', now() - g * interval '1 minute',
                now() - g * interval '1 minute' + interval '30 minutes', true, 'h' || g,
                'We talked about the renewal and **next steps** (' || g || ').'
           from generate_series(1, $2) g
         returning id",
    )
    .bind(org)
    .bind(count as i64)
    .fetch_all(pool)
    .await?;
    sqlx::query(
        "insert into meeting_attendees (org_id, meeting_id, position, name, email, email_domain, is_external)
         select $1, id, 0, 'Jane Roe', 'jane@contoso.com', 'contoso.com', true from unnest($2::uuid[]) id",
    )
    .bind(org)
    .bind(&ids)
    .execute(pool)
    .await?;
    sqlx::query(
        "insert into meeting_customers (org_id, meeting_id, customer_id, reason, matched_emails)
         select $1, id, $3, 'contact', '{jane@contoso.com}' from unnest($2::uuid[]) id",
    )
    .bind(org)
    .bind(&ids)
    .bind(customer)
    .execute(pool)
    .await?;
    Ok(ids.into_iter().map(MeetingId).collect())
}

async fn wait_for(pool: &PgPool, count_sql: &'static str, at_least: i64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let n: i64 = sqlx::query_scalar(count_sql).fetch_one(pool).await?;
        if n >= at_least {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "gave up waiting for {count_sql} >= {at_least} (at {n})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
