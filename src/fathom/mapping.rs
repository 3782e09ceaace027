//! From Fathom's wire `Meeting` to Debrief's `MeetingRecord`: normalises emails and domains, and
//! keeps "not sent" (`None`) apart from "sent empty".

use crate::domain::meeting::{
    ActionItem, Attendee, Highlight, MeetingRecord, Summary, TranscriptLine, domain_of,
    parse_timestamp,
};

use super::types::{Meeting, SharedWith};

/// Why a payload cannot become a meeting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// Without `recording_id` a meeting cannot be identified.
    #[error("the meeting has no recording_id")]
    NoRecordingId,
}

/// Maps a meeting, or says why it cannot.
pub fn meeting_record(m: &Meeting) -> Result<MeetingRecord, MappingError> {
    let recording_id = m.recording_id.ok_or(MappingError::NoRecordingId)?;
    let title = [&m.title, &m.meeting_title]
        .into_iter()
        .flatten()
        .map(|t| t.trim())
        .find(|t| !t.is_empty())
        .unwrap_or("Untitled meeting")
        .to_owned();
    let recorded_by = m.recorded_by.clone().unwrap_or_default();
    Ok(MeetingRecord {
        recording_id,
        title,
        meeting_title: m.meeting_title.clone(),
        meeting_type: m.meeting_type.clone(),
        fathom_url: m.url.clone(),
        share_url: m.share_url.clone(),
        meeting_url: m.meeting_url.clone(),
        fathom_created_at: m.created_at,
        scheduled_start_time: m.scheduled_start_time,
        scheduled_end_time: m.scheduled_end_time,
        recording_start_time: m.recording_start_time,
        recording_end_time: m.recording_end_time,
        recorded_by_name: recorded_by.name,
        recorded_by_email: recorded_by.email.map(|e| e.trim().to_lowercase()),
        recorded_by_team: recorded_by.team,
        transcript_language: m.transcript_language.clone(),
        shared_with: m.shared_with.as_ref().map(|s| match s {
            SharedWith::NoTeams => "no_teams".to_owned(),
            SharedWith::SingleTeam => "single_team".to_owned(),
            SharedWith::MultipleTeams => "multiple_teams".to_owned(),
            SharedWith::AllTeams => "all_teams".to_owned(),
            SharedWith::Other(other) => other.clone(),
        }),
        attendees: m
            .calendar_invitees
            .iter()
            .map(|i| {
                let email = i
                    .email
                    .as_deref()
                    .map(|e| e.trim().to_lowercase())
                    .filter(|e| !e.is_empty());
                let email_domain = i
                    .email_domain
                    .as_deref()
                    .map(|d| d.trim().to_lowercase())
                    .filter(|d| !d.is_empty())
                    .or_else(|| email.as_deref().and_then(domain_of).map(str::to_owned));
                Attendee {
                    name: i.name.clone(),
                    email,
                    email_domain,
                    is_external: i.is_external,
                    matched_speaker_display_name: i.matched_speaker_display_name.clone(),
                }
            })
            .collect(),
        transcript: m.transcript.as_ref().map(|lines| {
            lines
                .iter()
                .map(|l| {
                    let speaker = l.speaker.clone().unwrap_or_default();
                    TranscriptLine {
                        speaker_name: speaker.display_name,
                        speaker_email: speaker
                            .matched_calendar_invitee_email
                            .map(|e| e.trim().to_lowercase()),
                        timestamp_seconds: l.timestamp.as_deref().and_then(parse_timestamp),
                        timestamp_text: l.timestamp.clone(),
                        text: l.text.clone().unwrap_or_default(),
                    }
                })
                .collect()
        }),
        summary: m.default_summary.as_ref().map(|s| Summary {
            template_name: s.template_name.clone(),
            markdown: s.markdown_formatted.clone(),
        }),
        action_items: m.action_items.as_ref().map(|items| {
            items
                .iter()
                .map(|a| {
                    let assignee = a.assignee.clone().unwrap_or_default();
                    ActionItem {
                        description: a.description.clone().unwrap_or_default(),
                        user_generated: a.user_generated,
                        completed: a.completed,
                        recording_timestamp: a.recording_timestamp.clone(),
                        playback_url: a.recording_playback_url.clone(),
                        assignee_name: assignee.name,
                        assignee_email: assignee.email.map(|e| e.trim().to_lowercase()),
                        assignee_team: assignee.team,
                    }
                })
                .collect()
        }),
        highlights: m.highlights.as_ref().map(|hs| {
            hs.iter()
                .map(|h| Highlight {
                    kind: h.kind.clone(),
                    summary: h.summary.clone(),
                    text: h.text.clone(),
                    start_seconds: h.start_time,
                    end_seconds: h.end_time,
                })
                .collect()
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Meeting {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/fathom")
            .join(name);
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn the_full_fixture_maps_with_lower_cased_emails_and_every_part() {
        let r = meeting_record(&fixture("meeting_full.json")).unwrap();
        assert!(
            r.attendees
                .iter()
                .any(|a| a.email.as_deref() == Some("priya.patel@northwind.com")
                    && a.email_domain.as_deref() == Some("northwind.com"))
        );
        assert!(r.attendees.iter().any(|a| a.email.is_none()));
        assert!(r.has_external_attendees());
        assert!(
            r.transcript
                .as_ref()
                .unwrap()
                .iter()
                .all(|l| l.timestamp_seconds.is_some())
        );
        assert!(r.summary.unwrap().markdown.unwrap().contains("<script>"));
        assert!(!r.action_items.unwrap().is_empty());
        assert!(!r.highlights.unwrap().is_empty());
    }

    #[test]
    fn the_legacy_fixture_maps_without_inventing_missing_parts() {
        let r = meeting_record(&fixture("meeting_legacy.json")).unwrap();
        assert_eq!(r.recording_id, 94413062);
        assert_eq!(r.meeting_type, None);
        assert_eq!(r.shared_with, None);
        assert_eq!(r.highlights, None);
        assert_eq!(r.action_items, Some(vec![]));
        assert!(
            r.has_external_attendees(),
            "initech.com is outside acme.com"
        );
    }

    #[test]
    fn a_meeting_without_recording_id_is_refused() {
        assert_eq!(
            meeting_record(&Meeting::default()),
            Err(MappingError::NoRecordingId)
        );
    }
}
