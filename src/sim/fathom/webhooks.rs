//! Webhooks: registration (Fathom's closed schema), Standard Webhooks signing, and delivery with
//! retries under one `webhook-id` per message.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::{Rng, RngCore};
use serde_json::{Map, Value};
use sha2::Sha256;
use tokio::task::JoinHandle;

use super::data::random_alnum;
use super::model::Webhook;
use super::state::{DeliveryAttempt, Inner, SimState, Stored};

/// The documented `triggered_for` values.
pub const TRIGGERS: [&str; 4] = [
    "my_recordings",
    "shared_external_recordings",
    "my_shared_with_team_recordings",
    "shared_team_recordings",
];

const INCLUDES: [&str; 4] = [
    "include_transcript",
    "include_summary",
    "include_action_items",
    "include_crm_matches",
];

/// Validates a `POST /webhooks` body and builds the webhook (new id and secret).
pub(crate) fn create_from_body(body: &[u8], now: DateTime<Utc>) -> Result<Webhook, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("body is not valid JSON: {e}"))?;
    let Value::Object(obj) = value else {
        return Err("body must be a JSON object".to_string());
    };
    for key in obj.keys() {
        if key != "destination_url" && key != "triggered_for" && !INCLUDES.contains(&key.as_str()) {
            return Err(format!("unknown property: {key}"));
        }
    }
    let destination = match obj.get("destination_url") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err("destination_url must be a string".to_string()),
        None => return Err("destination_url is required".to_string()),
    };
    let parsed = url::Url::parse(&destination)
        .map_err(|e| format!("destination_url is not a valid URI: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err("destination_url must be an http(s) URL".to_string());
    }
    let triggered_for = match obj.get("triggered_for") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| match v {
                Value::String(s) if TRIGGERS.contains(&s.as_str()) => Ok(s.clone()),
                other => Err(format!("triggered_for has an invalid value: {other}")),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(Value::Array(_)) => return Err("triggered_for must not be empty".to_string()),
        Some(_) => return Err("triggered_for must be an array".to_string()),
        None => return Err("triggered_for is required".to_string()),
    };
    let flag = |obj: &Map<String, Value>, name: &str| match obj.get(name) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(format!("{name} must be a boolean")),
    };
    let include_transcript = flag(&obj, "include_transcript")?;
    let include_summary = flag(&obj, "include_summary")?;
    let include_action_items = flag(&obj, "include_action_items")?;
    let include_crm_matches = flag(&obj, "include_crm_matches")?;
    if !(include_transcript || include_summary || include_action_items || include_crm_matches) {
        return Err("at least one of include_transcript, include_summary, include_action_items, include_crm_matches must be true".to_string());
    }
    let mut rng = rand::thread_rng();
    let mut key = [0u8; 24];
    rng.fill_bytes(&mut key);
    Ok(Webhook {
        id: random_alnum(&mut rng, 16),
        url: destination,
        secret: format!("whsec_{}", STANDARD.encode(key)),
        created_at: now,
        include_transcript,
        include_crm_matches,
        include_summary,
        include_action_items,
        triggered_for,
    })
}

/// The `webhook-signature` value: `v1,` + base64 HMAC-SHA256 over `id.timestamp.body`, keyed
/// with the base64-decoded secret after `whsec_`.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> anyhow::Result<String> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = STANDARD.decode(encoded)?;
    anyhow::ensure!(!key.is_empty(), "empty webhook secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key)?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// A new message id, Svix style (`msg_` + 27 base62 characters).
fn message_id() -> String {
    format!("msg_{}", random_alnum(&mut rand::thread_rng(), 27))
}

/// Whether `hook` (registered by user `hook_owner`) fires for a meeting, per `triggered_for`.
fn fires(state: &SimState, hook_owner: usize, hook: &Webhook, stored: &Stored) -> bool {
    let has = |t: &str| hook.triggered_for.iter().any(|x| x == t);
    let shared = stored.meeting.shared_with != "no_teams";
    if hook_owner == stored.owner {
        // On Team plans `my_recordings` excludes team-shared recordings.
        if shared {
            has("my_shared_with_team_recordings")
        } else {
            has("my_recordings")
        }
    } else {
        shared && has("shared_team_recordings") && Inner::visible(&state.config, hook_owner, stored)
    }
}

/// One message being delivered: which webhook, which `webhook-id`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    /// The webhook's id.
    pub webhook_id: String,
    /// The `webhook-id` header of every attempt.
    pub message_id: String,
    /// Destination URL.
    pub destination: String,
}

/// Keeps the in-flight count right even if a delivery task is aborted.
struct InflightGuard(Arc<SimState>);

impl InflightGuard {
    fn new(state: Arc<SimState>) -> InflightGuard {
        state.inflight.send_modify(|n| *n += 1);
        InflightGuard(state)
    }
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.inflight.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Starts delivering a recording to every webhook it triggers, `times` times per message (same
/// `webhook-id`, as a retried or duplicated delivery would be). `None` if the recording is unknown.
pub(crate) fn start(
    state: &Arc<SimState>,
    recording_id: i64,
    times: u32,
) -> Option<(Vec<Message>, Vec<JoinHandle<()>>)> {
    let inner = state.lock();
    let stored = inner.find(recording_id)?;
    let mut messages = Vec::new();
    let mut tasks = Vec::new();
    for (owner, hook) in &inner.webhooks {
        if !fires(state, *owner, hook, stored) {
            continue;
        }
        let body = match serde_json::to_vec(&stored.meeting.render(hook.include())) {
            Ok(b) => b,
            Err(_) => continue,
        };
        let msg = Message {
            webhook_id: hook.id.clone(),
            message_id: message_id(),
            destination: hook.url.clone(),
        };
        let guard = InflightGuard::new(Arc::clone(state));
        let job = Job {
            state: Arc::clone(state),
            generation: inner.generation,
            hook: hook.clone(),
            message_id: msg.message_id.clone(),
            recording_id,
            body,
            times: times.max(1),
        };
        tasks.push(tokio::spawn(async move {
            job.run().await;
            drop(guard);
        }));
        messages.push(msg);
    }
    Some((messages, tasks))
}

struct Job {
    state: Arc<SimState>,
    generation: u64,
    hook: Webhook,
    message_id: String,
    recording_id: i64,
    body: Vec<u8>,
    times: u32,
}

impl Job {
    /// Still worth sending: no reset since, and the webhook was not deleted.
    fn live(&self) -> bool {
        let inner = self.state.lock();
        inner.generation == self.generation
            && inner.webhooks.iter().any(|(_, h)| h.id == self.hook.id)
    }

    async fn run(self) {
        let max_attempts = self.state.config.webhook_max_attempts.max(1);
        for _ in 0..self.times {
            for attempt in 1..=max_attempts {
                if !self.live() {
                    return;
                }
                let (status, error) = self.attempt().await;
                let ok = status.is_some_and(|s| (200..300).contains(&s));
                {
                    let mut inner = self.state.lock();
                    if inner.generation != self.generation {
                        return;
                    }
                    inner.log_delivery(DeliveryAttempt {
                        webhook_id: self.hook.id.clone(),
                        message_id: self.message_id.clone(),
                        recording_id: self.recording_id,
                        destination: self.hook.url.clone(),
                        attempt,
                        status,
                        error,
                        at: Utc::now(),
                    });
                }
                if ok {
                    break;
                }
                if attempt < max_attempts {
                    tokio::time::sleep(backoff(self.state.config.webhook_base_delay, attempt))
                        .await;
                }
            }
        }
    }

    async fn attempt(&self) -> (Option<u16>, Option<String>) {
        let timestamp = Utc::now().timestamp();
        let signature = match sign(&self.hook.secret, &self.message_id, timestamp, &self.body) {
            Ok(s) => s,
            Err(e) => return (None, Some(format!("signing failed: {e}"))),
        };
        let result = self
            .state
            .http
            .post(&self.hook.url)
            .header("content-type", "application/json")
            .header("user-agent", "Fathom-Sim-Webhooks/1.0")
            .header("webhook-id", &self.message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(self.body.clone())
            .send()
            .await;
        match result {
            Ok(resp) => (Some(resp.status().as_u16()), None),
            Err(e) if e.is_timeout() => (None, Some("timeout".to_string())),
            Err(e) => (None, Some(e.to_string())),
        }
    }
}

/// Delay before retry `attempt + 1`: base, 2×base, 4×base, ... with a little jitter.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
    let delay = base.saturating_mul(factor);
    let jitter = rand::thread_rng().gen_range(0..=delay.as_millis().min(1000) as u64 / 10);
    delay + Duration::from_millis(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_matches_vector_c() {
        let sig = sign(
            "whsec_5WbX5kEWLlfzsGNjH64I8lOOqUB6e8FH",
            "msg_2x2zwLOcWaRTzsLK8KtbQt1FTk9",
            1712345678,
            br#"{"recording_id":123456789,"title":"Quarterly Business Review"}"#,
        );
        assert_eq!(
            sig.ok().as_deref(),
            Some("v1,kKXFE2aC3DawLBE+21OlPEQj/rMR0dmM2haKzfGwS/4=")
        );
    }

    #[test]
    fn signing_matches_vectors_a_and_b() {
        let a = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            a.ok().as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
        let b = sign(
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(
            b.ok().as_deref(),
            Some("v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=")
        );
    }

    #[test]
    fn an_empty_secret_cannot_sign() {
        assert!(sign("whsec_", "msg_x", 1, b"{}").is_err());
    }

    #[test]
    fn backoff_doubles() {
        let base = Duration::from_millis(100);
        assert!(backoff(base, 1) >= base && backoff(base, 1) < base * 2);
        assert!(backoff(base, 3) >= base * 4 && backoff(base, 3) < base * 5);
    }

    #[test]
    fn secrets_are_24_random_bytes() {
        let hook = create_from_body(
            br#"{"destination_url":"https://example.com/h","triggered_for":["my_recordings"],"include_summary":true}"#,
            Utc::now(),
        );
        let hook = hook.ok();
        let secret = hook.as_ref().map(|h| h.secret.clone()).unwrap_or_default();
        let key = STANDARD
            .decode(secret.trim_start_matches("whsec_"))
            .unwrap_or_default();
        assert_eq!(key.len(), 24);
        assert_eq!(hook.map(|h| h.id.len()), Some(16));
    }
}
