//! When a Fathom connection syncs, as pure arithmetic: which window of meetings a run lists, the
//! backfills offered, and each connection's fixed second in the hour (so connections spread over
//! the hour). Opening and queueing runs is `jobs::request_sync`.

use chrono::{DateTime, Duration, DurationRound, Utc};

use crate::domain::FathomConnectionId;

/// Which meetings a run lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncWindow {
    /// Those created since the last successful run began, minus the look-back (the first run of a
    /// connection reaches `initial_sync_days` back).
    SinceLastSuccess,
    /// Those created in the last `days` days (a backfill).
    LastDays(i64),
}

/// Backfill choices offered next to *Sync now*, in days.
pub const BACKFILL_DAYS: [i64; 4] = [7, 30, 90, 365];

/// The oldest a backfill may reach.
pub const MAX_BACKFILL_DAYS: i64 = 365;

/// How a window is resolved: the first sync's reach and the look-back behind the last success.
#[derive(Debug, Clone, Copy)]
pub struct WindowRules {
    pub initial_sync_days: i64,
    pub lookback_minutes: i64,
}

impl SyncWindow {
    /// The run lists meetings created after this, given when the last successful run started.
    pub fn created_after(
        self,
        now: DateTime<Utc>,
        last_success_started_at: Option<DateTime<Utc>>,
        rules: WindowRules,
    ) -> DateTime<Utc> {
        match self {
            SyncWindow::LastDays(days) => now - Duration::days(days.clamp(1, MAX_BACKFILL_DAYS)),
            SyncWindow::SinceLastSuccess => match last_success_started_at {
                Some(at) => at - Duration::minutes(rules.lookback_minutes),
                None => now - Duration::days(rules.initial_sync_days),
            },
        }
    }
}

/// The connection's next hourly sync strictly after `after`: always the same second of the hour
/// for one connection (taken from its id), so many connections spread over the hour.
pub fn next_hourly_sync(connection: FathomConnectionId, after: DateTime<Utc>) -> DateTime<Utc> {
    let slot = Duration::seconds((connection.0.as_u128() % 3600) as i64);
    let hour = after.duration_trunc(Duration::hours(1)).unwrap_or(after);
    let mut at = hour + slot;
    while at <= after {
        at += Duration::hours(1);
    }
    at
}

/// The first hourly sync of a new connection: its slot, at least a quarter of an hour after the
/// initial sync was queued.
pub fn first_hourly_sync(connection: FathomConnectionId, now: DateTime<Utc>) -> DateTime<Utc> {
    next_hourly_sync(connection, now + Duration::minutes(15))
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn windows_reach_back_as_far_as_asked() {
        let now: DateTime<Utc> = "2026-11-23T10:00:00Z".parse().unwrap();
        let rules = WindowRules {
            initial_sync_days: 30,
            lookback_minutes: 120,
        };
        let last: DateTime<Utc> = "2026-11-23T09:00:00Z".parse().unwrap();
        assert_eq!(
            SyncWindow::SinceLastSuccess.created_after(now, Some(last), rules),
            last - Duration::minutes(120)
        );
        assert_eq!(
            SyncWindow::SinceLastSuccess.created_after(now, None, rules),
            now - Duration::days(30)
        );
        assert_eq!(
            SyncWindow::LastDays(9999).created_after(now, Some(last), rules),
            now - Duration::days(MAX_BACKFILL_DAYS)
        );
    }

    #[test]
    fn a_connection_syncs_at_the_same_second_of_every_hour() {
        let id = FathomConnectionId(Uuid::from_u128(3600 * 7 + 754)); // slot 12:34 past the hour
        let after: DateTime<Utc> = "2026-11-23T10:05:00Z".parse().unwrap();
        let first = next_hourly_sync(id, after);
        assert_eq!(
            first,
            "2026-11-23T10:12:34Z".parse::<DateTime<Utc>>().unwrap()
        );
        let second = next_hourly_sync(id, first);
        assert_eq!(
            second,
            "2026-11-23T11:12:34Z".parse::<DateTime<Utc>>().unwrap()
        );
        let late: DateTime<Utc> = "2026-11-23T10:40:00Z".parse().unwrap();
        assert_eq!(
            next_hourly_sync(id, late),
            "2026-11-23T11:12:34Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn connections_spread_over_the_hour() {
        let after: DateTime<Utc> = "2026-11-23T10:00:00Z".parse().unwrap();
        let minutes: std::collections::HashSet<u32> = (0..200)
            .map(|_| {
                use chrono::Timelike;
                next_hourly_sync(FathomConnectionId::new(), after).minute()
            })
            .collect();
        assert!(
            minutes.len() > 40,
            "200 connections should use most minutes of the hour, used {}",
            minutes.len()
        );
    }

    #[test]
    fn the_first_hourly_sync_is_at_least_a_quarter_hour_away() {
        let now = Utc::now();
        for _ in 0..50 {
            let at = first_hourly_sync(FathomConnectionId::new(), now);
            assert!(at > now + Duration::minutes(15) && at <= now + Duration::minutes(75));
        }
    }
}
