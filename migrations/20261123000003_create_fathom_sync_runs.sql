-- Syncs of a Fathom connection's meetings (initial, hourly, manual): one row per run, and when each
-- live connection is next due.

-- The connection's hourly sync slot: always the same minute of the hour for one connection, so
-- connections are spread over the hour instead of all syncing at :00.
alter table fathom_connections add column next_sync_at timestamptz;
-- Connections made before syncs existed get a random slot within the next hour.
update fathom_connections set next_sync_at = now() + random() * interval '1 hour'
where state = 'active';
create index fathom_connections_sync_due on fathom_connections (next_sync_at) where state = 'active';

create table fathom_sync_runs (
    id uuid primary key,
    org_id uuid not null references orgs on delete cascade,
    connection_id uuid not null,
    source text not null check (source in ('initial', 'hourly', 'manual')),
    -- queued → running → succeeded | failed | cancelled (the connection went away mid-run).
    state text not null default 'queued'
        check (state in ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    requested_by uuid references users on delete set null,
    -- The run asks Fathom for meetings created after this (fixed when the run is queued, so a
    -- resumed run continues the very same listing).
    created_after timestamptz not null,
    queued_at timestamptz not null default now(),
    started_at timestamptz,
    finished_at timestamptz,
    -- The cursor of the next page to fetch; stored with every finished page so a crashed run
    -- resumes there.
    cursor text,
    pages integer not null default 0,
    meetings_added integer not null default 0,
    meetings_updated integer not null default 0,
    meetings_unchanged integer not null default 0,
    -- Listed meetings that could not be stored (no recording id).
    meetings_skipped integer not null default 0,
    api_calls integer not null default 0,
    -- 429 answers received.
    rate_limited integer not null default 0,
    -- While the run waits (Fathom's rate limit, or a retry after a server error): until when, why.
    waiting_until timestamptz,
    waiting_reason text,
    -- Times a worker took the run up (a crash and resume counts twice).
    claims integer not null default 0,
    -- The worker holding the run: its token and how long its hold lasts without a heartbeat. A
    -- run whose hold expired is resumed by another worker.
    lease_token uuid,
    lease_expires_at timestamptz not null default now(),
    error text,
    foreign key (org_id, connection_id) references fathom_connections (org_id, id) on delete cascade,
    constraint fathom_sync_runs_finished check (
        (state in ('queued', 'running')) = (finished_at is null)
    )
);
-- At most one queued or running sync per connection, whoever asks and however often.
create unique index fathom_sync_runs_one_open_per_connection
    on fathom_sync_runs (connection_id) where state in ('queued', 'running');
create index fathom_sync_runs_connection_idx
    on fathom_sync_runs (org_id, connection_id, queued_at desc);
create index fathom_sync_runs_open_lease_idx
    on fathom_sync_runs (lease_expires_at) where state in ('queued', 'running');
