//! `SyncFathom`: pages through a connection's `GET /meetings` (content inlined) from the run's
//! stored cursor, storing each page's meetings through the same upsert as webhooks and the next
//! cursor in one transaction, so a run that dies resumes at the first unfinished page. It paces
//! itself within Fathom's limits, waits out 429s, retries server errors with backoff, and stops at a
//! 401 (the connection then needs a new key). Every outcome is written on the run row.

use std::time::{Duration, Instant};

use chrono::Utc;
use secrecy::SecretString;
use uuid::Uuid;

use crate::crypto;
use crate::db;
use crate::db::audit::AuditAction;
use crate::db::fathom_connections::ConnectionState;
use crate::db::fathom_sync_runs::{FinalCalls, PageProgress, Setback, SyncRun, SyncRunState};
use crate::db::meetings::{UpsertOutcome, Via};
use crate::fathom::mapping::meeting_record;
use crate::fathom::pacing::Pacer;
use crate::fathom::types::{Meeting, Page};
use crate::fathom::{FathomError, ListMeetings};
use crate::jobs::{self, SyncFathom};
use crate::state::AppState;

/// Times a run may be taken up (first start plus resumes after crashes) before it is failed.
const MAX_CLAIMS: i32 = 5;
/// Pauses shorter than this are not worth showing on the run.
const SHOWN_PAUSE: Duration = Duration::from_secs(1);

/// Runs (or resumes) one sync run; a run already finished or held by another worker is left alone.
pub async fn sync_fathom(state: &AppState, args: SyncFathom) -> anyhow::Result<()> {
    let lease = state.settings.fathom.sync_lease_seconds as f64;
    let token = Uuid::new_v4();
    let Some(run) =
        db::fathom_sync_runs::claim(&state.db, args.org_id, args.run_id, token, lease).await?
    else {
        tracing::debug!(org = %args.org_id, run_id = %args.run_id,
            "sync run finished or held by another worker");
        return Ok(());
    };
    let sync = Sync {
        state,
        run: &run,
        token,
        lease,
    };
    if run.claims > MAX_CLAIMS {
        let error = format!(
            "Stopped after {MAX_CLAIMS} attempts to run it; the next hourly sync tries again."
        );
        return sync
            .finish(SyncRunState::Failed, Some(&error), FinalCalls::default())
            .await;
    }
    let keys = db::fathom_connections::find_keys(&state.db, run.org_id, run.connection_id).await?;
    let api_key = match keys.as_ref().map(|k| (k.state, k)) {
        Some((ConnectionState::Active, keys)) => {
            keys.api_key_ciphertext.as_deref().and_then(|ct| {
                crypto::decrypt_fathom_api_key(&state.crypto, keys.org_id, keys.id.0, ct)
            })
        }
        Some((ConnectionState::NeedsReconnect, _)) => {
            let error = "Fathom rejected this connection's key earlier; connect Fathom again.";
            return sync
                .finish(SyncRunState::Failed, Some(error), FinalCalls::default())
                .await;
        }
        _ => None,
    };
    let Some(api_key) = api_key else {
        let error = "The connection was disconnected.";
        return sync
            .finish(SyncRunState::Cancelled, Some(error), FinalCalls::default())
            .await;
    };
    if run.claims > 1 {
        tracing::info!(org = %run.org_id, run_id = %run.id, pages_done = run.pages,
            "resuming sync run from its stored cursor");
    }
    sync.pages(&api_key).await
}

/// One worker's hold on one run.
struct Sync<'a> {
    state: &'a AppState,
    run: &'a SyncRun,
    token: Uuid,
    lease: f64,
}

/// How a page loop ended.
enum Ended {
    Done,
    /// Another worker took the run over, or it was cancelled: stop without writing.
    LostHold,
}

impl Sync<'_> {
    async fn pages(&self, api_key: &SecretString) -> anyhow::Result<()> {
        let settings = &self.state.settings.fathom;
        let mut pacer = Pacer::new(Duration::from_millis(settings.sync_headerless_interval_ms));
        let mut cursor = self.run.cursor.clone();
        // Cursors met by this run: one coming back means the listing loops.
        let mut seen: std::collections::HashSet<String> = cursor.iter().cloned().collect();
        let mut pages = self.run.pages;
        let mut failures_in_row = 0u32;
        let mut throttled_in_row = 0u32;
        loop {
            if let Some(wait) = pacer.wait_before_next(Instant::now()) {
                if wait >= SHOWN_PAUSE
                    && !self
                        .pause(wait, "Pacing within Fathom's rate limit")
                        .await?
                {
                    return Ok(());
                }
                tokio::time::sleep(wait).await;
            }
            let query = ListMeetings {
                created_after: Some(self.run.created_after),
                cursor: cursor.clone(),
                ..ListMeetings::with_content()
            };
            // The page's content is at least as fresh as the moment it was asked for.
            let asked_at = Utc::now();
            match self.state.fathom.list_meetings(api_key, &query).await {
                Ok(fetched) => {
                    failures_in_row = 0;
                    throttled_in_row = 0;
                    pacer.after_answer(&fetched.rate_limit, Instant::now());
                    let next = fetched.body.next_cursor.clone().filter(|c| !c.is_empty());
                    if let Ended::LostHold = self
                        .store_page(&fetched.body, next.clone(), asked_at)
                        .await?
                    {
                        return Ok(());
                    }
                    pages += 1;
                    match next {
                        Some(next) if !seen.insert(next.clone()) => {
                            let error = "Fathom sent a page cursor it had sent before, so the \
                                         listing would never end; stopped. The next sync starts \
                                         again from the beginning of its window.";
                            return self
                                .finish(SyncRunState::Failed, Some(error), FinalCalls::default())
                                .await;
                        }
                        Some(_) if pages >= settings.sync_max_pages => {
                            let error = format!(
                                "Stopped after {pages} pages, the most one sync may fetch \
                                 (fathom.sync_max_pages)."
                            );
                            return self
                                .finish(SyncRunState::Failed, Some(&error), FinalCalls::default())
                                .await;
                        }
                        Some(next) => cursor = Some(next),
                        None => {
                            return self
                                .finish(SyncRunState::Succeeded, None, FinalCalls::default())
                                .await;
                        }
                    }
                }
                Err(FathomError::RateLimited {
                    retry_after,
                    limits,
                }) => {
                    throttled_in_row += 1;
                    let wait = pacer.after_rate_limited(retry_after, &limits, Instant::now());
                    if throttled_in_row > settings.sync_max_rate_limited {
                        let error = format!(
                            "Fathom answered 429 (rate limited) {throttled_in_row} times in a row; \
                             the next sync continues."
                        );
                        return self.finish_after_call(true, &error).await;
                    }
                    let reason = format!(
                        "Rate limited by Fathom (429); waiting {} s as it asked",
                        wait.as_secs()
                    );
                    if !self.setback(true, wait, &reason).await? {
                        return Ok(());
                    }
                    tokio::time::sleep(wait).await;
                }
                Err(err) if err.is_transient() => {
                    failures_in_row += 1;
                    if failures_in_row >= settings.sync_max_failures {
                        let error = format!(
                            "Fathom failed {failures_in_row} times in a row ({err}); the next sync \
                             tries again."
                        );
                        return self.finish_after_call(false, &error).await;
                    }
                    let wait = backoff(settings.sync_retry_base_ms, failures_in_row);
                    let reason = format!("{err}; retrying in {} s", wait.as_secs_f32().ceil());
                    if !self.setback(false, wait, &reason).await? {
                        return Ok(());
                    }
                    tokio::time::sleep(wait).await;
                }
                Err(err @ (FathomError::Unauthorized | FathomError::Forbidden { .. })) => {
                    return self.needs_reconnect(&err).await;
                }
                Err(err) => {
                    let error = format!("Fathom's answer could not be used: {err}");
                    return self.finish_after_call(false, &error).await;
                }
            }
        }
    }

    /// Stores one page's meetings and the next cursor in one transaction. Each meeting is stored
    /// under its own savepoint: one the database refuses is recorded as skipped (with its recording
    /// id and the reason) and the page goes on, so one bad meeting cannot stall every later sync.
    async fn store_page(
        &self,
        page: &Page<Meeting>,
        next_cursor: Option<String>,
        asked_at: chrono::DateTime<Utc>,
    ) -> anyhow::Result<Ended> {
        let run = self.run;
        let mut records = Vec::with_capacity(page.items.len());
        let mut progress = PageProgress {
            next_cursor,
            ..PageProgress::default()
        };
        for meeting in &page.items {
            match meeting_record(meeting) {
                Ok(record) => records.push(record),
                Err(err) => {
                    tracing::warn!(org = %run.org_id, run_id = %run.id, error = %err,
                        "skipping a listed meeting Debrief cannot store");
                    progress
                        .skipped
                        .push((meeting.recording_id, err.to_string()));
                }
            }
        }
        // The same order in every transaction, so two syncs sharing meetings cannot deadlock.
        records.sort_by_key(|r| r.recording_id);
        let mut tx = self.state.db.begin().await?;
        let mut changed = Vec::new();
        for record in &records {
            let mut savepoint = sqlx::Acquire::begin(&mut *tx).await?;
            let stored = db::meetings::upsert(
                &mut savepoint,
                run.org_id,
                record,
                Some((run.connection_id, Via::Sync)),
                asked_at,
            )
            .await;
            match stored {
                Ok((meeting_id, outcome)) => {
                    savepoint.commit().await?;
                    if outcome != UpsertOutcome::Unchanged {
                        changed.push(meeting_id);
                    }
                    match outcome {
                        UpsertOutcome::Added => progress.added += 1,
                        UpsertOutcome::Updated => progress.updated += 1,
                        UpsertOutcome::Unchanged => progress.unchanged += 1,
                    }
                }
                Err(err) if db::is_refused_value(&err) => {
                    savepoint.rollback().await?;
                    tracing::warn!(org = %run.org_id, run_id = %run.id,
                        recording_id = record.recording_id, error = %err,
                        "the database refused a listed meeting; skipped");
                    progress.skipped.push((
                        Some(record.recording_id),
                        format!("The database refused it: {}", db::refusal(&err)),
                    ));
                }
                Err(err) => {
                    return Err(anyhow::Error::from(err)
                        .context(format!("storing recording {}", record.recording_id)));
                }
            }
        }
        jobs::enqueue_match_meeting(&mut tx, run.org_id, changed).await?;
        let held = db::fathom_sync_runs::record_page(
            &mut tx, run.org_id, run.id, self.token, &progress, self.lease,
        )
        .await?;
        if !held {
            tx.rollback().await?;
            tracing::info!(org = %run.org_id, run_id = %run.id,
                "sync run was taken over or cancelled; stopping");
            return Ok(Ended::LostHold);
        }
        tx.commit().await?;
        Ok(Ended::Done)
    }

    async fn pause(&self, wait: Duration, reason: &str) -> anyhow::Result<bool> {
        let until = Utc::now() + chrono::Duration::from_std(wait)?;
        Ok(db::fathom_sync_runs::record_pause(
            &self.state.db,
            self.run.org_id,
            self.run.id,
            self.token,
            until,
            reason,
            self.lease,
        )
        .await?)
    }

    async fn setback(
        &self,
        rate_limited: bool,
        wait: Duration,
        reason: &str,
    ) -> anyhow::Result<bool> {
        let setback = Setback {
            rate_limited,
            until: Utc::now() + chrono::Duration::from_std(wait)?,
            reason,
        };
        let held = db::fathom_sync_runs::record_setback(
            &self.state.db,
            self.run.org_id,
            self.run.id,
            self.token,
            &setback,
            self.lease,
        )
        .await?;
        tracing::info!(org = %self.run.org_id, run_id = %self.run.id, %reason, "sync run waits");
        Ok(held)
    }

    /// Fathom rejected the key: the run fails, the connection needs a new key, nothing retries.
    async fn needs_reconnect(&self, err: &FathomError) -> anyhow::Result<()> {
        let run = self.run;
        let error = format!(
            "Fathom rejected the API key ({err}). Connect Fathom again with a valid key; \
             syncs are paused until then."
        );
        let mut tx = self.state.db.begin().await?;
        let marked =
            db::fathom_connections::mark_needs_reconnect(&mut tx, run.org_id, run.connection_id)
                .await?;
        if marked {
            db::audit::record(
                &mut tx,
                run.org_id,
                None,
                AuditAction::FathomNeedsReconnect,
                &format!("a sync got {err}; the key must be replaced"),
            )
            .await?;
        }
        let ended = db::fathom_sync_runs::finish(
            &mut tx,
            run.org_id,
            run.id,
            self.token,
            SyncRunState::Failed,
            Some(&error),
            FinalCalls {
                calls: 1,
                rate_limited: 0,
            },
        )
        .await?;
        if ended {
            tx.commit().await?;
            tracing::warn!(org = %run.org_id, run_id = %run.id, connection_id = %run.connection_id,
                "Fathom rejected the key; connection needs reconnecting");
        } else {
            tx.rollback().await?;
        }
        Ok(())
    }

    /// Ends the run as failed after a call that did not give a page.
    async fn finish_after_call(&self, rate_limited: bool, error: &str) -> anyhow::Result<()> {
        let last = FinalCalls {
            calls: 1,
            rate_limited: i32::from(rate_limited),
        };
        self.finish(SyncRunState::Failed, Some(error), last).await
    }

    async fn finish(
        &self,
        state: SyncRunState,
        error: Option<&str>,
        last: FinalCalls,
    ) -> anyhow::Result<()> {
        let run = self.run;
        let mut conn = self.state.db.acquire().await?;
        let ended = db::fathom_sync_runs::finish(
            &mut conn, run.org_id, run.id, self.token, state, error, last,
        )
        .await?;
        if ended {
            tracing::info!(org = %run.org_id, run_id = %run.id, state = state.as_str(),
                error = error.unwrap_or(""), "sync run ended");
        }
        Ok(())
    }
}

/// Wait before retry `n` (1-based) after a server error: base, 2×base, 4×base … at most a minute.
fn backoff(base_ms: u64, n: u32) -> Duration {
    let factor = 1u64 << n.saturating_sub(1).min(16);
    Duration::from_millis(base_ms.saturating_mul(factor)).min(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_error_retries_back_off_exponentially_up_to_a_minute() {
        assert_eq!(backoff(1000, 1), Duration::from_secs(1));
        assert_eq!(backoff(1000, 2), Duration::from_secs(2));
        assert_eq!(backoff(1000, 4), Duration::from_secs(8));
        assert_eq!(backoff(1000, 12), Duration::from_secs(60));
        assert_eq!(backoff(1000, 99), Duration::from_secs(60));
    }
}
