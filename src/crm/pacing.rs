//! Per-account pacing of CRM calls, so Debrief stays under a provider's rolling limits instead of
//! learning them from 429s: HubSpot allows an OAuth app 110 calls per 10 s per portal (searches
//! 5 per second on top). Shared by every job in the process; a 429 from another process's calls is
//! still honoured by the job that gets it.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// The pacers of one CRM account.
pub struct AccountPacer {
    calls: DefaultDirectRateLimiter,
    searches: DefaultDirectRateLimiter,
}

impl AccountPacer {
    /// At most `calls_per_window` calls in any `window`, and `searches_per_second` searches.
    pub fn new(calls_per_window: u32, window: Duration, searches_per_second: u32) -> AccountPacer {
        AccountPacer {
            calls: RateLimiter::direct(evenly(calls_per_window, window)),
            searches: RateLimiter::direct(evenly(searches_per_second, Duration::from_secs(1))),
        }
    }

    /// Waits for a call's turn.
    pub async fn call(&self) {
        self.calls.until_ready().await;
    }

    /// Waits for a search's turn (a search is a call too).
    pub async fn search(&self) {
        self.searches.until_ready().await;
        self.calls.until_ready().await;
    }
}

/// A quota that never lets more than `n` calls into any window of `window`: one call every
/// `window / (n - 1)` with no burst (a burst of one plus n - 1 spaced calls is n in a window),
/// so calls arriving a little bunched at the provider still fit its rolling count.
fn evenly(n: u32, window: Duration) -> Quota {
    let spaced = n.saturating_sub(1).max(1);
    let period = (window / spaced).max(Duration::from_millis(1));
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::MIN)
}

/// Every account's pacer, created on first use.
#[derive(Default)]
pub struct Pacers {
    accounts: Mutex<HashMap<String, Arc<AccountPacer>>>,
}

impl Pacers {
    /// The pacer of `account` (e.g. `hubspot:12345`), made with `make` the first time.
    pub fn get(&self, account: &str, make: impl FnOnce() -> AccountPacer) -> Arc<AccountPacer> {
        let mut accounts = self
            .accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(
            accounts
                .entry(account.to_owned())
                .or_insert_with(|| Arc::new(make())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_window_ever_holds_more_calls_than_the_limit() {
        let pacer = AccountPacer::new(11, Duration::from_millis(500), 100);
        let start = tokio::time::Instant::now();
        let mut times = Vec::new();
        for _ in 0..25 {
            pacer.call().await;
            times.push(start.elapsed());
        }
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .take_while(|u| **u < *t + Duration::from_millis(500))
                .count();
            assert!(
                in_window <= 11,
                "{in_window} calls within 500 ms from call {i}"
            );
        }
        // And it is not much slower than the limit: 25 calls need about 2.4 windows of 10 gaps.
        assert!(times[24] < Duration::from_millis(1400), "{:?}", times[24]);
    }
}
