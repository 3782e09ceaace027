//! Shared simulator state: users, meetings, webhooks, cursors, logs, faults and rate windows.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::FathomSim;
use super::data::{self, MeetingSpec};
use super::faults::Faults;
use super::model::{Meeting, Webhook};
use super::rate_limit::{RateLimiter, RateLimits};

/// Most log entries kept; older ones are dropped first.
const LOG_CAP: usize = 20_000;
/// Most live cursors; beyond this all are forgotten (clients then get 400, as with expired ones).
const CURSOR_CAP: usize = 100_000;

/// One external API call the simulator answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// HTTP method.
    pub method: String,
    /// Path, e.g. `/external/v1/meetings`.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// First 4 characters of `X-Api-Key` (never the whole key).
    pub key_hint: Option<String>,
    /// Status answered.
    pub status: u16,
    /// Whether it counted as a heavy call.
    pub heavy: bool,
    /// When it arrived (wall clock).
    pub at: DateTime<Utc>,
}

/// One attempt to deliver a webhook message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    /// The webhook's id.
    pub webhook_id: String,
    /// `webhook-id` header (`msg_...`), the same on every attempt of a message.
    pub message_id: String,
    /// The meeting delivered.
    pub recording_id: i64,
    /// Where it was POSTed.
    pub destination: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Status answered by the receiver, if it answered.
    pub status: Option<u16>,
    /// Transport error (timeout, refused, ...), if it did not.
    pub error: Option<String>,
    /// When the attempt finished (wall clock).
    pub at: DateTime<Utc>,
}

/// A meeting and the index of the user who recorded it.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub owner: usize,
    pub meeting: Meeting,
}

/// Server-side state behind an opaque cursor.
#[derive(Debug, Clone)]
pub(crate) struct CursorState {
    pub owner: usize,
    pub fingerprint: String,
    pub after: (DateTime<Utc>, i64),
}

/// Everything that changes while the simulator runs.
#[derive(Debug)]
pub(crate) struct Inner {
    /// Bumped by reset, so in-flight deliveries of an older generation stop.
    pub generation: u64,
    pub limits: RateLimits,
    /// Newest first.
    pub meetings: Vec<Stored>,
    pub added_per_user: Vec<u64>,
    pub webhooks: Vec<(usize, Webhook)>,
    pub cursors: HashMap<String, CursorState>,
    pub calls: Vec<CallRecord>,
    pub deliveries: Vec<DeliveryAttempt>,
    pub faults: Faults,
    pub limiter: RateLimiter,
}

/// The simulator's shared state.
#[derive(Debug)]
pub(crate) struct SimState {
    pub config: FathomSim,
    pub base_now: DateTime<Utc>,
    pub started: Instant,
    pub inner: Mutex<Inner>,
    pub http: reqwest::Client,
    /// Number of webhook deliveries still running.
    pub inflight: watch::Sender<usize>,
}

impl SimState {
    pub fn new(config: FathomSim) -> anyhow::Result<SimState> {
        let base_now = data::whole_seconds(config.now.unwrap_or_else(Utc::now));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.webhook_timeout)
            .build()?;
        let inner = Inner::fresh(&config, base_now, 0);
        Ok(SimState {
            config,
            base_now,
            started: Instant::now(),
            inner: Mutex::new(inner),
            http,
            inflight: watch::channel(0).0,
        })
    }

    /// The state, even if a panicking thread poisoned the lock (the data stays usable).
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The simulator's clock: the configured `now`, advancing in real time.
    pub fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.started.elapsed()).unwrap_or_default();
        data::whole_seconds(self.base_now + elapsed)
    }

    pub fn user_index(&self, api_key: &str) -> Option<usize> {
        self.config.users.iter().position(|u| u.api_key == api_key)
    }

    /// Forgets everything that happened and regenerates the configured meetings.
    pub fn reset(&self) {
        let mut inner = self.lock();
        let generation = inner.generation + 1;
        *inner = Inner::fresh(&self.config, self.base_now, generation);
    }

    /// Records a new meeting for `owner`; generated fields come from a per-user sequence seed.
    pub fn record_meeting(&self, owner: usize, mut spec: MeetingSpec) -> Option<Meeting> {
        let now = self.now();
        let user = self.config.users.get(owner)?;
        let mut inner = self.lock();
        let n = inner.added_per_user.get(owner).copied().unwrap_or(0);
        if let Some(slot) = inner.added_per_user.get_mut(owner) {
            *slot += 1;
        }
        if spec.created_at.is_none() {
            spec.created_at = Some(now);
        }
        let seq = n.to_string();
        let mut rng = data::rng_for(&[&user.api_key, "added", &seq]);
        let meeting = data::generate(&mut rng, user, &spec, self.config.share_with_team);
        Some(inner.insert(owner, meeting))
    }
}

impl Inner {
    fn fresh(config: &FathomSim, now: DateTime<Utc>, generation: u64) -> Inner {
        let mut inner = Inner {
            generation,
            limits: config.rate_limits,
            meetings: Vec::new(),
            added_per_user: vec![0; config.users.len()],
            webhooks: Vec::new(),
            cursors: HashMap::new(),
            calls: Vec::new(),
            deliveries: Vec::new(),
            faults: Faults::default(),
            limiter: RateLimiter::default(),
        };
        let mut ids = HashSet::new();
        for (owner, user) in config.users.iter().enumerate() {
            for mut m in data::user_meetings(user, now, config.share_with_team) {
                while !ids.insert(m.recording_id) {
                    m.recording_id += 1;
                }
                inner.meetings.push(Stored { owner, meeting: m });
            }
        }
        inner.sort();
        inner
    }

    fn sort(&mut self) {
        self.meetings.sort_by(|a, b| {
            (b.meeting.created_at, b.meeting.recording_id)
                .cmp(&(a.meeting.created_at, a.meeting.recording_id))
        });
    }

    /// Adds a meeting (moving its id if taken) and returns it as stored.
    pub fn insert(&mut self, owner: usize, mut meeting: Meeting) -> Meeting {
        while self
            .meetings
            .iter()
            .any(|s| s.meeting.recording_id == meeting.recording_id)
        {
            meeting.recording_id += 1;
        }
        self.meetings.push(Stored {
            owner,
            meeting: meeting.clone(),
        });
        self.sort();
        meeting
    }

    /// Whether `viewer` can see a meeting: their own, or shared with teams by a colleague (same
    /// company domain).
    pub fn visible(config: &FathomSim, viewer: usize, stored: &Stored) -> bool {
        if stored.owner == viewer {
            return true;
        }
        if stored.meeting.shared_with == "no_teams" {
            return false;
        }
        match (config.users.get(viewer), config.users.get(stored.owner)) {
            (Some(v), Some(o)) => v.domain.eq_ignore_ascii_case(&o.domain),
            _ => false,
        }
    }

    pub fn find(&self, recording_id: i64) -> Option<&Stored> {
        self.meetings
            .iter()
            .find(|s| s.meeting.recording_id == recording_id)
    }

    pub fn log_call(&mut self, call: CallRecord) {
        if self.calls.len() >= LOG_CAP {
            self.calls.drain(..LOG_CAP / 2);
        }
        self.calls.push(call);
    }

    pub fn log_delivery(&mut self, attempt: DeliveryAttempt) {
        if self.deliveries.len() >= LOG_CAP {
            self.deliveries.drain(..LOG_CAP / 2);
        }
        self.deliveries.push(attempt);
    }

    pub fn remember_cursor(&mut self, token: String, state: CursorState) {
        if self.cursors.len() >= CURSOR_CAP {
            self.cursors.clear();
        }
        self.cursors.insert(token, state);
    }
}
