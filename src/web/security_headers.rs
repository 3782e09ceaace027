//! Security headers on every response: a Content-Security-Policy that allows only Debrief's own
//! scripts and styles (no inline script, no framing), `nosniff`, a same-origin referrer, HSTS when
//! Debrief is served over https, and `no-store` on pages (they carry people's data and CSRF
//! tokens; static files keep their own caching).

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::config::Settings;

/// The policy for every page, before its `form-action` list.
const POLICY_BASE: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
    object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// Salesforce login hosts a person may pick on the connect form besides the configured one.
const SALESFORCE_OTHER_LOGINS: &str = "https://test.salesforce.com https://*.my.salesforce.com";

/// The Content-Security-Policy for these settings. Browsers apply `form-action` to the redirects
/// that follow a form post too, so the CRM connect forms (a POST answered by a redirect to the
/// provider's authorize page) need the providers' authorize origins listed beside `'self'`.
pub fn content_security_policy(settings: &Settings) -> HeaderValue {
    let hubspot = settings
        .hubspot
        .authorize_url
        .origin()
        .ascii_serialization();
    let salesforce = settings.salesforce.login_url.origin().ascii_serialization();
    let policy = format!(
        "{POLICY_BASE}; form-action 'self' {hubspot} {salesforce} {SALESFORCE_OTHER_LOGINS}"
    );
    HeaderValue::from_str(&policy).unwrap_or_else(|_| {
        // Origins serialise to visible ASCII, so this only guards against a future edit.
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'",
        )
    })
}

/// `Strict-Transport-Security` sent when the base URL is https.
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Adds the headers every response carries: `policy` from [`content_security_policy`], and HSTS
/// when `hsts` (served over https).
pub async fn add(policy: HeaderValue, hsts: bool, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    response
}

/// Marks a page response as not to be stored by browsers or proxies.
pub async fn no_store(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
