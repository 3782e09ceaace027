-- Per-customer figures for the dashboards, kept by the RefreshCustomerRollups job, so list pages
-- never count over raw meetings.
create table customer_rollups (
    org_id uuid not null,
    customer_id uuid not null,
    meetings_total integer not null default 0,
    meetings_30d integer not null default 0,
    meetings_90d integer not null default 0,
    first_meeting_at timestamptz,
    last_meeting_at timestamptz,
    open_action_items integer not null default 0,
    contacts_met integer not null default 0,
    -- The internal people who attended most, most first (at most three).
    top_internal text[] not null default '{}',
    -- Meetings in each of the last 12 weeks (Monday-based), oldest first.
    weekly integer[] not null default '{}',
    refreshed_at timestamptz not null default now(),
    primary key (org_id, customer_id),
    foreign key (org_id, customer_id) references customers (org_id, id) on delete cascade
);
create index customer_rollups_recent_idx on customer_rollups (org_id, last_meeting_at desc nulls last, customer_id);
create index customer_rollups_active_idx on customer_rollups (org_id, meetings_30d desc, customer_id);
create index customer_rollups_refreshed_idx on customer_rollups (refreshed_at);
