//! What each meeting became in each CRM connection (the write-back mapping): the record's id once
//! written, the hash of what was written, whether a create's answer was lost, failures and their
//! reasons; and the figures of a connection's sync audit.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::domain::{CrmConnectionId, CrmProvider, MeetingId, OrgId};

/// A push's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum PushState {
    Pending,
    Pushed,
    Failed,
    Skipped,
}

impl PushState {
    /// For people.
    pub fn label(self) -> &'static str {
        match self {
            PushState::Pending => "Pending",
            PushState::Pushed => "Pushed",
            PushState::Failed => "Failed",
            PushState::Skipped => "Not pushed",
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PushState::Pending => "pending",
            PushState::Pushed => "pushed",
            PushState::Failed => "failed",
            PushState::Skipped => "skipped",
        }
    }
}

/// The mapping row of one (meeting, connection, kind).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PushRow {
    pub state: PushState,
    pub push_key: String,
    pub external_id: Option<String>,
    pub content_hash: Option<String>,
    pub attempts: i32,
    pub in_doubt: bool,
}

/// The meeting as a CRM record is built from it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MeetingContent {
    pub title: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub summary_markdown: Option<String>,
    pub recording_url: Option<String>,
}

/// An attendee (name, email).
pub type Attendee = (Option<String>, String);

/// An action item (description, assignee email, completed).
pub type ActionItem = (String, Option<String>, bool);

/// The meeting's content, attendees and action items, or `None` when it does not exist.
pub async fn meeting_content(
    conn: &mut PgConnection,
    org: OrgId,
    meeting: MeetingId,
) -> sqlx::Result<Option<(MeetingContent, Vec<Attendee>, Vec<ActionItem>)>> {
    let Some(content): Option<MeetingContent> = sqlx::query_as(
        "select title, started_at, coalesce(recording_end_time, scheduled_end_time) as ended_at,
                summary_markdown, coalesce(share_url, fathom_url) as recording_url
           from meetings where org_id = $1 and id = $2",
    )
    .bind(org)
    .bind(meeting)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let attendees: Vec<Attendee> = sqlx::query_as(
        "select name, email from meeting_attendees
          where org_id = $1 and meeting_id = $2 and email is not null order by position",
    )
    .bind(org)
    .bind(meeting)
    .fetch_all(&mut *conn)
    .await?;
    let items: Vec<ActionItem> = sqlx::query_as(
        "select description, assignee_email, completed from meeting_action_items
          where org_id = $1 and meeting_id = $2 order by position",
    )
    .bind(org)
    .bind(meeting)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some((content, attendees, items)))
}

/// CRM ids to associate a meeting's record with in `connection`: the contacts (from that CRM)
/// who attended, and the companies (from that CRM) of the customers it is linked to.
pub async fn targets(
    conn: &mut PgConnection,
    org: OrgId,
    meeting: MeetingId,
    connection: CrmConnectionId,
) -> sqlx::Result<(Vec<String>, Vec<String>)> {
    let contacts: Vec<String> = sqlx::query_scalar(
        "select distinct r.external_id from meeting_attendees a
           join contacts ct on ct.org_id = a.org_id and ct.email = lower(btrim(a.email))
           join crm_records r on r.org_id = ct.org_id and r.contact_id = ct.id
                             and r.connection_id = $3 and r.kind = 'contact'
          where a.org_id = $1 and a.meeting_id = $2
            and exists (select 1 from meeting_customers mc
                         where mc.org_id = a.org_id and mc.meeting_id = a.meeting_id
                           and mc.customer_id = ct.customer_id)
          order by 1",
    )
    .bind(org)
    .bind(meeting)
    .bind(connection)
    .fetch_all(&mut *conn)
    .await?;
    let companies: Vec<String> = sqlx::query_scalar(
        "select distinct r.external_id from meeting_customers mc
           join crm_records r on r.org_id = mc.org_id and r.customer_id = mc.customer_id
                             and r.connection_id = $3 and r.kind = 'company'
          where mc.org_id = $1 and mc.meeting_id = $2 order by 1",
    )
    .bind(org)
    .bind(meeting)
    .bind(connection)
    .fetch_all(conn)
    .await?;
    Ok((contacts, companies))
}

/// The mapping row, if any.
pub async fn get(
    conn: &mut PgConnection,
    org: OrgId,
    meeting: MeetingId,
    connection: CrmConnectionId,
    kind: &str,
) -> sqlx::Result<Option<PushRow>> {
    sqlx::query_as(
        "select state, push_key, external_id, content_hash, attempts, in_doubt from crm_pushes
          where org_id = $1 and meeting_id = $2 and connection_id = $3 and kind = $4",
    )
    .bind(org)
    .bind(meeting)
    .bind(connection)
    .bind(kind)
    .fetch_optional(conn)
    .await
}

/// Records that a write is about to be sent, committed before it goes: if its answer is lost,
/// the next attempt knows a create may have happened (`in_doubt`).
pub async fn mark_sending(
    conn: &mut PgConnection,
    org: OrgId,
    meeting: MeetingId,
    connection: CrmConnectionId,
    kind: &str,
    push_key: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into crm_pushes (org_id, meeting_id, connection_id, kind, state, push_key, attempts, in_doubt)
         values ($1, $2, $3, $4, 'pending', $5, 1, true)
         on conflict (org_id, meeting_id, connection_id, kind) do update
            set state = 'pending', attempts = crm_pushes.attempts + 1,
                in_doubt = crm_pushes.in_doubt or crm_pushes.external_id is null,
                updated_at = now()",
    )
    .bind(org)
    .bind(meeting)
    .bind(connection)
    .bind(kind)
    .bind(push_key)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a written record.
#[allow(clippy::too_many_arguments)]
pub async fn record_pushed(
    conn: &mut PgConnection,
    org: OrgId,
    meeting: MeetingId,
    connection: CrmConnectionId,
    kind: &str,
    external_id: &str,
    url: Option<&str>,
    content_hash: &str,
    record_timestamp: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "update crm_pushes set state = 'pushed', external_id = $5, external_url = $6,
                content_hash = $7, record_timestamp = $8, in_doubt = false, error = null,
                attempts = 0, pushed_at = now(), updated_at = now()
          where org_id = $1 and meeting_id = $2 and connection_id = $3 and kind = $4",
    )
    .bind(org)
    .bind(meeting)
    .bind(connection)
    .bind(kind)
    .bind(external_id)
    .bind(url)
    .bind(content_hash)
    .bind(record_timestamp)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a failed attempt: `failed` for good, or still `pending` (a retry is queued). A refusal
/// (`created_nothing`) means no record was made, so nothing is in doubt.
#[allow(clippy::too_many_arguments)]
pub async fn record_failure(
    conn: &mut PgConnection,
    org: OrgId,
    meeting: MeetingId,
    connection: CrmConnectionId,
    kind: &str,
    error: &str,
    for_good: bool,
    created_nothing: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        "update crm_pushes
            set state = case when $6 then 'failed' else 'pending' end, error = $5,
                in_doubt = in_doubt and not $7, updated_at = now()
          where org_id = $1 and meeting_id = $2 and connection_id = $3 and kind = $4",
    )
    .bind(org)
    .bind(meeting)
    .bind(connection)
    .bind(kind)
    .bind(error)
    .bind(for_good)
    .bind(created_nothing)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records that the meeting is not pushed to this connection, and why.
pub async fn record_skipped(
    conn: &mut PgConnection,
    org: OrgId,
    meeting: MeetingId,
    connection: CrmConnectionId,
    kind: &str,
    push_key: &str,
    reason: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into crm_pushes (org_id, meeting_id, connection_id, kind, state, push_key, error)
         values ($1, $2, $3, $4, 'skipped', $5, $6)
         on conflict (org_id, meeting_id, connection_id, kind) do update
            set state = case when crm_pushes.external_id is null then 'skipped' else crm_pushes.state end,
                error = $6, updated_at = now()",
    )
    .bind(org)
    .bind(meeting)
    .bind(connection)
    .bind(kind)
    .bind(push_key)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(())
}

/// A meeting's push to one connection, as its page shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PushStatus {
    pub connection_id: CrmConnectionId,
    pub provider: CrmProvider,
    pub account_name: String,
    pub kind: String,
    pub state: PushState,
    pub external_url: Option<String>,
    pub error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// Every push of a meeting, to live connections.
pub async fn for_meeting(
    db: &PgPool,
    org: OrgId,
    meeting: MeetingId,
) -> sqlx::Result<Vec<PushStatus>> {
    sqlx::query_as(
        "select p.connection_id, c.provider, c.account_name, p.kind, p.state, p.external_url,
                p.error, p.updated_at
           from crm_pushes p join crm_connections c on c.org_id = p.org_id and c.id = p.connection_id
          where p.org_id = $1 and p.meeting_id = $2 and c.state <> 'disconnected'
          order by c.connected_at, p.kind",
    )
    .bind(org)
    .bind(meeting)
    .fetch_all(db)
    .await
}

/// A connection's sync audit over the last `days` days.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct AuditFigures {
    /// Meetings recorded in the window that are linked to a customer this CRM supplied.
    pub matched: i64,
    pub pushed: i64,
    pub pending: i64,
    pub failed: i64,
    /// Matched meetings with no push row at all yet.
    pub missing: i64,
    /// Pushed records whose timeline time is more than a minute off the recording's end.
    pub timestamp_mismatches: i64,
}

/// The audit figures of `connection` for meetings that started in the last `days` days.
pub async fn audit(
    db: &PgPool,
    org: OrgId,
    connection: CrmConnectionId,
    days: i32,
) -> sqlx::Result<AuditFigures> {
    sqlx::query_as(
        "with matched as (
             select distinct m.id, coalesce(m.recording_end_time, m.scheduled_end_time, m.started_at) as ended_at
               from meetings m
               join meeting_customers mc on mc.org_id = m.org_id and mc.meeting_id = m.id
               join crm_records r on r.org_id = mc.org_id and r.customer_id = mc.customer_id
                                 and r.connection_id = $2 and r.kind = 'company'
              where m.org_id = $1 and m.started_at >= now() - make_interval(days => $3))
         select count(*) as matched,
                count(*) filter (where p.state = 'pushed') as pushed,
                count(*) filter (where p.state = 'pending') as pending,
                count(*) filter (where p.state = 'failed') as failed,
                count(*) filter (where p.state is null) as missing,
                count(*) filter (where p.state = 'pushed'
                                   and abs(extract(epoch from p.record_timestamp - x.ended_at)) > 60)
                    as timestamp_mismatches
           from matched x
           left join crm_pushes p on p.org_id = $1 and p.meeting_id = x.id and p.connection_id = $2
                                 and p.kind in ('note', 'task')",
    )
    .bind(org)
    .bind(connection)
    .bind(days)
    .fetch_one(db)
    .await
}

/// A meeting the audit flags: failed, pending, never pushed, or with a timestamp off by more than
/// a minute.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditException {
    pub meeting_id: MeetingId,
    pub title: String,
    pub started_at: DateTime<Utc>,
    pub problem: String,
}

/// Up to `limit` exceptions of the last `days` days, newest first.
pub async fn audit_exceptions(
    db: &PgPool,
    org: OrgId,
    connection: CrmConnectionId,
    days: i32,
    limit: i64,
) -> sqlx::Result<Vec<AuditException>> {
    sqlx::query_as(
        "with matched as (
             select distinct m.id, m.title, m.started_at,
                    coalesce(m.recording_end_time, m.scheduled_end_time, m.started_at) as ended_at
               from meetings m
               join meeting_customers mc on mc.org_id = m.org_id and mc.meeting_id = m.id
               join crm_records r on r.org_id = mc.org_id and r.customer_id = mc.customer_id
                                 and r.connection_id = $2 and r.kind = 'company'
              where m.org_id = $1 and m.started_at >= now() - make_interval(days => $3))
         select x.id as meeting_id, x.title, x.started_at,
                case when p.state is null then 'Not pushed yet'
                     when p.state = 'failed' then 'Failed: ' || coalesce(p.error, 'unknown')
                     when p.state = 'pending' then 'Pending'
                     else 'Timeline time differs from the recording end by '
                          || round(abs(extract(epoch from p.record_timestamp - x.ended_at)) / 60) || ' min'
                end as problem
           from matched x
           left join crm_pushes p on p.org_id = $1 and p.meeting_id = x.id and p.connection_id = $2
                                 and p.kind in ('note', 'task')
          where p.state is null or p.state in ('failed', 'pending')
             or abs(extract(epoch from p.record_timestamp - x.ended_at)) > 60
          order by x.started_at desc limit $4",
    )
    .bind(org)
    .bind(connection)
    .bind(days)
    .bind(limit)
    .fetch_all(db)
    .await
}
