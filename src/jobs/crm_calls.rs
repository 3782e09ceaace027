//! How jobs call a CRM: a refused token is refreshed once and the call repeated; rate limits are
//! waited out as the provider says (briefly, inside the job — longer waits go back to the queue);
//! server errors and timeouts are retried a few times with growing pauses inside list imports.

use std::time::Duration;

use crate::crm::CrmError;
use crate::jobs::crm_access::{self, CrmAccess};
use crate::state::AppState;

/// Longest rate-limit wait spent inside a job; a longer one ends the attempt.
pub const MAX_INLINE_WAIT: Duration = Duration::from_secs(30);

/// Refreshes `access` after the CRM refused its token. Returns the error to report when the
/// refresh itself failed.
pub async fn refresh_after_401(state: &AppState, access: &mut CrmAccess) -> Result<(), String> {
    match crm_access::after_unauthorized(state, access).await {
        Ok(fresh) => {
            *access = fresh;
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// What to do after a failed call, given how many failures came before.
pub enum Next {
    /// Refresh the token, then call again (first 401 only).
    Refresh,
    /// Wait, then call again.
    Wait(Duration),
    /// Give up with this error.
    GiveUp(CrmError),
}

/// Decides the next step for a listing call (imports retry inside the job).
pub fn next_step(err: CrmError, refreshed: bool, failures: u32) -> Next {
    match err {
        CrmError::Unauthorized if !refreshed => Next::Refresh,
        CrmError::RateLimited { retry_after }
            if retry_after <= MAX_INLINE_WAIT && failures < 30 =>
        {
            Next::Wait(retry_after)
        }
        CrmError::Transient(_) | CrmError::NoAnswer(_) if failures < 5 => {
            Next::Wait(Duration::from_millis(250 * 2u64.pow(failures)))
        }
        other => Next::GiveUp(other),
    }
}
