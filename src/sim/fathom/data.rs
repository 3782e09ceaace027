//! Deterministic meeting generation: the same API key (and `now`) always yields the same meetings.

use chrono::{DateTime, Duration, Timelike, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::SimUser;
use super::content::{self, Ctx};
use super::corpus::{self, COMPANIES, Company};
use super::generators::{Person, chance, domain_of, pick};
use super::model::{FathomUser, Invitee, Meeting, MeetingSummary};

/// Overrides for a meeting recorded through the control API; anything left out is generated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingSpec {
    /// Fathom title.
    #[serde(default)]
    pub title: Option<String>,
    /// Calendar title.
    #[serde(default)]
    pub meeting_title: Option<String>,
    /// Meeting-type name.
    #[serde(default)]
    pub meeting_type: Option<String>,
    /// Calendar invitees; the recorder is added first when missing.
    #[serde(default)]
    pub invitees: Option<Vec<InviteeSpec>>,
    /// Finalisation time (default: the simulator's clock).
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// `no_teams` (private, the default), `single_team`, `multiple_teams`, `all_teams`.
    #[serde(default)]
    pub shared_with: Option<String>,
    /// e.g. `en` or `unknown`.
    #[serde(default)]
    pub transcript_language: Option<String>,
    /// Replaces the generated summary Markdown.
    #[serde(default)]
    pub summary_markdown: Option<String>,
    /// Scheduled length in minutes.
    #[serde(default)]
    pub duration_minutes: Option<u32>,
}

/// A calendar invitee for [`MeetingSpec`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteeSpec {
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Email (case is kept; the domain is lower-cased).
    #[serde(default)]
    pub email: Option<String>,
}

/// A seeded RNG from text parts, so generation is reproducible per key.
pub(crate) fn rng_for(parts: &[&str]) -> StdRng {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    let digest = h.finalize();
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&digest);
    StdRng::from_seed(seed)
}

/// Random `[A-Za-z0-9]` text.
pub(crate) fn random_alnum(rng: &mut impl Rng, len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| char::from(CHARS[rng.gen_range(0..CHARS.len())]))
        .collect()
}

/// Drops sub-second precision, so timestamps serialise like Fathom's (`...:05Z`).
pub(crate) fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(0).unwrap_or(t)
}

/// The recorder's company name, from its domain (`acme.com` → `Acme`).
fn company_from_domain(domain: &str) -> String {
    if let Some(c) = COMPANIES
        .iter()
        .find(|c| c.domain.eq_ignore_ascii_case(domain))
    {
        return c.name.to_string();
    }
    let label = domain.split('.').next().unwrap_or(domain);
    let mut chars = label.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => domain.to_string(),
    }
}

pub(crate) fn email_for(first: &str, last: &str, domain: &str) -> String {
    let clean = |s: &str| {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_lowercase()
    };
    format!("{}.{}@{}", clean(first), clean(last), domain)
}

/// All generated meetings of one user, in generation order.
pub(crate) fn user_meetings(user: &SimUser, now: DateTime<Utc>, share: bool) -> Vec<Meeting> {
    let mut rng = rng_for(&[&user.api_key, "meetings"]);
    let span_days = user.history_days.unwrap_or_else(|| {
        i64::try_from(user.meeting_count / 4)
            .unwrap_or(120)
            .clamp(7, 120)
    });
    (0..user.meeting_count)
        .map(|_| {
            let days_ago = rng.gen_range(0..span_days);
            let secs_into_day = rng.gen_range(13 * 3600..22 * 3600);
            let day_start = now - Duration::days(days_ago);
            let day_start =
                day_start - Duration::seconds(i64::from(day_start.num_seconds_from_midnight()));
            let mut created = day_start + Duration::seconds(secs_into_day);
            if created > now {
                created -= Duration::days(1);
            }
            let spec = MeetingSpec {
                created_at: Some(created),
                ..MeetingSpec::default()
            };
            generate(&mut rng, user, &spec, share)
        })
        .collect()
}

/// One meeting for `user`; `spec.created_at` must be set by the caller.
pub(crate) fn generate(
    rng: &mut StdRng,
    user: &SimUser,
    spec: &MeetingSpec,
    share: bool,
) -> Meeting {
    let user_domain = user.domain.to_lowercase();
    let us = company_from_domain(&user_domain);
    let created_at = whole_seconds(spec.created_at.unwrap_or_else(Utc::now));
    let recorder_first = user
        .name
        .split_whitespace()
        .next()
        .unwrap_or(&user.name)
        .to_string();
    let recorder = Person {
        name: Some(user.name.clone()),
        email: Some(user.email.clone()),
        first: recorder_first,
        team: user.team.clone(),
        external: false,
    };

    let roll: f64 = rng.r#gen();
    let adhoc = spec.invitees.is_none() && roll < 0.05;
    let internal = spec.invitees.is_none() && !adhoc && roll < 0.23;
    let mut main_company: Option<&Company> = None;

    let mut people: Vec<Person> = vec![recorder];
    if let Some(given) = &spec.invitees {
        for inv in given {
            let is_recorder = inv
                .email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(&user.email));
            if is_recorder {
                continue;
            }
            let domain = inv.email.as_deref().and_then(domain_of);
            let external = domain.as_deref().is_some_and(|d| d != user_domain);
            if external && main_company.is_none() {
                main_company = COMPANIES
                    .iter()
                    .find(|c| Some(c.domain) == domain.as_deref());
            }
            let label = inv
                .name
                .clone()
                .or_else(|| {
                    inv.email
                        .as_deref()
                        .and_then(|e| e.split('@').next())
                        .map(str::to_string)
                })
                .unwrap_or_else(|| "Guest".to_string());
            people.push(Person {
                first: label
                    .split_whitespace()
                    .next()
                    .unwrap_or(&label)
                    .to_string(),
                name: inv.name.clone(),
                email: inv.email.clone(),
                team: if external { None } else { user.team.clone() },
                external,
            });
        }
    } else if !adhoc {
        let colleagues = if internal {
            rng.gen_range(2..5)
        } else {
            rng.gen_range(0..3)
        };
        for _ in 0..colleagues {
            let first = *pick(rng, corpus::FIRST_NAMES);
            let last = *pick(rng, corpus::LAST_NAMES);
            let name = format!("{first} {last}");
            if name == user.name || people.iter().any(|p| p.name.as_deref() == Some(&name)) {
                continue;
            }
            people.push(Person {
                email: Some(email_for(first, last, &user_domain)),
                name: Some(name),
                first: first.to_string(),
                team: Some(pick(rng, corpus::TEAMS).to_string()),
                external: false,
            });
        }
        if !internal {
            let company = pick(rng, COMPANIES);
            main_company = Some(company);
            let mut companies = vec![(company, rng.gen_range(1..4usize))];
            if chance(rng, 0.25) {
                companies.push((pick(rng, COMPANIES), 1));
            }
            for (c, n) in companies {
                for _ in 0..n {
                    let (first, last) = *pick(rng, c.people);
                    let name = format!("{first} {last}");
                    if people.iter().any(|p| p.name.as_deref() == Some(&name)) {
                        continue;
                    }
                    let mut email = email_for(first, last, c.domain);
                    if chance(rng, 0.05) {
                        email = format!("{first}.{last}@{}", c.domain.to_uppercase());
                    }
                    people.push(Person {
                        name: Some(name),
                        email: Some(email),
                        first: first.to_string(),
                        team: None,
                        external: true,
                    });
                }
            }
            if chance(rng, 0.2) {
                let first = *pick(rng, corpus::FIRST_NAMES);
                let last = *pick(rng, corpus::LAST_NAMES);
                let domain = *pick(rng, corpus::FREE_MAIL);
                let local = email_for(first, last, domain);
                let email = local.replacen('@', &format!("{}@", rng.gen_range(10..99)), 1);
                people.push(Person {
                    name: Some(format!("{first} {last}")),
                    email: Some(email),
                    first: first.to_string(),
                    team: None,
                    external: true,
                });
            }
        }
        if chance(rng, 0.04) {
            people.push(Person {
                name: Some(format!("Boardroom {}", rng.gen_range(1..9))),
                email: None,
                first: String::new(),
                team: None,
                external: false,
            });
        }
    }

    let any_external = people.iter().any(|p| p.external);
    let customer = match main_company {
        Some(c) => c.name.to_string(),
        None => people
            .iter()
            .find(|p| p.external)
            .and_then(|p| p.email.as_deref().and_then(domain_of))
            .map(|d| company_from_domain(&d))
            .unwrap_or_else(|| pick(rng, COMPANIES).name.to_string()),
    };

    let (type_name, title_pattern) = if any_external {
        *pick(rng, corpus::EXTERNAL_TYPES)
    } else {
        *pick(rng, corpus::INTERNAL_TYPES)
    };
    let duration_min = i64::from(spec.duration_minutes.unwrap_or_else(|| {
        if adhoc {
            *pick(rng, &[10u32, 15, 20, 30])
        } else {
            *pick(rng, &[15u32, 30, 30, 30, 45, 60, 60])
        }
    }))
    .max(1);
    let length = (duration_min * 60 - rng.gen_range(0..180)).max(60);
    let recording_end = created_at - Duration::seconds(rng.gen_range(20..150));
    let recording_start = recording_end - Duration::seconds(length);
    let sched_base = recording_start - Duration::seconds(rng.gen_range(0..240));
    let sched_secs = sched_base.timestamp() - sched_base.timestamp().rem_euclid(300);
    let scheduled_start = DateTime::from_timestamp(sched_secs, 0);
    let scheduled_end = scheduled_start.map(|s| s + Duration::minutes(duration_min));

    let ctx = Ctx {
        customer: customer.clone(),
        us: us.clone(),
        firsts: people
            .iter()
            .skip(1)
            .filter(|p| p.email.is_some())
            .map(|p| p.first.clone())
            .collect(),
    };
    let recording_id = rng.gen_range(100_000_000i64..200_000_000);
    let call_number = rng.gen_range(600_000_000i64..700_000_000);
    let url = format!("https://fathom.video/calls/{call_number}");
    let meeting_url = if adhoc {
        None
    } else {
        Some(match rng.gen_range(0..3) {
            0 => format!(
                "https://us02web.zoom.us/j/{}",
                rng.gen_range(80_000_000_000u64..90_000_000_000)
            ),
            1 => format!(
                "https://meet.google.com/{}-{}-{}",
                random_lower(rng, 3),
                random_lower(rng, 4),
                random_lower(rng, 3)
            ),
            _ => format!(
                "https://teams.microsoft.com/l/meetup-join/19%3ameeting_{}%40thread.v2/0",
                random_alnum(rng, 24)
            ),
        })
    };

    let (transcript, matched_names) =
        content::transcript(rng, &people, &ctx, length, adhoc, any_external);

    let invitees: Vec<Invitee> = people
        .iter()
        .zip(&matched_names)
        .map(|(p, matched)| Invitee {
            name: p.name.clone(),
            matched_speaker_display_name: matched.clone(),
            email: p.email.clone(),
            email_domain: p.email.as_deref().and_then(domain_of),
            is_external: p.external,
        })
        .collect();

    let action_items = content::action_items(rng, &people, user, &ctx, &transcript, &url);
    let highlights = content::highlights(rng, &ctx, &transcript);
    let markdown = spec
        .summary_markdown
        .clone()
        .unwrap_or_else(|| content::summary(rng, &ctx, type_name, any_external, &action_items));
    let crm_matches = content::crm_matches(rng, user, &people, main_company, recording_id);
    let shared_with = spec.shared_with.clone().unwrap_or_else(|| {
        if share && chance(rng, 0.35) {
            pick(
                rng,
                &["single_team", "single_team", "multiple_teams", "all_teams"],
            )
            .to_string()
        } else {
            "no_teams".to_string()
        }
    });
    let transcript_language = spec
        .transcript_language
        .clone()
        .unwrap_or_else(|| if chance(rng, 0.03) { "unknown" } else { "en" }.to_string());
    let title = spec.title.clone().unwrap_or_else(|| {
        if adhoc {
            format!("Impromptu call with {}", user.name)
        } else {
            title_pattern
                .replace("{customer}", &customer)
                .replace("{us}", &us)
        }
    });
    let meeting_title = if spec.meeting_title.is_some() {
        spec.meeting_title.clone()
    } else if adhoc {
        None
    } else if any_external {
        Some(format!("{customer} × {us} — {type_name}"))
    } else {
        Some(title.clone())
    };

    Meeting {
        title,
        meeting_title,
        meeting_type: spec
            .meeting_type
            .clone()
            .or_else(|| (!adhoc).then(|| type_name.to_string())),
        recording_id,
        url,
        meeting_url,
        share_url: format!("https://fathom.video/share/{}", random_alnum(rng, 32)),
        created_at,
        // Whether Fathom sends null here for ad-hoc calls is unknown; the official SDK's schema
        // requires a time, so ad-hoc calls carry their recording times (Debrief's client accepts null).
        scheduled_start_time: if adhoc {
            Some(whole_seconds(recording_start))
        } else {
            scheduled_start
        },
        scheduled_end_time: if adhoc {
            Some(whole_seconds(recording_end))
        } else {
            scheduled_end
        },
        recording_start_time: Some(whole_seconds(recording_start)),
        recording_end_time: Some(whole_seconds(recording_end)),
        calendar_invitees_domains_type: if any_external {
            "one_or_more_external"
        } else {
            "only_internal"
        }
        .to_string(),
        shared_with,
        transcript_language,
        calendar_invitees: invitees,
        recorded_by: FathomUser {
            name: user.name.clone(),
            email: user.email.clone(),
            email_domain: user_domain,
            team: user.team.clone(),
        },
        transcript: Some(transcript),
        default_summary: Some(MeetingSummary {
            template_name: Some("general".to_string()),
            markdown_formatted: Some(markdown),
        }),
        action_items: Some(action_items),
        highlights: Some(highlights),
        crm_matches: Some(crm_matches),
    }
}

fn random_lower(rng: &mut impl Rng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(rng.gen_range(b'a'..=b'z')))
        .collect()
}
