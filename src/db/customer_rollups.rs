//! Per-customer dashboard figures (`customer_rollups`), recomputed in one statement for any set
//! of an org's customers.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::domain::{CustomerId, OrgId};

/// Weeks in the meetings-per-week chart.
pub const WEEKS: i32 = 12;

/// Recomputes the figures of `customers` (all of the org's when `None`); returns how many rows.
pub async fn refresh(
    conn: &mut PgConnection,
    org: OrgId,
    customers: Option<&[CustomerId]>,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "insert into customer_rollups
           (org_id, customer_id, meetings_total, meetings_30d, meetings_90d, first_meeting_at,
            last_meeting_at, open_action_items, contacts_met, top_internal, weekly, refreshed_at)
         select c.org_id, c.id,
                count(m.id),
                count(m.id) filter (where m.started_at >= now() - interval '30 days'),
                count(m.id) filter (where m.started_at >= now() - interval '90 days'),
                min(m.started_at), max(m.started_at),
                (select count(*) from meeting_customers x
                   join meeting_action_items ai on ai.org_id = x.org_id and ai.meeting_id = x.meeting_id
                  where x.org_id = c.org_id and x.customer_id = c.id and not ai.completed),
                (select count(distinct k.id) from meeting_customers x
                   join meeting_attendees a on a.org_id = x.org_id and a.meeting_id = x.meeting_id
                   join contacts k on k.org_id = x.org_id and k.customer_id = c.id and k.email = lower(a.email)
                  where x.org_id = c.org_id and x.customer_id = c.id),
                array(select t.who from (
                        select coalesce(a.name, a.email) as who, count(*) as n
                          from meeting_customers x
                          join meeting_attendees a on a.org_id = x.org_id and a.meeting_id = x.meeting_id
                         where x.org_id = c.org_id and x.customer_id = c.id and not a.is_external
                           and coalesce(a.name, a.email) is not null
                         group by 1 order by 2 desc, 1 limit 3) t),
                array(select count(w.started_at)::int
                        from generate_series(0, $3 - 1) as g(weeks_ago)
                        left join lateral (
                            select m2.started_at from meeting_customers x
                              join meetings m2 on m2.org_id = x.org_id and m2.id = x.meeting_id
                             where x.org_id = c.org_id and x.customer_id = c.id
                               and m2.started_at >= date_trunc('week', now()) - make_interval(weeks => g.weeks_ago)
                               and m2.started_at < date_trunc('week', now()) - make_interval(weeks => g.weeks_ago - 1)
                        ) w on true
                       group by g.weeks_ago order by g.weeks_ago desc),
                now()
         from customers c
         left join meeting_customers mc on mc.org_id = c.org_id and mc.customer_id = c.id
         left join meetings m on m.org_id = mc.org_id and m.id = mc.meeting_id
         where c.org_id = $1 and ($2::uuid[] is null or c.id = any($2))
         group by c.org_id, c.id
         on conflict (org_id, customer_id) do update set
           meetings_total = excluded.meetings_total, meetings_30d = excluded.meetings_30d,
           meetings_90d = excluded.meetings_90d, first_meeting_at = excluded.first_meeting_at,
           last_meeting_at = excluded.last_meeting_at, open_action_items = excluded.open_action_items,
           contacts_met = excluded.contacts_met, top_internal = excluded.top_internal,
           weekly = excluded.weekly, refreshed_at = excluded.refreshed_at",
    )
    .bind(org)
    .bind(customers)
    .bind(WEEKS)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// One customer's figures.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct Rollup {
    pub meetings_total: i32,
    pub meetings_30d: i32,
    pub meetings_90d: i32,
    pub first_meeting_at: Option<DateTime<Utc>>,
    pub last_meeting_at: Option<DateTime<Utc>>,
    pub open_action_items: i32,
    pub contacts_met: i32,
    pub top_internal: Vec<String>,
    pub weekly: Vec<i32>,
}

/// The figures of one customer (zeros before the first refresh).
pub async fn find(db: &PgPool, org: OrgId, customer: CustomerId) -> sqlx::Result<Rollup> {
    Ok(sqlx::query_as(
        "select meetings_total, meetings_30d, meetings_90d, first_meeting_at, last_meeting_at,
                open_action_items, contacts_met, top_internal, weekly
         from customer_rollups where org_id = $1 and customer_id = $2",
    )
    .bind(org)
    .bind(customer)
    .fetch_optional(db)
    .await?
    .unwrap_or_default())
}

/// A customer on the org home's lists.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Ranked {
    pub id: CustomerId,
    pub name: String,
    pub meetings_30d: i32,
    pub last_meeting_at: Option<DateTime<Utc>>,
}

/// The customers met most in the last 30 days.
pub async fn most_active(db: &PgPool, org: OrgId, limit: i64) -> sqlx::Result<Vec<Ranked>> {
    sqlx::query_as(
        "select c.id, c.name, r.meetings_30d, r.last_meeting_at
         from customer_rollups r join customers c on c.org_id = r.org_id and c.id = r.customer_id
         where r.org_id = $1 and r.meetings_30d > 0
         order by r.meetings_30d desc, r.customer_id limit $2",
    )
    .bind(org)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Customers met in the previous 90 days but not in the last 30, longest silent first.
pub async fn going_quiet(db: &PgPool, org: OrgId, limit: i64) -> sqlx::Result<Vec<Ranked>> {
    sqlx::query_as(
        "select c.id, c.name, r.meetings_30d, r.last_meeting_at
         from customer_rollups r join customers c on c.org_id = r.org_id and c.id = r.customer_id
         where r.org_id = $1
           and r.last_meeting_at >= now() - interval '90 days'
           and r.last_meeting_at < now() - interval '30 days'
         order by r.last_meeting_at, r.customer_id limit $2",
    )
    .bind(org)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Orgs with figures older than `age` (the 30- and 90-day counts move with time), at most `limit`.
pub async fn orgs_with_stale(
    db: &PgPool,
    age: chrono::Duration,
    limit: i64,
) -> sqlx::Result<Vec<OrgId>> {
    sqlx::query_scalar(
        "select distinct org_id from customer_rollups where refreshed_at < now() - $1 limit $2",
    )
    .bind(age)
    .bind(limit)
    .fetch_all(db)
    .await
}
