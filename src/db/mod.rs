//! The only place with SQL. One file per table group; tenant functions take the org id first.

pub mod anonymous_attempts;
pub mod audit;
pub mod bench_baseline;
pub mod binary_copy;
pub mod crm_connections;
pub mod crm_import_runs;
pub mod crm_pushes;
pub mod crm_records;
pub mod customer_imports;
pub mod customer_rollups;
pub mod customers;
pub mod fathom_connections;
pub mod fathom_events;
pub mod fathom_pending_webhooks;
pub mod fathom_sync_runs;
pub mod invites;
pub mod login_failures;
pub mod meeting_customers;
pub mod meetings;
pub mod memberships;
pub mod orgs;
pub mod search;
pub mod sessions;
pub mod system;
pub mod unmatched_meetings;
pub mod users;

use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::config::Settings;

/// Migrations compiled into the binary from `migrations/`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Opens a pool to the configured database (connections are made lazily).
pub fn connect(settings: &Settings) -> anyhow::Result<PgPool> {
    let url = settings.database_url()?;
    PgPoolOptions::new()
        .max_connections(settings.database.max_connections)
        .acquire_timeout(Duration::from_secs(
            settings.database.acquire_timeout_seconds,
        ))
        .connect_lazy(url.expose_secret())
        .context("DEBRIEF__DATABASE__URL is not a valid PostgreSQL URL")
}

/// Applies pending migrations.
pub async fn migrate(db: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(db)
        .await
        .context("applying database migrations failed")
}

/// Whether the database answers.
pub async fn ping(db: &PgPool) -> bool {
    sqlx::query("select 1").execute(db).await.is_ok()
}

/// True when `err` is a violation of the named unique constraint.
pub fn is_unique_violation(err: &sqlx::Error, constraint: &str) -> bool {
    match err {
        sqlx::Error::Database(db_err) => {
            db_err.is_unique_violation() && db_err.constraint() == Some(constraint)
        }
        _ => false,
    }
}

/// True when the database refused `err`'s statement because of the values in it (a data exception,
/// a violated constraint, a limit such as an oversized index row, or values the driver could not
/// encode): trying the same values again fails the same way, so the caller records it instead of
/// retrying. Lost connections, timeouts and the like are not.
pub fn is_refused_value(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db_err) => db_err.code().is_some_and(|code| {
            // SQLSTATE classes: 22 data exception, 23 integrity constraint violation,
            // 54 program limit exceeded.
            code.starts_with("22") || code.starts_with("23") || code.starts_with("54")
        }),
        sqlx::Error::Encode(_) => true,
        _ => false,
    }
}

/// The database's own words for a refused value, without the driver's wrapping.
pub fn refusal(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db_err) => db_err.message().to_owned(),
        other => other.to_string(),
    }
}
