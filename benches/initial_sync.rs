//! Benchmark: the initial sync of a new Fathom connection against the simulator at Fathom's
//! default rate limits (60 calls and 30 heavy calls a minute per key). A person signs up and
//! connects Fathom through the real pages; the real apalis workers run the sync; the figures come
//! from the run's row and the simulator's call log.
//!
//! Run with `./scripts/bench` (it starts a throwaway PostgreSQL), or with `DATABASE_URL` pointing
//! at a cluster where the role may create databases: `cargo bench --bench initial_sync [N ...]`
//! (default scenarios: 300 and 600 meetings).

#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use debrief::sim::fathom::{FathomSim, SimUser};
use debrief::startup::Application;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection};

const KEY: &str = "fathom-key-bench-0000001";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let admin_url = std::env::var("DATABASE_URL").context("DATABASE_URL must be set")?;
    let scenarios: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let scenarios = if scenarios.is_empty() {
        vec![300, 600]
    } else {
        scenarios
    };
    println!(
        "initial sync against the Fathom simulator at default rate limits (60/min, 30 heavy/min)"
    );
    for meetings in scenarios {
        run(&admin_url, meetings).await?;
    }
    Ok(())
}

async fn run(admin_url: &str, meetings: usize) -> anyhow::Result<()> {
    let db_name = format!("debrief_bench_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {db_name}")))
        .execute(&mut admin)
        .await?;
    let mut url = url::Url::parse(admin_url)?;
    url.set_path(&db_name);
    let result = measure(url.as_str(), meetings).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "drop database if exists {db_name} with (force)"
    )))
    .execute(&mut admin)
    .await?;
    result
}

async fn measure(db_url: &str, meetings: usize) -> anyhow::Result<()> {
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .connect(db_url)
        .await?;
    debrief::db::MIGRATOR.run(&pool).await?;
    debrief::jobs::setup(&pool).await?;

    let sim = FathomSim::new(vec![SimUser::new(
        KEY,
        "Bench User",
        "bench@example.com",
        "example.com",
        meetings,
    )])
    .spawn_local()
    .await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    let mut settings = support::settings(&address, &sim.base_url())?;
    // The simulator spreads N meetings over N/4 days; reach back far enough to list them all.
    settings.fathom.initial_sync_days = (meetings as i64 / 4).max(30) + 2;
    let app = Application::build_with_listener(settings.prepare()?, pool.clone(), listener)?;
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    tokio::spawn(debrief::jobs::run_workers(state, std::future::pending()));

    let (browser, home) = support::sign_up(&address).await?;
    let form = support::open_connect_form(&browser, &address, &home).await?;
    let started = Instant::now();
    support::submit_connect_form(&browser, &form, KEY).await?;

    let deadline = Instant::now() + Duration::from_secs(600);
    let run: FinishedRun = loop {
        let row: Option<FinishedRun> = sqlx::query_as(
            "select state, pages, meetings_added, api_calls, rate_limited,
                    extract(epoch from finished_at - started_at)::float8 as secs, error
             from fathom_sync_runs where state not in ('queued', 'running')",
        )
        .fetch_optional(&pool)
        .await?;
        if let Some(row) = row {
            break row;
        }
        if Instant::now() > deadline {
            bail!("the initial sync did not finish within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let wall = started.elapsed();
    let FinishedRun {
        state,
        pages,
        meetings_added: added,
        api_calls,
        rate_limited,
        secs,
        error,
    } = run;
    let calls = sim.calls();
    let listing = calls
        .iter()
        .filter(|c| c.path.ends_with("/meetings") && c.heavy)
        .count();
    let throttled = calls.iter().filter(|c| c.status == 429).count();
    let stored: i64 = sqlx::query_scalar("select count(*) from meetings")
        .fetch_one(&pool)
        .await?;
    println!();
    println!("scenario: {meetings} meetings in Fathom");
    println!(
        "  run state                  {state}{}",
        error.map(|e| format!(" ({e})")).unwrap_or_default()
    );
    println!("  meetings stored            {stored} (added by the run: {added})");
    println!("  pages                      {pages}");
    println!(
        "  run duration               {secs:.1} s (connect click to finished: {:.1} s)",
        wall.as_secs_f64()
    );
    println!(
        "  meetings per minute        {:.0}",
        f64::from(added) / (secs / 60.0).max(1e-9)
    );
    println!("  API calls (run row)        {api_calls}");
    println!(
        "  API calls (simulator log)  {} in all, {listing} heavy listing calls",
        calls.len()
    );
    println!("  429s received              {rate_limited} (simulator answered {throttled})");
    println!(
        "  429 ratio                  {:.2}% (target <= 1%)",
        100.0 * rate_limited as f64 / f64::from(api_calls.max(1))
    );
    sim.shutdown().await;
    pool.close().await;
    Ok(())
}

/// The finished run as the benchmark reports it.
#[derive(sqlx::FromRow)]
struct FinishedRun {
    state: String,
    pages: i32,
    meetings_added: i32,
    api_calls: i32,
    rate_limited: i32,
    secs: f64,
    error: Option<String>,
}
