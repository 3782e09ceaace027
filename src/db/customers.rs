//! Customers (companies), their domains and their contacts.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::domain::{CompanyDomain, ContactId, CustomerId, Email, MeetingId, OrgId};

/// Customers on one page of the list.
pub const PAGE_SIZE: i64 = 50;

/// Where a customer or contact came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Source {
    Manual,
    Csv,
    Hubspot,
    Salesforce,
}

impl Source {
    /// For people.
    pub fn label(self) -> &'static str {
        match self {
            Source::Manual => "added by hand",
            Source::Csv => "CSV import",
            Source::Hubspot => "HubSpot",
            Source::Salesforce => "Salesforce",
        }
    }
}

/// One row of the customers list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CustomerListItem {
    pub id: CustomerId,
    pub name: String,
    /// Its domains, comma separated.
    pub domains: Option<String>,
    pub contact_count: i64,
    pub last_meeting_at: Option<DateTime<Utc>>,
    pub meetings_30d: i32,
    pub meetings_total: i32,
    /// Meetings in each of the last 12 weeks, oldest first.
    pub weekly: Vec<i32>,
}

/// How the list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// By name.
    Name,
    /// Most recent meeting first (never met last).
    Recent,
    /// Most meetings in the last 30 days first.
    Active,
}

impl Sort {
    /// From `?sort=`.
    pub fn parse(text: &str) -> Option<Sort> {
        match text {
            "" | "name" => Some(Sort::Name),
            "recent" => Some(Sort::Recent),
            "active" => Some(Sort::Active),
            _ => None,
        }
    }

    /// For `?sort=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Name => "name",
            Sort::Recent => "recent",
            Sort::Active => "active",
        }
    }
}

/// A keyset position in the list: the last row shown, as its sort sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cursor {
    Name(String, CustomerId),
    Recent(Option<DateTime<Utc>>, CustomerId),
    Active(i32, CustomerId),
}

impl Cursor {
    /// Where the list continues after `item` in `sort`.
    pub fn after(sort: Sort, item: &CustomerListItem) -> Cursor {
        match sort {
            Sort::Name => Cursor::Name(item.name.to_lowercase(), item.id),
            Sort::Recent => Cursor::Recent(item.last_meeting_at, item.id),
            Sort::Active => Cursor::Active(item.meetings_30d, item.id),
        }
    }
}

/// The customers list's SQL for `sort` (binds: org, name pattern, domain prefix, cursor marker,
/// cursor time, cursor count, cursor id, limit); public so the benchmark can explain it.
pub fn list_sql(sort: Sort) -> String {
    // Static SQL per order (no input reaches it); each keyset matches its index.
    let (keyset, order) = match sort {
        Sort::Name => (
            "($4::text is null or (lower(c.name), c.id) > ($4, $7))",
            "lower(c.name), c.id",
        ),
        Sort::Recent => (
            "($4::text is null or (coalesce(r.last_meeting_at, '-infinity'), r.customer_id)
                                  < (coalesce($5, '-infinity'::timestamptz), $7))",
            "coalesce(r.last_meeting_at, '-infinity') desc, r.customer_id desc",
        ),
        Sort::Active => (
            "($4::text is null or (r.meetings_30d, r.customer_id) < ($6, $7))",
            "r.meetings_30d desc, r.customer_id desc",
        ),
    };
    format!(
        "select c.id, c.name,
                (select string_agg(d.domain, ', ' order by d.domain) from customer_domains d
                  where d.org_id = c.org_id and d.customer_id = c.id) as domains,
                (select count(*) from contacts k
                  where k.org_id = c.org_id and k.customer_id = c.id) as contact_count,
                r.last_meeting_at, r.meetings_30d, r.meetings_total, r.weekly
         from customers c
         join customer_rollups r on r.org_id = c.org_id and r.customer_id = c.id
         where c.org_id = $1 and r.org_id = $1
           and ($2::text is null
                or lower(c.name) like $2
                or exists (select 1 from customer_domains d
                            where d.org_id = c.org_id and d.customer_id = c.id and d.domain like $3))
           and {keyset}
         order by {order}
         limit $8"
    )
}

/// Customers in `sort` order, optionally only those whose name contains `search` or whose
/// domain starts with it, after `after`. The figures come from `customer_rollups`.
pub async fn list(
    db: &PgPool,
    org: OrgId,
    search: Option<&str>,
    sort: Sort,
    after: Option<&Cursor>,
    limit: i64,
) -> sqlx::Result<Vec<CustomerListItem>> {
    let pattern = search.map(|s| format!("%{}%", escape_like(&s.to_lowercase())));
    let prefix = search.map(|s| format!("{}%", escape_like(&s.trim().to_lowercase())));
    let (marker, at, count, id) = match after {
        None => (None, None, 0, None),
        Some(Cursor::Name(name, id)) => (Some(name.clone()), None, 0, Some(*id)),
        Some(Cursor::Recent(at, id)) => (Some(String::new()), *at, 0, Some(*id)),
        Some(Cursor::Active(n, id)) => (Some(String::new()), None, *n, Some(*id)),
    };
    let sql = list_sql(sort);
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(pattern)
        .bind(prefix)
        .bind(marker)
        .bind(at)
        .bind(count)
        .bind(id)
        .bind(limit)
        .fetch_all(db)
        .await
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// One customer.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Customer {
    pub id: CustomerId,
    pub name: String,
    pub source: Source,
    pub notes: String,
    pub created_at: DateTime<Utc>,
}

/// The customer `id` of `org`.
pub async fn find(db: &PgPool, org: OrgId, id: CustomerId) -> sqlx::Result<Option<Customer>> {
    sqlx::query_as(
        "select id, name, source, notes, created_at from customers where org_id = $1 and id = $2",
    )
    .bind(org)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Every customer of `org` by name (for choosing one), at most `limit`.
pub async fn names(db: &PgPool, org: OrgId, limit: i64) -> sqlx::Result<Vec<(CustomerId, String)>> {
    sqlx::query_as(
        "select id, name from customers where org_id = $1 order by lower(name), id limit $2",
    )
    .bind(org)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Creates a customer.
pub async fn create(
    conn: &mut PgConnection,
    org: OrgId,
    name: &str,
    notes: &str,
    source: Source,
) -> sqlx::Result<CustomerId> {
    let id = CustomerId::new();
    sqlx::query(
        "insert into customers (id, org_id, name, notes, source) values ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(org)
    .bind(name)
    .bind(notes)
    .bind(source)
    .execute(conn)
    .await?;
    Ok(id)
}

/// Creates a customer with its domains; `Err((domain, owner))` when another customer of the org
/// has one of them (the caller rolls back).
pub async fn create_with_domains(
    conn: &mut PgConnection,
    org: OrgId,
    name: &str,
    notes: &str,
    source: Source,
    domains: &[CompanyDomain],
) -> sqlx::Result<Result<CustomerId, (CompanyDomain, String)>> {
    let id = create(conn, org, name, notes, source).await?;
    for domain in domains {
        if let Err(DomainTaken::ByOther(owner)) = add_domain(conn, org, id, domain).await? {
            return Ok(Err((domain.clone(), owner)));
        }
    }
    Ok(Ok(id))
}

/// Renames a customer and replaces its notes; `false` when there is no such customer.
pub async fn update(
    conn: &mut PgConnection,
    org: OrgId,
    id: CustomerId,
    name: &str,
    notes: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update customers set name = $3, notes = $4, updated_at = now() where org_id = $1 and id = $2",
    )
    .bind(org)
    .bind(id)
    .bind(name)
    .bind(notes)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes a customer with its domains, contacts and links (its meetings stay); `false` when
/// there is no such customer.
pub async fn delete(conn: &mut PgConnection, org: OrgId, id: CustomerId) -> sqlx::Result<bool> {
    let done = sqlx::query("delete from customers where org_id = $1 and id = $2")
        .bind(org)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The domains of a customer, alphabetically.
pub async fn domains(db: &PgPool, org: OrgId, id: CustomerId) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "select domain from customer_domains where org_id = $1 and customer_id = $2 order by domain",
    )
    .bind(org)
    .bind(id)
    .fetch_all(db)
    .await
}

/// Why a domain could not be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainTaken {
    /// Another customer (named) has it.
    ByOther(String),
    /// This customer has it already.
    Already,
}

/// Gives `domain` to the customer; refused when a customer of the org already has it.
pub async fn add_domain(
    conn: &mut PgConnection,
    org: OrgId,
    customer: CustomerId,
    domain: &CompanyDomain,
) -> sqlx::Result<Result<(), DomainTaken>> {
    let added = sqlx::query(
        "insert into customer_domains (org_id, domain, customer_id) values ($1, $2, $3)
         on conflict (org_id, domain) do nothing",
    )
    .bind(org)
    .bind(domain.as_str())
    .bind(customer)
    .execute(&mut *conn)
    .await?;
    if added.rows_affected() == 1 {
        return Ok(Ok(()));
    }
    let owner: Option<(CustomerId, String)> = sqlx::query_as(
        "select c.id, c.name from customer_domains d
           join customers c on c.org_id = d.org_id and c.id = d.customer_id
         where d.org_id = $1 and d.domain = $2",
    )
    .bind(org)
    .bind(domain.as_str())
    .fetch_optional(conn)
    .await?;
    Ok(Err(match owner {
        Some((id, _)) if id == customer => DomainTaken::Already,
        Some((_, name)) => DomainTaken::ByOther(name),
        None => DomainTaken::Already,
    }))
}

/// Takes `domain` from the customer; `false` when it did not have it.
pub async fn remove_domain(
    conn: &mut PgConnection,
    org: OrgId,
    customer: CustomerId,
    domain: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "delete from customer_domains where org_id = $1 and customer_id = $2 and domain = $3",
    )
    .bind(org)
    .bind(customer)
    .bind(domain)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One contact.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Contact {
    pub id: ContactId,
    pub customer_id: CustomerId,
    pub email: String,
    pub name: Option<String>,
    pub title: Option<String>,
    pub source: Source,
    /// When an attendee with this email was last in a meeting of the org.
    pub last_met_at: Option<DateTime<Utc>>,
}

/// The contacts of a customer, by name (or email).
pub async fn contacts(db: &PgPool, org: OrgId, customer: CustomerId) -> sqlx::Result<Vec<Contact>> {
    sqlx::query_as(
        "select k.id, k.customer_id, k.email, k.name, k.title, k.source,
                (select max(m.started_at) from meeting_attendees a
                   join meetings m on m.org_id = a.org_id and m.id = a.meeting_id
                  where a.org_id = k.org_id and lower(a.email) = k.email) as last_met_at
         from contacts k
         where k.org_id = $1 and k.customer_id = $2
         order by lower(coalesce(k.name, k.email)), k.id",
    )
    .bind(org)
    .bind(customer)
    .fetch_all(db)
    .await
}

/// The contact `id` of `org`.
pub async fn find_contact(db: &PgPool, org: OrgId, id: ContactId) -> sqlx::Result<Option<Contact>> {
    sqlx::query_as(
        "select id, customer_id, email, name, title, source, null::timestamptz as last_met_at
         from contacts where org_id = $1 and id = $2",
    )
    .bind(org)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// A contact's fields as a form gives them.
#[derive(Debug, Clone)]
pub struct ContactFields<'a> {
    pub email: &'a Email,
    pub name: Option<&'a str>,
    pub title: Option<&'a str>,
}

/// Adds a contact to a customer; `Err(name)` of the customer that already has this email.
pub async fn create_contact(
    conn: &mut PgConnection,
    org: OrgId,
    customer: CustomerId,
    fields: &ContactFields<'_>,
    source: Source,
) -> sqlx::Result<Result<ContactId, String>> {
    let id = ContactId::new();
    let added = sqlx::query(
        "insert into contacts (id, org_id, customer_id, email, name, title, source)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (org_id, email) do nothing",
    )
    .bind(id)
    .bind(org)
    .bind(customer)
    .bind(fields.email.as_str())
    .bind(fields.name)
    .bind(fields.title)
    .bind(source)
    .execute(&mut *conn)
    .await?;
    if added.rows_affected() == 1 {
        return Ok(Ok(id));
    }
    Ok(Err(contact_owner(conn, org, fields.email).await?))
}

async fn contact_owner(conn: &mut PgConnection, org: OrgId, email: &Email) -> sqlx::Result<String> {
    sqlx::query_scalar(
        "select c.name from contacts k join customers c on c.org_id = k.org_id and c.id = k.customer_id
         where k.org_id = $1 and k.email = $2",
    )
    .bind(org)
    .bind(email.as_str())
    .fetch_optional(conn)
    .await
    .map(Option::unwrap_or_default)
}

/// Changes a contact; `Ok(false)` when there is no such contact of that customer, `Err(name)` of
/// the customer that already has the new email.
pub async fn update_contact(
    conn: &mut PgConnection,
    org: OrgId,
    customer: CustomerId,
    id: ContactId,
    fields: &ContactFields<'_>,
) -> sqlx::Result<Result<bool, String>> {
    let done = sqlx::query(
        "update contacts set email = $4, name = $5, title = $6, updated_at = now()
         where org_id = $1 and customer_id = $2 and id = $3
           and not exists (select 1 from contacts o where o.org_id = $1 and o.email = $4 and o.id <> $3)",
    )
    .bind(org)
    .bind(customer)
    .bind(id)
    .bind(fields.email.as_str())
    .bind(fields.name)
    .bind(fields.title)
    .execute(&mut *conn)
    .await;
    match done {
        Ok(done) if done.rows_affected() == 1 => Ok(Ok(true)),
        Ok(_) => {
            let exists: bool = sqlx::query_scalar(
                "select exists (select 1 from contacts where org_id = $1 and customer_id = $2 and id = $3)",
            )
            .bind(org)
            .bind(customer)
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
            if exists {
                Ok(Err(contact_owner(conn, org, fields.email).await?))
            } else {
                Ok(Ok(false))
            }
        }
        Err(err) if super::is_unique_violation(&err, "contacts_org_id_email_key") => {
            Ok(Err(contact_owner(conn, org, fields.email).await?))
        }
        Err(err) => Err(err),
    }
}

/// Deletes a contact of a customer; `false` when there is no such contact.
pub async fn delete_contact(
    conn: &mut PgConnection,
    org: OrgId,
    customer: CustomerId,
    id: ContactId,
) -> sqlx::Result<bool> {
    let done =
        sqlx::query("delete from contacts where org_id = $1 and customer_id = $2 and id = $3")
            .bind(org)
            .bind(customer)
            .bind(id)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// One meeting on a customer's page.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CustomerMeeting {
    pub id: MeetingId,
    pub title: String,
    pub started_at: DateTime<Utc>,
    pub reason: String,
    /// The attendees' emails that linked it.
    pub matched_emails: Vec<String>,
    /// The summary's beginning (Markdown as Fathom sent it).
    pub summary_start: Option<String>,
}

/// The SQL of [`meetings`] (binds: org, customer, cursor time, cursor id, limit); public so the
/// benchmark can explain it.
pub const CUSTOMER_MEETINGS_SQL: &str =
    "select m.id, m.title, m.started_at, mc.reason, mc.matched_emails,
                left(m.summary_markdown, 400) as summary_start
         from meeting_customers mc
         join meetings m on m.org_id = mc.org_id and m.id = mc.meeting_id
         where mc.org_id = $1 and mc.customer_id = $2
           and ($3::timestamptz is null or (m.started_at, m.id) < ($3, $4))
         order by m.started_at desc, m.id desc
         limit $5";

/// A customer's meetings, newest first, before the keyset position `before`.
pub async fn meetings(
    db: &PgPool,
    org: OrgId,
    customer: CustomerId,
    before: Option<(DateTime<Utc>, MeetingId)>,
    limit: i64,
) -> sqlx::Result<Vec<CustomerMeeting>> {
    sqlx::query_as(CUSTOMER_MEETINGS_SQL)
        .bind(org)
        .bind(customer)
        .bind(before.map(|(at, _)| at))
        .bind(before.map(|(_, id)| id))
        .bind(limit)
        .fetch_all(db)
        .await
}

/// An open (not completed) action item from one of a customer's meetings.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenActionItem {
    pub meeting_id: MeetingId,
    pub meeting_title: String,
    pub started_at: DateTime<Utc>,
    pub description: String,
    pub assignee_name: Option<String>,
    pub assignee_email: Option<String>,
    pub playback_url: Option<String>,
    pub recording_timestamp: Option<String>,
}

/// The open action items of a customer's meetings, newest meeting first, at most `limit`.
pub async fn open_action_items(
    db: &PgPool,
    org: OrgId,
    customer: CustomerId,
    limit: i64,
) -> sqlx::Result<Vec<OpenActionItem>> {
    sqlx::query_as(
        "select m.id as meeting_id, m.title as meeting_title, m.started_at, ai.description,
                ai.assignee_name, ai.assignee_email, ai.playback_url, ai.recording_timestamp
         from meeting_customers mc
         join meetings m on m.org_id = mc.org_id and m.id = mc.meeting_id
         join meeting_action_items ai on ai.org_id = mc.org_id and ai.meeting_id = mc.meeting_id
         where mc.org_id = $1 and mc.customer_id = $2 and not ai.completed
         order by m.started_at desc, m.id, ai.position
         limit $3",
    )
    .bind(org)
    .bind(customer)
    .bind(limit)
    .fetch_all(db)
    .await
}
