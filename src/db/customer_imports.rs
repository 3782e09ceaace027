//! CSV imports of customers and contacts: the uploaded file, the checks that need the database,
//! and the bulk write (binary `COPY` into a staging table, then one `INSERT … SELECT … ON
//! CONFLICT` into the real tables), all in the caller's transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use postgres_types::Type;
use sqlx::{PgConnection, PgPool};

use crate::db::binary_copy::BinaryCopy;
use crate::domain::customer_import::{ContactRow, CustomerRow, ImportKind, LineError};
use crate::domain::{CompanyDomain, CustomerId, ImportId, OrgId, UserId};

/// An uploaded import.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Import {
    pub id: ImportId,
    pub kind: String,
    pub file_name: String,
    pub body: Vec<u8>,
    pub create_missing: bool,
    pub created_at: DateTime<Utc>,
    pub applied_at: Option<DateTime<Utc>>,
    pub created: Option<i32>,
    pub updated: Option<i32>,
    pub unchanged: Option<i32>,
}

impl Import {
    /// What it imports.
    pub fn kind(&self) -> ImportKind {
        ImportKind::parse(&self.kind).unwrap_or(ImportKind::Customers)
    }
}

/// Keeps an uploaded file for its preview and confirmation.
pub async fn create(
    db: &PgPool,
    org: OrgId,
    kind: ImportKind,
    file_name: &str,
    body: &[u8],
    create_missing: bool,
    by: UserId,
) -> sqlx::Result<ImportId> {
    let id = ImportId::new();
    sqlx::query(
        "insert into customer_imports (id, org_id, kind, file_name, body, create_missing, created_by)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(org)
    .bind(kind.as_str())
    .bind(file_name)
    .bind(body)
    .bind(create_missing)
    .bind(by)
    .execute(db)
    .await?;
    Ok(id)
}

/// The import `id` of `org`.
pub async fn find(db: &PgPool, org: OrgId, id: ImportId) -> sqlx::Result<Option<Import>> {
    sqlx::query_as(
        "select id, kind, file_name, body, create_missing, created_at, applied_at, created, updated, unchanged
         from customer_imports where org_id = $1 and id = $2",
    )
    .bind(org)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Locks the import for applying it; `None` when there is none or it was applied already.
pub async fn lock_unapplied(
    conn: &mut PgConnection,
    org: OrgId,
    id: ImportId,
) -> sqlx::Result<Option<Import>> {
    sqlx::query_as(
        "select id, kind, file_name, body, create_missing, created_at, applied_at, created, updated, unchanged
         from customer_imports where org_id = $1 and id = $2 and applied_at is null for update",
    )
    .bind(org)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
}

/// Marks the import applied with its summary, and drops the file.
pub async fn finish(
    conn: &mut PgConnection,
    org: OrgId,
    id: ImportId,
    summary: Summary,
) -> sqlx::Result<()> {
    sqlx::query(
        "update customer_imports set applied_at = now(), body = '', created = $3, updated = $4, unchanged = $5
         where org_id = $1 and id = $2",
    )
    .bind(org)
    .bind(id)
    .bind(i32::try_from(summary.created).unwrap_or(i32::MAX))
    .bind(i32::try_from(summary.updated).unwrap_or(i32::MAX))
    .bind(i32::try_from(summary.unchanged).unwrap_or(i32::MAX))
    .execute(conn)
    .await?;
    Ok(())
}

/// Customer rows whose domains another customer (by a different name) already has.
pub async fn check_customer_domains(
    conn: &mut PgConnection,
    org: OrgId,
    rows: &[CustomerRow],
) -> sqlx::Result<Vec<LineError>> {
    let domains: Vec<&str> = rows
        .iter()
        .flat_map(|r| r.domains.iter().map(CompanyDomain::as_str))
        .collect();
    let owners: HashMap<String, String> = sqlx::query_as::<_, (String, String)>(
        "select d.domain, c.name from customer_domains d
           join customers c on c.org_id = d.org_id and c.id = d.customer_id
         where d.org_id = $1 and d.domain = any($2)",
    )
    .bind(org)
    .bind(&domains)
    .fetch_all(conn)
    .await?
    .into_iter()
    .collect();
    let mut errors = Vec::new();
    for row in rows {
        for d in &row.domains {
            if let Some(owner) = owners.get(d.as_str())
                && owner.to_lowercase() != row.name.to_lowercase()
            {
                errors.push(LineError {
                    line: row.line,
                    message: format!("{d} already belongs to {owner}."),
                });
            }
        }
    }
    Ok(errors)
}

/// Each contact row's customer, found by name (case-insensitive) or domain; `None` when there
/// is no such customer.
pub async fn resolve_customers(
    conn: &mut PgConnection,
    org: OrgId,
    rows: &[ContactRow],
) -> sqlx::Result<HashMap<String, CustomerId>> {
    let mut refs: Vec<String> = rows.iter().map(|r| r.customer.to_lowercase()).collect();
    refs.sort();
    refs.dedup();
    let domains: Vec<Option<String>> = refs
        .iter()
        .map(|r| CompanyDomain::parse(r).ok().map(|d| d.as_str().to_owned()))
        .collect();
    let found: Vec<(String, Option<CustomerId>)> = sqlx::query_as(
        "select r.ref, coalesce(
                    (select c.id from customers c where c.org_id = $1 and lower(c.name) = r.ref
                      order by lower(c.name), c.id limit 1),
                    (select d.customer_id from customer_domains d where d.org_id = $1 and d.domain = r.dom))
         from unnest($2::text[], $3::text[]) as r(ref, dom)",
    )
    .bind(org)
    .bind(&refs)
    .bind(&domains)
    .fetch_all(conn)
    .await?;
    Ok(found
        .into_iter()
        .filter_map(|(r, id)| Some((r, id?)))
        .collect())
}

/// Imports customer rows: creates those whose name is new (matched case-insensitively) and gives
/// every row's customer its domains.
pub async fn apply_customers(
    conn: &mut PgConnection,
    org: OrgId,
    rows: &[CustomerRow],
) -> anyhow::Result<Summary> {
    sqlx::query(
        "create temp table import_customers (line int8, name text, domains text[]) on commit drop",
    )
    .execute(&mut *conn)
    .await?;
    let mut copy = BinaryCopy::new(vec![Type::INT8, Type::TEXT, Type::TEXT_ARRAY]);
    for row in rows {
        let line = i64::try_from(row.line)?;
        let domains: Vec<&str> = row.domains.iter().map(CompanyDomain::as_str).collect();
        copy.row(&[&line, &row.name, &domains])?;
    }
    copy.send(
        conn,
        "copy import_customers (line, name, domains) from stdin (format binary)",
    )
    .await?;
    let created: Vec<CustomerId> = sqlx::query_scalar(
        "insert into customers (id, org_id, name, source)
         select gen_random_uuid(), $1, s.name, 'csv'
         from (select distinct on (lower(name)) name from import_customers order by lower(name), line) s
         where not exists (select 1 from customers c where c.org_id = $1 and lower(c.name) = lower(s.name))
         returning id",
    )
    .bind(org)
    .fetch_all(&mut *conn)
    .await?;
    let gained: Vec<CustomerId> = sqlx::query_scalar(
        "with added as (
             insert into customer_domains (org_id, domain, customer_id)
             select $1, d.domain, c.id
             from import_customers r
             cross join lateral unnest(r.domains) as d(domain)
             join lateral (select id from customers c where c.org_id = $1 and lower(c.name) = lower(r.name)
                            order by lower(c.name), c.id limit 1) c on true
             order by d.domain
             on conflict (org_id, domain) do nothing
             returning customer_id)
         select distinct customer_id from added",
    )
    .bind(org)
    .fetch_all(&mut *conn)
    .await?;
    let updated = gained.iter().filter(|id| !created.contains(id)).count() as u64;
    let created = created.len() as u64;
    let total = rows.len() as u64;
    Ok(Summary {
        created,
        updated,
        unchanged: total.saturating_sub(created + updated),
    })
}

/// Imports contact rows (each with its resolved customer): new emails are added, known ones get
/// the file's customer, and its name and title where the file has them (an empty cell keeps
/// what is stored).
pub async fn apply_contacts(
    conn: &mut PgConnection,
    org: OrgId,
    rows: &[(ContactRow, CustomerId)],
) -> anyhow::Result<Summary> {
    sqlx::query(
        "create temp table import_contacts (line int8, email text, name text, title text, customer_id uuid)
         on commit drop",
    )
    .execute(&mut *conn)
    .await?;
    let mut copy = BinaryCopy::new(vec![
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::UUID,
    ]);
    for (row, customer) in rows {
        let line = i64::try_from(row.line)?;
        copy.row(&[
            &line,
            &row.email.as_str(),
            &row.name,
            &row.title,
            &customer.0,
        ])?;
    }
    copy.send(
        conn,
        "copy import_contacts (line, email, name, title, customer_id) from stdin (format binary)",
    )
    .await?;
    let (created, updated): (i64, i64) = sqlx::query_as(
        "with upserted as (
             insert into contacts (id, org_id, customer_id, email, name, title, source)
             select gen_random_uuid(), $1, customer_id, email, name, title, 'csv'
             from import_contacts order by email
             on conflict (org_id, email) do update
               set customer_id = excluded.customer_id,
                   name = coalesce(excluded.name, contacts.name),
                   title = coalesce(excluded.title, contacts.title),
                   updated_at = now()
               where (contacts.customer_id, contacts.name, contacts.title)
                     is distinct from (excluded.customer_id, coalesce(excluded.name, contacts.name),
                                       coalesce(excluded.title, contacts.title))
             returning (xmax = 0) as inserted)
         select count(*) filter (where inserted), count(*) filter (where not inserted) from upserted",
    )
    .bind(org)
    .fetch_one(&mut *conn)
    .await?;
    let (created, updated) = (created as u64, updated as u64);
    Ok(Summary {
        created,
        updated,
        unchanged: (rows.len() as u64).saturating_sub(created + updated),
    })
}

/// Creates customers named by contact rows that found none (when the person asked for it);
/// a reference that is a domain also gives the new customer that domain. Returns each
/// reference's new customer.
pub async fn create_missing_customers(
    conn: &mut PgConnection,
    org: OrgId,
    refs: &[String],
) -> sqlx::Result<HashMap<String, CustomerId>> {
    let ids: Vec<CustomerId> = refs.iter().map(|_| CustomerId::new()).collect();
    let domains: Vec<Option<String>> = refs
        .iter()
        .map(|r| {
            CompanyDomain::parse(r)
                .ok()
                .filter(|_| r.contains('.') && !r.contains(' '))
                .map(|d| d.as_str().to_owned())
        })
        .collect();
    sqlx::query(
        "with made as (
             insert into customers (id, org_id, name, source)
             select id, $1, name, 'csv' from unnest($2::uuid[], $3::text[]) as n(id, name)
             returning id)
         insert into customer_domains (org_id, domain, customer_id)
         select $1, n.domain, n.id from unnest($2::uuid[], $4::text[]) as n(id, domain)
         join made on made.id = n.id
         where n.domain is not null
         on conflict do nothing",
    )
    .bind(org)
    .bind(&ids)
    .bind(refs)
    .bind(&domains)
    .execute(&mut *conn)
    .await?;
    let made = refs.iter().map(|r| r.to_lowercase()).zip(ids).collect();
    Ok(made)
}

/// A file read and checked against the org's data.
#[derive(Debug, Clone)]
pub struct Checked {
    pub parsed: crate::domain::customer_import::Parsed,
    /// Every problem, by line.
    pub errors: Vec<LineError>,
    /// Contacts' customers that do not exist (created on import when asked for).
    pub missing_customers: Vec<String>,
}

/// Reads `body` as an import of `kind` and checks it against the org's customers.
pub async fn check(
    conn: &mut PgConnection,
    org: OrgId,
    kind: ImportKind,
    body: &[u8],
    create_missing: bool,
) -> anyhow::Result<Result<Checked, crate::domain::customer_import::FileError>> {
    use crate::domain::customer_import::{Rows, parse};
    let parsed = match parse(kind, body) {
        Ok(parsed) => parsed,
        Err(err) => return Ok(Err(err)),
    };
    let mut errors = parsed.errors.clone();
    let mut missing_customers = Vec::new();
    match &parsed.rows {
        Rows::Customers(rows) => errors.extend(check_customer_domains(conn, org, rows).await?),
        Rows::Contacts(rows) => {
            let found = resolve_customers(conn, org, rows).await?;
            for row in rows {
                let key = row.customer.to_lowercase();
                if found.contains_key(&key) {
                    continue;
                }
                if create_missing {
                    if !missing_customers
                        .iter()
                        .any(|m: &String| m.to_lowercase() == key)
                    {
                        missing_customers.push(row.customer.clone());
                    }
                } else {
                    errors.push(LineError {
                        line: row.line,
                        message: format!(
                            "No customer is named “{}” or has it as a domain. Add it first, or tick “Create missing customers”.",
                            row.customer
                        ),
                    });
                }
            }
        }
    }
    errors.sort_by_key(|e| e.line);
    Ok(Ok(Checked {
        parsed,
        errors,
        missing_customers,
    }))
}

/// Why an import was not applied.
#[derive(Debug)]
pub enum NotApplied {
    /// The file cannot be read (any more).
    File(crate::domain::customer_import::FileError),
    /// Rows have problems now (the org's data changed since the preview).
    Rows(Vec<LineError>),
}

/// Applies a checked, unapplied import in the caller's transaction: nothing is written unless
/// every row is fine.
pub async fn apply(
    conn: &mut PgConnection,
    org: OrgId,
    import: &Import,
) -> anyhow::Result<Result<Summary, NotApplied>> {
    use crate::domain::customer_import::Rows;
    let checked = match check(
        conn,
        org,
        import.kind(),
        &import.body,
        import.create_missing,
    )
    .await?
    {
        Ok(checked) => checked,
        Err(err) => return Ok(Err(NotApplied::File(err))),
    };
    if !checked.errors.is_empty() {
        return Ok(Err(NotApplied::Rows(checked.errors)));
    }
    let summary = match &checked.parsed.rows {
        Rows::Customers(rows) => apply_customers(conn, org, rows).await?,
        Rows::Contacts(rows) => {
            let mut found = resolve_customers(conn, org, rows).await?;
            found.extend(create_missing_customers(conn, org, &checked.missing_customers).await?);
            let resolved: Vec<(ContactRow, CustomerId)> = rows
                .iter()
                .filter_map(|r| {
                    found
                        .get(&r.customer.to_lowercase())
                        .map(|id| (r.clone(), *id))
                })
                .collect();
            anyhow::ensure!(
                resolved.len() == rows.len(),
                "every contact row has a customer"
            );
            apply_contacts(conn, org, &resolved).await?
        }
    };
    finish(conn, org, import.id, summary).await?;
    Ok(Ok(summary))
}
