//! Raw Fathom webhook deliveries: stored exactly as received (unique per org and `webhook-id`),
//! then processed into meetings by a job; failures stay listed for replay.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::domain::{EventId, FathomConnectionId, MeetingId, OrgId};

/// Where a stored delivery is in its processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum EventState {
    /// Stored, its job queued or running.
    Pending,
    /// Its meeting is stored.
    Processed,
    /// Could not be processed; listed on Integrations for replay.
    Failed,
}

/// The webhook receiver's one read before the signature is checked: `None` when the org does not
/// exist, else the encrypted webhook secrets of its live connections (possibly none).
pub async fn live_webhook_secrets(
    db: &PgPool,
    org: OrgId,
) -> sqlx::Result<Option<Vec<(FathomConnectionId, String)>>> {
    let rows: Vec<(Option<FathomConnectionId>, Option<String>)> = sqlx::query_as(
        "select c.id, c.webhook_secret_ciphertext
         from orgs o
         left join fathom_connections c
           on c.org_id = o.id and c.state in ('active', 'needs_reconnect')
          and c.webhook_secret_ciphertext is not null
         where o.id = $1",
    )
    .bind(org)
    .fetch_all(db)
    .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        rows.into_iter()
            .filter_map(|(id, ct)| Some((id?, ct?)))
            .collect(),
    ))
}

/// A verified delivery to store.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub webhook_id: &'a str,
    pub connection_id: FathomConnectionId,
    pub body: &'a [u8],
    pub recording_id: Option<i64>,
    /// Why the body cannot be processed (stored as `failed`), if so.
    pub error: Option<&'a str>,
}

/// Stores a delivery; `None` when this `webhook-id` was already stored for the org (a redelivery).
pub async fn insert(
    conn: &mut PgConnection,
    org: OrgId,
    event: &NewEvent<'_>,
) -> sqlx::Result<Option<EventId>> {
    sqlx::query_scalar(
        "insert into fathom_events (id, org_id, webhook_id, connection_id, body, recording_id, state, error)
         values ($1, $2, $3, $4, $5, $6, case when $7::text is null then 'pending' else 'failed' end, $7)
         on conflict (org_id, webhook_id) do nothing
         returning id",
    )
    .bind(EventId::new())
    .bind(org)
    .bind(event.webhook_id)
    .bind(event.connection_id)
    .bind(event.body)
    .bind(event.recording_id)
    .bind(event.error)
    .fetch_optional(conn)
    .await
}

/// A queued task as a row of apalis's `jobs` table (built by `jobs`, which owns its shape).
#[derive(Debug, Clone)]
pub struct JobRow {
    pub id: String,
    pub job_type: &'static str,
    pub job: Vec<u8>,
    pub max_attempts: i32,
}

/// One verified delivery to store with [`insert_batch`], with its processing task when it can be
/// processed.
#[derive(Debug, Clone)]
pub struct BatchedEvent {
    pub id: EventId,
    pub org: OrgId,
    pub webhook_id: String,
    pub connection_id: FathomConnectionId,
    pub body: bytes::Bytes,
    pub recording_id: Option<i64>,
    /// Why the body cannot be processed (stored as `failed`, no task), if so.
    pub error: Option<String>,
    pub job: Option<JobRow>,
}

/// Stores several deliveries, each with its processing task, in one autocommit statement (so
/// concurrent deliveries share one round trip and one commit); for each, in order, `false` when
/// its `webhook-id` was already stored for its org (a redelivery: then no task is queued either).
/// Rows are inserted in key order so two batches holding the same redeliveries cannot deadlock.
/// The task rows mirror apalis-postgres 1.0's own insert (`queries/task/sink.sql`); apalis is
/// pinned to that version.
pub async fn insert_batch(db: &PgPool, events: &[BatchedEvent]) -> sqlx::Result<Vec<bool>> {
    if let [event] = events {
        return Ok(vec![insert_one(db, event).await?]);
    }
    let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.id.0).collect();
    let orgs: Vec<uuid::Uuid> = events.iter().map(|e| e.org.0).collect();
    let webhook_ids: Vec<&str> = events.iter().map(|e| e.webhook_id.as_str()).collect();
    let connections: Vec<uuid::Uuid> = events.iter().map(|e| e.connection_id.0).collect();
    let bodies: Vec<&[u8]> = events.iter().map(|e| e.body.as_ref()).collect();
    let recordings: Vec<Option<i64>> = events.iter().map(|e| e.recording_id).collect();
    let errors: Vec<Option<&str>> = events.iter().map(|e| e.error.as_deref()).collect();
    let job_ids: Vec<Option<&str>> = events
        .iter()
        .map(|e| e.job.as_ref().map(|j| j.id.as_str()))
        .collect();
    let job_types: Vec<Option<&str>> = events
        .iter()
        .map(|e| e.job.as_ref().map(|j| j.job_type))
        .collect();
    let jobs: Vec<Option<&[u8]>> = events
        .iter()
        .map(|e| e.job.as_ref().map(|j| j.job.as_slice()))
        .collect();
    let max_attempts: Vec<Option<i32>> = events
        .iter()
        .map(|e| e.job.as_ref().map(|j| j.max_attempts))
        .collect();
    let stored: Vec<uuid::Uuid> = sqlx::query_scalar(
        "with input as (
             select * from unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::bytea[],
                                  $6::int8[], $7::text[], $8::text[], $9::text[], $10::bytea[],
                                  $11::int4[])
               as t(id, org_id, webhook_id, connection_id, body, recording_id, error,
                    job_id, job_type, job, max_attempts)),
         stored as (
             insert into fathom_events
               (id, org_id, webhook_id, connection_id, body, recording_id, state, error)
             select id, org_id, webhook_id, connection_id, body, recording_id,
                    case when error is null then 'pending' else 'failed' end, error
             from input
             order by org_id, webhook_id
             on conflict (org_id, webhook_id) do nothing
             returning id),
         queued as (
             insert into apalis.jobs
               (id, job_type, job, status, attempts, max_attempts, run_at, priority)
             select i.job_id, i.job_type, i.job, 'Pending', 0, i.max_attempts, now(), 0
             from input i join stored s on s.id = i.id
             where i.job_id is not null
             returning id)
         select id from stored",
    )
    .bind(ids)
    .bind(orgs)
    .bind(webhook_ids)
    .bind(connections)
    .bind(bodies)
    .bind(recordings)
    .bind(errors)
    .bind(job_ids)
    .bind(job_types)
    .bind(jobs)
    .bind(max_attempts)
    .fetch_all(db)
    .await?;
    let stored: std::collections::HashSet<uuid::Uuid> = stored.into_iter().collect();
    Ok(events.iter().map(|e| stored.contains(&e.id.0)).collect())
}

/// [`insert_batch`] of one: the same statement without arrays (cheaper for one large body).
async fn insert_one(db: &PgPool, event: &BatchedEvent) -> sqlx::Result<bool> {
    let job = event.job.as_ref();
    let stored: i64 = sqlx::query_scalar(
        "with stored as (
             insert into fathom_events
               (id, org_id, webhook_id, connection_id, body, recording_id, state, error)
             values ($1, $2, $3, $4, $5, $6,
                     case when $7::text is null then 'pending' else 'failed' end, $7)
             on conflict (org_id, webhook_id) do nothing
             returning id),
         queued as (
             insert into apalis.jobs
               (id, job_type, job, status, attempts, max_attempts, run_at, priority)
             select $8, $9, $10, 'Pending', 0, $11, now(), 0
             from stored where $8::text is not null
             returning id)
         select count(*) from stored",
    )
    .bind(event.id)
    .bind(event.org)
    .bind(&event.webhook_id)
    .bind(event.connection_id)
    .bind(event.body.as_ref())
    .bind(event.recording_id)
    .bind(event.error.as_deref())
    .bind(job.map(|j| j.id.as_str()))
    .bind(job.map(|j| j.job_type))
    .bind(job.map(|j| j.job.as_slice()))
    .bind(job.map(|j| j.max_attempts))
    .fetch_one(db)
    .await?;
    Ok(stored == 1)
}

/// A stored event as the processing job reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredEvent {
    pub id: EventId,
    pub connection_id: Option<FathomConnectionId>,
    pub body: Vec<u8>,
    pub state: EventState,
    /// When the delivery arrived: its content is at least this fresh.
    pub received_at: DateTime<Utc>,
}

/// One event of the org, locked until the transaction ends.
pub async fn find_for_update(
    conn: &mut PgConnection,
    org: OrgId,
    id: EventId,
) -> sqlx::Result<Option<StoredEvent>> {
    sqlx::query_as(
        "select id, connection_id, body, state, received_at from fathom_events
         where org_id = $1 and id = $2 for update",
    )
    .bind(org)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Marks an event processed (or failed, with the reason).
pub async fn finish(
    conn: &mut PgConnection,
    org: OrgId,
    id: EventId,
    error: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "update fathom_events
         set state = case when $3::text is null then 'processed' else 'failed' end,
             error = $3, processed_at = now(), attempts = attempts + 1
         where org_id = $1 and id = $2",
    )
    .bind(org)
    .bind(id)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// Fails an event that is still pending (its job gave up); false when it was not pending any more.
pub async fn fail_pending(db: &PgPool, org: OrgId, id: EventId, error: &str) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update fathom_events set state = 'failed', error = $3, processed_at = now(),
                attempts = attempts + 1
         where org_id = $1 and id = $2 and state = 'pending'",
    )
    .bind(org)
    .bind(id)
    .bind(error)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What one sweep of stale pending events did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    /// Events to queue again: (org, event).
    pub requeued: Vec<(OrgId, EventId)>,
    /// Events given up on and failed (visible, replayable).
    pub failed: u64,
}

/// Across all orgs (jobs only): events pending for longer than `stale_after` and not swept within
/// it. Those swept `max_sweeps` times already are failed with a reason a person can act on; the
/// others are counted and returned for the caller to queue again in the same transaction.
pub async fn sweep_stale(
    conn: &mut PgConnection,
    stale_after: chrono::Duration,
    max_sweeps: i32,
) -> sqlx::Result<Swept> {
    let failed = sqlx::query(
        "update fathom_events
         set state = 'failed', processed_at = now(),
             error = 'Not processed after ' || sweeps || ' more tries; replay it once the cause is fixed.'
         where state = 'pending' and received_at < now() - $1
           and (swept_at is null or swept_at < now() - $1) and sweeps >= $2",
    )
    .bind(stale_after)
    .bind(max_sweeps)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let requeued: Vec<(OrgId, EventId)> = sqlx::query_as(
        "update fathom_events set sweeps = sweeps + 1, swept_at = now()
         where id in (select id from fathom_events
                      where state = 'pending' and received_at < now() - $1
                        and (swept_at is null or swept_at < now() - $1)
                      order by received_at limit 500 for update skip locked)
         returning org_id, id",
    )
    .bind(stale_after)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Swept { requeued, failed })
}

/// Puts a failed event back to pending for a replay; returns whether it was failed.
pub async fn reset_failed(conn: &mut PgConnection, org: OrgId, id: EventId) -> sqlx::Result<bool> {
    let done = sqlx::query(
        // swept_at: the replay queues its own job; the sweep looks again only after its period.
        "update fathom_events set state = 'pending', error = null, sweeps = 0, swept_at = now()
         where org_id = $1 and id = $2 and state = 'failed'",
    )
    .bind(org)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A failed event as listed on the Integrations page.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FailedEvent {
    pub id: EventId,
    pub webhook_id: String,
    pub received_at: DateTime<Utc>,
    pub recording_id: Option<i64>,
    pub error: Option<String>,
    /// The meeting the delivery was about, when an earlier delivery or a sync stored it.
    pub meeting_id: Option<MeetingId>,
    pub meeting_title: Option<String>,
}

/// The org's 50 most recent failed events.
pub async fn list_failed(db: &PgPool, org: OrgId) -> sqlx::Result<Vec<FailedEvent>> {
    sqlx::query_as(
        "select e.id, e.webhook_id, e.received_at, e.recording_id, e.error,
                m.id as meeting_id, m.title as meeting_title
         from fathom_events e
         left join meetings m on m.org_id = e.org_id and m.recording_id = e.recording_id
         where e.org_id = $1 and e.state = 'failed' order by e.received_at desc limit 50",
    )
    .bind(org)
    .fetch_all(db)
    .await
}
