//! `MatchMeeting`: links meetings to the org's customers by their attendees (the rules are
//! `domain::matching`), respecting people's decisions. Also the batch step `RematchOrg` repeats
//! over the whole org: a constant number of statements per batch, writing only what changed.

use std::collections::HashMap;

use sqlx::PgConnection;

use crate::db;
use crate::db::meeting_customers::{MatchLock, Meetings};
use crate::domain::matching::{self, Directory, Rules};
use crate::domain::{CustomerId, MeetingId};
use crate::jobs::{self, MatchMeeting};
use crate::state::AppState;

/// What one batch changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchCounts {
    /// Meetings looked at.
    pub meetings: usize,
    /// Links added or changed.
    pub written: u64,
    /// Links removed.
    pub removed: u64,
    /// Customers linked to these meetings before or after (whose figures may have moved).
    pub touched: Vec<CustomerId>,
    /// Meetings whose set of customers changed.
    pub changed: Vec<MeetingId>,
    /// Meetings linked to at least one customer now.
    pub linked: Vec<MeetingId>,
}

/// The batch's contacts and domain owners, as matching asks for them.
struct Found {
    contacts: HashMap<String, CustomerId>,
    owners: HashMap<String, CustomerId>,
}

impl Directory for Found {
    fn contact_customer(&self, email: &str) -> Option<CustomerId> {
        self.contacts.get(email).copied()
    }
    fn domain_owner(&self, domain: &str) -> Option<CustomerId> {
        self.owners.get(domain).copied()
    }
}

/// Matches the `batch` of meetings of `org` in the caller's transaction: takes the org's matching lock in
/// `lock`'s mode, reads their links, attendees, the contacts and domains those name, and the
/// decisions (one statement each), then writes the links that changed (at most two statements).
pub async fn match_batch(
    conn: &mut PgConnection,
    org: crate::domain::OrgId,
    rules: &Rules,
    batch: Meetings<'_>,
    lock: MatchLock,
) -> anyhow::Result<MatchCounts> {
    let meetings = batch.ids();
    if meetings.is_empty() {
        return Ok(MatchCounts::default());
    }
    let stored = db::meeting_customers::links_for_update(conn, org, batch, lock).await?;
    let attendees = db::meeting_customers::attendees(conn, org, batch).await?;
    let (mut emails, mut domains) = (Vec::new(), Vec::new());
    for list in attendees.values() {
        let (e, d) = matching::lookups(list, rules);
        emails.extend(e);
        domains.extend(d);
    }
    emails.sort();
    emails.dedup();
    domains.sort();
    domains.dedup();
    let (contacts, owners) = db::meeting_customers::directory(conn, org, &emails, &domains).await?;
    let found = Found { contacts, owners };
    let decisions = db::meeting_customers::decisions(conn, org, batch).await?;
    let wanted: HashMap<MeetingId, Vec<matching::Link>> = attendees
        .iter()
        .map(|(meeting, list)| {
            let automatic = matching::automatic_links(list, rules, &found);
            let decided = decisions
                .get(meeting)
                .map(Vec::as_slice)
                .unwrap_or_default();
            (*meeting, matching::with_decisions(automatic, decided))
        })
        .collect();
    let (written, removed) =
        db::meeting_customers::write_changes(conn, org, &stored, &wanted).await?;
    let mut touched: Vec<CustomerId> = stored
        .values()
        .chain(wanted.values())
        .flatten()
        .map(|l| l.customer)
        .collect();
    touched.sort();
    touched.dedup();
    let customers = |links: Option<&Vec<matching::Link>>| {
        let mut c: Vec<CustomerId> = links.into_iter().flatten().map(|l| l.customer).collect();
        c.sort();
        c
    };
    let changed = meetings
        .iter()
        .copied()
        .filter(|m| customers(stored.get(m)) != customers(wanted.get(m)))
        .collect();
    let linked = meetings
        .iter()
        .copied()
        .filter(|m| wanted.get(m).is_some_and(|l| !l.is_empty()))
        .collect();
    Ok(MatchCounts {
        meetings: meetings.len(),
        written,
        removed,
        touched,
        changed,
        linked,
    })
}

/// Runs `MatchMeeting`.
pub async fn match_meeting(state: &AppState, args: MatchMeeting) -> anyhow::Result<()> {
    let mut tx = state.db.begin().await?;
    let rules = db::meeting_customers::rules(&mut tx, args.org_id).await?;
    let counts = match_batch(
        &mut tx,
        args.org_id,
        &rules,
        Meetings::Listed(&args.meeting_ids),
        MatchLock::Exclusive,
    )
    .await?;
    // Their meetings changed (that is why matching ran), so their figures may have too.
    jobs::enqueue_refresh_customer_rollups(&mut tx, args.org_id, Some(counts.touched.clone()))
        .await?;
    // The meeting itself changed (that is why it was matched): its CRM records follow.
    jobs::enqueue_pushes(&mut tx, args.org_id, &counts.linked).await?;
    tx.commit().await?;
    tracing::info!(org_id = %args.org_id, meetings = counts.meetings, written = counts.written,
        removed = counts.removed, "meetings matched to customers");
    Ok(())
}
