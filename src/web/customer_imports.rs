//! CSV import of customers or contacts, in two steps: upload (read and checked at once; any
//! problem is shown with its line number and nothing is kept) → a preview of the mapped columns
//! and the first rows → confirm (one transaction, then a summary and a re-match).

use super::filters;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use crate::auth::extractors::OrgContext;
use crate::db;
use crate::db::customer_imports::{Checked, Import, NotApplied};
use crate::domain::ImportId;
use crate::domain::customer_import::{Field, FileError, ImportKind, LineError, MAX_FILE_BYTES};
use crate::error::{AppError, AppResult};
use crate::jobs;
use crate::state::AppState;
use crate::web::layout::{FlashKind, Layout, flash};
use crate::web::routes::Routes;

/// Problems listed on a page at most (the count says how many in all).
const SHOWN_ERRORS: usize = 200;

/// What a preview shows of a checked file.
pub struct Preview {
    pub columns: Vec<(Field, Option<String>)>,
    pub sample: Vec<Vec<String>>,
    pub rows: usize,
    pub errors: Vec<LineError>,
    pub error_count: usize,
    pub missing_customers: Vec<String>,
}

impl Preview {
    fn of(checked: Checked) -> Preview {
        let error_count = checked.errors.len();
        Preview {
            columns: checked.parsed.columns,
            sample: checked.parsed.sample,
            rows: checked.parsed.rows.len(),
            errors: checked.errors.into_iter().take(SHOWN_ERRORS).collect(),
            error_count,
            missing_customers: checked.missing_customers,
        }
    }
}

/// The upload form, with what went wrong when it is shown again.
#[derive(Template, WebTemplate)]
#[template(path = "customer_imports/new.html")]
pub struct ImportFormPage {
    pub layout: Layout,
    pub org_slug: String,
    pub kind: &'static str,
    pub create_missing: bool,
    pub file_error: Option<String>,
    pub preview: Option<Preview>,
}

/// GET /o/{org_slug}/customers/imports/new
pub async fn new_customer_import(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
) -> AppResult<ImportFormPage> {
    Ok(ImportFormPage {
        layout: Layout::for_org(&state.db, &session, &ctx, "customers", "Import from CSV").await?,
        org_slug: ctx.org.slug.clone(),
        kind: ImportKind::Customers.as_str(),
        create_missing: false,
        file_error: None,
        preview: None,
    })
}

/// The upload's fields.
struct Upload {
    kind: Option<ImportKind>,
    create_missing: bool,
    file_name: String,
    body: Vec<u8>,
    too_large: bool,
}

async fn read_upload(mut multipart: Multipart) -> AppResult<Upload> {
    let mut upload = Upload {
        kind: None,
        create_missing: false,
        file_name: String::new(),
        body: Vec::new(),
        too_large: false,
    };
    let unreadable = |_| AppError::Validation("The upload could not be read; try again.".into());
    while let Some(mut field) = multipart.next_field().await.map_err(unreadable)? {
        match field.name() {
            Some("kind") => {
                upload.kind = ImportKind::parse(field.text().await.map_err(unreadable)?.trim())
            }
            Some("create_missing") => upload.create_missing = true,
            Some("file") => {
                upload.file_name = field
                    .file_name()
                    .unwrap_or("upload.csv")
                    .chars()
                    .take(200)
                    .collect();
                while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
                    if upload.body.len() + chunk.len() > MAX_FILE_BYTES {
                        upload.too_large = true;
                        upload.body.clear();
                        while field.chunk().await.map_err(unreadable)?.is_some() {}
                        break;
                    }
                    upload.body.extend_from_slice(&chunk);
                }
            }
            _ => {}
        }
    }
    Ok(upload)
}

/// POST /o/{org_slug}/customers/imports (multipart; the CSRF token is in the action URL)
pub async fn create_customer_import(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    multipart: Multipart,
) -> AppResult<Response> {
    let upload = read_upload(multipart).await?;
    let kind = upload.kind.unwrap_or(ImportKind::Customers);
    let refused = |file_error: Option<String>, preview: Option<Preview>| async {
        let page = ImportFormPage {
            layout: Layout::for_org(&state.db, &session, &ctx, "customers", "Import from CSV")
                .await?,
            org_slug: ctx.org.slug.clone(),
            kind: kind.as_str(),
            create_missing: upload.create_missing,
            file_error,
            preview,
        };
        AppResult::Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
    };
    if upload.kind.is_none() {
        return refused(Some("Choose customers or contacts.".into()), None).await;
    }
    if upload.too_large {
        return refused(Some(FileError::TooLarge.to_string()), None).await;
    }
    if upload.file_name.is_empty() {
        return refused(Some("Choose a CSV file to upload.".into()), None).await;
    }
    let checked = {
        let mut conn = state.db.acquire().await?;
        db::customer_imports::check(
            &mut conn,
            ctx.org.id,
            kind,
            &upload.body,
            upload.create_missing,
        )
        .await?
    };
    let checked = match checked {
        Ok(checked) => checked,
        Err(err) => return refused(Some(err.to_string()), None).await,
    };
    if !checked.errors.is_empty() {
        let message = format!(
            "Nothing was imported: {} line{} need{} fixing.",
            checked.errors.len(),
            if checked.errors.len() == 1 { "" } else { "s" },
            if checked.errors.len() == 1 { "s" } else { "" }
        );
        return refused(Some(message), Some(Preview::of(checked))).await;
    }
    let id = db::customer_imports::create(
        &state.db,
        ctx.org.id,
        kind,
        &upload.file_name,
        &upload.body,
        upload.create_missing,
        ctx.user.id,
    )
    .await?;
    Ok(Redirect::to(&import_url(&ctx, id)).into_response())
}

fn import_url(ctx: &OrgContext, id: ImportId) -> String {
    format!("/o/{}/customers/imports/{}", ctx.org.slug, id)
}

/// One import: its preview and Confirm, or what it did.
#[derive(Template, WebTemplate)]
#[template(path = "customer_imports/show.html")]
pub struct ImportPage {
    pub layout: Layout,
    pub org_slug: String,
    pub import: Import,
    pub kind: &'static str,
    pub file_error: Option<String>,
    /// `None` once applied.
    pub preview: Option<Preview>,
}

/// Path of one import.
#[derive(Debug, Deserialize)]
pub struct ImportPath {
    pub org_slug: String,
    pub import_id: String,
}

async fn load(state: &AppState, ctx: &OrgContext, id: &str) -> AppResult<Import> {
    let id: Uuid = id.parse().map_err(|_| AppError::NotFound)?;
    db::customer_imports::find(&state.db, ctx.org.id, ImportId(id))
        .await?
        .ok_or(AppError::NotFound)
}

async fn import_page(
    state: &AppState,
    session: &Session,
    ctx: &OrgContext,
    import: Import,
) -> AppResult<(StatusCode, ImportPage)> {
    let (preview, file_error) = if import.applied_at.is_some() {
        (None, None)
    } else {
        let mut conn = state.db.acquire().await?;
        match db::customer_imports::check(
            &mut conn,
            ctx.org.id,
            import.kind(),
            &import.body,
            import.create_missing,
        )
        .await?
        {
            Ok(checked) => (Some(Preview::of(checked)), None),
            Err(err) => (None, Some(err.to_string())),
        }
    };
    let status = if preview.as_ref().is_some_and(|p| p.error_count > 0) || file_error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        ImportPage {
            layout: Layout::for_org(&state.db, session, ctx, "customers", "Import from CSV")
                .await?,
            org_slug: ctx.org.slug.clone(),
            kind: import.kind().as_str(),
            import,
            file_error,
            preview,
        },
    ))
}

/// GET /o/{org_slug}/customers/imports/{import_id}
pub async fn show_customer_import(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<ImportPath>,
) -> AppResult<Response> {
    let import = load(&state, &ctx, &path.import_id).await?;
    Ok(import_page(&state, &session, &ctx, import)
        .await?
        .into_response())
}

/// POST /o/{org_slug}/customers/imports/{import_id}/confirm
pub async fn update_customer_import(
    State(state): State<AppState>,
    session: Session,
    ctx: OrgContext,
    Path(path): Path<ImportPath>,
) -> AppResult<Response> {
    let import = load(&state, &ctx, &path.import_id).await?;
    let mut tx = state.db.begin().await?;
    let Some(locked) = db::customer_imports::lock_unapplied(&mut tx, ctx.org.id, import.id).await?
    else {
        // Already imported (a second click, another tab): show what it did.
        return Ok(Redirect::to(&import_url(&ctx, import.id)).into_response());
    };
    let started = std::time::Instant::now();
    match db::customer_imports::apply(&mut tx, ctx.org.id, &locked).await? {
        Ok(summary) => {
            jobs::request_rematch(&mut tx, ctx.org.id).await?;
            tx.commit().await?;
            tracing::info!(org_id = %ctx.org.id, import_id = %import.id, kind = import.kind().as_str(),
                created = summary.created, updated = summary.updated, unchanged = summary.unchanged,
                took_ms = started.elapsed().as_millis() as u64, "CSV import applied");
            flash(
                &session,
                FlashKind::Success,
                format!(
                    "Imported: {} created, {} updated, {} unchanged. Meetings are being matched again.",
                    summary.created, summary.updated, summary.unchanged
                ),
            )
            .await?;
            Ok(Redirect::to(&import_url(&ctx, import.id)).into_response())
        }
        Err(not_applied) => {
            tx.rollback().await?;
            let (status, mut page) = import_page(&state, &session, &ctx, import).await?;
            if let NotApplied::File(err) = not_applied {
                page.file_error = Some(err.to_string());
            }
            let _ = status;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

/// This area's routes.
pub fn router() -> Routes {
    Routes::new()
        .route(
            "/o/{org_slug}/customers/imports/new",
            get(new_customer_import),
        )
        .route(
            "/o/{org_slug}/customers/imports",
            post(create_customer_import).layer(axum::extract::DefaultBodyLimit::max(
                MAX_FILE_BYTES + 64 * 1024,
            )),
        )
        .route(
            "/o/{org_slug}/customers/imports/{import_id}",
            get(show_customer_import),
        )
        .route(
            "/o/{org_slug}/customers/imports/{import_id}/confirm",
            post(update_customer_import),
        )
}
