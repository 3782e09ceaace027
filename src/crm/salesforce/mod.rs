//! Salesforce's REST API for one org at its `instance_url`: Accounts and Contacts by SOQL (paged
//! with `nextRecordsUrl`, incremental on `SystemModstamp`), a completed Task per meeting written by
//! upsert on the external-id field `Debrief_Push_Key__c` (so a retry or a lost answer updates the
//! same Task), the identity URL and token revocation.

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use crate::crm::{
    Activity, CrmClient, CrmCompany, CrmContact, CrmError, MAX_BODY_BYTES, Page, PushedRecord,
    parse_time, read_body, retry_after,
};
use crate::domain::CrmProvider;

/// The Task field holding Debrief's push key (an External ID field the org adds once).
pub const PUSH_KEY_FIELD: &str = "Debrief_Push_Key__c";

/// One org's REST API, with a valid access token.
pub struct SalesforceClient {
    http: reqwest::Client,
    instance_url: Url,
    api_version: String,
    token: SecretString,
}

#[derive(Debug, Deserialize)]
struct QueryPage {
    #[serde(default)]
    records: Vec<std::collections::HashMap<String, Value>>,
    #[serde(rename = "nextRecordsUrl")]
    next_records_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorItem {
    message: Option<String>,
    error_code: Option<String>,
}

impl SalesforceClient {
    /// A client for the org at `instance_url`, speaking REST `api_version` (e.g. `v65.0`).
    pub fn new(
        http: reqwest::Client,
        instance_url: Url,
        api_version: String,
        token: SecretString,
    ) -> SalesforceClient {
        SalesforceClient {
            http,
            instance_url,
            api_version,
            token,
        }
    }

    fn data_path(&self, rest: &str) -> String {
        format!("/services/data/{}/{rest}", self.api_version)
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<(StatusCode, Value), CrmError> {
        let url = self
            .instance_url
            .join(path)
            .map_err(|_| CrmError::Permanent(format!("bad Salesforce path {path}")))?;
        let mut request = self
            .http
            .request(method, url)
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
            let value = if text.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).map_err(|_| {
                    CrmError::NoAnswer("Salesforce answered something that is not JSON".into())
                })?
            };
            return Ok((status, value));
        }
        Err(error_for(status, &headers, &text))
    }

    async fn query(&self, soql: &str, cursor: Option<String>) -> Result<QueryPage, CrmError> {
        let (_, value) = match cursor {
            // `nextRecordsUrl` is a path on the instance (`/services/data/vXX.X/query/01g…-2000`).
            Some(next) if next.starts_with("/services/data/") => {
                self.call(Method::GET, &next, &[], None).await?
            }
            Some(_) => return Err(CrmError::Permanent("unexpected nextRecordsUrl".into())),
            None => {
                self.call(
                    Method::GET,
                    &self.data_path("query"),
                    &[("q", soql.to_owned())],
                    None,
                )
                .await?
            }
        };
        serde_json::from_value(value)
            .map_err(|_| CrmError::Transient("unreadable query answer".into()))
    }
}

fn field(record: &std::collections::HashMap<String, Value>, name: &str) -> Option<String> {
    record
        .get(name)
        .and_then(Value::as_str)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn since_clause(since: Option<DateTime<Utc>>) -> String {
    // SOQL datetime literals are unquoted ISO 8601.
    since
        .map(|t| {
            format!(
                " WHERE SystemModstamp > {}",
                t.to_rfc3339_opts(SecondsFormat::Secs, true)
            )
        })
        .unwrap_or_default()
}

/// The host of an Account's free-text `Website` (`https://www.acme.com/about` → `www.acme.com`).
pub fn website_domain(website: &str) -> Option<String> {
    let w = website.trim();
    if w.is_empty() {
        return None;
    }
    let with_scheme = if w.contains("://") {
        w.to_owned()
    } else {
        format!("https://{w}")
    };
    Url::parse(&with_scheme)
        .ok()?
        .host_str()
        .map(str::to_owned)
        .filter(|h| h.contains('.'))
}

#[async_trait]
impl CrmClient for SalesforceClient {
    fn provider(&self) -> CrmProvider {
        CrmProvider::Salesforce
    }

    async fn companies(
        &self,
        since: Option<DateTime<Utc>>,
        cursor: Option<String>,
    ) -> Result<Page<CrmCompany>, CrmError> {
        let soql = format!(
            "SELECT Id, Name, Website, SystemModstamp FROM Account{} ORDER BY SystemModstamp, Id",
            since_clause(since)
        );
        let page = self.query(&soql, cursor).await?;
        Ok(Page {
            next: page.next_records_url,
            records: page
                .records
                .iter()
                .filter_map(|r| {
                    let id = field(r, "Id")?;
                    let domains: Vec<String> = field(r, "Website")
                        .as_deref()
                        .and_then(website_domain)
                        .into_iter()
                        .collect();
                    Some(CrmCompany {
                        name: field(r, "Name").unwrap_or_else(|| format!("Account {id}")),
                        modified_at: field(r, "SystemModstamp").as_deref().and_then(parse_time),
                        id,
                        domains,
                    })
                })
                .collect(),
        })
    }

    async fn contacts(
        &self,
        since: Option<DateTime<Utc>>,
        cursor: Option<String>,
    ) -> Result<Page<CrmContact>, CrmError> {
        let soql = format!(
            "SELECT Id, Email, Name, Title, AccountId, SystemModstamp FROM Contact{} ORDER BY SystemModstamp, Id",
            since_clause(since)
        );
        let page = self.query(&soql, cursor).await?;
        Ok(Page {
            next: page.next_records_url,
            records: page
                .records
                .iter()
                .filter_map(|r| {
                    Some(CrmContact {
                        id: field(r, "Id")?,
                        email: field(r, "Email"),
                        name: field(r, "Name"),
                        title: field(r, "Title"),
                        company_id: field(r, "AccountId"),
                        modified_at: field(r, "SystemModstamp").as_deref().and_then(parse_time),
                    })
                })
                .collect(),
        })
    }

    async fn push(
        &self,
        activity: &Activity,
        existing: Option<&str>,
        _in_doubt: bool,
    ) -> Result<PushedRecord, CrmError> {
        let mut body = json!({
            "Subject": activity.subject,
            "Description": activity.body,
            "ActivityDate": activity.timestamp.format("%Y-%m-%d").to_string(),
            "Status": "Completed",
            "Priority": "Normal",
        });
        if let Some(who) = activity.contact_ids.first() {
            body["WhoId"] = Value::String(who.clone());
        }
        if let Some(what) = activity.company_ids.first() {
            body["WhatId"] = Value::String(what.clone());
        }
        // Upsert by Debrief's key: the first call creates, every later one (a retry, a lost answer,
        // a changed meeting) updates that same Task.
        let path = self.data_path(&format!(
            "sobjects/Task/{PUSH_KEY_FIELD}/{}",
            percent_encoding::utf8_percent_encode(
                &activity.push_key,
                percent_encoding::NON_ALPHANUMERIC
            )
        ));
        let (_, answer) = self.call(Method::PATCH, &path, &[], Some(body)).await?;
        let id = match answer.get("id").and_then(Value::as_str) {
            Some(id) => id.to_owned(),
            // API versions before 46.0 answer an update with 204 and no body.
            None => match existing {
                Some(id) => id.to_owned(),
                None => {
                    let (_, found) = self
                        .call(Method::GET, &path, &[("fields", "Id".to_owned())], None)
                        .await?;
                    found
                        .get("Id")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| CrmError::Transient("Salesforce named no Task id".into()))?
                }
            },
        };
        let url = self
            .instance_url
            .join(&format!("/{id}"))
            .ok()
            .map(String::from);
        Ok(PushedRecord { id, url })
    }
}

fn error_for(status: StatusCode, headers: &reqwest::header::HeaderMap, text: &str) -> CrmError {
    let items: Vec<ErrorItem> = serde_json::from_str(text).unwrap_or_default();
    let first = items.into_iter().next().unwrap_or_default();
    let code = first.error_code.unwrap_or_default();
    let message = first.message.unwrap_or_else(|| status.to_string());
    match (status.as_u16(), code.as_str()) {
        (401, _) | (_, "INVALID_SESSION_ID") => CrmError::Unauthorized,
        // Salesforce has no 429: an exhausted daily allocation is a 403.
        (403, "REQUEST_LIMIT_EXCEEDED") => CrmError::RateLimited {
            retry_after: retry_after(headers).unwrap_or(std::time::Duration::from_secs(900)),
        },
        (502 | 504, _) => CrmError::NoAnswer(format!("Salesforce answered {status}")),
        (s, _) if s >= 500 => CrmError::Transient(format!("Salesforce answered {status}")),
        (300, _) => CrmError::Permanent(format!(
            "several Salesforce Tasks carry the same {PUSH_KEY_FIELD}"
        )),
        (404, "NOT_FOUND") | (400, "INVALID_FIELD") if message.contains(PUSH_KEY_FIELD) => {
            CrmError::Permanent(format!(
                "this Salesforce org has no External ID field {PUSH_KEY_FIELD} on Task (add it once, see the README)"
            ))
        }
        (s, _) => CrmError::Permanent(format!("{s} {code}: {message}")),
    }
}

/// Org id, user id and username of the identity URL (`{login}/id/{org id}/{user id}`).
pub async fn identity(
    http: &reqwest::Client,
    identity_url: &str,
    access_token: &SecretString,
) -> Result<(String, String, Option<String>), CrmError> {
    let url = Url::parse(identity_url)
        .map_err(|_| CrmError::Permanent("Salesforce sent an unreadable identity URL".into()))?;
    let parts: Vec<&str> = url
        .path_segments()
        .map(Iterator::collect)
        .unwrap_or_default();
    let (org, user) = match parts.as_slice() {
        [.., "id", org, user] => ((*org).to_owned(), (*user).to_owned()),
        _ => {
            return Err(CrmError::Permanent(
                "Salesforce's identity URL names no org and user".into(),
            ));
        }
    };
    // The username is nice to show; the ids above are what matter.
    let username = match http
        .get(url)
        .bearer_auth(access_token.expose_secret())
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => r
            .json::<Value>()
            .await
            .ok()
            .and_then(|v| v.get("username").and_then(Value::as_str).map(str::to_owned)),
        _ => None,
    };
    Ok((org, user, username))
}

/// Revokes `token` (the refresh token revokes the whole grant).
pub async fn revoke(
    http: &reqwest::Client,
    login_url: &Url,
    token: &SecretString,
) -> Result<(), CrmError> {
    let url = login_url
        .join("/services/oauth2/revoke")
        .map_err(|_| CrmError::Permanent("bad Salesforce URL".into()))?;
    let response = http
        .post(url)
        .form(&[("token", token.expose_secret())])
        .send()
        .await
        .map_err(|e| CrmError::from_send(&e))?;
    let status = response.status();
    // An already revoked or expired token is the outcome wanted.
    if status.is_success() || status == StatusCode::BAD_REQUEST {
        return Ok(());
    }
    Err(CrmError::Transient(format!("Salesforce answered {status}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websites_give_their_host() {
        assert_eq!(
            website_domain("https://www.acme.com/about").as_deref(),
            Some("www.acme.com")
        );
        assert_eq!(website_domain("acme.co.uk").as_deref(), Some("acme.co.uk"));
        assert_eq!(website_domain("  "), None);
        assert_eq!(website_domain("localhost"), None);
    }

    #[test]
    fn the_error_array_maps_to_what_the_caller_does_next() {
        let h = reqwest::header::HeaderMap::new();
        let expired =
            r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#;
        assert!(matches!(
            error_for(StatusCode::UNAUTHORIZED, &h, expired),
            CrmError::Unauthorized
        ));
        let limit =
            r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#;
        assert!(matches!(
            error_for(StatusCode::FORBIDDEN, &h, limit),
            CrmError::RateLimited { .. }
        ));
        let bad = r#"[{"message":"Subject: bad value","errorCode":"FIELD_CUSTOM_VALIDATION_EXCEPTION","fields":["Subject"]}]"#;
        match error_for(StatusCode::BAD_REQUEST, &h, bad) {
            CrmError::Permanent(m) => {
                assert!(m.contains("FIELD_CUSTOM_VALIDATION_EXCEPTION"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }
}
