//! What a meeting becomes in a CRM: the note (HubSpot) or completed task (Salesforce) with its
//! title, time, attendees, summary, action items and links, plus optional tasks for open action
//! items. Pure: built from plain meeting data, with a hash that tells whether it changed.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::domain::CrmProvider;

/// HubSpot's limit on `hs_note_body`.
const HUBSPOT_BODY_MAX: usize = 65_536;
/// Salesforce's limit on a Task's `Description`.
const SALESFORCE_DESCRIPTION_MAX: usize = 32_000;
/// Salesforce's limit on a Task's `Subject`.
const SALESFORCE_SUBJECT_MAX: usize = 255;

/// The meeting as a CRM record needs it.
#[derive(Debug, Clone)]
pub struct MeetingForCrm {
    pub title: String,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// `(name, email)` of each attendee.
    pub attendees: Vec<(Option<String>, String)>,
    pub summary_markdown: Option<String>,
    pub action_items: Vec<ActionItemForCrm>,
    /// The recording at Fathom.
    pub recording_url: Option<String>,
    /// The meeting's page in Debrief.
    pub debrief_url: String,
}

/// One action item of the meeting.
#[derive(Debug, Clone)]
pub struct ActionItemForCrm {
    pub description: String,
    pub assignee_email: Option<String>,
    pub completed: bool,
}

/// Which record an activity is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActivityKind {
    /// The meeting itself (HubSpot note, Salesforce completed task).
    Meeting,
    /// An open action item as a HubSpot task (`index` within the meeting's action items).
    ActionItem { index: usize },
}

/// A record to write, ready for one provider.
#[derive(Debug, Clone)]
pub struct Activity {
    pub kind: ActivityKind,
    /// Unique per (meeting, connection, kind); written into the record so it can be found again.
    pub push_key: String,
    pub subject: String,
    /// HTML (HubSpot) or plain text (Salesforce), within the provider's limit.
    pub body: String,
    /// Timeline time: the recording's end (HubSpot `hs_timestamp`, Salesforce `ActivityDate`).
    pub timestamp: DateTime<Utc>,
    /// CRM ids of the contacts and companies to associate (those that came from this CRM).
    pub contact_ids: Vec<String>,
    pub company_ids: Vec<String>,
    /// Action-item tasks: whether it is done.
    pub completed: bool,
    /// Action-item tasks: who should do it (mapped to a CRM owner by email where one exists).
    pub assignee_email: Option<String>,
}

impl Activity {
    /// Hash of everything written, so an unchanged meeting is not written again.
    pub fn content_hash(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            self.subject.as_str(),
            self.body.as_str(),
            &self.timestamp.to_rfc3339(),
            &self.contact_ids.join(","),
            &self.company_ids.join(","),
            if self.completed { "done" } else { "open" },
            self.assignee_email.as_deref().unwrap_or(""),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        hex::encode(h.finalize())
    }

    /// The stored name of the kind (`note`, `task`, `action_item:3`).
    pub fn kind_name(&self, provider: CrmProvider) -> String {
        match self.kind {
            ActivityKind::Meeting => provider.record_label().to_owned(),
            ActivityKind::ActionItem { index } => format!("action_item:{index}"),
        }
    }
}

/// The line every record carries, so a record Debrief made is recognised by its key.
pub fn push_key_marker(push_key: &str) -> String {
    format!("Debrief ref {push_key}")
}

/// What `meeting` becomes in `provider`: the meeting record, then (when `tasks` is on and the
/// provider is HubSpot) one task per open action item.
pub fn activities(
    meeting: &MeetingForCrm,
    provider: CrmProvider,
    push_key: impl Fn(&ActivityKind) -> String,
    contact_ids: &[String],
    company_ids: &[String],
    tasks: bool,
) -> Vec<Activity> {
    let timestamp = meeting
        .ended_at
        .or(meeting.started_at)
        .unwrap_or_else(Utc::now);
    let kind = ActivityKind::Meeting;
    let key = push_key(&kind);
    let mut out = vec![Activity {
        subject: subject(meeting, provider),
        body: match provider {
            CrmProvider::Hubspot => note_html(meeting, &key),
            CrmProvider::Salesforce => task_text(meeting, &key),
        },
        kind,
        push_key: key,
        timestamp,
        contact_ids: contact_ids.to_vec(),
        company_ids: company_ids.to_vec(),
        completed: true,
        assignee_email: None,
    }];
    if tasks && provider == CrmProvider::Hubspot {
        for (index, item) in meeting.action_items.iter().enumerate() {
            if item.completed {
                continue;
            }
            let kind = ActivityKind::ActionItem { index };
            let key = push_key(&kind);
            out.push(Activity {
                subject: truncate(&item.description, SALESFORCE_SUBJECT_MAX),
                body: format!(
                    "<p>{}</p><p>From <a href=\"{}\">{}</a></p><p>{}</p>",
                    escape(&item.description),
                    escape(&meeting.debrief_url),
                    escape(&meeting.title),
                    escape(&push_key_marker(&key)),
                ),
                kind,
                push_key: key,
                timestamp: timestamp + chrono::Duration::days(7),
                contact_ids: contact_ids.to_vec(),
                company_ids: company_ids.to_vec(),
                completed: false,
                assignee_email: item.assignee_email.clone(),
            });
        }
    }
    out
}

fn subject(meeting: &MeetingForCrm, provider: CrmProvider) -> String {
    let title = if meeting.title.trim().is_empty() {
        "Meeting"
    } else {
        meeting.title.trim()
    };
    match provider {
        CrmProvider::Hubspot => title.to_owned(),
        CrmProvider::Salesforce => truncate(&format!("Call: {title}"), SALESFORCE_SUBJECT_MAX),
    }
}

fn when(meeting: &MeetingForCrm) -> String {
    match (meeting.started_at, meeting.ended_at) {
        (Some(s), Some(e)) => format!("{} – {} UTC", s.format("%Y-%m-%d %H:%M"), e.format("%H:%M")),
        (Some(s), None) => format!("{} UTC", s.format("%Y-%m-%d %H:%M")),
        _ => "time unknown".to_owned(),
    }
}

fn attendee_line((name, email): &(Option<String>, String)) -> String {
    match name {
        Some(n) if !n.trim().is_empty() => format!("{} <{email}>", n.trim()),
        _ => email.clone(),
    }
}

fn note_html(meeting: &MeetingForCrm, key: &str) -> String {
    let mut html = format!(
        "<h3>{}</h3><p>{}</p>",
        escape(&subject(meeting, CrmProvider::Hubspot)),
        escape(&when(meeting))
    );
    if !meeting.attendees.is_empty() {
        html.push_str("<p><strong>Attendees</strong></p><ul>");
        for a in &meeting.attendees {
            html.push_str(&format!("<li>{}</li>", escape(&attendee_line(a))));
        }
        html.push_str("</ul>");
    }
    if let Some(summary) = meeting
        .summary_markdown
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    {
        html.push_str("<p><strong>Summary</strong></p>");
        html.push_str(&markdown_html(summary));
    }
    if !meeting.action_items.is_empty() {
        html.push_str("<p><strong>Action items</strong></p><ul>");
        for item in &meeting.action_items {
            let who = item
                .assignee_email
                .as_deref()
                .map(|e| format!(" ({})", escape(e)))
                .unwrap_or_default();
            let done = if item.completed { " ✓" } else { "" };
            html.push_str(&format!(
                "<li>{}{who}{done}</li>",
                escape(&item.description)
            ));
        }
        html.push_str("</ul>");
    }
    let footer = links_html(meeting, key);
    if html.len() + footer.len() > HUBSPOT_BODY_MAX {
        // Too long: keep the head and always the footer (the links and the push key).
        let mut cut = HUBSPOT_BODY_MAX - footer.len() - 64;
        while !html.is_char_boundary(cut) {
            cut -= 1;
        }
        html = ammonia::clean(&html[..cut]);
        html.push_str("<p>…</p>");
    }
    html + &footer
}

fn links_html(meeting: &MeetingForCrm, key: &str) -> String {
    let mut html = String::from("<p>");
    if let Some(url) = &meeting.recording_url {
        html.push_str(&format!("<a href=\"{}\">Recording</a> · ", escape(url)));
    }
    html.push_str(&format!(
        "<a href=\"{}\">Open in Debrief</a><br><small>{}</small></p>",
        escape(&meeting.debrief_url),
        escape(&push_key_marker(key))
    ));
    html
}

fn task_text(meeting: &MeetingForCrm, key: &str) -> String {
    let mut text = format!("{}\n", when(meeting));
    if !meeting.attendees.is_empty() {
        text.push_str("\nAttendees:\n");
        for a in &meeting.attendees {
            text.push_str(&format!("- {}\n", attendee_line(a)));
        }
    }
    if let Some(summary) = meeting
        .summary_markdown
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    {
        text.push_str(&format!("\nSummary:\n{}\n", summary.trim()));
    }
    if !meeting.action_items.is_empty() {
        text.push_str("\nAction items:\n");
        for item in &meeting.action_items {
            let who = item
                .assignee_email
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default();
            let done = if item.completed { " [done]" } else { "" };
            text.push_str(&format!("- {}{who}{done}\n", item.description));
        }
    }
    let mut footer = String::from("\n");
    if let Some(url) = &meeting.recording_url {
        footer.push_str(&format!("Recording: {url}\n"));
    }
    footer.push_str(&format!(
        "Debrief: {}\n{}",
        meeting.debrief_url,
        push_key_marker(key)
    ));
    let room = SALESFORCE_DESCRIPTION_MAX.saturating_sub(footer.chars().count() + 2);
    if text.chars().count() > room {
        text = truncate(&text, room);
    }
    text + &footer
}

fn markdown_html(markdown: &str) -> String {
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, pulldown_cmark::Parser::new(markdown));
    ammonia::clean(&html)
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// At most `max` characters, ending in `…` when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meeting() -> MeetingForCrm {
        MeetingForCrm {
            title: "QBR with <Northwind>".into(),
            started_at: Some("2025-03-04T15:00:00Z".parse().unwrap()),
            ended_at: Some("2025-03-04T15:58:40Z".parse().unwrap()),
            attendees: vec![(Some("Jane Roe".into()), "jane@northwind.com".into())],
            summary_markdown: Some("## Summary\nThey <script>x</script> renew.".into()),
            action_items: vec![
                ActionItemForCrm {
                    description: "Send the quote".into(),
                    assignee_email: Some("ann@acme.com".into()),
                    completed: false,
                },
                ActionItemForCrm {
                    description: "Book the call".into(),
                    assignee_email: None,
                    completed: true,
                },
            ],
            recording_url: Some("https://fathom.video/calls/1".into()),
            debrief_url: "https://debrief.example/o/acme/meetings/1".into(),
        }
    }

    fn key(kind: &ActivityKind) -> String {
        format!("k-{kind:?}")
    }

    #[test]
    fn a_hubspot_note_is_safe_html_timed_at_the_recording_end_with_its_key() {
        let all = activities(&meeting(), CrmProvider::Hubspot, key, &[], &[], false);
        assert_eq!(all.len(), 1);
        let note = &all[0];
        assert_eq!(note.timestamp.to_rfc3339(), "2025-03-04T15:58:40+00:00");
        assert!(note.body.contains("QBR with &lt;Northwind&gt;"));
        assert!(!note.body.contains("<script>"));
        assert!(note.body.contains("Jane Roe &lt;jane@northwind.com&gt;"));
        assert!(note.body.contains(&push_key_marker("k-Meeting")));
        assert!(note.body.contains("https://fathom.video/calls/1"));
    }

    #[test]
    fn open_action_items_become_tasks_only_when_asked_and_only_in_hubspot() {
        let with = activities(&meeting(), CrmProvider::Hubspot, key, &[], &[], true);
        assert_eq!(with.len(), 2, "one open action item");
        assert_eq!(with[1].kind, ActivityKind::ActionItem { index: 0 });
        assert_eq!(with[1].kind_name(CrmProvider::Hubspot), "action_item:0");
        let sf = activities(&meeting(), CrmProvider::Salesforce, key, &[], &[], true);
        assert_eq!(sf.len(), 1);
        assert_eq!(sf[0].kind_name(CrmProvider::Salesforce), "task");
    }

    #[test]
    fn a_salesforce_task_fits_its_limits_and_keeps_its_key_when_the_summary_is_huge() {
        let mut m = meeting();
        m.title = "x".repeat(400);
        m.summary_markdown = Some("word ".repeat(20_000));
        let task = &activities(&m, CrmProvider::Salesforce, key, &[], &[], false)[0];
        assert!(task.subject.chars().count() <= SALESFORCE_SUBJECT_MAX);
        assert!(task.body.chars().count() <= SALESFORCE_DESCRIPTION_MAX);
        assert!(task.body.ends_with(&push_key_marker("k-Meeting")));
    }

    #[test]
    fn a_huge_note_fits_hubspots_limit_and_keeps_its_key() {
        let mut m = meeting();
        m.summary_markdown = Some("word ".repeat(30_000));
        let note = &activities(&m, CrmProvider::Hubspot, key, &[], &[], false)[0];
        assert!(note.body.len() <= HUBSPOT_BODY_MAX, "{}", note.body.len());
        assert!(note.body.contains(&push_key_marker("k-Meeting")));
    }

    #[test]
    fn the_hash_changes_with_the_summary_and_the_associations_only() {
        let a = activities(&meeting(), CrmProvider::Hubspot, key, &[], &[], false);
        let b = activities(&meeting(), CrmProvider::Hubspot, key, &[], &[], false);
        assert_eq!(a[0].content_hash(), b[0].content_hash());
        let mut m = meeting();
        m.summary_markdown = Some("Changed".into());
        let c = activities(&m, CrmProvider::Hubspot, key, &[], &[], false);
        assert_ne!(a[0].content_hash(), c[0].content_hash());
        let d = activities(
            &meeting(),
            CrmProvider::Hubspot,
            key,
            &["1".into()],
            &[],
            false,
        );
        assert_ne!(a[0].content_hash(), d[0].content_hash());
    }
}
