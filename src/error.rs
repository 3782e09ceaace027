//! `AppError`, the one error type handlers return, and how each kind is shown to a person.

use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

/// Result alias for handlers.
pub type AppResult<T> = Result<T, AppError>;

/// What went wrong while handling a request, in terms of what the person should see.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The thing does not exist, or belongs to an org the person is not in (never say which).
    #[error("not found")]
    NotFound,
    /// Not signed in: send them to the login page, then back to `next`.
    #[error("not signed in")]
    Unauthenticated {
        /// Where to return after signing in.
        next: String,
    },
    /// Signed in and allowed to see the org, but their role does not permit this.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// The request conflicts with the current state (for example removing the last owner).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A submitted value was not acceptable and there is no form to re-render it on.
    #[error("invalid input: {0}")]
    Validation(String),
    /// The link or thing existed but can no longer be used (expired or used invite).
    #[error("gone: {0}")]
    Gone(&'static str),
    /// The form did not carry this session's CSRF token.
    #[error("CSRF token missing or wrong")]
    CsrfRejected,
    /// Too many attempts; the message says when to retry.
    #[error("rate limited: {0}")]
    RateLimited(String),
    /// A bug or an outage; details go to the log only.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        AppError::Internal(anyhow::Error::new(err))
    }
}

impl From<tower_sessions::session::Error> for AppError {
    fn from(err: tower_sessions::session::Error) -> Self {
        AppError::Internal(anyhow::Error::new(err).context("session store failed"))
    }
}

/// The page shown for every error.
#[derive(Template, WebTemplate)]
#[template(path = "errors/error.html")]
pub struct ErrorPage {
    /// Page title and heading.
    pub title: &'static str,
    /// What happened, for a person.
    pub message: String,
}

impl AppError {
    fn status_and_page(&self) -> (StatusCode, ErrorPage) {
        let page = |title, message: &str| ErrorPage {
            title,
            message: message.to_owned(),
        };
        match self {
            AppError::NotFound | AppError::Unauthenticated { .. } => (
                StatusCode::NOT_FOUND,
                page(
                    "Page not found",
                    "We could not find that page. It may have moved, or you may not have access to it.",
                ),
            ),
            AppError::Forbidden(message) => (StatusCode::FORBIDDEN, page("Not allowed", message)),
            AppError::Conflict(message) => {
                (StatusCode::CONFLICT, page("That cannot be done", message))
            }
            AppError::Validation(message) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                page("That was not accepted", message),
            ),
            AppError::Gone(message) => (StatusCode::GONE, page("Link no longer valid", message)),
            AppError::CsrfRejected => (
                StatusCode::FORBIDDEN,
                page(
                    "Form expired",
                    "This form was not accepted because it expired or did not come from Debrief. Go back, reload the page and try again.",
                ),
            ),
            AppError::RateLimited(message) => (
                StatusCode::TOO_MANY_REQUESTS,
                page("Too many attempts", message),
            ),
            AppError::Internal(err)
                if err.downcast_ref::<crate::auth::password::Busy>().is_some() =>
            {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    page(
                        "Debrief is busy",
                        "Too many people are signing in at this moment. Please try again in a minute.",
                    ),
                )
            }
            AppError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                page(
                    "Something went wrong",
                    "Something went wrong on our side and it has been logged. Please try again in a moment.",
                ),
            ),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match &self {
            AppError::Unauthenticated { next } => {
                let target = format!(
                    "/login?next={}",
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                return Redirect::to(&target).into_response();
            }
            AppError::Internal(err) => {
                tracing::error!(error = ?err, "request failed");
            }
            other => tracing::debug!(error = %other, "request refused"),
        }
        let (status, page) = self.status_and_page();
        (status, page).into_response()
    }
}

/// Fallback for unknown routes: the friendly 404 page.
pub async fn not_found() -> AppError {
    AppError::NotFound
}
