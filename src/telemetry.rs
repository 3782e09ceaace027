//! Tracing setup. Spans carry ids, never secrets: request spans name the route template, not the
//! URI, because some paths (invite links) carry tokens.

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

/// Filter used when `RUST_LOG` is unset.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,tower_sessions=warn,tower_http=info";

/// A subscriber writing human-readable lines to `writer`, filtered by `RUST_LOG` or `default_filter`.
pub fn subscriber<W>(default_filter: &str, writer: W, ansi: bool) -> impl Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    tracing_subscriber::registry().with(filter).with(
        tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(ansi)
            .with_target(true),
    )
}

/// Installs the process-wide subscriber (stderr).
pub fn init() {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ =
        tracing::subscriber::set_global_default(subscriber(DEFAULT_FILTER, std::io::stderr, ansi));
}

/// The request's own span (the one `TraceLayer` opens), kept in the request's extensions so an
/// extractor deeper in the stack, under other layers' spans, can add the org to it.
#[derive(Clone)]
pub struct RequestSpan(pub tracing::Span);

/// Middleware, just inside `TraceLayer`: remembers the request span for [`record_org_id`].
pub async fn remember_request_span(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    request
        .extensions_mut()
        .insert(RequestSpan(tracing::Span::current()));
    next.run(request).await
}

/// Records the org a request acts for on its request span, so every line it logs carries it.
pub fn record_org_id(extensions: &axum::http::Extensions, org_id: impl std::fmt::Display) {
    if let Some(RequestSpan(span)) = extensions.get::<RequestSpan>() {
        span.record("org_id", tracing::field::display(org_id));
    }
}
