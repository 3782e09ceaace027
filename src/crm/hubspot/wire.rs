//! HubSpot's JSON as it arrives, every field optional where HubSpot may leave it out.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use crate::crm::oauth::value_text;
use crate::crm::{CrmCompany, CrmContact, parse_time};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub message: Option<String>,
    pub policy_name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Next {
    pub after: String,
}

#[derive(Debug, Deserialize)]
pub struct Paging {
    pub next: Option<Next>,
}

#[derive(Debug, Deserialize)]
pub struct ObjectRecord {
    pub id: Value,
    #[serde(default)]
    pub properties: HashMap<String, Value>,
    #[serde(default, rename = "updatedAt")]
    pub updated_at: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ObjectPage {
    #[serde(default)]
    pub results: Vec<ObjectRecord>,
    pub paging: Option<Paging>,
}

#[derive(Debug, Deserialize)]
pub struct AssociationRecord {
    pub id: Value,
}

#[derive(Debug, Deserialize)]
pub struct AssociationPage {
    #[serde(default)]
    pub results: Vec<AssociationRecord>,
    pub paging: Option<Paging>,
}

#[derive(Debug, Deserialize)]
pub struct BatchRead {
    #[serde(default)]
    pub results: Vec<ObjectRecord>,
}

#[derive(Debug, Deserialize)]
pub struct TokenInfo {
    pub active: Option<bool>,
    pub hub_id: Option<Value>,
    pub hub_domain: Option<String>,
    pub user: Option<String>,
}

fn text(r: &ObjectRecord, name: &str) -> Option<String> {
    r.properties
        .get(name)
        .and_then(value_text)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn modified(r: &ObjectRecord, name: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    text(r, name)
        .as_deref()
        .and_then(parse_time)
        .or_else(|| r.updated_at.as_deref().and_then(parse_time))
}

/// A company record, or `None` when it has no id.
pub fn company(r: ObjectRecord) -> Option<CrmCompany> {
    let id = value_text(&r.id)?;
    let mut domains: Vec<String> = text(&r, "domain").into_iter().collect();
    if let Some(more) = text(&r, "hs_additional_domains") {
        domains.extend(
            more.split(';')
                .map(|d| d.trim().to_owned())
                .filter(|d| !d.is_empty()),
        );
    }
    let name = text(&r, "name")
        .or_else(|| domains.first().cloned())
        .unwrap_or_else(|| format!("HubSpot company {id}"));
    Some(CrmCompany {
        modified_at: modified(&r, "hs_lastmodifieddate"),
        id,
        name,
        domains,
    })
}

/// A contact record, or `None` when it has no id.
pub fn contact(r: ObjectRecord) -> Option<CrmContact> {
    let id = value_text(&r.id)?;
    let name = match (text(&r, "firstname"), text(&r, "lastname")) {
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
        (f, l) => f.or(l),
    };
    Some(CrmContact {
        modified_at: modified(&r, "lastmodifieddate"),
        email: text(&r, "email"),
        title: text(&r, "jobtitle"),
        company_id: text(&r, "associatedcompanyid"),
        name,
        id,
    })
}
