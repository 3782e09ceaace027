//! Which customer or contact each CRM record is: records an import created, and records linked
//! to a customer or contact someone had made already (same domain or email) — those are never
//! overwritten by the CRM.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::db::customers::Source;
use crate::domain::{CompanyDomain, ContactId, CrmConnectionId, CrmProvider, CustomerId, OrgId};

/// What applying one CRM record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Created,
    Updated,
    /// Linked to an existing customer/contact of ours, left as it was.
    Linked,
    Unchanged,
    /// Not imported (a contact without an email, or with no customer to belong to).
    Skipped,
}

/// A company from the CRM, normalised.
#[derive(Debug, Clone)]
pub struct CompanyRecord<'a> {
    pub external_id: &'a str,
    pub name: &'a str,
    pub domains: &'a [CompanyDomain],
    pub modified_at: Option<DateTime<Utc>>,
}

/// A contact from the CRM, normalised.
#[derive(Debug, Clone)]
pub struct ContactRecord<'a> {
    pub external_id: &'a str,
    pub email: &'a str,
    pub name: Option<&'a str>,
    pub title: Option<&'a str>,
    pub company_external_id: Option<&'a str>,
    pub modified_at: Option<DateTime<Utc>>,
}

fn source_of(provider: CrmProvider) -> Source {
    match provider {
        CrmProvider::Hubspot => Source::Hubspot,
        CrmProvider::Salesforce => Source::Salesforce,
    }
}

fn bounded(s: &str, max: usize) -> String {
    let t = s.trim();
    if t.chars().count() <= max {
        t.to_owned()
    } else {
        t.chars().take(max).collect()
    }
}

/// Applies one company: updates the customer this import made for it, links it to the customer
/// that already owns one of its domains, or creates a customer.
pub async fn apply_company(
    conn: &mut PgConnection,
    org: OrgId,
    connection: CrmConnectionId,
    provider: CrmProvider,
    c: &CompanyRecord<'_>,
) -> sqlx::Result<Applied> {
    let name = bounded(c.name, 200);
    let name = if name.is_empty() {
        format!("{} company {}", provider.label(), c.external_id)
    } else {
        name
    };
    let known: Option<(CustomerId, bool)> = sqlx::query_as(
        "update crm_records set seen_at = now(), modified_at = coalesce($4, modified_at)
          where org_id = $1 and connection_id = $2 and kind = 'company' and external_id = $3
         returning customer_id, created_here",
    )
    .bind(org)
    .bind(connection)
    .bind(c.external_id)
    .bind(c.modified_at)
    .fetch_optional(&mut *conn)
    .await?;
    let domains: Vec<&str> = c.domains.iter().map(CompanyDomain::as_str).collect();
    if let Some((customer, created_here)) = known {
        if !created_here {
            return Ok(Applied::Unchanged);
        }
        let renamed = sqlx::query(
            "update customers set name = $3, updated_at = now()
              where org_id = $1 and id = $2 and name <> $3",
        )
        .bind(org)
        .bind(customer)
        .bind(&name)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        let added = add_free_domains(conn, org, customer, &domains).await?;
        return Ok(if renamed + added > 0 {
            Applied::Updated
        } else {
            Applied::Unchanged
        });
    }
    let owner: Option<CustomerId> = sqlx::query_scalar(
        "select customer_id from customer_domains where org_id = $1 and domain = any($2)
          order by array_position($2, domain) limit 1",
    )
    .bind(org)
    .bind(&domains)
    .fetch_optional(&mut *conn)
    .await?;
    let (customer, created) = match owner {
        Some(existing) => (existing, false),
        None => {
            let id = CustomerId::new();
            sqlx::query(
                "insert into customers (id, org_id, name, source, external_id) values ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(org)
            .bind(&name)
            .bind(source_of(provider))
            .bind(c.external_id)
            .execute(&mut *conn)
            .await?;
            add_free_domains(conn, org, id, &domains).await?;
            (id, true)
        }
    };
    sqlx::query(
        "insert into crm_records (org_id, connection_id, kind, external_id, customer_id, created_here, modified_at)
         values ($1, $2, 'company', $3, $4, $5, $6)",
    )
    .bind(org)
    .bind(connection)
    .bind(c.external_id)
    .bind(customer)
    .bind(created)
    .bind(c.modified_at)
    .execute(&mut *conn)
    .await?;
    Ok(if created {
        Applied::Created
    } else {
        Applied::Linked
    })
}

/// Adds the domains no other customer owns; returns how many were added.
async fn add_free_domains(
    conn: &mut PgConnection,
    org: OrgId,
    customer: CustomerId,
    domains: &[&str],
) -> sqlx::Result<u64> {
    if domains.is_empty() {
        return Ok(0);
    }
    Ok(sqlx::query(
        "insert into customer_domains (org_id, domain, customer_id)
         select $1, d, $2 from unnest($3::text[]) d
         on conflict (org_id, domain) do nothing",
    )
    .bind(org)
    .bind(customer)
    .bind(domains)
    .execute(conn)
    .await?
    .rows_affected())
}

/// Applies one contact: updates the contact this import made, links to an existing contact with
/// the same email, or creates one under its company's customer (or the customer owning its email
/// domain). A contact with no customer to belong to is skipped.
pub async fn apply_contact(
    conn: &mut PgConnection,
    org: OrgId,
    connection: CrmConnectionId,
    provider: CrmProvider,
    c: &ContactRecord<'_>,
) -> sqlx::Result<Applied> {
    let company_customer: Option<CustomerId> = match c.company_external_id {
        Some(company) => {
            sqlx::query_scalar(
                "select customer_id from crm_records
                  where org_id = $1 and connection_id = $2 and kind = 'company' and external_id = $3",
            )
            .bind(org)
            .bind(connection)
            .bind(company)
            .fetch_optional(&mut *conn)
            .await?
        }
        None => None,
    };
    let customer = match company_customer {
        Some(c) => Some(c),
        None => match CompanyDomain::of_email(c.email) {
            Some(domain) => {
                let candidates: Vec<&str> = domain.with_parents().collect();
                sqlx::query_scalar(
                    "select customer_id from customer_domains where org_id = $1 and domain = any($2)
                      order by length(domain) desc limit 1",
                )
                .bind(org)
                .bind(&candidates)
                .fetch_optional(&mut *conn)
                .await?
            }
            None => None,
        },
    };
    let name = c.name.map(|n| bounded(n, 200)).filter(|n| !n.is_empty());
    let title = c.title.map(|t| bounded(t, 200)).filter(|t| !t.is_empty());
    let known: Option<(ContactId, bool)> = sqlx::query_as(
        "update crm_records set seen_at = now(), modified_at = coalesce($4, modified_at)
          where org_id = $1 and connection_id = $2 and kind = 'contact' and external_id = $3
         returning contact_id, created_here",
    )
    .bind(org)
    .bind(connection)
    .bind(c.external_id)
    .bind(c.modified_at)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some((contact, created_here)) = known {
        if !created_here {
            return Ok(Applied::Unchanged);
        }
        let changed = sqlx::query(
            "update contacts set name = $3, title = $4, customer_id = coalesce($5, customer_id),
                    email = case when exists (select 1 from contacts o where o.org_id = $1 and o.email = $6 and o.id <> $2)
                                 then email else $6 end,
                    updated_at = now()
              where org_id = $1 and id = $2
                and (name is distinct from $3 or title is distinct from $4
                     or ($5::uuid is not null and customer_id <> $5) or email <> $6)",
        )
        .bind(org)
        .bind(contact)
        .bind(&name)
        .bind(&title)
        .bind(customer)
        .bind(c.email)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if changed > 0 {
            sqlx::query(
                "update crm_records set customer_id = (select customer_id from contacts where org_id = $1 and id = $2)
                  where org_id = $1 and contact_id = $2 and connection_id = $3",
            )
            .bind(org)
            .bind(contact)
            .bind(connection)
            .execute(&mut *conn)
            .await?;
        }
        return Ok(if changed > 0 {
            Applied::Updated
        } else {
            Applied::Unchanged
        });
    }
    let existing: Option<(ContactId, CustomerId)> =
        sqlx::query_as("select id, customer_id from contacts where org_id = $1 and email = $2")
            .bind(org)
            .bind(c.email)
            .fetch_optional(&mut *conn)
            .await?;
    let (contact, customer, created) = match (existing, customer) {
        (Some((contact, customer)), _) => (contact, customer, false),
        (None, Some(customer)) => {
            let id = ContactId::new();
            sqlx::query(
                "insert into contacts (id, org_id, customer_id, email, name, title, source)
                 values ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(org)
            .bind(customer)
            .bind(c.email)
            .bind(&name)
            .bind(&title)
            .bind(source_of(provider))
            .execute(&mut *conn)
            .await?;
            (id, customer, true)
        }
        (None, None) => return Ok(Applied::Skipped),
    };
    sqlx::query(
        "insert into crm_records (org_id, connection_id, kind, external_id, customer_id, contact_id, created_here, modified_at)
         values ($1, $2, 'contact', $3, $4, $5, $6, $7)",
    )
    .bind(org)
    .bind(connection)
    .bind(c.external_id)
    .bind(customer)
    .bind(contact)
    .bind(created)
    .bind(c.modified_at)
    .execute(&mut *conn)
    .await?;
    Ok(if created {
        Applied::Created
    } else {
        Applied::Linked
    })
}

/// Deletes the customers (with their contacts) an import from `connection` created; their
/// meetings stay, unlinked. Customers that were only linked to the CRM stay. Returns how many
/// were deleted.
pub async fn delete_created_customers(
    conn: &mut PgConnection,
    org: OrgId,
    connection: CrmConnectionId,
) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "delete from customers c
          using crm_records r
          where r.org_id = $1 and r.connection_id = $2 and r.kind = 'company' and r.created_here
            and c.org_id = r.org_id and c.id = r.customer_id",
    )
    .bind(org)
    .bind(connection)
    .execute(conn)
    .await?
    .rows_affected())
}

/// The CRM records of a customer: `(provider, account, created here)`, for
/// the customer page's "from HubSpot" / "linked to HubSpot" line.
pub async fn for_customer(
    db: &sqlx::PgPool,
    org: OrgId,
    customer: CustomerId,
) -> sqlx::Result<Vec<(CrmProvider, String, bool)>> {
    sqlx::query_as(
        "select c.provider, c.account_name, r.created_here
           from crm_records r join crm_connections c on c.org_id = r.org_id and c.id = r.connection_id
          where r.org_id = $1 and r.customer_id = $2 and r.kind = 'company'
          order by c.connected_at",
    )
    .bind(org)
    .bind(customer)
    .fetch_all(db)
    .await
}
