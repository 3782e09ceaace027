//! Injected faults: answer the next N API calls (of one key, or of any) with a given status, or
//! answer them late.

use serde::{Deserialize, Serialize};

/// What an injected fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with `status` instead of serving the call.
    Status,
    /// Wait `delay_ms`, then serve the call normally.
    Slow,
}

/// A fault for the next `count` matching API calls. JSON: `{"kind":"status","status":500,"count":2}`
/// or `{"kind":"slow","delay_ms":3000,"count":1,"api_key":"demo-key-alice"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// `status` or `slow`.
    pub kind: FaultKind,
    /// HTTP status for `status` faults (400–599).
    #[serde(default)]
    pub status: Option<u16>,
    /// `Retry-After` seconds for a 429 fault (default 1).
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Delay for `slow` faults.
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// How many calls it affects (default 1).
    #[serde(default = "one")]
    pub count: u32,
    /// Only calls with this `X-Api-Key` (default: every call).
    #[serde(default)]
    pub api_key: Option<String>,
    /// Only calls whose path starts with this, e.g. `/external/v1/meetings` (default: every path).
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Let this many matching calls through untouched first (default 0), e.g. to slow down only
    /// the second page of a listing.
    #[serde(default)]
    pub after: u32,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// `status` for the next `count` calls of any key.
    pub fn status(status: u16, count: u32) -> Fault {
        Fault {
            kind: FaultKind::Status,
            status: Some(status),
            retry_after: None,
            delay_ms: None,
            count,
            api_key: None,
            path_prefix: None,
            after: 0,
        }
    }

    /// A delay of `delay_ms` for the next `count` calls of any key.
    pub fn slow(delay_ms: u64, count: u32) -> Fault {
        Fault {
            kind: FaultKind::Slow,
            status: None,
            retry_after: None,
            delay_ms: Some(delay_ms),
            count,
            api_key: None,
            path_prefix: None,
            after: 0,
        }
    }

    /// Restricts the fault to one API key.
    pub fn for_key(mut self, api_key: impl Into<String>) -> Fault {
        self.api_key = Some(api_key.into());
        self
    }

    /// Restricts the fault to paths starting with `prefix`.
    pub fn for_path(mut self, prefix: impl Into<String>) -> Fault {
        self.path_prefix = Some(prefix.into());
        self
    }

    /// Lets the first `calls` matching calls through untouched.
    pub fn after(mut self, calls: u32) -> Fault {
        self.after = calls;
        self
    }

    /// Checks the fields that the kind needs.
    pub fn validate(&self) -> Result<(), String> {
        if self.count == 0 {
            return Err("count must be at least 1".to_string());
        }
        match self.kind {
            FaultKind::Status => match self.status {
                Some(s) if (400..=599).contains(&s) => Ok(()),
                _ => Err("a status fault needs \"status\" between 400 and 599".to_string()),
            },
            FaultKind::Slow => match self.delay_ms {
                Some(_) => Ok(()),
                None => Err("a slow fault needs \"delay_ms\"".to_string()),
            },
        }
    }
}

/// What the gate must do for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultAction {
    /// Answer with this status (and `Retry-After` for 429).
    Status { status: u16, retry_after: u64 },
    /// Sleep, then serve normally.
    Delay { ms: u64 },
}

/// Pending faults, first match wins.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    pending: Vec<Fault>,
}

impl Faults {
    pub fn add(&mut self, fault: Fault) {
        self.pending.push(fault);
    }

    pub fn clear(&mut self) {
        self.pending.clear();
    }

    /// Uses up one call of the first fault matching this call.
    pub fn take(&mut self, key: Option<&str>, path: &str) -> Option<FaultAction> {
        let idx = self.pending.iter().position(|f| {
            f.api_key.as_deref().is_none_or(|k| Some(k) == key)
                && f.path_prefix.as_deref().is_none_or(|p| path.starts_with(p))
        })?;
        let fault = &mut self.pending[idx];
        if fault.after > 0 {
            fault.after -= 1;
            return None;
        }
        let action = match fault.kind {
            FaultKind::Status => FaultAction::Status {
                status: fault.status.unwrap_or(500),
                retry_after: fault.retry_after.unwrap_or(1),
            },
            FaultKind::Slow => FaultAction::Delay {
                ms: fault.delay_ms.unwrap_or(0),
            },
        };
        fault.count = fault.count.saturating_sub(1);
        if fault.count == 0 {
            self.pending.remove(idx);
        }
        Some(action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_applies_to_its_key_for_count_calls() {
        let mut faults = Faults::default();
        faults.add(Fault::status(500, 2).for_key("k1"));
        assert_eq!(faults.take(Some("k2"), "/external/v1/meetings"), None);
        let hit = Some(FaultAction::Status {
            status: 500,
            retry_after: 1,
        });
        assert_eq!(faults.take(Some("k1"), "/external/v1/meetings"), hit);
        assert_eq!(faults.take(Some("k1"), "/external/v1/meetings"), hit);
        assert_eq!(faults.take(Some("k1"), "/external/v1/meetings"), None);
    }

    #[test]
    fn a_fault_can_let_the_first_calls_through() {
        let mut faults = Faults::default();
        faults.add(
            Fault::slow(10, 1)
                .for_path("/external/v1/meetings")
                .after(1),
        );
        assert_eq!(faults.take(Some("k"), "/external/v1/webhooks"), None);
        assert_eq!(faults.take(Some("k"), "/external/v1/meetings"), None);
        assert_eq!(
            faults.take(Some("k"), "/external/v1/meetings"),
            Some(FaultAction::Delay { ms: 10 })
        );
        assert_eq!(faults.take(Some("k"), "/external/v1/meetings"), None);
    }

    #[test]
    fn faults_are_validated() {
        assert!(Fault::status(200, 1).validate().is_err());
        assert!(Fault::status(503, 0).validate().is_err());
        assert!(Fault::slow(10, 1).validate().is_ok());
    }
}
