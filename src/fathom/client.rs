//! The HTTP client for Fathom's External API: one `reqwest::Client` with a timeout on every call,
//! the base URL from configuration, `X-Api-Key` auth, and errors typed by what a caller does next
//! (reconnect, wait, retry, give up). Response bodies of failures are kept short and only for logs.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use url::Url;

use super::types::{
    CreateWebhook, InviteesDomainsType, Meeting, MeetingSummary, Page, SummaryResponse,
    TranscriptItem, TranscriptResponse, TriggeredFor, WebhookWire,
};

/// What went wrong talking to Fathom, by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum FathomError {
    /// The key is missing, wrong, revoked or expired: the connection needs a new key.
    #[error("Fathom rejected the API key (401)")]
    Unauthorized,
    /// The user may not do this (403, or another refusal such as a deactivated user's key).
    #[error("Fathom refused the request ({status})")]
    Forbidden { status: u16 },
    /// Too many calls: wait `retry_after` (or the window) and try again.
    #[error("Fathom is rate-limiting this key (429)")]
    RateLimited {
        /// From `Retry-After`, when sent.
        retry_after: Option<Duration>,
        /// The `RateLimit-*` headers of the 429, when sent.
        limits: RateLimit,
    },
    /// Fathom did not accept the parameters or body (400).
    #[error("Fathom rejected the request as invalid (400): {detail}")]
    BadRequest { detail: String },
    /// The thing does not exist (404), e.g. an already deleted webhook.
    #[error("Fathom has no such resource (404)")]
    NotFound,
    /// Fathom failed (5xx): retry later.
    #[error("Fathom answered with a server error ({status})")]
    Server { status: u16 },
    /// No answer within the timeout: retry later.
    #[error("Fathom did not answer in time")]
    Timeout,
    /// Fathom could not be reached at all (DNS, refused connection, TLS): retry later.
    #[error("Fathom could not be reached")]
    Unreachable,
    /// Fathom answered 2xx with a body Debrief cannot read.
    #[error("Fathom's answer could not be read: {detail}")]
    Decode { detail: String },
    /// Fathom answered with a redirect, which Debrief does not follow (the API key would go along
    /// to wherever it points); the base URL is probably wrong.
    #[error("Fathom answered with a redirect ({status}); check the Fathom base URL")]
    Redirected { status: u16 },
    /// The answer was larger than Debrief reads.
    #[error("Fathom's answer was larger than {limit} bytes; it was not read")]
    TooLarge { limit: usize },
}

impl FathomError {
    /// Whether the same call may succeed later without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            FathomError::RateLimited { .. }
                | FathomError::Server { .. }
                | FathomError::Timeout
                | FathomError::Unreachable
        )
    }
}

/// The `RateLimit-*` headers of an answer (all optional: Fathom "may" send them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// Calls allowed in the window.
    pub limit: Option<u32>,
    /// Calls left in the window.
    pub remaining: Option<u32>,
    /// Time until the window resets (the unit is unstated; read as seconds).
    pub reset: Option<Duration>,
}

impl RateLimit {
    fn from_headers(headers: &HeaderMap) -> RateLimit {
        RateLimit {
            limit: header_number(headers, "ratelimit-limit").map(|n| n as u32),
            remaining: header_number(headers, "ratelimit-remaining").map(|n| n as u32),
            reset: header_number(headers, "ratelimit-reset").map(reset_delay),
        }
    }
}

/// Values beyond a day cannot be a window's seconds-left: read them as a Unix time (the unit of
/// `RateLimit-Reset` is not documented), never as a wait longer than the time until then.
fn reset_delay(value: u64) -> Duration {
    const DAY: u64 = 86_400;
    if value <= DAY {
        return Duration::from_secs(value);
    }
    let now = Utc::now().timestamp().max(0) as u64;
    Duration::from_secs(value.saturating_sub(now).min(DAY))
}

/// A successful answer and the rate-limit state it reported.
#[derive(Debug, Clone)]
pub struct Fetched<T> {
    pub body: T,
    pub rate_limit: RateLimit,
}

/// Filters and content flags of `GET /meetings`; `Default` asks for everything, metadata only.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListMeetings {
    pub calendar_invitees_domains: Vec<String>,
    pub calendar_invitees_domains_type: Option<InviteesDomainsType>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub cursor: Option<String>,
    pub include_action_items: bool,
    pub include_crm_matches: bool,
    pub include_highlights: bool,
    pub include_summary: bool,
    pub include_transcript: bool,
    /// A meeting type's name (newer API) or `internal`/`external` (older).
    pub meeting_type: Option<String>,
    /// Recorder emails.
    pub recorded_by: Vec<String>,
    /// Team names.
    pub teams: Vec<String>,
}

impl ListMeetings {
    /// Everything Debrief ingests: transcript, summary, action items and highlights inlined.
    pub fn with_content() -> ListMeetings {
        ListMeetings {
            include_action_items: true,
            include_highlights: true,
            include_summary: true,
            include_transcript: true,
            ..ListMeetings::default()
        }
    }

    /// The query string pairs, arrays as repeated `name[]=` entries.
    pub fn query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        for d in &self.calendar_invitees_domains {
            q.push(("calendar_invitees_domains[]", d.clone()));
        }
        if let Some(t) = &self.calendar_invitees_domains_type {
            let text = match t {
                InviteesDomainsType::All => "all".to_owned(),
                InviteesDomainsType::OnlyInternal => "only_internal".to_owned(),
                InviteesDomainsType::OneOrMoreExternal => "one_or_more_external".to_owned(),
                InviteesDomainsType::Other(s) => s.clone(),
            };
            q.push(("calendar_invitees_domains_type", text));
        }
        if let Some(t) = self.created_after {
            q.push(("created_after", iso(t)));
        }
        if let Some(t) = self.created_before {
            q.push(("created_before", iso(t)));
        }
        if let Some(c) = &self.cursor {
            q.push(("cursor", c.clone()));
        }
        for (name, on) in [
            ("include_action_items", self.include_action_items),
            ("include_crm_matches", self.include_crm_matches),
            ("include_highlights", self.include_highlights),
            ("include_summary", self.include_summary),
            ("include_transcript", self.include_transcript),
        ] {
            if on {
                q.push((name, "true".to_owned()));
            }
        }
        if let Some(t) = &self.meeting_type {
            q.push(("meeting_type", t.clone()));
        }
        for e in &self.recorded_by {
            q.push(("recorded_by[]", e.clone()));
        }
        for t in &self.teams {
            q.push(("teams[]", t.clone()));
        }
        q
    }
}

/// A webhook Fathom created: its id and signing secret must be stored at once (they cannot be
/// fetched later).
#[derive(Debug, Clone)]
pub struct CreatedWebhook {
    pub id: String,
    pub secret: SecretString,
    /// The flags Fathom echoed differ from those asked for (kept for the log; the webhook works).
    pub flags_differ: bool,
}

/// Fathom's External API at a configured base URL.
#[derive(Debug, Clone)]
pub struct FathomClient {
    http: reqwest::Client,
    base_url: Url,
    max_body_bytes: usize,
}

/// Largest answer read by default (a page of ten long meetings with transcripts is a few MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Largest error body read (only its start is logged).
const MAX_ERROR_BODY_BYTES: usize = 4096;

impl FathomClient {
    /// A client for `base_url` (e.g. `https://api.fathom.ai/external/v1`) whose every call gives up
    /// after `timeout`.
    pub fn new(base_url: &Url, timeout: Duration) -> anyhow::Result<FathomClient> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("Debrief/", env!("CARGO_PKG_VERSION")))
            // A redirect would carry X-Api-Key to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let mut base_url = base_url.clone();
        if !base_url.path().ends_with('/') {
            let path = format!("{}/", base_url.path());
            base_url.set_path(&path);
        }
        Ok(FathomClient {
            http,
            base_url,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        })
    }

    /// The same client reading answers of at most `limit` bytes.
    pub fn with_max_body_bytes(mut self, limit: usize) -> FathomClient {
        self.max_body_bytes = limit;
        self
    }

    /// One page of `GET /meetings`.
    pub async fn list_meetings(
        &self,
        api_key: &SecretString,
        query: &ListMeetings,
    ) -> Result<Fetched<Page<Meeting>>, FathomError> {
        let request = self
            .request(Method::GET, "meetings", api_key)?
            .query(&query.query_pairs());
        self.send_json(request).await
    }

    /// The summary of one recording (`GET /recordings/{id}/summary`, synchronous form).
    pub async fn recording_summary(
        &self,
        api_key: &SecretString,
        recording_id: i64,
    ) -> Result<Fetched<Option<MeetingSummary>>, FathomError> {
        let path = format!("recordings/{recording_id}/summary");
        let request = self.request(Method::GET, &path, api_key)?;
        let fetched: Fetched<SummaryResponse> = self.send_json(request).await?;
        Ok(Fetched {
            body: fetched.body.summary,
            rate_limit: fetched.rate_limit,
        })
    }

    /// The transcript of one recording (`GET /recordings/{id}/transcript`, synchronous form).
    pub async fn recording_transcript(
        &self,
        api_key: &SecretString,
        recording_id: i64,
    ) -> Result<Fetched<Vec<TranscriptItem>>, FathomError> {
        let path = format!("recordings/{recording_id}/transcript");
        let request = self.request(Method::GET, &path, api_key)?;
        let fetched: Fetched<TranscriptResponse> = self.send_json(request).await?;
        Ok(Fetched {
            body: fetched.body.transcript,
            rate_limit: fetched.rate_limit,
        })
    }

    /// Registers a webhook (`POST /webhooks` → 201). A 2xx without an id or a usable secret is a
    /// `Decode` error: such a webhook could never be verified or deleted.
    pub async fn create_webhook(
        &self,
        api_key: &SecretString,
        body: &CreateWebhook,
    ) -> Result<CreatedWebhook, FathomError> {
        let request = self.request(Method::POST, "webhooks", api_key)?.json(body);
        let wire: WebhookWire = self.send_json(request).await?.body;
        let id = wire.id.filter(|id| !id.trim().is_empty());
        let secret = wire.secret.filter(|s| s.len() > "whsec_".len());
        let (Some(id), Some(secret)) = (id, secret) else {
            return Err(FathomError::Decode {
                detail: "webhook created without an id or secret".into(),
            });
        };
        let echoed_differs = |echo: Option<bool>, asked: bool| echo.is_some_and(|e| e != asked);
        let flags_differ = echoed_differs(wire.include_transcript, body.include_transcript)
            || echoed_differs(wire.include_summary, body.include_summary)
            || echoed_differs(wire.include_action_items, body.include_action_items)
            || wire.triggered_for.as_ref().is_some_and(|t| {
                !body
                    .triggered_for
                    .iter()
                    .all(|asked: &TriggeredFor| t.contains(asked))
            });
        Ok(CreatedWebhook {
            id,
            secret: SecretString::from(secret),
            flags_differ,
        })
    }

    /// Deletes a webhook (`DELETE /webhooks/{id}` → 204). An already deleted one is `NotFound`.
    pub async fn delete_webhook(
        &self,
        api_key: &SecretString,
        webhook_id: &str,
    ) -> Result<(), FathomError> {
        let mut url = self.url("webhooks")?;
        url.path_segments_mut()
            .map_err(|()| FathomError::Decode {
                detail: "base URL cannot take a path".into(),
            })?
            .push(webhook_id);
        let request = self.with_key(self.http.request(Method::DELETE, url), api_key);
        self.send(request).await.map(|_| ())
    }

    fn url(&self, path: &str) -> Result<Url, FathomError> {
        self.base_url.join(path).map_err(|e| FathomError::Decode {
            detail: format!("bad request path: {e}"),
        })
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        api_key: &SecretString,
    ) -> Result<reqwest::RequestBuilder, FathomError> {
        let url = self.url(path)?;
        Ok(self.with_key(self.http.request(method, url), api_key))
    }

    fn with_key(
        &self,
        request: reqwest::RequestBuilder,
        api_key: &SecretString,
    ) -> reqwest::RequestBuilder {
        // Marked sensitive so no layer of the HTTP stack ever prints it.
        match reqwest::header::HeaderValue::from_str(api_key.expose_secret()) {
            Ok(mut value) => {
                value.set_sensitive(true);
                request
                    .header("X-Api-Key", value)
                    .header("Accept", "application/json")
            }
            // Not a valid header value: send none, so Fathom answers 401 like for a wrong key.
            Err(_) => request.header("Accept", "application/json"),
        }
    }

    async fn send_json<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Fetched<T>, FathomError> {
        let (bytes, rate_limit) = self.send(request).await?;
        let body = serde_json::from_slice(&bytes).map_err(|e| FathomError::Decode {
            detail: e.to_string(),
        })?;
        Ok(Fetched { body, rate_limit })
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(bytes::Bytes, RateLimit), FathomError> {
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        let headers = response.headers().clone();
        let rate_limit = RateLimit::from_headers(&headers);
        if status.is_success() {
            let bytes = read_capped(response, self.max_body_bytes).await?;
            return Ok((bytes, rate_limit));
        }
        if status.is_redirection() {
            return Err(FathomError::Redirected {
                status: status.as_u16(),
            });
        }
        let detail = short_body(response).await;
        tracing::debug!(status = status.as_u16(), %detail, "Fathom answered with an error");
        Err(match status {
            StatusCode::UNAUTHORIZED => FathomError::Unauthorized,
            StatusCode::TOO_MANY_REQUESTS => FathomError::RateLimited {
                retry_after: retry_after(&headers),
                limits: rate_limit,
            },
            StatusCode::BAD_REQUEST => FathomError::BadRequest { detail },
            StatusCode::NOT_FOUND => FathomError::NotFound,
            s if s.is_server_error() => FathomError::Server { status: s.as_u16() },
            s => FathomError::Forbidden { status: s.as_u16() },
        })
    }
}

fn transport_error(e: reqwest::Error) -> FathomError {
    if e.is_timeout() {
        FathomError::Timeout
    } else if e.is_decode() || e.is_body() {
        FathomError::Decode {
            detail: "the answer was cut off".into(),
        }
    } else {
        FathomError::Unreachable
    }
}

/// The whole body, or `TooLarge` as soon as it passes `limit` bytes (read no further).
async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<bytes::Bytes, FathomError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(FathomError::TooLarge { limit });
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > limit {
            return Err(FathomError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The first 300 characters of an error body, for logs: error bodies are unspecified.
async fn short_body(response: reqwest::Response) -> String {
    let bytes = read_capped(response, MAX_ERROR_BODY_BYTES)
        .await
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).chars().take(300).collect()
}

fn header_number(headers: &HeaderMap, name: &str) -> Option<u64> {
    let text = headers.get(name)?.to_str().ok()?.trim();
    text.parse::<u64>()
        .ok()
        .or_else(|| text.parse::<f64>().ok().map(|f| f.max(0.0).ceil() as u64))
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(secs) = header_number(headers, "retry-after") {
        return Some(Duration::from_secs(secs));
    }
    let text = headers.get("retry-after")?.to_str().ok()?;
    let when = DateTime::parse_from_rfc2822(text).ok()?.with_timezone(&Utc);
    (when - Utc::now()).to_std().ok().or(Some(Duration::ZERO))
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn query_repeats_array_names_with_brackets_and_sends_only_true_flags() {
        let q = ListMeetings {
            teams: vec!["Sales".into(), "CS".into()],
            recorded_by: vec!["a@x.com".into()],
            calendar_invitees_domains: vec!["acme.com".into()],
            created_after: Some("2025-03-01T17:01:30Z".parse().unwrap()),
            include_summary: true,
            calendar_invitees_domains_type: Some(InviteesDomainsType::OneOrMoreExternal),
            ..ListMeetings::default()
        };
        let pairs = q.query_pairs();
        assert!(pairs.contains(&("teams[]", "Sales".into())));
        assert!(pairs.contains(&("teams[]", "CS".into())));
        assert!(pairs.contains(&("recorded_by[]", "a@x.com".into())));
        assert!(pairs.contains(&("calendar_invitees_domains[]", "acme.com".into())));
        assert!(pairs.contains(&("created_after", "2025-03-01T17:01:30Z".into())));
        assert!(pairs.contains(&("include_summary", "true".into())));
        assert!(pairs.contains(&(
            "calendar_invitees_domains_type",
            "one_or_more_external".into()
        )));
        assert!(!pairs.iter().any(|(k, _)| *k == "include_transcript"));
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("17"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(17)));
        let later = (Utc::now() + chrono::Duration::seconds(120)).to_rfc2822();
        h.insert("retry-after", HeaderValue::from_str(&later).unwrap());
        let d = retry_after(&h).unwrap();
        assert!(d > Duration::from_secs(100) && d <= Duration::from_secs(120));
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn rate_limit_headers_are_read_when_present() {
        let mut h = HeaderMap::new();
        assert_eq!(RateLimit::from_headers(&h), RateLimit::default());
        h.insert("RateLimit-Limit", HeaderValue::from_static("60"));
        h.insert("RateLimit-Remaining", HeaderValue::from_static("0"));
        h.insert("RateLimit-Reset", HeaderValue::from_static("12.5"));
        assert_eq!(
            RateLimit::from_headers(&h),
            RateLimit {
                limit: Some(60),
                remaining: Some(0),
                reset: Some(Duration::from_secs(13)),
            }
        );
    }

    #[test]
    fn a_reset_given_as_a_unix_time_is_read_as_the_time_left() {
        let in_30_s = (Utc::now().timestamp() + 30) as u64;
        let d = reset_delay(in_30_s);
        assert!(
            d >= Duration::from_secs(28) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        assert_eq!(reset_delay(45), Duration::from_secs(45));
        assert_eq!(
            reset_delay(1_000_000),
            Duration::ZERO,
            "a time in the past means no wait"
        );
    }
}
