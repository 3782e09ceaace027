//! The JSON the simulator emits, as its own serde types (independent of Debrief's client types, so
//! a mistake in one is not silently mirrored in the other).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A meeting as Fathom returns it from `GET /meetings` and POSTs it to webhooks.
///
/// Content blocks are `None` unless requested; `None` blocks are omitted from the JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meeting {
    /// Fathom's title.
    pub title: String,
    /// Calendar event title (null for ad-hoc calls).
    pub meeting_title: Option<String>,
    /// Meeting-type name.
    pub meeting_type: Option<String>,
    /// The API id; never the number in `url`.
    pub recording_id: i64,
    /// `https://fathom.video/calls/<n>`.
    pub url: String,
    /// Join link (null without a calendar event).
    pub meeting_url: Option<String>,
    /// Public share link.
    pub share_url: String,
    /// When the recording was finalised.
    pub created_at: DateTime<Utc>,
    /// Calendar start.
    pub scheduled_start_time: Option<DateTime<Utc>>,
    /// Calendar end.
    pub scheduled_end_time: Option<DateTime<Utc>>,
    /// Recording start.
    pub recording_start_time: Option<DateTime<Utc>>,
    /// Recording end.
    pub recording_end_time: Option<DateTime<Utc>>,
    /// `only_internal` or `one_or_more_external`.
    pub calendar_invitees_domains_type: String,
    /// `no_teams`, `single_team`, `multiple_teams` or `all_teams`.
    pub shared_with: String,
    /// `en`, sometimes `unknown`.
    pub transcript_language: String,
    /// Calendar invitees, recorder first.
    pub calendar_invitees: Vec<Invitee>,
    /// The recording user.
    pub recorded_by: FathomUser,
    /// Only with `include_transcript`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<Vec<TranscriptItem>>,
    /// Only with `include_summary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_summary: Option<MeetingSummary>,
    /// Only with `include_action_items`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_items: Option<Vec<ActionItem>>,
    /// Only with `include_highlights`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub highlights: Option<Vec<Highlight>>,
    /// Only with `include_crm_matches`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crm_matches: Option<CrmMatches>,
}

/// A calendar invitee.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invitee {
    /// Display name, null for some resources.
    pub name: Option<String>,
    /// The speaker label matched to this invitee; only filled with `include_transcript`.
    pub matched_speaker_display_name: Option<String>,
    /// Email as on the calendar (case preserved).
    pub email: Option<String>,
    /// Lower-case domain of `email`.
    pub email_domain: Option<String>,
    /// Whether the domain differs from the recorder's company domain.
    pub is_external: bool,
}

/// The user who recorded a meeting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FathomUser {
    /// Full name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Company domain.
    pub email_domain: String,
    /// Team name, if any.
    pub team: Option<String>,
}

/// One line of a transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptItem {
    /// Who spoke.
    pub speaker: Speaker,
    /// What was said.
    pub text: String,
    /// `HH:MM:SS` from the start of the recording.
    pub timestamp: String,
}

/// A transcript speaker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Speaker {
    /// The label Fathom shows (need not equal an invitee name).
    pub display_name: String,
    /// Lower-case email of the matched invitee, if matched.
    pub matched_calendar_invitee_email: Option<String>,
}

/// The default-template summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeetingSummary {
    /// Template name, `general`.
    pub template_name: Option<String>,
    /// Markdown.
    pub markdown_formatted: Option<String>,
}

/// An action item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionItem {
    /// What to do.
    pub description: String,
    /// Added by a person rather than the AI.
    pub user_generated: bool,
    /// Ticked off.
    pub completed: bool,
    /// `HH:MM:SS` from the recording start.
    pub recording_timestamp: String,
    /// `https://fathom.video/calls/<n>?timestamp=<s>`.
    pub recording_playback_url: String,
    /// Who should do it; every field may be null.
    pub assignee: Assignee,
}

/// An action item's assignee.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignee {
    /// Name.
    pub name: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Team.
    pub team: Option<String>,
}

/// A highlight (clip) of a recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Highlight {
    /// Label, e.g. `Objection`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary (nullable, always present).
    pub summary: Option<String>,
    /// The quoted text; only present when it differs from `summary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Seconds from the recording start.
    pub start_time: f64,
    /// Seconds from the recording start.
    pub end_time: f64,
}

/// CRM records Fathom matched to the meeting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrmMatches {
    /// Matched contacts (absent without a CRM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Vec<CrmContact>>,
    /// Matched companies (absent without a CRM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub companies: Option<Vec<CrmCompany>>,
    /// Matched deals (absent without a CRM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deals: Option<Vec<CrmDeal>>,
    /// `No CRM connected` when no CRM is linked, else null.
    pub error: Option<String>,
}

/// A CRM contact match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrmContact {
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Link to the CRM record.
    pub record_url: String,
}

/// A CRM company match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrmCompany {
    /// Name.
    pub name: String,
    /// Link to the CRM record.
    pub record_url: String,
}

/// A CRM deal match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrmDeal {
    /// Name.
    pub name: String,
    /// Amount in dollars.
    pub amount: f64,
    /// Link to the CRM record.
    pub record_url: String,
}

/// Which content blocks to keep when rendering a meeting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Include {
    /// `transcript` (and `matched_speaker_display_name`).
    pub transcript: bool,
    /// `default_summary`.
    pub summary: bool,
    /// `action_items`.
    pub action_items: bool,
    /// `crm_matches`.
    pub crm_matches: bool,
    /// `highlights` (not available to webhooks).
    pub highlights: bool,
}

/// Meetings before this date never carry `matched_speaker_display_name` (per Fathom's docs).
const SPEAKER_MATCHING_SINCE: i64 = 1_738_368_000; // 2025-02-01T00:00:00Z

impl Meeting {
    /// A copy with only the requested content blocks, as Fathom would answer.
    pub fn render(&self, include: Include) -> Meeting {
        let mut m = self.clone();
        if !include.transcript {
            m.transcript = None;
        }
        if !include.transcript || m.created_at.timestamp() < SPEAKER_MATCHING_SINCE {
            for invitee in &mut m.calendar_invitees {
                invitee.matched_speaker_display_name = None;
            }
        }
        if !include.summary {
            m.default_summary = None;
        }
        if !include.action_items {
            m.action_items = None;
        }
        if !include.crm_matches {
            m.crm_matches = None;
        }
        if !include.highlights {
            m.highlights = None;
        }
        m
    }

    /// The number at the end of `url` (Fathom's call number, not the API id).
    pub fn call_number(&self) -> Option<i64> {
        self.url.rsplit('/').next().and_then(|n| n.parse().ok())
    }
}

/// `{ "limit": 10, "next_cursor": ..., "items": [...] }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page<T> {
    /// Page size.
    pub limit: Option<u32>,
    /// Opaque cursor of the next page, null on the last one.
    pub next_cursor: Option<String>,
    /// The items.
    pub items: Vec<T>,
}

/// A registered webhook, as returned by `POST /webhooks` (and listed by the control API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    /// Random id.
    pub id: String,
    /// The destination URL.
    pub url: String,
    /// `whsec_` + base64 of 24 random bytes.
    pub secret: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Include the transcript.
    pub include_transcript: bool,
    /// Include CRM matches.
    pub include_crm_matches: bool,
    /// Include the summary.
    pub include_summary: bool,
    /// Include action items.
    pub include_action_items: bool,
    /// Scopes that trigger a delivery.
    pub triggered_for: Vec<String>,
}

impl Webhook {
    /// The content blocks this webhook's deliveries carry.
    pub fn include(&self) -> Include {
        Include {
            transcript: self.include_transcript,
            summary: self.include_summary,
            action_items: self.include_action_items,
            crm_matches: self.include_crm_matches,
            highlights: false,
        }
    }
}
