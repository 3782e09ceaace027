//! `PushMeetingToCrm`: writes one meeting to one CRM connection — a HubSpot note (and, when the
//! connection asks for them, a task per open action item) or a Salesforce completed Task — and
//! keeps it current. Never twice: the mapping row (`crm_pushes`) makes every later push an update,
//! it is marked *in doubt* before each create so a lost answer is looked up (HubSpot) or upserted
//! by key (Salesforce) instead of created again, and one push per meeting and connection runs at a
//! time (an advisory lock).

use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::PgConnection;

use crate::crm::activity::{self, ActionItemForCrm, ActivityKind, MeetingForCrm};
use crate::crm::{Activity, CrmError, PushedRecord};
use crate::db;
use crate::db::crm_connections::CrmConnectionState;
use crate::domain::{CrmConnectionId, MeetingId};
use crate::jobs::crm_access::{self, AccessError, CrmAccess};
use crate::jobs::crm_calls::refresh_after_401;
use crate::jobs::{self, PushMeetingToCrm};
use crate::state::AppState;

/// Attempts after transient failures (5xx, timeouts) before a push is failed for good.
pub const MAX_ATTEMPTS: u32 = 6;

/// The key written into the CRM record: the same for every attempt at one (meeting, connection,
/// kind), so a record made by an attempt whose answer was lost is recognised.
pub fn push_key(meeting: MeetingId, connection: CrmConnectionId, kind: &str) -> String {
    let digest = Sha256::digest(format!("{meeting}:{connection}:{kind}").as_bytes());
    format!("dbf-{}", &hex::encode(digest)[..32])
}

/// How a push ended, for the job runner.
enum Outcome {
    Done,
    /// Try again after this pause (rate limit or a transient failure).
    Later(Duration),
}

/// Runs `PushMeetingToCrm`.
pub async fn push_meeting_to_crm(state: &AppState, args: PushMeetingToCrm) -> anyhow::Result<()> {
    let mut conn = state.db.acquire().await?;
    let lock_key = format!("crm_push:{}:{}", args.meeting_id, args.connection_id);
    sqlx::query("select pg_advisory_lock(hashtextextended($1, 0))")
        .bind(&lock_key)
        .execute(&mut *conn)
        .await?;
    let result = push_locked(state, &mut conn, &args).await;
    let unlocked = sqlx::query("select pg_advisory_unlock(hashtextextended($1, 0))")
        .bind(&lock_key)
        .execute(&mut *conn)
        .await;
    if unlocked.is_err() {
        // Never hand a connection still holding the lock back to the pool.
        conn.detach();
    }
    match result? {
        Outcome::Done => Ok(()),
        Outcome::Later(pause) => {
            let mut conn = state.db.acquire().await?;
            jobs::enqueue_push_after(
                &mut conn,
                PushMeetingToCrm {
                    attempt: args.attempt + 1,
                    ..args
                },
                pause,
            )
            .await
        }
    }
}

async fn push_locked(
    state: &AppState,
    conn: &mut PgConnection,
    args: &PushMeetingToCrm,
) -> anyhow::Result<Outcome> {
    let (org, meeting, connection) = (args.org_id, args.meeting_id, args.connection_id);
    let Some(c) = db::crm_connections::get(conn, org, connection).await? else {
        return Ok(Outcome::Done);
    };
    if c.state != CrmConnectionState::Active || !c.push_enabled {
        return Ok(Outcome::Done);
    }
    let provider = c.provider;
    let main_kind = provider.record_label();
    let Some((content, attendees, items)) =
        db::crm_pushes::meeting_content(conn, org, meeting).await?
    else {
        return Ok(Outcome::Done);
    };
    let (contacts, companies) = db::crm_pushes::targets(conn, org, meeting, connection).await?;
    if contacts.is_empty() && companies.is_empty() {
        if db::crm_pushes::get(conn, org, meeting, connection, main_kind)
            .await?
            .is_some_and(|r| r.external_id.is_some())
        {
            // Written before; the customer was unlinked since. The record stays as it is.
            return Ok(Outcome::Done);
        }
        let reason = format!("none of its customers is a {} record", provider.label());
        db::crm_pushes::record_skipped(
            conn,
            org,
            meeting,
            connection,
            main_kind,
            &push_key(meeting, connection, main_kind),
            &reason,
        )
        .await?;
        return Ok(Outcome::Done);
    }
    let slug: String = sqlx::query_scalar("select slug from orgs where id = $1")
        .bind(org)
        .fetch_one(&mut *conn)
        .await?;
    let mut debrief_url = state.settings.application.base_url.clone();
    debrief_url.set_path(&format!("/o/{slug}/meetings/{meeting}"));
    let for_crm = MeetingForCrm {
        title: content.title,
        started_at: Some(content.started_at),
        ended_at: content.ended_at,
        attendees,
        summary_markdown: content.summary_markdown,
        action_items: items
            .into_iter()
            .map(
                |(description, assignee_email, completed)| ActionItemForCrm {
                    description,
                    assignee_email,
                    completed,
                },
            )
            .collect(),
        recording_url: content.recording_url,
        debrief_url: debrief_url.to_string(),
    };
    let kind_name = |k: &ActivityKind| match k {
        ActivityKind::Meeting => main_kind.to_owned(),
        ActivityKind::ActionItem { index } => format!("action_item:{index}"),
    };
    let all = activity::activities(
        &for_crm,
        provider,
        |k| push_key(meeting, connection, &kind_name(k)),
        &contacts,
        &companies,
        c.push_tasks,
    );
    let mut access: Option<CrmAccess> = None;
    for act in &all {
        let kind = act.kind_name(provider);
        let hash = act.content_hash();
        let row = db::crm_pushes::get(conn, org, meeting, connection, &kind).await?;
        if row.as_ref().is_some_and(|r| {
            r.state == db::crm_pushes::PushState::Pushed && r.content_hash.as_deref() == Some(&hash)
        }) {
            continue;
        }
        if access.is_none() {
            access = match crm_access::open(state, org, connection).await {
                Ok(a) => Some(a),
                Err(AccessError::Gone) => return Ok(Outcome::Done),
                Err(AccessError::NeedsReconnect(reason)) => {
                    db::crm_pushes::mark_sending(
                        conn,
                        org,
                        meeting,
                        connection,
                        &kind,
                        &act.push_key,
                    )
                    .await?;
                    db::crm_pushes::record_failure(
                        conn, org, meeting, connection, &kind, &reason, true, true,
                    )
                    .await?;
                    return Ok(Outcome::Done);
                }
                Err(AccessError::Unavailable(_)) => return Ok(later(args.attempt)),
                Err(AccessError::Internal(e)) => return Err(e),
            };
        }
        let Some(access) = access.as_mut() else {
            return Ok(Outcome::Done);
        };
        let (existing, in_doubt) = row
            .as_ref()
            .map(|r| (r.external_id.clone(), r.in_doubt))
            .unwrap_or((None, false));
        db::crm_pushes::mark_sending(conn, org, meeting, connection, &kind, &act.push_key).await?;
        match push_once(state, access, act, existing.as_deref(), in_doubt).await {
            Ok(record) => {
                db::crm_pushes::record_pushed(
                    conn,
                    org,
                    meeting,
                    connection,
                    &kind,
                    &record.id,
                    record.url.as_deref(),
                    &hash,
                    act.timestamp,
                )
                .await?;
            }
            Err(CrmError::RateLimited { retry_after }) => {
                db::crm_pushes::record_failure(
                    conn,
                    org,
                    meeting,
                    connection,
                    &kind,
                    "rate limited; waiting as the CRM asked",
                    false,
                    true,
                )
                .await?;
                return Ok(Outcome::Later(retry_after));
            }
            Err(e @ (CrmError::Transient(_) | CrmError::NoAnswer(_)))
                if args.attempt < MAX_ATTEMPTS =>
            {
                // A server error made nothing; a missing answer may have made the record.
                let created_nothing = matches!(e, CrmError::Transient(_));
                db::crm_pushes::record_failure(
                    conn,
                    org,
                    meeting,
                    connection,
                    &kind,
                    &format!("{e}; retrying"),
                    false,
                    created_nothing,
                )
                .await?;
                return Ok(later(args.attempt));
            }
            Err(e) => {
                let created_nothing = !matches!(e, CrmError::NoAnswer(_));
                db::crm_pushes::record_failure(
                    conn,
                    org,
                    meeting,
                    connection,
                    &kind,
                    &e.to_string(),
                    true,
                    created_nothing,
                )
                .await?;
                tracing::warn!(org_id = %org, %meeting, connection_id = %connection, error = %e, "CRM push failed");
            }
        }
    }
    Ok(Outcome::Done)
}

/// The pause before attempt `attempt + 1` after a transient failure: 2 s, 4 s, 8 s, …
fn later(attempt: u32) -> Outcome {
    Outcome::Later(Duration::from_secs(
        2u64.saturating_pow(attempt.clamp(1, 10)),
    ))
}

/// One write, with a token refresh and a repeat after a first 401. A rate limit short enough is
/// waited out here.
async fn push_once(
    state: &AppState,
    access: &mut CrmAccess,
    act: &Activity,
    existing: Option<&str>,
    in_doubt: bool,
) -> Result<PushedRecord, CrmError> {
    let mut refreshed = false;
    let mut waits = 0;
    loop {
        match access.client.push(act, existing, in_doubt).await {
            Ok(r) => return Ok(r),
            Err(CrmError::Unauthorized) if !refreshed => {
                refreshed = true;
                refresh_after_401(state, access)
                    .await
                    .map_err(CrmError::Permanent)?;
            }
            Err(CrmError::RateLimited { retry_after })
                if retry_after <= Duration::from_secs(2) && waits < 10 =>
            {
                waits += 1;
                tokio::time::sleep(retry_after).await;
            }
            // A timeout may have left a created record: the row stays in doubt, so the next
            // attempt looks for it before creating.
            Err(e) => return Err(e),
        }
    }
}
