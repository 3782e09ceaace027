//! Per-key fixed-window rate limits: a global budget, and a smaller one for heavy calls that also
//! spends the global one.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Limits per API key and window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimits {
    /// Calls per window (Fathom: 60).
    pub global: u32,
    /// Heavy calls per window (Fathom: 30, possibly 5 under load).
    pub heavy: u32,
    /// Window length (Fathom: 60 s).
    #[serde(with = "duration_secs")]
    pub window: Duration,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            global: 60,
            heavy: 30,
            window: Duration::from_secs(60),
        }
    }
}

mod duration_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

/// What the limiter decided for one call; both cases carry the header values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Whether the call may proceed.
    pub allowed: bool,
    /// `RateLimit-Limit`.
    pub limit: u32,
    /// `RateLimit-Remaining`.
    pub remaining: u32,
    /// `RateLimit-Reset` and, on 429, `Retry-After`: whole seconds until the window ends.
    pub reset_secs: u64,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    global: u32,
    heavy: u32,
}

/// Windows per API key.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    windows: HashMap<String, Window>,
}

impl RateLimiter {
    /// Counts one call of `key` (if allowed) and says what to answer.
    pub fn check(&mut self, key: &str, heavy: bool, limits: RateLimits, now: Instant) -> Verdict {
        let w = self.windows.entry(key.to_string()).or_insert(Window {
            start: now,
            global: 0,
            heavy: 0,
        });
        if now.duration_since(w.start) >= limits.window {
            *w = Window {
                start: now,
                global: 0,
                heavy: 0,
            };
        }
        let left = limits.window.saturating_sub(now.duration_since(w.start));
        // Round up so a client that waits `reset` seconds is always past the window.
        let reset_secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        let allowed = w.global < limits.global && (!heavy || w.heavy < limits.heavy);
        if allowed {
            w.global += 1;
            if heavy {
                w.heavy += 1;
            }
        }
        let global_left = limits.global.saturating_sub(w.global);
        let heavy_left = limits.heavy.saturating_sub(w.heavy);
        // A heavy call reports whichever budget is tighter, so pacing by headers is always safe.
        let (limit, remaining) = if heavy && heavy_left <= global_left {
            (limits.heavy, heavy_left)
        } else {
            (limits.global, global_left)
        };
        Verdict {
            allowed,
            limit,
            remaining,
            reset_secs: reset_secs.max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heavy_calls_spend_both_budgets_and_the_window_resets() {
        let limits = RateLimits {
            global: 4,
            heavy: 2,
            window: Duration::from_secs(60),
        };
        let mut rl = RateLimiter::default();
        let t0 = Instant::now();
        assert!(rl.check("k", true, limits, t0).allowed);
        assert!(rl.check("k", true, limits, t0).allowed);
        let third = rl.check("k", true, limits, t0);
        assert!(!third.allowed);
        assert_eq!((third.limit, third.remaining), (2, 0));
        assert!(rl.check("k", false, limits, t0).allowed);
        assert!(rl.check("k", false, limits, t0).allowed);
        let over = rl.check("k", false, limits, t0);
        assert!(!over.allowed);
        assert_eq!(over.reset_secs, 60);
        assert!(rl.check("other", false, limits, t0).allowed);
        assert!(
            rl.check("k", true, limits, t0 + Duration::from_secs(60))
                .allowed
        );
    }
}
