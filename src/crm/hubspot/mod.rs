//! HubSpot's CRM v3 API for one portal: companies and contacts (listed with `after` paging, or
//! searched by last modification), notes and tasks with their associations, the token's portal
//! (introspection) and the refresh-token delete. Calls are paced per portal (`pacing.rs`).
//!
//! HubSpot has no idempotency key. A push records a key in the note's body; when a create's
//! answer was lost, the notes associated with the first associated company or contact (an
//! association read, consistent at once — unlike search, which lags) are read back and the one
//! carrying the key is updated instead of creating another.

mod wire;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use url::Url;

use crate::crm::activity::{ActivityKind, push_key_marker};
use crate::crm::pacing::AccountPacer;
use crate::crm::{
    Activity, CrmClient, CrmCompany, CrmContact, CrmError, MAX_BODY_BYTES, Page, PushedRecord,
    read_body, retry_after,
};
use crate::domain::CrmProvider;

use wire::{ErrorBody, ObjectPage, ObjectRecord};

/// Records per listing page (HubSpot allows 100).
const PAGE_SIZE: u32 = 100;
/// Association type ids (`HUBSPOT_DEFINED`).
const NOTE_TO_CONTACT: u32 = 202;
const NOTE_TO_COMPANY: u32 = 190;
const TASK_TO_CONTACT: u32 = 204;
const TASK_TO_COMPANY: u32 = 192;

const COMPANY_PROPERTIES: &str = "name,domain,hs_additional_domains,hs_lastmodifieddate";
const CONTACT_PROPERTIES: &str =
    "email,firstname,lastname,jobtitle,associatedcompanyid,lastmodifieddate";

/// One portal's API, with a valid access token.
pub struct HubspotClient {
    http: reqwest::Client,
    base: Url,
    /// Where people open records (`https://app.hubspot.com`).
    app_base: Url,
    portal_id: String,
    token: SecretString,
    pacer: Arc<AccountPacer>,
    /// Owner ids by email, as looked up (`None`: no owner has that email).
    owners: std::sync::Mutex<std::collections::HashMap<String, Option<String>>>,
}

impl HubspotClient {
    /// A client for `portal_id` at `base` (the API base URL).
    pub fn new(
        http: reqwest::Client,
        base: Url,
        app_base: Url,
        portal_id: String,
        token: SecretString,
        pacer: Arc<AccountPacer>,
    ) -> HubspotClient {
        HubspotClient {
            http,
            base,
            app_base,
            portal_id,
            token,
            pacer,
            owners: std::sync::Mutex::default(),
        }
    }

    /// The HubSpot owner with `email`, if any (`GET /crm/v3/owners?email=`). Without the optional
    /// owners scope HubSpot answers 403: then no task gets an owner.
    async fn owner_id(&self, email: &str) -> Result<Option<String>, CrmError> {
        let email = email.trim().to_lowercase();
        if let Some(known) = self
            .owners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&email)
        {
            return Ok(known.clone());
        }
        let found = match self
            .call(
                Method::GET,
                "/crm/v3/owners",
                &[("email", email.clone()), ("limit", "1".to_owned())],
                None,
                false,
            )
            .await
        {
            Ok(page) => page
                .get("results")
                .and_then(Value::as_array)
                .and_then(|r| r.first())
                .and_then(|o| o.get("id"))
                .and_then(crate::crm::oauth::value_text),
            Err(CrmError::Permanent(m)) if m.starts_with("403") => None,
            Err(e) => return Err(e),
        };
        self.owners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(email, found.clone());
        Ok(found)
    }

    fn url(&self, path: &str) -> Result<Url, CrmError> {
        self.base
            .join(path)
            .map_err(|_| CrmError::Permanent(format!("bad HubSpot path {path}")))
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
        search: bool,
    ) -> Result<Value, CrmError> {
        if search {
            self.pacer.search().await;
        } else {
            self.pacer.call().await;
        }
        let mut request = self
            .http
            .request(method, self.url(path)?)
            .bearer_auth(self.token.expose_secret())
            .query(query);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| CrmError::from_send(&e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = read_body(response, MAX_BODY_BYTES).await?;
        if status.is_success() {
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text).map_err(|_| {
                CrmError::NoAnswer("HubSpot answered something that is not JSON".into())
            });
        }
        Err(error_for(status, &headers, &text))
    }

    fn record_url(&self, activity: &Activity) -> Option<String> {
        let (object, id) = match (activity.company_ids.first(), activity.contact_ids.first()) {
            (Some(c), _) => ("0-2", c),
            (None, Some(c)) => ("0-1", c),
            _ => return None,
        };
        self.app_base
            .join(&format!(
                "/contacts/{}/record/{object}/{id}",
                self.portal_id
            ))
            .ok()
            .map(String::from)
    }

    fn object_of(activity: &Activity) -> (&'static str, u32, u32) {
        match activity.kind {
            ActivityKind::Meeting => ("notes", NOTE_TO_CONTACT, NOTE_TO_COMPANY),
            ActivityKind::ActionItem { .. } => ("tasks", TASK_TO_CONTACT, TASK_TO_COMPANY),
        }
    }

    async fn properties(&self, activity: &Activity) -> Result<Value, CrmError> {
        let ts = activity
            .timestamp
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut properties = match activity.kind {
            ActivityKind::Meeting => json!({
                "hs_timestamp": ts,
                "hs_note_body": activity.body,
            }),
            ActivityKind::ActionItem { .. } => json!({
                "hs_timestamp": ts,
                "hs_task_subject": activity.subject,
                "hs_task_body": activity.body,
                "hs_task_status": if activity.completed { "COMPLETED" } else { "NOT_STARTED" },
                "hs_task_priority": "MEDIUM",
                "hs_task_type": "TODO",
            }),
        };
        if let Some(email) = &activity.assignee_email
            && let Some(owner) = self.owner_id(email).await?
        {
            properties["hubspot_owner_id"] = Value::String(owner);
        }
        Ok(properties)
    }

    fn associations(activity: &Activity) -> Vec<(&'static str, &String, u32)> {
        let (_, to_contact, to_company) = Self::object_of(activity);
        activity
            .contact_ids
            .iter()
            .map(|id| ("contacts", id, to_contact))
            .chain(
                activity
                    .company_ids
                    .iter()
                    .map(|id| ("companies", id, to_company)),
            )
            .collect()
    }

    async fn create(&self, activity: &Activity) -> Result<String, CrmError> {
        let (object, _, _) = Self::object_of(activity);
        let associations: Vec<Value> = Self::associations(activity)
            .into_iter()
            .map(|(_, id, type_id)| {
                json!({
                    "to": {"id": id},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
                })
            })
            .collect();
        let body =
            json!({"properties": self.properties(activity).await?, "associations": associations});
        let created = self
            .call(
                Method::POST,
                &format!("/crm/v3/objects/{object}"),
                &[],
                Some(body),
                false,
            )
            .await?;
        created
            .get("id")
            .and_then(crate::crm::oauth::value_text)
            .ok_or_else(|| CrmError::NoAnswer("HubSpot's answer has no record id".into()))
    }

    async fn update(&self, id: &str, activity: &Activity) -> Result<(), CrmError> {
        let (object, _, _) = Self::object_of(activity);
        self.call(
            Method::PATCH,
            &format!("/crm/v3/objects/{object}/{id}"),
            &[],
            Some(json!({"properties": self.properties(activity).await?})),
            false,
        )
        .await?;
        // A customer linked since the last push: associate it too (PUT is idempotent).
        for (to_type, to_id, type_id) in Self::associations(activity) {
            self.call(
                Method::PUT,
                &format!("/crm/v3/objects/{object}/{id}/associations/{to_type}/{to_id}/{type_id}"),
                &[],
                None,
                false,
            )
            .await?;
        }
        Ok(())
    }

    /// The record an earlier create made, found by the push key in its body among the records
    /// associated with the activity's first company or contact.
    async fn find(&self, activity: &Activity) -> Result<Option<String>, CrmError> {
        let (object, _, _) = Self::object_of(activity);
        let Some((from_type, from_id)) = activity
            .company_ids
            .first()
            .map(|id| ("companies", id))
            .or_else(|| activity.contact_ids.first().map(|id| ("contacts", id)))
        else {
            return Ok(None);
        };
        let marker = push_key_marker(&activity.push_key);
        let body_property = match activity.kind {
            ActivityKind::Meeting => "hs_note_body",
            ActivityKind::ActionItem { .. } => "hs_task_body",
        };
        // Every associated record's id first (cheap pages of 500), then the newest first: the
        // record a lost create made is among the most recent, so it is usually the first batch.
        let mut ids: Vec<String> = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut query = vec![("limit", "500".to_owned())];
            if let Some(a) = &after {
                query.push(("after", a.clone()));
            }
            let page: wire::AssociationPage = serde_json::from_value(
                self.call(
                    Method::GET,
                    &format!("/crm/v3/objects/{from_type}/{from_id}/associations/{object}"),
                    &query,
                    None,
                    false,
                )
                .await?,
            )
            .map_err(|_| CrmError::Transient("unreadable association page".into()))?;
            ids.extend(
                page.results
                    .iter()
                    .filter_map(|r| crate::crm::oauth::value_text(&r.id)),
            );
            match page.paging.and_then(|p| p.next).map(|n| n.after) {
                Some(a) => after = Some(a),
                None => break,
            }
        }
        // HubSpot ids grow over time; unknown shapes sort last.
        ids.sort_by_key(|id| std::cmp::Reverse(id.parse::<u64>().unwrap_or(0)));
        for chunk in ids.chunks(100) {
            let inputs: Vec<Value> = chunk.iter().map(|id| json!({"id": id})).collect();
            let read: wire::BatchRead = serde_json::from_value(
                self.call(
                    Method::POST,
                    &format!("/crm/v3/objects/{object}/batch/read"),
                    &[],
                    Some(json!({"inputs": inputs, "properties": [body_property], "propertiesWithHistory": []})),
                    false,
                )
                .await?,
            )
            .map_err(|_| CrmError::Transient("unreadable batch read".into()))?;
            if let Some(found) = read.results.iter().find(|r| {
                r.properties
                    .get(body_property)
                    .and_then(Value::as_str)
                    .is_some_and(|b| b.contains(&marker))
            }) {
                return Ok(crate::crm::oauth::value_text(&found.id));
            }
        }
        Ok(None)
    }

    async fn list<T>(
        &self,
        object: &str,
        properties: &str,
        modified_property: &str,
        since: Option<DateTime<Utc>>,
        cursor: Option<String>,
        convert: fn(ObjectRecord) -> Option<T>,
    ) -> Result<Page<T>, CrmError> {
        let value = match since {
            None => {
                let mut query = vec![
                    ("limit", PAGE_SIZE.to_string()),
                    ("properties", properties.to_owned()),
                    ("archived", "false".to_owned()),
                ];
                if let Some(after) = cursor {
                    query.push(("after", after));
                }
                self.call(
                    Method::GET,
                    &format!("/crm/v3/objects/{object}"),
                    &query,
                    None,
                    false,
                )
                .await?
            }
            Some(since) => {
                let mut body = json!({
                    "filterGroups": [{"filters": [{
                        "propertyName": modified_property,
                        "operator": "GT",
                        "value": since.timestamp_millis().to_string(),
                    }]}],
                    "sorts": [{"propertyName": modified_property, "direction": "ASCENDING"}],
                    "properties": properties.split(',').collect::<Vec<_>>(),
                    "limit": PAGE_SIZE,
                });
                if let Some(after) = cursor {
                    body["after"] = Value::String(after);
                }
                self.call(
                    Method::POST,
                    &format!("/crm/v3/objects/{object}/search"),
                    &[],
                    Some(body),
                    true,
                )
                .await?
            }
        };
        let page: ObjectPage = serde_json::from_value(value)
            .map_err(|_| CrmError::Transient(format!("unreadable {object} page")))?;
        Ok(Page {
            next: page.paging.and_then(|p| p.next).map(|n| n.after),
            records: page.results.into_iter().filter_map(convert).collect(),
        })
    }
}

#[async_trait]
impl CrmClient for HubspotClient {
    fn provider(&self) -> CrmProvider {
        CrmProvider::Hubspot
    }

    async fn companies(
        &self,
        since: Option<DateTime<Utc>>,
        cursor: Option<String>,
    ) -> Result<Page<CrmCompany>, CrmError> {
        self.list(
            "companies",
            COMPANY_PROPERTIES,
            "hs_lastmodifieddate",
            since,
            cursor,
            wire::company,
        )
        .await
    }

    async fn contacts(
        &self,
        since: Option<DateTime<Utc>>,
        cursor: Option<String>,
    ) -> Result<Page<CrmContact>, CrmError> {
        // Contacts keep their modification time in `lastmodifieddate` (other objects:
        // `hs_lastmodifieddate`).
        self.list(
            "contacts",
            CONTACT_PROPERTIES,
            "lastmodifieddate",
            since,
            cursor,
            wire::contact,
        )
        .await
    }

    async fn push(
        &self,
        activity: &Activity,
        existing: Option<&str>,
        in_doubt: bool,
    ) -> Result<PushedRecord, CrmError> {
        let known = match existing {
            Some(id) => Some(id.to_owned()),
            None if in_doubt => self.find(activity).await?,
            None => None,
        };
        let id = match known {
            Some(id) => match self.update(&id, activity).await {
                Ok(()) => id,
                // Deleted in HubSpot meanwhile: write it again.
                Err(CrmError::Permanent(m)) if m.starts_with("404") => {
                    self.create(activity).await?
                }
                Err(e) => return Err(e),
            },
            None => self.create(activity).await?,
        };
        Ok(PushedRecord {
            url: self.record_url(activity),
            id,
        })
    }
}

/// Maps a failed answer to what the caller does next.
fn error_for(status: StatusCode, headers: &reqwest::header::HeaderMap, text: &str) -> CrmError {
    let body: ErrorBody = serde_json::from_str(text).unwrap_or_default();
    let message = body.message.clone().unwrap_or_else(|| status.to_string());
    match status.as_u16() {
        401 => CrmError::Unauthorized,
        429 => {
            let wait = retry_after(headers).unwrap_or_else(|| match body.policy_name.as_deref() {
                // Daily cap: nothing frees up soon.
                Some("DAILY") => std::time::Duration::from_secs(3600),
                // A rolling window frees a few slots every second.
                _ => std::time::Duration::from_secs(1),
            });
            CrmError::RateLimited { retry_after: wait }
        }
        423 => CrmError::RateLimited {
            retry_after: std::time::Duration::from_secs(2),
        },
        477 => CrmError::RateLimited {
            retry_after: retry_after(headers).unwrap_or(std::time::Duration::from_secs(30)),
        },
        // A gateway that gave up may have let the request through.
        502 | 504 => CrmError::NoAnswer(format!("HubSpot answered {status}")),
        s if s >= 500 => CrmError::Transient(format!("HubSpot answered {status}")),
        s => CrmError::Permanent(format!("{s} {message}")),
    }
}

/// The portal (hub id) and its domain that `access_token` belongs to, from HubSpot's token
/// information endpoint (`GET /oauth/v1/access-tokens/{token}`), or its v3 introspection
/// (`POST /oauth/v3/token/introspect`) where the first is gone.
pub async fn token_portal(
    http: &reqwest::Client,
    api_base: &Url,
    client_id: &str,
    client_secret: &SecretString,
    access_token: &SecretString,
) -> Result<(String, Option<String>, Option<String>), CrmError> {
    let url = api_base
        .join(&format!(
            "/oauth/v1/access-tokens/{}",
            access_token.expose_secret()
        ))
        .map_err(|_| CrmError::Permanent("bad HubSpot URL".into()))?;
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| CrmError::from_send(&e))?;
    let response = if matches!(response.status().as_u16(), 404 | 405 | 410) {
        let url = api_base
            .join("/oauth/v3/token/introspect")
            .map_err(|_| CrmError::Permanent("bad HubSpot URL".into()))?;
        http.post(url)
            .form(&[
                ("client_id", client_id),
                ("client_secret", client_secret.expose_secret()),
                ("token_type_hint", "access_token"),
                ("token", access_token.expose_secret()),
            ])
            .send()
            .await
            .map_err(|e| CrmError::from_send(&e))?
    } else {
        response
    };
    let status = response.status();
    let headers = response.headers().clone();
    let text = read_body(response, MAX_BODY_BYTES).await?;
    if !status.is_success() {
        return Err(error_for(status, &headers, &text));
    }
    let info: wire::TokenInfo = serde_json::from_str(&text)
        .map_err(|_| CrmError::Transient("unreadable token information".into()))?;
    if info.active == Some(false) {
        return Err(CrmError::Unauthorized);
    }
    let hub = info
        .hub_id
        .as_ref()
        .and_then(crate::crm::oauth::value_text)
        .ok_or_else(|| CrmError::Transient("token information names no portal".into()))?;
    Ok((hub, info.hub_domain, info.user))
}

/// Deletes `refresh_token` at HubSpot (its documented revocation): later refreshes fail.
pub async fn revoke(
    http: &reqwest::Client,
    api_base: &Url,
    refresh_token: &SecretString,
) -> Result<(), CrmError> {
    let url = api_base
        .join(&format!(
            "/oauth/v1/refresh-tokens/{}",
            refresh_token.expose_secret()
        ))
        .map_err(|_| CrmError::Permanent("bad HubSpot URL".into()))?;
    let response = http
        .delete(url)
        .send()
        .await
        .map_err(|e| CrmError::from_send(&e))?;
    let status = response.status();
    if status.is_success() || status == StatusCode::NOT_FOUND {
        return Ok(());
    }
    let headers = response.headers().clone();
    let text = read_body(response, MAX_BODY_BYTES).await?;
    Err(error_for(status, &headers, &text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_to_what_the_caller_does_next() {
        let h = reqwest::header::HeaderMap::new();
        let rolling = r#"{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","correlationId":"c","policyName":"TEN_SECONDLY_ROLLING"}"#;
        assert!(matches!(
            error_for(StatusCode::TOO_MANY_REQUESTS, &h, rolling),
            CrmError::RateLimited { retry_after } if retry_after.as_secs() == 1
        ));
        let daily = rolling.replace("TEN_SECONDLY_ROLLING", "DAILY");
        assert!(matches!(
            error_for(StatusCode::TOO_MANY_REQUESTS, &h, &daily),
            CrmError::RateLimited { retry_after } if retry_after.as_secs() == 3600
        ));
        assert!(matches!(
            error_for(StatusCode::UNAUTHORIZED, &h, "{}"),
            CrmError::Unauthorized
        ));
        assert!(
            matches!(
                error_for(StatusCode::SERVICE_UNAVAILABLE, &h, "<html>"),
                CrmError::Transient(_)
            ),
            "a server error made nothing"
        );
        assert!(
            matches!(
                error_for(StatusCode::GATEWAY_TIMEOUT, &h, "<html>"),
                CrmError::NoAnswer(_)
            ),
            "a gateway that gave up may have let the write through"
        );
        let bad = r#"{"status":"error","message":"Property values were not valid","category":"VALIDATION_ERROR","correlationId":"x"}"#;
        match error_for(StatusCode::BAD_REQUEST, &h, bad) {
            CrmError::Permanent(m) => assert!(m.contains("Property values were not valid"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
