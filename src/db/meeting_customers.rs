//! Links of meetings to customers, the decisions people made about them, what matching reads for
//! a batch of meetings (each read one statement, whatever the batch's size), and the org's
//! matching settings.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::domain::matching::{Attendee, Decision, Link, LinkReason, Rules, default_free_mail};
use crate::domain::{CompanyDomain, CustomerId, MeetingId, OrgId, UserId};

/// The org's matching settings; without a saved row, the internal domains are those of its
/// members' and connected Fathom users' addresses (free-mail ones left out).
pub async fn rules(conn: &mut PgConnection, org: OrgId) -> sqlx::Result<Rules> {
    let saved: Option<(Vec<String>, Vec<String>, Vec<String>)> = sqlx::query_as(
        "select internal_domains, free_mail_added, free_mail_removed
         from org_matching_settings where org_id = $1",
    )
    .bind(org)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some((internal, added, removed)) = saved {
        return Ok(Rules {
            internal_domains: internal.into_iter().collect(),
            free_mail_added: added.into_iter().collect(),
            free_mail_removed: removed.into_iter().collect(),
        });
    }
    let emails: Vec<String> = sqlx::query_scalar(
        "select u.email from memberships ms join users u on u.id = ms.user_id where ms.org_id = $1
         union
         select fathom_user_email from fathom_connections where org_id = $1",
    )
    .bind(org)
    .fetch_all(&mut *conn)
    .await?;
    let internal_domains = emails
        .iter()
        .filter_map(|e| CompanyDomain::of_email(e))
        .filter(|d| !default_free_mail().contains(d.as_str()))
        .map(|d| d.as_str().to_owned())
        .collect();
    Ok(Rules {
        internal_domains,
        ..Rules::default()
    })
}

/// The meetings a matching batch reads.
#[derive(Debug, Clone, Copy)]
pub enum Meetings<'a> {
    /// These meetings, wherever they are among the org's (each read looks them up by id).
    Listed(&'a [MeetingId]),
    /// These meetings, in id order, which were every meeting of the org from the first to the
    /// last ([`meeting_ids_after`], a re-match's batch): each read is one index range scan, and
    /// a meeting stored meanwhile inside the range is left out.
    Span(&'a [MeetingId]),
}

impl<'a> Meetings<'a> {
    /// The meetings named.
    pub fn ids(&self) -> &'a [MeetingId] {
        match self {
            Meetings::Listed(ids) | Meetings::Span(ids) => ids,
        }
    }

    /// The first and last of a span, or `None` for a list (or an empty span).
    fn span(&self) -> Option<(MeetingId, MeetingId)> {
        match self {
            Meetings::Listed(_) => None,
            Meetings::Span(ids) => Some((*ids.first()?, *ids.last()?)),
        }
    }
}

/// One statement's `where` on `meeting_id` for either kind of [`Meetings`]: `$2` is the list, or
/// `$2` and `$3` the span's ends.
macro_rules! by_meetings {
    ($head:literal, $tail:literal) => {
        (
            concat!($head, " meeting_id = any($2) ", $tail),
            concat!($head, " meeting_id >= $2 and meeting_id <= $3 ", $tail),
        )
    };
}

/// Runs one of the `(listed, span)` statements of [`by_meetings!`] for `meetings`.
async fn fetch_by_meetings<T>(
    conn: &mut PgConnection,
    (listed, span): (&'static str, &'static str),
    org: OrgId,
    meetings: Meetings<'_>,
) -> sqlx::Result<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    match meetings.span() {
        Some((first, last)) => {
            sqlx::query_as(span)
                .bind(org)
                .bind(first)
                .bind(last)
                .fetch_all(conn)
                .await
        }
        None => {
            sqlx::query_as(listed)
                .bind(org)
                .bind(meetings.ids())
                .fetch_all(conn)
                .await
        }
    }
}

/// The attendees of each of `meetings` (every meeting named appears, with no attendees if none).
pub async fn attendees(
    conn: &mut PgConnection,
    org: OrgId,
    meetings: Meetings<'_>,
) -> sqlx::Result<HashMap<MeetingId, Vec<Attendee>>> {
    let rows: Vec<(MeetingId, Option<String>, bool)> = fetch_by_meetings(
        conn,
        by_meetings!(
            "select meeting_id, email, is_external from meeting_attendees
             where org_id = $1 and",
            "order by meeting_id, position"
        ),
        org,
        meetings,
    )
    .await?;
    let mut by_meeting: HashMap<MeetingId, Vec<Attendee>> =
        meetings.ids().iter().map(|m| (*m, Vec::new())).collect();
    for (meeting, email, fathom_external) in rows {
        if let Some(list) = by_meeting.get_mut(&meeting) {
            list.push(Attendee {
                email,
                fathom_external,
            });
        }
    }
    Ok(by_meeting)
}

/// The contacts' customers for these (normalised) emails and the owners of these domains.
pub async fn directory(
    conn: &mut PgConnection,
    org: OrgId,
    emails: &[String],
    domains: &[String],
) -> sqlx::Result<(HashMap<String, CustomerId>, HashMap<String, CustomerId>)> {
    let contacts: Vec<(String, CustomerId)> = sqlx::query_as(
        "select email, customer_id from contacts where org_id = $1 and email = any($2)",
    )
    .bind(org)
    .bind(emails)
    .fetch_all(&mut *conn)
    .await?;
    let owners: Vec<(String, CustomerId)> = sqlx::query_as(
        "select domain, customer_id from customer_domains where org_id = $1 and domain = any($2)",
    )
    .bind(org)
    .bind(domains)
    .fetch_all(&mut *conn)
    .await?;
    Ok((contacts.into_iter().collect(), owners.into_iter().collect()))
}

/// People's decisions about `meetings`.
pub async fn decisions(
    conn: &mut PgConnection,
    org: OrgId,
    meetings: Meetings<'_>,
) -> sqlx::Result<HashMap<MeetingId, Vec<(CustomerId, Decision)>>> {
    let rows: Vec<(MeetingId, CustomerId, String)> = fetch_by_meetings(
        conn,
        by_meetings!(
            "select meeting_id, customer_id, decision from meeting_customer_decisions
             where org_id = $1 and",
            ""
        ),
        org,
        meetings,
    )
    .await?;
    let named: HashSet<MeetingId> = meetings.ids().iter().copied().collect();
    let mut by_meeting: HashMap<MeetingId, Vec<(CustomerId, Decision)>> = HashMap::new();
    for (meeting, customer, decision) in rows {
        if let Some(decision) = Decision::parse(&decision)
            && named.contains(&meeting)
        {
            by_meeting
                .entry(meeting)
                .or_default()
                .push((customer, decision));
        }
    }
    Ok(by_meeting)
}

/// Which matching lock a batch takes before it reads the links it will replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchLock {
    /// The org's matching lock alone: no other match of the org writes until the caller's
    /// transaction ends (`MatchMeeting`, a person's link or unlink).
    Exclusive,
    /// Shared with the other batches of the caller's re-match run, which holds the org's
    /// [`hold_rematch_run`] lock: its batches name disjoint meetings, so they may write at once,
    /// while any exclusive match waits for them.
    RematchRun,
}

/// The stored links of `meetings`, read after taking the org's matching lock in `lock`'s mode,
/// held until the caller's transaction ends: no match writes what it computed from links another
/// has just replaced. (One lock per batch, rather than a row lock on every meeting, which would
/// write each meeting's row.)
pub async fn links_for_update(
    conn: &mut PgConnection,
    org: OrgId,
    meetings: Meetings<'_>,
    lock: MatchLock,
) -> sqlx::Result<HashMap<MeetingId, Vec<Link>>> {
    let take = match lock {
        MatchLock::Exclusive => {
            "select pg_advisory_xact_lock(hashtextextended('debrief.match:' || $1::text, 0))"
        }
        MatchLock::RematchRun => {
            "select pg_advisory_xact_lock_shared(hashtextextended('debrief.match:' || $1::text, 0))"
        }
    };
    sqlx::query(take).bind(org).execute(&mut *conn).await?;
    let rows: Vec<(MeetingId, CustomerId, String, Vec<String>)> = fetch_by_meetings(
        conn,
        by_meetings!(
            "select meeting_id, customer_id, reason, matched_emails from meeting_customers
             where org_id = $1 and",
            ""
        ),
        org,
        meetings,
    )
    .await?;
    let named: HashSet<MeetingId> = meetings.ids().iter().copied().collect();
    let mut by_meeting: HashMap<MeetingId, Vec<Link>> = HashMap::new();
    for (meeting, customer, reason, emails) in rows {
        if !named.contains(&meeting) {
            continue;
        }
        by_meeting.entry(meeting).or_default().push(Link {
            customer,
            reason: LinkReason::parse(&reason).unwrap_or(LinkReason::Manual),
            emails,
        });
    }
    Ok(by_meeting)
}

/// Writes the difference between `stored` and `wanted` links of each meeting: two statements in
/// all (one delete, one upsert), only for links that changed. Returns (written, removed).
pub async fn write_changes(
    conn: &mut PgConnection,
    org: OrgId,
    stored: &HashMap<MeetingId, Vec<Link>>,
    wanted: &HashMap<MeetingId, Vec<Link>>,
) -> sqlx::Result<(u64, u64)> {
    let mut gone = (Vec::new(), Vec::new());
    let mut upsert = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (meeting, want) in wanted {
        let have = stored.get(meeting).map(Vec::as_slice).unwrap_or_default();
        let wanted_customers: HashSet<CustomerId> = want.iter().map(|l| l.customer).collect();
        for old in have {
            if !wanted_customers.contains(&old.customer) {
                gone.0.push(*meeting);
                gone.1.push(old.customer);
            }
        }
        for link in want {
            if !have.contains(link) {
                upsert.0.push(*meeting);
                upsert.1.push(link.customer);
                upsert.2.push(link.reason.as_str());
                upsert
                    .3
                    .push(serde_json::to_string(&link.emails).unwrap_or_default());
            }
        }
    }
    let mut removed = 0;
    if !gone.0.is_empty() {
        removed = sqlx::query(
            "delete from meeting_customers mc
             using unnest($2::uuid[], $3::uuid[]) as g(meeting_id, customer_id)
             where mc.org_id = $1 and mc.meeting_id = g.meeting_id and mc.customer_id = g.customer_id",
        )
        .bind(org)
        .bind(&gone.0)
        .bind(&gone.1)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    let mut written = 0;
    if !upsert.0.is_empty() {
        // Only customers that still exist: one deleted meanwhile is skipped, not an error.
        written = sqlx::query(
            "insert into meeting_customers (org_id, meeting_id, customer_id, reason, matched_emails)
             select $1, u.meeting_id, u.customer_id, u.reason,
                    array(select jsonb_array_elements_text(u.emails::jsonb))
             from unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[])
                    as u(meeting_id, customer_id, reason, emails)
             where exists (select 1 from customers c where c.org_id = $1 and c.id = u.customer_id)
             order by u.meeting_id, u.customer_id
             on conflict (org_id, meeting_id, customer_id) do update
               set reason = excluded.reason, matched_emails = excluded.matched_emails",
        )
        .bind(org)
        .bind(&upsert.0)
        .bind(&upsert.1)
        .bind(&upsert.2)
        .bind(&upsert.3)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    Ok((written, removed))
}

/// Records a person's decision about a meeting and a customer (replacing an earlier one);
/// `false` when the meeting or the customer is not the org's.
pub async fn decide(
    conn: &mut PgConnection,
    org: OrgId,
    meeting: MeetingId,
    customer: CustomerId,
    decision: Decision,
    by: UserId,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "insert into meeting_customer_decisions (org_id, meeting_id, customer_id, decision, decided_by)
         select $1, m.id, c.id, $4, $5
         from meetings m join customers c on c.org_id = m.org_id and c.id = $3
         where m.org_id = $1 and m.id = $2
         on conflict (org_id, meeting_id, customer_id) do update
           set decision = excluded.decision, decided_by = excluded.decided_by, decided_at = now()",
    )
    .bind(org)
    .bind(meeting)
    .bind(customer)
    .bind(decision.as_str())
    .bind(by)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether `meeting` is one of the org's.
pub async fn meeting_exists(db: &PgPool, org: OrgId, meeting: MeetingId) -> sqlx::Result<bool> {
    sqlx::query_scalar("select exists (select 1 from meetings where org_id = $1 and id = $2)")
        .bind(org)
        .bind(meeting)
        .fetch_one(db)
        .await
}

/// A meeting's customer as its page shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MeetingCustomer {
    pub customer_id: CustomerId,
    pub name: String,
    pub reason: String,
    pub matched_emails: Vec<String>,
}

/// The customers a meeting is linked to, by name.
pub async fn of_meeting(
    db: &PgPool,
    org: OrgId,
    meeting: MeetingId,
) -> sqlx::Result<Vec<MeetingCustomer>> {
    sqlx::query_as(
        "select c.id as customer_id, c.name, mc.reason, mc.matched_emails
         from meeting_customers mc join customers c on c.org_id = mc.org_id and c.id = mc.customer_id
         where mc.org_id = $1 and mc.meeting_id = $2
         order by lower(c.name), c.id",
    )
    .bind(org)
    .bind(meeting)
    .fetch_all(db)
    .await
}

/// The next `limit` meeting ids of the org after `after`, in id order (a re-match's batches).
pub async fn meeting_ids_after(
    db: &PgPool,
    org: OrgId,
    after: Option<MeetingId>,
    limit: i64,
) -> sqlx::Result<Vec<MeetingId>> {
    sqlx::query_scalar(
        "select id from meetings where org_id = $1 and ($2::uuid is null or id > $2)
         order by id limit $3",
    )
    .bind(org)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Waits for and takes the org's re-match run lock on `conn` (a session lock, so it outlives the
/// run's batch transactions): one run of an org at a time, so the batches that share the matching
/// lock ([`MatchLock::RematchRun`]) are all one run's, over disjoint meetings.
pub async fn hold_rematch_run(conn: &mut PgConnection, org: OrgId) -> sqlx::Result<()> {
    sqlx::query("select pg_advisory_lock(hashtextextended('debrief.rematch:' || $1::text, 0))")
        .bind(org)
        .execute(conn)
        .await?;
    Ok(())
}

/// Lets go of the lock [`hold_rematch_run`] took on `conn`.
pub async fn release_rematch_run(conn: &mut PgConnection, org: OrgId) -> sqlx::Result<()> {
    sqlx::query("select pg_advisory_unlock(hashtextextended('debrief.rematch:' || $1::text, 0))")
        .bind(org)
        .execute(conn)
        .await?;
    Ok(())
}

/// Asks for a re-match of the org; `true` when none was pending (the caller queues the job).
pub async fn request_rematch(conn: &mut PgConnection, org: OrgId) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "insert into org_rematch_requests (org_id) values ($1) on conflict (org_id) do nothing",
    )
    .bind(org)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Takes the org's pending re-match request (so edits from now on ask for a new one); when it
/// was made, if there was one.
pub async fn take_rematch_request(db: &PgPool, org: OrgId) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar("delete from org_rematch_requests where org_id = $1 returning requested_at")
        .bind(org)
        .fetch_optional(db)
        .await
}

/// Meetings with external attendees linked to no customer, counted up to `cap` (the home page
/// says "cap+" beyond it, so no view counts a whole org).
pub async fn unmatched_count(db: &PgPool, org: OrgId, cap: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "select count(*) from (
             select 1 from meetings m
             where m.org_id = $1 and m.has_external_attendees
               and not exists (select 1 from meeting_customers mc
                                where mc.org_id = m.org_id and mc.meeting_id = m.id)
             limit $2) t",
    )
    .bind(org)
    .bind(cap)
    .fetch_one(db)
    .await
}

/// Saves the org's matching settings (replacing the defaults or earlier ones).
pub async fn save_rules(conn: &mut PgConnection, org: OrgId, rules: &Rules) -> sqlx::Result<()> {
    let sorted = |set: &HashSet<String>| {
        let mut v: Vec<String> = set.iter().cloned().collect();
        v.sort();
        v
    };
    sqlx::query(
        "insert into org_matching_settings (org_id, internal_domains, free_mail_added, free_mail_removed)
         values ($1, $2, $3, $4)
         on conflict (org_id) do update set internal_domains = excluded.internal_domains,
           free_mail_added = excluded.free_mail_added, free_mail_removed = excluded.free_mail_removed,
           updated_at = now()",
    )
    .bind(org)
    .bind(sorted(&rules.internal_domains))
    .bind(sorted(&rules.free_mail_added))
    .bind(sorted(&rules.free_mail_removed))
    .execute(conn)
    .await?;
    Ok(())
}
