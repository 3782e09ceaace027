//! The simulated providers' OAuth: authorize pages with Approve and Deny, token endpoints (code
//! exchange once, refresh, expiry, revocation, PKCE S256), HubSpot's token information and
//! introspection, and Salesforce's identity URL.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{delete, get, post};
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::state::{Code, Provider, SimState, TokenCheck, check_token, random_token};

type Shared = Arc<SimState>;

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/oauth/authorize", get(hubspot_authorize).post(decide))
        .route("/oauth/v1/token", post(hubspot_token))
        .route("/oauth/v3/token", post(hubspot_token))
        .route("/oauth/v1/access-tokens/{token}", get(hubspot_token_info))
        .route("/oauth/v3/token/introspect", post(hubspot_introspect))
        .route(
            "/oauth/v1/refresh-tokens/{token}",
            delete(hubspot_delete_refresh),
        )
        .route(
            "/services/oauth2/authorize",
            get(salesforce_authorize).post(decide),
        )
        .route("/services/oauth2/token", post(salesforce_token))
        .route("/services/oauth2/revoke", post(salesforce_revoke))
        .route("/id/{org}/{user}", get(salesforce_identity))
        .with_state(state)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn error_page(status: StatusCode, message: &str) -> Response {
    (
        status,
        Html(format!(
            "<!doctype html><html lang=\"en\"><head><link rel=\"icon\" href=\"data:,\"><title>Authorization error</title></head><body><main><h1>Authorization error</h1><p id=\"error\">{}</p></main></body></html>",
            escape(message)
        )),
    )
        .into_response()
}

fn app_of<'a>(
    state: &'a SimState,
    provider: Provider,
    client_id: &str,
) -> Option<&'a super::SimApp> {
    let apps = match provider {
        Provider::Hubspot => &state.config.hubspot_apps,
        Provider::Salesforce => &state.config.salesforce_apps,
    };
    apps.iter().find(|a| a.client_id == client_id)
}

fn redirect_allowed(app: &super::SimApp, uri: &str) -> bool {
    if app.redirect_uris.is_empty() {
        return uri.starts_with("http://") || uri.starts_with("https://");
    }
    app.redirect_uris.iter().any(|r| r == uri)
}

async fn hubspot_authorize(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    authorize_page(&state, Provider::Hubspot, &q)
}

async fn salesforce_authorize(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if q.get("response_type").map(String::as_str) != Some("code") {
        return error_page(StatusCode::BAD_REQUEST, "unsupported_response_type");
    }
    authorize_page(&state, Provider::Salesforce, &q)
}

/// The consent page. An unknown client or an unregistered redirect URI is shown as an error
/// here: the provider never redirects to a URI it does not trust.
fn authorize_page(state: &SimState, provider: Provider, q: &HashMap<String, String>) -> Response {
    let client_id = q.get("client_id").cloned().unwrap_or_default();
    let Some(app) = app_of(state, provider, &client_id) else {
        return error_page(StatusCode::BAD_REQUEST, "Unknown client_id.");
    };
    let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
    if !redirect_allowed(app, &redirect_uri) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "redirect_uri mismatch: it is not registered for this app.",
        );
    }
    if q.get("code_challenge").is_some()
        && q.get("code_challenge_method").map(String::as_str) != Some("S256")
    {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Only S256 code challenges are accepted.",
        );
    }
    let scope = q.get("scope").cloned().unwrap_or_default();
    let accounts: Vec<(String, String)> = match provider {
        Provider::Hubspot => state
            .config
            .portals
            .iter()
            .map(|p| {
                (
                    p.hub_id.to_string(),
                    format!("{} ({})", p.hub_domain, p.hub_id),
                )
            })
            .collect(),
        Provider::Salesforce => state
            .config
            .salesforce_orgs
            .iter()
            .map(|o| (o.org_id.clone(), o.username.clone()))
            .collect(),
    };
    if accounts.is_empty() {
        return error_page(StatusCode::BAD_REQUEST, "No account to install into.");
    }
    let hidden: String = [
        (
            "provider",
            if provider == Provider::Hubspot {
                "hubspot"
            } else {
                "salesforce"
            },
        ),
        ("client_id", client_id.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("scope", scope.as_str()),
        ("state", q.get("state").map(String::as_str).unwrap_or("")),
        (
            "code_challenge",
            q.get("code_challenge").map(String::as_str).unwrap_or(""),
        ),
    ]
    .iter()
    .map(|(k, v)| {
        format!(
            "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
            escape(v)
        )
    })
    .collect();
    let options: String = accounts
        .iter()
        .map(|(id, label)| {
            format!(
                "<option value=\"{}\">{}</option>",
                escape(id),
                escape(label)
            )
        })
        .collect();
    let name = if provider == Provider::Hubspot {
        "HubSpot"
    } else {
        "Salesforce"
    };
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><link rel=\"icon\" href=\"data:,\"><title>Connect to {name}</title></head>\
<body><main><h1>Allow Debrief to access your {name} account?</h1>\
<p>Requested access: <code id=\"scopes\">{}</code></p>\
<form method=\"post\" id=\"consent\">{hidden}\
<label for=\"account\">Account</label> <select id=\"account\" name=\"account\">{options}</select>\
<p><button type=\"submit\" name=\"decision\" value=\"approve\" id=\"approve\">Approve</button> \
<button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Deny</button></p></form></main></body></html>",
        escape(&scope)
    ))
    .into_response()
}

async fn decide(State(state): State<Shared>, Form(f): Form<HashMap<String, String>>) -> Response {
    let provider = match f.get("provider").map(String::as_str) {
        Some("hubspot") => Provider::Hubspot,
        Some("salesforce") => Provider::Salesforce,
        _ => return error_page(StatusCode::BAD_REQUEST, "Unknown provider."),
    };
    let client_id = f.get("client_id").cloned().unwrap_or_default();
    let redirect_uri = f.get("redirect_uri").cloned().unwrap_or_default();
    let Some(app) = app_of(&state, provider, &client_id) else {
        return error_page(StatusCode::BAD_REQUEST, "Unknown client_id.");
    };
    if !redirect_allowed(app, &redirect_uri) {
        return error_page(StatusCode::BAD_REQUEST, "redirect_uri mismatch.");
    }
    let Ok(mut target) = url::Url::parse(&redirect_uri) else {
        return error_page(StatusCode::BAD_REQUEST, "redirect_uri is not a URL.");
    };
    let st = f.get("state").cloned().unwrap_or_default();
    if f.get("decision").map(String::as_str) != Some("approve") {
        {
            let mut pairs = target.query_pairs_mut();
            pairs.append_pair("error", "access_denied");
            pairs.append_pair("error_description", "The user denied access.");
            if !st.is_empty() {
                pairs.append_pair("state", &st);
            }
        }
        return Redirect::to(target.as_str()).into_response();
    }
    let code = random_token("code-");
    let scopes: Vec<String> = f
        .get("scope")
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    state.lock().codes.insert(
        code.clone(),
        Code {
            provider,
            client_id,
            redirect_uri,
            challenge: f.get("code_challenge").cloned().filter(|c| !c.is_empty()),
            scopes,
            account: f.get("account").cloned().unwrap_or_default(),
            issued: Instant::now(),
            used: false,
            refresh_token: None,
        },
    );
    {
        let mut pairs = target.query_pairs_mut();
        pairs.append_pair("code", &code);
        if !st.is_empty() {
            pairs.append_pair("state", &st);
        }
    }
    Redirect::to(target.as_str()).into_response()
}

fn hubspot_error(code: &str, status: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({
            "error": code,
            "error_description": message,
            "status": status,
            "message": message,
            "correlationId": uuid::Uuid::new_v4().to_string(),
        })),
    )
        .into_response()
}

fn salesforce_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": code, "error_description": message})),
    )
        .into_response()
}

fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Checks a code exchange; returns (account, scopes) or the OAuth error `(code, message)`.
fn redeem(
    state: &SimState,
    provider: Provider,
    f: &HashMap<String, String>,
) -> Result<(String, Vec<String>, String), (&'static str, &'static str)> {
    let mut inner = state.lock();
    let code = f.get("code").cloned().unwrap_or_default();
    let Some(c) = inner.codes.get_mut(&code) else {
        return Err(("invalid_grant", "invalid authorization code"));
    };
    if c.provider != provider {
        return Err(("invalid_grant", "invalid authorization code"));
    }
    if c.used {
        // A code presented twice: refuse, and revoke what the first exchange issued.
        let refresh = c.refresh_token.clone();
        if let Some(r) = refresh {
            if let Some(g) = inner.refresh.get_mut(&r) {
                g.revoked = true;
            }
            for t in inner.access.values_mut() {
                if t.refresh_token.as_deref() == Some(r.as_str()) {
                    t.revoked = true;
                }
            }
        }
        return Err(("invalid_grant", "authorization code has already been used"));
    }
    if c.issued.elapsed() > state.config.code_ttl {
        return Err(("invalid_grant", "expired authorization code"));
    }
    if f.get("client_id") != Some(&c.client_id) {
        return Err(("invalid_client", "client_id does not match the code"));
    }
    if f.get("redirect_uri") != Some(&c.redirect_uri) {
        return Err(("invalid_grant", "redirect_uri mismatch"));
    }
    match (&c.challenge, f.get("code_verifier")) {
        (Some(ch), Some(v)) if s256(v) == *ch => {}
        (Some(_), _) => return Err(("invalid_grant", "invalid code verifier")),
        (None, Some(_)) => return Err(("invalid_grant", "code verifier sent without a challenge")),
        (None, None) => {}
    }
    c.used = true;
    Ok((c.account.clone(), c.scopes.clone(), code))
}

fn client_ok(state: &SimState, provider: Provider, f: &HashMap<String, String>) -> bool {
    let id = f.get("client_id").map(String::as_str).unwrap_or("");
    app_of(state, provider, id).is_some_and(|a| f.get("client_secret") == Some(&a.client_secret))
}

async fn hubspot_token(
    State(state): State<Shared>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if !client_ok(&state, Provider::Hubspot, &f) {
        return hubspot_error(
            "invalid_client",
            "BAD_CLIENT_ID",
            "missing or invalid client credentials",
        );
    }
    let client_id = f.get("client_id").cloned().unwrap_or_default();
    match f.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let (account, scopes, code) = match redeem(&state, Provider::Hubspot, &f) {
                Ok(r) => r,
                Err((e, m)) => return hubspot_error(e, "BAD_AUTH_CODE", m),
            };
            let mut inner = state.lock();
            inner.stats.code_exchanges += 1;
            let refresh = random_token("rt-");
            let access = state.issue(
                &mut inner,
                Provider::Hubspot,
                &client_id,
                &account,
                &scopes,
                Some(refresh.clone()),
            );
            if let Some(c) = inner.codes.get_mut(&code) {
                c.refresh_token = Some(refresh.clone());
            }
            hubspot_token_answer(&state, &access, &refresh, &account, &scopes)
        }
        Some("refresh_token") => {
            let refresh = f.get("refresh_token").cloned().unwrap_or_default();
            let mut inner = state.lock();
            inner.stats.hubspot_refreshes += 1;
            let Some(g) = inner.refresh.get(&refresh) else {
                return hubspot_error(
                    "invalid_grant",
                    "BAD_REFRESH_TOKEN",
                    "missing or unknown refresh token",
                );
            };
            if g.revoked || g.provider != Provider::Hubspot || g.client_id != client_id {
                return hubspot_error(
                    "invalid_grant",
                    "BAD_REFRESH_TOKEN",
                    "refresh token is invalid, expired or revoked",
                );
            }
            let (account, scopes) = (g.account.clone(), g.scopes.clone());
            let access = state.issue(
                &mut inner,
                Provider::Hubspot,
                &client_id,
                &account,
                &scopes,
                Some(refresh.clone()),
            );
            hubspot_token_answer(&state, &access, &refresh, &account, &scopes)
        }
        _ => hubspot_error(
            "unsupported_grant_type",
            "BAD_GRANT_TYPE",
            "unsupported grant_type",
        ),
    }
}

fn hubspot_token_answer(
    state: &SimState,
    access: &str,
    refresh: &str,
    account: &str,
    scopes: &[String],
) -> Response {
    axum::Json(json!({
        "token_type": "bearer",
        "access_token": access,
        "refresh_token": refresh,
        "expires_in": state.config.hubspot_token_ttl.as_secs(),
        "hub_id": account.parse::<u64>().ok(),
        "scopes": scopes,
    }))
    .into_response()
}

async fn hubspot_token_info(State(state): State<Shared>, Path(token): Path<String>) -> Response {
    let inner = state.lock();
    let Some(t) = inner
        .access
        .get(&token)
        .filter(|t| t.provider == Provider::Hubspot && !t.revoked)
    else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"status": "error", "message": "The access token is not found", "correlationId": uuid::Uuid::new_v4().to_string()})),
        )
            .into_response();
    };
    let now = Instant::now();
    if t.expires_at <= now {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"status": "error", "message": "The OAuth token used to make this call expired.", "category": "EXPIRED_AUTHENTICATION"})),
        )
            .into_response();
    }
    let hub: u64 = t.account.parse().unwrap_or_default();
    let portal = inner.portals.get(&hub);
    axum::Json(json!({
        "token": token,
        "user": portal.map(|p| p.user.clone()),
        "hub_domain": portal.map(|p| p.hub_domain.clone()),
        "scopes": t.scopes,
        "hub_id": hub,
        "app_id": 1_000_001,
        "expires_in": (t.expires_at - now).as_secs(),
        "user_id": 7_001,
        "token_type": "access",
    }))
    .into_response()
}

async fn hubspot_introspect(
    State(state): State<Shared>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if !client_ok(&state, Provider::Hubspot, &f) {
        return hubspot_error(
            "invalid_client",
            "BAD_CLIENT_ID",
            "missing or invalid client credentials",
        );
    }
    let token = f.get("token").cloned().unwrap_or_default();
    let inner = state.lock();
    match inner
        .access
        .get(&token)
        .filter(|t| t.provider == Provider::Hubspot && !t.revoked && t.expires_at > Instant::now())
    {
        Some(t) => {
            let hub: u64 = t.account.parse().unwrap_or_default();
            let portal = inner.portals.get(&hub);
            axum::Json(json!({
                "active": true,
                "hub_id": hub,
                "hub_domain": portal.map(|p| p.hub_domain.clone()),
                "user": portal.map(|p| p.user.clone()),
                "user_id": 7_001,
                "app_id": 1_000_001,
                "scopes": t.scopes,
                "expires_in": (t.expires_at - Instant::now()).as_secs(),
                "token_type": "access",
            }))
            .into_response()
        }
        None => axum::Json(json!({"active": false})).into_response(),
    }
}

async fn hubspot_delete_refresh(
    State(state): State<Shared>,
    Path(token): Path<String>,
) -> Response {
    let mut inner = state.lock();
    match inner
        .refresh
        .get_mut(&token)
        .filter(|g| g.provider == Provider::Hubspot)
    {
        Some(g) => {
            g.revoked = true;
            inner.stats.revocations += 1;
            for t in inner.access.values_mut() {
                if t.refresh_token.as_deref() == Some(token.as_str()) {
                    t.revoked = true;
                }
            }
            StatusCode::NO_CONTENT.into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"status": "error", "message": "refresh token not found"})),
        )
            .into_response(),
    }
}

async fn salesforce_token(
    State(state): State<Shared>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let client_id = f.get("client_id").cloned().unwrap_or_default();
    if app_of(&state, Provider::Salesforce, &client_id).is_none() {
        return salesforce_error(
            StatusCode::BAD_REQUEST,
            "invalid_client_id",
            "client identifier invalid",
        );
    }
    match f.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            if !client_ok(&state, Provider::Salesforce, &f) {
                return salesforce_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_client",
                    "invalid client credentials",
                );
            }
            let (account, scopes, code) = match redeem(&state, Provider::Salesforce, &f) {
                Ok(r) => r,
                Err((e, m)) => return salesforce_error(StatusCode::BAD_REQUEST, e, m),
            };
            let mut inner = state.lock();
            inner.stats.code_exchanges += 1;
            let refresh = scopes
                .iter()
                .any(|s| s == "refresh_token" || s == "offline_access")
                .then(|| random_token("5Aep"));
            let access = state.issue(
                &mut inner,
                Provider::Salesforce,
                &client_id,
                &account,
                &scopes,
                refresh.clone(),
            );
            if let Some(c) = inner.codes.get_mut(&code) {
                c.refresh_token = refresh.clone();
            }
            let mut answer = salesforce_token_answer(&state, &inner, &access, &account, &scopes);
            if let Some(r) = refresh {
                answer["refresh_token"] = json!(r);
            }
            axum::Json(answer).into_response()
        }
        Some("refresh_token") => {
            // The secret is optional on refresh; a wrong one is still refused.
            if f.contains_key("client_secret") && !client_ok(&state, Provider::Salesforce, &f) {
                return salesforce_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_client",
                    "invalid client credentials",
                );
            }
            let refresh = f.get("refresh_token").cloned().unwrap_or_default();
            let mut inner = state.lock();
            inner.stats.salesforce_refreshes += 1;
            let Some(g) = inner.refresh.get(&refresh) else {
                return salesforce_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "expired access/refresh token",
                );
            };
            if g.revoked || g.provider != Provider::Salesforce || g.client_id != client_id {
                return salesforce_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "expired access/refresh token",
                );
            }
            let (account, scopes) = (g.account.clone(), g.scopes.clone());
            let access = state.issue(
                &mut inner,
                Provider::Salesforce,
                &client_id,
                &account,
                &scopes,
                Some(refresh),
            );
            // No new refresh token: the old one stays valid.
            axum::Json(salesforce_token_answer(
                &state, &inner, &access, &account, &scopes,
            ))
            .into_response()
        }
        _ => salesforce_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant type not supported",
        ),
    }
}

fn salesforce_token_answer(
    state: &SimState,
    inner: &super::state::Inner,
    access: &str,
    account: &str,
    scopes: &[String],
) -> serde_json::Value {
    let user = inner
        .orgs
        .get(account)
        .map(|o| o.user_id.clone())
        .unwrap_or_default();
    json!({
        "access_token": access,
        "instance_url": state.base_url,
        "id": format!("{}/id/{account}/{user}", state.base_url),
        "issued_at": chrono::Utc::now().timestamp_millis().to_string(),
        "signature": base64::engine::general_purpose::STANDARD.encode(Sha256::digest(access.as_bytes())),
        "scope": scopes.join(" "),
        "token_type": "Bearer",
    })
}

async fn salesforce_revoke(
    State(state): State<Shared>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let token = f.get("token").cloned().unwrap_or_default();
    let mut inner = state.lock();
    let mut found = false;
    if let Some(g) = inner
        .refresh
        .get_mut(&token)
        .filter(|g| g.provider == Provider::Salesforce)
    {
        g.revoked = true;
        found = true;
        for t in inner.access.values_mut() {
            if t.refresh_token.as_deref() == Some(token.as_str()) {
                t.revoked = true;
            }
        }
    } else if let Some(t) = inner
        .access
        .get_mut(&token)
        .filter(|t| t.provider == Provider::Salesforce)
    {
        t.revoked = true;
        found = true;
    }
    if found {
        inner.stats.revocations += 1;
        StatusCode::OK.into_response()
    } else {
        salesforce_error(
            StatusCode::BAD_REQUEST,
            "unsupported_token_type",
            "this token type is not supported",
        )
    }
}

async fn salesforce_identity(
    State(state): State<Shared>,
    Path((org, user)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let token = super::salesforce::bearer(&headers);
    let mut inner = state.lock();
    match check_token(&mut inner, token.as_deref(), Provider::Salesforce) {
        TokenCheck::Valid(account) if account == org => {}
        _ => return (StatusCode::FORBIDDEN, "Bad_OAuth_Token").into_response(),
    }
    let Some(o) = inner.orgs.get(&org).filter(|o| o.user_id == user) else {
        return (StatusCode::NOT_FOUND, "Bad_Id").into_response();
    };
    axum::Json(json!({
        "id": format!("{}/id/{org}/{user}", state.base_url),
        "organization_id": org,
        "user_id": user,
        "username": o.username,
        "display_name": o.username,
        "active": true,
    }))
    .into_response()
}
