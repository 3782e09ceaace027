//! Builds the app (state, router, listener) and runs it until shutdown.

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use axum::extract::MatchedPath;
use axum::http::Request;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha512};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::Key;

use crate::config::Settings;
use crate::state::AppState;
use crate::telemetry;
use crate::web;

/// A bound, ready-to-serve Debrief web server.
pub struct Application {
    state: AppState,
    listener: TcpListener,
    router: Router,
    port: u16,
}

/// The key that signs session cookies, derived from the configured secret.
pub fn session_key(settings: &Settings) -> anyhow::Result<Key> {
    let secret = settings
        .application
        .session_secret
        .as_ref()
        .context("session secret missing (Settings::prepare fills it in)")?;
    let bytes = secret.expose_secret().as_bytes();
    anyhow::ensure!(
        bytes.len() >= 32,
        "session secret must be at least 32 bytes"
    );
    // `Key::from` wants exactly 64 bytes of key material; SHA-512 stretches any secret to that.
    let material = Sha512::digest(bytes);
    Ok(Key::from(material.as_slice()))
}

impl Application {
    /// Binds the listener and builds the router over `db`.
    pub async fn build(settings: Settings, db: PgPool) -> anyhow::Result<Application> {
        let address = settings.listen_address();
        let listener = TcpListener::bind(&address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        Self::build_with_listener(settings, db, listener)
    }

    /// Builds the router over `db`, serving on an already bound `listener` (tests bind first so
    /// the public URL can name the real port).
    pub fn build_with_listener(
        settings: Settings,
        db: PgPool,
        listener: TcpListener,
    ) -> anyhow::Result<Application> {
        let key = session_key(&settings)?;
        let port = listener.local_addr()?.port();
        let state = AppState::new(settings, db)?;
        let router = web::router(state.clone(), key)
            .layer(axum::middleware::from_fn(telemetry::remember_request_span))
            .layer(
                TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                    let route = request
                        .extensions()
                        .get::<MatchedPath>()
                        .map(|p| p.as_str().to_owned())
                        .unwrap_or_else(|| "unmatched".to_owned());
                    // `org_id` is filled in once the org is known (see `auth::extractors`).
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        route,
                        org_id = tracing::field::Empty
                    )
                }),
            );
        Ok(Application {
            state,
            listener,
            router,
            port,
        })
    }

    /// The state the router serves (workers in the same process share it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The bound port (useful when configured as 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("web server failed")
    }
}

/// Resolves on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
