//! `GET /meetings` query parameters: documented filters, strict values, unknown names ignored.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::model::{Include, Meeting};

/// Parsed `GET /meetings` parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct MeetingsQuery {
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub domains: Vec<String>,
    /// `None` for `all`.
    pub domains_type: Option<String>,
    pub recorded_by: Vec<String>,
    pub teams: Vec<String>,
    pub meeting_type: Option<String>,
    pub include: Include,
    pub cursor: Option<String>,
}

fn parse_bool(name: &str, v: &str) -> Result<bool, String> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("{name} must be true or false, got {v:?}")),
    }
}

fn parse_time(name: &str, v: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("{name} must be an ISO 8601 date-time, got {v:?}"))
}

fn set_once<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("{name} given more than once"));
    }
    *slot = Some(value);
    Ok(())
}

impl MeetingsQuery {
    pub fn parse(raw: Option<&str>) -> Result<MeetingsQuery, String> {
        let mut q = MeetingsQuery::default();
        let mut flags: [Option<bool>; 5] = [None; 5];
        let mut domains_type = None;
        for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let v: Cow<'_, str> = v;
            let name = k.as_ref();
            let array = |list: &mut Vec<String>| {
                if v.is_empty() {
                    return Err(format!("{name} must not be empty"));
                }
                list.push(v.to_string());
                Ok(())
            };
            match name {
                "created_after" => set_once(&mut q.created_after, name, parse_time(name, &v)?)?,
                "created_before" => set_once(&mut q.created_before, name, parse_time(name, &v)?)?,
                "calendar_invitees_domains[]" => array(&mut q.domains)?,
                "recorded_by[]" => array(&mut q.recorded_by)?,
                "teams[]" => array(&mut q.teams)?,
                "calendar_invitees_domains_type" => match v.as_ref() {
                    "all" | "only_internal" | "one_or_more_external" => {
                        set_once(&mut domains_type, name, v.to_string())?
                    }
                    other => {
                        return Err(format!(
                            "calendar_invitees_domains_type must be all, only_internal or one_or_more_external, got {other:?}"
                        ));
                    }
                },
                "meeting_type" => set_once(&mut q.meeting_type, name, v.to_string())?,
                "cursor" => {
                    if v.is_empty() {
                        return Err("cursor must not be empty".to_string());
                    }
                    set_once(&mut q.cursor, name, v.to_string())?
                }
                "include_transcript" => set_once(&mut flags[0], name, parse_bool(name, &v)?)?,
                "include_summary" => set_once(&mut flags[1], name, parse_bool(name, &v)?)?,
                "include_action_items" => set_once(&mut flags[2], name, parse_bool(name, &v)?)?,
                "include_crm_matches" => set_once(&mut flags[3], name, parse_bool(name, &v)?)?,
                "include_highlights" => set_once(&mut flags[4], name, parse_bool(name, &v)?)?,
                _ => {} // Fathom ignores parameters it does not know.
            }
        }
        q.domains_type = domains_type.filter(|t| t != "all");
        q.include = Include {
            transcript: flags[0].unwrap_or(false),
            summary: flags[1].unwrap_or(false),
            action_items: flags[2].unwrap_or(false),
            crm_matches: flags[3].unwrap_or(false),
            highlights: flags[4].unwrap_or(false),
        };
        Ok(q)
    }

    /// The filters (not the content flags or cursor) in canonical form, to bind a cursor to them.
    pub fn fingerprint(&self) -> String {
        let sorted = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v.dedup();
            v
        };
        format!(
            "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            self.created_after,
            self.created_before,
            sorted(&self.domains),
            self.domains_type,
            sorted(&self.recorded_by),
            sorted(&self.teams),
            self.meeting_type
        )
    }

    /// Whether a meeting passes every filter. Date bounds are exclusive (Fathom leaves this open;
    /// the strict reading catches clients that assume inclusive bounds).
    pub fn matches(&self, m: &Meeting) -> bool {
        if self.created_after.is_some_and(|t| m.created_at <= t) {
            return false;
        }
        if self.created_before.is_some_and(|t| m.created_at >= t) {
            return false;
        }
        if !self.domains.is_empty()
            && !m.calendar_invitees.iter().any(|i| {
                i.email_domain
                    .as_ref()
                    .is_some_and(|d| self.domains.iter().any(|x| x == d))
            })
        {
            return false;
        }
        if self
            .domains_type
            .as_ref()
            .is_some_and(|t| *t != m.calendar_invitees_domains_type)
        {
            return false;
        }
        if !self.recorded_by.is_empty()
            && !self
                .recorded_by
                .iter()
                .any(|e| e.eq_ignore_ascii_case(&m.recorded_by.email))
        {
            return false;
        }
        if !self.teams.is_empty()
            && !m
                .recorded_by
                .team
                .as_ref()
                .is_some_and(|t| self.teams.contains(t))
        {
            return false;
        }
        if self
            .meeting_type
            .as_ref()
            .is_some_and(|t| m.meeting_type.as_ref() != Some(t))
        {
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_parameters_parse_and_unknown_ones_are_ignored() {
        let q = MeetingsQuery::parse(Some(
            "calendar_invitees_domains%5B%5D=northwind.com&calendar_invitees_domains[]=globex.io\
             &created_after=2025-03-01T17:01:30Z&include_summary=true&limit=50&teams[]=Sales",
        ));
        let q = q.unwrap_or_default();
        assert_eq!(q.domains, vec!["northwind.com", "globex.io"]);
        assert_eq!(q.teams, vec!["Sales"]);
        assert!(q.include.summary && !q.include.transcript);
        assert!(q.created_after.is_some());
    }

    #[test]
    fn bad_values_are_rejected() {
        for bad in [
            "created_after=yesterday",
            "created_before=2025-03-01",
            "include_transcript=1",
            "include_summary=True",
            "calendar_invitees_domains_type=external",
            "cursor=",
            "created_after=2025-03-01T17:01:30Z&created_after=2025-03-02T17:01:30Z",
            "created_after=2025-03-01T17:01:30+00:00",
        ] {
            assert!(MeetingsQuery::parse(Some(bad)).is_err(), "{bad}");
        }
        assert!(MeetingsQuery::parse(Some("created_after=2025-03-01T17:01:30%2B01:00")).is_ok());
    }
}
