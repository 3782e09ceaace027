-- Ingest that one bad meeting cannot stall: meetings a sync listed but could not store are kept as
-- rows of their run (shown on the run page), and webhook events left pending are swept.

create table fathom_sync_run_skips (
    id bigint generated always as identity primary key,
    org_id uuid not null references orgs on delete cascade,
    run_id uuid not null references fathom_sync_runs on delete cascade,
    -- Null when the listed meeting had no recording id at all.
    recording_id bigint,
    reason text not null,
    skipped_at timestamptz not null default now()
);
create index fathom_sync_run_skips_run_idx on fathom_sync_run_skips (org_id, run_id, id);

-- Times the sweep re-queued an event that stayed pending (its job lost, or failing for long), and
-- when it last did; after a few sweeps the event is failed so a person sees it and can replay it.
alter table fathom_events add column sweeps integer not null default 0;
alter table fathom_events add column swept_at timestamptz;
create index fathom_events_pending_idx on fathom_events (received_at) where state = 'pending';
