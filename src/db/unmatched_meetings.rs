//! The unmatched review: outside attendees of meetings linked to no customer, grouped by their
//! email domain (suggested customers), and the org's dismissed suggestions.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::domain::{OrgId, UserId};

/// Domains (or people) read for the review at most, before the matching rules filter them.
pub const READ_LIMIT: i64 = 500;

/// An outside domain seen in unmatched meetings.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DomainSeen {
    pub domain: String,
    pub meetings: i64,
    pub attendees: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// Outside attendees' domains in meetings with no customer, not dismissed and owned by no
/// customer, most meetings first.
pub async fn domains(db: &PgPool, org: OrgId, limit: i64) -> sqlx::Result<Vec<DomainSeen>> {
    sqlx::query_as(
        "select split_part(lower(a.email), '@', 2) as domain,
                count(distinct m.id) as meetings, count(distinct lower(a.email)) as attendees,
                min(m.started_at) as first_seen, max(m.started_at) as last_seen
         from meetings m
         join meeting_attendees a on a.org_id = m.org_id and a.meeting_id = m.id
         where m.org_id = $1 and m.has_external_attendees and a.is_external
           and a.email like '%_@_%'
           and not exists (select 1 from meeting_customers mc where mc.org_id = m.org_id and mc.meeting_id = m.id)
           and not exists (select 1 from customer_suggestion_dismissals d
                            where d.org_id = m.org_id and d.domain = split_part(lower(a.email), '@', 2))
           and not exists (select 1 from customer_domains cd
                            where cd.org_id = m.org_id and cd.domain = split_part(lower(a.email), '@', 2))
         group by 1
         order by count(distinct m.id) desc, 1
         limit $2",
    )
    .bind(org)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// A person seen in unmatched meetings.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PersonSeen {
    pub email: String,
    pub name: Option<String>,
    pub meetings: i64,
    pub last_seen: DateTime<Utc>,
}

/// Outside attendees at `domains` (the free-mail ones) in meetings with no customer, who are no
/// contact yet, most meetings first.
pub async fn people_at(
    db: &PgPool,
    org: OrgId,
    domains: &[String],
    limit: i64,
) -> sqlx::Result<Vec<PersonSeen>> {
    sqlx::query_as(
        "select lower(a.email) as email, max(a.name) as name, count(distinct m.id) as meetings,
                max(m.started_at) as last_seen
         from meetings m
         join meeting_attendees a on a.org_id = m.org_id and a.meeting_id = m.id
         where m.org_id = $1 and m.has_external_attendees and a.is_external
           and split_part(lower(a.email), '@', 2) = any($2)
           and not exists (select 1 from meeting_customers mc where mc.org_id = m.org_id and mc.meeting_id = m.id)
           and not exists (select 1 from contacts k where k.org_id = m.org_id and k.email = lower(a.email))
         group by 1
         order by count(distinct m.id) desc, 1
         limit $3",
    )
    .bind(org)
    .bind(domains)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Remembers that the org does not want `domain` suggested again.
pub async fn dismiss(db: &PgPool, org: OrgId, domain: &str, by: UserId) -> sqlx::Result<()> {
    sqlx::query(
        "insert into customer_suggestion_dismissals (org_id, domain, dismissed_by) values ($1, $2, $3)
         on conflict do nothing",
    )
    .bind(org)
    .bind(domain)
    .bind(by)
    .execute(db)
    .await?;
    Ok(())
}
