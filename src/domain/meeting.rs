//! A meeting as Debrief stores it, built from whatever Fathom sent. Parts Fathom did not send
//! (`None`) are left as stored; each part carries a content hash so an unchanged re-ingest writes
//! nothing.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Everything about one recording, ready to store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeetingRecord {
    pub recording_id: i64,
    pub title: String,
    pub meeting_title: Option<String>,
    pub meeting_type: Option<String>,
    pub fathom_url: Option<String>,
    pub share_url: Option<String>,
    pub meeting_url: Option<String>,
    pub fathom_created_at: Option<DateTime<Utc>>,
    pub scheduled_start_time: Option<DateTime<Utc>>,
    pub scheduled_end_time: Option<DateTime<Utc>>,
    pub recording_start_time: Option<DateTime<Utc>>,
    pub recording_end_time: Option<DateTime<Utc>>,
    pub recorded_by_name: Option<String>,
    pub recorded_by_email: Option<String>,
    pub recorded_by_team: Option<String>,
    pub transcript_language: Option<String>,
    pub shared_with: Option<String>,
    pub attendees: Vec<Attendee>,
    pub transcript: Option<Vec<TranscriptLine>>,
    pub summary: Option<Summary>,
    pub action_items: Option<Vec<ActionItem>>,
    pub highlights: Option<Vec<Highlight>>,
}

/// A calendar invitee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attendee {
    pub name: Option<String>,
    /// Lower-cased.
    pub email: Option<String>,
    /// Lower-cased; from the email when Fathom sent none.
    pub email_domain: Option<String>,
    pub is_external: bool,
    pub matched_speaker_display_name: Option<String>,
}

/// One transcript line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TranscriptLine {
    pub speaker_name: Option<String>,
    pub speaker_email: Option<String>,
    /// `HH:MM:SS` as sent.
    pub timestamp_text: Option<String>,
    pub timestamp_seconds: Option<i32>,
    pub text: String,
}

/// The summary in Markdown (untrusted: sanitise when rendering).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub template_name: Option<String>,
    pub markdown: Option<String>,
}

/// An action item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionItem {
    pub description: String,
    pub user_generated: bool,
    pub completed: bool,
    pub recording_timestamp: Option<String>,
    pub playback_url: Option<String>,
    pub assignee_name: Option<String>,
    pub assignee_email: Option<String>,
    pub assignee_team: Option<String>,
}

/// A highlight.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Highlight {
    pub kind: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
    pub start_seconds: Option<f64>,
    pub end_seconds: Option<f64>,
}

impl MeetingRecord {
    /// When the meeting happened: recording start, else scheduled start, else creation, else `now`.
    pub fn started_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.recording_start_time
            .or(self.scheduled_start_time)
            .or(self.fathom_created_at)
            .unwrap_or(now)
    }

    /// Whether anyone outside the recorder's company was invited, from the invitees themselves
    /// (Fathom's own classification is known to be wrong at times).
    pub fn has_external_attendees(&self) -> bool {
        let home = self
            .recorded_by_email
            .as_deref()
            .and_then(domain_of)
            .map(str::to_owned);
        self.attendees
            .iter()
            .any(|a| match (&home, a.email_domain.as_deref()) {
                (Some(home), Some(domain)) => domain != home,
                _ => a.is_external,
            })
    }

    /// Hash of everything but the optional parts.
    pub fn core_hash(&self) -> String {
        let core = MeetingRecord {
            transcript: None,
            summary: None,
            action_items: None,
            highlights: None,
            ..self.clone()
        };
        hash(&core)
    }

    /// Hash of the transcript, when sent.
    pub fn transcript_hash(&self) -> Option<String> {
        self.transcript.as_ref().map(hash)
    }

    /// Hash of the summary, when sent.
    pub fn summary_hash(&self) -> Option<String> {
        self.summary.as_ref().map(hash)
    }

    /// Hash of the action items, when sent.
    pub fn action_items_hash(&self) -> Option<String> {
        self.action_items.as_ref().map(hash)
    }

    /// Hash of the highlights, when sent.
    pub fn highlights_hash(&self) -> Option<String> {
        self.highlights.as_ref().map(hash)
    }
}

/// The lower-cased domain of an email address.
pub fn domain_of(email: &str) -> Option<&str> {
    email
        .rsplit_once('@')
        .map(|(_, d)| d)
        .filter(|d| !d.is_empty())
}

/// `HH:MM:SS` (or `MM:SS`) as seconds.
pub fn parse_timestamp(text: &str) -> Option<i32> {
    let mut seconds = 0i32;
    let parts: Vec<&str> = text.trim().split(':').collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    for part in parts {
        let n: i32 = part.parse().ok()?;
        seconds = seconds.checked_mul(60)?.checked_add(n)?;
    }
    Some(seconds)
}

fn hash<T: Serialize>(value: &T) -> String {
    // Serialising these plain structs cannot fail; an empty string would only force a rewrite.
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attendee(email: &str, is_external: bool) -> Attendee {
        Attendee {
            name: None,
            email: Some(email.into()),
            email_domain: domain_of(email).map(str::to_owned),
            is_external,
            matched_speaker_display_name: None,
        }
    }

    fn record(attendees: Vec<Attendee>) -> MeetingRecord {
        MeetingRecord {
            recording_id: 1,
            title: "t".into(),
            meeting_title: None,
            meeting_type: None,
            fathom_url: None,
            share_url: None,
            meeting_url: None,
            fathom_created_at: None,
            scheduled_start_time: None,
            scheduled_end_time: None,
            recording_start_time: None,
            recording_end_time: None,
            recorded_by_name: None,
            recorded_by_email: Some("bob@acme.com".into()),
            recorded_by_team: None,
            transcript_language: None,
            shared_with: None,
            attendees,
            transcript: None,
            summary: None,
            action_items: None,
            highlights: None,
        }
    }

    #[test]
    fn external_attendees_are_recomputed_from_the_invitees() {
        assert!(!record(vec![attendee("bob@acme.com", true)]).has_external_attendees());
        assert!(record(vec![attendee("sam@initech.com", false)]).has_external_attendees());
        assert!(!record(vec![]).has_external_attendees());
    }

    #[test]
    fn timestamps_parse_to_seconds() {
        assert_eq!(parse_timestamp("00:10:45"), Some(645));
        assert_eq!(parse_timestamp("01:00:00"), Some(3600));
        assert_eq!(parse_timestamp("10:45"), Some(645));
        assert_eq!(parse_timestamp("x"), None);
    }

    #[test]
    fn hashes_change_only_with_their_part() {
        let a = record(vec![]);
        let mut b = a.clone();
        b.transcript = Some(vec![]);
        assert_eq!(a.core_hash(), b.core_hash());
        assert_ne!(a.transcript_hash(), b.transcript_hash());
        b.title = "other".into();
        assert_ne!(a.core_hash(), b.core_hash());
    }
}
