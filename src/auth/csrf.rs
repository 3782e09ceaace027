//! CSRF protection. Signed-in people use the synchronizer-token pattern: the session holds a
//! random token, every form carries it in a hidden `csrf_token` field (or htmx sends it as
//! `X-CSRF-Token`), and a middleware refuses any state-changing request whose token does not match.
//!
//! Anonymous visitors (sign-up, login, invite pages) get no session row at all: their token is an
//! HMAC of a random nonce kept in a `debrief_csrf` cookie (HttpOnly, SameSite=Lax, so a cross-site
//! form carries neither the cookie nor a way to compute the token). It is accepted only while
//! nobody is signed in, so the token known before sign-in is worthless after it.

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::ExposeSecret;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use crate::error::{AppError, AppResult};
use crate::state::AppState;

const SESSION_KEY: &str = "csrf_token";
/// Form field carrying the token.
pub const FORM_FIELD: &str = "csrf_token";
/// Header carrying the token for script-driven requests.
pub const HEADER: &str = "x-csrf-token";
/// Cookie holding an anonymous visitor's nonce.
pub const COOKIE: &str = "debrief_csrf";
/// Largest form body the middleware will read to find the token.
const MAX_FORM_BYTES: usize = 256 * 1024;

/// This session's token, created on first use (signed-in pages).
pub async fn token(session: &Session) -> AppResult<String> {
    if let Some(existing) = session.get::<String>(SESSION_KEY).await? {
        return Ok(existing);
    }
    let fresh = random_token();
    session.insert(SESSION_KEY, &fresh).await?;
    Ok(fresh)
}

/// Drops this session's token; the next page gets a fresh one (done at sign-in).
pub async fn forget_token(session: &Session) -> AppResult<()> {
    session.remove::<String>(SESSION_KEY).await?;
    Ok(())
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The token an anonymous visitor's forms carry, derived from their cookie's nonce. Extracted by
/// anonymous pages; the middleware provides it on every request.
#[derive(Debug, Clone)]
pub struct AnonymousToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for AnonymousToken {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<AnonymousToken>()
            .cloned()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("CSRF middleware not installed")))
    }
}

fn anonymous_token(state: &AppState, nonce: &str) -> String {
    let secret = state
        .settings
        .application
        .session_secret
        .as_ref()
        .map(|s| s.expose_secret().as_bytes().to_vec())
        .unwrap_or_default();
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(b"debrief anonymous csrf:");
    mac.update(nonce.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The nonce of the request's `debrief_csrf` cookie, if it has a well-formed one.
fn cookie_nonce(parts_headers: &axum::http::HeaderMap) -> Option<String> {
    parts_headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| {
            v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn matches(expected: &str, submitted: &str) -> bool {
    expected.len() == submitted.len() && bool::from(expected.as_bytes().ct_eq(submitted.as_bytes()))
}

/// Middleware: gives every request its anonymous token (setting the nonce cookie when missing),
/// and refuses POST/PUT/PATCH/DELETE without a valid token (403, nothing runs).
pub async fn verify(
    State(state): State<AppState>,
    session: Session,
    mut request: Request,
    next: Next,
) -> Response {
    let existing = cookie_nonce(request.headers());
    let nonce = existing.clone().unwrap_or_else(random_token);
    let anonymous = anonymous_token(&state, &nonce);
    request
        .extensions_mut()
        .insert(AnonymousToken(anonymous.clone()));
    let set_cookie = existing.is_none().then(|| {
        let secure = if state.settings.cookies_secure() {
            "; Secure"
        } else {
            ""
        };
        format!("{COOKIE}={nonce}; Path=/; HttpOnly; SameSite=Lax{secure}")
    });
    let mut response = if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        next.run(request).await
    } else {
        check(&session, existing.map(|_| anonymous), request, next).await
    };
    if let Some(cookie) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

async fn check(
    session: &Session,
    anonymous: Option<String>,
    request: Request,
    next: Next,
) -> Response {
    let signed_in = match crate::auth::session::user_id(session).await {
        Ok(user) => user.is_some(),
        Err(err) => return err.into_response(),
    };
    let session_token = match session.get::<String>(SESSION_KEY).await {
        Ok(token) => token,
        Err(err) => return AppError::from(err).into_response(),
    };
    // The anonymous token only while nobody is signed in: sign-in makes it worthless.
    let accepted: Vec<String> = session_token
        .into_iter()
        .chain(anonymous.filter(|_| !signed_in))
        .collect();
    if accepted.is_empty() {
        return AppError::CsrfRejected.into_response();
    }
    let valid = |submitted: &str| accepted.iter().any(|t| matches(t, submitted));
    if let Some(header) = request.headers().get(HEADER).and_then(|v| v.to_str().ok()) {
        if valid(header) {
            return next.run(request).await;
        }
        return AppError::CsrfRejected.into_response();
    }
    // A file upload (multipart) carries its token in the form's action URL, so the body (up to
    // the upload's own limit) is not read here.
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if multipart {
        let submitted = request.uri().query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(key, _)| key == FORM_FIELD)
                .map(|(_, value)| value.into_owned())
        });
        return match submitted {
            Some(submitted) if valid(&submitted) => next.run(request).await,
            _ => AppError::CsrfRejected.into_response(),
        };
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
        return AppError::CsrfRejected.into_response();
    };
    let submitted = url::form_urlencoded::parse(&bytes)
        .find(|(key, _)| key == FORM_FIELD)
        .map(|(_, value)| value.into_owned());
    match submitted {
        Some(submitted) if valid(&submitted) => {
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
