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
    weekly integer[] not null default array_fill(0, array[12]),
    refreshed_at timestamptz not null default now(),
    primary key (org_id, customer_id),
    foreign key (org_id, customer_id) references customers (org_id, id) on delete cascade
);
-- The list's orders (most recent meeting first, never met last; most meetings in 30 days first).
create index customer_rollups_recent_idx
    on customer_rollups (org_id, coalesce(last_meeting_at, '-infinity') desc, customer_id desc);
create index customer_rollups_active_idx on customer_rollups (org_id, meetings_30d desc, customer_id desc);
create index customer_rollups_refreshed_idx on customer_rollups (refreshed_at);

-- Every customer has its row from the start (zeros), however it was created, so lists join and
-- order by the rollup's indexes.
create function customer_rollups_for_new_customer() returns trigger language plpgsql as $$
begin
    insert into customer_rollups (org_id, customer_id) values (new.org_id, new.id)
    on conflict do nothing;
    return new;
end
$$;
create trigger customers_rollup_row after insert on customers
    for each row execute function customer_rollups_for_new_customer();
insert into customer_rollups (org_id, customer_id) select org_id, id from customers
    on conflict do nothing;
