-- CRM connections (a HubSpot portal or a Salesforce org connected by OAuth), the CRM records they
-- supplied or were linked to, their import runs, and what each meeting became in each CRM.

create table crm_connections (
    id uuid primary key,
    org_id uuid not null references orgs on delete cascade,
    provider text not null check (provider in ('hubspot', 'salesforce')),
    state text not null check (state in ('active', 'needs_reconnect', 'disconnected')),
    -- HubSpot portal id (hub_id) or Salesforce org id.
    account_id text not null,
    -- HubSpot hub domain, or the Salesforce instance host: what people recognise.
    account_name text not null,
    -- The CRM user who authorised (HubSpot user id / email, Salesforce user id).
    account_user text,
    -- Salesforce: the REST base the token answer named, and the host the person authorised on.
    instance_url text,
    login_url text,
    -- Encrypted (crypto.rs), bound to org, connection and field.
    access_token_ciphertext text,
    refresh_token_ciphertext text,
    -- When the access token expires (HubSpot says; Salesforce does not, so null).
    access_token_expires_at timestamptz,
    scopes text[] not null default '{}',
    push_enabled boolean not null default true,
    push_tasks boolean not null default false,
    problem text,
    connected_by uuid references users on delete set null,
    connected_at timestamptz not null default now(),
    disconnected_at timestamptz,
    -- Incremental imports fetch records modified after this (the newest modification seen).
    imported_through timestamptz,
    next_import_at timestamptz,
    token_refreshed_at timestamptz,
    constraint crm_connections_org_id_id_key unique (org_id, id)
);
-- One live connection per CRM account and org (connecting it again replaces the tokens).
create unique index crm_connections_live_account_idx
    on crm_connections (org_id, provider, account_id) where state <> 'disconnected';
create index crm_connections_next_import_idx on crm_connections (next_import_at) where state = 'active';

-- A CRM record (company/account or contact) and the customer or contact of ours it is: one the
-- import created (`created_here`) or one that existed already and was linked to it.
create table crm_records (
    org_id uuid not null,
    connection_id uuid not null,
    kind text not null check (kind in ('company', 'contact')),
    external_id text not null check (length(external_id) between 1 and 100),
    customer_id uuid not null,
    contact_id uuid,
    created_here boolean not null,
    modified_at timestamptz,
    seen_at timestamptz not null default now(),
    primary key (org_id, connection_id, kind, external_id),
    check ((kind = 'contact') = (contact_id is not null)),
    foreign key (org_id, connection_id) references crm_connections (org_id, id) on delete cascade,
    foreign key (org_id, customer_id) references customers (org_id, id) on delete cascade,
    foreign key (org_id, contact_id) references contacts (org_id, id) on delete cascade
);
create index crm_records_customer_idx on crm_records (org_id, customer_id);
create index crm_records_contact_idx on crm_records (org_id, contact_id) where contact_id is not null;

create table crm_import_runs (
    id uuid primary key,
    org_id uuid not null,
    connection_id uuid not null,
    source text not null check (source in ('initial', 'hourly', 'manual')),
    state text not null check (state in ('queued', 'running', 'succeeded', 'failed')),
    -- Records modified after this are fetched; null = everything (the first run).
    modified_since timestamptz,
    pages integer not null default 0,
    companies_seen integer not null default 0,
    contacts_seen integer not null default 0,
    customers_created integer not null default 0,
    customers_updated integer not null default 0,
    customers_linked integer not null default 0,
    contacts_created integer not null default 0,
    contacts_updated integer not null default 0,
    contacts_linked integer not null default 0,
    contacts_skipped integer not null default 0,
    error text,
    requested_by uuid references users on delete set null,
    created_at timestamptz not null default now(),
    started_at timestamptz,
    finished_at timestamptz,
    constraint crm_import_runs_org_id_id_key unique (org_id, id),
    foreign key (org_id, connection_id) references crm_connections (org_id, id) on delete cascade
);
create unique index crm_import_runs_one_open_idx
    on crm_import_runs (connection_id) where state in ('queued', 'running');
create index crm_import_runs_connection_idx on crm_import_runs (org_id, connection_id, created_at desc);

-- What a meeting became in a CRM: the mapping that makes every push an update after the first.
-- `kind` is `note` (HubSpot), `task` (Salesforce) or `action_item:{n}` (HubSpot tasks).
create table crm_pushes (
    org_id uuid not null,
    meeting_id uuid not null,
    connection_id uuid not null,
    kind text not null check (kind ~ '^(note|task|action_item:[0-9]+)$'),
    state text not null check (state in ('pending', 'pushed', 'failed', 'skipped')),
    -- Written into the CRM record, so an answer lost after the CRM created it is found again.
    push_key text not null,
    external_id text,
    external_url text,
    -- Hash of the content last written: an unchanged meeting is not written again.
    content_hash text,
    -- The record's timeline time as written (HubSpot hs_timestamp, Salesforce ActivityDate).
    record_timestamp timestamptz,
    attempts integer not null default 0,
    -- A create was sent and its answer never came: look for the record before creating again.
    in_doubt boolean not null default false,
    error text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    pushed_at timestamptz,
    primary key (org_id, meeting_id, connection_id, kind),
    foreign key (org_id, meeting_id) references meetings (org_id, id) on delete cascade,
    foreign key (org_id, connection_id) references crm_connections (org_id, id) on delete cascade
);
create index crm_pushes_connection_idx on crm_pushes (org_id, connection_id, state, updated_at desc);
