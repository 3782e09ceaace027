//! CSRF protection with the synchronizer-token pattern: each session holds a random token, every
//! form carries it in a hidden `csrf_token` field (or htmx sends it as `X-CSRF-Token`), and a
//! middleware refuses any state-changing request whose token does not match.
//!
//! Tokens live in the server-side session we already have, so there is no second cookie to sign.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rand::RngCore;
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use crate::error::{AppError, AppResult};

const SESSION_KEY: &str = "csrf_token";
/// Form field carrying the token.
pub const FORM_FIELD: &str = "csrf_token";
/// Header carrying the token for script-driven requests.
pub const HEADER: &str = "x-csrf-token";
/// Largest form body the middleware will read to find the token.
const MAX_FORM_BYTES: usize = 256 * 1024;

/// This session's token, created on first use.
pub async fn token(session: &Session) -> AppResult<String> {
    if let Some(existing) = session.get::<String>(SESSION_KEY).await? {
        return Ok(existing);
    }
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let fresh = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    session.insert(SESSION_KEY, &fresh).await?;
    Ok(fresh)
}

/// Drops this session's token; the next page gets a fresh one (done at sign-in).
pub async fn forget_token(session: &Session) -> AppResult<()> {
    session.remove::<String>(SESSION_KEY).await?;
    Ok(())
}

fn matches(expected: &str, submitted: &str) -> bool {
    expected.len() == submitted.len() && bool::from(expected.as_bytes().ct_eq(submitted.as_bytes()))
}

/// Middleware: refuses POST/PUT/PATCH/DELETE without this session's token (403, nothing runs).
pub async fn verify(session: Session, request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let expected = match session.get::<String>(SESSION_KEY).await {
        Ok(Some(token)) => token,
        Ok(None) => return AppError::CsrfRejected.into_response(),
        Err(err) => return AppError::from(err).into_response(),
    };
    if let Some(header) = request.headers().get(HEADER).and_then(|v| v.to_str().ok()) {
        if matches(&expected, header) {
            return next.run(request).await;
        }
        return AppError::CsrfRejected.into_response();
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
        return AppError::CsrfRejected.into_response();
    };
    let submitted = url::form_urlencoded::parse(&bytes)
        .find(|(key, _)| key == FORM_FIELD)
        .map(|(_, value)| value.into_owned());
    match submitted {
        Some(submitted) if matches(&expected, &submitted) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        _ => AppError::CsrfRejected.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn tokens_must_match_exactly() {
        assert!(matches("abc", "abc"));
        assert!(!matches("abc", "abd"));
        assert!(!matches("abc", "ab"));
        assert!(!matches("abc", ""));
    }
}
