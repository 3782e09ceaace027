//! `ImportCrmCustomers`: one run of importing a CRM connection's companies and contacts into the
//! org's customers and contacts (everything the first time, then what changed since the newest
//! modification seen, with an overlap for records the CRM's search shows late), one transaction
//! per page, then one re-match of the org.

use chrono::{DateTime, Utc};

use crate::crm::{CrmCompany, CrmContact, Page};
use crate::db;
use crate::db::crm_import_runs::ImportCounts;
use crate::db::crm_records::{Applied, CompanyRecord, ContactRecord};
use crate::domain::{CompanyDomain, Email};
use crate::jobs::crm_access::{self, CrmAccess};
use crate::jobs::crm_calls::{Next, next_step, refresh_after_401};
use crate::jobs::{self, ImportCrmCustomers};
use crate::state::AppState;

/// Pages of one listing a run fetches at most (a listing that never ends is an error).
const MAX_PAGES: i32 = 5_000;

/// How far behind the newest modification seen an incremental run starts: HubSpot's search
/// index shows recent writes late (configurable); SOQL reads are consistent. Re-applying a
/// record changes nothing.
pub fn overlap(
    settings: &crate::config::Settings,
    provider: crate::domain::CrmProvider,
) -> chrono::Duration {
    match provider {
        crate::domain::CrmProvider::Hubspot => {
            chrono::Duration::seconds(settings.hubspot.search_lag_seconds.max(0))
        }
        crate::domain::CrmProvider::Salesforce => chrono::Duration::zero(),
    }
}

enum Listing {
    Companies,
    Contacts,
}

enum Fetched {
    Companies(Page<CrmCompany>),
    Contacts(Page<CrmContact>),
}

async fn fetch(
    state: &AppState,
    access: &mut CrmAccess,
    what: &Listing,
    since: Option<DateTime<Utc>>,
    cursor: Option<String>,
) -> Result<Fetched, String> {
    let (mut refreshed, mut failures) = (false, 0u32);
    loop {
        let answer = match what {
            Listing::Companies => access
                .client
                .companies(since, cursor.clone())
                .await
                .map(Fetched::Companies),
            Listing::Contacts => access
                .client
                .contacts(since, cursor.clone())
                .await
                .map(Fetched::Contacts),
        };
        match answer {
            Ok(page) => return Ok(page),
            Err(e) => match next_step(e, refreshed, failures) {
                Next::Refresh => {
                    refreshed = true;
                    refresh_after_401(state, access).await?;
                }
                Next::Wait(pause) => {
                    failures += 1;
                    tokio::time::sleep(pause).await;
                }
                Next::GiveUp(e) => return Err(e.to_string()),
            },
        }
    }
}

fn bump(counts: &mut ImportCounts, applied: Applied, company: bool) {
    let field = match (applied, company) {
        (Applied::Created, true) => &mut counts.customers_created,
        (Applied::Updated, true) => &mut counts.customers_updated,
        (Applied::Linked, true) => &mut counts.customers_linked,
        (Applied::Created, false) => &mut counts.contacts_created,
        (Applied::Updated, false) => &mut counts.contacts_updated,
        (Applied::Linked, false) => &mut counts.contacts_linked,
        (Applied::Skipped, false) => &mut counts.contacts_skipped,
        _ => return,
    };
    *field += 1;
}

/// Runs `ImportCrmCustomers`.
pub async fn import_crm_customers(
    state: &AppState,
    args: ImportCrmCustomers,
) -> anyhow::Result<()> {
    let (org, connection) = (args.org_id, args.connection_id);
    let run = {
        let mut conn = state.db.acquire().await?;
        match db::crm_import_runs::start(&mut conn, org, args.run_id).await? {
            Some(run) => run,
            None => return Ok(()),
        }
    };
    let mut access = match crm_access::open(state, org, connection).await {
        Ok(a) => a,
        Err(e) => {
            let mut conn = state.db.acquire().await?;
            db::crm_import_runs::finish(&mut conn, org, run.id, Some(&e.to_string())).await?;
            return Ok(());
        }
    };
    let provider = access.connection.provider;
    let since = run.modified_since;
    let mut counts = ImportCounts::default();
    let mut newest: Option<DateTime<Utc>> = None;
    let mut failure: Option<String> = None;
    'listings: for listing in [Listing::Companies, Listing::Contacts] {
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let page = match fetch(state, &mut access, &listing, since, cursor.take()).await {
                Ok(p) => p,
                Err(e) => {
                    failure = Some(e);
                    break 'listings;
                }
            };
            pages += 1;
            counts.pages += 1;
            let mut tx = state.db.begin().await?;
            let next = match page {
                Fetched::Companies(page) => {
                    for c in &page.records {
                        counts.companies_seen += 1;
                        newest = newest.max(c.modified_at);
                        let domains: Vec<CompanyDomain> = c
                            .domains
                            .iter()
                            .filter_map(|d| CompanyDomain::parse(d).ok())
                            .collect();
                        let applied = db::crm_records::apply_company(
                            &mut tx,
                            org,
                            connection,
                            provider,
                            &CompanyRecord {
                                external_id: &c.id,
                                name: &c.name,
                                domains: &domains,
                                modified_at: c.modified_at,
                            },
                        )
                        .await?;
                        bump(&mut counts, applied, true);
                    }
                    page.next
                }
                Fetched::Contacts(page) => {
                    for c in &page.records {
                        counts.contacts_seen += 1;
                        newest = newest.max(c.modified_at);
                        let Some(email) = c.email.as_deref().and_then(|e| Email::parse(e).ok())
                        else {
                            counts.contacts_skipped += 1;
                            continue;
                        };
                        let applied = db::crm_records::apply_contact(
                            &mut tx,
                            org,
                            connection,
                            provider,
                            &ContactRecord {
                                external_id: &c.id,
                                email: email.as_str(),
                                name: c.name.as_deref(),
                                title: c.title.as_deref(),
                                company_external_id: c.company_id.as_deref(),
                                modified_at: c.modified_at,
                            },
                        )
                        .await?;
                        bump(&mut counts, applied, false);
                    }
                    page.next
                }
            };
            db::crm_import_runs::progress(&mut tx, org, run.id, &counts).await?;
            tx.commit().await?;
            match next {
                Some(n) if pages < MAX_PAGES => cursor = Some(n),
                Some(_) => {
                    failure = Some(format!("stopped after {MAX_PAGES} pages"));
                    break 'listings;
                }
                None => break,
            }
        }
    }
    let mut tx = state.db.begin().await?;
    db::crm_import_runs::finish(&mut tx, org, run.id, failure.as_deref()).await?;
    if failure.is_none()
        && let Some(through) = newest
    {
        db::crm_connections::set_imported_through(&mut tx, org, connection, through).await?;
    }
    if counts.changed_anything() {
        jobs::request_rematch(&mut tx, org).await?;
    }
    tx.commit().await?;
    tracing::info!(org_id = %org, connection_id = %connection, companies = counts.companies_seen,
        contacts = counts.contacts_seen, customers_created = counts.customers_created,
        failed = failure.is_some(), "CRM customers imported");
    Ok(())
}
