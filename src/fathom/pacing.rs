//! Pacing calls with one Fathom key so a sync stays inside Fathom's per-key limits: from the
//! `RateLimit-*` headers when Fathom sends them (spend the window, then wait for it to reset), else
//! from the documented numbers (30 heavy calls a minute, so one every two seconds).

use std::time::{Duration, Instant};

use crate::fathom::RateLimit;

/// Fathom's documented window when an exhausted budget comes without a reset time.
const WINDOW: Duration = Duration::from_secs(60);
/// Never wait longer than this on the word of one header.
const MAX_WAIT: Duration = Duration::from_secs(5 * 60);
/// Slack after a reset, so the next call lands in the new window even if clocks round differently.
const RESET_MARGIN: Duration = Duration::from_millis(250);

/// When the next call may go out.
#[derive(Debug, Clone)]
pub struct Pacer {
    headerless_interval: Duration,
    next_call_at: Option<Instant>,
}

impl Pacer {
    /// A pacer that spaces calls `headerless_interval` apart when Fathom sends no rate-limit
    /// headers.
    pub fn new(headerless_interval: Duration) -> Pacer {
        Pacer {
            headerless_interval,
            next_call_at: None,
        }
    }

    /// How long to wait before the next call, if at all.
    pub fn wait_before_next(&self, now: Instant) -> Option<Duration> {
        self.next_call_at
            .and_then(|at| at.checked_duration_since(now))
            .filter(|d| !d.is_zero())
    }

    /// Takes in the rate-limit state reported by an answer received at `now`.
    pub fn after_answer(&mut self, limits: &RateLimit, now: Instant) {
        let wait = match (limits.remaining, limits.reset) {
            (Some(0), reset) => reset.unwrap_or(WINDOW).min(MAX_WAIT) + RESET_MARGIN,
            (Some(_), _) => Duration::ZERO,
            (None, _) => self.headerless_interval,
        };
        self.next_call_at = Some(now + wait);
    }

    /// Takes in a 429: nothing goes out before `retry_after` (or the window) has passed.
    pub fn after_rate_limited(
        &mut self,
        retry_after: Option<Duration>,
        limits: &RateLimit,
        now: Instant,
    ) -> Duration {
        let wait = retry_after
            .or(limits.reset)
            .unwrap_or(WINDOW)
            .min(MAX_WAIT)
            .max(Duration::from_secs(1));
        self.next_call_at = Some(now + wait);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(remaining: Option<u32>, reset: Option<u64>) -> RateLimit {
        RateLimit {
            limit: Some(30),
            remaining,
            reset: reset.map(Duration::from_secs),
        }
    }

    #[test]
    fn calls_go_out_at_once_while_the_window_has_budget() {
        let mut pacer = Pacer::new(Duration::from_secs(2));
        let now = Instant::now();
        assert_eq!(pacer.wait_before_next(now), None);
        pacer.after_answer(&limits(Some(5), Some(40)), now);
        assert_eq!(pacer.wait_before_next(now), None);
    }

    #[test]
    fn an_exhausted_window_waits_for_its_reset() {
        let mut pacer = Pacer::new(Duration::from_secs(2));
        let now = Instant::now();
        pacer.after_answer(&limits(Some(0), Some(17)), now);
        assert_eq!(
            pacer.wait_before_next(now),
            Some(Duration::from_secs(17) + RESET_MARGIN)
        );
        assert_eq!(pacer.wait_before_next(now + Duration::from_secs(18)), None);
        pacer.after_answer(&limits(Some(0), None), now);
        assert_eq!(pacer.wait_before_next(now), Some(WINDOW + RESET_MARGIN));
    }

    #[test]
    fn without_headers_calls_are_spaced_by_the_documented_rate() {
        let mut pacer = Pacer::new(Duration::from_secs(2));
        let now = Instant::now();
        pacer.after_answer(&RateLimit::default(), now);
        assert_eq!(pacer.wait_before_next(now), Some(Duration::from_secs(2)));
    }

    #[test]
    fn a_429_waits_retry_after_else_the_reset_else_the_window() {
        let mut pacer = Pacer::new(Duration::from_secs(2));
        let now = Instant::now();
        let none = RateLimit::default();
        assert_eq!(
            pacer.after_rate_limited(
                Some(Duration::from_secs(7)),
                &limits(Some(0), Some(30)),
                now
            ),
            Duration::from_secs(7)
        );
        assert_eq!(pacer.wait_before_next(now), Some(Duration::from_secs(7)));
        assert_eq!(
            pacer.after_rate_limited(None, &limits(Some(0), Some(30)), now),
            Duration::from_secs(30)
        );
        assert_eq!(pacer.after_rate_limited(None, &none, now), WINDOW);
        assert_eq!(
            pacer.after_rate_limited(Some(Duration::from_secs(86_400)), &none, now),
            MAX_WAIT
        );
        assert_eq!(
            pacer.after_rate_limited(Some(Duration::ZERO), &none, now),
            Duration::from_secs(1),
            "a zero Retry-After must not turn into a tight loop"
        );
    }
}
