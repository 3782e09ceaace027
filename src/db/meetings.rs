//! Meetings of an org and their parts (attendees, transcript, summary, action items, highlights):
//! the one upsert both webhooks and sync go through, and the reads of the Meetings pages.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::meeting::MeetingRecord;
use crate::domain::{FathomConnectionId, MeetingId, OrgId};

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    Added,
    Updated,
    Unchanged,
}

/// How a connection saw a meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Webhook,
    Sync,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::Webhook => "webhook",
            Via::Sync => "sync",
        }
    }
}

#[derive(sqlx::FromRow)]
struct Stored {
    id: MeetingId,
    core_hash: String,
    transcript_hash: Option<String>,
    summary_hash: Option<String>,
    action_items_hash: Option<String>,
    highlights_hash: Option<String>,
    core_observed_at: Option<DateTime<Utc>>,
    transcript_observed_at: Option<DateTime<Utc>>,
    summary_observed_at: Option<DateTime<Utc>>,
    action_items_observed_at: Option<DateTime<Utc>>,
    highlights_observed_at: Option<DateTime<Utc>>,
}

/// Whether a part seen at `observed` with hash `new` replaces the stored one: it differs, and it was
/// not seen before the stored one was.
fn replaces(
    stored_hash: Option<&str>,
    stored_observed: Option<DateTime<Utc>>,
    new: &str,
    observed: DateTime<Utc>,
) -> bool {
    stored_hash != Some(new) && stored_observed.is_none_or(|stored| observed >= stored)
}

/// Stores a meeting by (org, recording id): new parts replace stored ones, parts not sent are kept,
/// unchanged parts are not written, and a part seen (`observed_at`) before the stored one was is
/// left alone, so an older answer arriving late never overwrites newer content. Run inside a
/// transaction.
pub async fn upsert(
    conn: &mut PgConnection,
    org: OrgId,
    record: &MeetingRecord,
    source: Option<(FathomConnectionId, Via)>,
    observed_at: DateTime<Utc>,
) -> sqlx::Result<(MeetingId, UpsertOutcome)> {
    let core_hash = record.core_hash();
    let inserted: Option<Uuid> = sqlx::query_scalar(
        "insert into meetings (id, org_id, recording_id, title, started_at, has_external_attendees, core_hash)
         values ($1, $2, $3, $4, $5, $6, '')
         on conflict (org_id, recording_id) do nothing
         returning id",
    )
    .bind(Uuid::now_v7())
    .bind(org)
    .bind(record.recording_id)
    .bind(&record.title)
    .bind(record.started_at(Utc::now()))
    .bind(record.has_external_attendees())
    .fetch_optional(&mut *conn)
    .await?;
    let stored: Stored = sqlx::query_as(
        "select id, core_hash, transcript_hash, summary_hash, action_items_hash, highlights_hash,
                core_observed_at, transcript_observed_at, summary_observed_at,
                action_items_observed_at, highlights_observed_at
         from meetings where org_id = $1 and recording_id = $2 for update",
    )
    .bind(org)
    .bind(record.recording_id)
    .fetch_one(&mut *conn)
    .await?;
    let id = stored.id;

    let mut changed = false;
    let stored_core = (!stored.core_hash.is_empty()).then_some(stored.core_hash.as_str());
    if replaces(
        stored_core,
        stored.core_observed_at,
        &core_hash,
        observed_at,
    ) {
        update_core(conn, org, id, record, &core_hash).await?;
        replace_attendees(conn, org, id, record).await?;
        set_observed(conn, "core_observed_at", org, id, observed_at).await?;
        changed = true;
    }
    if let Some(hash) = record.transcript_hash()
        && replaces(
            stored.transcript_hash.as_deref(),
            stored.transcript_observed_at,
            &hash,
            observed_at,
        )
    {
        replace_transcript(conn, org, id, record, &hash).await?;
        set_observed(conn, "transcript_observed_at", org, id, observed_at).await?;
        changed = true;
    }
    if let Some(hash) = record.summary_hash()
        && replaces(
            stored.summary_hash.as_deref(),
            stored.summary_observed_at,
            &hash,
            observed_at,
        )
    {
        let summary = record.summary.as_ref();
        sqlx::query(
            "update meetings set summary_template = $3, summary_markdown = $4, summary_hash = $5,
                    summary_observed_at = $6, updated_at = now()
             where org_id = $1 and id = $2",
        )
        .bind(org)
        .bind(id)
        .bind(summary.and_then(|s| s.template_name.as_deref()))
        .bind(summary.and_then(|s| s.markdown.as_deref()))
        .bind(&hash)
        .bind(observed_at)
        .execute(&mut *conn)
        .await?;
        changed = true;
    }
    if let Some(hash) = record.action_items_hash()
        && replaces(
            stored.action_items_hash.as_deref(),
            stored.action_items_observed_at,
            &hash,
            observed_at,
        )
    {
        replace_action_items(conn, org, id, record, &hash).await?;
        set_observed(conn, "action_items_observed_at", org, id, observed_at).await?;
        changed = true;
    }
    if let Some(hash) = record.highlights_hash()
        && replaces(
            stored.highlights_hash.as_deref(),
            stored.highlights_observed_at,
            &hash,
            observed_at,
        )
    {
        replace_highlights(conn, org, id, record, &hash).await?;
        set_observed(conn, "highlights_observed_at", org, id, observed_at).await?;
        changed = true;
    }
    if let Some((connection, via)) = source {
        sqlx::query(
            "insert into meeting_sources (org_id, meeting_id, connection_id, via)
             values ($1, $2, $3, $4) on conflict do nothing",
        )
        .bind(org)
        .bind(id)
        .bind(connection)
        .bind(via.as_str())
        .execute(&mut *conn)
        .await?;
    }
    let outcome = match (inserted.is_some(), changed) {
        (true, _) => UpsertOutcome::Added,
        (false, true) => UpsertOutcome::Updated,
        (false, false) => UpsertOutcome::Unchanged,
    };
    Ok((id, outcome))
}

async fn update_core(
    conn: &mut PgConnection,
    org: OrgId,
    id: MeetingId,
    r: &MeetingRecord,
    core_hash: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "update meetings set
            title = $3, meeting_title = $4, meeting_type = $5, fathom_url = $6, share_url = $7,
            meeting_url = $8, fathom_created_at = $9, scheduled_start_time = $10,
            scheduled_end_time = $11, recording_start_time = $12, recording_end_time = $13,
            started_at = $14, recorded_by_name = $15, recorded_by_email = $16, recorded_by_team = $17,
            transcript_language = $18, shared_with = $19, has_external_attendees = $20,
            core_hash = $21, updated_at = now()
         where org_id = $1 and id = $2",
    )
    .bind(org)
    .bind(id)
    .bind(&r.title)
    .bind(&r.meeting_title)
    .bind(&r.meeting_type)
    .bind(&r.fathom_url)
    .bind(&r.share_url)
    .bind(&r.meeting_url)
    .bind(r.fathom_created_at)
    .bind(r.scheduled_start_time)
    .bind(r.scheduled_end_time)
    .bind(r.recording_start_time)
    .bind(r.recording_end_time)
    .bind(r.started_at(Utc::now()))
    .bind(&r.recorded_by_name)
    .bind(&r.recorded_by_email)
    .bind(&r.recorded_by_team)
    .bind(&r.transcript_language)
    .bind(&r.shared_with)
    .bind(r.has_external_attendees())
    .bind(core_hash)
    .execute(conn)
    .await?;
    Ok(())
}

fn positions(n: usize) -> Vec<i32> {
    (0..n)
        .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
        .collect()
}

async fn clear(
    conn: &mut PgConnection,
    table: &str,
    org: OrgId,
    id: MeetingId,
) -> sqlx::Result<()> {
    let sql = format!("delete from {table} where org_id = $1 and meeting_id = $2");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

async fn replace_attendees(
    conn: &mut PgConnection,
    org: OrgId,
    id: MeetingId,
    r: &MeetingRecord,
) -> sqlx::Result<()> {
    clear(conn, "meeting_attendees", org, id).await?;
    let a = &r.attendees;
    sqlx::query(
        "insert into meeting_attendees
           (org_id, meeting_id, position, name, email, email_domain, is_external, matched_speaker_display_name)
         select $1, $2, * from unnest($3::int[], $4::text[], $5::text[], $6::text[], $7::bool[], $8::text[])",
    )
    .bind(org)
    .bind(id)
    .bind(positions(a.len()))
    .bind(a.iter().map(|x| x.name.clone()).collect::<Vec<_>>())
    .bind(a.iter().map(|x| x.email.clone()).collect::<Vec<_>>())
    .bind(a.iter().map(|x| x.email_domain.clone()).collect::<Vec<_>>())
    .bind(a.iter().map(|x| x.is_external).collect::<Vec<_>>())
    .bind(
        a.iter()
            .map(|x| x.matched_speaker_display_name.clone())
            .collect::<Vec<_>>(),
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn replace_transcript(
    conn: &mut PgConnection,
    org: OrgId,
    id: MeetingId,
    r: &MeetingRecord,
    hash: &str,
) -> sqlx::Result<()> {
    clear(conn, "meeting_transcript_lines", org, id).await?;
    let lines = r.transcript.as_deref().unwrap_or_default();
    sqlx::query(
        "insert into meeting_transcript_lines
           (org_id, meeting_id, position, speaker_name, speaker_email, timestamp_text, timestamp_seconds, text)
         select $1, $2, * from unnest($3::int[], $4::text[], $5::text[], $6::text[], $7::int[], $8::text[])",
    )
    .bind(org)
    .bind(id)
    .bind(positions(lines.len()))
    .bind(lines.iter().map(|l| l.speaker_name.clone()).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.speaker_email.clone()).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.timestamp_text.clone()).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.timestamp_seconds).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.text.clone()).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    set_hash(conn, "transcript_hash", org, id, hash).await
}

async fn replace_action_items(
    conn: &mut PgConnection,
    org: OrgId,
    id: MeetingId,
    r: &MeetingRecord,
    hash: &str,
) -> sqlx::Result<()> {
    clear(conn, "meeting_action_items", org, id).await?;
    let items = r.action_items.as_deref().unwrap_or_default();
    sqlx::query(
        "insert into meeting_action_items
           (org_id, meeting_id, position, description, user_generated, completed, recording_timestamp,
            playback_url, assignee_name, assignee_email, assignee_team)
         select $1, $2, * from unnest($3::int[], $4::text[], $5::bool[], $6::bool[], $7::text[],
                                      $8::text[], $9::text[], $10::text[], $11::text[])",
    )
    .bind(org)
    .bind(id)
    .bind(positions(items.len()))
    .bind(items.iter().map(|i| i.description.clone()).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.user_generated).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.completed).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.recording_timestamp.clone()).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.playback_url.clone()).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.assignee_name.clone()).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.assignee_email.clone()).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.assignee_team.clone()).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    set_hash(conn, "action_items_hash", org, id, hash).await
}

async fn replace_highlights(
    conn: &mut PgConnection,
    org: OrgId,
    id: MeetingId,
    r: &MeetingRecord,
    hash: &str,
) -> sqlx::Result<()> {
    clear(conn, "meeting_highlights", org, id).await?;
    let hs = r.highlights.as_deref().unwrap_or_default();
    sqlx::query(
        "insert into meeting_highlights
           (org_id, meeting_id, position, kind, summary, text, start_seconds, end_seconds)
         select $1, $2, * from unnest($3::int[], $4::text[], $5::text[], $6::text[], $7::float8[], $8::float8[])",
    )
    .bind(org)
    .bind(id)
    .bind(positions(hs.len()))
    .bind(hs.iter().map(|h| h.kind.clone()).collect::<Vec<_>>())
    .bind(hs.iter().map(|h| h.summary.clone()).collect::<Vec<_>>())
    .bind(hs.iter().map(|h| h.text.clone()).collect::<Vec<_>>())
    .bind(hs.iter().map(|h| h.start_seconds).collect::<Vec<_>>())
    .bind(hs.iter().map(|h| h.end_seconds).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    set_hash(conn, "highlights_hash", org, id, hash).await
}

async fn set_observed(
    conn: &mut PgConnection,
    column: &str,
    org: OrgId,
    id: MeetingId,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    let sql = format!("update meetings set {column} = $3 where org_id = $1 and id = $2");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(id)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

async fn set_hash(
    conn: &mut PgConnection,
    column: &str,
    org: OrgId,
    id: MeetingId,
    hash: &str,
) -> sqlx::Result<()> {
    let sql = format!(
        "update meetings set {column} = $3, updated_at = now() where org_id = $1 and id = $2"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(id)
        .bind(hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// Meetings per page of the Meetings list.
pub const PAGE_SIZE: i64 = 50;

/// A row of the Meetings list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MeetingListItem {
    pub id: Uuid,
    pub title: String,
    pub started_at: DateTime<Utc>,
    pub recorded_by_name: Option<String>,
    pub recorded_by_email: Option<String>,
    pub has_external_attendees: bool,
    pub attendee_count: i64,
    /// Names of the customers it is linked to.
    pub customers: Vec<String>,
}

/// Which meetings a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeetingFilter {
    /// Only this customer's.
    pub customer: Option<crate::domain::CustomerId>,
    /// `Some(true)`: only meetings linked to a customer; `Some(false)`: only those with outside
    /// attendees and no customer.
    pub matched: Option<bool>,
    /// Only meetings from this moment on.
    pub from: Option<DateTime<Utc>>,
    /// Only meetings before this moment.
    pub until: Option<DateTime<Utc>>,
}

/// Up to `limit` of the org's meetings, newest first, strictly before the keyset
/// `(started_at, id)`.
pub async fn list(
    db: &PgPool,
    org: OrgId,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<MeetingListItem>> {
    list_filtered(db, org, &MeetingFilter::default(), before, limit).await
}

/// [`list`] with a filter.
pub async fn list_filtered(
    db: &PgPool,
    org: OrgId,
    filter: &MeetingFilter,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<MeetingListItem>> {
    sqlx::query_as(
        "select m.id, m.title, m.started_at, m.recorded_by_name, m.recorded_by_email,
                m.has_external_attendees,
                (select count(*) from meeting_attendees a where a.org_id = m.org_id and a.meeting_id = m.id) as attendee_count,
                array(select c.name from meeting_customers mc
                        join customers c on c.org_id = mc.org_id and c.id = mc.customer_id
                       where mc.org_id = m.org_id and mc.meeting_id = m.id order by lower(c.name)) as customers
         from meetings m
         where m.org_id = $1 and ($2::timestamptz is null or (m.started_at, m.id) < ($2, $3))
           and ($5::uuid is null or exists (select 1 from meeting_customers mc
                 where mc.org_id = m.org_id and mc.meeting_id = m.id and mc.customer_id = $5))
           and ($6::bool is null
                or ($6 and exists (select 1 from meeting_customers mc where mc.org_id = m.org_id and mc.meeting_id = m.id))
                or (not $6 and m.has_external_attendees
                    and not exists (select 1 from meeting_customers mc where mc.org_id = m.org_id and mc.meeting_id = m.id)))
           and ($7::timestamptz is null or m.started_at >= $7)
           and ($8::timestamptz is null or m.started_at < $8)
         order by m.started_at desc, m.id desc
         limit $4",
    )
    .bind(org)
    .bind(before.map(|b| b.0))
    .bind(before.map(|b| b.1))
    .bind(limit)
    .bind(filter.customer)
    .bind(filter.matched)
    .bind(filter.from)
    .bind(filter.until)
    .fetch_all(db)
    .await
}

/// One meeting's own columns.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MeetingDetail {
    pub id: Uuid,
    pub recording_id: i64,
    pub title: String,
    pub meeting_title: Option<String>,
    pub meeting_type: Option<String>,
    pub fathom_url: Option<String>,
    pub share_url: Option<String>,
    pub meeting_url: Option<String>,
    pub started_at: DateTime<Utc>,
    pub scheduled_start_time: Option<DateTime<Utc>>,
    pub scheduled_end_time: Option<DateTime<Utc>>,
    pub recording_start_time: Option<DateTime<Utc>>,
    pub recording_end_time: Option<DateTime<Utc>>,
    pub recorded_by_name: Option<String>,
    pub recorded_by_email: Option<String>,
    pub recorded_by_team: Option<String>,
    pub transcript_language: Option<String>,
    pub summary_markdown: Option<String>,
    pub has_external_attendees: bool,
}

impl MeetingDetail {
    /// Minutes between the recording's start and end, when Fathom gave both.
    pub fn recording_minutes(&self) -> Option<i64> {
        minutes_between(self.recording_start_time, self.recording_end_time)
    }

    /// Minutes the meeting was scheduled for, when Fathom gave both ends.
    pub fn scheduled_minutes(&self) -> Option<i64> {
        minutes_between(self.scheduled_start_time, self.scheduled_end_time)
    }
}

fn minutes_between(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> Option<i64> {
    Some((end? - start?).num_minutes()).filter(|m| *m >= 0)
}

/// An attendee row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttendeeRow {
    pub name: Option<String>,
    pub email: Option<String>,
    pub is_external: bool,
}

/// A transcript line row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TranscriptRow {
    /// Order in the transcript from 0; the meeting page's `#line-{position}` anchor.
    pub position: i32,
    pub speaker_name: Option<String>,
    pub timestamp_text: Option<String>,
    pub timestamp_seconds: Option<i32>,
    pub text: String,
}

/// An action item row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ActionItemRow {
    pub description: String,
    pub completed: bool,
    pub recording_timestamp: Option<String>,
    pub playback_url: Option<String>,
    pub assignee_name: Option<String>,
    pub assignee_email: Option<String>,
}

/// A highlight row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HighlightRow {
    pub kind: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
    pub start_seconds: Option<f64>,
}

/// A meeting with all its parts.
#[derive(Debug, Clone)]
pub struct FullMeeting {
    pub meeting: MeetingDetail,
    pub attendees: Vec<AttendeeRow>,
    pub transcript: Vec<TranscriptRow>,
    pub action_items: Vec<ActionItemRow>,
    pub highlights: Vec<HighlightRow>,
}

/// One meeting of the org with its parts, if it belongs to the org.
pub async fn find(db: &PgPool, org: OrgId, id: Uuid) -> sqlx::Result<Option<FullMeeting>> {
    let Some(meeting) = sqlx::query_as::<_, MeetingDetail>(
        "select id, recording_id, title, meeting_title, meeting_type, fathom_url, share_url,
                meeting_url, started_at, scheduled_start_time, scheduled_end_time,
                recording_start_time, recording_end_time, recorded_by_name, recorded_by_email,
                recorded_by_team, transcript_language, summary_markdown, has_external_attendees
         from meetings where org_id = $1 and id = $2",
    )
    .bind(org)
    .bind(id)
    .fetch_optional(db)
    .await?
    else {
        return Ok(None);
    };
    let attendees = sqlx::query_as(
        "select name, email, is_external from meeting_attendees
         where org_id = $1 and meeting_id = $2 order by position",
    )
    .bind(org)
    .bind(id)
    .fetch_all(db)
    .await?;
    let transcript = sqlx::query_as(
        "select position, speaker_name, timestamp_text, timestamp_seconds, text from meeting_transcript_lines
         where org_id = $1 and meeting_id = $2 order by position",
    )
    .bind(org)
    .bind(id)
    .fetch_all(db)
    .await?;
    let action_items = sqlx::query_as(
        "select description, completed, recording_timestamp, playback_url, assignee_name, assignee_email
         from meeting_action_items where org_id = $1 and meeting_id = $2 order by position",
    )
    .bind(org)
    .bind(id)
    .fetch_all(db)
    .await?;
    let highlights = sqlx::query_as(
        "select kind, summary, text, start_seconds from meeting_highlights
         where org_id = $1 and meeting_id = $2 order by position",
    )
    .bind(org)
    .bind(id)
    .fetch_all(db)
    .await?;
    Ok(Some(FullMeeting {
        meeting,
        attendees,
        transcript,
        action_items,
        highlights,
    }))
}
