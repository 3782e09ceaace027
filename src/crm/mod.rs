//! The CRMs Debrief connects to, over HTTP only (no database): OAuth (`oauth.rs`), the HubSpot and
//! Salesforce API clients behind one [`CrmClient`] trait, what a meeting becomes in a CRM
//! (`activity.rs`), and per-account call pacing (`pacing.rs`).

pub mod activity;
pub mod hubspot;
pub mod oauth;
pub mod pacing;
pub mod salesforce;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use activity::{Activity, ActivityKind, MeetingForCrm};

use crate::domain::CrmProvider;

/// Why a CRM call failed, sorted by what the caller does next.
#[derive(Debug, thiserror::Error)]
pub enum CrmError {
    /// The access token was refused: refresh it once, then ask for a reconnect.
    #[error("the CRM refused the access token")]
    Unauthorized,
    /// Too many calls: wait this long (the provider's own figure where it gives one).
    #[error("the CRM's rate limit was reached; retry in {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// The CRM answered with a server error: worth retrying with backoff; it made nothing.
    #[error("the CRM is unavailable ({0})")]
    Transient(String),
    /// No usable answer came (a timeout, a dropped connection, a gateway timeout, an unreadable
    /// success): the CRM may have done what was asked. Retry, looking before creating again.
    #[error("the CRM did not answer ({0})")]
    NoAnswer(String),
    /// The CRM refused the request for a reason retrying will not change.
    #[error("the CRM refused the request: {0}")]
    Permanent(String),
}

impl CrmError {
    /// Whether trying again later could succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CrmError::RateLimited { .. }
                | CrmError::Transient(_)
                | CrmError::NoAnswer(_)
                | CrmError::Unauthorized
        )
    }

    /// A timeout or dropped connection: the CRM may have acted on the request.
    pub fn from_send(err: &reqwest::Error) -> CrmError {
        if err.is_timeout() {
            CrmError::NoAnswer("no answer in time".into())
        } else {
            CrmError::NoAnswer("the connection failed".into())
        }
    }
}

/// A company (HubSpot) or account (Salesforce).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmCompany {
    pub id: String,
    pub name: String,
    /// Web domains as the CRM holds them (not yet normalised).
    pub domains: Vec<String>,
    pub modified_at: Option<DateTime<Utc>>,
}

/// A person in the CRM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmContact {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub title: Option<String>,
    /// The company/account the CRM associates the person with.
    pub company_id: Option<String>,
    pub modified_at: Option<DateTime<Utc>>,
}

/// One page of a listing, and where the next one starts.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub records: Vec<T>,
    pub next: Option<String>,
}

/// A record Debrief wrote, and where a person opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedRecord {
    pub id: String,
    pub url: Option<String>,
}

/// What Debrief does with a connected CRM account.
#[async_trait]
pub trait CrmClient: Send + Sync {
    /// Which CRM this is.
    fn provider(&self) -> CrmProvider;

    /// Companies (accounts) modified after `since` (all when `None`), one page from `cursor`.
    async fn companies(
        &self,
        since: Option<DateTime<Utc>>,
        cursor: Option<String>,
    ) -> Result<Page<CrmCompany>, CrmError>;

    /// Contacts modified after `since` (all when `None`), one page from `cursor`.
    async fn contacts(
        &self,
        since: Option<DateTime<Utc>>,
        cursor: Option<String>,
    ) -> Result<Page<CrmContact>, CrmError>;

    /// Writes `activity`: updates `existing` when Debrief knows the record, else creates it — and
    /// when an earlier create's answer was lost (`in_doubt`), first finds the record that create
    /// made by the push key written into it, so a lost answer never becomes a second record.
    async fn push(
        &self,
        activity: &Activity,
        existing: Option<&str>,
        in_doubt: bool,
    ) -> Result<PushedRecord, CrmError>;
}

/// Reads a response body of at most `limit` bytes as text (larger → a permanent error).
pub(crate) async fn read_body(
    response: reqwest::Response,
    limit: usize,
) -> Result<String, CrmError> {
    if response
        .content_length()
        .is_some_and(|n| n as usize > limit)
    {
        return Err(CrmError::Permanent("answer too large".into()));
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| CrmError::from_send(&e))?;
    if bytes.len() > limit {
        return Err(CrmError::Permanent("answer too large".into()));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Largest answer read from a CRM (a page of 100 records with properties is far smaller).
pub(crate) const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// The `Retry-After` header in seconds, if present.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Parses an RFC 3339 time or epoch milliseconds (HubSpot uses both).
pub(crate) fn parse_time(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some(t.with_timezone(&Utc));
    }
    // Salesforce: `2024-01-01T10:00:00.000+0000`.
    if let Ok(t) = DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(t.with_timezone(&Utc));
    }
    value
        .parse::<i64>()
        .ok()
        .and_then(DateTime::<Utc>::from_timestamp_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_each_providers_formats_parse() {
        let expected = DateTime::parse_from_rfc3339("2025-03-04T15:58:40Z").unwrap();
        for s in [
            "2025-03-04T15:58:40Z",
            "2025-03-04T15:58:40.000Z",
            "2025-03-04T15:58:40.000+0000",
            "1741103920000",
        ] {
            assert_eq!(parse_time(s), Some(expected.with_timezone(&Utc)), "{s}");
        }
        assert_eq!(parse_time("yesterday"), None);
    }
}
