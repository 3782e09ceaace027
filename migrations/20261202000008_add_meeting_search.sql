-- Full-text search over meetings: titles and summaries in a stored vector on the meeting, each
-- transcript line through an expression index (a long transcript stays within tsvector's limits
-- because each line is indexed on its own). Both are kept current by PostgreSQL on every write.
alter table meetings
    add column search_vector tsvector generated always as (
        setweight(to_tsvector('english', left(title, 2000)), 'A')
        || setweight(to_tsvector('english', left(coalesce(summary_markdown, ''), 200000)), 'B')
    ) stored;
create index meetings_search_idx on meetings using gin (search_vector);
create index meeting_transcript_lines_search_idx
    on meeting_transcript_lines using gin (to_tsvector('english', left(text, 10000)));
