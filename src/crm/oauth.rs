//! The OAuth 2.0 authorization-code flow with PKCE (S256) for both CRMs, with the `oauth2` crate:
//! the authorize URL, the code exchange and the refresh. Client credentials go in the form body
//! (both providers want them there), redirects are never followed, and the provider-specific parts
//! of the token answer (HubSpot's `hub_id` and `scopes` array; Salesforce's `instance_url`, `id`
//! and `issued_at`) are kept.

use std::time::Duration;

use oauth2::basic::{
    BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse,
    BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse,
    TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::Settings;
use crate::domain::CrmProvider;

/// Scopes HubSpot must grant (notes and tasks are written under the contacts write scope).
pub const HUBSPOT_SCOPES: [&str; 4] = [
    "oauth",
    "crm.objects.contacts.read",
    "crm.objects.companies.read",
    "crm.objects.contacts.write",
];
/// Scopes HubSpot may grant (owners, to assign action-item tasks).
pub const HUBSPOT_OPTIONAL_SCOPES: [&str; 1] = ["crm.objects.owners.read"];
/// Scopes asked of Salesforce.
pub const SALESFORCE_SCOPES: [&str; 3] = ["api", "refresh_token", "id"];

/// The provider-specific fields of a token answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProviderTokenFields {
    /// HubSpot: granted scopes as an array (the standard `scope` string is absent).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// HubSpot: the portal.
    #[serde(default)]
    pub hub_id: Option<serde_json::Value>,
    /// Salesforce: the REST base for this org.
    #[serde(default)]
    pub instance_url: Option<String>,
    /// Salesforce: the identity URL (`…/id/{org id}/{user id}`).
    #[serde(default)]
    pub id: Option<String>,
}

impl ExtraTokenFields for ProviderTokenFields {}

type ProviderTokenResponse = StandardTokenResponse<ProviderTokenFields, BasicTokenType>;

type OauthClient = oauth2::Client<
    BasicErrorResponse,
    ProviderTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// A configured OAuth app of one provider.
#[derive(Clone)]
pub struct OauthApp {
    pub provider: CrmProvider,
    pub client_id: String,
    pub client_secret: SecretString,
    pub authorize_url: Url,
    pub token_url: Url,
    pub redirect_url: Url,
}

impl std::fmt::Debug for OauthApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OauthApp")
            .field("provider", &self.provider)
            .field("client_id", &self.client_id)
            .field("authorize_url", &self.authorize_url.as_str())
            .finish_non_exhaustive()
    }
}

/// The fixed callback of `provider`: `{base_url}/oauth/{provider}/callback`.
pub fn callback_url(settings: &Settings, provider: CrmProvider) -> Url {
    let mut url = settings.application.base_url.clone();
    url.set_path(&format!("/oauth/{}/callback", provider.as_str()));
    url.set_query(None);
    url
}

impl OauthApp {
    /// The app of `provider` from settings, or `None` when no client id (or secret) is set.
    /// Salesforce's endpoints are under `login_url` (login, test or a My Domain host).
    pub fn from_settings(
        settings: &Settings,
        provider: CrmProvider,
        login_url: Option<&Url>,
    ) -> Option<OauthApp> {
        let redirect_url = callback_url(settings, provider);
        match provider {
            CrmProvider::Hubspot => {
                let s = &settings.hubspot;
                Some(OauthApp {
                    provider,
                    client_id: s.client_id.clone().filter(|c| !c.trim().is_empty())?,
                    client_secret: s.client_secret.clone()?,
                    authorize_url: s.authorize_url.clone(),
                    token_url: s.token_url.clone(),
                    redirect_url,
                })
            }
            CrmProvider::Salesforce => {
                let s = &settings.salesforce;
                let login = login_url.unwrap_or(&s.login_url);
                Some(OauthApp {
                    provider,
                    client_id: s.client_id.clone().filter(|c| !c.trim().is_empty())?,
                    client_secret: s.client_secret.clone()?,
                    authorize_url: login.join("/services/oauth2/authorize").ok()?,
                    token_url: login.join("/services/oauth2/token").ok()?,
                    redirect_url,
                })
            }
        }
    }

    fn client(&self) -> OauthClient {
        oauth2::Client::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                self.client_secret.expose_secret().to_owned(),
            ))
            .set_auth_uri(AuthUrl::from_url(self.authorize_url.clone()))
            .set_token_uri(TokenUrl::from_url(self.token_url.clone()))
            .set_redirect_uri(RedirectUrl::from_url(self.redirect_url.clone()))
            .set_auth_type(AuthType::RequestBody)
    }
}

/// Where to send the person, and what to keep in their session to check the answer.
pub struct AuthorizeStart {
    pub url: Url,
    /// The `state` parameter (random, single use).
    pub state: String,
    /// The PKCE verifier (kept server-side; only its S256 challenge leaves).
    pub pkce_verifier: SecretString,
}

/// The authorize URL with a fresh state and PKCE challenge.
pub fn authorize(app: &OauthApp) -> AuthorizeStart {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let client = app.client();
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge);
    match app.provider {
        CrmProvider::Hubspot => {
            request = request
                .add_scopes(HUBSPOT_SCOPES.map(|s| Scope::new(s.to_owned())))
                .add_extra_param("optional_scope", HUBSPOT_OPTIONAL_SCOPES.join(" "));
        }
        CrmProvider::Salesforce => {
            request = request.add_scopes(SALESFORCE_SCOPES.map(|s| Scope::new(s.to_owned())));
        }
    }
    let (url, state) = request.url();
    AuthorizeStart {
        url,
        state: state.secret().clone(),
        pkce_verifier: SecretString::from(verifier.secret().clone()),
    }
}

/// Tokens from a code exchange or a refresh.
pub struct TokenSet {
    pub access_token: SecretString,
    /// Absent from Salesforce refreshes: keep the one stored.
    pub refresh_token: Option<SecretString>,
    pub expires_in: Option<Duration>,
    pub scopes: Vec<String>,
    pub hub_id: Option<String>,
    pub instance_url: Option<String>,
    pub identity_url: Option<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("expires_in", &self.expires_in)
            .field("scopes", &self.scopes)
            .field("hub_id", &self.hub_id)
            .field("instance_url", &self.instance_url)
            .finish_non_exhaustive()
    }
}

/// Why the token endpoint did not give tokens.
#[derive(Debug, thiserror::Error)]
pub enum OauthError {
    /// The provider refused (a bad, used or expired code, a revoked refresh token, a wrong
    /// client secret): `code` is its OAuth error code.
    #[error("{provider} refused: {description}")]
    Rejected {
        provider: &'static str,
        code: String,
        description: String,
    },
    /// The provider could not be reached or answered with a server error.
    #[error("{0} could not be reached")]
    Unreachable(&'static str),
    /// The answer was not a token answer.
    #[error("{0} answered something that is not a token")]
    Malformed(&'static str),
}

impl OauthError {
    /// Whether the provider refused for good (reconnecting is the only fix).
    pub fn is_rejection(&self) -> bool {
        matches!(self, OauthError::Rejected { .. })
    }
}

/// Exchanges an authorization code (with its PKCE verifier) for tokens.
pub async fn exchange_code(
    http: &reqwest::Client,
    app: &OauthApp,
    code: &str,
    verifier: &SecretString,
) -> Result<TokenSet, OauthError> {
    let client = app.client();
    let answer = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose_secret().to_owned()))
        .request_async(http)
        .await;
    token_set(app.provider, answer)
}

/// Gets a new access token with the refresh token.
pub async fn refresh(
    http: &reqwest::Client,
    app: &OauthApp,
    refresh_token: &SecretString,
) -> Result<TokenSet, OauthError> {
    let client = app.client();
    let token = RefreshToken::new(refresh_token.expose_secret().to_owned());
    let answer = client
        .exchange_refresh_token(&token)
        .request_async(http)
        .await;
    token_set(app.provider, answer)
}

type Answer = Result<
    ProviderTokenResponse,
    RequestTokenError<oauth2::HttpClientError<reqwest::Error>, BasicErrorResponse>,
>;

fn token_set(provider: CrmProvider, answer: Answer) -> Result<TokenSet, OauthError> {
    let label = provider.label();
    let response = answer.map_err(|e| match e {
        RequestTokenError::ServerResponse(err) => OauthError::Rejected {
            provider: label,
            code: error_code(err.error()),
            description: err
                .error_description()
                .cloned()
                .unwrap_or_else(|| error_code(err.error())),
        },
        RequestTokenError::Request(_) => OauthError::Unreachable(label),
        RequestTokenError::Parse(_, body) => rejection_without_error_field(label, &body),
        RequestTokenError::Other(_) => OauthError::Malformed(label),
    })?;
    let extra = response.extra_fields();
    let mut scopes: Vec<String> = response
        .scopes()
        .map(|s| s.iter().map(|s| s.to_string()).collect())
        .unwrap_or_default();
    if let Some(array) = &extra.scopes {
        scopes.extend(array.iter().cloned());
    }
    scopes.sort();
    scopes.dedup();
    Ok(TokenSet {
        access_token: SecretString::from(response.access_token().secret().clone()),
        refresh_token: response
            .refresh_token()
            .map(|t| SecretString::from(t.secret().clone())),
        expires_in: response.expires_in(),
        scopes,
        hub_id: extra.hub_id.as_ref().and_then(value_text),
        instance_url: extra.instance_url.clone(),
        identity_url: extra.id.clone(),
    })
}

fn error_code(e: &BasicErrorResponseType) -> String {
    e.to_string()
}

/// A JSON string or number as text.
pub(crate) fn value_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// HubSpot sometimes answers a refused exchange with `{status, message}` and no `error`; a 5xx
/// page is not a refusal at all.
fn rejection_without_error_field(provider: &'static str, body: &[u8]) -> OauthError {
    #[derive(Deserialize)]
    struct Loose {
        status: Option<String>,
        message: Option<String>,
        error: Option<String>,
        error_description: Option<String>,
    }
    match serde_json::from_slice::<Loose>(body) {
        Ok(l) if l.status.is_some() || l.message.is_some() || l.error.is_some() => {
            OauthError::Rejected {
                provider,
                code: l.error.or(l.status).unwrap_or_else(|| "refused".into()),
                description: l
                    .error_description
                    .or(l.message)
                    .unwrap_or_else(|| "the request was refused".into()),
            }
        }
        _ => OauthError::Unreachable(provider),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(provider: CrmProvider) -> OauthApp {
        OauthApp {
            provider,
            client_id: "client-1".into(),
            client_secret: SecretString::from("secret-1"),
            authorize_url: "https://app.hubspot.com/oauth/authorize".parse().unwrap(),
            token_url: "https://api.hubapi.com/oauth/v1/token".parse().unwrap(),
            redirect_url: "https://debrief.example/oauth/hubspot/callback"
                .parse()
                .unwrap(),
        }
    }

    #[test]
    fn the_authorize_url_carries_state_an_s256_challenge_and_space_separated_scopes() {
        let start = authorize(&app(CrmProvider::Hubspot));
        let q: std::collections::HashMap<String, String> =
            start.url.query_pairs().into_owned().collect();
        assert_eq!(q["client_id"], "client-1");
        assert_eq!(q["state"], start.state);
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["response_type"], "code");
        assert_eq!(
            q["redirect_uri"],
            "https://debrief.example/oauth/hubspot/callback"
        );
        assert_eq!(q["scope"], HUBSPOT_SCOPES.join(" "));
        assert_eq!(q["optional_scope"], "crm.objects.owners.read");
        assert!(start.state.len() >= 20);
        let other = authorize(&app(CrmProvider::Hubspot));
        assert_ne!(other.state, start.state, "state is random");
    }

    #[test]
    fn a_hubspot_refusal_without_an_error_field_is_still_a_refusal() {
        let e = rejection_without_error_field(
            "HubSpot",
            br#"{"status":"BAD_AUTH_CODE","message":"missing or unknown auth code"}"#,
        );
        assert!(e.is_rejection(), "{e}");
        assert!(!rejection_without_error_field("HubSpot", b"<html>502</html>").is_rejection());
    }
}
