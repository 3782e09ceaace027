//! From Fathom's wire `Meeting` to Debrief's `MeetingRecord`: normalises emails and domains, keeps
//! "not sent" (`None`) apart from "sent empty", and makes every remote string storable (PostgreSQL
//! refuses NUL characters in text, and an index row has a size limit), so one odd meeting cannot
//! stop a sync or a webhook. The raw webhook body stays as received for replay.

use crate::domain::meeting::{
    ActionItem, Attendee, Highlight, MeetingRecord, Summary, TranscriptLine, domain_of,
    parse_timestamp,
};

use super::types::{Meeting, MeetingHead, SharedWith};

/// Why a payload cannot become a meeting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// Without `recording_id` a meeting cannot be identified.
    #[error("the meeting has no recording_id")]
    NoRecordingId,
}

/// Longest email address kept (RFC 5321's path limit); a longer one cannot be a real address and is
/// dropped rather than stored, so the email indexes never meet an oversized row.
pub const MAX_EMAIL_CHARS: usize = 254;
/// Longest domain name kept (RFC 1035).
pub const MAX_DOMAIN_CHARS: usize = 253;

/// Maps a meeting, or says why it cannot.
pub fn meeting_record(m: &Meeting) -> Result<MeetingRecord, MappingError> {
    let mut record = raw_record(m)?;
    make_storable(&mut record);
    Ok(record)
}

/// A webhook delivery's body as both the receiver and the processing job read it: the meeting it
/// carries, or why it carries none.
pub fn parse_delivery(body: &[u8]) -> Result<MeetingRecord, String> {
    serde_json::from_slice::<Meeting>(body)
        .map_err(|e| format!("the body is not a Fathom meeting: {e}"))
        .and_then(|m| meeting_record(&m).map_err(|e| e.to_string()))
}

/// The recording id of a webhook delivery's body, read without building the meeting (the receiver
/// stores the body with it; the job then maps the whole meeting), or why the body has none.
pub fn delivery_recording_id(body: &[u8]) -> Result<i64, String> {
    let head =
        MeetingHead::read(body).map_err(|e| format!("the body is not a Fathom meeting: {e}"))?;
    head.recording_id
        .ok_or_else(|| MappingError::NoRecordingId.to_string())
}

/// Removes what PostgreSQL cannot store in `text` (NUL characters).
fn strip_nul(s: &mut String) {
    if s.contains('\0') {
        s.retain(|c| c != '\0');
    }
}

fn strip_nul_opt(s: &mut Option<String>) {
    if let Some(s) = s {
        strip_nul(s);
    }
}

/// An email or domain as stored: without NULs, and dropped when longer than `max` characters.
fn bounded(s: &mut Option<String>, max: usize) {
    strip_nul_opt(s);
    if s.as_ref()
        .is_some_and(|v| v.chars().count() > max || v.is_empty())
    {
        *s = None;
    }
}

/// Every string of the record made storable.
fn make_storable(r: &mut MeetingRecord) {
    strip_nul(&mut r.title);
    if r.title.trim().is_empty() {
        r.title = "Untitled meeting".to_owned();
    }
    for s in [
        &mut r.meeting_title,
        &mut r.meeting_type,
        &mut r.fathom_url,
        &mut r.share_url,
        &mut r.meeting_url,
        &mut r.recorded_by_name,
        &mut r.recorded_by_team,
        &mut r.transcript_language,
        &mut r.shared_with,
    ] {
        strip_nul_opt(s);
    }
    bounded(&mut r.recorded_by_email, MAX_EMAIL_CHARS);
    for a in &mut r.attendees {
        strip_nul_opt(&mut a.name);
        strip_nul_opt(&mut a.matched_speaker_display_name);
        bounded(&mut a.email, MAX_EMAIL_CHARS);
        bounded(&mut a.email_domain, MAX_DOMAIN_CHARS);
    }
    for l in r.transcript.iter_mut().flatten() {
        strip_nul_opt(&mut l.speaker_name);
        bounded(&mut l.speaker_email, MAX_EMAIL_CHARS);
        strip_nul_opt(&mut l.timestamp_text);
        strip_nul(&mut l.text);
    }
    if let Some(summary) = &mut r.summary {
        strip_nul_opt(&mut summary.template_name);
        strip_nul_opt(&mut summary.markdown);
    }
    for a in r.action_items.iter_mut().flatten() {
        strip_nul(&mut a.description);
        strip_nul_opt(&mut a.recording_timestamp);
        strip_nul_opt(&mut a.playback_url);
        strip_nul_opt(&mut a.assignee_name);
        bounded(&mut a.assignee_email, MAX_EMAIL_CHARS);
        strip_nul_opt(&mut a.assignee_team);
    }
    for h in r.highlights.iter_mut().flatten() {
        strip_nul_opt(&mut h.kind);
        strip_nul_opt(&mut h.summary);
        strip_nul_opt(&mut h.text);
    }
}

fn raw_record(m: &Meeting) -> Result<MeetingRecord, MappingError> {
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
    fn nul_characters_and_oversized_emails_never_reach_the_database() {
        let mut m = fixture("meeting_full.json");
        m.title = Some("Quarterly\0 review".into());
        let long_email = format!("{}@{}.com", "a".repeat(3000), "b".repeat(300));
        m.calendar_invitees[0].name = Some("Pri\0ya".into());
        m.calendar_invitees[0].email = Some(long_email.clone());
        m.calendar_invitees[0].email_domain = None;
        if let Some(lines) = m.transcript.as_mut() {
            lines[0].text = Some("hello\0 there".into());
        }
        if let Some(summary) = m.default_summary.as_mut() {
            summary.markdown_formatted = Some("## Notes\0".into());
        }
        let r = meeting_record(&m).unwrap();
        assert_eq!(r.title, "Quarterly review");
        assert_eq!(r.attendees[0].name.as_deref(), Some("Priya"));
        assert_eq!(
            r.attendees[0].email, None,
            "an impossible address is dropped"
        );
        assert_eq!(r.attendees[0].email_domain, None);
        assert_eq!(r.transcript.unwrap()[0].text, "hello there");
        assert_eq!(r.summary.unwrap().markdown.as_deref(), Some("## Notes"));

        let mut only_nul = fixture("meeting_full.json");
        only_nul.title = Some("\0".into());
        only_nul.meeting_title = None;
        assert_eq!(meeting_record(&only_nul).unwrap().title, "Untitled meeting");
    }

    #[test]
    fn the_receiver_reads_the_recording_id_alone_and_refuses_what_has_none() {
        let body = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/fathom/meeting_full.json"),
        )
        .unwrap();
        let full = parse_delivery(&body).unwrap();
        assert_eq!(delivery_recording_id(&body), Ok(full.recording_id));
        assert_eq!(
            delivery_recording_id(br#"{"recording_id": "123"}"#),
            Ok(123)
        );
        assert!(delivery_recording_id(b"{\"title\": \"half").is_err());
        assert!(delivery_recording_id(br#"{"title": "no id"}"#).is_err());
        assert!(delivery_recording_id(b"[1, 2]").is_err());
        assert!(delivery_recording_id(br#"{"title": "no id"} trailing"#).is_err());
        // An escaped key is the same key; an id after a long transcript is still found.
        assert_eq!(
            delivery_recording_id(br#"{"title": "t", "recording\u005fid": 7}"#),
            Ok(7)
        );
        let late = format!(
            r#"{{"transcript": [{}], "recording_id": 8}}"#,
            vec![r#"{"text": "a \"quoted\" word"}"#; 2_000].join(",")
        );
        assert_eq!(delivery_recording_id(late.as_bytes()), Ok(8));
    }

    #[test]
    fn intake_stops_reading_at_the_recording_id_and_the_job_checks_the_rest() {
        let broken_tail = br#"{"title": "t", "recording_id": 9, "transcript": [{"text": "cut off"#;
        assert_eq!(delivery_recording_id(broken_tail), Ok(9));
        assert!(
            parse_delivery(broken_tail).is_err(),
            "the job's whole parse refuses it, so the event ends failed and replayable"
        );
        assert!(delivery_recording_id(br#"{"recording_id": {"nested": 1}}"#).is_err());
    }

    #[test]
    fn a_meeting_without_recording_id_is_refused() {
        assert_eq!(
            meeting_record(&Meeting::default()),
            Err(MappingError::NoRecordingId)
        );
    }
}
