//! A Fathom that misbehaves in ways the real one should not: redirects, answers without end, and
//! listings whose cursor loops. Debrief's outbound calls stay bounded and say what went wrong.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use debrief::db::fathom_sync_runs::{Opened, SyncSource};
use debrief::domain::sync_window::SyncWindow;
use debrief::fathom::{FathomClient, FathomError, ListMeetings};
use debrief::jobs;
use debrief::jobs::SyncFathom;
use secrecy::SecretString;
use sqlx::PgPool;

use crate::helpers::{spawn_app_with_fathom, test_fathom, test_settings};

/// API keys the misbehaving server saw, per path.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}/external/v1")
}

fn page(cursor: &str) -> String {
    format!(r#"{{"items": [], "limit": 10, "next_cursor": "{cursor}"}}"#)
}

fn record(seen: &Seen, path: &str, headers: &HeaderMap) {
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    seen.lock().unwrap().push((path.to_owned(), key));
}

fn misbehaving_fathom(seen: Seen) -> Router {
    Router::new()
        .route(
            "/external/v1/meetings",
            get(|State(seen): State<Seen>, headers: HeaderMap| async move {
                record(&seen, "meetings", &headers);
                Redirect::temporary("/elsewhere/meetings").into_response()
            }),
        )
        .route(
            "/elsewhere/meetings",
            get(|State(seen): State<Seen>, headers: HeaderMap| async move {
                record(&seen, "elsewhere", &headers);
                page("")
            }),
        )
        .with_state(seen)
}

fn key() -> SecretString {
    SecretString::from("fathom-key-secret-000")
}

#[tokio::test]
async fn a_redirect_is_not_followed_so_the_key_goes_nowhere_else() {
    let seen = Seen::default();
    let base = serve(misbehaving_fathom(seen.clone())).await;
    let client = FathomClient::new(&base.parse().unwrap(), Duration::from_secs(2)).unwrap();
    let err = client
        .list_meetings(&key(), &ListMeetings::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, FathomError::Redirected { status: 307 }),
        "{err:?}"
    );
    assert!(!err.is_transient());
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "only the first call was made: {seen:?}");
    assert_eq!(seen[0].0, "meetings");
}

#[tokio::test]
async fn an_answer_larger_than_the_cap_is_an_error_not_a_memory_spike() {
    let huge = Router::new().route(
        "/external/v1/meetings",
        get(|| async {
            // 8 MiB of a JSON string, streamed without a length.
            let chunks = (0..128).map(|_| Ok::<_, std::io::Error>(vec![b' '; 64 * 1024]));
            Response::new(axum::body::Body::from_stream(futures_util::stream::iter(
                chunks,
            )))
        }),
    );
    let base = serve(huge).await;
    let client = FathomClient::new(&base.parse().unwrap(), Duration::from_secs(5))
        .unwrap()
        .with_max_body_bytes(1024 * 1024);
    let err = client
        .list_meetings(&key(), &ListMeetings::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, FathomError::TooLarge { limit: 1_048_576 }),
        "{err:?}"
    );
    assert!(err.to_string().contains("larger than 1048576 bytes"));
}

#[sqlx::test]
async fn a_listing_whose_cursor_comes_back_stops_with_a_clear_error(db: PgPool) {
    // Connected through the simulator; the sync itself then talks to a Fathom that loops.
    let app = spawn_app_with_fathom(db.clone(), test_settings(), test_fathom(), false).await;
    let ada = app.ada_with_fathom().await;
    let calls = Arc::new(Mutex::new(0u32));
    let looping = Router::new()
        .route(
            "/external/v1/meetings",
            get(|State(calls): State<Arc<Mutex<u32>>>| async move {
                let mut n = calls.lock().unwrap();
                *n += 1;
                // a → b → a …
                (StatusCode::OK, page(if *n % 2 == 1 { "a" } else { "b" }))
            }),
        )
        .with_state(calls.clone());
    // The same settings (and key ring) as the app, but another Fathom.
    let mut settings = (*app.state.settings).clone();
    settings.fathom.base_url = serve(looping).await.parse().unwrap();
    settings.fathom.sync_headerless_interval_ms = 1;
    let looping_state = debrief::state::AppState::new(settings, db).unwrap();

    sqlx::query("update fathom_sync_runs set state = 'cancelled', finished_at = now()")
        .execute(&app.db)
        .await
        .unwrap();
    let mut tx = app.db.begin().await.unwrap();
    let Opened::New(run_id) = jobs::request_sync(
        &mut tx,
        &app.state,
        ada.org,
        ada.connection,
        SyncSource::Manual,
        SyncWindow::LastDays(7),
        None,
    )
    .await
    .unwrap() else {
        panic!("a new run")
    };
    tx.commit().await.unwrap();
    debrief::jobs::sync_fathom(
        &looping_state,
        SyncFathom {
            org_id: ada.org,
            connection_id: ada.connection,
            source: SyncSource::Manual,
            run_id,
        },
    )
    .await
    .unwrap();
    let (state, pages, error): (String, i32, Option<String>) =
        sqlx::query_as("select state, pages, error from fathom_sync_runs where id = $1")
            .bind(run_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((state.as_str(), pages), ("failed", 3), "{error:?}");
    assert!(
        error.unwrap().contains("cursor it had sent before"),
        "a clear reason on the run"
    );
    assert_eq!(*calls.lock().unwrap(), 3, "no call after the loop showed");
}

#[sqlx::test]
async fn a_listing_longer_than_the_page_cap_stops_with_a_clear_error(db: PgPool) {
    let app = spawn_app_with_fathom(db.clone(), test_settings(), test_fathom(), false).await;
    let ada = app.ada_with_fathom().await;
    let calls = Arc::new(Mutex::new(0u32));
    let endless = Router::new()
        .route(
            "/external/v1/meetings",
            get(|State(calls): State<Arc<Mutex<u32>>>| async move {
                let mut n = calls.lock().unwrap();
                *n += 1;
                page(&format!("page-{n}"))
            }),
        )
        .with_state(calls.clone());
    let mut settings = (*app.state.settings).clone();
    settings.fathom.base_url = serve(endless).await.parse().unwrap();
    settings.fathom.sync_headerless_interval_ms = 1;
    settings.fathom.sync_max_pages = 5;
    let endless_state = debrief::state::AppState::new(settings, db).unwrap();
    let run_id: uuid::Uuid =
        sqlx::query_scalar("select id from fathom_sync_runs where state = 'queued'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    debrief::jobs::sync_fathom(
        &endless_state,
        SyncFathom {
            org_id: ada.org,
            connection_id: ada.connection,
            source: SyncSource::Initial,
            run_id: debrief::domain::SyncRunId(run_id),
        },
    )
    .await
    .unwrap();
    let (state, pages, error): (String, i32, Option<String>) =
        sqlx::query_as("select state, pages, error from fathom_sync_runs where id = $1")
            .bind(run_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((state.as_str(), pages), ("failed", 5));
    assert!(error.unwrap().contains("Stopped after 5 pages"));
    assert_eq!(*calls.lock().unwrap(), 5);
}
