//! The content blocks of a generated meeting: transcript, action items, highlights, summary and
//! CRM matches.

use rand::Rng;

use super::SimUser;
use super::corpus::{self, COMPANIES, Company};
use super::generators::{Person, chance, domain_of, hms, pick};
use super::model::{
    ActionItem, Assignee, CrmCompany, CrmContact, CrmDeal, CrmMatches, Highlight, Speaker,
    TranscriptItem,
};

/// The transcript, and per person the speaker label matched to them (if any).
pub(super) fn transcript(
    rng: &mut impl Rng,
    people: &[Person],
    ctx: &Ctx,
    length: i64,
    adhoc: bool,
    any_external: bool,
) -> (Vec<TranscriptItem>, Vec<Option<String>>) {
    // Speakers: most invitees are matched by name and email; a few show up under a short label.
    let mut speakers: Vec<(Speaker, usize, u32)> = Vec::new(); // (speaker, person index, weight)
    let mut matched_names: Vec<Option<String>> = vec![None; people.len()];
    for (i, p) in people.iter().enumerate() {
        let Some(name) = p.name.clone().or_else(|| p.email.clone()) else {
            continue;
        };
        if p.email.is_none() || (i > 0 && chance(rng, 0.15)) {
            continue; // rooms and no-shows do not speak
        }
        let short = i > 0 && chance(rng, 0.06);
        let speaker = if short {
            let mut parts = name.split_whitespace();
            let label = match (parts.next(), parts.next()) {
                (Some(f), Some(l)) => format!("{f} {}.", l.chars().next().unwrap_or('X')),
                _ => name.clone(),
            };
            Speaker {
                display_name: label,
                matched_calendar_invitee_email: None,
            }
        } else {
            matched_names[i] = Some(name.clone());
            Speaker {
                display_name: name,
                matched_calendar_invitee_email: p.email.as_ref().map(|e| e.to_lowercase()),
            }
        };
        let weight = if i == 0 {
            7
        } else if p.external {
            5
        } else {
            3
        };
        speakers.push((speaker, i, weight));
    }
    // Uninvited voices are never matched: a dial-in, or whoever joined an ad-hoc call.
    if adhoc {
        for _ in 0..rng.gen_range(1..3) {
            let label = format!(
                "{} {}",
                pick(rng, corpus::FIRST_NAMES),
                pick(rng, corpus::LAST_NAMES)
            );
            speakers.push((
                Speaker {
                    display_name: label,
                    matched_calendar_invitee_email: None,
                },
                usize::MAX,
                5,
            ));
        }
    } else if chance(rng, 0.08) {
        speakers.push((
            Speaker {
                display_name: "iPhone (2)".to_string(),
                matched_calendar_invitee_email: None,
            },
            usize::MAX,
            1,
        ));
    }

    let mut transcript = Vec::new();
    let mut t = rng.gen_range(2..9i64);
    let total_weight: u32 = speakers.iter().map(|s| s.2).sum();
    let mut last_speaker = usize::MAX;
    while t < length - 3 && total_weight > 0 {
        let mut roll = rng.gen_range(0..total_weight);
        let mut idx = 0;
        for (i, s) in speakers.iter().enumerate() {
            if roll < s.2 {
                idx = i;
                break;
            }
            roll -= s.2;
        }
        if idx == last_speaker && speakers.len() > 1 && chance(rng, 0.7) {
            idx = (idx + 1) % speakers.len();
        }
        last_speaker = idx;
        let frac = t as f64 / length as f64;
        let pool = if !any_external {
            corpus::INTERNAL
        } else if frac < 0.06 {
            corpus::OPENING
        } else if frac < 0.35 {
            corpus::DISCOVERY
        } else if frac < 0.62 {
            corpus::PRODUCT
        } else if frac < 0.82 {
            corpus::COMMERCIAL
        } else if frac < 0.95 {
            corpus::NEXT_STEPS
        } else {
            corpus::CLOSING
        };
        let mut sentences: Vec<String> = Vec::new();
        for _ in 0..rng.gen_range(1..4) {
            let s = ctx.fill_from(rng, pool);
            if !sentences.contains(&s) {
                sentences.push(s);
            }
        }
        let text = sentences.join(" ");
        transcript.push(TranscriptItem {
            speaker: speakers[idx].0.clone(),
            text,
            timestamp: hms(t),
        });
        t += rng.gen_range(3..12);
    }

    (transcript, matched_names)
}

/// Action items pointing into the transcript; some unassigned.
pub(super) fn action_items(
    rng: &mut impl Rng,
    people: &[Person],
    user: &SimUser,
    ctx: &Ctx,
    transcript: &[TranscriptItem],
    url: &str,
) -> Vec<ActionItem> {
    let mut action_items = Vec::new();
    for _ in 0..rng.gen_range(0..5) {
        let at = if transcript.is_empty() {
            0
        } else {
            secs_of(&transcript[rng.gen_range(0..transcript.len())].timestamp)
        };
        let assignee = match rng.gen_range(0..4) {
            0 => Assignee {
                name: None,
                email: None,
                team: None,
            },
            1 if people.len() > 1 => {
                let p = &people[rng.gen_range(1..people.len())];
                Assignee {
                    name: p.name.clone(),
                    email: p.email.clone(),
                    team: p.team.clone(),
                }
            }
            _ => Assignee {
                name: Some(user.name.clone()),
                email: Some(user.email.clone()),
                team: user.team.clone(),
            },
        };
        let description = ctx.fill_from(rng, corpus::ACTION_ITEMS);
        if action_items
            .iter()
            .any(|a: &ActionItem| a.description == description)
        {
            continue;
        }
        action_items.push(ActionItem {
            description,
            user_generated: chance(rng, 0.2),
            completed: chance(rng, 0.3),
            recording_timestamp: hms(at),
            recording_playback_url: format!("{url}?timestamp={at}"),
            assignee,
        });
    }

    action_items
}

/// Highlights on transcript lines; `text` only when it differs from `summary`.
pub(super) fn highlights(
    rng: &mut impl Rng,
    ctx: &Ctx,
    transcript: &[TranscriptItem],
) -> Vec<Highlight> {
    let mut highlights = Vec::new();
    for _ in 0..rng.gen_range(0..4) {
        if transcript.is_empty() {
            break;
        }
        let line = &transcript[rng.gen_range(0..transcript.len())];
        let start = secs_of(&line.timestamp) as f64 + if chance(rng, 0.3) { 0.5 } else { 0.0 };
        let summary = if chance(rng, 0.25) {
            None
        } else {
            Some(ctx.fill_from(rng, corpus::KEY_POINTS))
        };
        highlights.push(Highlight {
            kind: pick(rng, corpus::HIGHLIGHT_TYPES).to_string(),
            text: (summary.as_deref() != Some(line.text.as_str())).then(|| line.text.clone()),
            summary,
            start_time: start,
            end_time: start + f64::from(rng.gen_range(5..25u32)),
        });
    }

    highlights
}

/// Markdown in Fathom's general template.
pub(super) fn summary(
    rng: &mut impl Rng,
    ctx: &Ctx,
    type_name: &str,
    any_external: bool,
    action_items: &[ActionItem],
) -> String {
    let mut md = String::from("## Summary\n");
    if any_external {
        md.push_str(&format!(
            "{} met with {} for a {}. {}\n\n## Key points\n",
            ctx.us,
            ctx.customer,
            type_name.to_lowercase(),
            ctx.fill_from(rng, corpus::KEY_POINTS)
        ));
    } else {
        md.push_str(&format!(
            "Internal {} at {}.\n\n## Key points\n",
            type_name.to_lowercase(),
            ctx.us
        ));
    }
    let mut points: Vec<String> = Vec::new();
    for _ in 0..rng.gen_range(2..5) {
        let point = ctx.fill_from(rng, corpus::KEY_POINTS);
        if !points.contains(&point) {
            md.push_str(&format!("- {point}\n"));
            points.push(point);
        }
    }
    md.push_str("\n## Next steps\n");
    if action_items.is_empty() {
        md.push_str("- No follow-ups agreed\n");
    }
    for a in action_items {
        md.push_str(&format!("- {}\n", a.description));
    }
    md
}

/// Matches in a linked CRM, or Fathom's "No CRM connected" marker.
pub(super) fn crm_matches(
    rng: &mut impl Rng,
    user: &SimUser,
    people: &[Person],
    main_company: Option<&Company>,
    recording_id: i64,
) -> CrmMatches {
    if user.crm_connected {
        let account = 4_400_000 + (recording_id % 10_000);
        let contacts: Vec<CrmContact> = people
            .iter()
            .filter(|p| p.external)
            .filter_map(|p| {
                let email = p.email.as_ref()?;
                let domain = domain_of(email)?;
                COMPANIES
                    .iter()
                    .any(|c| c.domain == domain)
                    .then(|| CrmContact {
                        name: p.name.clone().unwrap_or_default(),
                        email: email.to_lowercase(),
                        record_url: format!(
                            "https://app.hubspot.com/contacts/{account}/record/0-1/{}",
                            rng.gen_range(1000..99_999)
                        ),
                    })
            })
            .collect();
        let companies: Vec<CrmCompany> = main_company
            .map(|c| CrmCompany {
                name: c.name.to_string(),
                record_url: format!(
                    "https://app.hubspot.com/contacts/{account}/record/0-2/{}",
                    rng.gen_range(1000..99_999)
                ),
            })
            .into_iter()
            .collect();
        let deals: Vec<CrmDeal> = match main_company {
            Some(c) if chance(rng, 0.5) => vec![CrmDeal {
                name: format!("{} expansion", c.name),
                amount: f64::from(rng.gen_range(50..2000u32)) * 100.0
                    + if chance(rng, 0.2) { 0.5 } else { 0.0 },
                record_url: format!(
                    "https://app.hubspot.com/contacts/{account}/record/0-3/{}",
                    rng.gen_range(1000..99_999)
                ),
            }],
            _ => Vec::new(),
        };
        CrmMatches {
            contacts: Some(contacts),
            companies: Some(companies),
            deals: Some(deals),
            error: None,
        }
    } else {
        CrmMatches {
            contacts: None,
            companies: None,
            deals: None,
            error: Some("No CRM connected".to_string()),
        }
    }
}

fn secs_of(ts: &str) -> i64 {
    ts.split(':')
        .fold(0, |acc, part| acc * 60 + part.parse::<i64>().unwrap_or(0))
}

pub(super) struct Ctx {
    pub customer: String,
    pub us: String,
    pub firsts: Vec<String>,
}

impl Ctx {
    pub fn fill_from(&self, rng: &mut impl Rng, pool: &[&str]) -> String {
        let template = *pick(rng, pool);
        self.fill(rng, template)
    }

    fn fill(&self, rng: &mut impl Rng, template: &str) -> String {
        let mut out = template
            .replace("{customer}", &self.customer)
            .replace("{us}", &self.us);
        if out.contains("{person}") {
            let person = if self.firsts.is_empty() {
                "everyone".to_string()
            } else {
                self.firsts[rng.gen_range(0..self.firsts.len())].clone()
            };
            out = out.replace("{person}", &person);
        }
        if out.contains("{n}") {
            out = out.replace("{n}", &rng.gen_range(3..40).to_string());
        }
        if out.contains("{day}") {
            out = out.replace("{day}", pick::<&str>(rng, corpus::WEEKDAYS));
        }
        if out.contains("{feature}") {
            out = out.replace("{feature}", pick::<&str>(rng, corpus::FEATURES));
        }
        if out.contains("{competitor}") {
            out = out.replace("{competitor}", pick::<&str>(rng, corpus::COMPETITORS));
        }
        let mut chars = out.chars();
        match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => out,
        }
    }
}
