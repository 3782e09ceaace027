//! The CRM simulator's memory: OAuth codes and tokens, HubSpot portals and Salesforce orgs with
//! their records, rate windows, injected faults and the call log.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{CrmSim, SeedCompany, SeedContact};

/// Which simulated provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Hubspot,
    Salesforce,
}

/// One request the simulator answered.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    pub method: String,
    pub path: String,
    pub status: u16,
}

/// Counters tests and benchmarks read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub hubspot_refreshes: u64,
    pub salesforce_refreshes: u64,
    pub code_exchanges: u64,
    pub rate_limited: u64,
    pub revocations: u64,
    pub api_calls: u64,
}

/// What an injected fault does to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 429 with the provider's body (Salesforce: 403 `REQUEST_LIMIT_EXCEEDED`).
    RateLimited,
    /// 500.
    ServerError,
    /// 401 as for an expired token.
    Unauthorized,
    /// A create (or upsert) is carried out, then the answer is held past any client timeout.
    TimeoutAfterCreate,
}

/// A fault for the next `count` matching API calls.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    pub kind: FaultKind,
    pub count: u32,
    /// Only this provider's calls (`None`: both).
    #[serde(default)]
    pub provider: Option<Provider>,
}

impl Fault {
    /// `kind` for the next `count` calls of either provider.
    pub fn new(kind: FaultKind, count: u32) -> Fault {
        Fault {
            kind,
            count,
            provider: None,
        }
    }
}

/// A record of either CRM, as the control API and tests see it.
#[derive(Debug, Clone, Serialize)]
pub struct SimRecord {
    pub id: String,
    pub properties: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub archived: bool,
    pub associations: Vec<Association>,
}

/// A HubSpot association from a record to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Association {
    pub to_type: String,
    pub to_id: String,
    pub type_id: u32,
}

pub struct Code {
    pub provider: Provider,
    pub client_id: String,
    pub redirect_uri: String,
    pub challenge: Option<String>,
    pub scopes: Vec<String>,
    pub account: String,
    pub issued: Instant,
    pub used: bool,
    /// Tokens issued for it: revoked if the code is presented twice.
    pub refresh_token: Option<String>,
}

pub struct AccessToken {
    pub provider: Provider,
    pub account: String,
    pub expires_at: Instant,
    pub revoked: bool,
    pub refresh_token: Option<String>,
    pub scopes: Vec<String>,
}

pub struct RefreshGrant {
    pub provider: Provider,
    pub client_id: String,
    pub account: String,
    pub revoked: bool,
    pub scopes: Vec<String>,
}

pub struct Portal {
    pub hub_domain: String,
    pub user: String,
    pub objects: BTreeMap<String, BTreeMap<u64, SimRecord>>,
    pub next_id: u64,
    pub calls: VecDeque<Instant>,
    pub searches: VecDeque<Instant>,
}

pub struct SalesforceOrg {
    pub user_id: String,
    pub username: String,
    pub objects: BTreeMap<String, BTreeMap<String, SimRecord>>,
    pub next_id: u64,
    pub api_usage: u64,
}

/// A query's remaining rows, for `nextRecordsUrl`.
pub struct QueryCursor {
    pub rows: Vec<serde_json::Value>,
    pub total: usize,
}

#[derive(Default)]
pub struct Inner {
    pub calls: Vec<CallRecord>,
    pub stats: Stats,
    pub faults: Vec<Fault>,
    pub codes: HashMap<String, Code>,
    pub access: HashMap<String, AccessToken>,
    pub refresh: HashMap<String, RefreshGrant>,
    pub portals: BTreeMap<u64, Portal>,
    pub orgs: BTreeMap<String, SalesforceOrg>,
    pub cursors: HashMap<String, QueryCursor>,
    /// Share of API calls that get a random fault (benchmarks), and how many were injected.
    pub fault_ratio: f64,
    pub random_faults: u64,
}

impl Inner {
    /// Takes one count of the first fault that applies to `provider`.
    pub fn take_fault(&mut self, provider: Provider) -> Option<FaultKind> {
        if self.fault_ratio > 0.0 && rand::thread_rng().gen_bool(self.fault_ratio.min(1.0)) {
            self.random_faults += 1;
            // Server errors and lost answers; 429s come from the real limits.
            const MIX: [FaultKind; 2] = [FaultKind::ServerError, FaultKind::TimeoutAfterCreate];
            return Some(MIX[(self.random_faults % 2) as usize]);
        }
        let i = self
            .faults
            .iter()
            .position(|f| f.count > 0 && f.provider.is_none_or(|p| p == provider))?;
        let kind = self.faults[i].kind;
        self.faults[i].count -= 1;
        if self.faults[i].count == 0 {
            self.faults.remove(i);
        }
        Some(kind)
    }
}

pub struct SimState {
    pub config: CrmSim,
    pub base_url: String,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for SimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimState")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// A random token-like string.
pub fn random_token(prefix: &str) -> String {
    let mut rng = rand::thread_rng();
    let body: String = (0..40)
        .map(|_| {
            let n = rng.gen_range(0..62u8);
            (match n {
                0..=9 => b'0' + n,
                10..=35 => b'a' + n - 10,
                _ => b'A' + n - 36,
            }) as char
        })
        .collect();
    format!("{prefix}{body}")
}

/// An 18-character Salesforce id with the object's key prefix.
fn salesforce_id(prefix: &str, n: u64) -> String {
    format!("{prefix}5g{n:010}AAQ")
}

/// The key prefix of a Salesforce object's ids.
pub fn salesforce_prefix(object: &str) -> Option<&'static str> {
    match object {
        "Account" => Some("001"),
        "Contact" => Some("003"),
        "Task" => Some("00T"),
        _ => None,
    }
}

impl SimState {
    pub fn new(config: CrmSim, base_url: String) -> SimState {
        let state = SimState {
            inner: Mutex::new(Inner::default()),
            base_url,
            config,
        };
        {
            let mut inner = state.lock();
            for p in &state.config.portals {
                inner.portals.insert(
                    p.hub_id,
                    Portal {
                        hub_domain: p.hub_domain.clone(),
                        user: p.user.clone(),
                        objects: BTreeMap::new(),
                        next_id: 1001,
                        calls: VecDeque::new(),
                        searches: VecDeque::new(),
                    },
                );
            }
            for o in &state.config.salesforce_orgs {
                inner.orgs.insert(
                    o.org_id.clone(),
                    SalesforceOrg {
                        user_id: o.user_id.clone(),
                        username: o.username.clone(),
                        objects: BTreeMap::new(),
                        next_id: 1,
                        api_usage: 0,
                    },
                );
            }
        }
        for p in &state.config.portals {
            for c in &p.companies {
                let _ = state.add_hubspot_company(p.hub_id, c);
            }
            for c in &p.contacts {
                let _ = state.add_hubspot_contact(p.hub_id, c);
            }
        }
        for o in &state.config.salesforce_orgs {
            for a in &o.accounts {
                let _ = state.add_salesforce_account(&o.org_id, a);
            }
            for c in &o.contacts {
                let _ = state.add_salesforce_contact(&o.org_id, c);
            }
        }
        state
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn hubspot_records(&self, hub_id: u64, object: &str) -> Vec<SimRecord> {
        self.lock()
            .portals
            .get(&hub_id)
            .and_then(|p| p.objects.get(object))
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn salesforce_records(&self, org_id: &str, object: &str) -> Vec<SimRecord> {
        self.lock()
            .orgs
            .get(org_id)
            .and_then(|o| o.objects.get(object))
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn add_hubspot_company(&self, hub_id: u64, c: &SeedCompany) -> anyhow::Result<String> {
        let mut props = BTreeMap::new();
        props.insert("name".to_owned(), c.name.clone());
        if let Some(d) = &c.domain {
            props.insert("domain".to_owned(), d.clone());
        }
        if !c.additional_domains.is_empty() {
            props.insert(
                "hs_additional_domains".to_owned(),
                c.additional_domains.join(";"),
            );
        }
        let mut inner = self.lock();
        let portal = inner
            .portals
            .get_mut(&hub_id)
            .ok_or_else(|| anyhow::anyhow!("no portal {hub_id}"))?;
        Ok(hubspot_insert(portal, "companies", props, Vec::new()))
    }

    pub fn add_hubspot_contact(&self, hub_id: u64, c: &SeedContact) -> anyhow::Result<String> {
        let mut props = BTreeMap::new();
        props.insert("email".to_owned(), c.email.clone());
        props.insert("firstname".to_owned(), c.first_name.clone());
        props.insert("lastname".to_owned(), c.last_name.clone());
        if let Some(t) = &c.title {
            props.insert("jobtitle".to_owned(), t.clone());
        }
        let mut inner = self.lock();
        let portal = inner
            .portals
            .get_mut(&hub_id)
            .ok_or_else(|| anyhow::anyhow!("no portal {hub_id}"))?;
        let company = c.company_domain.as_ref().and_then(|d| {
            portal.objects.get("companies").and_then(|cs| {
                cs.values()
                    .find(|r| r.properties.get("domain") == Some(d))
                    .map(|r| r.id.clone())
            })
        });
        let mut associations = Vec::new();
        if let Some(company) = &company {
            props.insert("associatedcompanyid".to_owned(), company.clone());
            associations.push(Association {
                to_type: "companies".into(),
                to_id: company.clone(),
                type_id: 1,
            });
        }
        Ok(hubspot_insert(portal, "contacts", props, associations))
    }

    pub fn change_hubspot_record(
        &self,
        hub_id: u64,
        object: &str,
        id: &str,
        properties: &[(&str, &str)],
    ) -> anyhow::Result<()> {
        let mut inner = self.lock();
        let record = inner
            .portals
            .get_mut(&hub_id)
            .and_then(|p| p.objects.get_mut(object))
            .and_then(|m| m.get_mut(&id.parse::<u64>().ok()?))
            .ok_or_else(|| anyhow::anyhow!("no {object} {id}"))?;
        for (k, v) in properties {
            record.properties.insert((*k).to_owned(), (*v).to_owned());
        }
        touch(record);
        Ok(())
    }

    pub fn add_salesforce_account(&self, org_id: &str, a: &SeedCompany) -> anyhow::Result<String> {
        let mut fields = BTreeMap::new();
        fields.insert("Name".to_owned(), a.name.clone());
        if let Some(d) = &a.domain {
            fields.insert("Website".to_owned(), format!("https://www.{d}"));
        }
        let mut inner = self.lock();
        let org = inner
            .orgs
            .get_mut(org_id)
            .ok_or_else(|| anyhow::anyhow!("no org {org_id}"))?;
        Ok(salesforce_insert(org, "Account", fields))
    }

    pub fn add_salesforce_contact(&self, org_id: &str, c: &SeedContact) -> anyhow::Result<String> {
        let mut inner = self.lock();
        let org = inner
            .orgs
            .get_mut(org_id)
            .ok_or_else(|| anyhow::anyhow!("no org {org_id}"))?;
        let account = c.company_domain.as_ref().and_then(|d| {
            org.objects.get("Account").and_then(|m| {
                m.values()
                    .find(|r| {
                        r.properties
                            .get("Website")
                            .is_some_and(|w| w.ends_with(d.as_str()))
                    })
                    .map(|r| r.id.clone())
            })
        });
        let mut fields = BTreeMap::new();
        fields.insert("Email".to_owned(), c.email.clone());
        fields.insert("FirstName".to_owned(), c.first_name.clone());
        fields.insert("LastName".to_owned(), c.last_name.clone());
        fields.insert(
            "Name".to_owned(),
            format!("{} {}", c.first_name, c.last_name),
        );
        if let Some(t) = &c.title {
            fields.insert("Title".to_owned(), t.clone());
        }
        if let Some(a) = account {
            fields.insert("AccountId".to_owned(), a);
        }
        Ok(salesforce_insert(org, "Contact", fields))
    }

    pub fn expire_access_tokens(&self) {
        let now = Instant::now();
        for t in self.lock().access.values_mut() {
            t.expires_at = now;
        }
    }

    pub fn revoke_refresh_tokens(&self) {
        for t in self.lock().refresh.values_mut() {
            t.revoked = true;
        }
    }

    /// Issues an access token (and, with `refresh`, reuses or creates a refresh token).
    pub fn issue(
        &self,
        inner: &mut Inner,
        provider: Provider,
        client_id: &str,
        account: &str,
        scopes: &[String],
        refresh: Option<String>,
    ) -> String {
        let ttl = match provider {
            Provider::Hubspot => self.config.hubspot_token_ttl,
            Provider::Salesforce => self.config.salesforce_session_ttl,
        };
        let prefix = match provider {
            Provider::Hubspot => "CJ",
            Provider::Salesforce => "00D!",
        };
        let token = random_token(prefix);
        inner.access.insert(
            token.clone(),
            AccessToken {
                provider,
                account: account.to_owned(),
                expires_at: Instant::now() + ttl,
                revoked: false,
                refresh_token: refresh.clone(),
                scopes: scopes.to_vec(),
            },
        );
        if let Some(r) = refresh {
            inner.refresh.entry(r).or_insert(RefreshGrant {
                provider,
                client_id: client_id.to_owned(),
                account: account.to_owned(),
                revoked: false,
                scopes: scopes.to_vec(),
            });
        }
        token
    }
}

/// Whether an access token is usable now, and for which account.
pub enum TokenCheck {
    Valid(String),
    Expired(Duration),
    Invalid,
}

pub fn check_token(inner: &mut Inner, token: Option<&str>, provider: Provider) -> TokenCheck {
    let Some(t) = token.and_then(|t| inner.access.get(t)) else {
        return TokenCheck::Invalid;
    };
    if t.provider != provider || t.revoked {
        return TokenCheck::Invalid;
    }
    let now = Instant::now();
    if t.expires_at <= now {
        return TokenCheck::Expired(now - t.expires_at);
    }
    TokenCheck::Valid(t.account.clone())
}

fn touch(record: &mut SimRecord) {
    // Strictly later than before, so "modified after" filters see every change.
    let now = Utc::now().max(record.updated_at + chrono::Duration::milliseconds(1));
    record.updated_at = now;
    let stamp = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    record
        .properties
        .insert("hs_lastmodifieddate".to_owned(), stamp.clone());
    record
        .properties
        .insert("lastmodifieddate".to_owned(), stamp);
}

/// Marks a HubSpot record modified now.
pub fn hubspot_touch(record: &mut SimRecord) {
    touch(record);
}

/// Inserts a HubSpot record; returns its id.
pub fn hubspot_insert(
    portal: &mut Portal,
    object: &str,
    mut properties: BTreeMap<String, String>,
    associations: Vec<Association>,
) -> String {
    let id = portal.next_id;
    portal.next_id += 1;
    let now = Utc::now();
    let stamp = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    properties.insert("hs_object_id".to_owned(), id.to_string());
    properties.insert("createdate".to_owned(), stamp.clone());
    properties.insert("hs_createdate".to_owned(), stamp.clone());
    properties.insert("hs_lastmodifieddate".to_owned(), stamp.clone());
    properties.insert("lastmodifieddate".to_owned(), stamp);
    portal.objects.entry(object.to_owned()).or_default().insert(
        id,
        SimRecord {
            id: id.to_string(),
            properties,
            created_at: now,
            updated_at: now,
            archived: false,
            associations,
        },
    );
    id.to_string()
}

/// Inserts a Salesforce record; returns its id.
pub fn salesforce_insert(
    org: &mut SalesforceOrg,
    object: &str,
    mut fields: BTreeMap<String, String>,
) -> String {
    let prefix = salesforce_prefix(object).unwrap_or("a00");
    let id = salesforce_id(prefix, org.next_id);
    org.next_id += 1;
    let now = Utc::now();
    let stamp = salesforce_time(now);
    fields.insert("Id".to_owned(), id.clone());
    fields.insert("CreatedDate".to_owned(), stamp.clone());
    fields.insert("LastModifiedDate".to_owned(), stamp.clone());
    fields.insert("SystemModstamp".to_owned(), stamp);
    org.objects.entry(object.to_owned()).or_default().insert(
        id.clone(),
        SimRecord {
            id: id.clone(),
            properties: fields,
            created_at: now,
            updated_at: now,
            archived: false,
            associations: Vec::new(),
        },
    );
    id
}

/// Salesforce's datetime format (`2024-01-01T10:00:00.000+0000`).
pub fn salesforce_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// Marks a Salesforce record modified now.
pub fn salesforce_touch(record: &mut SimRecord) {
    let now = Utc::now().max(record.updated_at + chrono::Duration::milliseconds(1));
    record.updated_at = now;
    let stamp = salesforce_time(now);
    record
        .properties
        .insert("LastModifiedDate".to_owned(), stamp.clone());
    record.properties.insert("SystemModstamp".to_owned(), stamp);
}
