//! `RefreshCustomerRollups`: recomputes the dashboard figures of some customers (after matching
//! changed or re-read their meetings), or of every customer of the org (after a re-match, and
//! once a day so the 30- and 90-day counts move with time).

use crate::db;
use crate::jobs::RefreshCustomerRollups;
use crate::state::AppState;

/// Runs `RefreshCustomerRollups`.
pub async fn refresh_customer_rollups(
    state: &AppState,
    args: RefreshCustomerRollups,
) -> anyhow::Result<()> {
    let mut conn = state.db.acquire().await?;
    let rows =
        db::customer_rollups::refresh(&mut conn, args.org_id, args.customer_ids.as_deref()).await?;
    tracing::info!(org_id = %args.org_id, customers = rows, "customer rollups refreshed");
    Ok(())
}
