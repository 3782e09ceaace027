//! Full-text search over an org's meetings: titles, summaries and transcript lines, through the
//! GIN indexes of `20261202000008_add_meeting_search.sql`. What a person types goes through
//! `websearch_to_tsquery`, so quotes, `-word` and `or` work and no input is an error.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::domain::{CustomerId, MeetingId, OrgId};

/// Marks the start of a highlighted match in a snippet (a private-use character, removed from
/// the text first, so no text can forge one).
pub const MARK_START: char = '\u{E000}';
/// Marks the end of a highlighted match.
pub const MARK_END: char = '\u{E001}';

/// One search result.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Hit {
    pub id: MeetingId,
    pub title: String,
    pub started_at: DateTime<Utc>,
    /// The matching passage, plain text with [`MARK_START`]/[`MARK_END`] around matches.
    pub snippet: Option<String>,
    /// The first transcript line that matches (its position), if any does.
    pub transcript_line: Option<i32>,
    /// The meeting's customers, by name.
    pub customers: Vec<String>,
}

/// The SQL of [`meetings`] (binds: org, query, customer, cursor time, cursor id, headline
/// options, limit); public so the benchmark can explain it.
pub const SEARCH_SQL: &str = "with hits as (
             select m.id, m.started_at from meetings m
              where m.org_id = $1 and m.search_vector @@ websearch_to_tsquery('english', $2)
             union
             select m.id, m.started_at
               from (select distinct l.meeting_id from meeting_transcript_lines l
                      where l.org_id = $1
                        and to_tsvector('english', left(l.text, 10000)) @@ websearch_to_tsquery('english', $2)) t
               join meetings m on m.org_id = $1 and m.id = t.meeting_id),
         page as (
             select h.id, h.started_at from hits h
              where ($3::uuid is null or exists (select 1 from meeting_customers mc
                                                  where mc.org_id = $1 and mc.meeting_id = h.id
                                                    and mc.customer_id = $3))
                and ($4::timestamptz is null or (h.started_at, h.id) < ($4, $5))
              order by h.started_at desc, h.id desc
              limit $7)
         select m.id, m.title, m.started_at,
                coalesce(
                    case when to_tsvector('english', left(coalesce(m.summary_markdown, ''), 200000)) @@ websearch_to_tsquery('english', $2)
                         then ts_headline('english',
                                  translate(left(m.summary_markdown, 200000), U&'\\E000\\E001', ''),
                                  websearch_to_tsquery('english', $2), $6) end,
                    ts_headline('english', translate(left(line.text, 10000), U&'\\E000\\E001', ''),
                                websearch_to_tsquery('english', $2), $6),
                    ts_headline('english', translate(m.title, U&'\\E000\\E001', ''), websearch_to_tsquery('english', $2), $6)
                ) as snippet,
                line.position as transcript_line,
                array(select c.name from meeting_customers mc
                        join customers c on c.org_id = mc.org_id and c.id = mc.customer_id
                       where mc.org_id = m.org_id and mc.meeting_id = m.id
                       order by lower(c.name)) as customers
         from page p
         join meetings m on m.org_id = $1 and m.id = p.id
         left join lateral (
             select l.position, l.text from meeting_transcript_lines l
              where l.org_id = m.org_id and l.meeting_id = m.id
                and to_tsvector('english', left(l.text, 10000)) @@ websearch_to_tsquery('english', $2)
              order by l.position limit 1) line on true
         order by p.started_at desc, p.id desc";

/// Meetings of `org` (optionally only `customer`'s) matching `query`, newest first, before the
/// keyset position `before`.
pub async fn meetings(
    db: &PgPool,
    org: OrgId,
    query: &str,
    customer: Option<CustomerId>,
    before: Option<(DateTime<Utc>, MeetingId)>,
    limit: i64,
) -> sqlx::Result<Vec<Hit>> {
    sqlx::query_as(SEARCH_SQL)
        .bind(org)
        .bind(query)
        .bind(customer)
        .bind(before.map(|(at, _)| at))
        .bind(before.map(|(_, id)| id))
        .bind(headline_options())
        .bind(limit)
        .fetch_all(db)
        .await
}

/// `ts_headline`'s options: the markers, and passages of 10–30 words.
pub fn headline_options() -> String {
    format!(
        "StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=30, MinWords=10, MaxFragments=2, FragmentDelimiter=\" … \""
    )
}

/// Whether `query` has anything to search for (not only stop words or punctuation).
pub async fn has_terms(db: &PgPool, query: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("select numnode(websearch_to_tsquery('english', $1)) > 0")
        .bind(query)
        .fetch_one(db)
        .await
}
