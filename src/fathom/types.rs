//! Fathom's wire types, written to survive schema drift: every field is optional or defaulted,
//! enums are open (unknown values are kept as text), unknown fields are ignored, and a `null`
//! where a list was expected reads as an empty list. The same `Meeting` is a `GET /meetings` item
//! and a whole webhook body.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// One page of any Fathom list: `{ "limit", "next_cursor", "items" }`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct Page<T> {
    /// Page size Fathom reports (informational; `/meetings` always uses 10).
    #[serde(default)]
    pub limit: Option<i64>,
    /// Pass back as `cursor` for the next page; `None` on the last page.
    #[serde(default)]
    pub next_cursor: Option<String>,
    /// The page's items.
    #[serde(default, deserialize_with = "null_as_default")]
    pub items: Vec<T>,
}

/// A recorded meeting (§4 of the API notes).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Meeting {
    /// Fathom's title.
    pub title: Option<String>,
    /// The calendar event's title.
    pub meeting_title: Option<String>,
    /// Newer payloads: the meeting type's name; older ones: `internal`/`external` or absent.
    pub meeting_type: Option<String>,
    /// The API's id of the recording; Debrief's identity of a meeting within an org.
    #[serde(deserialize_with = "lenient_i64")]
    pub recording_id: Option<i64>,
    /// `https://fathom.video/calls/…` (its number is not the recording id).
    pub url: Option<String>,
    /// The video-call join link, when there was a calendar event.
    pub meeting_url: Option<String>,
    /// `https://fathom.video/share/…`.
    pub share_url: Option<String>,
    #[serde(deserialize_with = "lenient_time")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "lenient_time")]
    pub scheduled_start_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "lenient_time")]
    pub scheduled_end_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "lenient_time")]
    pub recording_start_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "lenient_time")]
    pub recording_end_time: Option<DateTime<Utc>>,
    /// Fathom's own classification; known to be wrong at times, so recompute from the invitees.
    pub calendar_invitees_domains_type: Option<InviteesDomainsType>,
    /// Team visibility (newer payloads only).
    pub shared_with: Option<SharedWith>,
    /// `en`, other languages, or `unknown`.
    pub transcript_language: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub calendar_invitees: Vec<Invitee>,
    /// Who recorded the meeting.
    pub recorded_by: Option<FathomUser>,
    /// Only with `include_transcript`.
    pub transcript: Option<Vec<TranscriptItem>>,
    /// Only with `include_summary`.
    pub default_summary: Option<MeetingSummary>,
    /// Only with `include_action_items`; may be empty.
    pub action_items: Option<Vec<ActionItem>>,
    /// Only with `include_highlights` (newer).
    pub highlights: Option<Vec<Highlight>>,
    /// Only with `include_crm_matches`.
    pub crm_matches: Option<CrmMatches>,
}

/// A calendar invitee.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Invitee {
    pub name: Option<String>,
    pub email: Option<String>,
    pub email_domain: Option<String>,
    /// Outside the recording user's company, per Fathom.
    #[serde(deserialize_with = "null_as_default")]
    pub is_external: bool,
    /// The transcript speaker label matched to this invitee (with `include_transcript` only).
    pub matched_speaker_display_name: Option<String>,
}

/// A Fathom user, as in `recorded_by`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct FathomUser {
    pub name: Option<String>,
    pub email: Option<String>,
    pub email_domain: Option<String>,
    pub team: Option<String>,
}

/// One line of a transcript.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct TranscriptItem {
    pub speaker: Option<Speaker>,
    pub text: Option<String>,
    /// `HH:MM:SS` from the start of the meeting.
    pub timestamp: Option<String>,
}

/// Who spoke a transcript line; the label need not equal an invitee's name.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Speaker {
    pub display_name: Option<String>,
    pub matched_calendar_invitee_email: Option<String>,
}

/// The meeting's summary in the account's default template.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct MeetingSummary {
    /// `general`, `General`, …
    pub template_name: Option<String>,
    /// Third-party Markdown: sanitise when rendering.
    pub markdown_formatted: Option<String>,
}

/// An action item Fathom extracted (or a person added).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ActionItem {
    pub description: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub user_generated: bool,
    #[serde(deserialize_with = "null_as_default")]
    pub completed: bool,
    /// `HH:MM:SS` from the start of the recording.
    pub recording_timestamp: Option<String>,
    pub recording_playback_url: Option<String>,
    pub assignee: Option<Assignee>,
}

/// Whom an action item is for; every part may be null.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Assignee {
    pub name: Option<String>,
    pub email: Option<String>,
    pub team: Option<String>,
}

/// A highlight (newer payloads).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Highlight {
    /// Label such as `Objection`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub summary: Option<String>,
    /// Only when it differs from `summary`.
    pub text: Option<String>,
    /// Seconds from the start of the recording, possibly fractional.
    pub start_time: Option<f64>,
    pub end_time: Option<f64>,
}

/// What Fathom's own CRM link matched; without a CRM only `error` is present.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct CrmMatches {
    #[serde(deserialize_with = "null_as_default")]
    pub contacts: Vec<CrmContact>,
    #[serde(deserialize_with = "null_as_default")]
    pub companies: Vec<CrmCompany>,
    #[serde(deserialize_with = "null_as_default")]
    pub deals: Vec<CrmDeal>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct CrmContact {
    pub name: Option<String>,
    pub email: Option<String>,
    pub record_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct CrmCompany {
    pub name: Option<String>,
    pub record_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct CrmDeal {
    pub name: Option<String>,
    /// Dollars.
    pub amount: Option<f64>,
    pub record_url: Option<String>,
}

/// `calendar_invitees_domains_type` (open enum; also a `/meetings` filter, where `all` is valid).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InviteesDomainsType {
    All,
    OnlyInternal,
    OneOrMoreExternal,
    #[serde(untagged)]
    Other(String),
}

/// `shared_with` (open enum).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SharedWith {
    NoTeams,
    SingleTeam,
    MultipleTeams,
    AllTeams,
    #[serde(untagged)]
    Other(String),
}

/// Which recordings fire a webhook (open enum).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggeredFor {
    /// Own private recordings and those shared with individuals.
    MyRecordings,
    /// Recordings others shared with this user.
    SharedExternalRecordings,
    /// Team plans: own recordings shared with teams.
    MySharedWithTeamRecordings,
    /// Team plans: everything accessible from other users on the plan.
    SharedTeamRecordings,
    #[serde(untagged)]
    Other(String),
}

impl TriggeredFor {
    /// The four documented scopes: a connection registers all of them so the user's own and
    /// shared recordings all arrive.
    pub fn all() -> Vec<TriggeredFor> {
        vec![
            TriggeredFor::MyRecordings,
            TriggeredFor::SharedExternalRecordings,
            TriggeredFor::MySharedWithTeamRecordings,
            TriggeredFor::SharedTeamRecordings,
        ]
    }
}

/// `GET /recordings/{id}/summary` answer.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct SummaryResponse {
    pub summary: Option<MeetingSummary>,
}

/// `GET /recordings/{id}/transcript` answer.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct TranscriptResponse {
    #[serde(deserialize_with = "null_as_default")]
    pub transcript: Vec<TranscriptItem>,
}

/// Body of `POST /webhooks` (a closed schema at Fathom: send nothing else).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CreateWebhook {
    pub destination_url: String,
    pub triggered_for: Vec<TriggeredFor>,
    pub include_transcript: bool,
    pub include_summary: bool,
    pub include_action_items: bool,
    pub include_crm_matches: bool,
}

/// The 201 answer of `POST /webhooks`, as sent (validated into `client::CreatedWebhook`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WebhookWire {
    pub id: Option<String>,
    pub url: Option<String>,
    pub secret: Option<String>,
    #[serde(deserialize_with = "lenient_time")]
    pub created_at: Option<DateTime<Utc>>,
    pub include_transcript: Option<bool>,
    pub include_summary: Option<bool>,
    pub include_action_items: Option<bool>,
    pub include_crm_matches: Option<bool>,
    pub triggered_for: Option<Vec<TriggeredFor>>,
}

/// `null` reads as the type's default (serde's `default` covers only an absent field).
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A timestamp that does not parse reads as missing rather than failing the whole meeting: the raw
/// body is kept, so nothing is lost.
fn lenient_time<'de, D>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error>
where
    D: Deserializer<'de>,
{
    let raw = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(match raw {
        Some(serde_json::Value::String(s)) => DateTime::parse_from_rfc3339(&s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        _ => None,
    })
}

/// Only the recording id of a meeting body: what the webhook receiver reads at intake (the job
/// reads the whole [`Meeting`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeetingHead {
    pub recording_id: Option<i64>,
}

impl MeetingHead {
    /// Reads the body's top-level fields up to `recording_id` and stops there: Fathom sends it
    /// fourth, so a long call's transcript (most of a large body) is not scanned at intake. A body
    /// that is not a JSON object, or whose `recording_id` is unreadable, is an error; one without
    /// `recording_id` reads as `None`. What comes after the id is checked by the job, which parses
    /// the whole meeting (a broken tail then ends as a failed, replayable event).
    pub fn read(body: &[u8]) -> serde_json::Result<MeetingHead> {
        let found = std::cell::Cell::new(None);
        let mut de = serde_json::Deserializer::from_slice(body);
        let read = de.deserialize_map(HeadVisitor(&found));
        if let Some(recording_id) = found.get() {
            return Ok(MeetingHead { recording_id });
        }
        read?;
        de.end()?;
        Ok(MeetingHead { recording_id: None })
    }
}

/// A top-level key of a meeting, as far as [`MeetingHead`] cares.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum HeadKey {
    RecordingId,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct LenientId(#[serde(deserialize_with = "lenient_i64")] Option<i64>);

/// Visits a meeting object until `recording_id`, which it leaves in the cell; it then ends the
/// visit with an error, because serde_json offers no other way to stop before the object's end.
struct HeadVisitor<'a>(&'a std::cell::Cell<Option<Option<i64>>>);

impl<'de> serde::de::Visitor<'de> for HeadVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a Fathom meeting object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<HeadKey>()? {
            match key {
                HeadKey::RecordingId => {
                    let LenientId(id) = map.next_value()?;
                    self.0.set(Some(id));
                    return Err(serde::de::Error::custom("recording_id read"));
                }
                HeadKey::Other => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// An id sent as a number or as a numeric string.
fn lenient_i64<'de, D>(deserializer: D) -> Result<Option<i64>, D::Error>
where
    D: Deserializer<'de>,
{
    let raw = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(match raw {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/fathom")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn full_meeting_fixture_reads_every_block() {
        let m: Meeting = serde_json::from_str(&fixture("meeting_full.json")).unwrap();
        assert!(m.recording_id.is_some());
        assert!(m.created_at.is_some());
        assert!(m.calendar_invitees.len() >= 5);
        assert!(
            m.calendar_invitees
                .iter()
                .any(|i| i.email.as_deref() == Some("Priya.Patel@Northwind.com"))
        );
        assert!(m.calendar_invitees.iter().any(|i| i.email.is_none()));
        let transcript = m.transcript.unwrap();
        assert!(transcript.iter().any(|t| {
            t.speaker.as_ref().and_then(|s| s.display_name.as_deref()) == Some("John S.")
        }));
        let summary = m.default_summary.unwrap().markdown_formatted.unwrap();
        assert!(summary.contains("<script>"));
        let items = m.action_items.unwrap();
        assert!(items.iter().any(|a| {
            a.assignee
                .as_ref()
                .is_some_and(|x| x.name.is_none() && x.email.is_none() && x.team.is_none())
        }));
        let highlights = m.highlights.unwrap();
        assert!(highlights.iter().any(|h| h.text.is_none()));
        assert!(
            highlights
                .iter()
                .any(|h| h.end_time.is_some_and(|t| t.fract() != 0.0))
        );
        let crm = m.crm_matches.unwrap();
        assert!(crm.deals.iter().any(|d| d.amount.is_some()));
        assert!(matches!(
            m.shared_with,
            Some(
                SharedWith::SingleTeam
                    | SharedWith::NoTeams
                    | SharedWith::MultipleTeams
                    | SharedWith::AllTeams
            )
        ));
    }

    #[test]
    fn legacy_meeting_fixture_reads_without_inventing_missing_fields() {
        let m: Meeting = serde_json::from_str(&fixture("meeting_legacy.json")).unwrap();
        assert_eq!(m.recording_id, Some(94413062));
        assert_eq!(m.meeting_type, None);
        assert_eq!(m.shared_with, None);
        assert_eq!(m.meeting_url, None);
        assert_eq!(m.highlights, None);
        assert_eq!(m.transcript_language.as_deref(), Some("unknown"));
        assert_eq!(m.action_items, Some(vec![]));
        let crm = m.crm_matches.unwrap();
        assert!(
            crm.error
                .unwrap()
                .to_lowercase()
                .contains("no crm connected")
        );
        assert!(crm.contacts.is_empty());
    }

    #[test]
    fn list_pages_read_with_absent_and_null_content_blocks() {
        let p1: Page<Meeting> = serde_json::from_str(&fixture("meetings_page_1.json")).unwrap();
        assert_eq!(p1.items.len(), 10);
        assert!(p1.next_cursor.is_some());
        let p2: Page<Meeting> = serde_json::from_str(&fixture("meetings_page_2.json")).unwrap();
        assert_eq!(p2.items.len(), 3);
        assert_eq!(p2.next_cursor, None);
        for m in p1.items.iter().chain(&p2.items) {
            assert!(m.recording_id.is_some());
            assert_eq!(m.transcript, None);
            assert_eq!(m.default_summary, None);
        }
        let shared: Vec<_> = p1
            .items
            .iter()
            .chain(&p2.items)
            .filter_map(|m| m.shared_with.clone())
            .collect();
        for v in [
            SharedWith::NoTeams,
            SharedWith::SingleTeam,
            SharedWith::MultipleTeams,
            SharedWith::AllTeams,
        ] {
            assert!(shared.contains(&v), "missing {v:?}");
        }
    }

    #[test]
    fn drifted_values_are_kept_not_rejected() {
        let m: Meeting = serde_json::from_value(serde_json::json!({
            "recording_id": "123",
            "shared_with": "some_new_value",
            "calendar_invitees_domains_type": "mixed",
            "calendar_invitees": null,
            "created_at": "not a time",
            "action_items": [{"description": "x", "completed": null, "assignee": null}],
            "brand_new_field": {"a": 1}
        }))
        .unwrap();
        assert_eq!(m.recording_id, Some(123));
        assert_eq!(
            m.shared_with,
            Some(SharedWith::Other("some_new_value".into()))
        );
        assert_eq!(
            m.calendar_invitees_domains_type,
            Some(InviteesDomainsType::Other("mixed".into()))
        );
        assert!(m.calendar_invitees.is_empty());
        assert_eq!(m.created_at, None);
        assert!(!m.action_items.unwrap()[0].completed);
    }

    #[test]
    fn webhook_create_body_has_only_the_documented_fields() {
        let body = CreateWebhook {
            destination_url: "https://x.test/h".into(),
            triggered_for: TriggeredFor::all(),
            include_transcript: true,
            include_summary: true,
            include_action_items: true,
            include_crm_matches: false,
        };
        let v = serde_json::to_value(&body).unwrap();
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "destination_url",
                "include_action_items",
                "include_crm_matches",
                "include_summary",
                "include_transcript",
                "triggered_for"
            ]
        );
        assert_eq!(
            v["triggered_for"],
            serde_json::json!([
                "my_recordings",
                "shared_external_recordings",
                "my_shared_with_team_recordings",
                "shared_team_recordings"
            ])
        );
    }

    #[test]
    fn webhook_create_response_fixture_reads() {
        let w: WebhookWire =
            serde_json::from_str(&fixture("webhook_create_response.json")).unwrap();
        assert!(w.id.is_some());
        assert!(w.secret.unwrap().starts_with("whsec_"));
        assert_eq!(w.triggered_for.unwrap().len(), 4);
    }
}
