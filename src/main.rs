//! The `debrief` command line: web server, workers, migrations.
#![forbid(unsafe_code)]

use anyhow::Context;
use clap::{Parser, Subcommand};
use debrief::config::Settings;
use debrief::startup::{Application, shutdown_signal};
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
    Run,
    /// Web server only.
    Serve,
    /// Background workers only.
    Worker,
    /// Apply database migrations and exit.
    Migrate,
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init();
    let command = cli.command.unwrap_or(Command::Run);
    if let Command::Sim {
        service: SimService::Fathom { port, demo },
    } = command
    {
        // Simulators stand in for outside services: they need neither settings nor a database.
        println!("Fathom simulator: http://127.0.0.1:{port}/external/v1");
        return debrief::sim::fathom::run_standalone(port, demo, shutdown_signal()).await;
    }
    let settings = Settings::load()?.prepare()?;
    let pool = db::connect(&settings)?;
    match command {
        Command::Migrate => {
            db::migrate(&pool).await?;
            tracing::info!("migrations applied");
        }
        Command::Serve => {
            db::migrate(&pool).await?;
            serve(settings, pool, shutdown_signal()).await?;
        }
        Command::Worker => {
            worker::run(pool, shutdown_signal()).await;
        }
        Command::Sim { .. } => {}
        Command::Run => {
            db::migrate(&pool).await?;
            let (stop_tx, stop_rx) = watch::channel(false);
            let worker_task = tokio::spawn(worker::run(pool.clone(), wait_for(stop_rx)));
            let result = serve(settings, pool, async move {
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
    settings: Settings,
    pool: sqlx::PgPool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let base_url = settings.application.base_url.clone();
    let app = Application::build(settings, pool).await?;
    tracing::info!(port = app.port(), "Debrief is listening");
    println!("Debrief is running: open {base_url}");
    app.run_until_stopped(shutdown).await
}

async fn wait_for(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}
