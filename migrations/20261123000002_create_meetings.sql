-- Meetings from Fathom (one per org and recording, whichever connections saw it), their parts, and
-- the raw webhook events they came from.

create table fathom_events (
    id uuid primary key,
    org_id uuid not null references orgs on delete cascade,
    -- The `webhook-id` header: the same on every retry of one delivery.
    webhook_id text not null,
    -- The connection whose webhook secret verified the signature.
    connection_id uuid,
    received_at timestamptz not null default now(),
    -- The body exactly as received, so a payload that failed to parse can be replayed after a fix.
    body bytea not null,
    recording_id bigint,
    state text not null default 'pending' check (state in ('pending', 'processed', 'failed')),
    error text,
    processed_at timestamptz,
    attempts integer not null default 0,
    constraint fathom_events_org_id_webhook_id_key unique (org_id, webhook_id),
    constraint fathom_events_connection_fkey foreign key (org_id, connection_id)
        references fathom_connections (org_id, id) on delete set null (connection_id)
);
create index fathom_events_org_state_idx on fathom_events (org_id, state, received_at desc);

create table meetings (
    id uuid primary key,
    org_id uuid not null references orgs on delete cascade,
    recording_id bigint not null,
    title text not null,
    meeting_title text,
    meeting_type text,
    fathom_url text,
    share_url text,
    meeting_url text,
    fathom_created_at timestamptz,
    scheduled_start_time timestamptz,
    scheduled_end_time timestamptz,
    recording_start_time timestamptz,
    recording_end_time timestamptz,
    -- When the meeting happened, for ordering: recording start, else scheduled start, else creation.
    started_at timestamptz not null,
    recorded_by_name text,
    recorded_by_email text,
    recorded_by_team text,
    transcript_language text,
    shared_with text,
    -- Recomputed from the invitees (Fathom's own flag is known to be wrong at times).
    has_external_attendees boolean not null,
    summary_template text,
    summary_markdown text,
    -- SHA-256 of each part as last stored: a re-ingest of an unchanged part writes nothing.
    core_hash text not null,
    transcript_hash text,
    summary_hash text,
    action_items_hash text,
    highlights_hash text,
    first_seen_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint meetings_org_id_recording_id_key unique (org_id, recording_id),
    constraint meetings_org_id_id_key unique (org_id, id)
);
create index meetings_org_started_idx on meetings (org_id, started_at desc, id desc);

-- Which connections delivered or listed each meeting (a recording shared to two members is one meeting).
create table meeting_sources (
    org_id uuid not null,
    meeting_id uuid not null,
    connection_id uuid not null,
    via text not null check (via in ('webhook', 'sync')),
    first_seen_at timestamptz not null default now(),
    primary key (org_id, meeting_id, connection_id),
    foreign key (org_id, meeting_id) references meetings (org_id, id) on delete cascade,
    foreign key (org_id, connection_id) references fathom_connections (org_id, id) on delete cascade
);

create table meeting_attendees (
    org_id uuid not null,
    meeting_id uuid not null,
    position integer not null,
    name text,
    email text,
    email_domain text,
    is_external boolean not null,
    matched_speaker_display_name text,
    primary key (org_id, meeting_id, position),
    foreign key (org_id, meeting_id) references meetings (org_id, id) on delete cascade
);
create index meeting_attendees_email_idx on meeting_attendees (org_id, lower(email));
create index meeting_attendees_domain_idx on meeting_attendees (org_id, lower(email_domain));

create table meeting_transcript_lines (
    org_id uuid not null,
    meeting_id uuid not null,
    position integer not null,
    speaker_name text,
    speaker_email text,
    -- `HH:MM:SS` as sent, and in seconds when it parses.
    timestamp_text text,
    timestamp_seconds integer,
    text text not null,
    primary key (org_id, meeting_id, position),
    foreign key (org_id, meeting_id) references meetings (org_id, id) on delete cascade
);

create table meeting_action_items (
    org_id uuid not null,
    meeting_id uuid not null,
    position integer not null,
    description text not null,
    user_generated boolean not null,
    completed boolean not null,
    recording_timestamp text,
    playback_url text,
    assignee_name text,
    assignee_email text,
    assignee_team text,
    primary key (org_id, meeting_id, position),
    foreign key (org_id, meeting_id) references meetings (org_id, id) on delete cascade
);

create table meeting_highlights (
    org_id uuid not null,
    meeting_id uuid not null,
    position integer not null,
    kind text,
    summary text,
    text text,
    start_seconds double precision,
    end_seconds double precision,
    primary key (org_id, meeting_id, position),
    foreign key (org_id, meeting_id) references meetings (org_id, id) on delete cascade
);
