//! Benchmark: the Fathom webhook receiver against a yardstick in the same binary that does only
//! what any receiver must (read the body, one autocommit `INSERT`). Both are driven by the same
//! load generator with distinct pre-signed bodies of about 2 KB and 200 KB, on loopback, and the
//! figures are printed as ratios to the yardstick measured in the same run:
//!
//! - the most requests per second each sustains with under 0.1 % errors (target ≥ 0.6),
//! - p99 latency at half the yardstick's most (target ≤ 2×),
//! - the rate of refusing forged signatures (target ≥ 5×, and no database work: the database's
//!   transaction counter is read before and after).
//!
//! The job workers do not run: what is measured is intake (verify, store, enqueue, answer).
//! Run with `./scripts/bench webhooks`, or with `DATABASE_URL` set: `cargo bench --bench webhooks`.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use debrief::fathom::webhook_signature::WebhookSecret;
use debrief::sim::fathom::{FathomSim, SimUser};
use debrief::startup::Application;
use http_body_util::{BodyExt, Full};
use hyper::StatusCode;
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};

const KEY: &str = "fathom-key-bench-0000002";
/// Longest one measuring phase runs.
const PHASE: Duration = Duration::from_secs(4);
/// Requests in flight in a closed-loop phase.
const CONCURRENCY: usize = 16;
/// Connections an open-loop phase may use at once.
const OPEN_LOOP_CONNECTIONS: usize = 64;
/// The receiver's forgery key (a secret Fathom never issued).
const FORGED_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn main() -> anyhow::Result<()> {
    let admin_url = std::env::var("DATABASE_URL").context("DATABASE_URL must be set")?;
    // The server gets its own runtime (two threads), the load generator another.
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let db_name = format!("debrief_bench_{}", uuid::Uuid::new_v4().simple());
    let stack = server.block_on(start(&admin_url, &db_name))?;
    let result = client.block_on(measure(&stack));
    server.block_on(async {
        stack.pool.close().await;
        let mut admin = PgConnection::connect(&admin_url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "drop database if exists {db_name} with (force)"
        )))
        .execute(&mut admin)
        .await?;
        anyhow::Ok(())
    })?;
    result
}

/// A running Debrief with one org whose Fathom is connected.
struct Stack {
    pool: PgPool,
    address: String,
    org: uuid::Uuid,
    secret: String,
}

async fn start(admin_url: &str, db_name: &str) -> anyhow::Result<Stack> {
    let mut admin = PgConnection::connect(admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {db_name}")))
        .execute(&mut admin)
        .await?;
    let mut url = url::Url::parse(admin_url)?;
    url.set_path(db_name);
    let pool = PgPoolOptions::new()
        .max_connections(20)
        .connect(url.as_str())
        .await?;
    debrief::db::MIGRATOR.run(&pool).await?;
    debrief::jobs::setup(&pool).await?;
    debrief::db::bench_baseline::create_table(&pool).await?;

    let sim = FathomSim::new(vec![SimUser::new(
        KEY,
        "Bench User",
        "bench@example.com",
        "example.com",
        0,
    )])
    .spawn_local()
    .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    let mut settings = support::settings(&address, &sim.base_url())?;
    settings.application.bench_baseline_route = true;
    settings.database.max_connections = 20;
    let app = Application::build_with_listener(settings.prepare()?, pool.clone(), listener)?;
    tokio::spawn(app.run_until_stopped(std::future::pending()));

    let (browser, home) = support::sign_up(&address).await?;
    let form = support::open_connect_form(&browser, &address, &home).await?;
    support::submit_connect_form(&browser, &form, KEY).await?;
    let org: uuid::Uuid = sqlx::query_scalar("select id from orgs")
        .fetch_one(&pool)
        .await?;
    let secret = sim
        .webhooks()
        .first()
        .context("the webhook was registered")?
        .webhook
        .secret
        .clone();
    // The simulator is no longer needed; keep it alive for the run anyway.
    std::mem::forget(sim);
    Ok(Stack {
        pool,
        address,
        org,
        secret,
    })
}

/// One prepared delivery.
struct Delivery {
    id: String,
    timestamp: String,
    signature: String,
    body: bytes::Bytes,
}

/// `n` distinct signed deliveries of about `size` bytes (each its own recording and webhook id).
fn deliveries(template: &Value, size: usize, n: usize, secret: &str, tag: &str) -> Vec<Delivery> {
    let secret = WebhookSecret::parse(secret).unwrap();
    let mut body = template.clone();
    let line = body["transcript"][0].clone();
    let mut lines = body["transcript"].as_array().cloned().unwrap_or_default();
    while serde_json::to_vec(&body).unwrap().len() < size {
        lines.push(line.clone());
        body["transcript"] = Value::Array(lines.clone());
    }
    let now = chrono::Utc::now().timestamp();
    (0..n)
        .map(|i| {
            body["recording_id"] = (1_000_000_000 + i as i64).into();
            body["title"] = format!("Bench {tag} {i}").into();
            let bytes = serde_json::to_vec(&body).unwrap();
            let id = format!("msg_{tag}_{i}");
            Delivery {
                signature: secret.sign(&id, now, &bytes),
                timestamp: now.to_string(),
                id,
                body: bytes.into(),
            }
        })
        .collect()
}

/// What one phase measured.
struct Phase {
    sent: usize,
    failed: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64()
    }
    fn error_ratio(&self) -> f64 {
        self.failed as f64 / self.sent.max(1) as f64
    }
    fn p99(&self) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted
            .get((sorted.len() * 99 / 100).min(sorted.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    }
}

/// One keep-alive HTTP/1.1 connection to the server: a bare hyper connection rather than a full
/// client, so that the load generator's own cost (it shares the two cores) hides less of the
/// server's.
struct HttpConnection {
    address: String,
    sender: hyper::client::conn::http1::SendRequest<Full<bytes::Bytes>>,
}

impl HttpConnection {
    async fn open(address: &str) -> anyhow::Result<HttpConnection> {
        let stream = tokio::net::TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(HttpConnection {
            address: address.to_owned(),
            sender,
        })
    }

    /// Sends `d` to `path`; whether the answer had the `expected` status, and how long it took.
    async fn send(&mut self, path: &str, d: &Delivery, expected: StatusCode) -> (bool, Duration) {
        let started = Instant::now();
        let ok = self.try_send(path, d).await.is_ok_and(|s| s == expected);
        if !ok
            && self.sender.is_closed()
            && let Ok(fresh) = HttpConnection::open(&self.address).await
        {
            *self = fresh;
        }
        (ok, started.elapsed())
    }

    async fn try_send(&mut self, path: &str, d: &Delivery) -> anyhow::Result<StatusCode> {
        let request = hyper::Request::post(path)
            .header(hyper::header::HOST, &self.address)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &d.id)
            .header("webhook-timestamp", &d.timestamp)
            .header("webhook-signature", &d.signature)
            .body(Full::new(d.body.clone()))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        response.into_body().collect().await?;
        Ok(status)
    }
}

/// As fast as `CONCURRENCY` requests in flight allow (one connection each), until the deliveries
/// or the phase run out.
async fn closed_loop(
    address: &str,
    path: &str,
    all: Arc<Vec<Delivery>>,
    expected: StatusCode,
) -> anyhow::Result<Phase> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut connections = Vec::with_capacity(CONCURRENCY);
    for _ in 0..CONCURRENCY {
        connections.push(HttpConnection::open(address).await?);
    }
    let started = Instant::now();
    let workers: Vec<_> = connections
        .into_iter()
        .map(|mut connection| {
            let (path, all, next) = (path.to_owned(), all.clone(), next.clone());
            tokio::spawn(async move {
                let mut results = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= all.len() || started.elapsed() >= PHASE {
                        return results;
                    }
                    results.push(connection.send(&path, &all[i], expected).await);
                }
            })
        })
        .collect();
    Ok(collect(workers, started).await)
}

/// `rate` requests a second on a fixed schedule (whatever the answers), for the phase, over a
/// pool of connections; a request waiting for a free connection counts that wait in its latency.
async fn open_loop(
    address: &str,
    path: &str,
    all: Arc<Vec<Delivery>>,
    rate: f64,
    expected: StatusCode,
) -> anyhow::Result<Phase> {
    let (free, pool) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..OPEN_LOOP_CONNECTIONS {
        let _ = free.send(HttpConnection::open(address).await?);
    }
    let pool = Arc::new(tokio::sync::Mutex::new(pool));
    let count = ((rate * PHASE.as_secs_f64()) as usize).min(all.len());
    let gap = Duration::from_secs_f64(1.0 / rate);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let due = started + gap * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let (path, all, pool, free) = (path.to_owned(), all.clone(), pool.clone(), free.clone());
        tasks.push(tokio::spawn(async move {
            let Some(mut connection) = pool.lock().await.recv().await else {
                return vec![(false, due.elapsed())];
            };
            let (ok, _) = connection.send(&path, &all[i], expected).await;
            let _ = free.send(connection);
            vec![(ok, due.elapsed())]
        }));
    }
    Ok(collect(tasks, started).await)
}

async fn collect(
    tasks: Vec<tokio::task::JoinHandle<Vec<(bool, Duration)>>>,
    started: Instant,
) -> Phase {
    let mut phase = Phase {
        sent: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for task in tasks {
        for (ok, latency) in task.await.unwrap_or_default() {
            phase.sent += 1;
            phase.failed += usize::from(!ok);
            phase.latencies.push(latency);
        }
    }
    phase.elapsed = started.elapsed();
    phase
}

async fn transactions(pool: &PgPool) -> anyhow::Result<i64> {
    // Backends publish their counters at most every second, and idle ones only after 10 s.
    tokio::time::sleep(Duration::from_millis(11_000)).await;
    Ok(sqlx::query_scalar(
        "select (xact_commit + xact_rollback)::bigint from pg_stat_database
         where datname = current_database()",
    )
    .fetch_one(pool)
    .await?)
}

async fn measure(stack: &Stack) -> anyhow::Result<()> {
    let address = stack.address.trim_start_matches("http://");
    let receiver = format!("/api/integrations/fathom/webhook/{}", stack.org);
    let baseline = format!("/__bench/baseline/{}", stack.org);
    let fixture = |name: &str| -> anyhow::Result<Value> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/fathom")
            .join(name);
        Ok(serde_json::from_slice(&std::fs::read(path)?)?)
    };
    // About 2 KB as Fathom sends a short meeting; about 200 KB as a long call's transcript.
    let small = fixture("meeting_legacy.json")?;
    let large = fixture("meeting_full.json")?;
    let ok = StatusCode::OK;
    let refused = StatusCode::UNAUTHORIZED;

    println!(
        "Fathom webhook intake vs a read-body-and-INSERT yardstick, loopback, {CONCURRENCY} in flight"
    );
    for (label, template, size, pool_size) in [
        ("2 KB", &small, 0, 30_000),
        ("200 KB", &large, 200_000, 2_500),
    ] {
        let make = |tag: &str, secret: &str| {
            Arc::new(deliveries(
                template,
                size,
                pool_size,
                secret,
                &format!("{label}-{tag}").replace(' ', ""),
            ))
        };
        let base_max = closed_loop(address, &baseline, make("bmax", &stack.secret), ok).await?;
        let recv_max = closed_loop(address, &receiver, make("rmax", &stack.secret), ok).await?;
        let half = base_max.rate() / 2.0;
        let base_half =
            open_loop(address, &baseline, make("bhalf", &stack.secret), half, ok).await?;
        let recv_half =
            open_loop(address, &receiver, make("rhalf", &stack.secret), half, ok).await?;
        let forged_pool = make("forged", FORGED_SECRET);
        let events_before: i64 = sqlx::query_scalar("select count(*) from fathom_events")
            .fetch_one(&stack.pool)
            .await?;
        let tx_before = transactions(&stack.pool).await?;
        let forged = closed_loop(address, &receiver, forged_pool, refused).await?;
        let tx_after = transactions(&stack.pool).await?;
        let events_after: i64 = sqlx::query_scalar("select count(*) from fathom_events")
            .fetch_one(&stack.pool)
            .await?;
        let body_len = make("size", &stack.secret)[0].body.len();

        println!();
        println!("bodies of {label} ({body_len} bytes)");
        println!(
            "  yardstick  max {:>8.0} req/s ({} sent, {:.3} % errors); p99 at {half:.0} req/s: {:.1} ms",
            base_max.rate(),
            base_max.sent,
            100.0 * base_max.error_ratio(),
            ms(base_half.p99())
        );
        println!(
            "  receiver   max {:>8.0} req/s ({} sent, {:.3} % errors); p99 at {half:.0} req/s: {:.1} ms ({:.3} % errors)",
            recv_max.rate(),
            recv_max.sent,
            100.0 * recv_max.error_ratio(),
            ms(recv_half.p99()),
            100.0 * recv_half.error_ratio()
        );
        println!(
            "  forged     {:>8.0} refusals/s ({} sent, {:.3} % not refused); {} events stored, {} database transactions meanwhile (the counter queries themselves included)",
            forged.rate(),
            forged.sent,
            100.0 * forged.error_ratio(),
            events_after - events_before,
            tx_after - tx_before
        );
        println!(
            "  ratios     max rate {:.2} (target >= 0.6{}), p99 at half rate {:.2}x (target <= 2x), forged refusals {:.1}x (target >= 5x)",
            recv_max.rate() / base_max.rate(),
            if recv_max.error_ratio() < 0.001 {
                ""
            } else {
                "; errors over 0.1 %!"
            },
            ms(recv_half.p99()) / ms(base_half.p99()).max(1e-9),
            forged.rate() / base_max.rate()
        );
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
