-- When Debrief saw each part of a meeting as it is stored (a webhook: when it arrived; a sync: when
-- the page was asked for). An answer seen earlier than the stored part never replaces it, so a sync
-- page fetched before a webhook delivered newer content cannot overwrite that content.
alter table meetings add column core_observed_at timestamptz;
alter table meetings add column transcript_observed_at timestamptz;
alter table meetings add column summary_observed_at timestamptz;
alter table meetings add column action_items_observed_at timestamptz;
alter table meetings add column highlights_observed_at timestamptz;
