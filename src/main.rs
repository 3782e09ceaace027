//! The `debrief` command line: web server, workers, migrations.
#![forbid(unsafe_code)]

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::time::Duration;

use debrief::config::{Environment, Settings};
use debrief::sim::fathom::{DEMO_KEY_ALICE, DEMO_KEY_BOB, FathomSim, SimHandle};
use debrief::startup::{Application, shutdown_signal};
use debrief::state::AppState;
use debrief::{db, telemetry, worker};
use tokio::sync::watch;

/// Debrief turns recorded customer calls into customer history.
#[derive(Debug, Parser)]
#[command(name = "debrief", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Web server and background workers in one process (the default).
    Run {
        /// Demo mode: start the Fathom simulator in-process (keys demo-key-alice and
        /// demo-key-bob; a new meeting every minute) and talk to it instead of Fathom.
        #[arg(long)]
        demo: bool,
        /// Port of the demo Fathom simulator on 127.0.0.1.
        #[arg(long, default_value_t = 8100)]
        fathom_sim_port: u16,
        /// Port of the demo CRM (HubSpot and Salesforce) simulator on 127.0.0.1.
        #[arg(long, default_value_t = 8101)]
        crm_sim_port: u16,
    },
    /// Web server only.
    Serve,
    /// Background workers only.
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Re-encrypt every stored secret with the newest master key (the first in the ring).
    RotateKeys,
    /// Run a local simulator of an external service (for the demo and manual testing).
    Sim {
        #[command(subcommand)]
        service: SimService,
    },
}

#[derive(Debug, Subcommand)]
enum SimService {
    /// The Fathom External API simulator on 127.0.0.1.
    Fathom {
        /// Port to listen on.
        #[arg(long, default_value_t = 8100)]
        port: u16,
        /// Record and deliver a new meeting every minute.
        #[arg(long)]
        demo: bool,
    },
    /// The HubSpot and Salesforce simulator on 127.0.0.1 (demo apps, a portal and an org).
    Crm {
        /// Port to listen on.
        #[arg(long, default_value_t = 8101)]
        port: u16,
        /// Accepted for symmetry with `sim fathom`: the CRM simulator always holds the demo data.
        #[arg(long)]
        demo: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init();
    let command = cli.command.unwrap_or(Command::Run {
        demo: false,
        fathom_sim_port: 8100,
        crm_sim_port: 8101,
    });
    if let Command::Sim {
        service: SimService::Crm { port, .. },
    } = command
    {
        println!("CRM simulator: http://127.0.0.1:{port} (HubSpot and Salesforce)");
        return debrief::sim::crm::run_standalone(port, shutdown_signal()).await;
    }
    if let Command::Sim {
        service: SimService::Fathom { port, demo },
    } = command
    {
        // Simulators stand in for outside services: they need neither settings nor a database.
        println!("Fathom simulator: http://127.0.0.1:{port}/external/v1");
        return debrief::sim::fathom::run_standalone(port, demo, shutdown_signal()).await;
    }
    let mut settings = Settings::load()?.prepare()?;
    // Held until the process ends: dropping it stops the simulator.
    let mut _fathom_sim = None;
    let mut _crm_sim = None;
    if let Command::Run {
        demo: true,
        fathom_sim_port,
        crm_sim_port,
    } = command
    {
        anyhow::ensure!(
            settings.environment != Environment::Production,
            "--demo is for local use: it replaces Fathom with a simulator"
        );
        if settings.fathom_base_url_from_env {
            tracing::info!(fathom_base_url = %settings.fathom.base_url,
                "demo mode: DEBRIEF__FATHOM__BASE_URL is set, so it is used as it is and no Fathom simulator starts");
            println!(
                "Demo mode: Fathom is {} (DEBRIEF__FATHOM__BASE_URL); the simulator is not started",
                settings.fathom.base_url
            );
        } else {
            let sim = demo_fathom(fathom_sim_port).await?;
            settings.use_demo_fathom(sim.base_url().parse()?);
            _fathom_sim = Some(sim);
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", crm_sim_port))
            .await
            .with_context(|| {
                format!("cannot start the demo CRM simulator on port {crm_sim_port}")
            })?;
        let crm = debrief::sim::crm::CrmSim::demo().spawn(listener).await?;
        let used = settings.use_demo_crm(&crm.base_url().parse()?)?;
        if !used.is_empty() {
            println!(
                "Demo mode: {} simulated at {}",
                used.join(" and "),
                crm.base_url()
            );
        }
        _crm_sim = Some(crm);
    }
    let pool = db::connect(&settings)?;
    match command {
        Command::Migrate => {
            migrate(&pool).await?;
            tracing::info!("migrations applied");
        }
        Command::RotateKeys => {
            migrate(&pool).await?;
            let ring = settings.key_ring()?;
            let report = debrief::rotate_keys::rotate_keys(&pool, &ring).await?;
            println!(
                "rotate-keys: {} secret(s) re-encrypted with key {} across {} row(s); {} row(s) changed meanwhile and were left alone",
                report.secrets_rotated,
                ring.current_key_id(),
                report.rows_seen,
                report.rows_skipped
            );
            if !report.failures.is_empty() {
                anyhow::bail!(
                    "could not decrypt with any configured key: {} (is an old key missing from DEBRIEF__SECRETS__MASTER_KEYS?)",
                    report.failures.join(", ")
                );
            }
        }
        Command::Serve => {
            migrate(&pool).await?;
            serve(Application::build(settings, pool).await?, shutdown_signal()).await?;
        }
        Command::Worker => {
            migrate(&pool).await?;
            worker::run(AppState::new(settings, pool)?, shutdown_signal()).await;
        }
        Command::Sim { .. } => {}
        Command::Run { .. } => {
            migrate(&pool).await?;
            let (stop_tx, stop_rx) = watch::channel(false);
            let app = Application::build(settings, pool).await?;
            let worker_task = tokio::spawn(worker::run(app.state().clone(), wait_for(stop_rx)));
            let result = serve(app, async move {
                shutdown_signal().await;
                let _ = stop_tx.send(true);
            })
            .await;
            worker_task.await.context("worker task panicked")?;
            result?;
        }
    }
    Ok(())
}

async fn serve(
    app: Application,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let base_url = app.state().settings.application.base_url.clone();
    tracing::info!(port = app.port(), "Debrief is listening");
    println!("Debrief is running: open {base_url}");
    app.run_until_stopped(shutdown).await
}

/// Applies Debrief's migrations and the job queue's own.
async fn migrate(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    db::migrate(pool).await?;
    debrief::jobs::setup(pool).await
}

/// The Fathom simulator of demo mode, recording and delivering a meeting every minute.
async fn demo_fathom(port: u16) -> anyhow::Result<SimHandle> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("cannot start the demo Fathom simulator on port {port}"))?;
    let sim = FathomSim::demo()
        .with_demo_interval(Duration::from_secs(60))
        .spawn(listener)
        .await?;
    println!(
        "Demo mode: Fathom is simulated at {} (API keys {DEMO_KEY_ALICE} and {DEMO_KEY_BOB})",
        sim.base_url()
    );
    Ok(sim)
}

async fn wait_for(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}
